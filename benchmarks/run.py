"""The kedro-mlflow benchmark (issue 4): ours against plain Kedro datasets and kedro-mlflow 2.0.3.

    make bench          # full sizes, writes benchmarks/RESULTS.md (< 25 min on 2 cores)
    make bench-smoke    # tiny sizes, < 60 s, writes benchmarks/.work/RESULTS-smoke.md

Options: ``--only 1,3`` (workloads), ``--reps N``, ``--no-upstream``, ``--upstream`` (smoke),
``--keep`` (keep the big files), ``--no-evidence`` (skip profiling the misses).

Every number is the wall time of a whole fresh process timed from outside (see harness.py);
variants of one comparison alternate and medians are compared. Work files live in
``benchmarks/.work`` (gitignored); the big ones are removed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence
import harness as h
import project as proj

MiB = 1 << 20
GiB = 1 << 30
MAIN_PY = h.venv_python(h.MAIN_VENV)
UPSTREAM_VENV = h.WORK / "venv-upstream"
UPSTREAM_PLUGIN = "kedro-mlflow==2.0.3"
PINNED = ("kedro", "kedro-datasets", "mlflow", "pandas", "pyarrow")

IMPORT_PLAIN = "from kedro_datasets.pandas import CSVDataset"
IMPORT_OURS = "from kedro_mlflow.io.artifacts import MlflowArtifactDataset\n" + IMPORT_PLAIN
IMPORT_HOOK = IMPORT_OURS + "\nimport kedro_mlflow.framework.hooks"


@dataclass(frozen=True)
class Config:
    smoke: bool
    reps_light: int  # imports, kedro --help/info
    reps_mid: int  # Parquet save, example kedro run
    reps_heavy: int  # 1 GiB workloads, scale
    warmup: bool
    parquet_rows: int
    big: int  # bytes of "the 1 GiB pickle"
    project: proj.Sizes
    scale_n: tuple[int, ...]  # datasets saved in one run
    scale_runs: tuple[int, ...]  # runs in the store
    scale_k: int  # loads / saves measured per scale point
    settle_s: float  # pause before each 1 GiB process (see settle())


FULL = Config(
    smoke=False,
    reps_light=15,
    reps_mid=4,
    reps_heavy=3,
    warmup=True,
    parquet_rows=1_000_000,
    big=GiB,
    project=proj.Sizes(rows=20_000, big_size=256 * MiB, sleep_s=0.5, wide=(100, 1000)),
    scale_n=(100, 1000),
    scale_runs=(100, 10_000),
    scale_k=20,
    settle_s=4.0,
)
SMOKE = Config(
    smoke=True,
    reps_light=1,
    reps_mid=1,
    reps_heavy=1,
    warmup=False,
    parquet_rows=1000,
    big=MiB,
    project=proj.Sizes(rows=200, big_size=MiB, sleep_s=0.0, wide=(5, 20)),
    scale_n=(5,),
    scale_runs=(3,),
    scale_k=3,
    settle_s=0.0,
)


# -- the report ------------------------------------------------------------------------------


@dataclass
class Target:
    """One target of the issue: a measured value of ours against a limit."""

    what: str
    baseline: str
    kind: str  # "ratio" (ours / baseline <= limit), "delta" (MiB over baseline), "zero"
    ours: float | None
    base: float | None
    limit: float
    upstream: float | None = None
    note: str = ""
    case: h.Case | None = None

    def value(self, measured: float | None) -> float | None:
        if self.kind == "ratio":
            return h.ratio(measured, self.base)
        if self.kind == "delta":
            return None if measured is None or self.base is None else measured - self.base
        return measured

    def text(self, measured: float | None) -> str:
        value = self.value(measured)
        if value is None:
            return "n/a"
        if self.kind == "ratio":
            return h.fmt_ratio(value)
        if self.kind == "delta":
            return f"{value:+.0f} MiB"
        return f"{value:.0f}"

    @property
    def passed(self) -> bool | None:
        value = self.value(self.ours)
        return None if value is None else value <= self.limit

    def limit_text(self) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:.2f}x"
        if self.kind == "delta":
            return f"<= +{self.limit:.0f} MiB"
        return "0"


@dataclass
class Report:
    targets: list[Target] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str, body: str) -> None:
        self.sections.append((title, body))

    def target(self, target: Target) -> None:
        self.targets.append(target)
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[target.passed]
        h.log(f"  target {target.what}: {target.text(target.ours)} ({verdict})")


def case_rows(cases: list[h.Case], base: h.Case | None, extra: Callable | None = None) -> str:
    """A table of the cases: medians, spread, peak RSS, ratio to ``base``, detail."""
    headers = ["variant", "median wall", "min-max", "peak RSS"]
    if base is not None:
        headers.append(f"vs {base.name}")
    if extra is not None:
        headers.append("in-process detail (medians, s)")
    base_s = base.median() if base is not None and base.ok else None
    rows = []
    for case in cases:
        if case.ok:
            row = [
                case.name,
                h.fmt_s(case.median()),
                case.spread(),
                h.fmt_mib(case.median("rss_mib")),
            ]
            if base is not None:
                row.append(h.fmt_ratio(h.ratio(case.median(), base_s)))
            if extra is not None:
                row.append(extra(case))
        else:
            row = [case.name, f"error: {(case.error or 'not run')[:300]}"]
            row += [""] * (len(headers) - 2)
        rows.append(row)
    return h.table(headers, rows)


def phases(case: h.Case) -> str:
    """Medians of the worker's in-process phases, e.g. ``save 0.41 s``."""
    names: list[str] = []
    for sample in case.samples:
        for name in sample.info.get("phases", {}):
            if name not in names:
                names.append(name)
    parts = []
    for name in names:
        value = case.median_of(lambda s, n=name: s.info.get("phases", {}).get(n))
        parts.append(f"{name} {value:.3f}")
    return ", ".join(parts)


def hooks_text(case: h.Case) -> str:
    start = case.median_of(lambda s: s.extra.get("hooks", {}).get("start"))
    end = case.median_of(lambda s: s.extra.get("hooks", {}).get("end"))
    if start is None:
        return ""
    return f"hooks: start {start:.3f} s, end {end:.3f} s"


# -- the session -----------------------------------------------------------------------------


