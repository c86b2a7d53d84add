"""What the dataset asks of MLflow: runs, logging files with their digests, listing artifacts.

mlflow is imported at first use (``kedro_mlflow._lazy``): importing the dataset class,
which Kedro does on every CLI call that builds a catalog, must not pay for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kedro.io import DatasetError

from kedro_mlflow import _bounds, _tracking
from kedro_mlflow._lazy import artifact_repository_registry, mlflow
from kedro_mlflow.exceptions import TrackingUnreachableError
from kedro_mlflow.io.artifacts import _local_store, _records
from kedro_mlflow.io.artifacts._names import is_clean

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
#: The tracking URI as printed in messages (no password).
tracking_uri = _tracking.shown_tracking_uri
is_server_uri = _tracking.is_server_uri


def require_reachable(context: str) -> None:
    """Fail in seconds, naming the dataset, when the tracking server does not answer."""
    _tracking.require_reachable(
        _tracking.tracking_uri(),
        context,
        "Start the server or fix 'server.mlflow_tracking_uri' in mlflow.yml "
        "(or MLFLOW_TRACKING_URI).",
    )


_remembered: dict[tuple[str, str, str], Run] = {}


def get_run(
    run_id: str,
    context: str,
    *,
    remember: Literal["never", "ended", "always"] = "never",
    allow_deleted: bool = True,
    to_read: bool = False,
) -> Run:
    """Fetch a run, or raise a ``DatasetError`` naming it and the tracking URI.

    Args:
        run_id: The run to fetch.
        context: What the dataset was doing, the start of an error message.
        remember: Serve the run from this process's memory once fetched: ``ended`` for a
            run that had ended, during one ``kedro run`` only (loading N datasets of one run
            then costs one fetch of its N tags, not N; outside a ``kedro run`` every load
            fetches the run, so a run deleted meanwhile is seen), ``always`` for the run a
            ``kedro run`` keeps open.
        allow_deleted: Return a deleted run rather than refuse it.
        to_read: The run's artifacts are only read (a load, a check): a run of a sqlite
            store on this machine with local artifacts is read without MLflow
            (``_local_store``).
    """
    uri = _tracking.tracking_uri()
    scope = os.environ.get("KEDRO_MLFLOW_RUN_ID", "")
    if remember == "ended" and not scope:
        remember = "never"
    key = (uri, run_id, scope if remember == "ended" else "")
    if remember != "never" and key in _remembered:
        return _remembered[key]
    fix = (
        "Check the 'run_id' of this dataset and the tracking URI; nothing was saved."
        if context.startswith("Saving")
        else "Check the 'run_id' of this dataset and the tracking URI."
    )
    run = _local_store.read_run(uri, run_id) if to_read else None
    if run is None:
        require_reachable(context)
        run = _tracking.get_run(
            run_id, context, fix, error=DatasetError, allow_deleted=allow_deleted
        )
    elif not allow_deleted:
        _tracking.refuse_deleted(run, context, fix, error=DatasetError)
    if remember == "always" or (
        remember == "ended" and run.info.status in {"FINISHED", "FAILED", "KILLED"}
    ):
        _remembered[key] = run
    return run


def start_run(context: str) -> Run:
    """Start a run for a save that has none (a notebook, a script).

    Raises:
        TrackingUnreachableError: The server did not answer in time: the save then keeps
            its data locally, as when the server refuses connections.
    """
    _bounds.apply()
    failure: TrackingUnreachableError | None = None
    try:
        return mlflow.start_run()
    except mlflow.exceptions.MlflowException as exc:
        if not _bounds.looks_like_timeout(exc):
            raise
        # Raised below, outside this block: MLflow's message may repeat a URL with a password.
        failure = TrackingUnreachableError(
            f"{context}: the MLflow tracking server at '{tracking_uri()}' did not answer when "
            f"asked to start a run for this save (timed out after {_bounds.describe()}): "
            f"{_tracking.redact(exc.message)}. Check that the server is up and answering."
        )
    raise failure


def artifact_repository(run: Run) -> ArtifactRepository:
    """The repository holding ``run``'s artifacts (a local folder, a server, a bucket)."""
    local = _local_store.repository(run, _tracking.tracking_uri())
    if local is not None:
        return local
    _bounds.apply(s3=str(run.info.artifact_uri).startswith("s3"))
    return artifact_repository_registry.get_artifact_repository(
        run.info.artifact_uri, tracking_uri=_tracking.tracking_uri()
    )


def local_artifact_dir(repo: ArtifactRepository) -> Path | None:
    """The folder of a repository that lives on this machine's disk, else None."""
    artifact_dir = getattr(repo, "artifact_dir", None)
    return Path(artifact_dir) if artifact_dir else None


