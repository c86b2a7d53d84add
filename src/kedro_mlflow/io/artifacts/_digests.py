"""The dataset records (digests) of the saves made outside a ``kedro run``, logged in batches.

Logging a save's dataset record (``_records``) is one store transaction: a few milliseconds
on sqlite, most of the cost of a small save from a notebook or a script. There, records wait
here and are logged up to 100 per call (the newest record of an artifact wins):

- by the save that fills a batch;
- ``SECONDS`` after the first of them waited, at the latest (one short-lived thread);
- before this process reads versions back (a load or a check by run id, a listing, a
  restore), when background uploads are waited for, on a crash and at exit.

A record that fails is kept and tried again: the next save into that run raises its error,
``wait_for_uploads()`` reports (and drops) it, exit logs it; a read of that run fails at once
when its server did not answer (the read would wait as long). A ``multiprocessing`` child (a
``ParallelRunner`` worker) records per save, as it ends with ``os._exit``, skipping exit
handlers.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from kedro_mlflow import _bounds, _tracking
from kedro_mlflow.exceptions import TrackingUnreachableError
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts import _records

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

logger = logging.getLogger(__name__)

#: Records logged in one store call.
BATCH = 100
#: How long a digest may wait to be recorded.
SECONDS = 0.5


def deferrable() -> bool:
    """Whether this process may keep digests for later: not a multiprocessing child."""
    return multiprocessing.parent_process() is None


def defer(run_id: str, tags: dict[str, DatasetInput], context: str) -> None:
    """Keep the records of one save (by artifact) for ``run_id``; log what waits if a batch is full.

    Raises:
        DatasetError: Recording the tags of ``run_id`` failed, now or since its last save.
    """
    key = (store.tracking_uri(), run_id)
    if not _pending.add(key, tags):
        return
    problems = _pending.flush()
    if key in problems:
        raise DatasetError(
            f"{context}: recording {problems.pop(key)}. The data was logged; the digests are "
            f"kept and recorded again at the next save into this run, or at exit."
        )
    _warn(problems)


def record_waiting(run_id: str | None = None, context: str = "Reading MLflow runs") -> None:
    """Record what waits for ``run_id`` (every run if None) before this process reads it back.

    Raises:
        DatasetError: The server did not answer: the read would wait as long, so it fails now,
            naming the server. Other failures are logged, and the read goes on.
    """
    problems = _pending.flush(run_id=run_id, retry_timed_out=False)
    for key, problem in problems.items():
        if problem.timed_out:
            raise DatasetError(
                f"{context}: recording {problem} first: the tracking server "
                f"'{_tracking.redact(key[0])}' did not answer. The digests are kept and "
                f"recorded at the next save or at exit."
            )
    _warn(problems)


def record_or_drop() -> str | None:
    """Record what waits, now; drop what fails. What was not recorded, or None."""
    problems = _pending.flush(keep_failed=False)
    return "; ".join(map(str, problems.values())) or None


def waiting() -> int:
    """How many dataset records wait to be logged."""
    return _pending.waiting()


def _warn(problems: dict[tuple[str, str], _Problem]) -> None:
    for problem in problems.values():
        logger.warning("kedro-mlflow could not record %s (tried again later)", problem)


class _Problem(str):
    """What went wrong logging one run's records; ``timed_out``: the server did not answer."""

    timed_out = False


def _record(key: tuple[str, str], tags: dict[str, DatasetInput]) -> _Problem | None:
    """Log the records ``tags`` on run ``key[1]`` of the store ``key[0]``; what failed, or None."""
    uri, run_id = key
    try:
        # Bounds every call (an http server refusing connections fails at once).
        _tracking.require_reachable(uri, "Recording digests", "")
        _records.log(run_id, list(tags.values()), tracking_uri=uri)
    except Exception as exc:
        problem = _Problem(
            f"{len(tags)} dataset record(s) of run '{run_id}' (sha256 digests) failed: "
            f"{_tracking.redact(str(exc))}"
        )
        problem.timed_out = _bounds.looks_like_timeout(exc) or isinstance(
            exc, TrackingUnreachableError
        )
        return problem
    return None


