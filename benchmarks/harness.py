"""Infrastructure of the benchmark: processes timed from outside, venvs, the server, tables.

Every measurement is one fresh process (``subprocess.run``), timed with ``time.perf_counter``
around it, with its peak RSS read by ``/usr/bin/time -f %M`` when that tool exists (else
``resource.getrusage(RUSAGE_CHILDREN)``, which only gives a running maximum). Cases of one
comparison alternate (A B C A B C ...) and their medians are compared.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WORK = BENCH / ".work"
WORKER = BENCH / "worker.py"
MAIN_VENV = ROOT / ".venv"
TIME_BIN = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
RUN_TIMEOUT_S = 900

_DROPPED_ENV = ("MLFLOW_", "KEDRO_MLFLOW", "COVERAGE_", "PYTHON", "VIRTUAL_ENV", "BENCH_")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of every measured process: telemetry off, no inherited MLflow state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
    env |= {
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env |= extra
    return env


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]


def tree_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path``."""
    files = size = 0
    if not path.exists():
        return 0, 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                size += (Path(dirpath) / name).lstat().st_size
                files += 1
            except OSError:
                pass
    return files, size


def remove(path: Path | str | None) -> None:
    if path is None:
        return
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def file_uri_path(uri: str | None) -> Path | None:
    if uri and uri.startswith("file://"):
        return Path(uri[len("file://") :])
    return None


@dataclass
class Sample:
    wall: float
    rss_mib: float | None
    info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


@dataclass
class Case:
    """One variant of one comparison: a command and what to do around each run (untimed)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    before: Callable[[], None] | None = None
    after: Callable[[Sample], None] | None = None
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    @property
    def tmpdir(self) -> Path:
        return WORK / "tmp" / slug(self.name)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    def median(self, attr: str = "wall") -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None

    def median_of(self, getter: Callable[[Sample], float | None]) -> float | None:
        values = [v for v in (getter(s) for s in self.samples) if v is not None]
        return statistics.median(values) if values else None

    def spread(self) -> str:
        if not self.samples:
            return ""
        walls = [s.wall for s in self.samples]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    def last_info(self) -> dict:
        return self.samples[-1].info if self.samples else {}


class BenchError(RuntimeError):
    pass


def _rss_children_kib() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def run_once(case: Case) -> Sample:
    """Run the case's command once in a fresh process, timed from outside."""
    case.tmpdir.mkdir(parents=True, exist_ok=True)
    for child in case.tmpdir.iterdir():
        remove(child)
    env = dict(case.env)
    env["TMPDIR"] = str(case.tmpdir)
    hook_file = env.get("BENCH_HOOK_TIMES")
    if hook_file:
        remove(hook_file)
    if case.before:
        case.before()
    time_out = WORK / "time.out"
    cmd = list(case.cmd)
    if TIME_BIN:
        cmd = [TIME_BIN, "-f", "%M", "-o", str(time_out), *cmd]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=case.cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-12:]
        raise BenchError(f"exit {proc.returncode}: " + " | ".join(tail))
    rss = None
    if TIME_BIN and time_out.exists():
        digits = time_out.read_text().strip().splitlines()[-1]
        rss = int(digits) / 1024 if digits.isdigit() else None
    else:
        rss = _rss_children_kib() / 1024
    info: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            info = json.loads(line[len("BENCH ") :])
    sample = Sample(wall, rss, info)
    files, size = tree_size(case.tmpdir)
    sample.extra["tmp_files"], sample.extra["tmp_bytes"] = files, size
    if hook_file and Path(hook_file).exists():
        sample.extra["hooks"] = hook_gaps(json.loads(Path(hook_file).read_text()))
    if case.after:
        case.after(sample)
    return sample


def hook_gaps(events: list[list]) -> dict[str, float]:
    """Time the other hooks spent in each spec: the wrapper's mark after minus before."""
    marks = {name: t for name, t in events}
    gaps = {}
    for spec in (
        "after_context_created",
        "after_catalog_created",
        "before_pipeline_run",
        "after_pipeline_run",
    ):
        first, last = marks.get(f"{spec}.first"), marks.get(f"{spec}.last")
        if first is not None and last is not None:
            gaps[spec] = last - first
    gaps["start"] = sum(
        gaps.get(s, 0.0)
        for s in ("after_context_created", "after_catalog_created", "before_pipeline_run")
    )
    gaps["end"] = gaps.get("after_pipeline_run", 0.0)
    return gaps