class Session:
    """Stores, venvs, server and project shared by the workloads of one benchmark run."""

    def __init__(self, cfg: Config, upstream: bool) -> None:
        self.cfg = cfg
        self.report = Report()
        self.want_upstream = upstream
        self.upstream_py: Path | None = None
        self.upstream_error: str | None = None
        self.server: h.Server | None = None
        self.server_error: str | None = None
        self.local_dir = h.WORK / "local"
        self.local_uri = f"sqlite:///{self.local_dir}/mlflow.db"
        self.experiments: dict[str, str] = {}
        self.project: Path | None = None
        self.shadows: dict[str, Path] = {}
        self.cp_big: float | None = None  # workload 3's cp of the big file
        self.scale_cases: list[h.Case] = []  # ours' saves/loads at the largest N (profiled)

    # setup ----------------------------------------------------------------------------------

    def setup(self, need_server: bool, need_runs_stores: bool) -> None:
        h.WORK.mkdir(parents=True, exist_ok=True)
        for stale in ("local", "data", "cache", "tmp", "projects"):
            h.remove(h.WORK / stale)
        (h.WORK / "tmp").mkdir()
        if need_server:
            self.server = h.Server(h.WORK / "server")
            self.server.start()  # starts while the venvs and stores are prepared
        # One-time work (the 2.0.3 venv, stores with many runs) overlaps, before any timing.
        with ThreadPoolExecutor(2) as pool:
            upstream = pool.submit(self.setup_upstream) if self.want_upstream else None
            if need_runs_stores:
                for runs in self.cfg.scale_runs:
                    self.runs_store(runs)
            if upstream is not None:
                upstream.result()
        self.local_dir.mkdir(parents=True)
        names = ("bench", "bench-kedro", "bench-scale")
        artifacts = [(self.local_dir / f"artifacts-{n}").as_uri() for n in names]
        self.experiments |= self.create(self.local_uri, list(zip(names, artifacts, strict=True)))
        if self.server is not None:
            try:
                self.server.wait()
                made = self.create(self.server.uri, [("bench", None), ("bench-kedro-remote", None)])
                self.experiments |= {f"server:{k}": v for k, v in made.items()}
            except h.BenchError as exc:
                self.server_error = str(exc)[:500]
                h.log(f"server failed, remote workloads skipped: {self.server_error}")
                self.server.stop()
                self.server = None
        self.make_project()

    def setup_upstream(self) -> None:
        pins = h.pip_freeze_versions(h.MAIN_VENV, PINNED)
        self.upstream_error = h.ensure_upstream_venv(UPSTREAM_VENV, pins, UPSTREAM_PLUGIN)
        if self.upstream_error:
            h.log(f"upstream venv failed, continuing without it: {self.upstream_error}")
        else:
            self.upstream_py = h.venv_python(UPSTREAM_VENV)

    def create(self, uri: str, experiments: list, runs: int = 0) -> dict[str, str]:
        """Create experiments ``[(name, artifact_location), ...]`` (and ``runs`` runs)."""
        args = {"tracking_uri": uri, "experiments": experiments, "runs": runs}
        return {k: str(v) for k, v in self.call(MAIN_PY, "experiment", args)["ids"].items()}

    def call(self, python: Path, task: str, args: dict, **env: str) -> dict:
        """Run a worker task once, untimed (setup)."""
        case = worker(f"setup {task}", python, task, args, **env)
        return h.run_once(case).info

    def make_project(self) -> None:
        kedro_version = importlib.metadata.version("kedro")
        stores: dict[str, tuple[str, str, str | None]] = {
            "base": (self.local_uri, "bench-kedro", None),
            "mlflow": (self.local_uri, "bench-kedro", None),
        }
        if self.server is not None:
            stores["remote"] = (self.server.uri, "bench-kedro-remote", None)
        for runs in self.cfg.scale_runs:
            uri, _ = self.runs_store(runs, create=False)
            stores[f"runs_{runs}"] = (uri, "bench", None)
        root = h.WORK / "projects" / "benchproj"
        self.project = proj.generate(root, self.cfg.project, kedro_version, stores)

    def runs_store(self, runs: int, create: bool = True) -> tuple[str, str | None]:
        """A store holding ``runs`` finished runs, kept between sessions (built once)."""
        folder = h.WORK / "scale" / f"runs_{runs}"
        uri = f"sqlite:///{folder}/mlflow.db"
        if not create:
            return uri, None
        marker = folder / "ready.json"
        if marker.exists():
            return uri, json.loads(marker.read_text())["experiment_id"]
        h.remove(folder)
        folder.mkdir(parents=True)
        h.log(f"building a store with {runs} runs (once; kept in {folder})")
        artifacts = (folder / "artifacts").as_uri()
        experiment_id = self.create(uri, [("bench", artifacts)], runs)["bench"]
        marker.write_text(json.dumps({"experiment_id": experiment_id, "runs": runs}))
        return uri, experiment_id

    def shadow(self, key: str) -> Path | None:
        """Python of a venv shadow: ``main-with``/``main-without``/``upstream-with``/..."""
        if key not in self.shadows:
            source = h.MAIN_VENV if key.startswith("main") else UPSTREAM_VENV
            if key.startswith("upstream") and self.upstream_py is None:
                return None
            without = key.endswith("without")

            def exclude(name: str, without: bool = without) -> bool:
                return without and name.startswith(("kedro_mlflow", "__editable__.kedro_mlflow"))

            self.shadows[key] = h.make_shadow_venv(source, h.WORK / f"shadow-{key}", exclude)
        return h.venv_python(self.shadows[key])

    def artifact_dir(self, artifact_uri: str | None) -> Path | None:
        if not artifact_uri:
            return None
        local = h.file_uri_path(artifact_uri)
        if local is not None:
            return local.parent
        prefix = "mlflow-artifacts:/"
        if self.server is not None and artifact_uri.startswith(prefix):
            return (self.server.artifacts / artifact_uri[len(prefix) :]).parent
        return None

    def drop_run_artifacts(self, sample: h.Sample) -> None:
        h.remove(self.artifact_dir(sample.info.get("artifact_uri")))

    def variants(self, plain_mlflow: bool = True) -> list[tuple[str, Path]]:
        out = [("plain", MAIN_PY)]
        if plain_mlflow and not self.cfg.smoke:
            out.append(("plain+mlflow", MAIN_PY))
        out.append(("ours", MAIN_PY))
        if self.upstream_py is not None:
            out.append(("upstream", self.upstream_py))
        return out

    def teardown(self, keep: bool) -> None:
        if self.server is not None:
            self.server.stop()
        if not keep:
            for name in ("data", "local", "cache", "tmp", "server"):
                h.remove(h.WORK / name)
            if self.project is not None:
                h.remove(self.project / "data")
            for runs in self.cfg.scale_runs:
                for child in (h.WORK / "scale" / f"runs_{runs}" / "artifacts").glob("*/*"):
                    h.remove(child)


def worker(  # noqa: PLR0917
    name: str,
    python: Path,
    task: str,
    args: dict,
    before: Callable[[], None] | None = None,
    after: Callable[[h.Sample], None] | None = None,
    **env: str,
) -> h.Case:
    cmd = [str(python), str(h.WORKER), task, json.dumps(args)]
    return h.Case(name, cmd, h.clean_env(**env), before=before, after=after)


def sync() -> None:
    os.sync()


SETTLE_S = [0.0]


def settle() -> None:
    """Before a run that writes or allocates ~GiBs: flush, then let freed memory settle.

    This VM returns freed memory to its host (virtio-balloon free page reporting, ~2 s after
    the free); touching such memory again is slow. Without a pause, a run is fast or slow
    depending on how much the run before it freed; after it, every run starts alike.
    """
    os.sync()
    time.sleep(SETTLE_S[0])


VARIANT_LABEL = {
    "plain": "plain dataset",
    "plain+mlflow": "plain dataset + mlflow run (no artifact)",
    "ours": "ours",
    "upstream": "kedro-mlflow 2.0.3",
}


# -- workload 1: imports and the kedro CLI -------------------------------------------------


def w1_imports(s: Session) -> None:
    h.log("workload 1: imports, kedro --help, kedro info")
    env = h.clean_env()
    code_cases = [
        ("plain: CSVDataset", MAIN_PY, IMPORT_PLAIN),
        ("ours: MlflowArtifactDataset + CSVDataset", MAIN_PY, IMPORT_OURS),
        ("ours: + hook module", MAIN_PY, IMPORT_HOOK),
    ]
    if s.upstream_py:
        code_cases += [
            ("2.0.3: MlflowArtifactDataset + CSVDataset", s.upstream_py, IMPORT_OURS),
            ("2.0.3: + hook module", s.upstream_py, IMPORT_HOOK),
        ]
    cases = [h.Case(name, [str(py), "-c", code], env) for name, py, code in code_cases]
    h.measure(cases, s.cfg.reps_light, s.cfg.warmup, parallel=s.cfg.smoke)
    plain, ours, hook = cases[:3]
    up = cases[3] if len(cases) > 3 else None
    up_hook = cases[4] if len(cases) > 4 else None
    leaked = subprocess.run(
        [str(MAIN_PY), "-c", IMPORT_HOOK + "\nimport sys\nprint('mlflow' in sys.modules)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    body = case_rows(cases, plain)
    body += f"\n\n`mlflow` in `sys.modules` after importing ours (dataset + hook): {leaked}."
    s.report.section("1. Import the dataset class", body)
    s.report.target(
        Target(
            "import dataset class",
            "import CSVDataset",
            "ratio",
            ours.median(),
            plain.median(),
            1.10,
            up.median() if up and up.ok else None,
            case=ours,
        )
    )
    s.report.target(
        Target(
            "import dataset class + hook",
            "import CSVDataset",
            "ratio",
            hook.median(),
            plain.median(),
            1.10,
            up_hook.median() if up_hook and up_hook.ok else None,
            case=hook,
        )
    )
    for command in ("--help", "info"):
        w1_cli(s, command)


def w1_cli(s: Session, command: str) -> None:
    keys = ["main-without", "main-with", "upstream-without", "upstream-with"]
    labels = {
        "main-without": "without the plugin",
        "main-with": "ours installed",
        "upstream-without": "2.0.3 venv, without the plugin",
        "upstream-with": "2.0.3 installed",
    }
    cases = []
    for key in keys:
        python = s.shadow(key)
        if python is None:
            continue
        cmd = [str(python), "-m", "kedro", *command.split()]
        cases.append(h.Case(f"kedro {command}: {labels[key]}", cmd, h.clean_env(), cwd=s.project))
    h.measure(cases, s.cfg.reps_light, s.cfg.warmup, parallel=s.cfg.smoke)
    by = {c.name.split(": ", 1)[1]: c for c in cases}
    base, ours = by[labels["main-without"]], by[labels["main-with"]]
    up_base, up = by.get(labels["upstream-without"]), by.get(labels["upstream-with"])
    body = case_rows(cases, base)
    s.report.section(f"1. `kedro {command}` in a Kedro project, with vs without the plugin", body)
    s.report.target(
        Target(
            f"kedro {command}",
            "the same without the plugin",
            "ratio",
            ours.median(),
            base.median(),
            1.05,
            h.ratio(up.median(), up_base.median()) * base.median()
            if up and up_base and up.ok and up_base.ok and base.ok
            else None,
            note="2.0.3 ratio against its own venv without the plugin",
            case=ours,
        )
    )


# -- workloads 2-4: saves ---------------------------------------------------------------------


def save_cases(  # noqa: PLR0917
    s: Session, folder: str, kind: str, size: int, uri: str, experiment: str, heavy: bool
) -> list[h.Case]:
    cases = []
    suffix = "parquet" if kind == "parquet" else "pkl"
    for variant, python in s.variants():
        target = h.WORK / "data" / folder / h.slug(variant) / f"data.{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        args = {
            "variant": variant,
            "kind": kind,
            "size": size,
            "filepath": str(target),
            "tracking_uri": uri,
            "experiment_id": s.experiments[experiment],
        }

        def after(sample: h.Sample, target: Path = target) -> None:
            s.drop_run_artifacts(sample)
            if heavy:
                h.remove(target)

        cases.append(
            worker(VARIANT_LABEL[variant], python, "save", args, settle if heavy else None, after)
        )
    return cases


def cp_case(source: Path, heavy: bool = True) -> h.Case:
    dest = source.with_name("cp-" + source.name)
    return h.Case(
        "cp of the written file (disk reference)",
        ["cp", str(source), str(dest)],
        h.clean_env(),
        before=settle if heavy else sync,
        after=lambda _sample: h.remove(dest),
    )


def dd_case(source: Path) -> h.Case:
    """A user-space copy (read/write 1 MiB at a time), what Python's copy loops do."""
    dest = source.with_name("dd-" + source.name)
    return h.Case(
        "dd bs=1M of the written file (user-space copy reference)",
        ["dd", f"if={source}", f"of={dest}", "bs=1M", "status=none"],
        h.clean_env(),
        before=settle,
        after=lambda _sample: h.remove(dest),
    )


def reference_file(s: Session, kind: str, size: int) -> Path:
    """A file as the plain dataset writes it: the source of ``cp`` and of plain loads."""
    suffix = "parquet" if kind == "parquet" else "pkl"
    path = h.WORK / "data" / "ref" / f"data-{size}.{suffix}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        s.call(
            MAIN_PY,
            "save",
            {"variant": "plain", "kind": kind, "size": size, "filepath": str(path)},
        )
    return path


