"""The run of a ``kedro run`` is the active run wherever a node runs.

MLflow keeps its active run per thread (and resets it in a child process), so a node running
in a ``ThreadRunner`` worker thread or a ``ParallelRunner`` process would see no active run:
``mlflow.log_param`` there would start a stray run, and ``mlflow.start_run(nested=True)`` a
parentless one. Before each node, the hook makes the kedro run the active run of the node's
thread if that thread has none; after it, it ends the runs the node left open (FAILED when
the node failed) and takes the kedro run off that thread's stack again, without ending it.

MLflow has no public API to make an existing run active without resuming it (``start_run``
would change its status, and ``end_run`` would end it), so ``_active_run_stack`` below is
the one reach into its private state; ``tests/framework/test_dropin.py`` pins it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import RUN_ID_ENV

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

_adopted = threading.local()
_runs: dict[tuple[int, str], Run] = {}


def _active_run_stack() -> list[Any]:
    """This thread's stack of active runs, as MLflow keeps it."""
    stack: list[Any] = mlflow.tracking.fluent._active_run_stack.get()
    return stack


def enter_node() -> None:
    """Make the kedro run the active run of this thread, if the thread has none."""
    run_id = os.environ.get(RUN_ID_ENV)
    # Without mlflow imported, nothing could use the run; a kedro run whose MLflow work is
    # in its helper makes it active here when mlflow is imported (``lifecycle._adopt``).
    if not run_id or "mlflow" not in sys.modules or mlflow.active_run() is not None:
        return
    key = (os.getpid(), run_id)
    if key not in _runs:
        _runs[key] = mlflow.MlflowClient().get_run(run_id)
    _active_run_stack().append(mlflow.ActiveRun(_runs[key]))
    _adopted.run_id = run_id


def leave_node(*, failed: bool) -> None:
    """End the runs the node left open above the kedro run; release an adopted kedro run."""
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id or "mlflow" not in sys.modules:
        return
    status = "FAILED" if failed else "FINISHED"
    while (active := mlflow.active_run()) is not None and active.info.run_id != run_id:
        logger.warning(
            "A node left MLflow run '%s' open inside the kedro run '%s': ended it %s.",
            active.info.run_id,
            run_id,
            status,
        )
        mlflow.end_run(status)
    if getattr(_adopted, "run_id", None) == run_id:
        stack = _active_run_stack()
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()
        _adopted.run_id = None
