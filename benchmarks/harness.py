"""How the benchmark measures: every command is a fresh process, timed from outside.

``run_once`` times ``subprocess.run`` with ``time.perf_counter`` and reads the peak RSS with
``/usr/bin/time -f %M`` (else ``RUSAGE_CHILDREN``, a running maximum). ``measure`` runs the
cases of one comparison alternately (A B C A B C ...) so that a shared, noisy machine slows them
alike; their medians are compared. Also here: the venvs the variants run in and the server.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"  # gitignored: stores, venvs, data, the generated project
WORKER = ROOT / "benchmarks" / "worker.py"
MAIN_VENV = ROOT / ".venv"
MAIN_PY = MAIN_VENV / "bin" / "python"
TIME_BIN = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
RUN_TIMEOUT_S = 900


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of every measured process: telemetry off, no inherited MLflow state."""
    dropped = ("MLFLOW_", "KEDRO_MLFLOW", "COVERAGE_", "PYTHON", "VIRTUAL_ENV", "BENCH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env |= {
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return env | extra


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]


def tree_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path``: what a process left in its TMPDIR, a cache's size."""
    files = size = 0
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


class BenchError(RuntimeError):
    pass


@dataclass
class Sample:
    """One timed run: wall seconds, peak RSS, the worker's ``BENCH {json}`` line, extras."""

    wall: float
    rss_mib: float | None
    info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # tmp_files/tmp_bytes, hooks, cache facts


@dataclass
class Case:
    """One variant of a comparison: a command, and untimed work before and after each run."""

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
        return self.median_of(lambda sample: getattr(sample, attr))

    def median_of(self, getter: Callable[[Sample], float | None]) -> float | None:
        values = [v for v in map(getter, self.samples) if v is not None]
        return statistics.median(values) if values else None

    def spread(self) -> str:
        walls = [s.wall for s in self.samples]
        return f"{min(walls):.2f}-{max(walls):.2f}" if walls else ""


def median(case: Case | None, attr: str = "wall") -> float | None:
    """The case's median, or None when it is absent (e.g. no 2.0.3 venv) or failed."""
    return case.median(attr) if case is not None and case.ok else None


def run_once(case: Case) -> Sample:
    """Run the case's command once in a fresh process with an empty TMPDIR, timed from outside."""
    remove(case.tmpdir)
    case.tmpdir.mkdir(parents=True, exist_ok=True)
    env = case.env | {"TMPDIR": str(case.tmpdir)}
    hook_file = env.get("BENCH_HOOK_TIMES")
    remove(hook_file)
    if case.before:
        case.before()
    time_out = case.tmpdir.with_suffix(".time")  # beside TMPDIR, not in it: not a leftover
    cmd = [TIME_BIN, "-f", "%M", "-o", str(time_out), *case.cmd] if TIME_BIN else case.cmd
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
    if TIME_BIN:
        digits = time_out.read_text().strip().splitlines()[-1]
        rss = int(digits) / 1024 if digits.isdigit() else None
    else:
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    info = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            info = json.loads(line[len("BENCH ") :])
    sample = Sample(wall, rss, info)
    sample.extra["tmp_files"], sample.extra["tmp_bytes"] = tree_size(case.tmpdir)
    if hook_file and Path(hook_file).exists():
        sample.extra["hooks"] = hook_gaps(json.loads(Path(hook_file).read_text()))
    if case.after:
        case.after(sample)
    return sample


def hook_gaps(events: list[list]) -> dict[str, float]:
    """Time the plugins' hooks took: per spec, the timing hookwrapper's last mark minus its first.

    ``start`` sums the specs run before the nodes, ``end`` is ``after_pipeline_run``; ``tail``
    runs from the last node's return (its outputs not yet saved) to the run's end.
    """
    marks = dict(events)
    specs = ("after_context_created", "after_catalog_created", "before_pipeline_run")
    gaps = {
        spec: marks[f"{spec}.last"] - marks[f"{spec}.first"]
        for spec in (*specs, "after_pipeline_run")
        if f"{spec}.first" in marks and f"{spec}.last" in marks
    }
    gaps["start"] = sum(gaps.get(spec, 0.0) for spec in specs)
    gaps["end"] = gaps.get("after_pipeline_run", 0.0)
    if "after_node_run.first" in marks and "after_pipeline_run.last" in marks:
        gaps["tail"] = marks["after_pipeline_run.last"] - marks["after_node_run.first"]
    return gaps


