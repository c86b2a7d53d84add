"""What the workloads of one run share: sizes, stores, the server, venvs, the project, the report.

Everything slow to build (the kedro-mlflow 2.0.3 venv, stores already holding many runs) is
built once in ``benchmarks/.work`` and reused by later runs. Nothing built here is timed.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import harness as h
import project
from report import VERSIONS, Block, Comparison, Report, Target, fmt_value

UPSTREAM_VENV = h.WORK / "venv-upstream"
UPSTREAM_PLUGIN = "kedro-mlflow==2.0.3"


@dataclass(frozen=True)
class Config:
    """Sizes and repetitions: ``FULL`` and ``SMOKE`` in run.py."""

    smoke: bool
    reps_light: int  # imports, kedro --help/info
    reps_mid: int  # Parquet save, kedro run of whole projects
    reps_heavy: int  # 1 GiB workloads, scale
    warmup: bool  # one untimed round first (light and mid only)
    parquet_rows: int
    big: int  # bytes of "the 1 GiB pickle"
    project: project.Sizes
    scale_n: tuple[int, ...]  # datasets saved in one run
    scale_runs: tuple[int, ...]  # runs already in the store
    scale_k: int  # loads (and saves) measured per scale point
    settle_s: float  # pause before each 1 GiB process (see Session.settle)
    versions_runs: int  # runs in the store `kedro mlflow versions` lists


class Session:
    """Built by ``setup`` before any timing; the workloads use its stores, venvs and helpers."""

    def __init__(self, cfg: Config, upstream: bool) -> None:
        self.cfg = cfg
        self.report = Report()
        self.want_upstream = upstream
        self.upstream_py: Path | None = None
        self.upstream_error: str | None = None
        self.server: h.Server | None = None
        self.server_error: str | None = None
        self.local_uri = f"sqlite:///{h.WORK / 'local'}/mlflow.db"
        self.experiments: dict[str, str] = {}  # name (or "server:name") -> id
        self.project = h.WORK / "projects" / "benchproj"
        self.cp_big: float | None = None  # workload 3's cp of the big file, for workload 5
        self.setup_calls = itertools.count()
        self.profiled: list[h.Case] = []  # profiled though they have no target (scale)

    def setup(self, need_server: bool, need_runs_stores: bool) -> None:
        for stale in ("local", "data", "cache", "tmp", "projects"):
            h.remove(h.WORK / stale)
        (h.WORK / "tmp").mkdir(parents=True)
        if need_server:  # it starts while the venv and the stores are prepared
            self.server = h.Server(h.WORK / "server")
        with ThreadPoolExecutor(2) as pool:
            upstream = pool.submit(self.setup_upstream) if self.want_upstream else None
            for runs in self.cfg.scale_runs if need_runs_stores else ():
                self.runs_store(runs)
            if upstream is not None:
                upstream.result()
        (h.WORK / "local").mkdir()
        names = ("bench", "bench-kedro", "bench-scale")
        artifacts = [(h.WORK / "local" / f"artifacts-{n}").as_uri() for n in names]
        self.experiments |= self.create(self.local_uri, list(zip(names, artifacts, strict=True)))
        if self.server is not None:
            try:
                self.server.wait()
                made = self.create(self.server.uri, [("bench", None), ("bench-kedro-remote", None)])
                self.experiments |= {f"server:{k}": v for k, v in made.items()}
            except (h.BenchError, RuntimeError) as exc:
                self.server_error = str(exc)[:500]
                h.log(f"server failed, remote workloads skipped: {self.server_error}")
                self.server.stop()
                self.server = None
        stores = {env: (self.local_uri, "bench-kedro") for env in ("base", "mlflow")}
        if self.server is not None:
            stores["remote"] = (self.server.uri, "bench-kedro-remote")
        for runs in self.cfg.scale_runs:
            stores[f"runs_{runs}"] = (self.runs_store_uri(runs), "bench")
        project.generate(
            self.project, self.cfg.project, importlib.metadata.version("kedro"), stores
        )

    def setup_upstream(self) -> None:
        """kedro-mlflow 2.0.3 in its own venv, pinned to the versions of the main venv."""
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in sorted(VERSIONS)]
        self.upstream_error = h.ensure_venv(UPSTREAM_VENV, [UPSTREAM_PLUGIN, *pins])
        if self.upstream_error:
            h.log(f"upstream venv failed, continuing without it: {self.upstream_error}")
        else:
            self.upstream_py = UPSTREAM_VENV / "bin" / "python"

    def create(self, uri: str, experiments: list, runs: int = 0) -> dict[str, str]:
        """Create experiments ``[(name, artifact_location), ...]`` (and ``runs`` finished runs)."""
        args = {"tracking_uri": uri, "experiments": experiments, "runs": runs}
        return {k: str(v) for k, v in self.call("experiment", args)["ids"].items()}

    def call(self, task: str, args: dict) -> dict:
        """Run a worker task once in the main venv, untimed; return its ``BENCH`` info."""
        name = f"setup {task} {next(self.setup_calls)}"  # calls may run at once: own TMPDIRs
        return h.run_once(self.worker(name, h.MAIN_PY, task, args)).info

    def runs_store_uri(self, runs: int) -> str:
        return f"sqlite:///{h.WORK / 'scale' / f'runs_{runs}'}/mlflow.db"

    def runs_store(self, runs: int) -> tuple[str, str]:
        """A store holding ``runs`` finished runs, built once and kept: (uri, experiment id)."""
        folder, uri = h.WORK / "scale" / f"runs_{runs}", self.runs_store_uri(runs)
        marker = folder / "ready.json"
        if marker.exists():
            return uri, json.loads(marker.read_text())["experiment_id"]
        h.remove(folder)
        folder.mkdir(parents=True)
        h.log(f"building a store with {runs} runs (once; kept in {folder})")
        experiment_id = self.create(uri, [("bench", (folder / "artifacts").as_uri())], runs)[
            "bench"
        ]
        marker.write_text(json.dumps({"experiment_id": experiment_id, "runs": runs}))
        return uri, experiment_id

    def teardown(self, keep: bool) -> None:
        """Stop the server; unless ``keep``, remove the big files (the venvs and stores stay)."""
        if self.server is not None:
            self.server.stop()
        if keep:
            return
        for name in ("data", "local", "cache", "tmp", "server"):
            h.remove(h.WORK / name)
        h.remove(self.project / "data")
        for runs in self.cfg.scale_runs:
            for child in (h.WORK / "scale" / f"runs_{runs}" / "artifacts").glob("*/*"):
                h.remove(child)

    # -- what the workloads use -------------------------------------------------------------------

    def store(self, where: Literal["local", "http"]) -> tuple[str, str]:
        """(tracking URI, id of the experiment ``bench``) of the local store or the server."""
        if where == "local":
            return self.local_uri, self.experiments["bench"]
        assert self.server is not None  # noqa: S101
        return self.server.uri, self.experiments["server:bench"]

    def variants(self, plain_mlflow: bool = True) -> list[tuple[str, Path]]:
        """The variants of a worker comparison, and the Python each runs in."""
        out = [("plain", h.MAIN_PY)]
        if plain_mlflow and not self.cfg.smoke:
            out.append(("plain+mlflow", h.MAIN_PY))
        out.append(("ours", h.MAIN_PY))
        if self.upstream_py is not None:
            out.append(("upstream", self.upstream_py))
        return out

    def shadow(self, venv: Literal["main", "upstream"], plugin: bool) -> Path | None:
        """Python of a shadow (see harness) of the main or 2.0.3 venv, with or without plugin."""
        if venv == "upstream" and self.upstream_py is None:
            return None
        name = f"shadow-{venv}-{'with' if plugin else 'without'}"

        def exclude(entry: str) -> bool:
            return not plugin and entry.startswith(("kedro_mlflow", "_editable_impl_kedro_mlflow"))

        source = h.MAIN_VENV if venv == "main" else UPSTREAM_VENV
        return h.make_shadow_venv(source, h.WORK / name, exclude) / "bin" / "python"

    def settle(self) -> None:
        """Before a run that writes or allocates ~GiBs: flush, then let freed memory settle.

        This VM returns freed memory to its host (virtio-balloon free page reporting, ~2 s after
        the free); touching such memory again is slow. Without a pause, a run is fast or slow
        depending on how much the run before it freed; after it, every run starts alike.
        """
        os.sync()
        time.sleep(self.cfg.settle_s)

    def drop_run_artifacts(self, sample: h.Sample) -> None:
        """Remove the artifact folder of the run a worker's save logged to."""
        uri = sample.info.get("artifact_uri") or ""
        if uri.startswith("file://"):
            h.remove(Path(uri.removeprefix("file://")).parent)
        elif uri.startswith("mlflow-artifacts:/") and self.server is not None:
            h.remove((self.server.artifacts / uri.removeprefix("mlflow-artifacts:/")).parent)

    def worker(  # noqa: PLR0917
        self,
        name: str,
        python: Path,
        task: str,
        args: dict,
        before: Callable[[], None] | None = None,
        after: Callable[[h.Sample], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> h.Case:
        """A case running ``worker.py TASK 'JSON-ARGS'`` in ``python`` (a venv's)."""
        cmd = [str(python), str(h.WORKER), task, json.dumps(args)]
        return h.Case(name, cmd, h.clean_env(**(env or {})), before=before, after=after)

    def kedro_run(  # noqa: PLR0917
        self, name: str, python: Path, conf_env: str, pipeline: str, uri: str, experiment: str
    ) -> h.Case:
        """``kedro run`` of the generated project, the hooks timed (``BENCH_HOOK_TIMES``)."""
        cmd = [str(python), "-m", "kedro", "run", "--env", conf_env, "--pipeline", pipeline]
        hooks = h.WORK / "tmp" / f"hooks-{h.slug(name)}.json"
        env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": experiment}
        return h.Case(name, cmd, h.clean_env(**env, BENCH_HOOK_TIMES=str(hooks)), cwd=self.project)

    def compare(
        self,
        title: str,
        cases: dict[str, h.Case],
        *,
        weight: Literal["light", "mid", "heavy"],
        parallel: bool = False,
        detail: Literal["phases", "hooks"] | None = None,
        notes: list[Block] | None = None,
    ) -> dict[str, h.Case]:
        """Measure ``cases`` side by side; add their table (the first is the base) to RESULTS.

        ``weight`` picks the repetitions; heavy cases get no warm-up round. ``parallel``: the
        cases share no files, so a smoke run may run two at a time.
        """
        reps = {"light": self.cfg.reps_light, "mid": self.cfg.reps_mid}.get(weight)
        warmup = self.cfg.warmup and weight != "heavy"
        parallel = parallel and self.cfg.smoke
        h.measure(cases.values(), reps or self.cfg.reps_heavy, warmup, parallel)
        self.section(title, Comparison(list(cases.values()), detail), *(notes or []))
        return cases

    def section(self, title: str, *blocks: Block) -> None:
        self.report.sections.append((title, list(blocks)))

    def target(
        self,
        c: dict[str, h.Case],
        *,
        name: str,
        baseline: str,
        limit: float,
        ours: str = "ours",
        base: str = "plain",
        upstream: str | None = "upstream",
        upstream_base: str | None = None,
        plus: float = 0.0,
        rss: bool = False,
        informative: bool = False,
    ) -> None:
        """A ratio (or, ``rss``, a MiB delta) target of ``c[ours]`` against ``c[base]`` + ``plus``
        seconds; 2.0.3's ``c[upstream]`` (``None``: none) against the same base or its own
        ``upstream_base``."""
        metric = "rss_mib" if rss else "wall"
        base_value = h.median(c.get(base), metric)
        up_base = h.median(c.get(upstream_base), metric) if upstream_base else None
        self.add(
            Target(
                name=name,
                baseline=baseline,
                kind="delta" if rss else "ratio",
                unit="MiB" if rss else "s",
                ours=h.median(c.get(ours), metric),
                base=None if base_value is None else base_value + plus,
                limit=limit,
                upstream=None
                if upstream is None or (upstream_base and not up_base)
                else h.median(c.get(upstream), metric),
                upstream_base=up_base,
                informative=informative,
                case=None if rss else c.get(ours),  # a profile does not explain memory
            )
        )

    def add(self, target: Target) -> None:
        self.report.targets.append(target)
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[target.passed]
        value = fmt_value(target, target.value(target.ours, target.base))
        h.log(f"  target {target.name}: {value} ({verdict})")
