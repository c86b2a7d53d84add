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
    from session import Session

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
    pythons = {"ours": MAIN_PY, "upstream": s.upstream_py}
    for action in ("save", "load"):
        cases = {}
        for key, python in pythons.items():
            if python is None:
                continue
            root = h.WORK / "models" / key
            root.mkdir(parents=True, exist_ok=True)
            env = h.clean_env(KEDRO_MLFLOW_CACHE_DIR=str(root / "cache"))
            cmd = [str(python), "-c", SCRIPT, str(root), action]
            label = "ours" if key == "ours" else "2.0.3"
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

    def tail(key: str) -> float | None:
        case = c.get(key)
        if case is None or not case.ok:
            return None
        return case.median_of(lambda x: x.extra.get("hooks", {}).get("tail"))

    s.add(
        Target(
            name="last node's end to the run's end, PipelineML model logged",
            baseline="2.0.3's",
            ours=tail("ours"),
            base=tail("upstream"),
            limit=0.5,
        )
    )


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
    pythons = {"ours": MAIN_PY, "upstream": s.upstream_py}
    for what, text, limit in (
        ("metric", "save a metric at 100 epochs (MlflowMetricDataset, append)", 1.0),
        ("history", "save a 1,000-point history (MlflowMetricHistoryDataset)", 0.1),
    ):
        cases = {}
        for key, python in pythons.items():
            if python is None:
                continue
            root = h.WORK / "metrics" / key
            root.mkdir(parents=True, exist_ok=True)
            cmd = [str(python), "-c", METRIC_SCRIPT, str(root), what]
            label = "ours" if key == "ours" else "2.0.3"
            cases[key] = Case(f"{label}: {text}", cmd, h.clean_env())
        c = s.compare(f"12. {text}, local sqlite", cases, weight="mid", detail="phases")

        def save_s(key: str, c: dict[str, Case] = c) -> float | None:
            case = c.get(key)
            if case is None or not case.ok:
                return None
            return case.median_of(lambda x: x.info.get("phases", {}).get("save"))

        s.add(
            Target(
                name=f"{what} saves (in the process)",
                baseline="2.0.3's",
                ours=save_s("ours"),
                base=save_s("upstream"),
                limit=limit,
            )
        )