def _attempt(case: Case) -> Sample | None:
    try:
        return run_once(case)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        case.error = str(exc)[:600]
        log(f"  {case.name}: FAILED {case.error[:300]}")
        return None


def measure(cases: Iterable[Case], reps: int, warmup: bool, parallel: bool = False) -> None:
    """Run the cases alternately ``reps`` times, after one untimed round when ``warmup``.

    A case that fails is not run again and keeps its error. ``parallel`` (smoke only, where
    timings do not matter) runs a round two cases at a time, for cases that share no files.
    """
    cases = list(cases)
    for timed in ([False] if warmup else []) + [True] * reps:
        todo = [case for case in cases if not case.error]
        if parallel:
            with ThreadPoolExecutor(2) as pool:
                samples = list(pool.map(_attempt, todo))
        else:
            samples = [_attempt(case) for case in todo]
        for case, sample in zip(todo, samples, strict=True):
            if timed and sample is not None:
                case.samples.append(sample)
    for case in cases:
        if case.ok:
            rss = case.median("rss_mib")
            rss_text = f", peak {rss:.0f} MiB" if rss else ""
            log(f"  {case.name}: median {case.median():.3f} s ({case.spread()}){rss_text}")


# -- venvs -------------------------------------------------------------------------------------


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise BenchError(f"no site-packages in {venv}")
    return found[0]


def make_shadow_venv(source: Path, target: Path, exclude: Callable[[str], bool]) -> Path:
    """A venv whose site-packages links to ``source``'s entries, minus the excluded ones.

    To compare "plugin installed" with "plugin not installed" and nothing else different, both
    sides are shadows of the same venv (the "with" shadow excludes nothing). Built once.
    """
    marker = target / ".bench-shadow"
    wanted = sorted(p.name for p in site_packages(source).iterdir() if not exclude(p.name))
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return target
    remove(target)
    base = (source / "bin" / "python").resolve()
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(target)], check=True)
    for name in wanted:
        (site_packages(target) / name).symlink_to(site_packages(source) / name)
    marker.write_text(json.dumps(wanted))
    return target


def ensure_venv(target: Path, requirements: list[str]) -> str | None:
    """Create a venv with ``requirements`` once (kept between runs); return an error or None."""
    marker = target / ".bench-installed"
    if marker.exists() and json.loads(marker.read_text()) == requirements:
        return None
    log(f"creating {target.name}: pip install {' '.join(requirements)} (once, ~1 min)")
    remove(target)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements]
        subprocess.run(pip, check=True, env=clean_env(), capture_output=True, timeout=1200)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        remove(target)
        detail = getattr(exc, "stderr", b"") or b""
        return f"{exc} {detail.decode(errors='replace').strip()[-500:]}"
    marker.write_text(json.dumps(requirements))
    return None


# -- the mlflow server -------------------------------------------------------------------------


class Server:
    """``mlflow server`` on loopback with proxied artifacts, in its own process group."""

    def __init__(self, root: Path) -> None:
        port = free_port()
        self.uri = f"http://127.0.0.1:{port}"
        self.artifacts = root / "artifacts"
        self.log = root / "server.log"
        remove(root)
        self.artifacts.mkdir(parents=True)
        cmd = [str(MAIN_PY), "-m", "mlflow", "server", "--workers", "1", "--serve-artifacts"]
        cmd += ["--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--host", "127.0.0.1"]
        cmd += ["--artifacts-destination", str(self.artifacts), "--port", str(port)]
        env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait(self) -> None:
        wait_for_http(f"{self.uri}/health", self.process, self.log, timeout=180)

    def stop(self) -> None:
        """Stop uvicorn and its worker: the whole process group (start_new_session)."""
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(wait_s)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue
