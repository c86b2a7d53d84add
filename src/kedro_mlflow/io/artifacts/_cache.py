"""Loads by ``run_id``: every artifact verified, whatever the store; remote ones cached.

A local store is read in place once checked: no entry on the way is a symbolic link, every
file is a regular file under a clean name, and its size and sha256 match what the save
recorded. A verification is remembered, keyed on the file's identity (device, inode, size,
mtime, ctime), so a repeated load of an unchanged file costs one ``stat``.

A remote artifact is downloaded, file by file from a checked listing, into a staging
folder, verified, then renamed into its own cache entry; a marker file holds what was
verified, so a later load re-reads nothing from the network. Each entry has a lock file:
processes and threads filling one entry take turns, and a complete entry is never
replaced or deleted under a reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _cache_limits, _records
from kedro_mlflow.io.artifacts._mlflow_store import (
    file_digest,
    hostile_entry,
    list_files,
    local_artifact_dir,
    missing_artifact,
)
from kedro_mlflow.io.artifacts._names import is_clean
from kedro_mlflow.io.artifacts._records import recorded_digest

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

try:  # POSIX; elsewhere an entry is filled without a lock (the rename stays atomic)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: A file modified this recently is verified but its verification is not remembered: a
#: rewrite within the filesystem's timestamp granularity could keep the same identity.
_RACY_S = 2.0


def cache_root() -> Path:
    """``KEDRO_MLFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/kedro-mlflow`` (``~/.cache``)."""
    configured = os.environ.get("KEDRO_MLFLOW_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kedro-mlflow"


def _run_key(run: Run) -> str:
    return hashlib.sha256(run.info.artifact_uri.encode()).hexdigest()[:20]


@contextlib.contextmanager
def fetched(run: Run, repo: ArtifactRepository, artifact: str, context: str) -> Iterator[Path]:
    """``fetch``, the cache entry kept from eviction until the ``with`` block has read it."""
    if local_artifact_dir(repo) is not None:
        yield fetch(run, repo, artifact, context)
        return
    with _cache_limits.hold(cache_root() / _run_key(run), run.info.run_id):
        yield fetch(run, repo, artifact, context)


def fetch(run: Run, repo: ArtifactRepository, artifact: str, context: str) -> Path:
    """Return a local path holding ``artifact`` of ``run``, verified, ready to be read.

    Raises:
        DatasetError: The artifact is missing, holds a link or an unclean name, or does
            not match the size and sha256 the save recorded (naming both digests).
    """
    local_dir = local_artifact_dir(repo)
    if local_dir is not None:
        return _verified_in_place(run, repo, local_dir, artifact, context)
    return _downloaded(run, repo, artifact, context)


# -- what a digest record says ------------------------------------------------------------

_warned: set[tuple[str, str]] = set()


def _warn_unverified(run: Run, artifact: str, names: list[str]) -> None:
    """Say once per process and artifact that files were loaded without a digest record."""
    key = (str(run.info.run_id), artifact)
    if not names or key in _warned:
        return
    _warned.add(key)
    shown = ", ".join(f"'{name}'" for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    logger.warning(
        "Artifact '%s' of MLflow run '%s' is loaded unverified: no sha256 was recorded for "
        "%s%s (logged by another tool than kedro-mlflow, or tags removed).",
        artifact,
        run.info.run_id,
        shown,
        more,
    )


def _refuse_unrecorded(run: Run, artifact: str, names: list[str], context: str) -> None:
    """Refuse the files of a folder the run verifies (it records digests for it) that lack one.

    A run logged by another tool records nothing: its files load with a warning. A folder
    kedro-mlflow logged records every file it holds, so a file without a record was added
    to the artifact store afterwards (planted), and is refused like a symbolic link.
    """
    if not names or names == [artifact] or not _records.records_under(run, artifact):
        return
    shown = ", ".join(f"'{name}'" for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    raise DatasetError(
        f"{context}: folder artifact '{artifact}' of MLflow run '{run.info.run_id}' holds "
        f"{shown}{more}, for which the run records no sha256, while it records one for the "
        f"files kedro-mlflow logged there: the file was added to the artifact store after "
        f"the save. Nothing was loaded. Delete it from the run's artifact store "
        f"'{run.info.artifact_uri}', or run the pipeline again to log the folder anew."
    )


def _mismatch(  # noqa: PLR0917 - one message, six facts
    run: Run, name: str, actual: tuple[str, int], recorded: tuple[str, int], context: str, how: str
) -> DatasetError:
    return DatasetError(
        f"{context}: {how} artifact '{name}' of MLflow run '{run.info.run_id}' does not match "
        f"what was logged: sha256 {actual[0]} ({actual[1]} bytes), logged sha256 {recorded[0]} "
        f"({recorded[1]} bytes). The artifact store was modified after the save; nothing was "
        f"loaded. Restore the file, or run the pipeline again to log the dataset anew."
    )


# -- local stores: checked and verified in place -------------------------------------------

_Identity = tuple[int, int, int, int, int]
_verified: dict[str, dict[str, list[Any]]] = {}
_verified_lock = threading.Lock()


def _identity(status: os.stat_result) -> _Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _verifications(run: Run) -> tuple[Path, dict[str, list[Any]]]:
    """The verifications remembered for ``run``'s files (in memory, and on disk)."""
    path = cache_root() / ".verified" / f"{_run_key(run)}.json"
    with _verified_lock:
        known = _verified.get(str(path))
        if known is None:
            try:
                known = dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                known = {}
            _verified[str(path)] = known
    return path, known


