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
from kedro_mlflow.io.artifacts import _snapshot

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
    snapshot: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def describe(self) -> str:
        names = ", ".join(f"'{artifact}'" for _, artifact in self.files) or "nothing"
        return f"{names} into run '{self.run_id}'"

    def run_upload(self) -> list[store.LoggedFile]:
        """Copy or upload the files; raise a ``DatasetError`` naming the run and the data."""
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
                f"was logged; the data was saved locally at '{self.local_path}'."
            ) from exc
        self.discard()
        logger.debug("Logged %s", self.describe())
        return logged

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


def queued() -> bool:
    """Whether saves of this process queue their upload (background uploads are on)."""
    with _lock:
        return _queue is not None and _queue.pid == os.getpid()


def log(upload: Upload) -> None:
    """Log the files of one save: queued when background uploads are on, else now.

    Raises:
        DatasetError: (not queued) The upload or the digest record failed.
    """
    with _lock:
        queued = _queue is not None and _queue.pid == os.getpid()
    if queued:
        # Taken before save returns: the next node may rewrite the local file at once.
        snapshot = upload if upload.snapshot is not None else upload.snapshotted()
        with _lock:
            if _queue is not None and _queue.pid == os.getpid():
                _queue.jobs.append((snapshot, _queue.executor.submit(snapshot.run_upload)))
                return
        upload = snapshot
    problem = _record(upload.run_id, upload.run_upload())
    if problem is not None:
        raise DatasetError(
            f"{upload.context}: recording {problem}. The data was logged, and saved locally "
            f"at '{upload.local_path}'; save again to record it."
        )


def wait_for_uploads() -> None:
    """Block until every queued upload finished, record their digests; stop queueing.

    Raises:
        DatasetError: Listing every artifact that could not be uploaded, with why.
    """
    global _queue
    with _lock:
        queue, _queue = _queue, None
    if queue is None or queue.pid != os.getpid():
        return
    futures = [future for _, future in queue.jobs]
    pending = sum(not future.done() for future in futures)
    if pending:
        logger.info("Waiting for %d MLflow artifact upload(s) to finish", pending)
    wait(futures)
    queue.executor.shutdown()
    failures = [
        f"- {upload.describe()}: {future.exception()}"
        for upload, future in queue.jobs
        if future.exception() is not None
    ]
    by_run: dict[str, list[store.LoggedFile]] = {}
    for upload, future in queue.jobs:
        if future.exception() is None:
            by_run.setdefault(upload.run_id, []).extend(future.result())
    for run_id, logged in by_run.items():
        problem = _record(run_id, logged)
        if problem is not None:
            failures.append(f"- {problem}")
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(queue.jobs)} MLflow artifact upload(s) failed; their "
            f"local files are kept:\n" + "\n".join(failures)
        )


def _record(run_id: str, logged: list[store.LoggedFile]) -> str | None:
    """Record the digests of ``logged`` on ``run_id``; what went wrong, or None."""
    try:
        store.record_digests(run_id, logged)
    except Exception as exc:
        return f"the sha256 digests of {len(logged)} file(s) of run '{run_id}' failed: {exc}"
    return None
