"""Helpers shared by the tests: ports, real MLflow stores, real Kedro projects.

Fixtures live in the conftest files; everything a test module imports lives here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from kedro_mlflow.config.settings import MlflowSettings, resolve_settings
from kedro_mlflow.framework.hooks import configure
from kedro_mlflow.io.artifacts import MlflowArtifactDataset


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Store:
    """A tracking URI and an experiment whose artifacts go where the test says."""

    tracking_uri: str
    experiment_id: str
    artifact_root: str


def make_store(tracking_uri: str, artifact_root: str | None, name: str = "tests") -> Store:
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(name, artifact_location=artifact_root)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return Store(tracking_uri, experiment_id, artifact_root or "")


PACKAGE = "tracked_project"

NODES = '''
"""Nodes of the test project: a table, a summary (pickle), a report (factory pattern)."""

import pandas as pd


def make_raw(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


def report(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.describe()


def summarize(raw: pd.DataFrame, model: dict) -> dict:
    return {"total": int(raw["x"].sum()), "model": model}


def explode(raw: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError("the node failed on purpose")
'''

PIPELINE_REGISTRY = '''
"""Pipelines: data (raw, stats_csv), model (summary), failing (raw, then an error)."""

from kedro.pipeline import Pipeline, node

from tracked_project.nodes import explode, make_raw, report, summarize


def register_pipelines() -> dict[str, Pipeline]:
    data = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(report, "raw", "stats_csv", name="report"),
    ])
    model = Pipeline([node(summarize, ["raw", "params:model"], "summary", name="summarize")])
    failing = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(explode, "raw", "never_csv", name="explode"),
    ])
    return {"__default__": data + model, "data": data, "model": model, "failing": failing}
'''

CATALOG = """
raw:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/01_raw/raw.csv

summary:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/summary.pkl
  artifact_path: models

"{name}_csv":
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/08_reporting/{name}.csv
  artifact_path: reporting
"""

PARAMETERS = """
n: 5
model:
  lr: 0.1
  depth: 3
"""

#: Kedro 1.7 calls OmegaConf's deprecated register_new_resolver each time it loads config.
OMEGACONF_DEPRECATION = pytest.mark.filterwarnings(
    r"ignore:register_new_resolver\(\) is deprecated:UserWarning"
)

#: What a full `kedro run` of the default pipeline logs.
ALL_ARTIFACTS = ["models/summary.pkl", "raw.csv", "reporting/stats.csv"]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without MLflow/kedro-mlflow variables, plus ``extra``."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "KEDRO_MLFLOW_", "KEDRO_MP_", "KEDRO_ENV"))
    }
    environ.update(KEDRO_DISABLE_TELEMETRY="1", COLUMNS="200", **extra)
    return environ


def kedro(
    project: Path,
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kedro ARGS`` in the project (or ``cwd``), as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd or project,
        env=clean_environ(**extra_env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kedro {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def store_uri(project: Path, name: str = "mlflow.db") -> str:
    return f"sqlite:///{project}/{name}"


def all_runs(tracking_uri: str) -> list[mlflow.entities.Run]:
    """Every run of every experiment (deleted ones too) of a store."""
    from mlflow.entities import ViewType

    client = mlflow.MlflowClient(tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return client.search_runs(
        [experiment.experiment_id for experiment in experiments], run_view_type=ViewType.ALL
    )


def artifacts(
    run_id: str, path: str | None = None, *, tracking_uri: str | None = None
) -> list[str]:
    """Every file logged in a run, recursively (``tracking_uri`` None: the current one)."""
    client = mlflow.MlflowClient(tracking_uri)
    found: list[str] = []
    for info in client.list_artifacts(run_id, path):
        found.extend(
            artifacts(run_id, info.path, tracking_uri=tracking_uri) if info.is_dir else [info.path]
        )
    return sorted(found)


def dataset_records(
    run_id: str, context: str = "saved", *, tracking_uri: str | None = None
) -> dict[str, dict[str, Any]]:
    """The MLflow dataset records of a run with this context, by artifact path.

    Each: ``name``, ``digest``, ``source``, ``sha256``, ``size``, ``files`` (a folder's
    ``{path inside: [sha256, size]}``, else None) and its input ``tags``.
    """
    import json

    run = mlflow.MlflowClient(tracking_uri).get_run(run_id)
    found = {}
    for item in run.inputs.dataset_inputs:
        tags = {tag.key: tag.value for tag in item.tags}
        if tags.get("mlflow.data.context") != context:
            continue
        profile = json.loads(item.dataset.profile)
        found[tags["kedro_mlflow.artifact"]] = {
            "name": item.dataset.name,
            "digest": item.dataset.digest,
            "source": json.loads(item.dataset.source)["uri"],
            "sha256": profile["sha256"],
            "size": profile["size"],
            "files": profile.get("files"),
            "tags": tags,
        }
    return found


def recorded_files(run_id: str, *, tracking_uri: str | None = None) -> dict[str, tuple[str, int]]:
    """Every file a run's saves recorded, with its ``(sha256, size)``."""
    files = {}
    for artifact, record in dataset_records(run_id, tracking_uri=tracking_uri).items():
        if record["files"] is None:
            files[artifact] = (record["sha256"], record["size"])
        else:
            for name, (sha256, size) in record["files"].items():
                files[f"{artifact}/{name}"] = (sha256, size)
    return files