#: From this size on, a file is hashed on another thread while it is copied or uploaded.
CONCURRENT_DIGEST_BYTES = 1024 * 1024


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_into(local: Path, destination: Path) -> None:
    """Copy ``local`` to ``destination`` in the kernel, through a hidden file renamed at the end.

    ``shutil.copyfile`` uses ``sendfile``: no Python read/write loop (about 4x slower here).
    The rename means a reader never sees a half-written artifact, as in MLflow's own store.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=destination.parent, prefix=".artifact.uploading.")
    os.close(handle)
    try:
        shutil.copyfile(local, staging)
        shutil.copymode(local, staging)
        os.replace(staging, destination)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class LoggedFile:
    """One file logged by a save: where it went and what it was."""

    artifact: str
    sha256: str
    size: int


def log_files(repo: ArtifactRepository, files: Iterable[tuple[Path, str]]) -> list[LoggedFile]:
    """Log ``(local file, artifact name)`` pairs into ``repo``, each digested meanwhile."""
    files = list(files)
    local_dir = local_artifact_dir(repo)

    def log(local: Path, artifact: str) -> None:
        if local_dir is not None:
            _copy_into(local, local_dir / artifact)
        else:
            # Every name ends in the local file's own name, as MLflow names it.
            repo.log_artifact(str(local), artifact.rpartition("/")[0] or None)

    if all(local.stat().st_size < CONCURRENT_DIGEST_BYTES for local, _ in files):
        # Small files: a thread would cost more than the hashing it overlaps.
        logged = []
        for local, artifact in files:
            log(local, artifact)
            logged.append(LoggedFile(artifact, *file_digest(local)))
        return logged
    logged = []
    # The digest reads the just-written file from the page cache on another core
    # (hashing releases the GIL) while the copy or the upload runs.
    with ThreadPoolExecutor(1, thread_name_prefix="kedro-mlflow-digest") as pool:
        for local, artifact in files:
            digested = pool.submit(file_digest, local)
            log(local, artifact)
            logged.append(LoggedFile(artifact, *digested.result()))
    return logged


def _contents(repo: ArtifactRepository, parent: str | None, limit: int = 10) -> str:
    try:
        entries = [info.path for info in repo.list_artifacts(parent)]
    except Exception:
        return "(could not be listed)"
    if not entries:
        return "nothing" if not parent else f"nothing under '{parent}'"
    shown = ", ".join(f"'{path}'" for path in entries[:limit])
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return shown + more


def store_location(run: Run, repo: ArtifactRepository) -> str:
    """Where ``run``'s artifacts are stored: a local folder, else the artifact URI."""
    local_dir = local_artifact_dir(repo)
    return str(local_dir) if local_dir is not None else str(run.info.artifact_uri)


def missing_artifact(
    run: Run, repo: ArtifactRepository, artifact: str, context: str
) -> DatasetError:
    """The error for an artifact absent from ``run``'s store.

    When the run records a digest of it, it was logged and the store lost it; otherwise
    the message lists what its folder holds.
    """
    records = _records.records_under(run, artifact)
    if records:
        return DatasetError(
            f"{context}: artifact '{artifact}' was logged in MLflow run '{run.info.run_id}' "
            f"(the run holds a dataset record of '{records[0]}') but is missing from the "
            f"run's artifact store '{store_location(run, repo)}': the store lost it (deleted, "
            f"moved or cleaned up). Restore the store from a backup, or run the pipeline "
            f"again to log the dataset anew."
        )
    parent = artifact.rpartition("/")[0] or None
    return DatasetError(
        f"{context}: artifact '{artifact}' does not exist in MLflow run '{run.info.run_id}' "
        f"(tracking URI '{tracking_uri()}'). The run contains: "
        f"{_contents(repo, parent)}. "
        f"Check 'run_id' and 'artifact_path' of this dataset."
    )


def hostile_entry(run: Run, artifact: str, entry: str, why: str, context: str) -> DatasetError:
    """The error for a run whose artifacts hold an entry that could reach outside it."""
    return DatasetError(
        f"{context}: artifact '{artifact}' of MLflow run '{run.info.run_id}' holds the entry "
        f"'{entry}', which {why}. kedro-mlflow never logs such an entry: the run's artifacts "
        f"were written by another tool or tampered with, and loading them could read or "
        f"write outside the run. Nothing was loaded; remove the entry from the artifact store "
        f"or load another run."
    )


def list_files(
    run: Run, repo: ArtifactRepository, artifact: str, context: str
) -> dict[str, int | None] | None:
    """Map each file at or under ``artifact`` to its size; None when it is absent.

    Every listed name is checked before it is used: a name that is not clean (``//``,
    ``/./``, ``..``, a backslash, absolute) or not directly under the folder listed is
    refused, so a hostile listing can neither loop nor name a path outside the run.

    Raises:
        DatasetError: The listing holds such a name.
    """
    parent = artifact.rpartition("/")[0] or None
    for info in repo.list_artifacts(parent):
        if info.path.rstrip("/") != artifact:
            continue
        if not info.is_dir:
            return {artifact: info.file_size}
        files: dict[str, int | None] = {}
        pending = [artifact]
        seen = {artifact}
        while pending:
            folder = pending.pop()
            for child in repo.list_artifacts(folder):
                path = child.path.rstrip("/") if child.is_dir else child.path
                head, _, leaf = path.rpartition("/")
                if not is_clean(path) or head != folder or not leaf:
                    why = (
                        f"is not a clean name under '{folder}' (an empty, '.' or '..' "
                        f"segment, a backslash, or absolute)"
                    )
                    raise hostile_entry(run, artifact, child.path, why, context)
                if child.is_dir:
                    if path not in seen:
                        seen.add(path)
                        pending.append(path)
                else:
                    files[path] = child.file_size
        return files
    return None


def artifact_exists(run: Run, repo: ArtifactRepository, artifact: str, context: str) -> bool:
    local_dir = local_artifact_dir(repo)
    if local_dir is not None:
        return os.path.lexists(local_dir / artifact)
    return list_files(run, repo, artifact, context) is not None
