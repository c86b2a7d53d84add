"""Byte counts as people write and read them: ``1.2 GiB`` shown, ``20GiB`` or ``500MB`` read.

Shared by the dataset (the cache's cap), the configuration (``tracking.cache_max_bytes``)
and the commands; imports nothing.
"""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Read a byte count: a number of bytes, or a number with a unit (``500MB``, ``20GiB``).

    Raises:
        ValueError: Saying which forms are accepted.

    Examples:
        >>> parse_size("20GiB"), parse_size("500 MB"), parse_size(1024), parse_size("1.5k")
        (21474836480, 500000000, 1024, 1500)
    """
    match = _SIZE.match(str(text))
    unit = match[2].lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"'{text}' is not a size: give a number of bytes or a number with a unit "
            f"(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 20GiB or 500MB"
        )
    return int(float(match[1]) * _UNITS[unit])


def format_size(size: float) -> str:
    """Show a byte count with a binary unit, as ``ls -h`` does.

    Examples:
        >>> format_size(646), format_size(38298), format_size(1.2 * 1024**3)
        ('646 B', '37.4 KiB', '1.2 GiB')
    """
    if size < 1024:
        return f"{int(size)} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"
