"""The Kedro project the ``kedro run`` workloads run, generated into ``benchmarks/.work``.

One project, several Kedro environments, so that every variant runs the same nodes:
``base`` (plain datasets and an ``mlflow.yml`` for the local store), ``mlflow`` (the same
entries wrapped in ``MlflowArtifactDataset``), and per store (``remote``, ``runs_<R>``) the
wrapped entries with that store's ``mlflow.yml``. Catalog files are JSON, which is valid YAML.

Pipelines: ``__default__`` (13 outputs: CSV, Parquet, pickle), ``big`` (4 large pickles, each
read back by a node that then "computes" for ``sleep_s``), ``wide_<N>`` (one node, N outputs),
``tiny`` (one output), ``ten`` (10 chained nodes, one small pickle each) and ``ml`` (a
``pipeline_ml_factory`` pipeline: a table, a LinearRegression fit on it, an inference pipeline
predicting with it; without the plugin, its training pipeline alone). A timing
``hookwrapper`` per hook spec, which pluggy runs around the plugins' implementations of that
spec, writes its marks to ``BENCH_HOOK_TIMES`` when set; ``BENCH_MLFLOW_FLOOR`` turns on a
hook doing MLflow's floor (import, open the store, start and end a run) for a run without the
plugin, in the process (``1``) or in a child forked early (``forked``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "benchproj"
WRAPPER = "kedro_mlflow.io.artifacts.MlflowArtifactDataset"

PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "benchproj"
version = "0.1.0"

[tool.kedro]
package_name = "benchproj"
project_name = "benchproj"
kedro_init_version = "{kedro_version}"
source_dir = "src"
"""

SETTINGS = """\
from benchproj.timing_hooks import FLOOR, TIMING

HOOKS = (TIMING, FLOOR)
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
"""

TIMING_HOOKS = '''\
"""Timestamps around every other hook implementation: one hookwrapper per spec."""

import json
import os
import time

from kedro.framework.hooks import hook_impl

_EVENTS = []


def _mark(name):
    if os.environ.get("BENCH_HOOK_TIMES"):
        _EVENTS.append((name, time.perf_counter()))


def _dump():
    path = os.environ.get("BENCH_HOOK_TIMES")
    if path:
        with open(path, "w") as out:
            json.dump(_EVENTS, out)


class _Timing:
    @hook_impl(hookwrapper=True)
    def after_context_created(self):
        _mark("after_context_created.first")
        yield
        _mark("after_context_created.last")

    @hook_impl(hookwrapper=True)
    def after_catalog_created(self):
        _mark("after_catalog_created.first")
        yield
        _mark("after_catalog_created.last")

    @hook_impl(hookwrapper=True)
    def before_pipeline_run(self):
        _mark("before_pipeline_run.first")
        yield
        _mark("before_pipeline_run.last")

    @hook_impl(hookwrapper=True)
    def after_node_run(self):
        _mark("after_node_run.first")  # the node's function has returned
        yield

    @hook_impl(hookwrapper=True)
    def after_pipeline_run(self):
        _mark("after_pipeline_run.first")
        yield
        _mark("after_pipeline_run.last")
        _dump()


TIMING = _Timing()


class _Floor:
    """With ``BENCH_MLFLOW_FLOOR=1``, what any tracked run pays, and nothing else: import
    mlflow, open the store (``MLFLOW_TRACKING_URI``), start a run in ``MLFLOW_EXPERIMENT_NAME``
    and end it. With ``BENCH_MLFLOW_FLOOR=forked``, the same work done by a child forked when
    this module is imported (when Kedro imports a plugin's hooks) and waited for at the end:
    the best case of a per-run helper process, no hand-over of files counted."""

    def __init__(self):
        self.child = 0
        if os.environ.get("BENCH_MLFLOW_FLOOR") == "forked":
            self.child = os.fork()
            if self.child == 0:
                status = 1
                try:
                    import mlflow

                    mlflow.start_run()
                    mlflow.end_run()
                    status = 0
                finally:
                    os._exit(status)

    @hook_impl
    def after_context_created(self):
        if os.environ.get("BENCH_MLFLOW_FLOOR") == "1":
            import mlflow

            mlflow.start_run()

    @hook_impl
    def after_pipeline_run(self):
        if self.child:
            if os.waitpid(self.child, 0)[1]:
                raise RuntimeError("the forked MLflow floor failed")
        elif os.environ.get("BENCH_MLFLOW_FLOOR") == "1":
            import mlflow

            mlflow.end_run()


FLOOR = _Floor()
'''

