"""What the dataset asks of MLflow: runs, uploads with digests, cached downloads.

mlflow is imported inside the functions: importing the dataset class (which
Kedro does on every CLI call that builds a catalog) must not pay for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow._net import unreachable

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
DIGEST_TAG_PREFIX = "kedro_mlflow.sha256/"
INPUT_TAG_PREFIX = "kedro_mlflow.input/"
_TAG_KEY_OK = re.compile(r"^[A-Za-z0-9_\-. /]+$")
_MARKER = ".kedro_mlflow_cache.json"


def tracking_uri() -> str:
    import mlflow  # noqa: PLC0415

    return str(mlflow.get_tracking_uri())


class TrackingUnreachableError(DatasetError):
    """The tracking server did not accept a connection."""


def ensure_reachable(uri: str, what: str) -> None:
    """Fail fast, in bounded time, when an HTTP tracking server does not answer.

    MLflow's own client retries a refused connection for minutes; a save
    should say at once that the server is down.
    """
    exc = unreachable(uri)
    if exc is not None:
        raise TrackingUnreachableError(
            f"{what}: the MLflow tracking server at '{uri}' is unreachable ({exc}). "
            f"Start the server or fix 'server.mlflow_tracking_uri' in mlflow.yml "
            f"(or MLFLOW_TRACKING_URI)."
        ) from exc


_ended_runs: dict[tuple[str, str], Run] = {}


def get_run(run_id: str, what: str, *, reuse_ended: bool = False) -> Run:
    """Fetch a run, or raise a ``DatasetError`` naming it and the tracking URI.

    Args:
        reuse_ended: Serve a run that had ended from this process's memory: loading N
            datasets of one run then costs one fetch of its N tags, not N.
    """
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    uri = tracking_uri()
    if reuse_ended and (uri, run_id) in _ended_runs:
        return _ended_runs[uri, run_id]
    ensure_reachable(uri, what)
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise DatasetError(
            f"{what}: MLflow run '{run_id}' was not found on tracking server '{uri}' "
            f"({exc.message}). Check the 'run_id' of this dataset and the tracking URI."
        ) from exc
    if run.info.status in {"FINISHED", "FAILED", "KILLED"}:
        _ended_runs[uri, run_id] = run
    return run


def artifact_repository(run: Run) -> ArtifactRepository:
    from mlflow.store.artifact.artifact_repository_registry import (  # noqa: PLC0415
        get_artifact_repository,
    )

    return get_artifact_repository(run.info.artifact_uri, tracking_uri=tracking_uri())


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
class Logged:
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
    return _tag_key(DIGEST_TAG_PREFIX, artifact)


def record_input(consumer_run_id: str, source: Run, artifact: str) -> None:
    """Tag the run that loaded ``artifact`` of ``source`` with where it came from (lineage)."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    source_id = source.info.run_id
    recorded = source.data.tags.get(digest_tag_key(artifact), "")
    MlflowClient().set_tag(
        consumer_run_id,
        _tag_key(INPUT_TAG_PREFIX, f"{source_id}/{artifact}"),
        f"runs:/{source_id}/{artifact} {recorded}".strip(),
    )


def upload(
    repo: ArtifactRepository, files: Iterable[tuple[Path, str]], artifact_dir: str | None
) -> list[Logged]:
    """Upload ``(local file, name)`` pairs under ``artifact_dir``, each digested meanwhile."""
    logged = []
    local_dir = local_artifact_dir(repo)
    # The digest reads the just-written file from the page cache on another core
    # (hashing releases the GIL) while the copy or the upload runs.
    with ThreadPoolExecutor(1, thread_name_prefix="kedro-mlflow-digest") as pool:
        for local, name in files:
            artifact = f"{artifact_dir}/{name}" if artifact_dir else name
            digested = pool.submit(file_digest, local)
            if local_dir is not None:
                _copy_into(local, local_dir / artifact)
            else:
                # Every name ends in the local file's own name, as MLflow names it.
                repo.log_artifact(str(local), artifact.rpartition("/")[0] or None)
            sha256, size = digested.result()
            logged.append(Logged(artifact, sha256, size))
    return logged


def record_digests(run_id: str, logged: list[Logged]) -> None:
    from mlflow.entities import RunTag  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    tags = [RunTag(digest_tag_key(item.artifact), f"{item.sha256} {item.size}") for item in logged]
    client = MlflowClient()
    for start in range(0, len(tags), 100):
        client.log_batch(run_id, tags=tags[start : start + 100], synchronous=True)