def by_variant(cases: list[h.Case]) -> dict[str, h.Case]:
    names = {v: k for k, v in VARIANT_LABEL.items()}
    return {names.get(c.name, c.name): c for c in cases}


def save_targets(s: Session, label: str, cases: dict[str, h.Case], cp: h.Case) -> None:
    plain, plain_ml, ours = cases["plain"], cases.get("plain+mlflow"), cases["ours"]
    up = cases.get("upstream")
    cp_s = cp.median() or 0.0

    def plus_cp(case: h.Case | None) -> float | None:
        return None if case is None or not case.ok else case.median() + cp_s

    up_s = up.median() if up and up.ok else None
    s.report.target(
        Target(
            f"save {label}, local store",
            "plain save + cp",
            "ratio",
            ours.median(),
            plus_cp(plain),
            1.10,
            up_s,
            case=ours,
        )
    )
    if plain_ml is None:
        return
    s.report.target(
        Target(
            f"save {label}, local store, mlflow's fixed cost excluded",
            "plain save + mlflow run + cp",
            "ratio",
            ours.median(),
            plus_cp(plain_ml),
            1.10,
            up_s,
            note="informative: what logging the artifact adds to a tracked process",
        )
    )


def w2_parquet(s: Session) -> None:
    rows = s.cfg.parquet_rows
    h.log(f"workload 2: save {rows}x10 Parquet, local store")
    cases = save_cases(s, "parquet", "parquet", rows, s.local_uri, "bench", heavy=False)
    cp = cp_case(reference_file(s, "parquet", rows), heavy=False)
    h.measure([*cases, cp], s.cfg.reps_mid, s.cfg.warmup, parallel=s.cfg.smoke)
    s.report.section(
        f"2. Save a {rows:,}x10 DataFrame with pandas.ParquetDataset (local sqlite store)",
        case_rows([*cases, cp], cases[0], phases),
    )
    save_targets(s, f"{rows:,}x10 Parquet", by_variant(cases), cp)