DF = pd.DataFrame({"a": [1, 2], "b": [3, 4]})


def csv(path: Path, **kwargs: object) -> MlflowArtifactDataset:
    """An MlflowArtifactDataset around a pandas CSVDataset at ``path``."""
    return MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(path)}, **kwargs
    )


def partitioned(path: Path | str, **kwargs: object) -> MlflowArtifactDataset:
    """A ``PartitionedDataset`` of CSV files at ``path``, versioned."""
    return MlflowArtifactDataset(
        dataset={
            "type": "partitions.PartitionedDataset",
            "path": str(path),
            "dataset": "pandas.CSVDataset",
            "filename_suffix": ".csv",
        },
        **kwargs,
    )


# -- the hook's functions, in this process -------------------------------------------------


def settings_for(tmp_path: Path, config: dict[str, Any] | None = None) -> MlflowSettings:
    """Settings of a project in tmp_path, MLflow pointed at its embedded store."""
    resolved = resolve_settings(
        KedroMlflowConfig.model_validate(config or {}),
        project_path=tmp_path,
        package_name="pkg",
        env="local",
        environ={},
    )
    configure.use_tracking_uri(resolved)
    return resolved


def identity(value: object) -> object:
    """A node function that returns its input."""
    return value


def param_pipeline() -> tuple[Pipeline, DataCatalog]:
    """A pipeline reading ``params:model`` and ``parameters``, with its catalog."""
    pipeline = Pipeline(
        [node(identity, "params:model", "out", name="a"), node(identity, "parameters", "o2")]
    )
    catalog = DataCatalog(
        {
            "params:model": MemoryDataset({"lr": 0.1, "layers": {"n": 2}}),
            "parameters": MemoryDataset({"model": {"lr": 0.1}}),
        }
    )
    return pipeline, catalog


RUN_PARAMS = {
    "run_id": "2026-01-01T00.00.00.000Z",
    "env": "local",
    "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f00>",
    "pipeline_names": None,
    "kedro_version": "1.7.0",
}


def loader(conf: Path, env: str | None = None) -> OmegaConfigLoader:
    """Kedro's config loader over ``conf`` (base + ``env``, default local)."""
    return OmegaConfigLoader(
        conf_source=str(conf), env=env, base_env="base", default_run_env="local"
    )


# -- Reliability (tests/reliability): faults made on loopback, processes bounded in time ------