def _attempt(case: Case) -> Sample | None:
    try:
        return run_once(case)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        case.error = str(exc)[:600]
        log(f"  {case.name}: FAILED {case.error[:300]}")
        return None


def measure(
    cases: Iterable[Case | None], reps: int, warmup: bool, parallel: bool = False
) -> list[Case]:
    """Run the cases alternately ``reps`` times (after one untimed warm-up each).

    ``parallel`` (smoke mode only, where timings do not matter) runs the cases of a round
    two at a time; only for cases that share no files.
    """
    live = [c for c in cases if c is not None]
    rounds = ([False] if warmup else []) + [True] * reps
    for timed in rounds:
        todo = [case for case in live if not case.error]
        if parallel:
            with ThreadPoolExecutor(2) as pool:
                samples = list(pool.map(_attempt, todo))
        else:
            samples = [_attempt(case) for case in todo]
        if timed:
            for case, sample in zip(todo, samples, strict=True):
                if sample is not None:
                    case.samples.append(sample)
    for case in live:
        if case.ok:
            rss = case.median("rss_mib")
            rss_text = f", peak {rss:.0f} MiB" if rss else ""
            log(f"  {case.name}: median {case.median():.3f} s ({case.spread()}){rss_text}")
    return live


# -- venvs --------------------------------------------------------------------------------


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise BenchError(f"no site-packages in {venv}")
    return found[0]


def make_shadow_venv(source: Path, target: Path, exclude: Callable[[str], bool]) -> Path:
    """A venv whose site-packages links to ``source``'s entries, minus the excluded ones.

    Used to compare "plugin installed" against "plugin not installed" with everything else
    identical: both sides are shadows of the same venv (the "with" shadow excludes nothing).
    """
    marker = target / ".bench-shadow"
    wanted = sorted(p.name for p in site_packages(source).iterdir() if not exclude(p.name))
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return target
    remove(target)
    base = venv_python(source).resolve()
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(target)], check=True)
    dest = site_packages(target)
    for name in wanted:
        (dest / name).symlink_to(site_packages(source) / name)
    marker.write_text(json.dumps(wanted))
    return target


def pip_freeze_versions(venv: Path, names: Iterable[str]) -> dict[str, str]:
    out = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout
    wanted = {n.lower().replace("_", "-") for n in names}
    versions = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep and name.lower().replace("_", "-") in wanted:
            versions[name] = version
    return versions


def ensure_upstream_venv(target: Path, pins: dict[str, str], plugin: str) -> str | None:
    """Create the venv holding kedro-mlflow 2.0.3 once; return an error text on failure."""
    requirements = [plugin, *(f"{n}=={v}" for n, v in sorted(pins.items()))]
    marker = target / ".bench-installed"
    if marker.exists() and json.loads(marker.read_text()) == requirements:
        return None
    log(f"creating {target.name}: pip install {' '.join(requirements)} (once, ~1 min)")
    remove(target)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        subprocess.run(
            [str(venv_python(target)), "-m", "pip", "install", "--quiet", *requirements],
            check=True,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        remove(target)
        return f"{exc} {detail.strip()[-500:]}"
    marker.write_text(json.dumps(requirements))
    return None


# -- the mlflow server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``mlflow server`` on loopback with proxied artifacts; one per benchmark session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts = root / "artifacts"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        remove(self.root)
        self.artifacts.mkdir(parents=True)
        cmd = [
            str(venv_python(MAIN_VENV)),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.root}/mlflow.db",
            "--artifacts-destination",
            str(self.artifacts),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        with (self.root / "server.log").open("wb") as out:
            self.process = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait(self, timeout: float = 180.0) -> None:
        if self.process is None:
            raise BenchError("server not started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"mlflow server died: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.3)
        raise BenchError(f"mlflow server did not answer in {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The server's own process group (start_new_session): uvicorn and its worker.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


# -- formatting ----------------------------------------------------------------------------


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.2f} ms"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
