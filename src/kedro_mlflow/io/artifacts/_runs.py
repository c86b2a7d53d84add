"""Which MLflow run a dataset's save logs into and its load records lineage on.

The kedro run's (``KEDRO_MLFLOW_RUN_ID``, or its helper process's), else this thread's
active run, else ``MLFLOW_RUN_ID``'s, else (a save in a notebook or script) a run started
for it, ended FAILED if the program dies of an exception.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts import _queue

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

#: Set to ``1`` (the Kedro hook does it for ``disable_tracking.pipelines``) to
#: write local files only and log nothing. Read at each save, in every thread
#: and process of a run.
DISABLE_TRACKING_ENV = "KEDRO_MLFLOW_DISABLE_TRACKING"
#: The run of the ``kedro run`` under way, set by the Kedro hook for every thread and
#: process of the run. Not ``MLFLOW_RUN_ID``: MLflow would resume that run for any
#: ``mlflow.start_run(nested=True)`` a node makes, and unset it when that run ends.
RUN_ID_ENV = "KEDRO_MLFLOW_RUN_ID"


def run_for_save(run_id: str | None, context: str, local_path: Path) -> Run | None:
    """The run a save logs into: the dataset's ``run_id``, else the kedro run's, else the
    active run, else ``MLFLOW_RUN_ID``'s, else a run started for it (``local_path``'s save).

    ``None``: the kedro run's, whose helper process logs the files (``_queue.forward_to``).
    """
    store.require_reachable(context)
    if run_id is not None:
        return store.get_run(run_id, context, allow_deleted=False)
    if _queue.forwarder() is not None:
        return None
    kedro_run = os.environ.get(RUN_ID_ENV)
    if kedro_run:
        # The hook keeps this run alive for the whole kedro run: fetch it once per process.
        return store.get_run(kedro_run, context, remember="always")
    active = mlflow.active_run()
    if active is not None:
        return active
    resumed = os.environ.get("MLFLOW_RUN_ID")
    if resumed:
        return store.get_run(resumed, context, allow_deleted=False)
    run = store.start_run(context)
    _fail_implicit_run_on_crash(run.info.run_id)
    logger.info(
        "No active MLflow run: started run '%s' (experiment %s) for %s; it stays active "
        "for later saves, end it with mlflow.end_run().",
        run.info.run_id,
        run.info.experiment_id,
        local_path,
    )
    return run


def tracking_disabled_by_env() -> bool:
    """Whether ``KEDRO_MLFLOW_DISABLE_TRACKING`` asks this process to log nothing."""
    return os.environ.get(DISABLE_TRACKING_ENV, "").lower() in {"1", "true", "yes"}


def current_run_id() -> str | None:
    """The run this thread or process logs into (no run is started for it)."""
    kedro_run = os.environ.get(RUN_ID_ENV)
    if kedro_run:
        return kedro_run
    forward = _queue.forwarder()
    if forward is not None:
        return forward.run_id()
    # Until mlflow is imported, this process has no active run (and asking would import it).
    active = mlflow.active_run() if "mlflow" in sys.modules else None
    if active is not None:
        return str(active.info.run_id)
    return os.environ.get("MLFLOW_RUN_ID") or None


_implicit_runs: set[str] = set()


def _fail_implicit_run_on_crash(run_id: str) -> None:
    """Mark a run this dataset started as FAILED if the program dies of an exception.

    MLflow ends a run left open at exit as FINISHED, even after a crash.
    """
    if not _implicit_runs:
        previous = sys.excepthook

        def excepthook(
            kind: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            active = mlflow.active_run()
            if active is not None and active.info.run_id in _implicit_runs:
                mlflow.end_run("FAILED")
            previous(kind, exc, tb)

        sys.excepthook = excepthook
    _implicit_runs.add(run_id)
