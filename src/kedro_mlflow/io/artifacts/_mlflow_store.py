"""What the dataset asks of MLflow: runs, logging files with their digests, listing artifacts.

mlflow is imported at first use (``kedro_mlflow._lazy``): importing the dataset class,
which Kedro does on every CLI call that builds a catalog, must not pay for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
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

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
DIGEST_TAG_PREFIX = "kedro_mlflow.sha256/"
INPUT_TAG_PREFIX = "kedro_mlflow.input/"
_TAG_KEY_OK = re.compile(r"^[A-Za-z0-9_\-. /]+$")
#: The tracking URI as printed in messages (no password).
tracking_uri = _tracking.shown_tracking_uri


def require_reachable(context: str) -> None:
    """Fail in seconds, naming the dataset, when the tracking server does not answer."""
    _tracking.require_reachable(
        _tracking.tracking_uri(),
        context,
        "Start the server or fix 'server.mlflow_tracking_uri' in mlflow.yml "
        "(or MLFLOW_TRACKING_URI).",
    )


_remembered: dict[tuple[str, str], Run] = {}


def get_run(
    run_id: str,
    context: str,
    *,
    remember: Literal["never", "ended", "always"] = "never",
    allow_deleted: bool = True,
) -> Run:
    """Fetch a run, or raise a ``DatasetError`` naming it and the tracking URI.

    Args:
        run_id: The run to fetch.
        context: What the dataset was doing, the start of an error message.
        remember: Serve the run from this process's memory once fetched: ``ended`` for a
            run that had ended (loading N datasets of one run then costs one fetch of its N
            tags, not N), ``always`` for the run a ``kedro run`` keeps open.
        allow_deleted: Return a deleted run rather than refuse it.
    """
    uri = tracking_uri()
    if remember != "never" and (uri, run_id) in _remembered:
        return _remembered[uri, run_id]
    require_reachable(context)
    run = _tracking.get_run(
        run_id,
        context,
        "Check the 'run_id' of this dataset and the tracking URI; nothing was saved."
        if not allow_deleted
        else "Check the 'run_id' of this dataset and the tracking URI.",
        error=DatasetError,
        allow_deleted=allow_deleted,
    )
    if remember == "always" or (
        remember == "ended" and run.info.status in {"FINISHED", "FAILED", "KILLED"}
    ):
        _remembered[uri, run_id] = run
    return run


def artifact_repository(run: Run) -> ArtifactRepository:
    """The repository holding ``run``'s artifacts (a local folder, a server, a bucket)."""
    _bounds.apply(s3=str(run.info.artifact_uri).startswith("s3"))
    return artifact_repository_registry.get_artifact_repository(
        run.info.artifact_uri, tracking_uri=_tracking.tracking_uri()
    )


def local_artifact_dir(repo: ArtifactRepository) -> Path | None:
    """The folder of a repository that lives on this machine's disk, else None."""
    artifact_dir = getattr(repo, "artifact_dir", None)
    return Path(artifact_dir) if artifact_dir else None


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


def _tag_key(prefix: str, path: str) -> str:
    """``prefix + path`` where MLflow accepts it as a tag key, else a hash of the path."""
    key = prefix + path
    if len(key) <= 250 and _TAG_KEY_OK.match(key) and "//" not in key and ".." not in key:
        return key
    return prefix + "sha1-" + hashlib.sha1(path.encode()).hexdigest()  # noqa: S324


def digest_tag_key(artifact: str) -> str:
    """The run tag holding the sha256 and size of ``artifact``."""
    return _tag_key(DIGEST_TAG_PREFIX, artifact)


def record_input(consumer_run_id: str, source: Run, artifact: str) -> None:
    """Tag the run that loaded ``artifact`` of ``source`` with where it came from (lineage)."""
    source_id = source.info.run_id
    recorded = source.data.tags.get(digest_tag_key(artifact), "")
    mlflow.MlflowClient().set_tag(
        consumer_run_id,
        _tag_key(INPUT_TAG_PREFIX, f"{source_id}/{artifact}"),
        f"runs:/{source_id}/{artifact} {recorded}".strip(),
    )


def log_files(repo: ArtifactRepository, files: Iterable[tuple[Path, str]]) -> list[LoggedFile]:
    """Log ``(local file, artifact name)`` pairs into ``repo``, each digested meanwhile."""
    logged = []
    local_dir = local_artifact_dir(repo)
    # The digest reads the just-written file from the page cache on another core
    # (hashing releases the GIL) while the copy or the upload runs.
    with ThreadPoolExecutor(1, thread_name_prefix="kedro-mlflow-digest") as pool:
        for local, artifact in files:
            digested = pool.submit(file_digest, local)
            if local_dir is not None:
                _copy_into(local, local_dir / artifact)
            else:
                # Every name ends in the local file's own name, as MLflow names it.
                repo.log_artifact(str(local), artifact.rpartition("/")[0] or None)
            sha256, size = digested.result()
            logged.append(LoggedFile(artifact, sha256, size))
    return logged


def record_digests(run_id: str, logged: list[LoggedFile]) -> None:
    """Tag ``run_id`` with the sha256 and size of each file, 100 tags per call."""
    tags = [
        mlflow.entities.RunTag(digest_tag_key(item.artifact), f"{item.sha256} {item.size}")
        for item in logged
    ]
    client = mlflow.MlflowClient()
    for start in range(0, len(tags), 100):
        client.log_batch(run_id, tags=tags[start : start + 100], synchronous=True)


def recorded_digest(run: Run, artifact: str) -> tuple[str, int] | None:
    """The sha256 and size recorded when ``artifact`` was logged; None if none was."""
    value = run.data.tags.get(digest_tag_key(artifact))
    if not value:
        return None
    sha256, _, size = value.partition(" ")
    return sha256, int(size)


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


def missing_artifact(
    run: Run, repo: ArtifactRepository, artifact: str, context: str
) -> DatasetError:
    """The error for an artifact absent from ``run``, listing what its folder holds."""
    parent = artifact.rpartition("/")[0] or None
    return DatasetError(
        f"{context}: artifact '{artifact}' does not exist in MLflow run '{run.info.run_id}' "
        f"(tracking URI '{tracking_uri()}'). The run contains: {_contents(repo, parent)}. "
        f"Check 'run_id' and 'artifact_path' of this dataset."
    )


def list_files(repo: ArtifactRepository, artifact: str) -> dict[str, int | None] | None:
    """Map each file at or under ``artifact`` to its size; None when it is absent."""
    parent = artifact.rpartition("/")[0] or None
    for info in repo.list_artifacts(parent):
        if info.path.rstrip("/") != artifact:
            continue
        if not info.is_dir:
            return {artifact: info.file_size}
        files: dict[str, int | None] = {}
        pending = [artifact]
        while pending:
            for child in repo.list_artifacts(pending.pop()):
                if child.is_dir:
                    pending.append(child.path)
                else:
                    files[child.path] = child.file_size
        return files
    return None


def artifact_exists(repo: ArtifactRepository, artifact: str) -> bool:
    local_dir = local_artifact_dir(repo)
    if local_dir is not None:
        return (local_dir / artifact).exists()
    return list_files(repo, artifact) is not None
