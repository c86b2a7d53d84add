"""What the benchmark measures: one function per workload, numbered in ``WORKLOADS`` (the end).

A workload builds the commands to compare as ``Case``s keyed by variant (``s.worker``: one
dataset save or load in a fresh process; ``s.kedro_run``; ``cp``), measures them side by side
with ``s.compare`` (which adds their table to RESULTS.md) and records its goals with
``s.target``. Variants: ``plain`` (the Kedro dataset alone), ``plain+mlflow`` (plus the mlflow
run a tracked process opens anyway; full runs only, but for the local loads), ``ours``,
``upstream`` (kedro-mlflow 2.0.3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness as h
import versions_1000
from harness import MAIN_PY, Case, median
from models import metric_datasets, model_datasets, pipeline_model
from report import VARIANT_LABEL, Leftovers, ScaleRow, ScaleTable, Target, cost
from session import Session

MiB = 1 << 20
IMPORT_PLAIN = "from kedro_datasets.pandas import CSVDataset"
IMPORT_OURS = "from kedro_mlflow.io.artifacts import MlflowArtifactDataset\n" + IMPORT_PLAIN
IMPORT_HOOK = IMPORT_OURS + "\nimport kedro_mlflow.framework.hooks"
NO_PLUGIN = "the same run, plain datasets, no plugin"
FLOOR = "the same run, plain datasets, no plugin, a hook doing MLflow's floor"
FORKED = "MLflow's floor in a helper forked when the hooks are imported"
STORE_TEXT = {"local": "local sqlite store, file artifacts", "http": "`mlflow server` over HTTP"}


def imports(s: Session) -> None:
    """Importing ours (dataset, hook) and the kedro CLI must cost what they cost without it."""
    codes = {
        "plain": ("plain: CSVDataset", MAIN_PY, IMPORT_PLAIN),
        "ours": ("ours: MlflowArtifactDataset + CSVDataset", MAIN_PY, IMPORT_OURS),
        "hook": ("ours: + hook module", MAIN_PY, IMPORT_HOOK),
        "upstream": ("2.0.3: MlflowArtifactDataset + CSVDataset", s.upstream_py, IMPORT_OURS),
        "upstream-hook": ("2.0.3: + hook module", s.upstream_py, IMPORT_HOOK),
    }
    cases = {
        key: Case(name, [str(python), "-c", code], h.clean_env())
        for key, (name, python, code) in codes.items()
        if python is not None
    }
    probe = [str(MAIN_PY), "-c", IMPORT_HOOK + "\nimport sys\nprint('mlflow' in sys.modules)"]
    leaked = subprocess.run(probe, env=h.clean_env(), capture_output=True, text=True, check=False)
    note = (
        f"`mlflow` in `sys.modules` after importing ours (dataset + hook): {leaked.stdout.strip()}."
    )
    c = s.compare("1. Import the dataset class", cases, weight="light", parallel=True, notes=[note])
    s.target(c, name="import dataset class", baseline="import CSVDataset", limit=1.10)
    name, baseline = "import dataset class + hook", "import CSVDataset"
    s.target(c, name=name, baseline=baseline, limit=1.10, ours="hook", upstream="upstream-hook")
    for command in ("--help", "info"):
        venvs = {
            "plain": ("main", False, "without the plugin"),
            "ours": ("main", True, "ours installed"),
            "upstream-plain": ("upstream", False, "2.0.3 venv, without the plugin"),
            "upstream": ("upstream", True, "2.0.3 installed"),
        }
        cases = {}
        for key, (venv, plugin, label) in venvs.items():
            if (python := s.shadow(venv, plugin)) is not None:
                cmd = [str(python), "-m", "kedro", *command.split()]
                cases[key] = Case(f"kedro {command}: {label}", cmd, h.clean_env(), cwd=s.project)
        title = f"1. `kedro {command}` in a Kedro project, with vs without the plugin"
        c = s.compare(title, cases, weight="light", parallel=True)
        name, baseline = f"kedro {command}", "the same without the plugin"
        s.target(c, name=name, baseline=baseline, limit=1.05, upstream_base="upstream-plain")


# -- 2 to 4: saves ---------------------------------------------------------------------------------


def save_cases(s: Session, kind: str, size: int, where: str, heavy: bool) -> dict[str, Case]:
    """Each variant saves one dataset (``size`` rows or bytes) into a new run of the store."""
    uri, experiment = s.store(where)
    cases = {}
    for variant, python in s.variants():
        path = h.WORK / "data" / f"{kind}-{where}" / h.slug(variant) / f"data.{suffix(kind)}"
        path.parent.mkdir(parents=True, exist_ok=True)

        def after(sample: h.Sample, path: Path = path) -> None:
            s.drop_run_artifacts(sample)
            if heavy:
                h.remove(path)

        args = {"variant": variant, "kind": kind, "size": size, "filepath": str(path)}
        args |= {"tracking_uri": uri, "experiment_id": experiment}
        before = s.settle if heavy else None
        cases[variant] = s.worker(VARIANT_LABEL[variant], python, "save", args, before, after)
    return cases


def suffix(kind: str) -> str:
    return "parquet" if kind == "parquet" else "pkl"


def reference_file(s: Session, kind: str, size: int) -> Path:
    """A file as the plain dataset writes it: what ``cp`` copies and plain loads read."""
    path = h.WORK / "data" / "ref" / f"data-{size}.{suffix(kind)}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        s.call("save", {"variant": "plain", "kind": kind, "size": size, "filepath": str(path)})
    return path


def copies(s: Session, source: Path, heavy: bool = True) -> dict[str, Case]:
    """What copying the file costs here: ``cp`` (in the kernel) and, for big files, ``dd bs=1M``
    (a user-space copy, like a Python read/write loop)."""
    cases = {}
    for tool in ("cp", "dd") if heavy else ("cp",):
        dest = source.with_name(f"{tool}-{source.name}")
        if tool == "cp":
            name, cmd = "cp of the written file (disk reference)", ["cp", str(source), str(dest)]
        else:
            name = "dd bs=1M of the written file (user-space copy reference)"
            cmd = ["dd", f"if={source}", f"of={dest}", "bs=1M", "status=none"]
        before = s.settle if heavy else os.sync
        cases[tool] = Case(name, cmd, h.clean_env(), before=before)
        cases[tool].after = lambda _sample, dest=dest: h.remove(dest)
    return cases


def save_targets(s: Session, label: str, c: dict[str, Case]) -> None:
    """Ours against a plain save plus a copy of its file: logging must cost about that copy."""
    cp = median(c["cp"]) or 0.0
    s.target(c, name=f"save {label}, local store", baseline="plain save + cp", limit=1.10, plus=cp)
    if "plain+mlflow" in c:  # informative: what logging adds to an already tracked process
        name = f"save {label}, local store, mlflow's fixed cost excluded"
        baseline = "plain save + mlflow run + cp"
        s.target(
            c,
            name=name,
            baseline=baseline,
            limit=1.10,
            base="plain+mlflow",
            plus=cp,
            informative=True,
        )


def parquet_save(s: Session) -> None:
    rows = s.cfg.parquet_rows
    cases = save_cases(s, "parquet", rows, "local", heavy=False)
    cases |= copies(s, reference_file(s, "parquet", rows), heavy=False)
    title = f"2. Save a {rows:,}x10 DataFrame with pandas.ParquetDataset (local sqlite store)"
    c = s.compare(title, cases, weight="mid", parallel=True, detail="phases")
    save_targets(s, f"{rows:,}x10 Parquet", c)


def big_local_save(s: Session) -> None:
    label = f"{s.cfg.big / MiB:.0f} MiB pickle"
    cases = save_cases(s, "pickle", s.cfg.big, "local", heavy=True)
    cases |= copies(s, reference_file(s, "pickle", s.cfg.big))
    title = f"3. Save a {label} with pickle.PickleDataset (local sqlite store)"
    c = s.compare(title, cases, weight="heavy", parallel=True, detail="phases")
    save_targets(s, label, c)
    s.cp_big = median(c["cp"])
    for base, baseline in (("plain", "plain save"), ("plain+mlflow", "plain save + mlflow run")):
        if base in c:  # informative against plain+mlflow: mlflow's own import excluded
            name, info = f"peak RSS, save {label}", base != "plain"
            s.target(
                c, name=name, baseline=baseline, limit=32, base=base, rss=True, informative=info
            )


def remote_save(s: Session) -> None:
    """The big pickle saved to a server; under ``kedro run``, uploads must overlap the nodes."""
    if s.server is None:
        s.section("4. Save to an mlflow server", f"skipped: {s.server_error}")
        return
    size = s.cfg.big / MiB
    cases = save_cases(s, "pickle", s.cfg.big, "http", heavy=True)
    title = f"4. Save a {size:.0f} MiB pickle to `mlflow server` on loopback "
    title += "(--serve-artifacts, --workers 1)"
    note = "No target of its own: the issue's remote target is the `kedro run` below."
    s.compare(title, cases, weight="heavy", parallel=True, detail="phases", notes=[note])
    if s.cfg.smoke:  # smoke: kedro runs are exercised by workloads 6 and 7
        return
    artifacts = s.server.artifacts / s.experiments["server:bench-kedro-remote"]

    def clean(_sample: h.Sample) -> None:
        for child in artifacts.glob("*"):
            h.remove(child)
        h.remove(s.project / "data" / "big")

    cases = kedro_variants(s, "big", "remote", s.server.uri, "bench-kedro-remote")
    for case in cases.values():
        case.before, case.after = s.settle, clean
    big, sleep_s = s.cfg.project.big_size / MiB, s.cfg.project.sleep_s
    title = f"4. `kedro run` of 4 nodes each saving a {big:.0f} MiB pickle, each read back by "
    title += f"a node computing {sleep_s} s; tracking on the server"
    c = s.compare(title, cases, weight="heavy", detail="hooks")
    name = "kedro run with large artifacts, remote server"
    s.target(c, name=name, baseline="the same run without the plugin", limit=1.20)


def kedro_variants(  # noqa: PLR0917
    s: Session, pipeline: str, conf_env: str, uri: str, experiment: str, installed: bool = False
) -> dict[str, Case]:
    """``kedro run`` of a pipeline of the generated project: no plugin, ours, 2.0.3."""
    runs = {"plain": ("plain datasets, no plugin", s.shadow("main", False), "local")}
    if installed:
        runs["installed"] = ("plain datasets, ours installed", MAIN_PY, "local")
    runs["ours"] = ("ours", MAIN_PY, conf_env)
    runs["upstream"] = ("kedro-mlflow 2.0.3", s.upstream_py, conf_env)
    return {
        key: s.kedro_run(name, python, env, pipeline, uri, experiment)
        for key, (name, python, env) in runs.items()
        if python is not None
    }


# -- 5: loads from a past run ----------------------------------------------------------------------


def loads(s: Session) -> None:
    """The big pickle loaded by ``run_id``, from a local store and over HTTP, first and again."""
    label = f"{s.cfg.big / MiB:.0f} MiB pickle"
    ref = reference_file(s, "pickle", s.cfg.big)
    stores = ["local"] + (["http"] if s.server is not None else [])
    with ThreadPoolExecutor(2) as pool:  # the runs to load from, saved by ours (untimed)
        futures = [pool.submit(source_run, s, where) for where in stores]
    refs: dict[str, Case] = {}  # cp and dd, measured alongside the first store's loads
    for where, future in zip(stores, futures, strict=True):
        try:
            run_id = future.result()
        except h.BenchError as exc:
            s.section(f"5. Load from a run ({where})", f"setup failed: {exc}")
            continue
        cases = load_cases(s, where, run_id, ref)
        here = {} if refs else copies(s, ref)
        refs = refs or here
        title = f"5. Load the {label} from a past run via `run_id` ({STORE_TEXT[where]})"
        notes = [] if here else ["The `cp` reference is the local store's, measured above."]
        notes.append(Leftovers(list(cases.values())))
        c = s.compare(title, cases | here, weight="heavy", detail="phases", notes=notes)
        load_targets(s, where, label, c, cp=median(refs["cp"]) or 0.0)


def source_run(s: Session, where: str) -> str:
    """A past run holding the big pickle, saved by ours (untimed); its id."""
    uri, experiment = s.store(where)
    path = h.WORK / "data" / f"source-{where}" / "data.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    args = {"variant": "ours", "kind": "pickle", "size": s.cfg.big, "filepath": str(path)}
    info = s.call("save", args | {"tracking_uri": uri, "experiment_id": experiment})
    h.remove(path)
    return str(info["run_id"])


def cache_state(folder: Path) -> dict[str, int]:
    """Each cached file's mtime: a repeated load that downloads again rewrites them."""
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def load_cases(s: Session, where: str, run_id: str, ref: Path) -> dict[str, Case]:
    """Plain loads read ``ref``. Ours' first load starts from an empty cache; the repeated one
    (a new process, right after) must find it warm and leave its files untouched."""
    uri, _ = s.store(where)
    common = {"kind": "pickle", "tracking_uri": uri, "run_id": run_id}
    plain = {**common, "variant": "plain", "filepath": str(ref)}
    cases = {"plain": s.worker("plain load", MAIN_PY, "load", plain, s.settle)}
    if where == "local":  # smoke too: the baseline of two targets
        args = plain | {"variant": "plain+mlflow"}
        name = "plain load + mlflow get_run"
        cases["plain+mlflow"] = s.worker(name, MAIN_PY, "load", args, s.settle)
    cache = h.WORK / "cache" / where
    env = {"KEDRO_MLFLOW_CACHE_DIR": str(cache)}
    path = h.WORK / "data" / f"load-{where}" / "ours" / "data.pkl"
    ours = {**common, "variant": "ours", "filepath": str(path)}
    first_state: dict[str, int] = {}

    def before_first() -> None:
        h.remove(cache)
        s.settle()

    def after_first(sample: h.Sample) -> None:
        first_state.clear()
        first_state.update(cache_state(cache))
        sample.extra["cache_bytes"] = h.tree_size(cache)[1]

    def after_repeated(sample: h.Sample) -> None:
        sample.extra["cache_bytes"] = h.tree_size(cache)[1]
        sample.extra["rewritten"] = bool(first_state) and cache_state(cache) != first_state

    first = s.worker("ours, first load", MAIN_PY, "load", ours, before_first, after_first, env)
    again = s.worker("ours, repeated load", MAIN_PY, "load", ours, s.settle, after_repeated, env)
    cases |= {"first": first, "repeated": again}
    if s.upstream_py is not None:
        path = h.WORK / "data" / f"load-{where}" / "upstream" / "data.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        args = {**common, "variant": "upstream", "filepath": str(path)}
        name = "kedro-mlflow 2.0.3 load"
        cases["upstream"] = s.worker(name, s.upstream_py, "load", args, s.settle)
    return cases