class _Pending:
    """Records waiting per ``(tracking URI, run id)``, by artifact; the newest one wins."""

    def __init__(self) -> None:
        self._forget()
        self._hooked = False

    def _forget(self) -> None:
        self._lock = threading.Lock()  # guards the fields below
        self._recording = threading.Lock()  # one record at a time: the newest value wins
        self._tags: dict[tuple[str, str], dict[str, DatasetInput]] = {}
        #: Runs whose last record failed, with why: recorded at the next save into the run.
        self._failed: dict[tuple[str, str], _Problem] = {}
        self._timer: threading.Timer | None = None
        self._closed = False  # at exit: no more threads

    def add(self, key: tuple[str, str], tags: dict[str, DatasetInput]) -> bool:
        """Keep ``tags``; whether to record now (a full batch, a failed run, exiting)."""
        with self._lock:
            if not self._hooked:
                self._hooked = True
                # Registered after mlflow's own handler (imported by now), so it runs first:
                # an implicit run is ended with its digests recorded.
                atexit.register(self._at_exit)
                os.register_at_fork(after_in_child=self._forget)
            self._tags.setdefault(key, {}).update(tags)
            count = sum(len(waiting) for waiting in self._tags.values())
            if count >= BATCH or key in self._failed or self._closed:
                return True
            self._arm()
            return False

    def _arm(self) -> None:
        """Start the background record if healthy runs wait (``self._lock`` held)."""
        if self._timer is None and not self._closed and set(self._tags) - set(self._failed):
            self._timer = threading.Timer(SECONDS, self._in_background)
            self._timer.name = "kedro-mlflow-digests"
            self._timer.daemon = True  # joined at exit
            self._timer.start()

    def waiting(self) -> int:
        with self._lock:
            return sum(len(tags) for tags in self._tags.values())

    def flush(
        self, *, run_id: str | None = None, keep_failed: bool = True, retry_timed_out: bool = True
    ) -> dict[tuple[str, str], _Problem]:
        """Record the tags waiting (for ``run_id`` only, if given); what failed, per run.

        What failed is kept (unless ``keep_failed`` is false) and recorded at the next save
        into its run. Without ``retry_timed_out``, a run whose server did not answer last time
        is not tried again: its last problem is returned at once.
        """
        problems: dict[tuple[str, str], _Problem] = {}
        with self._recording:
            with self._lock:
                keys = [key for key in self._tags if run_id in (None, key[1])]
                for key in keys:
                    last = self._failed.get(key)
                    if not retry_timed_out and last is not None and last.timed_out:
                        problems[key] = last
                taken = {key: self._tags.pop(key) for key in keys if key not in problems}
            for key, tags in taken.items():
                problem = _record(key, tags)
                if problem is not None:
                    problems[key] = problem
                    if keep_failed:
                        with self._lock:  # kept, under any newer value of the same tag
                            self._tags[key] = tags | self._tags.get(key, {})
            with self._lock:
                for key in taken:
                    self._failed.pop(key, None)
                    if keep_failed and key in problems:
                        self._failed[key] = problems[key]
                if not self._tags and self._timer not in (None, threading.current_thread()):
                    self._timer.cancel()  # nothing left for it to record
                    self._timer = None
        return problems

    def _in_background(self) -> None:
        _warn(self.flush())
        with self._lock:
            if self._timer is threading.current_thread():
                self._timer = None
                self._arm()  # for what a save added meanwhile

    def _at_exit(self) -> None:
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join()
        for problem in self.flush().values():
            logger.error(
                "kedro-mlflow could not record %s before exit. The artifacts are logged; "
                "loading them will say they are unverified.",
                problem,
            )


_pending = _Pending()
