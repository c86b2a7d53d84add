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

logger = logging.getLogger(__name__)


@dataclass
class _Queue:
    pid: int
    executor: ThreadPoolExecutor
    jobs: list[tuple[str, Future[None]]] = field(default_factory=list)


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


def submit(description: str, upload: Callable[[], None]) -> bool:
    """Queue ``upload`` if background uploads are on in this process; else return False."""
    with _lock:
        if _queue is None or _queue.pid != os.getpid():
            return False
        _queue.jobs.append((description, _queue.executor.submit(upload)))
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
    pending = [future for _, future in queue.jobs if not future.done()]
    if pending:
        logger.info("Waiting for %d MLflow artifact upload(s) to finish", len(pending))
    wait([future for _, future in queue.jobs])
    queue.executor.shutdown()
    failures = [
        f"- {description}: {future.exception()}"
        for description, future in queue.jobs
        if future.exception() is not None
    ]
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(queue.jobs)} MLflow artifact upload(s) failed; their "
            f"local files are kept:\n" + "\n".join(failures)
        )