def load_targets(s: Session, where: str, label: str, c: dict[str, Case], cp: float) -> None:
    """A first load costs a plain load plus a copy; a repeated one a plain load; no temp files."""
    name = f"first load {label}, " + ("local store" if where == "local" else "over HTTP")
    info = where != "local"  # the target is for a local store
    s.target(
        c,
        name=name,
        baseline="plain load + cp",
        limit=1.20,
        ours="first",
        plus=cp,
        informative=info,
    )
    if where == "local" and s.cp_big is not None and median(c["plain"]) is not None:
        name = f"first load {label}, local store, against workload 3's cp"
        baseline = "plain load + cp of workload 3"  # the same cp ran much faster in workload 3
        s.target(
            c,
            name=name,
            baseline=baseline,
            limit=1.20,
            ours="first",
            plus=s.cp_big,
            informative=True,
        )
    name = f"repeated load {label}, {where}"
    s.target(c, name=name, baseline="plain load", limit=1.10, ours="repeated")
    for ours in ("first", "repeated") if "plain+mlflow" in c else ():
        name = f"{ours} load {label}, local store, mlflow's fixed cost excluded"
        baseline = "plain load + mlflow get_run"
        s.target(c, name=name, baseline=baseline, limit=1.10, ours=ours, base="plain+mlflow")

    def left(*keys: str) -> int | None:
        counts = [x.extra.get("tmp_files", 0) for k in keys if k in c for x in c[k].samples]
        return max(counts, default=None)

    name, ours = f"temp files left after a load, {where}", left("first", "repeated")
    s.add(
        Target(name=name, baseline="", kind="count", ours=ours, limit=0, upstream=left("upstream"))
    )


