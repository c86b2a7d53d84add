"""The one owner of logging a save's files and recording their digests.

Every save hands one ``Upload`` to ``log``. While background uploads are on in this
process (the Kedro hook turns them on at the start of a run and waits at its end), the
upload runs on a few daemon threads and ``log`` returns at once; each upload's dataset record
(``_records``: its digests) is logged by its thread as soon as the upload ends, and a failure
fails the run with the list of what was not uploaded or not recorded. Otherwise (a notebook,
a script, a ``ParallelRunner`` worker process) the upload runs before ``log`` returns, and its
record waits in ``_digests`` to be logged in batches (a worker process logs it at once).

What one upload does (copy or upload its files, its error, its record) is ``_upload``'s.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kedro.io import DatasetError

from kedro_mlflow import _bounds, _tracking
from kedro_mlflow.io.artifacts import _digests, _records
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts._upload import Upload, UploadFailed
from kedro_mlflow.io.artifacts._upload_report import SaveOutcome, report

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    """One queued upload."""

    upload: Upload
    size: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: list[store.LoggedFile] | None = None
    error: BaseException | None = None
    #: Why the upload's dataset record was not logged, if it was not.
    unrecorded: str | None = None


@dataclass
class _Queue:
    pid: int
    max_workers: int
    jobs: list[_Job] = field(default_factory=list)
    todo: queue.SimpleQueue[_Job | None] = field(default_factory=queue.SimpleQueue)
    workers: list[threading.Thread] = field(default_factory=list)
    #: Set once an upload timed out: the uploads not yet started fail at once, naming it.
    server_failed: list[str] = field(default_factory=list)
    #: Saves of the run that never reached the queue (``not_logged``), for its report.
    refused: list[SaveOutcome] = field(default_factory=list)

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
                    raise UploadFailed(
                        f"{job.upload.context}: logging {job.upload.describe()} was not "
                        f"attempted: an earlier upload to '{store.tracking_uri()}' timed out "
                        f"({self.server_failed[0]}). The data was saved locally at "
                        f"'{job.upload.local_path}' but not logged.",
                        timed_out=True,
                    )
                job.result = job.upload.run_upload()
                # Logged here, as soon as the upload ends: a server dying later loses nothing.
                job.unrecorded = _record(job.upload.run_id, job.upload.records(job.result))
            except BaseException as exc:  # reported by wait_for_uploads
                job.error = exc
                if isinstance(exc, UploadFailed) and exc.timed_out and not self.server_failed:
                    self.server_failed.append(job.upload.describe())
            finally:
                job.done.set()

    def stop(self) -> None:
        """Let every worker end once it is idle."""
        for _ in self.workers:
            self.todo.put(None)


@dataclass(frozen=True)
class UploadStatus:
    """The background uploads of this process, for a progress display.

    Attributes:
        total: Uploads queued since background uploads started.
        done: Those finished (logged or failed).
        total_bytes: Bytes of every queued upload.
        done_bytes: Bytes of the finished ones.
    """

    total: int = 0
    done: int = 0
    total_bytes: int = 0
    done_bytes: int = 0
    pending_artifacts: tuple[str, ...] = ()

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def pending_bytes(self) -> int:
        return self.total_bytes - self.done_bytes


class Forwarder(Protocol):
    """Where the saves of this process send their uploads instead (the run's helper process)."""

    def send(self, upload: Upload) -> None:
        """Hand over one save's files, snapshotted; raise if the run cannot take them."""

    def run_id(self) -> str | None:
        """The run of the ``kedro run``, once open (``None``: it could not be opened)."""

    def wait_for_artifact(self, artifact: str) -> bool:
        """Wait for the uploads of ``artifact``; whether there was one."""

    def not_logged(self, artifacts: tuple[str, ...], why: str) -> None:
        """Count a save that logged nothing in the run's report (never raises)."""

    def log_metrics(self, save: Any) -> None:
        """Log one metric dataset's save (``_metric_log.MetricSave``); raise if it failed."""


_queue: _Queue | None = None
#: ``(pid, forwarder)``: set by the hook for the ``kedro run`` of that process.
_forward: tuple[int, Forwarder] | None = None
#: The queue being waited for: no longer taking uploads, still showing its progress.
_waited: _Queue | None = None
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


def queued() -> bool:
    """Whether saves of this process queue their upload (background uploads are on)."""
    with _lock:
        return _queue is not None and _queue.pid == os.getpid()


def forward_to(forwarder: Forwarder | None) -> None:
    """From now on, this process's saves hand their uploads to ``forwarder`` (``None``: stop)."""
    global _forward  # noqa: PLW0603 - one per process, like the queue
    with _lock:
        _forward = None if forwarder is None else (os.getpid(), forwarder)


def forwarder() -> Forwarder | None:
    """The forwarder of this process, if saves hand their uploads over."""
    with _lock:
        forward = _forward
    return forward[1] if forward is not None and forward[0] == os.getpid() else None


def log(upload: Upload) -> None:
    """Log the files of one save: queued when background uploads are on, else now.

    Raises:
        DatasetError: (not queued) The upload or the digest record failed.
    """
    size = upload.size
    forward = forwarder()
    if forward is not None:
        # Snapshotted here, before save returns: the next node may rewrite the local file.
        forward.send(upload if upload.snapshot is not None else upload.snapshotted())
        return
    if queued():
        # Taken before save returns: the next node may rewrite the local file at once.
        snapshot = upload if upload.snapshot is not None else upload.snapshotted()
        with _lock:
            if _queue is not None and _queue.pid == os.getpid():
                _queue.submit(_Job(snapshot, size))
                return
        upload = snapshot
    logged = upload.run_upload()
    if _digests.deferrable():
        _digests.defer(upload.run_id, upload.records(logged), upload.context)
        return
    problem = _record(upload.run_id, upload.records(logged))
    if problem is not None:
        raise DatasetError(
            f"{upload.context}: recording {problem}. The data was logged"
            f"{'' if upload.cleanup else f', and saved locally at {upload.local_path!r}'}; "
            f"save again to record it."
        )


def not_logged(artifacts: tuple[str, ...], why: str) -> None:
    """Count a save of this ``kedro run`` that logged nothing (the server was unreachable).

    Its own error says so at once; the run's report at its end counts it among its saves.
    Outside a ``kedro run`` (no queue), the save's error is the whole story.
    """
    forward = forwarder()
    if forward is not None:
        forward.not_logged(artifacts, why)
        return
    with _lock:
        if _queue is not None and _queue.pid == os.getpid():
            _queue.refused.append(SaveOutcome(artifacts, why))


def upload_status() -> UploadStatus:
    """How far the background uploads of this process are (all zero when none are queued)."""
    with _lock:
        uploads = _queue or _waited
        if uploads is None or uploads.pid != os.getpid():
            return UploadStatus()
        jobs = list(uploads.jobs)
    finished = [job.size for job in jobs if job.done.is_set()]
    pending = tuple(name for job in jobs if not job.done.is_set() for _, name in job.upload.files)
    return UploadStatus(
        len(jobs), len(finished), sum(job.size for job in jobs), sum(finished), pending
    )


def wait_for_artifact(run_id: str, artifact: str) -> bool:
    """Wait for the queued uploads of ``artifact`` (a file or folder) into ``run_id``.

    Returns:
        Whether this process queued one (then it is logged now).

    Raises:
        DatasetError: That upload failed.
    """
    forward = forwarder()
    if forward is not None:
        return forward.wait_for_artifact(artifact)
    with _lock:
        uploads = _queue
        if uploads is None or uploads.pid != os.getpid():
            return False
        jobs = [
            job
            for job in uploads.jobs
            if job.upload.run_id == run_id and job.upload.artifact == artifact
        ]
    for job in jobs:
        job.done.wait()
        if job.error is not None:
            raise job.error
    return bool(jobs)


def wait_for_uploads(deadline_s: float | None = None) -> None:
    """Wait for every queued upload (each logs its dataset record as it ends); stop queueing.

    The records of saves made outside a ``kedro run``, which wait to be logged in batches,
    are logged too (or reported and dropped): when this returns, nothing waits.

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
    global _queue, _waited  # noqa: PLW0603
    deferred = _digests.record_or_drop()
    with _lock:
        uploads, _queue = _queue, None
        _waited = uploads
    if uploads is None or uploads.pid != os.getpid():
        if deferred is not None:
            raise DatasetError(
                f"Recording {deferred}: loads of those files say they are unverified."
            )
        return
    uploads.stop()
    jobs = uploads.jobs
    try:
        _wait(jobs, deadline_s)
    finally:
        with _lock:
            _waited = None
    outcomes = [
        SaveOutcome(
            tuple(name for _, name in job.upload.files),
            None if job.error is None else str(job.error),
        )
        for job in jobs
    ] + uploads.refused
    problems = [
        f"recording {job.unrecorded}: loads of those files say they are unverified"
        for job in jobs
        if job.error is None and job.unrecorded
    ]
    if deferred is not None:
        problems.append(f"recording {deferred}: loads of those files say they are unverified")
    message = report(outcomes, problems)
    if message is not None:
        raise DatasetError(message)


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


def _record(run_id: str, records: dict[str, DatasetInput]) -> str | None:
    """Log ``records`` as dataset records of ``run_id``; what went wrong, or None."""
    try:
        _records.log(run_id, list(records.values()))
    except Exception as exc:
        names = ", ".join(f"'{artifact}'" for artifact in records)
        return (
            f"the dataset record(s) (sha256 digests) of {names} in run '{run_id}' failed: "
            f"{_tracking.redact(str(exc))}; loads of them will say they are unverified"
        )
    return None
