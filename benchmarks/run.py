"""The kedro-mlflow benchmark: ours side by side with plain Kedro datasets and kedro-mlflow 2.0.3.

    make bench          # full sizes, writes benchmarks/RESULTS.md (~25 min on 2 cores)
    make bench-smoke    # tiny sizes, writes benchmarks/.work/RESULTS-smoke.md (CI runs it)
    .venv/bin/python benchmarks/run.py --smoke --only 2,5   # some workloads (see --help)

The modules, in reading order:

- ``workloads.py``: what is measured, one function per numbered workload (``WORKLOADS``);
- ``session.py``: what the workloads share (stores, server, venvs, project) and their helpers
  ``compare`` (measure cases side by side, add their table) and ``target`` (a pass/fail goal);
- ``harness.py``: how: each command is a fresh process timed from outside; cases alternate;
- ``report.py``: ``Target`` and the rendering of RESULTS.md, apart from any measuring;
- ``worker.py`` (the measured dataset saves and loads), ``project.py`` (the generated Kedro
  project), ``evidence.py`` (profiles of the targets missed).

To add a workload, write a function in workloads.py and give it a number in ``WORKLOADS``;
workload 8 is the shortest example::

    def ten_nodes(s: Session) -> None:
        cases = with_floor(s, kedro_variants(s, "ten", "mlflow", s.local_uri, "bench-kedro"), "ten")
        c = s.compare("8. `kedro run` of 10 tiny nodes ...", cases, weight="mid", detail="hooks")
        s.target(c, name="kedro run, 10 tiny nodes", baseline=NO_PLUGIN, limit=1.50)

    8: ("kedro run of 10 tiny nodes", ten_nodes),  # in WORKLOADS

``s.compare`` measures the cases and adds their table to RESULTS.md; ``s.target`` compares
``c["ours"]`` with ``c["plain"]`` and 2.0.3's ``c["upstream"]`` (other keys: ``ours=``,
``base=``) and adds a row to the targets table: a new goal on cases already measured is one
more ``s.target``. Cases can run any command (``Case(name, cmd, env)``); a pipeline such as
``ten`` goes in project.py's ``REGISTRY``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers: free_port...
sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence
import harness as h
import report
from project import Sizes
from session import Config, Session
from workloads import WORKLOADS

MiB, GiB = 1 << 20, 1 << 30
FULL = Config(
    smoke=False,
    reps_light=15,
    reps_mid=4,
    reps_heavy=3,
    warmup=True,
    parquet_rows=1_000_000,
    big=GiB,
    project=Sizes(rows=20_000, big_size=256 * MiB, sleep_s=0.5, wide=(100, 1000)),
    scale_n=(100, 1000),
    scale_runs=(100, 10_000),
    scale_k=20,
    settle_s=4.0,
    versions_runs=1000,
)
SMOKE = Config(
    smoke=True,
    reps_light=1,
    reps_mid=1,
    reps_heavy=1,
    warmup=False,
    parquet_rows=1000,
    big=MiB,
    project=Sizes(rows=200, big_size=MiB, sleep_s=0.0, wide=(5, 20)),
    scale_n=(5,),
    scale_runs=(3,),
    scale_k=3,
    settle_s=0.0,
    versions_runs=10,
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    listing = "; ".join(f"{n}: {title}" for n, (title, _) in WORKLOADS.items())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--only", default="", help=f"comma-separated workloads: {listing}")
    parser.add_argument("--reps", type=int, help="override every repetition count")
    parser.add_argument("--upstream", action="store_true", help="measure 2.0.3 in smoke mode too")
    parser.add_argument("--no-upstream", action="store_true", help="skip kedro-mlflow 2.0.3")
    parser.add_argument("--keep", action="store_true", help="keep the big work files")
    parser.add_argument("--no-evidence", action="store_true", help="do not profile the misses")
    parser.add_argument("--output", type=Path, help="where to write the markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cfg = SMOKE if args.smoke else FULL
    if args.reps:
        reps = dict.fromkeys(("reps_light", "reps_mid", "reps_heavy"), args.reps)
        cfg = dataclasses.replace(cfg, **reps)
    only = {int(x) for x in args.only.split(",") if x} or set(WORKLOADS)
    free, needed = shutil.disk_usage(h.ROOT).free, 8 * cfg.big + 2 * GiB
    if free < needed:
        h.log(f"only {free / GiB:.1f} GiB free on the disk, {needed / GiB:.1f} GiB needed")
        return 2
    start = time.perf_counter()
    session = Session(cfg, upstream=not args.no_upstream and (not cfg.smoke or args.upstream))
    try:
        session.setup(need_server=bool(only & {4, 5}), need_runs_stores=7 in only)
        for number, (title, workload) in WORKLOADS.items():
            if number in only:
                h.log(f"workload {number}: {title}")
                workload(session)
        if not (cfg.smoke or args.no_evidence):
            session.report.evidence = evidence.collect(session.report.targets, session.profiled)
    finally:
        session.teardown(args.keep)
    elapsed = time.perf_counter() - start
    output = args.output or h.WORK / "RESULTS-smoke.md"
    if not (args.output or cfg.smoke):
        output = h.ROOT / "benchmarks" / "RESULTS.md"
    upstream = "kedro-mlflow 2.0.3 in benchmarks/.work/venv-upstream (same pins)"
    if session.upstream_py is None:
        upstream = f"kedro-mlflow 2.0.3 not measured ({session.upstream_error or 'disabled'})"
    reps = f"light {cfg.reps_light}, mid {cfg.reps_mid}, heavy {cfg.reps_heavy}; "
    reps += "one untimed warm-up round (light and mid only)" if cfg.warmup else "no warm-up"
    command = "make bench-smoke" if cfg.smoke else "make bench"
    text = report.render(session.report, command, elapsed, report.machine(reps, upstream))
    output.write_text(text)
    h.log(f"done in {elapsed / 60:.1f} min; wrote {output}")
    missed = [t.name for t in session.report.targets if t.missed]
    if missed:
        h.log("targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