# -- 6: kedro run of whole projects ----------------------------------------------------------------


def kedro_runs(s: Session) -> None:
    """``kedro run`` with every dataset versioned, against the same run without the plugin."""
    example = example_project()
    if not (s.cfg.smoke and example):  # smoke: the kedro run of one project is enough
        installed = not s.cfg.smoke
        cases = kedro_variants(s, "__default__", "mlflow", s.local_uri, "bench-kedro", installed)
        title = "6. `kedro run` of the benchmark's project: 13 datasets (4 CSV, 4 Parquet, "
        title += "5 pickle), local sqlite store"
        c = s.compare(title, with_floor(s, cases, "__default__"), weight="mid", detail="hooks")
        name = "kedro run, 13 versioned datasets (bench project)"
        s.target(c, name=name, baseline=NO_PLUGIN, limit=1.30)
        s.target(c, name=f"{name}, above MLflow's floor", baseline=FLOOR, base="floor", limit=1.05)
        s.target(c, name=f"peak RSS, {name}", baseline=FLOOR, base="floor", limit=32, rss=True)
        forked_target(s, c, name, 1.30)
    if example is None:
        s.report.notes.append("`examples/` holds no Kedro project: workload 6 ran the bench one.")
        return
    plain, copy = unwrapped_copy(example)
    without = [str(s.shadow("main", False)), "-m", "kedro", "run", "--env", "bench_plain"]
    cases = {
        "plain": Case("plain datasets, no plugin", without, h.clean_env(), cwd=copy),
        "ours": Case("ours", [str(MAIN_PY), "-m", "kedro", "run"], h.clean_env(), cwd=copy),
    }
    title = f"6. `kedro run` of `examples/{example.name}` ({plain} MlflowArtifactDatasets; "
    title += "plain = the same catalog unwrapped, run without the plugin)"
    c = s.compare(title, cases, weight="mid")
    s.target(c, name=f"kedro run, examples/{example.name}", baseline=NO_PLUGIN, limit=1.30)


