"""One save's upload: the files it wrote, logging them into its run, its error and record.

``_queue`` decides when and on which thread an ``Upload`` runs; this is what running one does.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from kedro_mlflow import _bounds, _tracking
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts import _records, _snapshot

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput, Run

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

    #: ``None`` while the upload is forwarded to the run's helper process, which fills it in.
    run: Run | None
    files: list[tuple[Path, str]]
    context: str
    local_path: Path
    artifact: str = ""
    dataset_name: str | None = None
    cleanup: Path | None = None
    snapshot: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id) if self.run is not None else "of this kedro run"

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
            What was logged, one entry per file.
        """
        failure: DatasetError | None = None
        if self.run is None:
            raise RuntimeError(f"{self.context}: an upload forwarded to a helper has no run")
        try:
            logged = store.log_files(store.artifact_repository(self.run), self.files)
        except Exception as exc:
            # Raised outside this block: MLflow's message may repeat a URL with a password.
            failure = self.failed(exc)
        self.discard()
        if failure is not None:
            raise failure
        logger.debug("Logged %s", self.describe())
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)
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
        return UploadFailed(
            f"{self.context}: logging {self.describe()} (tracking URI '{server}', artifact "
            f"location '{_tracking.redact(self._artifact_uri())}'): {why}: "
            f"{_tracking.redact(str(exc))}. Nothing was logged; the data was {self._kept_at()}.",
            timed_out=_bounds.looks_like_timeout(exc),
        )

    def _artifact_uri(self) -> str:
        return str(self.run.info.artifact_uri) if self.run is not None else "not known yet"

    def records(self, logged: list[store.LoggedFile]) -> dict[str, DatasetInput]:
        """The dataset record of this save (one per file if it names no artifact), by artifact."""
        groups = {self.artifact: logged} if self.artifact else {f.artifact: [f] for f in logged}
        return {
            artifact: _records.saved_input(
                self.run_id, _records.saved_record(artifact, files, self.dataset_name)
            )
            for artifact, files in groups.items()
        }

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


class UploadFailed(DatasetError):
    """An upload failed; ``timed_out``: because the server did not answer."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out
