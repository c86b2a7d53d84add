"""The one owner of logging a save's files and recording their digests.

Every save hands one ``Upload`` to ``log``. While background uploads are on in this
process (the Kedro hook turns them on at the start of a run and waits at its end), the
upload runs on a few daemon threads and ``log`` returns at once; the digests of a run's files are
recorded in one batch when the queue is waited for, and a failure fails the run with the
list of what was not uploaded. Otherwise (a notebook, a script, a ``ParallelRunner``
worker process) the upload runs before ``log`` returns.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from kedro_mlflow import _bounds, _tracking
from kedro_mlflow.io.artifacts import _mlflow_store as store

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """The files one save wrote, to be logged into one run.

    Attributes:
        run: The run to log into.
        files: ``(local file, artifact name)`` pairs; names are final (``reporting/a.csv``).
        context: What the dataset was doing, the start of an error message.
        local_path: Where the dataset keeps the data locally, named in errors.
    """

    run: Run
    files: list[tuple[Path, str]]
    context: str
    local_path: Path

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def describe(self) -> str:
        names = ", ".join(f"'{artifact}'" for _, artifact in self.files) or "nothing"
        return f"{names} into run '{self.run_id}'"

    def run_upload(self) -> list[store.LoggedFile]:
        """Copy or upload the files; raise a ``DatasetError`` naming the run and the data."""
        failure: DatasetError | None = None
        try:
            logged = store.log_files(store.artifact_repository(self.run), self.files)
        except Exception as exc:
            # Raised outside this block: MLflow's message may repeat a URL with a password.
            failure = self.failed(exc)
        if failure is not None:
            raise failure
        logger.debug("Logged %s", self.describe())
        return logged

    def failed(self, exc: BaseException) -> DatasetError:
        """The error of this upload failing with ``exc``: the server, the run, what is kept."""
        server = store.tracking_uri()
        if _bounds.looks_like_timeout(exc):
            why = (
                f"the server did not answer in time or the connection broke (bound: "
                f"{_bounds.describe()})"
            )
        else:
            why = "failed"
        return _UploadFailed(
            f"{self.context}: logging {self.describe()} (tracking URI '{server}', artifact "
            f"location '{_tracking.redact(str(self.run.info.artifact_uri))}'): {why}: "
            f"{_tracking.redact(str(exc))}. The data was saved locally at '{self.local_path}' "
            f"but not logged.",
            timed_out=_bounds.looks_like_timeout(exc),
        )


class _UploadFailed(DatasetError):
    """An upload failed; ``timed_out``: because the server did not answer."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass
class _Job:
    """One queued upload."""

    upload: Upload
    done: threading.Event = field(default_factory=threading.Event)
    result: list[store.LoggedFile] | None = None
    error: BaseException | None = None


@dataclass
class _Queue:
    pid: int
    max_workers: int
    jobs: list[_Job] = field(default_factory=list)
    todo: queue.SimpleQueue[_Job | None] = field(default_factory=queue.SimpleQueue)
    workers: list[threading.Thread] = field(default_factory=list)
    #: Set once an upload timed out: the uploads not yet started fail at once, naming it.
    server_failed: list[str] = field(default_factory=list)

    def submit(self, job: _Job) -> None:
        self.jobs.append(job)
        self.todo.put(job)
        if len(self.workers) < min(self.max_workers, len(self.jobs)):
            # Daemon threads: an upload that hangs despite its bounds never keeps the
            # process alive; wait_for_uploads abandons it at its deadline.
            worker = threading.Thread(
                target=self.work,
                name=f"kedro-mlflow-upload-{len(self.workers)}",
                daemon=True,
            )
            worker.start()
            self.workers.append(worker)

    def work(self) -> None:
        """Run uploads until told to stop; fail them at once once the server timed out."""
        while (job := self.todo.get()) is not None:
            try:
                if self.server_failed:
                    raise _UploadFailed(
                        f"{job.upload.context}: logging {job.upload.describe()} was not "
                        f"attempted: an earlier upload to '{store.tracking_uri()}' timed out "
                        f"({self.server_failed[0]}). The data was saved locally at "
                        f"'{job.upload.local_path}' but not logged.",
                        timed_out=True,
                    )
                job.result = job.upload.run_upload()
            except BaseException as exc:  # reported by wait_for_uploads
                job.error = exc
                if isinstance(exc, _UploadFailed) and exc.timed_out and not self.server_failed:
                    self.server_failed.append(job.upload.describe())
            finally:
                job.done.set()

    def stop(self) -> None:
        """Let every worker end once it is idle."""
        for _ in self.workers:
            self.todo.put(None)