def with_floor(s: Session, cases: dict[str, Case], pipeline: str) -> dict[str, Case]:
    """``cases`` with ``floor`` and ``forked`` after ``plain``: the run without the plugin,
    plus MLflow's floor in the process, and in a helper process.

    The floor is what any tracked run pays whatever the plugin: import mlflow, open the store,
    start a run and end it (the project's ``BENCH_MLFLOW_FLOOR`` hook); ours against it is
    the plugin's own cost. ``forked`` does that work in a child forked when Kedro imports the
    hooks, waited for at the end: what a per-run helper process could reach at best.
    """
    without = s.shadow("main", False)
    floors = {}
    for key, name, mode in [
        ("floor", "plain datasets, no plugin, MLflow's floor", "1"),
        ("forked", f"plain datasets, no plugin, {FORKED}", "forked"),
    ]:
        floors[key] = s.kedro_run(name, without, "local", pipeline, s.local_uri, "bench-kedro")
        floors[key].env["BENCH_MLFLOW_FLOOR"] = mode
    rest = {key: case for key, case in cases.items() if key != "plain"}
    return {"plain": cases["plain"], **floors, **rest}


def forked_target(s: Session, c: dict[str, Case], name: str, limit: float) -> None:
    """The run's target reached by MLflow's floor in a forked helper (informative)."""
    s.target(
        c,
        name=f"{name}, {FORKED}",
        baseline=NO_PLUGIN,
        limit=limit,
        ours="forked",
        upstream=None,
        informative=True,
    )


