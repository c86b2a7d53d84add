"""The one owner of logging a save's files and recording their digests.

Every save hands one ``Upload`` to ``log``. While background uploads are on in this
process (the Kedro hook turns them on at the start of a run and waits at its end), the
upload runs on a thread pool and ``log`` returns at once; the digests of a run's files are
recorded in one batch when the queue is waited for, and a failure fails the run with the
list of what was not uploaded. Otherwise (a notebook, a script, a ``ParallelRunner``
worker process) the upload runs before ``log`` returns.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts import _snapshot, _versions

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
        artifact: The dataset's artifact (a file, or the folder holding ``files``).
        dataset_name: The dataset's catalog name, recorded on the run when known.
        cleanup: A private folder holding ``files`` (``keep_local: false``), removed once
            they are logged; kept, and named in the error, if logging fails.
    """

    run: Run
    files: list[tuple[Path, str]]
    context: str
    local_path: Path
    artifact: str = ""
    dataset_name: str | None = None
    cleanup: Path | None = None
    snapshot: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def size(self) -> int:
        """Bytes to log."""
        return sum(local.stat().st_size for local, _ in self.files)

    def describe(self) -> str:
        names = ", ".join(f"'{artifact}'" for _, artifact in self.files) or "nothing"
        return f"{names} into run '{self.run_id}'"

    def _kept_at(self) -> str:
        if self.cleanup is not None:
            return f"kept at '{self.cleanup}' ('keep_local: false': not at '{self.local_path}')"
        return f"saved locally at '{self.local_path}'"

    def run_upload(self) -> list[store.LoggedFile]:
        """Copy or upload the files; raise a ``DatasetError`` naming the run and the data.

        Returns:
            What was logged, with the folder's own record (``_versions.folder_digest``)
            when the save wrote a folder.
        """
        where = self.run.info.artifact_uri
        try:
            repo = store.artifact_repository(self.run)
            where = store.store_location(self.run, repo)
            logged = store.log_files(repo, self.files)
        except Exception as exc:
            self.discard()
            raise DatasetError(
                f"{self.context}: logging {self.describe()} into the artifact store '{where}' "
                f"(tracking URI '{store.redacted(store.tracking_uri())}') failed: {exc}. Nothing "
                f"was logged; the data was {self._kept_at()}."
            ) from exc
        self.discard()
        logger.debug("Logged %s", self.describe())
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)
        folder = _versions.folder_digest(self.artifact, logged) if self.artifact else None
        return [*logged, folder] if folder is not None else logged

    def tags(self) -> dict[str, str]:
        """Run tags to record with the digests: the dataset's catalog name."""
        if not (self.dataset_name and self.artifact):
            return {}
        return {_versions.dataset_tag_key(self.artifact): self.dataset_name}

    def discard(self) -> None:
        """Delete the private snapshot the files were logged from, if any."""
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)

    def snapshotted(self) -> Upload:
        """This upload, reading a private copy of its files taken now (see ``_snapshot``)."""
        try:
            folder, copies = _snapshot.take(self.files)
        except OSError as exc:
            raise DatasetError(
                f"{self.context}: taking a snapshot of {self.describe()} for its background "
                f"upload failed: {exc}. Nothing was logged; the data was saved locally at "
                f"'{self.local_path}'. Free some disk space in the cache "
                f"(KEDRO_MLFLOW_CACHE_DIR) and save again."
            ) from exc
        return dataclasses.replace(self, files=copies, snapshot=folder)