NODES = '''\
"""Node functions of the benchmark project."""

import time

import numpy as np
import pandas as pd


def make_raw(rows, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((rows, 10)), columns=[f"c{i}" for i in range(10)])


def features(raw):
    out = raw.copy()
    out["sum"] = raw.sum(axis=1)
    out["max"] = raw.max(axis=1)
    return out


def fit(feat):
    values = feat.to_numpy()
    cov = np.cov(values, rowvar=False)
    return {"mean": values.mean(axis=0), "cov": cov, "sample": values[:20000]}


def report(*models):
    return pd.DataFrame([{"model": i, "mean0": m["mean"][0]} for i, m in enumerate(models)])


def make_big(size):
    return b"\\x01" * size


def use_big(data, sleep_s):
    time.sleep(sleep_s)
    return {"n": len(data)}


def make_wide(n):
    return [{"i": i, "values": list(range(50))} for i in range(n)]


def make_tiny():
    return {"x": 1}


def step(tiny):
    return {"x": tiny["x"] + 1}


def make_ml(rows):
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((rows, 3)), columns=["a", "b", "c"])
    return x.assign(y=x.a + 2 * x.b - x.c), x.head(100)


def fit_ml(train):
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(train[["a", "b", "c"]], train.y)


def predict_ml(model, instances):
    return pd.DataFrame({"prediction": model.predict(instances)})
'''

REGISTRY = '''\
"""Pipelines of the benchmark project."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from benchproj import nodes

try:
    from kedro_mlflow.pipeline import pipeline_ml_factory
except ImportError:  # the runs without the plugin: ``ml`` is its training pipeline alone
    pipeline_ml_factory = None

WIDE = {wide}


def _wide(n):
    make = update_wrapper(partial(nodes.make_wide, n), nodes.make_wide)
    return Pipeline([node(make, None, [f"wide_{{i}}" for i in range(n)], name=f"wide_{{n}}")])


def register_pipelines():
    example = []
    for i in range(4):
        example += [
            node(nodes.make_raw, ["params:rows", f"params:seed_{{i}}"], f"raw_{{i}}",
                 name=f"raw_{{i}}"),
            node(nodes.features, f"raw_{{i}}", f"feat_{{i}}", name=f"feat_{{i}}"),
            node(nodes.fit, f"feat_{{i}}", f"model_{{i}}", name=f"model_{{i}}"),
        ]
    example.append(node(nodes.report, [f"model_{{i}}" for i in range(4)], "report", name="report"))
    big = []
    for i in range(4):
        big += [
            node(nodes.make_big, "params:big_size", f"big_{{i}}", name=f"make_big_{{i}}"),
            node(nodes.use_big, [f"big_{{i}}", "params:sleep_s"], f"big_summary_{{i}}",
                 name=f"use_big_{{i}}"),
        ]
    ten = [node(nodes.make_tiny, None, "ten_0", name="ten_0")]
    for i in range(1, 10):
        ten.append(node(nodes.step, f"ten_{{i - 1}}", f"ten_{{i}}", name=f"ten_{{i}}"))
    pipelines = {{
        "__default__": Pipeline(example),
        "ten": Pipeline(ten),
        "big": Pipeline(big),
        "tiny": Pipeline([node(nodes.make_tiny, None, "tiny_out", name="tiny")]),
    }}
    for n in WIDE:
        pipelines[f"wide_{{n}}"] = _wide(n)
    training = Pipeline([
        node(nodes.make_ml, "params:rows", ["ml_train", "ml_instances"], name="make_ml"),
        node(nodes.fit_ml, "ml_train", "ml_model", name="fit_ml"),
    ])
    inference = Pipeline([node(nodes.predict_ml, ["ml_model", "ml_instances"], "ml_predictions")])
    pipelines["ml"] = (
        training
        if pipeline_ml_factory is None
        else pipeline_ml_factory(training, inference, input_name="ml_instances")
    )
    return pipelines
'''


