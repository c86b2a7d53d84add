"""Background uploads: a save returns once its local file is written; uploads overlap.

The Kedro hook turns this on at the start of a run and waits at its end, so a
run is closed only after every upload finished or failed, and a failure fails
the run with the list of what was not uploaded. Outside that window (or in a
worker process of ``ParallelRunner``) saves upload before they return.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _mlflow_store as store

logger = logging.getLogger(__name__)


@dataclass
class _Queue:
    pid: int
    executor: ThreadPoolExecutor
    jobs: list[tuple[str, str, Future[list[store.Logged]]]] = field(default_factory=list)


_queue: _Queue | None = None
_lock = threading.Lock()


def start_background_uploads(max_workers: int = 4) -> None:
    """From now on, in this process, saves queue their upload instead of waiting for it.

    Args:
        max_workers: How many uploads run at once.
    """
    global _queue  # noqa: PLW0603 - one upload queue per process, by design
    with _lock:
        if _queue is None or _queue.pid != os.getpid():
            executor = ThreadPoolExecutor(max_workers, thread_name_prefix="kedro-mlflow-upload")
            _queue = _Queue(os.getpid(), executor)


def submit(description: str, run_id: str, upload: Callable[[], list[store.Logged]]) -> bool:
    """Queue ``upload`` into ``run_id`` if background uploads are on in this process.

    Returns:
        False, having done nothing, when they are off: the caller uploads itself.
    """
    with _lock:
        if _queue is None or _queue.pid != os.getpid():
            return False
        _queue.jobs.append((description, run_id, _queue.executor.submit(upload)))
        return True


def wait_for_uploads() -> None:
    """Block until every queued upload finished; stop queueing.

    Raises:
        DatasetError: Listing every artifact that could not be uploaded, with why.
    """
    global _queue
    with _lock:
        queue, _queue = _queue, None
    if queue is None or queue.pid != os.getpid():
        return
    futures = [future for _, _, future in queue.jobs]
    pending = sum(not future.done() for future in futures)
    if pending:
        logger.info("Waiting for %d MLflow artifact upload(s) to finish", pending)
    wait(futures)
    queue.executor.shutdown()
    failures = [
        f"- {description}: {future.exception()}"
        for description, _, future in queue.jobs
        if future.exception() is not None
    ]
    logged: dict[str, list[store.Logged]] = {}
    for _, run_id, future in queue.jobs:
        if future.exception() is None:
            logged.setdefault(run_id, []).extend(future.result())
    for run_id, files in logged.items():
        try:
            store.record_digests(run_id, files)
        except Exception as exc:  # reported with the other failures below
            failures.append(
                f"- the sha256 digests of {len(files)} file(s) of run '{run_id}': {exc}"
            )
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(queue.jobs)} MLflow artifact upload(s) failed; their "
            f"local files are kept:\n" + "\n".join(failures)
        )
