"""What a benchmark run found, and how RESULTS.md shows it. Nothing here measures.

Workloads record ``Target``s (the pass/fail goals) and sections made of blocks: a
``Comparison`` of cases, the ``Leftovers`` of loads, a ``ScaleTable``, or a paragraph (``str``).
``render`` turns a ``Report`` into the markdown of RESULTS.md.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness import ROOT, Case, median

MiB = 1 << 20
# pinned in the 2.0.3 venv
VERSIONS = ("kedro", "kedro-datasets", "mlflow", "pandas", "pyarrow", "scikit-learn")
VARIANT_LABEL = {
    "plain": "plain dataset",
    "plain+mlflow": "plain dataset + mlflow run (no artifact)",
    "ours": "ours",
    "upstream": "kedro-mlflow 2.0.3",
}


@dataclass(kw_only=True)
class Target:
    """A goal of the issue: ours' measured value against ``limit``.

    ``kind``: "ratio" (ours / base), "delta" (ours - base, in ``unit``) or "count" (ours
    itself). Times are in seconds whatever their ``unit`` ("ms" only formats them in ms).
    ``upstream`` is kedro-mlflow 2.0.3 measured the same way, against ``upstream_base`` when it
    has a baseline of its own (its venv without the plugin). An ``informative`` target explains
    a cost (e.g. mlflow's own) and is neither a miss nor profiled. ``case`` is what to profile
    when the target is missed.
    """

    name: str
    baseline: str
    ours: float | None
    base: float | None = None
    limit: float
    kind: Literal["ratio", "delta", "count"] = "ratio"
    unit: Literal["s", "ms", "MiB"] = "s"
    upstream: float | None = None
    upstream_base: float | None = None
    informative: bool = False
    case: Case | None = None

    def value(self, measured: float | None, base: float | None) -> float | None:
        """What is compared with ``limit``: a ratio, a difference or the count itself."""
        if measured is None or self.kind == "count":
            return measured
        if not base:
            return None
        return measured / base if self.kind == "ratio" else measured - base

    @property
    def passed(self) -> bool | None:
        value = self.value(self.ours, self.base)
        return None if value is None else value <= self.limit

    @property
    def missed(self) -> bool:
        return self.passed is False and not self.informative


@dataclass
class Comparison:
    """A table of cases: median wall, spread, peak RSS, ratio to the first case, a detail."""

    cases: list[Case]
    detail: Literal["phases", "hooks"] | None = None  # the worker's phases, the hooks' time


@dataclass
class Leftovers:
    """What each load left in its TMPDIR, ours' cache size, and re-downloads by repeated loads."""

    cases: list[Case]


@dataclass
class ScaleRow:
    key: str  # N datasets or R runs
    variant: str
    save: Case | None  # N saves in one process (worker ``scale_save``)
    load: Case | None  # k loads by run_id (worker ``scale_load``)
    kedro: Case | None  # a ``kedro run`` at this scale


@dataclass
class ScaleTable:
    key_header: str
    unit: str  # for the growth notes: "datasets", "runs in the store"
    rows: list[ScaleRow]


Block = Comparison | Leftovers | ScaleTable | str


@dataclass
class Report:
    targets: list[Target] = field(default_factory=list)
    sections: list[tuple[str, list[Block]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)  # title -> profile text


# -- formatting ----------------------------------------------------------------------------------


def fmt_s(value: float | None, sign: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:{sign}.3f} s" if abs(value) < 10 else f"{value:{sign}.2f} s"


def fmt_ms(value: float | None, sign: str = "") -> str:
    return "n/a" if value is None else f"{value * 1000:{sign}.2f} ms"


def fmt_mib(value: float | None, sign: str = "") -> str:
    return "n/a" if value is None else f"{value:{sign}.0f} MiB"


UNIT_FMT = {"s": fmt_s, "ms": fmt_ms, "MiB": fmt_mib}


def fmt_value(target: Target, value: float | None) -> str:
    """A ratio, a signed difference in the target's unit, or a count."""
    if value is None:
        return "n/a"
    if target.kind == "delta":
        return UNIT_FMT[target.unit](value, "+")
    return f"{value:.2f}x" if target.kind == "ratio" else f"{value:.0f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def error(case: Case, width: int = 300) -> str:
    return f"error: {(case.error or 'not run')[:width]}"


def phases(case: Case) -> str:
    """Medians of the worker's in-process phases, e.g. ``save 0.410``."""
    names = list(dict.fromkeys(n for s in case.samples for n in s.info.get("phases", {})))
    return ", ".join(
        f"{name} {case.median_of(lambda s, n=name: s.info.get('phases', {}).get(n)):.3f}"
        for name in names
    )


def hook_times(case: Case) -> tuple[float | None, float | None]:
    start = case.median_of(lambda s: s.extra.get("hooks", {}).get("start"))
    return start, case.median_of(lambda s: s.extra.get("hooks", {}).get("end"))


def hooks_detail(case: Case) -> str:
    """The hooks' start and end; ``tail`` (last node's return to the run's end) when known."""
    start, end = hook_times(case)
    if start is None:
        return ""
    tail = case.median_of(lambda s: s.extra.get("hooks", {}).get("tail"))
    text = f"hooks: start {start:.3f} s, end {end:.3f} s"
    return text if tail is None else f"{text}, last node to end {tail:.3f} s"


def cost(case: Case | None, key: str) -> float | None:
    """Median over runs of a per-operation cost the scale worker reports (``median``...)."""
    if case is None or not case.ok:
        return None
    return case.median_of(lambda s: s.info.get("costs", {}).get(key))


# -- blocks ----------------------------------------------------------------------------------------


def render_comparison(block: Comparison) -> str:
    base = block.cases[0]
    base_s = median(base)
    headers = ["variant", "median wall", "min-max", "peak RSS", f"vs {base.name}"]
    headers += ["in-process detail (medians, s)"] if block.detail else []
    rows = []
    for case in block.cases:
        if not case.ok:
            rows.append([case.name, error(case)] + [""] * (len(headers) - 2))
            continue
        wall = case.median() or 0.0
        row = [case.name, fmt_s(wall), case.spread(), fmt_mib(case.median("rss_mib"))]
        row.append(f"{wall / base_s:.2f}x" if base_s else "n/a")
        if block.detail == "phases":
            row.append(phases(case))
        elif block.detail == "hooks":
            row.append(hooks_detail(case))
        rows.append(row)
    return table(headers, rows)


def render_leftovers(block: Leftovers) -> str:
    rows = []
    for case in (c for c in block.cases if c.samples):
        left, left_bytes, cache = (
            max(s.extra.get(key, 0) for s in case.samples)
            for key in ("tmp_files", "tmp_bytes", "cache_bytes")
        )
        rows.append([case.name, str(left), f"{left_bytes / MiB:.0f} MiB", f"{cache / MiB:.0f} MiB"])
    rewrites = [
        s.extra["rewritten"] for c in block.cases for s in c.samples if "rewritten" in s.extra
    ]
    return (
        "Files left behind after each load (each process has its own empty `TMPDIR`; max over "
        "the runs), and the size of ours' cache (`KEDRO_MLFLOW_CACHE_DIR`):\n\n"
        + table(["variant", "temp files left", "temp bytes left", "cache size"], rows)
        + "\n\nOurs, repeated loads that rewrote the cached files (a new download): "
        + f"{sum(rewrites)} of {len(rewrites)}."
    )


def render_scale(block: ScaleTable) -> str:
    headers = [block.key_header, "variant", "process (N saves)", "per save, median", "first 10%"]
    headers += ["last 10%", "per load by run_id", "kedro run", "hooks start / end"]
    rows = []
    for row in block.rows:
        save, load, kedro = row.save, row.load, row.kedro
        cells = [row.key, VARIANT_LABEL[row.variant]]
        if save is not None and save.ok:
            cells.append(fmt_s(save.median()))
            cells += [
                fmt_ms(cost(save, k)) for k in ("median", "first_tenth_mean", "last_tenth_mean")
            ]
        else:
            cells += ["" if save is None else error(save, 150), "", "", ""]
        cells.append(
            "" if load is None else fmt_ms(cost(load, "median")) if load.ok else error(load, 150)
        )
        if kedro is not None and kedro.ok:
            cells += [fmt_s(kedro.median()), "{} / {}".format(*map(fmt_ms, hook_times(kedro)))]
        else:
            cells += ["" if kedro is None else error(kedro, 150), ""]
        rows.append(cells)
    return table(headers, rows)


def growth_notes(block: ScaleTable) -> list[str]:
    """How ours' per-save and per-load costs grow from the first scale point to the last."""
    notes = []
    ours = [row for row in block.rows if row.variant == "ours"]
    for name, pick in (("per-save", lambda r: r.save), ("per-load (by run_id)", lambda r: r.load)):
        points = [(r.key, cost(pick(r), "median")) for r in ours if pick(r) and pick(r).ok]
        points = [(key, round(value * 1000, 2)) for key, value in points if value is not None]
        if len(points) < 2:
            continue
        (first_key, first), (last_key, last) = points[0], points[-1]
        growth = f"{last / first:.2f}x" if first else "n/a"
        notes.append(
            f"Scale ({block.unit}): ours' {name} median goes from {first:.2f} ms at {first_key} "
            f"to {last:.2f} ms at {last_key} ({growth}); ~1x per operation means a linear total."
        )
    return notes


def render_block(block: Block) -> str:
    match block:
        case Comparison():
            return render_comparison(block)
        case Leftovers():
            return render_leftovers(block)
        case ScaleTable():
            return render_scale(block)
    return block


# -- RESULTS.md ----------------------------------------------------------------------------------


METHOD = """\
Every number is the wall time of a whole fresh process (`subprocess.run` timed with
`time.perf_counter` from outside), its peak RSS read by `/usr/bin/time -f %M`. The variants of
one comparison run alternately (A B C A B C ...) and their medians are compared; the machine is
shared, so only the side-by-side ratios count. Variants: **plain dataset** (Kedro dataset only, no
mlflow imported); **plain dataset + mlflow run** (the same plus what a tracked process pays anyway:
import mlflow and start/end a run, or fetch the run for a load; ratios against it are
informative); **ours** (`kedro_mlflow.io.artifacts.MlflowArtifactDataset` from `.venv`, saving
into an active run or loading by `run_id`); **kedro-mlflow 2.0.3** (same script in its own venv).
"In-process detail" is the worker's own phase timing, for diagnosis. Each process gets an empty
`TMPDIR`; what is left in it afterwards is counted as temp files left behind.
"With/without the plugin" (`kedro --help`, `kedro info`, `kedro run`) compares two venvs whose
site-packages are symlinks to the same venv's, one without the plugin's entries (see
`harness.make_shadow_venv`); the 2.0.3 pair is built the same way from its own venv. Hook costs
are measured by a project `hookwrapper` around each hook spec (start: after_context_created,
after_catalog_created, before_pipeline_run; end: after_pipeline_run).
`kedro mlflow versions` (workload 9) lists a dataset's versions in a `kedro new` project whose
sqlite store holds 1,000 runs (made by `benchmarks/versions_1000.py`'s functions), against
`python -c "import mlflow"` in the same venv: the target is the difference.
**This VM returns freed memory to its host** (virtio-balloon free page reporting): touching that
memory again is slow, so a process writing or allocating GiBs is fast or slow depending on what
ran before it. Each 1 GiB process is therefore preceded (untimed) by `os.sync()` and a pause of a
few seconds, so that all start alike (cold). In that state a user-space copy (`dd bs=1M`, what a
Python read/write loop does) costs several times a `cp` (which copies inside the kernel with
`copy_file_range`): both are shown as references.
"""


def machine(reps: str, upstream: str) -> list[str]:
    """The facts a reader needs to compare two RESULTS.md: when, where, which versions."""
    info = {}
    for name in ("cpuinfo", "meminfo"):
        for line in Path(f"/proc/{name}").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in (*VERSIONS, "numpy"))

    def git(*args: str) -> str:
        cmd = ["git", "-C", str(ROOT), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()

    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "src") else ""
    mem_gib = int(info.get("MemTotal", "0 kB").split()[0]) / 1024 / 1024
    return [
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} CPUs ({info.get('model name', 'unknown')}), "
        f"{mem_gib:.1f} GiB RAM, {platform.system()} {platform.release()}",
        f"- python {platform.python_version()}; {versions}",
        f"- ours: commit {git('log', '-1', '--format=%h %s')}{dirty}",
        f"- {upstream}",
        f"- repetitions (medians of): {reps}",
    ]