def _recorded(run: Run, artifact: str) -> tuple[str, int] | None:
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


def missing_artifact(run: Run, repo: ArtifactRepository, artifact: str, what: str) -> DatasetError:
    parent = artifact.rpartition("/")[0] or None
    return DatasetError(
        f"{what}: artifact '{artifact}' does not exist in MLflow run '{run.info.run_id}' "
        f"(tracking URI '{tracking_uri()}'). The run contains: {_contents(repo, parent)}. "
        f"Check 'run_id' and 'artifact_path' of this dataset."
    )


def _remote_files(repo: ArtifactRepository, artifact: str) -> dict[str, int | None] | None:
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
    return _remote_files(repo, artifact) is not None


def cache_root() -> Path:
    configured = os.environ.get("KEDRO_MLFLOW_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kedro-mlflow"


def _cache_dir(run: Run) -> Path:
    key = hashlib.sha256(run.info.artifact_uri.encode()).hexdigest()[:20]
    return cache_root() / key


def _marker(files: dict[str, tuple[str | None, int]], root: Path) -> dict[str, Any]:
    return {
        name: {"sha256": sha, "size": size, "mtime_ns": (root / name).stat().st_mtime_ns}
        for name, (sha, size) in files.items()
    }


def _cache_is_valid(entry: Path, artifact: str) -> bool:
    marker = entry / _MARKER
    try:
        recorded = json.loads(marker.read_text())
        for name, facts in recorded.items():
            stat = (entry / name).stat()
            if stat.st_size != facts["size"] or stat.st_mtime_ns != facts["mtime_ns"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return artifact in recorded or any(name.startswith(artifact + "/") for name in recorded)


def fetch(run: Run, repo: ArtifactRepository, artifact: str, what: str) -> Path:
    """Return a local path holding ``artifact`` of ``run``, ready to be read.

    A local store is read in place. Otherwise the artifact is downloaded once
    into the cache, verified (size, and digest where the save recorded one),
    and later loads read the cached copy without downloading again.
    """
    local_dir = local_artifact_dir(repo)
    if local_dir is not None:
        path = local_dir / artifact
        if not path.exists():
            raise missing_artifact(run, repo, artifact, what)
        return path

    entry = _cache_dir(run)
    if _cache_is_valid(entry, artifact):
        logger.debug("Loading '%s' of run %s from the cache %s", artifact, run.info.run_id, entry)
        return entry / artifact

    remote = _remote_files(repo, artifact)
    if remote is None:
        raise missing_artifact(run, repo, artifact, what)
    entry.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entry, prefix=".download."))
    try:
        logger.info("Downloading '%s' of MLflow run %s", artifact, run.info.run_id)
        repo.download_artifacts(artifact, dst_path=str(staging))
        checked: dict[str, tuple[str | None, int]] = {}
        for name, expected_size in remote.items():
            checked[name] = _verify(run, staging / name, name, expected_size, what)
        final = entry / artifact
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(staging / artifact, final)
        marker = entry / _MARKER
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            recorded = {}
        recorded = {k: v for k, v in recorded.items() if not k.startswith(artifact)}
        recorded.update(_marker(checked, entry))
        tmp_marker = staging / _MARKER
        tmp_marker.write_text(json.dumps(recorded))
        os.replace(tmp_marker, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry / artifact


def _verify(
    run: Run, local: Path, name: str, expected_size: int | None, what: str
) -> tuple[str | None, int]:
    size = local.stat().st_size
    recorded = _recorded(run, name)
    sha256 = None
    if recorded is not None:
        sha256, _ = file_digest(local)
        if (sha256, size) != recorded:
            raise DatasetError(
                f"{what}: the download of artifact '{name}' of MLflow run '{run.info.run_id}' "
                f"does not match what was logged (sha256 {sha256}, {size} bytes; logged "
                f"{recorded[0]}, {recorded[1]} bytes). The artifact store may have been "
                f"modified; load again or log the dataset anew."
            )
    elif expected_size is not None and size != expected_size:
        raise DatasetError(
            f"{what}: the download of artifact '{name}' of MLflow run '{run.info.run_id}' "
            f"has {size} bytes, the artifact store lists {expected_size}. Load again."
        )
    return sha256, size
