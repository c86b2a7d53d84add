"""The download cache's size: what it holds, a cap evicting the least recently used, clearing.

An entry is the cache folder of one run's artifacts (``_cache``). A load holds its entry from
before the download until the wrapped dataset has read it: a shared ``flock`` on
``<entry>/.kedro_mlflow_lock`` (and, within the process, a count). Eviction and ``clear``
take that lock exclusively without waiting, so an entry being read, in this process or
another, is skipped, never removed; a removed entry is first renamed away, so a reader never
sees it half deleted.

The cap is ``KEDRO_MLFLOW_CACHE_MAX_BYTES`` (a number of bytes, or ``20GiB``, ``500MB``);
the Kedro hook sets it from ``tracking.cache_max_bytes`` in ``mlflow.yml``. It is enforced
after each download.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kedro.io import DatasetError

from kedro_mlflow._sizes import format_size, parse_size

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger(__name__)

MAX_BYTES_ENV = "KEDRO_MLFLOW_CACHE_MAX_BYTES"
_LOCK = ".kedro_mlflow_lock"
_USED = ".kedro_mlflow_used"
_RUN = ".kedro_mlflow_run"

_held: Counter[Path] = Counter()
_held_lock = threading.Lock()


def max_bytes() -> int | None:
    """The cap from ``KEDRO_MLFLOW_CACHE_MAX_BYTES``; None when unset (no cap).

    Raises:
        DatasetError: The variable is not a size.
    """
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise DatasetError(
            f"{MAX_BYTES_ENV}={text}: {exc}. Fix it, or set 'tracking.cache_max_bytes' "
            f"in mlflow.yml."
        ) from exc


def _lock_shared(entry: Path) -> int | None:
    """Open and share-lock the entry's lock file, re-trying if the entry was evicted meanwhile."""
    if sys.platform == "win32":
        entry.mkdir(parents=True, exist_ok=True)
        return None
    lock = entry / _LOCK
    while True:
        entry.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # evicted between mkdir and open
            continue
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            if os.fstat(handle).st_ino == os.stat(lock).st_ino:
                return handle
        except FileNotFoundError:
            pass
        os.close(handle)  # locked an entry renamed away for eviction: start again


@contextmanager
def hold(entry: Path, run_id: str) -> Iterator[None]:
    """Keep ``entry`` from eviction while the caller downloads and reads it; mark it used."""
    with _held_lock:
        _held[entry] += 1
    handle = _lock_shared(entry)
    try:
        run_file = entry / _RUN
        if not run_file.exists():
            run_file.write_text(run_id)
        (entry / _USED).touch()
        yield
    finally:
        if handle is not None:
            os.close(handle)
        with _held_lock:
            _held[entry] -= 1
            if not _held[entry]:
                del _held[entry]


@dataclass(frozen=True)
class CacheEntry:
    """One run's artifacts in the cache.

    Attributes:
        path: The entry's folder.
        run_id: The run whose artifacts it holds ('' if unknown).
        size: Bytes of every file in it.
        last_used: When a load last read it (seconds since the epoch).
    """

    path: Path
    run_id: str
    size: int
    last_used: float

    @property
    def age(self) -> str:
        """How long ago it was last read: ``3 min``, ``2 h``, ``5 d``."""
        seconds = max(0.0, time.time() - self.last_used)
        for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= length:
                return f"{int(seconds // length)} {unit}"
        return f"{int(seconds)} s"


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:  # removed meanwhile
                continue
    return total


def entries(root: Path) -> list[CacheEntry]:
    """The entries under ``root``, least recently used first."""
    found = []
    if not root.is_dir():
        return []
    for path in root.iterdir():
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            run_id = (path / _RUN).read_text().strip()
        except OSError:
            run_id = ""
        used = path / _USED
        try:
            last_used = (used if used.exists() else path).stat().st_mtime
        except OSError:
            continue
        found.append(CacheEntry(path, run_id, _size(path), last_used))
    return sorted(found, key=lambda entry: entry.last_used)


def remove(entry: Path) -> bool:
    """Remove ``entry`` unless it is being read; whether it was removed."""
    with _held_lock:
        if _held[entry]:
            return False
    graveyard = entry.with_name(f".{entry.name}.evicted-{uuid.uuid4().hex[:8]}")
    if sys.platform == "win32":
        try:
            os.rename(entry, graveyard)
        except OSError:
            return False
    else:
        try:
            handle = os.open(entry / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # already gone
            return False
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            os.rename(entry, graveyard)
        finally:
            os.close(handle)
    shutil.rmtree(graveyard, ignore_errors=True)
    return True


def enforce_cap(root: Path) -> None:
    """Evict least recently used entries until the cache fits its cap; entries read stay."""
    cap = max_bytes()
    if cap is None:
        return
    found = entries(root)
    total = sum(entry.size for entry in found)
    evicted: list[CacheEntry] = []
    for entry in found:
        if total <= cap:
            break
        if remove(entry.path):
            total -= entry.size
            evicted.append(entry)
    if evicted:
        logger.info(
            "Evicted %d download cache entr%s (%s, least recently used) to stay under %s=%s",
            len(evicted),
            "y" if len(evicted) == 1 else "ies",
            format_size(sum(entry.size for entry in evicted)),
            MAX_BYTES_ENV,
            format_size(cap),
        )
    if total > cap:
        logger.warning(
            "The download cache %s holds %s, over its cap of %s: the rest is being read.",
            root,
            format_size(total),
            format_size(cap),
        )


def clear(root: Path) -> tuple[list[CacheEntry], list[CacheEntry]]:
    """Remove every entry not being read, and leftovers of interrupted evictions.

    Returns:
        The entries removed, and those kept because they are being read.
    """
    removed: list[CacheEntry] = []
    kept: list[CacheEntry] = []
    for entry in entries(root):
        (removed if remove(entry.path) else kept).append(entry)
    if root.is_dir():
        for leftover in root.glob(".*.evicted-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    return removed, kept