class TcpProxy:
    """A thread-based TCP proxy on loopback that can stall or die on command.

    With no ``target`` it accepts connections and never answers (a stalled server). With a
    ``target`` (a real ``mlflow server``) it forwards, until told otherwise:

    - ``stall()``: every connection, open or new, is accepted and read but never answered;
    - ``stall_requests(pattern)``: only HTTP requests whose request line matches ``pattern``
      (e.g. artifact uploads) stall; the others are forwarded;
    - ``stall_after_upload(n)``: a connection that has sent ``n`` bytes stalls mid-transfer;
    - ``die_after_upload(n, then)``: once a connection has sent ``n`` bytes, ``then()`` is
      called (e.g. SIGKILL the server), every connection is reset and the port refuses
      connections, as when the server's process dies;
    - ``forward()``: back to forwarding (the server is back).

    Every thread it starts ends at ``close()``.
    """

    def __init__(self, target: str | None = None, port: int | None = None) -> None:
        import re as _re
        import threading

        self._re = _re
        self._threading = threading
        self.target = None
        if target is not None:
            from urllib.parse import urlparse

            parsed = urlparse(target)
            self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._stalled = target is None
        self._pattern: object = None
        self._stall_after: int | None = None
        self._die_after: int | None = None
        self._then: object = None
        self._dead = threading.Event()
        self._closed = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[object] = []
        self.bytes_up = 0
        self.connections = 0
        self.stalled_requests: list[bytes] = []
        self._listener = self._listen()
        self._spawn(self._accept_loop)

    # -- commands ------------------------------------------------------------------------

    def forward(self) -> None:
        if self.target is None:
            raise ValueError("a proxy with no target can only stall")
        with self._lock:
            self._stalled = False
            self._pattern = None
            self._stall_after = None
        if self._dead.is_set():
            self._dead.clear()
            self._listener = self._listen()
            self._spawn(self._accept_loop)

    def stall(self) -> None:
        with self._lock:
            self._stalled = True

    def stall_requests(self, pattern: str) -> None:
        with self._lock:
            self._pattern = self._re.compile(pattern.encode())

    def stall_after_upload(self, n_bytes: int) -> None:
        with self._lock:
            self._stall_after = n_bytes

    def die_after_upload(self, n_bytes: int, then: object = None) -> None:
        with self._lock:
            self._die_after = n_bytes
            self._then = then

    def die(self) -> None:
        """Reset every connection and stop listening: the port now refuses connections."""
        self._dead.set()
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        try:
            self._listener.close()
        except OSError:
            pass
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self._closed.set()
        self.die()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _listen(self) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        return listener

    def _spawn(self, target: object, *args: object) -> None:
        thread = self._threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept_loop(self) -> None:
        listener = self._listener
        while not self._closed.is_set() and not self._dead.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._track(client)
            upstream = None
            if self.target is not None and not self._stalled:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                    self._track(upstream)
                except OSError:
                    _reset(client)  # the server behind is gone: reset, as a dead port would
                    continue
            state = {"stalled": upstream is None, "sent": 0}
            self._spawn(self._client_to_server, client, upstream, state)
            if upstream is not None:
                self._spawn(self._server_to_client, upstream, client, state)

    def _client_to_server(
        self, client: socket.socket, upstream: socket.socket | None, state: dict[str, object]
    ) -> None:
        try:
            while not self._closed.is_set():
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                with self._lock:
                    self.bytes_up += len(chunk)
                    pattern, stall_after = self._pattern, self._stall_after
                    die_after, then = self._die_after, self._then
                    globally_stalled = self._stalled
                state["sent"] += len(chunk)
                if not state["stalled"]:
                    first_line = chunk.split(b"\r\n", 1)[0]
                    if pattern is not None and self._re.match(rb"[A-Z]+ \S+ HTTP/", first_line):
                        if pattern.search(first_line):
                            self.stalled_requests.append(first_line)
                            state["stalled"] = True
                    if globally_stalled or (
                        stall_after is not None and state["sent"] >= stall_after
                    ):
                        state["stalled"] = True
                if die_after is not None and state["sent"] >= die_after:
                    with self._lock:
                        self._die_after = None
                    if then is not None:
                        then()
                    self.die()
                    return
                if state["stalled"] or upstream is None:
                    continue  # read and drop: the client waits for an answer that never comes
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            if upstream is not None and not state["stalled"]:
                _reset(upstream)

    def _server_to_client(
        self, upstream: socket.socket, client: socket.socket, state: dict[str, object]
    ) -> None:
        try:
            while not self._closed.is_set():
                chunk = upstream.recv(1 << 16)
                if not chunk:
                    break
                if state["stalled"]:
                    continue
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            if not state["stalled"]:
                _reset(client)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a killed process's sockets are."""
    import struct

    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:  # wakes the thread blocked in recv() on it (close() alone does not); sends nothing
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class MlflowServer:
    """A private ``mlflow server`` (its own sqlite store and artifact folder) to kill at will.

    Started in a process group of its own so that ``kill()`` reaches its uvicorn workers.
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts = root / "artifacts"
        self.backend = f"sqlite:///{root}/server.db"
        self.log = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "AWS_")) or k == "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
        }
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "mlflow", "server",
                    "--backend-store-uri", self.backend,
                    "--artifacts-destination", str(self.artifacts),
                    "--serve-artifacts", "--host", "127.0.0.1", "--port", str(self.port),
                    "--workers", "1",
                ],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        wait_for_http(f"{self.url}/health", self.process, self.log, timeout=timeout)
        return self

    def kill(self) -> None:
        """SIGKILL the server and its workers (no clean shutdown)."""
        import signal

        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def mount_tmpfs(path: Path, size: str = "2m") -> None:
    """Mount a tmpfs of ``size`` at ``path``; skip the test, loudly, if mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(
            f"SKIPPED LOUDLY: cannot mount a tmpfs at {path} (needs root or CAP_SYS_ADMIN): "
            f"{result.stderr.strip()}. The disk-full / read-only store faults are NOT tested."
        )


def remount_readonly(path: Path) -> None:
    result = subprocess.run(
        ["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot remount {path} read-only: {result.stderr.strip()}")


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@dataclass
class Finished:
    """How a process ended: exit code, output (stdout and stderr together), seconds taken."""

    returncode: int
    output: str
    seconds: float
    timed_out: bool = False
    #: Processes of the run's group still alive when its main process had exited.
    outlived: bool = False


class KedroProcess:
    """``python -m kedro ARGS`` started in a process group of its own, output to a file.

    ``finish(timeout)`` waits at most ``timeout`` seconds, then kills the whole group, so
    that no process of a hung run outlives the test.
    """

    def __init__(self, project: Path, *args: str, cwd: Path | None = None, **extra_env: str):
        import tempfile

        self.args = args
        self._out = tempfile.NamedTemporaryFile(  # closed in finish()
            "w+b", prefix="kedro-", suffix=".log", delete=False
        )
        self.started = time.monotonic()
        env = clean_environ(**extra_env)
        env["COLUMNS"] = "1000"  # rich wraps at COLUMNS: keep paths and ids on one line
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kedro", *args],
            cwd=cwd or project,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def output(self) -> str:
        return Path(self._out.name).read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill_group(self) -> None:
        import signal

        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float) -> Finished:
        timed_out = False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill_group()
            self.process.wait(10)
        seconds = time.monotonic() - self.started
        outlived = False
        if not timed_out:
            time.sleep(0.5)
            try:
                os.killpg(self.pid, 0)
                outlived = True
            except ProcessLookupError:
                pass
        # Whatever the run left behind in its group (workers, servers) goes too.
        self.kill_group()
        self._out.close()
        text = self.output()
        Path(self._out.name).unlink(missing_ok=True)
        return Finished(self.process.returncode, text, seconds, timed_out, outlived)


def kedro_bounded(project: Path, *args: str, timeout: float, **extra_env: str) -> Finished:
    """``kedro ARGS`` that may hang today: killed (with its group) after ``timeout`` s."""
    return KedroProcess(project, *args, **extra_env).finish(timeout)


RELIABILITY_NODES = '''
"""Nodes for the reliability tests: big payloads, a node that waits to be released."""

import os
import time
from pathlib import Path


def make_big(mib: int, label: str) -> bytes:
    block = (label.encode() * 1024)[:1024] * 1024
    return block * mib


def wait_for_release(raw, release_file: str) -> int:
    Path(release_file + ".started").write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not Path(release_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(raw)


def make_big_and_signal(mib: int, label: str) -> tuple[bytes, int]:
    return make_big(mib, label), mib


def clobber(mib: int, target: str, label: str) -> int:
    """Rewrite the file the previous node saved, as another run or a user would, at once."""
    payload = (label.encode() * 1024)[:1024] * 1024
    for _ in range(3):
        with open(target, "wb") as stream:
            for _ in range(mib):
                stream.write(payload)
    return mib


def idle(big: bytes, seconds: float) -> int:
    time.sleep(seconds)
    return len(big)
'''

#: The test project's pipelines plus those of the reliability tests.
RELIABILITY_PIPELINES = (
    PIPELINE_REGISTRY.replace("def register_pipelines", "def _registered")
    + """

from tracked_project.reliability_nodes import (
    clobber, idle, make_big, make_big_and_signal, wait_for_release,
)


def register_pipelines() -> dict[str, Pipeline]:
    big = Pipeline([node(make_big, ["params:mib", "params:label"], "big", name="make_big")])
    big_then_idle = big + Pipeline(
        [node(idle, ["big", "params:idle_seconds"], "idled", name="idle")]
    )
    big_then_clobber = Pipeline([
        node(make_big_and_signal, ["params:mib", "params:label"], ["big", "big_saved"],
             name="make_big"),
        node(clobber, ["big_saved", "params:big_path", "params:clobber_label"], "clobbered",
             name="clobber"),
    ])
    blocking = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(wait_for_release, ["raw", "params:release_file"], "waited", name="wait"),
    ])
    five_big = Pipeline([
        node(make_big, ["params:mib", "params:label"], f"big_{i}", name=f"make_big_{i}")
        for i in range(1, 6)
    ])
    return {
        **_registered(), "big": big, "big_then_idle": big_then_idle,
        "big_then_clobber": big_then_clobber, "blocking": blocking, "five_big": five_big,
    }
"""
)

RELIABILITY_CATALOG = """
big:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/big.pkl
  artifact_path: models

"big_{n}":
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/big_{n}.pkl
  artifact_path: models
"""

RELIABILITY_PARAMETERS = """
mib: 4
label: A
clobber_label: B
idle_seconds: 0
release_file: release
big_path: data/06_models/big.pkl
"""


def add_reliability_pipelines(project: Path) -> Path:
    """Give a test project the pipelines big, big_then_idle, big_then_clobber, blocking,
    five_big (five saves of ``mib`` MiB, ``models/big_1.pkl`` to ``models/big_5.pkl``)."""
    write(project / "src" / PACKAGE / "reliability_nodes.py", RELIABILITY_NODES)
    write(project / "src" / PACKAGE / "pipeline_registry.py", RELIABILITY_PIPELINES)
    write(project / "conf" / "base" / "catalog.yml", CATALOG + RELIABILITY_CATALOG)
    write(project / "conf" / "base" / "parameters.yml", PARAMETERS + RELIABILITY_PARAMETERS)
    return project


def files_under(root: Path) -> set[Path]:
    """Every file, folder and symlink under ``root`` (symlinks not followed)."""
    if not root.exists():
        return set()
    return {path for path in root.rglob("*")}


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_artifact_dir(run: mlflow.entities.Run) -> Path:
    """The folder of a run's artifacts in a local (file://) artifact store."""
    from urllib.parse import unquote, urlparse

    uri = run.info.artifact_uri
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def s3_client(endpoint: str) -> object:
    """A boto3 S3 client of moto's server on loopback."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def s3_location(artifact_uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` as ``(bucket, "a/b")``."""
    bucket, _, key = artifact_uri.removeprefix("s3://").partition("/")
    return bucket, key.rstrip("/")


def tamper_bytes(data: bytes, how: str) -> bytes:
    """``data`` changed in a way a digest must catch: same size, truncated or appended."""
    if how == "same-size":
        index = data.index(b"1")
        return data[:index] + b"7" + data[index + 1 :]
    if how == "truncated":
        return data[:-3]
    if how == "appended":
        return data + b"5,6\n"
    raise ValueError(how)


def read_artifact(run: mlflow.entities.Run, artifact: str, s3_endpoint: str | None) -> bytes:
    """The stored bytes of ``artifact`` of ``run``, read from the store itself."""
    if run.info.artifact_uri.startswith("s3://"):
        bucket, prefix = s3_location(run.info.artifact_uri)
        body = s3_client(s3_endpoint or "").get_object(Bucket=bucket, Key=f"{prefix}/{artifact}")
        return bytes(body["Body"].read())
    return (local_artifact_dir(run) / artifact).read_bytes()


def write_artifact(
    run: mlflow.entities.Run, artifact: str, data: bytes, s3_endpoint: str | None
) -> None:
    """Overwrite ``artifact`` of ``run`` in the store behind MLflow's back."""
    if run.info.artifact_uri.startswith("s3://"):
        bucket, prefix = s3_location(run.info.artifact_uri)
        s3_client(s3_endpoint or "").put_object(
            Bucket=bucket, Key=f"{prefix}/{artifact}", Body=data
        )
        return
    path = local_artifact_dir(run) / artifact
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class ExampleTimeout(BaseException):
    """A call that had to end within a bound did not (see ``time_limit``).

    A ``BaseException``, as pytest-timeout's own: code that catches ``Exception`` and goes
    on (a retry loop, a listing that reports "could not be listed") cannot swallow it.
    """


class time_limit:
    """Interrupt the block after ``seconds`` with ``ExampleTimeout`` (main thread, SIGALRM).

    For one example of a property-based test: pytest-timeout bounds the whole test once,
    but Hypothesis would replay an example that hangs. pytest-timeout's own alarm is saved
    and re-armed with what was left of it.
    """

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what

    def __enter__(self) -> time_limit:
        import signal

        def expire(signum: int, frame: object) -> None:
            raise ExampleTimeout(f"{self.what} did not end within {self.seconds} s")

        self._started = time.monotonic()
        self._previous = signal.signal(signal.SIGALRM, expire)
        # Fires again every second until the block is left, should one be swallowed anyway.
        self._outer, _ = signal.setitimer(signal.ITIMER_REAL, self.seconds, 1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
        if self._outer:
            left = self._outer - (time.monotonic() - self._started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.01))


def invoke(project: Path, *args: str) -> tuple[int, str]:
    """`kedro mlflow ARGS` in this process, as Kedro's CLI calls it (metadata as obj)."""
    from click.testing import CliRunner
    from kedro.framework.startup import bootstrap_project

    from kedro_mlflow.framework.cli import commands

    result = CliRunner().invoke(commands, ["mlflow", *args], obj=bootstrap_project(project))
    return result.exit_code, result.output