def render(report: Report, command: str, elapsed_s: float, facts: list[str]) -> str:
    """RESULTS.md: header, the targets table, the method, every section, notes, profiles."""
    lines = ["# kedro-mlflow benchmark results", ""]
    lines += [
        f"Generated by `{command}` (`benchmarks/run.py`) in {elapsed_s / 60:.1f} min. "
        "Do not edit: regenerate.",
        "",
        *facts,
        "",
        "## Targets",
        "",
    ]
    rows = []
    for t in report.targets:
        verdict = {True: "PASS", False: "**MISS**", None: "n/a"}[t.passed]
        if t.informative:
            verdict = {True: "pass", False: "miss", None: "n/a"}[t.passed] + " (info)"
        fmt = UNIT_FMT[t.unit] if t.kind != "count" else lambda _: ""
        upstream_base = t.base if t.upstream_base is None else t.upstream_base
        upstream = "n/a" if t.upstream is None else fmt_value(t, t.value(t.upstream, upstream_base))
        rows.append(
            [
                t.name,
                f"{t.baseline} {fmt(t.base)}".strip(),
                fmt(t.ours),
                fmt_value(t, t.value(t.ours, t.base)),
                ("" if t.kind == "count" else "<= ") + fmt_value(t, t.limit),
                verdict,
                upstream,
            ]
        )
    headers = ["target", "baseline (median)", "ours (median)", "ours", "limit", "result", "2.0.3"]
    lines += [table(headers, rows), "", "## Method", "", METHOD]
    for title, blocks in report.sections:
        lines += [f"## {title}", "", "\n\n".join(map(render_block, blocks)), ""]
    notes = report.notes + [
        note
        for _, blocks in report.sections
        for block in blocks
        if isinstance(block, ScaleTable)
        for note in growth_notes(block)
    ]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if report.evidence:
        lines += ["## Where the time goes (misses)", ""]
        for title, text in report.evidence.items():
            lines += [f"### {title}", "", "```", text, "```", ""]
    return "\n".join(lines)
