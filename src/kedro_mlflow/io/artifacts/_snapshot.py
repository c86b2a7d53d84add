"""A private snapshot of the files a save wrote, taken before ``save`` returns.

With background uploads, the upload (and the digest recorded with it) runs after the save
has returned, while the next node (or another ``kedro run``) may already rewrite the local
file. Both therefore read a copy taken when the save returns, in a private folder of the
cache: a later rewrite of the local file changes neither the bytes logged nor the digest.
A hard link would not do: Kedro's datasets rewrite a file in place (same inode).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_mlflow.io.artifacts._cache import cache_root
from kedro_mlflow.io.artifacts._local_files import copy_at

if TYPE_CHECKING:
    from kedro_mlflow.io.artifacts._local_files import LocalTarget

logger = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(root: Path) -> None:
    """Delete the snapshots of processes that died before their upload ended (SIGKILL)."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        pid, _, _ = entry.name.partition("-")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def new_folder() -> Path:
    """A new private folder for one save's snapshot."""
    root = cache_root() / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root)
    return Path(tempfile.mkdtemp(dir=root, prefix=f"{os.getpid()}-{uuid.uuid4().hex[:8]}-"))


def install(private: Path, local: Path) -> None:
    """Copy the private file into the dataset's own path, renamed into place at the end."""
    local.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.saving.")
    os.close(handle)
    try:
        shutil.copyfile(private, staging)
        os.replace(staging, local)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def take(files: list[tuple[Path, str]]) -> tuple[Path, list[tuple[Path, str]]]:
    """Copy ``files`` into a new private folder; return it and the copies, named alike.

    Each copy keeps its file's name (MLflow names an uploaded file after it).
    """
    folder = new_folder()
    copies = []
    try:
        for index, (local, artifact) in enumerate(files):
            copy = folder / str(index) / local.name
            copy.parent.mkdir()
            shutil.copyfile(local, copy)
            copies.append((copy, artifact))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    logger.debug("Snapshot of %d file(s) taken in %s", len(copies), folder)
    return folder, copies


def save_privately(
    config: dict[str, Any], target: LocalTarget, data: Any
) -> tuple[Path, Path] | None:
    """Save ``data`` into a private file, copy it into place at ``target``'s path.

    The bytes then logged are the ones this save wrote, even when another process writes the
    same local path at the same moment. Called only for a dataset that is not versioned and
    writes one plain file (``_local_files.writes_one_plain_file``).

    Returns:
        The private folder (to remove once logged) and the file in it; ``None`` (nothing
        left behind) if the wrapped dataset did not write one regular file there.
    """
    folder = new_folder()
    private = folder / "0" / target.path.name
    private.parent.mkdir()
    try:
        copy_at(config, target, private).save(data)
        if not private.is_file() or private.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            return None
        install(private, target.path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, private
