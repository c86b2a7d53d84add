"""Runs left RUNNING: which process owns a run, whether it is alive, closing the stale ones.

Every run a ``kedro run`` opens is tagged with the host and process that opened it
(``kedro_mlflow.host``, ``kedro_mlflow.pid``, ``kedro_mlflow.process_start``: the process's
start time, so that a recycled pid is not taken for the run's process). A run still RUNNING
whose process is gone (SIGKILL, a machine that died, a server that was down when the run
ended) is *stale*: ``kedro mlflow runs --stale`` lists them, ``--close-stale`` ends them
FAILED. Runs opened on another host are listed as such and never closed from here.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.framework.hooks.tags import PROJECT_PATH_TAG

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

HOST_TAG = "kedro_mlflow.host"
PID_TAG = "kedro_mlflow.pid"
PROCESS_START_TAG = "kedro_mlflow.process_start"


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces: count fields after its closing ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat(5)


def process_tags() -> dict[str, str]:
    """The tags naming this process, set on every run a ``kedro run`` opens."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    started = process_start(os.getpid())
    if started is not None:
        tags[PROCESS_START_TAG] = started
    return tags


def process_alive(pid: int, started: str | None) -> bool:
    """Whether ``pid`` runs on this host and (if known) is the process that started then."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    if started is not None:
        now = process_start(pid)
        return now is None or now == started
    return True


@dataclass(frozen=True)
class OpenRun:
    """A RUNNING run opened by ``kedro run``, and whether its process is gone."""

    run: Run
    host: str
    pid: int | None
    stale: bool

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def describe(self) -> str:
        experiment = self.run.info.experiment_id
        owner = f"pid {self.pid} on {self.host}"
        state = "stale (no such process)" if self.stale else "its process is alive"
        if self.host != socket.gethostname():
            state = "opened on another host: cannot tell, left alone"
        return f"{self.run_id}  experiment {experiment}  {owner}  {state}"


def open_runs(client: MlflowClient, project_path: Path | None = None) -> list[OpenRun]:
    """Every RUNNING run this plugin opened (of ``project_path`` when given), oldest first."""
    experiments = [
        experiment.experiment_id
        for experiment in client.search_experiments(view_type=mlflow.entities.ViewType.ALL)
    ]
    found: list[OpenRun] = []
    here = socket.gethostname()
    for start in range(0, len(experiments), 100):
        runs = client.search_runs(
            experiments[start : start + 100],
            filter_string="attributes.status = 'RUNNING'",
            max_results=50000,
            order_by=["attributes.start_time ASC"],
        )
        for run in runs:
            found.extend(_open_run(run, here, project_path))
    return found


def _open_run(run: Run, here: str, project_path: Path | None) -> list[OpenRun]:
    tags = run.data.tags
    pid_text = tags.get(PID_TAG)
    if not pid_text:
        return []  # not opened by kedro-mlflow 3 (or another tool's run): not ours to judge
    if project_path is not None and tags.get(PROJECT_PATH_TAG) not in {
        None,
        project_path.as_posix(),
    }:
        return []
    host = tags.get(HOST_TAG, "?")
    pid = int(pid_text) if pid_text.isdigit() else None
    stale = host == here and (pid is None or not process_alive(pid, tags.get(PROCESS_START_TAG)))
    return [OpenRun(run, host, pid, stale)]


def close(client: MlflowClient, stale: OpenRun, by: str = "kedro mlflow runs") -> None:
    """End a stale run FAILED, noting why (and ``by`` whom) in a tag."""
    client.set_tag(
        stale.run_id,
        "kedro_mlflow.closed_stale",
        f"process {stale.pid} on {stale.host} was gone; ended FAILED by {by}",
    )
    client.set_terminated(stale.run_id, "FAILED")


def close_left_running(client: MlflowClient, experiment_id: str, project_path: Path) -> list[str]:
    """End FAILED this project's runs of ``experiment_id`` whose ``kedro run`` is gone.

    A ``kedro run`` that lost its server could not end its run: the next ``kedro run`` of
    the project, once the server is back, ends it (one search of the experiment's RUNNING
    runs). Runs of a live process, of another host or of another project are left alone.

    Returns:
        The ids of the runs ended.
    """
    here = socket.gethostname()
    closed = []
    for run in client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    ):
        if run.data.tags.get(PROJECT_PATH_TAG) != project_path.as_posix():
            continue
        for found in _open_run(run, here, project_path):
            if found.stale:
                close(client, found, by="the next kedro run of the project")
                closed.append(found.run_id)
    return closed
