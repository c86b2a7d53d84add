"""Where the time goes, for a target that misses: ``-X importtime`` or ``cProfile`` tops.

Both are the standard library's own tools, run on the exact command the benchmark timed.
"""

from __future__ import annotations

import io
import pstats
import re
import subprocess
from pathlib import Path

import harness as h

_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _shorten(text: str) -> str:
    text = re.sub(r"\S*/site-packages/", "", text)
    return text.replace(str(h.ROOT) + "/", "")


def import_time(case: h.Case, top: int = 15) -> str:
    """The modules with the largest cumulative import time in ``python -c CODE``."""
    python, code = case.cmd[0], case.cmd[2]
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        env=case.env,
        cwd=case.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((int(cumulative_us), int(self_us), len(indent) // 2, name))
    rows.sort(reverse=True)
    lines = ["cumulative_ms  self_ms  depth  module  (python -X importtime)"]
    lines += [f"{c / 1000:13.1f}  {s / 1000:7.1f}  {d:5d}  {n}" for c, s, d, n in rows[:top]]
    return "\n".join(lines)


def cprofile(case: h.Case, top: int = 25) -> str:
    """cProfile of the case's command (a script or ``-m module``), top by cumulative time."""
    out = h.WORK / "profile.out"
    h.remove(out)
    python, *rest = case.cmd
    env = dict(case.env)
    env["TMPDIR"] = str(case.tmpdir)
    case.tmpdir.mkdir(parents=True, exist_ok=True)
    if case.before:
        case.before()
    proc = subprocess.run(
        [python, "-m", "cProfile", "-o", str(out), *rest],
        env=env,
        cwd=case.cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=h.RUN_TIMEOUT_S,
    )
    sample = h.Sample(0.0, None)
    if case.after:
        try:
            case.after(sample)
        except (OSError, KeyError, TypeError, ValueError):
            pass
    if proc.returncode != 0 or not Path(out).exists():
        return f"(profiling failed: exit {proc.returncode}: {proc.stderr.strip()[-400:]})"
    buffer = io.StringIO()
    stats = pstats.Stats(str(out), stream=buffer)
    total = getattr(stats, "total_tt", 0.0)
    blocks = [
        (f"process total {total:.2f} s; the plugin's functions, by cumulative time", "cumulative",
         r"kedro_mlflow", 14),
        ("mlflow, by cumulative time", "cumulative", r"site-packages/mlflow/", 10),
        ("top by own time", "tottime", None, 12),
    ]  # fmt: skip
    parts = []
    for title, key, pattern, limit in blocks:
        buffer.seek(0)
        buffer.truncate()
        restrictions = (pattern, limit) if pattern else (limit,)
        stats.sort_stats(key).print_stats(*restrictions)
        lines = [
            _shorten(line.rstrip())
            for line in buffer.getvalue().splitlines()
            if line.strip()
            and "function calls" not in line
            and not line.lstrip().startswith(("Ordered by", "List reduced", "<pstats", "Random"))
            and not line.startswith(("Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "))
        ]
        parts.append(f"-- {title} --\n" + "\n".join(lines))
    h.remove(out)
    return "\n".join(parts)


def profile(case: h.Case) -> str:
    if len(case.cmd) >= 3 and case.cmd[1] == "-c":
        return import_time(case)
    return cprofile(case)