# -- 8: a short kedro run --------------------------------------------------------------------------


def ten_nodes(s: Session) -> None:
    """What the plugin costs a ``kedro run`` that takes about a second without it."""
    cases = with_floor(s, kedro_variants(s, "ten", "mlflow", s.local_uri, "bench-kedro"), "ten")
    title = "8. `kedro run` of 10 tiny nodes (one small pickle each), local sqlite store"
    c = s.compare(title, cases, weight="mid", detail="hooks")
    name = "kedro run, 10 tiny nodes"
    s.target(c, name=name, baseline=NO_PLUGIN, limit=1.50)
    s.target(c, name=f"{name}, above MLflow's floor", baseline=FLOOR, base="floor", limit=1.05)
    forked_target(s, c, name, 1.50)


def example_project() -> Path | None:
    for pyproject in sorted((h.ROOT / "examples").glob("*/pyproject.toml")):
        if "[tool.kedro]" in pyproject.read_text():
            return pyproject.parent
    return None


def unwrapped_copy(source: Path) -> tuple[int, Path]:
    """A copy of the example project with an env ``bench_plain``: its catalog unwrapped."""
    import yaml

    copy = h.WORK / "projects" / "example"
    h.remove(copy)
    ignore = shutil.ignore_patterns("data", "mlruns", "mlflow.db", ".venv")
    shutil.copytree(source, copy, ignore=ignore)
    if (source / "data").is_dir():  # the raw inputs, not what runs wrote
        shutil.copytree(source / "data", copy / "data", ignore=shutil.ignore_patterns("0[2-8]_*"))
    plain = {}
    for path in sorted((copy / "conf" / "base").glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(entry, dict) and str(entry.get("type")).endswith("MlflowArtifactDataset"):
                inner = entry["dataset"]
                plain[name] = dict(inner) if isinstance(inner, dict) else {"type": inner}
    (copy / "conf" / "bench_plain").mkdir()
    (copy / "conf" / "bench_plain" / "catalog.yml").write_text(json.dumps(plain, indent=1))
    return len(plain), copy


# -- 7: scale --------------------------------------------------------------------------------------


def scale(s: Session) -> None:
    """Per-operation costs must not grow with the datasets of a run, nor the runs of a store."""
    k, lean = s.cfg.scale_k, s.cfg.smoke  # smoke: each code path once
    rows: list[ScaleRow] = []
    for n in s.cfg.scale_n:
        h.log(f"  {n} datasets in one run")
        wide = f"wide_{n}"
        kedro = {} if lean else kedro_variants(s, wide, "mlflow", s.local_uri, "bench-kedro")
        saves = (n, s.local_uri, s.experiments["bench-scale"])
        rows += scale_point(s, str(n), saves, kedro, profile=n == s.cfg.scale_n[-1])
    s.section(
        f"7. Scale: N datasets saved in one run ({', '.join(map(str, s.cfg.scale_n))})",
        ScaleTable("datasets in the run", "datasets", rows),
        "One process saves N small pickles (MlflowArtifactDataset, artifact_path `wide`) into one "
        f"run; the loads read k={k} of them back by `run_id` in a new process. `kedro run` is "
        "pipeline `wide_N`: one node with N outputs.",
    )
    n = s.cfg.scale_n[-1]
    per_save = {r.variant: cost(r.save, "median") for r in rows if r.key == str(n)}
    s.add(
        Target(
            name=f"per save without the hook, warm store ({n:,} saves in one run)",
            baseline="plain dataset, per save",
            kind="delta",
            unit="ms",
            ours=per_save.get("ours"),
            base=per_save.get("plain"),
            limit=0.001,
            upstream=per_save.get("upstream"),
        )
    )
    rows = []
    for runs in s.cfg.scale_runs:
        h.log(f"  a store with {runs} runs")
        uri, experiment_id = s.runs_store(runs)
        kedro = kedro_variants(s, "tiny", f"runs_{runs}", uri, "bench")
        rows += scale_point(s, str(runs), None if lean else (k, uri, experiment_id), kedro)
    s.section(
        f"7. Scale: a store with {' / '.join(map(str, s.cfg.scale_runs))} runs",
        ScaleTable("runs in the store", "runs in the store", rows),
        f"In a store already holding R finished runs: {k} saves into a new run, {k} loads from "
        "it by `run_id`, and `kedro run` of pipeline `tiny`.",
    )


def scale_point(
    s: Session, key: str, saves: tuple[int, str, str] | None, kedro: dict, profile: bool = False
) -> list[ScaleRow]:
    """N small saves into one run, then k loads by ``run_id`` from ours' run; a kedro run."""
    variants = s.variants(plain_mlflow=False)
    save: dict[str, Case] = {}
    load: dict[str, Case] = {}
    if saves is not None:
        n, uri, experiment_id = saves
        common = {"tracking_uri": uri, "artifact_path": "wide"}
        for variant, python in variants:
            folder = str(h.WORK / "data" / f"scale-{n}" / h.slug(variant))
            args = {"variant": variant, "n": n, "folder": folder, "experiment_id": experiment_id}
            name = f"{VARIANT_LABEL[variant]}, {n} saves"
            save[variant] = s.worker(name, python, "scale_save", args | common)
        h.measure(save.values(), s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
        run_id = save["ours"].samples[-1].info.get("run_id") if save["ours"].ok else None
        k = min(s.cfg.scale_k, n)
        for variant, python in variants[1:] if run_id else []:  # all but plain
            folder = str(h.WORK / "data" / "scale-load" / h.slug(variant))
            args = {"variant": variant, "k": k, "folder": folder, "run_id": run_id}
            env = {"KEDRO_MLFLOW_CACHE_DIR": str(h.WORK / "cache" / f"scale-{h.slug(variant)}")}
            name = f"{VARIANT_LABEL[variant]}, {k} loads"
            load[variant] = s.worker(name, python, "scale_load", args | common, env=env)
        h.measure(load.values(), s.cfg.reps_heavy, False, parallel=s.cfg.smoke)
        if profile:  # no target, but the per-operation cost is worth a profile
            s.profiled += [c for c in (save["ours"], load.get("ours")) if c is not None]
    h.measure(kedro.values(), s.cfg.reps_heavy, False)
    return [ScaleRow(key, v, save.get(v), load.get(v), kedro.get(v)) for v, _ in variants]


# -- 9: kedro mlflow versions ---------------------------------------------------------------------


def versions(s: Session) -> None:
    """``kedro mlflow versions`` on R runs: at most 1.2x its time on 10 runs."""
    runs, root = s.cfg.versions_runs, h.WORK / "projects" / "versions"
    title = f"9. `kedro mlflow versions raw` (the newest {versions_1000.SHOWN}) on {runs:,} runs "
    title += "against 10 runs (local sqlite stores, the runs' saves as dataset records)"
    h.remove(root)
    projects = {}
    try:  # the projects and their runs as benchmarks/versions_1000.py makes them (untimed)
        for count in dict.fromkeys((10, runs)):  # one project when --smoke makes runs 10
            (root / str(count)).mkdir(parents=True)
            project, _ = versions_1000.make_project(root / str(count))
            artifacts = (project / "mlruns").as_uri()
            args = {"database": str(project / "mlflow.db"), "artifact_location": artifacts}
            s.call("versions_runs", args | {"runs": count})
            versions_1000.time_versions(project, 1, min(count, versions_1000.SHOWN))
            projects[count] = project
    except (h.BenchError, versions_1000.VersionsError, subprocess.SubprocessError) as exc:
        s.section(title, f"setup failed: {str(exc)[:500]}")
        return
    command = [str(MAIN_PY), *versions_1000.COMMAND]
    baseline = "kedro mlflow versions on 10 runs"
    cases = {
        "plain": Case(baseline, command, h.clean_env(), cwd=projects[10]),
        "ours": Case(f"ours: on {runs:,} runs", command, h.clean_env(), cwd=projects[runs]),
    }
    c = s.compare(title, cases, weight="mid")
    s.add(
        Target(
            name=f"kedro mlflow versions on {runs:,} runs, against 10 runs",
            baseline=baseline,
            kind="ratio",
            ours=median(c["ours"]),
            base=median(c["plain"]),
            limit=1.2,
            case=c["ours"],
        )
    )


#: The workloads, by the number ``--only`` takes: what the log says, the function.
WORKLOADS: dict[int, tuple[str, Callable[[Session], None]]] = {
    1: ("imports, kedro --help, kedro info", imports),
    2: ("save a Parquet DataFrame, local store", parquet_save),
    3: ("save the big pickle, local store", big_local_save),
    4: ("save the big pickle to an mlflow server, and kedro run with big artifacts", remote_save),
    5: ("load the big pickle from a past run", loads),
    6: ("kedro run of whole projects", kedro_runs),
    7: ("scale: datasets in a run, runs in a store", scale),
    8: ("kedro run of 10 tiny nodes", ten_nodes),
    9: ("kedro mlflow versions on a store of many runs", versions),
    10: ("save and load a tiny sklearn model with MlflowModelTrackingDataset", model_datasets),
    11: ("kedro run of a pipeline_ml_factory pipeline: its end, logging the model", pipeline_model),
    12: ("save a metric and a 1,000-point history with the metric datasets", metric_datasets),
}