def _remember(path: Path, known: dict[str, list[Any]]) -> None:
    """Write the verifications atomically; losing a concurrent writer's only costs a re-hash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".verified.")
        with os.fdopen(handle, "w") as stream:
            json.dump(known, stream)
        os.replace(staging, path)
    except OSError as exc:  # a read-only cache: verify again next time
        logger.debug("Could not remember verifications in %s: %s", path, exc)


def _checked_tree(
    run: Run, repo: ArtifactRepository, root: Path, artifact: str, context: str
) -> dict[str, tuple[Path, os.stat_result]]:
    """The regular files of ``artifact`` under ``root``, no link followed on the way."""
    current = root
    status: os.stat_result | None = None
    for part in artifact.split("/"):
        current = current / part
        try:
            status = os.lstat(current)
        except FileNotFoundError:
            raise missing_artifact(run, repo, artifact, context) from None
        if stat.S_ISLNK(status.st_mode):
            raise hostile_entry(
                run, artifact, str(current), "is a symbolic link (it would be followed)", context
            )
    assert status is not None  # noqa: S101 - an artifact has at least one segment
    if stat.S_ISREG(status.st_mode):
        return {artifact: (current, status)}
    if not stat.S_ISDIR(status.st_mode):
        raise hostile_entry(run, artifact, str(current), "is not a regular file", context)
    files: dict[str, tuple[Path, os.stat_result]] = {}
    for folder, dirnames, filenames in os.walk(current):  # links to folders are not entered
        for entry in sorted(dirnames + filenames):
            path = Path(folder) / entry
            name = f"{artifact}/{path.relative_to(current).as_posix()}"
            entry_status = os.lstat(path)
            if stat.S_ISLNK(entry_status.st_mode):
                raise hostile_entry(
                    run, artifact, name, "is a symbolic link (it would be followed)", context
                )
            if not is_clean(name):
                raise hostile_entry(
                    run, artifact, name, "is not a clean name (a backslash in it)", context
                )
            if stat.S_ISREG(entry_status.st_mode):
                files[name] = (path, entry_status)
            elif not stat.S_ISDIR(entry_status.st_mode):
                raise hostile_entry(run, artifact, name, "is not a regular file", context)
    return files


def _verified_in_place(
    run: Run, repo: ArtifactRepository, root: Path, artifact: str, context: str
) -> Path:
    files = _checked_tree(run, repo, root, artifact, context)
    record_path, known = _verifications(run)
    unverified: list[str] = []
    changed = False
    for name, (path, status) in files.items():
        recorded = recorded_digest(run, name, context)
        if recorded is None:
            unverified.append(name)
            continue
        identity = [*_identity(status), recorded[0]]
        if known.get(name) == identity:
            continue
        actual = file_digest(path)
        if actual != recorded:
            raise _mismatch(run, name, actual, recorded, context, "the stored")
        if time.time() - status.st_mtime_ns / 1e9 > _RACY_S:
            known[name] = identity
            changed = True
    _refuse_unrecorded(run, artifact, unverified, context)
    if changed:
        _remember(record_path, known)
    _warn_unverified(run, artifact, unverified)
    return root / artifact


# -- remote stores: downloaded once into a locked entry -------------------------------------


@contextlib.contextmanager
def entry_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a lock file) across processes and threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _entry_is_valid(entry: Path, marker: Path, artifact: str) -> bool:
    try:
        recorded = json.loads(marker.read_text())
        if recorded.get("artifact") != artifact:
            return False
        for name, facts in recorded["files"].items():
            status = os.lstat(entry / name)
            if (
                not stat.S_ISREG(status.st_mode)
                or status.st_size != facts["size"]
                or status.st_mtime_ns != facts["mtime_ns"]
            ):
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _downloaded(run: Run, repo: ArtifactRepository, artifact: str, context: str) -> Path:
    run_dir = cache_root() / _run_key(run)
    key = hashlib.sha256(artifact.encode()).hexdigest()[:20]
    entry, marker = run_dir / key, run_dir / f"{key}.json"
    with entry_lock(run_dir / f"{key}.lock"):
        if _entry_is_valid(entry, marker, artifact):
            logger.debug(
                "Loading '%s' of run %s from the cache %s", artifact, run.info.run_id, entry
            )
            return entry / artifact
        remote = list_files(run, repo, artifact, context)
        if remote is None:
            raise missing_artifact(run, repo, artifact, context)
        staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=".download."))
        try:
            logger.info("Downloading '%s' of MLflow run %s", artifact, run.info.run_id)
            _download(repo, remote, staging)
            files: dict[str, Any] = {}
            unverified: list[str] = []
            for name, expected_size in remote.items():
                sha256 = _verify_download(run, staging / name, name, expected_size, context)
                if sha256 is None:
                    unverified.append(name)
                local = (staging / name).stat()
                files[name] = {"sha256": sha256, "size": local.st_size}
            _refuse_unrecorded(run, artifact, unverified, context)
            _install(staging, entry)
            for name, facts in files.items():
                facts["mtime_ns"] = (entry / name).stat().st_mtime_ns
            handle, tmp_marker = tempfile.mkstemp(dir=run_dir, prefix=".marker.")
            with os.fdopen(handle, "w") as stream:
                json.dump({"artifact": artifact, "files": files}, stream)
            os.replace(tmp_marker, marker)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _warn_unverified(run, artifact, unverified)
    _cache_limits.enforce_cap(cache_root())
    return entry / artifact


def _download(repo: ArtifactRepository, remote: dict[str, int | None], staging: Path) -> None:
    """Download each listed (clean) file to the same name under ``staging``."""

    def one(name: str) -> None:
        local = staging / name
        local.parent.mkdir(parents=True, exist_ok=True)
        repo._download_file(remote_file_path=name, local_path=str(local))

    with ThreadPoolExecutor(min(8, max(1, len(remote))), "kedro-mlflow-download") as pool:
        for done in [pool.submit(one, name) for name in remote]:
            done.result()


def _install(staging: Path, entry: Path) -> None:
    """Make ``staging`` the entry: an invalid old entry is moved aside, then deleted."""
    if os.path.lexists(entry):
        trash = entry.with_name(f".trash.{entry.name}.{os.getpid()}.{time.monotonic_ns()}")
        os.replace(entry, trash)
        shutil.rmtree(trash, ignore_errors=True)
    inner = Path(tempfile.mkdtemp(dir=entry.parent, prefix=".entry."))
    for child in list(staging.iterdir()):
        os.replace(child, inner / child.name)
    os.replace(inner, entry)


def _verify_download(
    run: Run, local: Path, name: str, expected_size: int | None, context: str
) -> str | None:
    size = local.stat().st_size
    recorded = recorded_digest(run, name, context)
    if recorded is not None:
        actual = file_digest(local)
        if actual != recorded:
            raise _mismatch(run, name, actual, recorded, context, "the download of")
        return actual[0]
    if expected_size is not None and size != expected_size:
        raise DatasetError(
            f"{context}: the download of artifact '{name}' of MLflow run '{run.info.run_id}' "
            f"from '{run.info.artifact_uri}' has {size} bytes, the artifact store lists "
            f"{expected_size}. Load again."
        )
    return None