_queue: _Queue | None = None
_lock = threading.Lock()
#: The slowest transfer the wait's safety net allows for (bytes per second).
SAFETY_NET_RATE = 1024 * 1024


def start_background_uploads(max_workers: int = 4) -> None:
    """From now on, in this process, saves queue their upload instead of waiting for it.

    Args:
        max_workers: How many uploads run at once.
    """
    global _queue  # noqa: PLW0603 - one upload queue per process, by design
    with _lock:
        if _queue is None or _queue.pid != os.getpid():
            _queue = _Queue(os.getpid(), max_workers)


def log(upload: Upload) -> None:
    """Log the files of one save: queued when background uploads are on, else now.

    Raises:
        DatasetError: (not queued) The upload or the digest record failed.
    """
    with _lock:
        if _queue is not None and _queue.pid == os.getpid():
            _queue.submit(_Job(upload))
            return
    problem = _record(upload.run_id, upload.run_upload())
    if problem is not None:
        raise DatasetError(
            f"{upload.context}: recording {problem}. The data was logged, and saved locally "
            f"at '{upload.local_path}'; save again to record it."
        )


def wait_for_uploads(deadline_s: float | None = None) -> None:
    """Wait for every queued upload, record their digests; stop queueing.

    Each upload is bounded by ``server.request_timeout`` per call to the server and ends by
    itself when the server stalls or dies. As a safety net, an upload still running
    ``deadline_s`` after the last one ended (or after this call, if none has ended since) is
    abandoned and reported as not uploaded: its daemon thread never keeps the process alive.

    Args:
        deadline_s: How long to wait without any upload ending; ``None``: twice the bound
            of one call (``server.request_timeout``, or MLflow's variables when set) plus one
            second per MiB still to upload.

    Raises:
        DatasetError: Listing every artifact that could not be uploaded, with why.
    """
    global _queue
    with _lock:
        uploads, _queue = _queue, None
    if uploads is None or uploads.pid != os.getpid():
        return
    uploads.stop()
    jobs = uploads.jobs
    _wait(jobs, deadline_s)
    failures = [f"- {job.upload.describe()}: {job.error}" for job in jobs if job.error is not None]
    by_run: dict[str, list[store.LoggedFile]] = {}
    for job in jobs:
        if job.error is None and job.result is not None:
            by_run.setdefault(job.upload.run_id, []).extend(job.result)
    for run_id, logged in by_run.items():
        problem = _record(run_id, logged)
        if problem is not None:
            failures.append(f"- {problem}")
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(jobs)} MLflow artifact upload(s) failed, not uploaded "
            f"(their local files are kept):\n" + "\n".join(failures)
        )


def _wait(jobs: list[_Job], deadline_s: float | None) -> None:
    """Wait for ``jobs``; those still running ``deadline_s`` after the last one ended fail."""
    if deadline_s is None:
        # A safety net: each upload ends by itself within its bounds when the server stalls
        # or dies; a healthy upload of N MiB is given N more seconds (1 MiB/s) on top.
        pending_bytes = sum(_size(job.upload) for job in jobs if not job.done.is_set())
        quiet_for = 2 * _bounds.effective_total() + pending_bytes / SAFETY_NET_RATE
    else:
        quiet_for = deadline_s
    pending = [job for job in jobs if not job.done.is_set()]
    if pending:
        logger.info("Waiting for %d MLflow artifact upload(s) to finish", len(pending))
    last_progress = time.monotonic()
    while pending:
        left = last_progress + quiet_for - time.monotonic()
        if left <= 0:
            break
        pending[0].done.wait(min(left, 0.5))
        still = [job for job in pending if not job.done.is_set()]
        if len(still) < len(pending):
            last_progress = time.monotonic()
        pending = still
    for job in pending:
        job.error = job.upload.failed(
            TimeoutError(f"still running {quiet_for:g} s after the last upload ended: abandoned")
        )


def _size(upload: Upload) -> int:
    total = 0
    for local, _ in upload.files:
        try:
            total += local.stat().st_size
        except OSError:
            pass
    return total


def _record(run_id: str, logged: list[store.LoggedFile]) -> str | None:
    """Record the digests of ``logged`` on ``run_id``; what went wrong, or None."""
    try:
        store.record_digests(run_id, logged)
    except Exception as exc:
        return (
            f"the sha256 digests of {len(logged)} file(s) of run '{run_id}' failed: "
            f"{_tracking.redact(str(exc))}"
        )
    return None