@dataclass(frozen=True)
class Sizes:
    rows: int  # rows of each raw table of the example pipeline
    big_size: int  # bytes of each of the 4 pickles of the ``big`` pipeline
    sleep_s: float  # "compute" time of each node reading a big pickle
    wide: tuple[int, ...]  # output counts of the ``wide_<N>`` pipelines


def plain_catalog() -> dict[str, dict]:
    """The plain entries; ``wide_{i}`` is a dataset factory (``wide_0`` ... ``wide_<N-1>``)."""
    entries = {}
    for i in range(4):
        entries |= {
            f"raw_{i}": ("pandas.CSVDataset", f"data/raw/raw_{i}.csv"),
            f"feat_{i}": ("pandas.ParquetDataset", f"data/feat/feat_{i}.parquet"),
            f"model_{i}": ("pickle.PickleDataset", f"data/model/model_{i}.pkl"),
            f"big_{i}": ("pickle.PickleDataset", f"data/big/big_{i}.pkl"),
        }
    entries["report"] = ("pandas.CSVDataset", "data/report/report.csv")
    entries["tiny_out"] = ("pickle.PickleDataset", "data/tiny/tiny.pkl")
    entries["wide_{i}"] = ("pickle.PickleDataset", "data/wide/{i}.pkl")
    entries["ten_{i}"] = ("pickle.PickleDataset", "data/ten/{i}.pkl")
    entries["ml_train"] = ("pandas.ParquetDataset", "data/ml/train.parquet")
    entries["ml_instances"] = ("pandas.ParquetDataset", "data/ml/instances.parquet")
    entries["ml_model"] = ("pickle.PickleDataset", "data/ml/model.pkl")
    return {name: {"type": kind, "filepath": path} for name, (kind, path) in entries.items()}


def wrapped(catalog: dict[str, dict]) -> dict[str, dict]:
    """Every entry wrapped in MlflowArtifactDataset, its folder as ``artifact_path``."""
    return {
        name: {"type": WRAPPER, "dataset": inner, "artifact_path": inner["filepath"].split("/")[1]}
        for name, inner in catalog.items()
    }


def mlflow_yml(tracking_uri: str, experiment: str) -> dict:
    """In the schema of kedro-mlflow 2.0.3, which ours keeps."""
    kwargs = {"artifact_location": None}
    experiment_conf = {"name": experiment, "create_experiment_kwargs": kwargs}
    return {
        "server": {"mlflow_tracking_uri": tracking_uri},
        "tracking": {"experiment": experiment_conf},
    }


def write(path: Path, content: str | dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1) + "\n")


def generate(
    root: Path, sizes: Sizes, kedro_version: str, stores: dict[str, tuple[str, str]]
) -> Path:
    """Write the project into ``root`` (replacing it). ``stores``: env -> (uri, experiment).

    ``base`` gets the plain catalog and ``stores["base"]``; every other env the wrapped catalog
    and, unless it is ``mlflow`` (which inherits base's), its own ``mlflow.yml``.
    """
    shutil.rmtree(root, ignore_errors=True)
    package = root / "src" / PACKAGE
    write(root / "pyproject.toml", PYPROJECT.format(kedro_version=kedro_version))
    write(package / "__init__.py", '__version__ = "0.1.0"\n')
    write(package / "settings.py", SETTINGS)
    write(package / "timing_hooks.py", TIMING_HOOKS)
    write(package / "nodes.py", NODES)
    write(package / "pipeline_registry.py", REGISTRY.format(wide=list(sizes.wide)))
    conf = root / "conf"
    params = {"rows": sizes.rows, "big_size": sizes.big_size, "sleep_s": sizes.sleep_s}
    write(conf / "base" / "parameters.yml", params | {f"seed_{i}": i for i in range(4)})
    write(conf / "base" / "catalog.yml", plain_catalog())
    (conf / "local").mkdir()
    for env, (uri, experiment) in stores.items():
        if env != "mlflow":
            write(conf / env / "mlflow.yml", mlflow_yml(uri, experiment))
        if env != "base":
            write(conf / env / "catalog.yml", wrapped(plain_catalog()))
    return root
