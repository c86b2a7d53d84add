"""The one normaliser of artifact names.

Every name the dataset builds (a file, a folder's file, a partition id under its folder)
and every name a run's listing holds goes through ``normalise`` before a path is built
from it. A clean name is relative, ``/``-separated, with no empty, ``.`` or ``..``
segment and no backslash: joined to a folder, it stays inside that folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PureWindowsPath


class UnsafeName(ValueError):
    """An artifact name that could reach outside its run (the message says why)."""


def normalise(name: str) -> str:
    """``name`` with empty and ``.`` segments dropped; refused if it could climb out.

    Examples:
        >>> normalise("parts//a/./b.csv")
        'parts/a/b.csv'
        >>> normalise("parts/../x.csv")
        Traceback (most recent call last):
        ...
        kedro_mlflow.io.artifacts._names.UnsafeName: 'parts/../x.csv' climbs out with '..'

    Raises:
        UnsafeName: The name is absolute, has a drive, a backslash or a ``..`` segment,
            or is empty.
    """
    if "\\" in name:
        raise UnsafeName(f"'{name}' holds a backslash")
    if name.startswith("/") or PureWindowsPath(name).drive:
        raise UnsafeName(f"'{name}' is absolute")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise UnsafeName(f"'{name}' climbs out with '..'")
    if not parts:
        raise UnsafeName(f"'{name}' names nothing")
    return "/".join(parts)


def is_clean(name: str) -> bool:
    """Whether ``name`` is already what ``normalise`` makes of it."""
    try:
        return normalise(name) == name
    except UnsafeName:
        return False


def base_name(path: Path) -> str:
    """The name a local file or folder gets in the run: its own, ``.`` and ``..`` resolved.

    ``PartitionedDataset(path=".")`` is named after the current folder, not ``""``.

    Raises:
        UnsafeName: ``path`` is the filesystem's root, which has no name.
    """
    name = Path(os.path.abspath(path)).name
    if not name:
        raise UnsafeName(f"'{path}' is the filesystem's root, which has no name")
    return normalise(name)