@dataclass
class _Queue:
    pid: int
    executor: ThreadPoolExecutor
    jobs: list[tuple[Upload, Future[list[store.LoggedFile]]]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


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


_queue: _Queue | None = None
#: The queue being waited for: no longer taking uploads, still showing its progress.
_waited: _Queue | None = None
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


def queued() -> bool:
    """Whether saves of this process queue their upload (background uploads are on)."""
    with _lock:
        return _queue is not None and _queue.pid == os.getpid()


def log(upload: Upload) -> None:
    """Log the files of one save: queued when background uploads are on, else now.

    Raises:
        DatasetError: (not queued) The upload or the digest record failed.
    """
    size = upload.size
    with _lock:
        queued = _queue is not None and _queue.pid == os.getpid()
    if queued:
        # Taken before save returns: the next node may rewrite the local file at once.
        snapshot = upload if upload.snapshot is not None else upload.snapshotted()
        with _lock:
            if _queue is not None and _queue.pid == os.getpid():
                _queue.jobs.append((snapshot, _queue.executor.submit(snapshot.run_upload)))
                _queue.sizes.append(size)
                return
        upload = snapshot
    problem = _record(upload.run_id, upload.run_upload(), upload.tags())
    if problem is not None:
        raise DatasetError(
            f"{upload.context}: recording {problem}. The data was logged"
            f"{'' if upload.cleanup else f', and saved locally at {upload.local_path!r}'}; "
            f"save again to record it."
        )


def upload_status() -> UploadStatus:
    """How far the background uploads of this process are (all zero when none are queued)."""
    with _lock:
        queue = _queue or _waited
        if queue is None or queue.pid != os.getpid():
            return UploadStatus()
        jobs = list(zip(queue.jobs, queue.sizes, strict=True))
    finished = [size for (_, future), size in jobs if future.done()]
    pending = tuple(
        name for (upload, future), _ in jobs if not future.done() for _, name in upload.files
    )
    return UploadStatus(
        len(jobs), len(finished), sum(size for _, size in jobs), sum(finished), pending
    )


def wait_for_artifact(run_id: str, artifact: str) -> bool:
    """Wait for the queued uploads of ``artifact`` (a file or folder) into ``run_id``.

    Returns:
        Whether this process queued one (then it is logged now).

    Raises:
        DatasetError: That upload failed.
    """
    with _lock:
        queue = _queue
        if queue is None or queue.pid != os.getpid():
            return False
        futures = [
            future
            for upload, future in queue.jobs
            if upload.run_id == run_id and upload.artifact == artifact
        ]
    for future in futures:
        future.result()
    return bool(futures)


def wait_for_uploads() -> None:
    """Block until every queued upload finished, record their digests; stop queueing.

    Raises:
        DatasetError: Listing every artifact that could not be uploaded, with why.
    """
    global _queue, _waited  # noqa: PLW0603
    with _lock:
        queue, _queue = _queue, None
        _waited = queue
    if queue is None or queue.pid != os.getpid():
        return
    try:
        _finish(queue)
    finally:
        with _lock:
            _waited = None


def _finish(queue: _Queue) -> None:
    wait([future for _, future in queue.jobs])
    queue.executor.shutdown()
    failures = [
        f"- {upload.describe()}: {future.exception()}"
        for upload, future in queue.jobs
        if future.exception() is not None
    ]
    by_run: dict[str, list[store.LoggedFile]] = {}
    tags_by_run: dict[str, dict[str, str]] = {}
    for upload, future in queue.jobs:
        if future.exception() is None:
            by_run.setdefault(upload.run_id, []).extend(future.result())
            tags_by_run.setdefault(upload.run_id, {}).update(upload.tags())
    for run_id, logged in by_run.items():
        problem = _record(run_id, logged, tags_by_run[run_id])
        if problem is not None:
            failures.append(f"- {problem}")
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(queue.jobs)} MLflow artifact upload(s) failed; their "
            f"local files are kept:\n" + "\n".join(failures)
        )


def _record(
    run_id: str, logged: list[store.LoggedFile], tags: dict[str, str] | None = None
) -> str | None:
    """Record the digests of ``logged`` (and ``tags``) on ``run_id``; what went wrong, or None."""
    try:
        store.record_digests(run_id, logged, tags)
    except Exception as exc:
        return f"the sha256 digests of {len(logged)} file(s) of run '{run_id}' failed: {exc}"
    return None
