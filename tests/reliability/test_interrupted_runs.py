"""Never left RUNNING: interrupted kedro runs end FAILED; stale runs are listed and closed.

Issue 12, rule "Never left RUNNING: a run this plugin opened is ended FAILED when its uploads
fail or the process is interrupted (SIGINT/SIGTERM); if the server is gone at that moment, say
so, and make kedro mlflow able to list and close such runs" (``kedro mlflow runs --stale``,
``kedro mlflow runs --close-stale``), and row "server killed during a 100 MiB upload: ... the
run stays RUNNING forever".
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kedro_mlflow.framework.store.stale_runs import PID_TAG
from kedro_mlflow.framework.store.store_lock import open_store
from tests.helpers import KedroProcess, all_runs, artifacts, kedro_bounded, store_uri

#: How long an interrupted kedro run may take to end its run and exit.
INTERRUPT_BOUND_S = 30


def start_blocking(project: Path, release: Path) -> KedroProcess:
    process = KedroProcess(
        project, "run", "--pipelines", "blocking", "--params", f"release_file={release}"
    )
    started = Path(f"{release}.started")
    deadline = time.monotonic() + 120
    while not started.exists():
        if process.process.poll() is not None or time.monotonic() > deadline:
            output = process.finish(5).output
            pytest.fail(f"the blocking node never started:\n{output[-3000:]}")
        time.sleep(0.1)
    return process


def wait_for_runs(project: Path, count: int) -> None:
    """Wait until the store holds ``count`` runs: a node may start before its run is open
    (the helper process opens it meanwhile)."""
    uri = store_uri(project)
    deadline = time.monotonic() + 60
    open_store(uri)  # locked, as kedro runs open it: never two creations of the tables at once
    while len(all_runs(uri)) < count:
        assert time.monotonic() < deadline, f"{count} run(s) never appeared in {uri}"
        time.sleep(0.1)


@pytest.mark.timeout(240, func_only=True)
@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["SIGINT-ctrl-c", "SIGTERM-process-manager"],
)
def test_interrupted_kedro_run_ends_its_run_failed_keeping_what_was_saved(
    rproject: Path, tmp_path: Path, signum: int, to_group: bool
) -> None:
    """Rule: a run this plugin opened is ended FAILED when the process is interrupted
    (SIGINT as Ctrl+C sends it to the group; SIGTERM as a process manager sends it)."""
    process = start_blocking(rproject, tmp_path / "release")
    sent = time.monotonic()
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.signal(signum)
    result = process.finish(INTERRUPT_BOUND_S + 30)
    took = time.monotonic() - sent
    assert not result.timed_out, f"kedro run did not exit {INTERRUPT_BOUND_S + 30}s after {signum}"
    assert took < INTERRUPT_BOUND_S, f"kedro run took {took:.0f}s to exit after signal {signum}"
    (run,) = all_runs(store_uri(rproject))
    assert run.info.status == "FAILED", f"interrupted run left {run.info.status}"
    assert artifacts(run.info.run_id, tracking_uri=store_uri(rproject)) == ["raw.csv"]


@pytest.mark.timeout(420, func_only=True)
def test_stale_runs_are_listed_and_closed_and_live_runs_left_alone(
    rproject: Path, tmp_path: Path
) -> None:
    """Rule: make kedro mlflow able to list and close runs left RUNNING with no live process.

    Run A is alive (blocked in a node); run B's process was SIGKILLed. ``--stale`` lists B
    only; ``--close-stale`` ends B FAILED and leaves A running; A then finishes FINISHED.
    """
    alive = start_blocking(rproject, tmp_path / "release-a")
    wait_for_runs(rproject, 1)
    killed = start_blocking(rproject, tmp_path / "release-b")
    wait_for_runs(rproject, 2)
    # A run is created with the tags naming its process, never tagged a moment later: a
    # process killed in between would leave a RUNNING run that --stale cannot judge.
    assert all(PID_TAG in run.data.tags for run in all_runs(store_uri(rproject)))
    killed.kill_group()  # the kedro run process and its helper: nobody is left to end the run
    killed.finish(10)
    try:
        uri = store_uri(rproject)
        runs = {run.info.run_id: run for run in all_runs(uri)}
        assert len(runs) == 2
        assert {run.info.status for run in runs.values()} == {"RUNNING"}

        stale = kedro_bounded(rproject, "mlflow", "runs", "--stale", timeout=120)
        assert stale.returncode == 0, stale.output[-3000:]
        listed = [run_id for run_id in runs if run_id in stale.output]
        assert len(listed) == 1, f"--stale listed {listed}:\n{stale.output[-3000:]}"
        (stale_id,) = listed
        (live_id,) = set(runs) - {stale_id}

        closed = kedro_bounded(rproject, "mlflow", "runs", "--close-stale", timeout=120)
        assert closed.returncode == 0, closed.output[-3000:]
        assert stale_id in closed.output
        statuses = {run.info.run_id: run.info.status for run in all_runs(uri)}
        assert statuses == {stale_id: "FAILED", live_id: "RUNNING"}

        again = kedro_bounded(rproject, "mlflow", "runs", "--stale", timeout=120)
        assert again.returncode == 0
        assert stale_id not in again.output and live_id not in again.output
    finally:
        (tmp_path / "release-a").touch()
        result = alive.finish(120)
    assert result.returncode == 0, result.output[-3000:]
    statuses = {run.info.run_id: run.info.status for run in all_runs(uri)}
    assert statuses[live_id] == "FINISHED"
