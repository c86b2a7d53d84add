"""A `kedro run` leaves no thread or process of ours behind: success, node failure, Ctrl-C.

Real `kedro run` subprocesses of the test project. The project's settings register an
``atexit`` function, run after the plugin's own exit work (it is registered earlier), that
writes the threads still alive and the children of the process; after the process is gone,
no process carrying this test's marker variable (every descendant inherits it) may be left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.helpers import (
    PACKAGE,
    PIPELINE_REGISTRY,
    all_runs,
    clean_environ,
    dataset_records,
    store_uri,
    write,
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads /proc to find child processes"
)

#: Appended to the project's settings.py: what is alive when the interpreter exits.
SETTINGS_PROBE = '''

import atexit as _atexit
import json as _json
import os as _os
import sys as _sys
import threading as _threading
from pathlib import Path as _Path


def _leftovers() -> None:
    """Non-daemon threads are joined before atexit runs: any thread here was abandoned."""
    path = _os.environ.get("LEFTOVERS_FILE")
    if not path:
        return
    tasks = _Path(f"/proc/{_os.getpid()}/task")
    children = [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]
    threads = [t.name for t in _threading.enumerate() if t is not _threading.main_thread()]
    mlflow = "mlflow" in _sys.modules  # imported by the helper only (see framework/hooks/helper.py)
    found = {"threads": threads, "children": children, "mlflow": mlflow}
    _Path(path).write_text(_json.dumps(found))


_atexit.register(_leftovers)
'''

#: The test project's pipelines plus ``slow``: a node that says it started, then waits.
SLOW_REGISTRY = (
    PIPELINE_REGISTRY.replace("def register_pipelines", "def _registered")
    + """

import os
import time
from pathlib import Path


def wait_for_interrupt(raw):
    Path(os.environ["STARTED_FILE"]).write_text("started")
    time.sleep(120)
    return raw


def register_pipelines():
    pipelines = _registered()
    slow = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(wait_for_interrupt, "raw", "waited_csv", name="wait"),
    ])
    return {**pipelines, "slow": slow}
"""
)


#: ``python -m kedro ARGS``, with Python's own Ctrl-C handler even when the test runner was
#: started with SIGINT ignored (a background job of a shell), which children would inherit.
KEDRO = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['kedro', *sys.argv[1:]]; runpy.run_module('kedro', run_name='__main__')"
)


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``LEFTOVERS_MARKER=marker`` (the run's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if f"LEFTOVERS_MARKER={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _start(project: Path, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``kedro run ARGS``; the process and the marker its descendants carry."""
    marker = uuid.uuid4().hex
    environ = clean_environ(
        LEFTOVERS_FILE=str(project / "leftovers.json"),
        STARTED_FILE=str(project / "started"),
        LEFTOVERS_MARKER=marker,
        **env,
    )
    process = subprocess.Popen(
        [sys.executable, "-c", KEDRO, "run", *args],
        cwd=project, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, marker


def _wait_until_started(project: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not (project / "started").exists():
        assert process.poll() is None, "kedro run ended before its slow node started"
        assert time.monotonic() < deadline, "the slow node never started"
        time.sleep(0.1)


def _kedro_run(project: Path, *args: str, interrupt: bool = False, **env: str) -> dict:
    """Run ``kedro run ARGS``; return what was alive at its exit; check nothing outlived it."""
    leftovers = project / "leftovers.json"
    process, marker = _start(project, *args, **env)
    try:
        if interrupt:
            _wait_until_started(project, process)
            process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = output.decode(errors="replace")
    deadline = time.monotonic() + 10  # a process being torn down may take a moment
    while (alive := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, f"processes outlived `kedro run`: {alive}\n{text[-3000:]}"
    assert leftovers.exists(), f"the exit probe did not run (exit {process.returncode}):\n{text}"
    found: dict = json.loads(leftovers.read_text())
    found["returncode"] = process.returncode
    found["output"] = text
    return found


@pytest.fixture
def probed(project: Path) -> Path:
    """The test project with the exit probe and the ``slow`` pipeline."""
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS_PROBE)
    write(project / "src" / PACKAGE / "pipeline_registry.py", SLOW_REGISTRY)
    return project


@pytest.mark.parametrize("helper", ["1", "0"])
@pytest.mark.parametrize(
    ("args", "interrupt", "status"),
    [
        pytest.param([], False, "FINISHED", id="success"),
        pytest.param(["--runner", "ThreadRunner"], False, "FINISHED", id="success-threads"),
        pytest.param(["--pipelines", "failing"], False, "FAILED", id="node-failure"),
        pytest.param(["--pipelines", "slow"], True, "FAILED", id="sigint"),
    ],
)
def test_a_kedro_run_leaves_no_thread_or_process_behind(probed, args, interrupt, status, helper):
    """With the helper process (``1``), and with the run's MLflow work in-process (``0``)."""
    found = _kedro_run(probed, *args, interrupt=interrupt, KEDRO_MLFLOW_HELPER=helper)

    assert found["threads"] == [], found["output"][-3000:]
    assert found["children"] == [], found["output"][-3000:]
    assert found["mlflow"] is (helper == "0"), found["output"][-3000:]
    assert (found["returncode"] == 0) is (status == "FINISHED"), found["output"][-3000:]
    (run,) = all_runs(store_uri(probed))
    assert run.info.status == status


def test_a_kedro_run_killed_outright_has_its_run_ended_failed_by_the_helper(probed):
    """SIGKILL leaves the kedro run process no word to say: its helper sees the pipe close."""
    process, marker = _start(probed, "--pipelines", "slow")
    try:
        _wait_until_started(probed, process)
        process.kill()
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = all_runs(store_uri(probed))
        if runs and runs[0].info.status != "RUNNING" and not _marked(marker):
            break
        time.sleep(0.2)
    (run,) = all_runs(store_uri(probed))
    assert run.info.status == "FAILED"
    assert _marked(marker) == []
    assert "raw.csv" in [
        a.path for a in MlflowClient(store_uri(probed)).list_artifacts(run.info.run_id)
    ]


def test_without_the_hook_the_implicit_run_records_every_digest_and_leaves_nothing(probed):
    """Hook disabled: the datasets start a run, record every digest and leave nothing behind."""
    settings = probed / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + '\nDISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)\n')
    env = {"MLFLOW_TRACKING_URI": store_uri(probed)}

    found = _kedro_run(probed, **env)

    assert found["returncode"] == 0, found["output"][-3000:]
    assert found["threads"] == [], found["output"][-3000:]
    assert found["children"] == []
    (run,) = all_runs(store_uri(probed))
    assert run.info.status == "FINISHED"
    assert sorted(dataset_records(run.info.run_id, tracking_uri=store_uri(probed))) == [
        "models/summary.pkl",
        "raw.csv",
        "reporting/stats.csv",
    ]
