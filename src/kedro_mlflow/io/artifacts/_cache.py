"""The download cache: artifacts of remote stores, fetched once, verified, then reused.

A local store is read in place. A remote artifact is downloaded into a staging folder,
checked against the size the store lists and the digest the save recorded, then renamed
into the cache entry of its run; a marker file holds what was verified, so a later load
re-reads nothing from the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts._mlflow_store import (
    file_digest,
    list_files,
    local_artifact_dir,
    missing_artifact,
    recorded_digest,
)

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

_MARKER = ".kedro_mlflow_cache.json"


def cache_root() -> Path:
    """``KEDRO_MLFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/kedro-mlflow`` (``~/.cache``)."""
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


def fetch(run: Run, repo: ArtifactRepository, artifact: str, context: str) -> Path:
    """Return a local path holding ``artifact`` of ``run``, ready to be read.

    A local store is read in place. Otherwise the artifact is downloaded once
    into the cache, verified (size, and digest where the save recorded one),
    and later loads read the cached copy without downloading again.
    """
    local_dir = local_artifact_dir(repo)
    if local_dir is not None:
        path = local_dir / artifact
        if not path.exists():
            raise missing_artifact(run, repo, artifact, context)
        return path

    entry = _cache_dir(run)
    if _cache_is_valid(entry, artifact):
        logger.debug("Loading '%s' of run %s from the cache %s", artifact, run.info.run_id, entry)
        return entry / artifact

    remote = list_files(repo, artifact)
    if remote is None:
        raise missing_artifact(run, repo, artifact, context)
    entry.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entry, prefix=".download."))
    try:
        logger.info("Downloading '%s' of MLflow run %s", artifact, run.info.run_id)
        repo.download_artifacts(artifact, dst_path=str(staging))
        checked: dict[str, tuple[str | None, int]] = {}
        for name, expected_size in remote.items():
            checked[name] = _verify(run, staging / name, name, expected_size, context)
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
    run: Run, local: Path, name: str, expected_size: int | None, context: str
) -> tuple[str | None, int]:
    size = local.stat().st_size
    recorded = recorded_digest(run, name)
    sha256 = None
    if recorded is not None:
        sha256, _ = file_digest(local)
        if (sha256, size) != recorded:
            raise DatasetError(
                f"{context}: the download of artifact '{name}' of MLflow run '{run.info.run_id}' "
                f"does not match what was logged (sha256 {sha256}, {size} bytes; logged "
                f"{recorded[0]}, {recorded[1]} bytes). The artifact store may have been "
                f"modified; load again or log the dataset anew."
            )
    elif expected_size is not None and size != expected_size:
        raise DatasetError(
            f"{context}: the download of artifact '{name}' of MLflow run '{run.info.run_id}' "
            f"has {size} bytes, the artifact store lists {expected_size}. Load again."
        )
    return sha256, size