def w3_big_local(s: Session) -> None:
    size = s.cfg.big
    h.log(f"workload 3: save a {size / MiB:.0f} MiB pickle, local store")
    cases = save_cases(s, "big-local", "pickle", size, s.local_uri, "bench", heavy=True)
    ref = reference_file(s, "pickle", size)
    cp, dd = cp_case(ref), dd_case(ref)
    h.measure([*cases, cp, dd], s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
    label = f"{size / MiB:.0f} MiB pickle"
    s.report.section(
        f"3. Save a {label} with pickle.PickleDataset (local sqlite store)",
        case_rows([*cases, cp, dd], cases[0], phases),
    )
    named = by_variant(cases)
    save_targets(s, label, named, cp)
    s.cp_big = cp.median()
    up = named.get("upstream")
    for key, baseline in (("plain", "plain save"), ("plain+mlflow", "plain save + mlflow run")):
        if key not in named:
            continue
        s.report.target(
            Target(
                f"peak RSS, save {label}",
                baseline,
                "delta",
                named["ours"].median("rss_mib"),
                named[key].median("rss_mib"),
                32,
                up.median("rss_mib") if up and up.ok else None,
                note="" if key == "plain" else "informative: mlflow's own import excluded",
            )
        )


def w4_big_remote(s: Session) -> None:
    if s.server is None:
        s.report.section("4. Save to an mlflow server", f"skipped: {s.server_error}")
        return
    size = s.cfg.big
    h.log(f"workload 4: save a {size / MiB:.0f} MiB pickle to an mlflow server on loopback")
    cases = save_cases(s, "big-remote", "pickle", size, s.server.uri, "server:bench", heavy=True)
    h.measure(cases, s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
    s.report.section(
        f"4. Save a {size / MiB:.0f} MiB pickle to `mlflow server` on loopback "
        "(--serve-artifacts, --workers 1)",
        case_rows(cases, cases[0], phases)
        + "\n\nNo target of its own: the issue's remote target is the `kedro run` below.",
    )
    if not s.cfg.smoke:  # smoke: kedro runs are exercised by workloads 6 and 7
        w4_kedro_big(s)


def kedro_case(  # noqa: PLR0917
    s: Session, name: str, python: Path | None, env_name: str, pipeline: str, uri: str, exp: str
) -> h.Case | None:
    if python is None:
        return None
    cmd = [str(python), "-m", "kedro", "run", "--env", env_name, "--pipeline", pipeline]
    hooks = h.WORK / "tmp" / f"hooks-{h.slug(name)}.json"
    env = h.clean_env(
        MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=exp, BENCH_HOOK_TIMES=str(hooks)
    )
    return h.Case(name, cmd, env, cwd=s.project)


def kedro_variants(  # noqa: PLR0917
    s: Session, pipeline: str, env_name: str, uri: str, exp: str, installed: bool = False
) -> list[h.Case]:
    cases = [
        kedro_case(
            s, "plain datasets, no plugin", s.shadow("main-without"), "local", pipeline, uri, exp
        ),
    ]
    if installed:
        cases.append(
            kedro_case(s, "plain datasets, ours installed", MAIN_PY, "local", pipeline, uri, exp)
        )
    cases.append(kedro_case(s, "ours", MAIN_PY, env_name, pipeline, uri, exp))
    cases.append(kedro_case(s, "kedro-mlflow 2.0.3", s.upstream_py, env_name, pipeline, uri, exp))
    return [c for c in cases if c is not None]


def w4_kedro_big(s: Session) -> None:
    if s.server is None or s.project is None:
        return
    exp_id = s.experiments["server:bench-kedro-remote"]
    artifacts = s.server.artifacts / exp_id
    project_data = s.project / "data" / "big"

    def clean(_sample: h.Sample) -> None:
        for child in artifacts.glob("*"):
            h.remove(child)
        h.remove(project_data)

    cases = kedro_variants(s, "big", "remote", s.server.uri, "bench-kedro-remote")
    for case in cases:
        case.before, case.after = settle, clean
    h.measure(cases, s.cfg.reps_heavy, False)
    size = s.cfg.project.big_size
    s.report.section(
        f"4. `kedro run` of 4 nodes each saving a {size / MiB:.0f} MiB pickle, each read back by "
        f"a node computing {s.cfg.project.sleep_s} s; tracking on the server",
        case_rows(cases, cases[0], hooks_text),
    )
    base, ours = cases[0], cases[1]
    up = cases[2] if len(cases) > 2 else None
    s.report.target(
        Target(
            "kedro run with large artifacts, remote server",
            "the same run without the plugin",
            "ratio",
            ours.median(),
            base.median(),
            1.20,
            up.median() if up and up.ok else None,
            case=ours,
        )
    )


# -- workload 5: loads from a run -------------------------------------------------------------


def cache_state(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def load_cases(s: Session, where: str, uri: str, run_id: str, ref: Path) -> list[h.Case]:
    base_args = {"kind": "pickle", "tracking_uri": uri, "run_id": run_id}
    cases = [
        worker(
            "plain load", MAIN_PY, "load", {**base_args, "variant": "plain", "filepath": str(ref)}
        ),
    ]
    if not s.cfg.smoke and where == "local":
        cases.append(
            worker(
                "plain load + mlflow get_run",
                MAIN_PY,
                "load",
                {**base_args, "variant": "plain+mlflow", "filepath": str(ref)},
            )
        )
    # One cache: "first" empties it before each of its runs; "repeated" runs right after it,
    # in a new process, and must find the cache warm (and leave its files untouched).
    cache = h.WORK / "cache" / where
    target = h.WORK / "data" / f"load-{where}" / "ours" / "data.pkl"
    args = {**base_args, "variant": "ours", "filepath": str(target)}
    after_first: dict[str, int] = {}

    def before_first() -> None:
        h.remove(cache)
        settle()

    def after_first_load(sample: h.Sample) -> None:
        after_first.clear()
        after_first.update(cache_state(cache))
        sample.extra["cache_bytes"] = h.tree_size(cache)[1]

    def after_repeated(sample: h.Sample) -> None:
        sample.extra["cache_bytes"] = h.tree_size(cache)[1]
        sample.extra["rewritten"] = bool(after_first) and cache_state(cache) != after_first

    env = {"KEDRO_MLFLOW_CACHE_DIR": str(cache)}
    cases.append(
        worker("ours, first load", MAIN_PY, "load", args, before_first, after_first_load, **env)
    )
    cases.append(
        worker("ours, repeated load", MAIN_PY, "load", args, settle, after_repeated, **env)
    )
    if s.upstream_py is not None:
        target = h.WORK / "data" / f"load-{where}" / "upstream" / "data.pkl"
        target.parent.mkdir(parents=True, exist_ok=True)
        args = {**base_args, "variant": "upstream", "filepath": str(target)}
        cases.append(worker("kedro-mlflow 2.0.3 load", s.upstream_py, "load", args, settle))
    return cases


def w5_source(s: Session, where: str, uri: str, experiment: str) -> str:
    """The past run to load from: ours saves the pickle into a new run (untimed)."""
    source = h.WORK / "data" / f"source-{where}" / "data.pkl"
    source.parent.mkdir(parents=True, exist_ok=True)
    args = {
        "variant": "ours",
        "kind": "pickle",
        "size": s.cfg.big,
        "filepath": str(source),
        "tracking_uri": uri,
        "experiment_id": s.experiments[experiment],
    }
    info = s.call(MAIN_PY, "save", args)
    h.remove(source)
    return str(info["run_id"])


def w5_loads(s: Session) -> None:
    label = f"{s.cfg.big / MiB:.0f} MiB pickle"
    h.log(f"workload 5: load the {label} from a past run")
    ref = reference_file(s, "pickle", s.cfg.big)
    stores = [("local", s.local_uri, "bench")]
    if s.server is not None:
        stores.append(("http", s.server.uri, "server:bench"))
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(w5_source, s, *store) for store in stores]
    local_refs: list[h.Case] | None = None
    for (where, uri, _), future in zip(stores, futures, strict=True):
        try:
            run_id = future.result()
        except h.BenchError as exc:
            s.report.section(f"5. Load from a run ({where})", f"setup failed: {exc}")
            continue
        cases = load_cases(s, where, uri, run_id, ref)
        for case in cases:
            case.before = case.before or settle
        refs = [cp_case(ref), dd_case(ref)] if where == "local" or local_refs is None else []
        h.measure([*cases, *refs], s.cfg.reps_heavy, False)
        local_refs = local_refs or refs
        w5_report(s, where, label, cases, refs, local_refs or refs)


def w5_report(  # noqa: PLR0917
    s: Session, where: str, label: str, cases: list[h.Case], refs: list[h.Case], ref_cp: list
) -> None:
    """``refs``: cp/dd measured alongside (local store); ``ref_cp``: the cp to compare with."""
    cp = ref_cp[0]
    named = {c.name: c for c in cases}
    plain, first, repeated = (
        named["plain load"],
        named["ours, first load"],
        named["ours, repeated load"],
    )
    up = named.get("kedro-mlflow 2.0.3 load")
    store = (
        "local sqlite store, file artifacts" if where == "local" else "`mlflow server` over HTTP"
    )
    rows = []
    for case in cases:
        if not case.samples:
            continue
        left = max(smp.extra.get("tmp_files", 0) for smp in case.samples)
        left_bytes = max(smp.extra.get("tmp_bytes", 0) for smp in case.samples)
        cache_bytes = max(smp.extra.get("cache_bytes", 0) for smp in case.samples)
        rows.append(
            [case.name, str(left), f"{left_bytes / MiB:.0f} MiB", f"{cache_bytes / MiB:.0f} MiB"]
        )
    rewritten = sum(1 for smp in repeated.samples if smp.extra.get("rewritten"))
    redownloads = (
        f"\n\nOurs, repeated loads that rewrote the cached files (a new download): "
        f"{rewritten} of {len(repeated.samples)}."
    )
    body = (
        case_rows([*cases, *refs], plain, phases)
        + ("" if refs else "\n\nThe `cp` reference is the local store's, measured above.")
        + "\n\nFiles left behind after each load (each process has its own empty `TMPDIR`; "
        + "max over the runs), and the size of ours' cache (`KEDRO_MLFLOW_CACHE_DIR`):\n\n"
        + h.table(["variant", "temp files left", "temp bytes left", "cache size"], rows)
        + redownloads
    )
    s.report.section(f"5. Load the {label} from a past run via `run_id` ({store})", body)
    cp_s = cp.median() or 0.0
    base_cp = plain.median() + cp_s if plain.ok else None
    up_s = up.median() if up and up.ok else None
    if where == "local":
        s.report.target(
            Target(
                f"first load {label}, local store",
                "plain load + cp",
                "ratio",
                first.median(),
                base_cp,
                1.20,
                up_s,
                case=first,
            )
        )
        if s.cp_big is not None and plain.ok:
            s.report.target(
                Target(
                    f"first load {label}, local store, against workload 3's cp",
                    "plain load + cp of workload 3",
                    "ratio",
                    first.median(),
                    plain.median() + s.cp_big,
                    1.20,
                    up_s,
                    note="informative: the same cp command was much faster in workload 3",
                )
            )
    else:
        s.report.target(
            Target(
                f"first load {label}, over HTTP",
                "plain load + cp",
                "ratio",
                first.median(),
                base_cp,
                1.20,
                up_s,
                note="informative: the target is for a local store",
            )
        )
    s.report.target(
        Target(
            f"repeated load {label}, {where}",
            "plain load",
            "ratio",
            repeated.median(),
            plain.median(),
            1.10,
            up_s,
            case=repeated,
        )
    )
    left = max(
        (smp.extra.get("tmp_files", 0) for c in (first, repeated) for smp in c.samples),
        default=None,
    )
    up_left = (
        max((smp.extra.get("tmp_files", 0) for smp in up.samples), default=None) if up else None
    )
    s.report.target(
        Target(f"temp files left after a load, {where}", "", "zero", left, None, 0, up_left)
    )


# -- workload 6: kedro run of the example project ----------------------------------------------


def w6_example(s: Session) -> None:
    if s.cfg.smoke and find_example() is not None:  # smoke: kedro runs are exercised once
        w6_examples_dir(s)
        return
    h.log("workload 6: kedro run of a project with 13 datasets")
    exp = "bench-kedro"
    cases = kedro_variants(s, "__default__", "mlflow", s.local_uri, exp, installed=not s.cfg.smoke)
    h.measure(cases, s.cfg.reps_mid, s.cfg.warmup)
    s.report.section(
        "6. `kedro run` of the benchmark's project: 13 datasets (4 CSV, 4 Parquet, 5 pickle), "
        "local sqlite store",
        case_rows(cases, cases[0], hooks_text),
    )
    named = {c.name: c for c in cases}
    up = named.get("kedro-mlflow 2.0.3")
    s.report.target(
        Target(
            "kedro run, 13 versioned datasets (bench project)",
            "the same run, plain datasets, no plugin",
            "ratio",
            named["ours"].median(),
            cases[0].median(),
            1.30,
            up.median() if up and up.ok else None,
            case=named["ours"],
        )
    )
    w6_examples_dir(s)


def find_example() -> Path | None:
    for pyproject in sorted((h.ROOT / "examples").glob("*/pyproject.toml")):
        if "[tool.kedro]" in pyproject.read_text():
            return pyproject.parent
    return None


def w6_examples_dir(s: Session) -> None:
    """The example project of ``examples/`` (when it exists): ours vs its catalog unwrapped."""
    source = find_example()
    if source is None:
        s.report.notes.append(
            "`examples/` holds no Kedro project yet: workload 6 used the bench project only."
        )
        return
    import yaml

    h.log(f"workload 6: kedro run of examples/{source.name}")
    copy = h.WORK / "projects" / "example"
    h.remove(copy)
    shutil.copytree(
        source, copy, ignore=shutil.ignore_patterns("data", "mlruns", "mlflow.db", ".venv")
    )
    if (source / "data").is_dir():
        shutil.copytree(source / "data", copy / "data", ignore=shutil.ignore_patterns("0[2-8]_*"))
    plain_catalog: dict = {}
    for path in sorted((copy / "conf" / "base").glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(entry, dict) and str(entry.get("type", "")).endswith(
                "MlflowArtifactDataset"
            ):
                inner = entry["dataset"]
                plain_catalog[name] = dict(inner) if isinstance(inner, dict) else {"type": inner}
    (copy / "conf" / "bench_plain").mkdir(parents=True, exist_ok=True)
    (copy / "conf" / "bench_plain" / "catalog.yml").write_text(json.dumps(plain_catalog, indent=1))
    env = h.clean_env()
    cases = [
        h.Case(
            "plain datasets, no plugin",
            [str(s.shadow("main-without")), "-m", "kedro", "run", "--env", "bench_plain"],
            env,
            cwd=copy,
        ),
        h.Case("ours", [str(MAIN_PY), "-m", "kedro", "run"], env, cwd=copy),
    ]
    h.measure(cases, s.cfg.reps_mid, s.cfg.warmup)
    s.report.section(
        f"6. `kedro run` of `examples/{source.name}` ({len(plain_catalog)} MlflowArtifactDatasets; "
        "plain = the same catalog unwrapped, run without the plugin)",
        case_rows(cases, cases[0]),
    )
    s.report.target(
        Target(
            f"kedro run, examples/{source.name}",
            "the same run, plain datasets, no plugin",
            "ratio",
            cases[1].median(),
            cases[0].median(),
            1.30,
            case=cases[1],
        )
    )


# -- workload 7: scale -------------------------------------------------------------------------


def costs_of(case: h.Case, key: str) -> float | None:
    return case.median_of(lambda smp: smp.info.get("costs", {}).get(key))


def scale_save_case(  # noqa: PLR0917
    s: Session, variant: str, python: Path, n: int, uri: str, exp_id: str
) -> h.Case:
    folder = h.WORK / "data" / f"scale-{n}" / h.slug(variant)
    args = {
        "variant": variant,
        "n": n,
        "folder": str(folder),
        "tracking_uri": uri,
        "experiment_id": exp_id,
        "artifact_path": "wide",
    }
    return worker(f"{VARIANT_LABEL[variant]}, {n} saves", python, "scale_save", args)


def scale_load_case(  # noqa: PLR0917
    s: Session, variant: str, python: Path, k: int, uri: str, run_id: str
) -> h.Case:
    folder = h.WORK / "data" / "scale-load" / h.slug(variant)
    args = {
        "variant": variant,
        "k": k,
        "folder": str(folder),
        "tracking_uri": uri,
        "run_id": run_id,
        "artifact_path": "wide",
    }
    cache = h.WORK / "cache" / f"scale-{h.slug(variant)}"
    return worker(
        f"{VARIANT_LABEL[variant]}, {k} loads",
        python,
        "scale_load",
        args,
        KEDRO_MLFLOW_CACHE_DIR=str(cache),
    )


def saves_and_loads(
    s: Session, n: int, uri: str, exp_id: str
) -> dict[str, tuple[h.Case, h.Case | None]]:
    """Per variant: N saves into one run, then k loads by run_id from ours' run."""
    saves = {
        v: scale_save_case(s, v, py, n, uri, exp_id) for v, py in s.variants(plain_mlflow=False)
    }
    h.measure(saves.values(), s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
    source = saves["ours"]
    run_id = source.last_info().get("run_id") if source.ok else None
    loads: dict[str, h.Case] = {}
    if run_id:
        k = min(s.cfg.scale_k, n)
        loads = {
            v: scale_load_case(s, v, py, k, uri, run_id)
            for v, py in s.variants(plain_mlflow=False)
            if v != "plain"
        }
        h.measure(loads.values(), s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
    return {v: (case, loads.get(v)) for v, case in saves.items()}


KEDRO_NAMES = {
    "plain": "plain datasets, no plugin",
    "ours": "ours",
    "upstream": "kedro-mlflow 2.0.3",
}


def scale_point(
    s: Session, key: str, saves: tuple[int, str, str] | None, kedro: list[h.Case]
) -> list[list[str]]:
    """One scale point: N saves and k loads (``saves``: n, uri, experiment id), a kedro run."""
    results = saves_and_loads(s, *saves) if saves else {}
    if "ours" in results and key == str(s.cfg.scale_n[-1]):
        save, load = results["ours"]
        s.scale_cases = [save, *([load] if load is not None else [])]
    h.measure(kedro, s.cfg.reps_heavy, False)
    kedro_by = {c.name: c for c in kedro}
    rows = []
    for variant, _ in s.variants(plain_mlflow=False):
        save, load = results.get(variant, (None, None))
        rows.append(scale_row(key, variant, save, load, kedro_by.get(KEDRO_NAMES[variant])))
    return rows


def w7_scale(s: Session, hook_ready: bool) -> None:
    h.log("workload 7: scale")
    lean = s.cfg.smoke  # smoke: each code path once
    hook_note = "" if hook_ready else " (hook pending: ours' MlflowHook implements no hook yet)"
    rows = []
    for n in s.cfg.scale_n:
        h.log(f"  {n} datasets in one run")
        kedro = [] if lean else kedro_variants(s, f"wide_{n}", "mlflow", s.local_uri, "bench-kedro")
        rows += scale_point(s, str(n), (n, s.local_uri, s.experiments["bench-scale"]), kedro)
    headers = [
        "variant",
        "process (N saves)",
        "per save, median",
        "first 10%",
        "last 10%",
        "per load by run_id",
        "kedro run",
        "hooks start / end" + hook_note,
    ]
    body = h.table(["datasets in the run", *headers], rows)
    body += (
        "\n\nOne process saves N small pickles (MlflowArtifactDataset, artifact_path `wide`) into "
        "one run; the loads read k=" + str(s.cfg.scale_k) + " of them back by `run_id` in a new "
        "process. `kedro run` is pipeline `wide_N`: one node with N outputs."
    )
    s.report.section(
        f"7. Scale: N datasets saved in one run ({', '.join(map(str, s.cfg.scale_n))})", body
    )
    scale_growth(s, rows, "datasets")
    rows = []
    for runs in s.cfg.scale_runs:
        h.log(f"  a store with {runs} runs")
        uri, exp_id = s.runs_store(runs)
        saves = None if lean else (s.cfg.scale_k, uri, exp_id or "")
        kedro = kedro_variants(s, "tiny", f"runs_{runs}", uri, "bench")
        rows += scale_point(s, str(runs), saves, kedro)
    body = h.table(["runs in the store", *headers], rows)
    body += (
        f"\n\nIn a store already holding R finished runs: {s.cfg.scale_k} saves into a new run, "
        f"{s.cfg.scale_k} loads from it by `run_id`, and `kedro run` of pipeline `tiny`."
    )
    s.report.section(f"7. Scale: a store with {' / '.join(map(str, s.cfg.scale_runs))} runs", body)
    scale_growth(s, rows, "runs in the store")


def scale_row(
    key: str, variant: str, save: h.Case | None, load: h.Case | None, kcase: h.Case | None
) -> list[str]:
    def err(case: h.Case) -> str:
        return f"error: {(case.error or 'not run')[:150]}"

    row = [key, VARIANT_LABEL[variant]]
    if save is None:
        row += ["", "", "", ""]
    elif not save.ok:
        row += [err(save), "", "", ""]
    else:
        row += [
            h.fmt_s(save.median()),
            h.fmt_ms(costs_of(save, "median")),
            h.fmt_ms(costs_of(save, "first_tenth_mean")),
            h.fmt_ms(costs_of(save, "last_tenth_mean")),
        ]
    row.append("" if load is None else h.fmt_ms(costs_of(load, "median")) if load.ok else err(load))
    hooks = ""
    if kcase is not None and kcase.ok:
        start = kcase.median_of(lambda smp: smp.extra.get("hooks", {}).get("start"))
        end = kcase.median_of(lambda smp: smp.extra.get("hooks", {}).get("end"))
        hooks = f"{h.fmt_ms(start)} / {h.fmt_ms(end)}"
    kedro = "" if kcase is None else h.fmt_s(kcase.median()) if kcase.ok else err(kcase)
    return [*row, kedro, hooks]


def scale_growth(s: Session, rows: list[list[str]], what: str) -> None:
    """Note how ours' per-save and per-load costs grow from the first to the last scale point."""
    ours = [r for r in rows if r[1] == VARIANT_LABEL["ours"]]
    for column, name in ((3, "per-save"), (6, "per-load (by run_id)")):
        points = [r for r in ours if r[column].endswith("ms")]
        if len(points) < 2:
            continue
        first, last = float(points[0][column].split()[0]), float(points[-1][column].split()[0])
        growth = last / first if first else None
        s.report.notes.append(
            f"Scale ({what}): ours' {name} median goes from {first:.2f} ms at {points[0][0]} to "
            f"{last:.2f} ms at {points[-1][0]} ({h.fmt_ratio(growth)}); ~1x per operation means "
            "a linear total."
        )


# -- main ---------------------------------------------------------------------------------------


def hook_ready() -> bool:
    code = (
        "from kedro_mlflow.framework.hooks import mlflow_hook as m\n"
        "print(any(hasattr(m, n) for n in "
        "('after_context_created','before_pipeline_run','after_pipeline_run')))"
    )
    out = subprocess.run(
        [str(MAIN_PY), "-c", code], capture_output=True, text=True, env=h.clean_env(), check=False
    )
    return out.stdout.strip() == "True"


def machine(s: Session) -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_kib = int(line.split()[1])
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in (*PINNED, "numpy"))
    commit = subprocess.run(
        ["git", "-C", str(h.ROOT), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(h.ROOT), "status", "--porcelain", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    upstream = "kedro-mlflow 2.0.3 in benchmarks/.work/venv-upstream (same pins)"
    if s.upstream_py is None:
        upstream = f"kedro-mlflow 2.0.3 not measured ({s.upstream_error or 'disabled'})"
    return [
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- python {platform.python_version()}; {versions}",
        f"- ours: commit {commit}{' + uncommitted changes in src/' if dirty else ''}",
        f"- {upstream}",
        f"- repetitions (medians of): light {s.cfg.reps_light}, mid {s.cfg.reps_mid}, "
        f"heavy {s.cfg.reps_heavy}; "
        + ("one untimed warm-up round (light and mid only)" if s.cfg.warmup else "no warm-up"),
    ]


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
**This VM returns freed memory to its host** (virtio-balloon free page reporting): touching that
memory again is slow, so a process writing or allocating GiBs is fast or slow depending on what
ran before it. Each 1 GiB process is therefore preceded (untimed) by `os.sync()` and a pause of a
few seconds, so that all start alike (cold). In that state a user-space copy (`dd bs=1M`, what a
Python read/write loop does) costs several times a `cp` (which copies inside the kernel with
`copy_file_range`): both are shown as references.
"""


def write_report(s: Session, path: Path, elapsed: float, evidence_texts: dict[str, str]) -> None:
    lines = ["# kedro-mlflow benchmark results", ""]
    lines += [
        f"Generated by `{'make bench-smoke' if s.cfg.smoke else 'make bench'}` "
        f"(`benchmarks/run.py`) in {elapsed / 60:.1f} min. Do not edit: regenerate.",
        "",
    ]
    lines += machine(s)
    lines += ["", "## Targets (issue 4)", ""]
    rows = []
    for t in s.report.targets:
        verdict = {True: "PASS", False: "**MISS**", None: "n/a"}[t.passed]
        if t.note.startswith("informative"):
            verdict = verdict.replace("**MISS**", "miss").replace("PASS", "pass") + " (info)"
        ours = t.text(t.ours)
        base = (
            h.fmt_s(t.base)
            if t.kind == "ratio"
            else (h.fmt_mib(t.base) if t.kind == "delta" else "")
        )
        measured = (
            h.fmt_s(t.ours)
            if t.kind == "ratio"
            else (h.fmt_mib(t.ours) if t.kind == "delta" else "")
        )
        up = t.text(t.upstream) if t.upstream is not None else "n/a"
        rows.append(
            [t.what, f"{t.baseline} {base}".strip(), measured, ours, t.limit_text(), verdict, up]
        )
    lines.append(
        h.table(
            ["target", "baseline (median)", "ours (median)", "ours", "limit", "result", "2.0.3"],
            rows,
        )
    )
    lines += ["", "## Method", "", METHOD]
    for title, body in s.report.sections:
        lines += [f"## {title}", "", body, ""]
    if s.report.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in s.report.notes] + [""]
    if evidence_texts:
        lines += ["## Where the time goes (misses)", ""]
        for what, text in evidence_texts.items():
            lines += [f"### {what}", "", "```", text, "```", ""]
    path.write_text("\n".join(lines))


def collect_evidence(s: Session) -> dict[str, str]:
    texts = {}
    for t in s.report.targets:
        informative = t.note.startswith("informative")
        if t.passed is False and t.case is not None and t.case.ok and not informative:
            h.log(f"profiling the miss: {t.what}")
            texts[f"{t.what}: `{t.case.name}`"] = evidence.profile(t.case)
    for case in s.scale_cases:
        if case.ok:
            h.log(f"profiling the scale point: {case.name}")
            texts[f"scale: `{case.name}` (no target; per-operation cost)"] = evidence.profile(case)
    return texts


WORKLOADS = {
    1: w1_imports,
    2: w2_parquet,
    3: w3_big_local,
    4: w4_big_remote,
    5: w5_loads,
    6: w6_example,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--only", default="", help="comma-separated workload numbers (1-7)")
    parser.add_argument("--reps", type=int, help="override every repetition count")
    parser.add_argument("--upstream", action="store_true", help="measure 2.0.3 in smoke mode too")
    parser.add_argument("--no-upstream", action="store_true", help="skip kedro-mlflow 2.0.3")
    parser.add_argument("--keep", action="store_true", help="keep the big work files")
    parser.add_argument("--no-evidence", action="store_true", help="do not profile the misses")
    parser.add_argument("--output", type=Path, help="where to write the markdown")
    args = parser.parse_args(argv)
    cfg = SMOKE if args.smoke else FULL
    SETTLE_S[0] = cfg.settle_s
    if args.reps:
        cfg = Config(
            **{
                **cfg.__dict__,
                "reps_light": args.reps,
                "reps_mid": args.reps,
                "reps_heavy": args.reps,
            }
        )
    only = {int(x) for x in args.only.split(",") if x} or {1, 2, 3, 4, 5, 6, 7}
    upstream = not args.no_upstream and (not cfg.smoke or args.upstream)
    free = shutil.disk_usage(h.ROOT).free
    needed = 8 * cfg.big + 2 * GiB
    if free < needed:
        h.log(f"only {free / GiB:.1f} GiB free on the disk, {needed / GiB:.1f} GiB needed")
        return 2
    start = time.perf_counter()
    session = Session(cfg, upstream)
    try:
        session.setup(need_server=bool(only & {4, 5}), need_runs_stores=7 in only)
        ready = hook_ready()
        if not ready:
            session.report.notes.append(
                "Ours' hook (`kedro_mlflow.framework.hooks.MlflowHook`) implements no hook yet: "
                "under "
                "`kedro run` ours' datasets start the run themselves (MLFLOW_TRACKING_URI and "
                "MLFLOW_EXPERIMENT_NAME are set for every variant). Hook rows are pending."
            )
        for number, workload in WORKLOADS.items():
            if number in only:
                workload(session)
        if 7 in only:
            w7_scale(session, ready)
        texts = {} if cfg.smoke or args.no_evidence else collect_evidence(session)
    finally:
        session.teardown(args.keep)
    elapsed = time.perf_counter() - start
    output = args.output or (h.WORK / "RESULTS-smoke.md" if cfg.smoke else h.BENCH / "RESULTS.md")
    write_report(session, output, elapsed, texts)
    h.log(f"done in {elapsed / 60:.1f} min; wrote {output}")
    misses = [
        t.what
        for t in session.report.targets
        if t.passed is False and not t.note.startswith("informative")
    ]
    if misses:
        h.log("targets missed: " + "; ".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
