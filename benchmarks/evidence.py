"""Where the time goes, for a target missed: ``-X importtime`` or ``cProfile`` tops.

Both are the standard library's own tools, run on the exact command the benchmark timed, so
that RESULTS.md shows the reason for a miss next to it.
"""

from __future__ import annotations

import io
import pstats
import re
import subprocess

import harness as h
from report import Target

IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def collect(targets: list[Target], cases: list[h.Case]) -> dict[str, str]:
    """Profiles of the cases of missed targets, and of ``cases`` (no target: per-op costs)."""
    texts = {}
    for target in targets:
        if target.missed and target.case is not None and target.case.ok:
            h.log(f"profiling the miss: {target.name}")
            texts[f"{target.name}: `{target.case.name}`"] = profile(target.case)
    for case in (c for c in cases if c.ok):
        h.log(f"profiling the scale point: {case.name}")
        texts[f"scale: `{case.name}` (no target; per-operation cost)"] = profile(case)
    return texts


def profile(case: h.Case) -> str:
    is_code = len(case.cmd) >= 3 and case.cmd[1] == "-c"
    return import_time(case) if is_code else cprofile(case)


def import_time(case: h.Case, top: int = 15) -> str:
    """The modules with the largest cumulative import time in ``python -c CODE``."""
    python, code = case.cmd[0], case.cmd[2]
    cmd = [python, "-X", "importtime", "-c", code]
    proc = subprocess.run(
        cmd, env=case.env, cwd=case.cwd, capture_output=True, text=True, check=False
    )
    rows = []
    for match in filter(None, map(IMPORTTIME.match, proc.stderr.splitlines())):
        self_us, cumulative_us, indent, name = match.groups()
        rows.append((int(cumulative_us), int(self_us), len(indent) // 2, name))
    lines = ["cumulative_ms  self_ms  depth  module  (python -X importtime)"]
    rows.sort(reverse=True)
    lines += [f"{c / 1000:13.1f}  {s / 1000:7.1f}  {d:5d}  {n}" for c, s, d, n in rows[:top]]
    return "\n".join(lines)


def cprofile(case: h.Case) -> str:
    """cProfile of the case's command (a script or ``-m module``), tops by cumulative time."""
    out = h.WORK / "profile.out"
    h.remove(out)
    case.tmpdir.mkdir(parents=True, exist_ok=True)
    if case.before:
        case.before()
    python, *rest = case.cmd
    proc = subprocess.run(
        [python, "-m", "cProfile", "-o", str(out), *rest],
        env=case.env | {"TMPDIR": str(case.tmpdir)},
        cwd=case.cwd,
        capture_output=True,
        text=True,
        timeout=h.RUN_TIMEOUT_S,
        check=False,
    )
    if case.after:  # its clean-up (the sample's timings are not used)
        try:
            case.after(h.Sample(0.0, None))
        except (OSError, KeyError, TypeError, ValueError):
            pass
    if proc.returncode != 0 or not out.exists():
        return f"(profiling failed: exit {proc.returncode}: {proc.stderr.strip()[-400:]})"
    buffer = io.StringIO()
    stats = pstats.Stats(str(out), stream=buffer)
    blocks = [
        (f"process total {getattr(stats, 'total_tt', 0.0):.2f} s; the plugin's functions, "
         "by cumulative time", "cumulative", (r"kedro_mlflow", 14)),
        ("mlflow, by cumulative time", "cumulative", (r"site-packages/mlflow/", 10)),
        ("top by own time", "tottime", (12,)),
    ]  # fmt: skip
    parts = []
    skipped = ("Ordered by", "List reduced", "<pstats", "Random")
    for title, key, restrictions in blocks:
        buffer.seek(0)
        buffer.truncate()
        stats.sort_stats(key).print_stats(*restrictions)
        lines = [
            re.sub(r"\S*/site-packages/", "", line.rstrip()).replace(f"{h.ROOT}/", "")
            for line in buffer.getvalue().splitlines()
            if line.strip() and "function calls" not in line
            and not line.lstrip().startswith(skipped)
            and not re.match(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ", line)
        ]  # fmt: skip
        parts.append(f"-- {title} --\n" + "\n".join(lines))
    h.remove(out)
    return "\n".join(parts)
