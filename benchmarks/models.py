"""The model workloads, against 2.0.3.

10: save and load a tiny sklearn model with MlflowModelTrackingDataset. Each measured process
imports, fits a 2-point LinearRegression, saves it in a run of a sqlite store made by an untimed
first run, and (the load case) loads it back by its ``models:/`` URI. Ours reuses the pip
requirements inferred by that first run; 2.0.3 infers them on every save.

11: ``kedro run`` of the project's ``ml`` pipeline, a ``pipeline_ml_factory`` whose inference
pipeline is logged as a model at the run's end: the time from the last node's return to the
run's end (the ``tail`` of the timing hooks), ours against 2.0.3's.

12: the metric datasets: 100 saves of one metric in ``append`` mode (one per epoch), and a
history of 1,000 points, in a run of a sqlite store; the saves timed inside the process
(MLflow's import and the store's opening are the same for both and would hide them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import harness as h
from harness import MAIN_PY, Case
from report import Target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness import Sample
    from session import Session


def variants(s: Session, folder: str) -> Iterator[tuple[str, Path, str, Path]]:
    """Ours and, when its venv was built, 2.0.3: key, Python, label, a work folder of its own."""
    for key, python, label in (("ours", MAIN_PY, "ours"), ("upstream", s.upstream_py, "2.0.3")):
        if python is not None:
            root = h.WORK / folder / key
            root.mkdir(parents=True, exist_ok=True)
            yield key, python, label, root


def detail_target(
    s: Session,
    c: dict[str, Case],
    name: str,
    limit: float,
    detail: Callable[[Sample], float | None],
) -> None:
    """A target on a measure taken inside each process (``detail`` of a sample), ours against
    2.0.3's, medians of each."""

    def median(key: str) -> float | None:
        case = c.get(key)
        return case.median_of(detail) if case is not None and case.ok else None

    s.add(
        Target(
            name=name, baseline="2.0.3's", ours=median("ours"), base=median("upstream"), limit=limit
        )
    )


SCRIPT = """
import sys
import mlflow, numpy as np
from sklearn.linear_model import LinearRegression
from kedro_mlflow.io.models import MlflowModelTrackingDataset
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
mlflow.set_experiment("models")
if sys.argv[2] == "save":
    model = LinearRegression().fit(np.array([[1.0], [2.0]]), np.array([1.0, 2.0]))
    with mlflow.start_run():
        MlflowModelTrackingDataset(flavor="mlflow.sklearn", save_args={"name": "m"}).save(model)
else:
    [found] = mlflow.search_logged_models(output_format="list", max_results=1)
    uri = f"models:/{found.model_id}"
    MlflowModelTrackingDataset(flavor="mlflow.sklearn", load_args={"model_uri": uri}).load()
"""


def model_datasets(s: Session) -> None:
    """A model save at most half of 2.0.3's; a load no slower than 2.0.3's."""
    for action in ("save", "load"):
        cases = {}
        for key, python, label, root in variants(s, "models"):
            env = h.clean_env(KEDRO_MLFLOW_CACHE_DIR=str(root / "cache"))
            cmd = [str(python), "-c", SCRIPT, str(root), action]
            cases[key] = Case(f"{label}: {action} a tiny sklearn model", cmd, env)
            if action == "save":  # the store, a model to load, ours' requirements (untimed)
                h.run_once(cases[key])
        title = f"10. MlflowModelTrackingDataset: {action} a tiny sklearn model (local sqlite)"
        c = s.compare(title, cases, weight="mid")
        if "upstream" in c:
            limit = 0.5 if action == "save" else 1.1
            name, baseline = f"model {action} (whole process)", f"2.0.3's {action}"
            s.target(c, name=name, baseline=baseline, limit=limit, base="upstream", upstream=None)


def pipeline_model(s: Session) -> None:
    """The end of a PipelineML run (logging its model) at most half of 2.0.3's."""
    runs = {
        "plain": ("training alone, no plugin", s.shadow("main", False), "local"),
        "ours": ("ours", MAIN_PY, "mlflow"),
        "upstream": ("kedro-mlflow 2.0.3", s.upstream_py, "mlflow"),
    }
    cases = {
        key: s.kedro_run(name, python, env, "ml", s.local_uri, "bench-kedro")
        for key, (name, python, env) in runs.items()
        if python is not None
    }
    title = "11. `kedro run` of a `pipeline_ml_factory` pipeline (a LinearRegression fit, its "
    title += "inference pipeline logged as a model at the end), local sqlite store"
    c = s.compare(title, cases, weight="mid", detail="hooks")
    name = "last node's end to the run's end, PipelineML model logged"
    detail_target(s, c, name, 0.5, lambda x: x.extra.get("hooks", {}).get("tail"))


METRIC_SCRIPT = """
import json, sys, time
import mlflow
from kedro_mlflow.io.metrics import MlflowMetricDataset, MlflowMetricHistoryDataset
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
mlflow.set_experiment("metrics")
with mlflow.start_run():
    if sys.argv[2] == "metric":  # one value per epoch, 100 epochs
        dataset = MlflowMetricDataset(key="accuracy", save_args={"mode": "append"})
        dataset.save(0.0)  # MLflow's first queries (SQLAlchemy compiles them), untimed
        start = time.perf_counter()
        for epoch in range(100):
            dataset.save(epoch / 100)
    else:
        dataset = MlflowMetricHistoryDataset(key="loss")
        start = time.perf_counter()
        dataset.save([1 / (1 + i) for i in range(1000)])
    print("BENCH " + json.dumps({"phases": {"save": time.perf_counter() - start}}))
"""


def metric_datasets(s: Session) -> None:
    """A history of 1,000 points at most a tenth of 2.0.3's; a metric per epoch no slower."""
    for what, text, limit in (
        ("metric", "save a metric at 100 epochs (MlflowMetricDataset, append)", 1.0),
        ("history", "save a 1,000-point history (MlflowMetricHistoryDataset)", 0.1),
    ):
        cases = {}
        for key, python, label, root in variants(s, "metrics"):
            cmd = [str(python), "-c", METRIC_SCRIPT, str(root), what]
            cases[key] = Case(f"{label}: {text}", cmd, h.clean_env())
        c = s.compare(f"12. {text}, local sqlite", cases, weight="mid", detail="phases")
        save = lambda x: x.info.get("phases", {}).get("save")  # noqa: E731
        detail_target(s, c, f"{what} saves (in the process)", limit, save)
