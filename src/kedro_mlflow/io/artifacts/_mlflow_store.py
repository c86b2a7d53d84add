"""What the dataset asks of MLflow: runs, uploads with digests, cached downloads.

mlflow is imported inside the functions: importing the dataset class (which
Kedro does on every CLI call that builds a catalog) must not pay for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

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


def get_run(run_id: str, what: str) -> Run:
    """Fetch a run, or raise a ``DatasetError`` naming it and the tracking URI."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    uri = tracking_uri()
    ensure_reachable(uri, what)
    try:
        return MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise DatasetError(
            f"{what}: MLflow run '{run_id}' was not found on tracking server '{uri}' "
            f"({exc.message}). Check the 'run_id' of this dataset and the tracking URI."
        ) from exc


def artifact_repository(run: Run) -> ArtifactRepository:
    from mlflow.store.artifact.artifact_repository_registry import (  # noqa: PLC0415
        get_artifact_repository,
    )

    return get_artifact_repository(run.info.artifact_uri, tracking_uri=tracking_uri())


def local_artifact_dir(repo: ArtifactRepository) -> Path | None:
    """The folder of a repository that lives on this machine's disk, else None."""
    artifact_dir = getattr(repo, "artifact_dir", None)
    return Path(artifact_dir) if artifact_dir else None


class _Digest:
    """sha256 of bytes fed to it, computed on another core for large files.

    Hashing a chunk releases the GIL, so the copy and the digest run side by side:
    a file is read once, and a save costs about a copy, not a copy plus a hash.
    """

    def __init__(self, threaded: bool) -> None:
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=8)  # at most 8 MiB in flight
            self._thread = threading.Thread(target=self._drain, daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        assert self._queue is not None  # noqa: S101 - started only with a queue
        while (chunk := self._queue.get()) is not None:
            self._sha256.update(chunk)

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._queue is None:
            self._sha256.update(chunk)
        else:
            self._queue.put(chunk)

    def close(self) -> str:
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        return self._sha256.hexdigest()


class _DigestingReader:
    """A binary reader that feeds what passes through it to a ``_Digest``."""

    def __init__(self, stream: BinaryIO, digest: _Digest) -> None:
        self._stream = stream
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._digest.feed(chunk)
        return chunk


def file_digest(path: Path) -> tuple[str, int]:
    digest = _Digest(threaded=False)
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.feed(chunk)
    return digest.close(), digest.size


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
    """Upload ``(local file, name)`` pairs under ``artifact_dir``; digest each once."""
    logged = []
    for local, name in files:
        artifact = f"{artifact_dir}/{name}" if artifact_dir else name
        parent, _, filename = artifact.rpartition("/")
        stream_upload = getattr(repo, "log_artifact_from_stream", None)
        if stream_upload is not None:
            # Local store: one read of the file feeds both the copy and the digest.
            digest = _Digest(threaded=local.stat().st_size > 4 * CHUNK)
            try:
                with local.open("rb") as stream:
                    stream_upload(_DigestingReader(stream, digest), filename, parent or None)
            finally:
                sha256 = digest.close()
            size = digest.size
        else:
            # Remote store: MLflow reads the file itself; digest it meanwhile, from the
            # page cache. Every name ends in the local file's own name, as MLflow names it.
            with ThreadPoolExecutor(1) as pool:
                digested = pool.submit(file_digest, local)
                repo.log_artifact(str(local), parent or None)
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
