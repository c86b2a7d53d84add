"""`kedro run` of a real project whose catalog has the three metric datasets."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
from mlflow.entities import Run

from tests.helpers import PACKAGE, all_runs, kedro, store_uri, write

NODES = '''
"""Metrics computed by nodes."""


def score(n):
    return float(n) / 10, [0.5, 0.25, 0.125], {"f1": {"value": 0.7, "step": 0}}


def per_fold(n):
    return {step: step * 0.1 for step in range(n)}
'''

PIPELINES = """
from kedro.pipeline import Pipeline, node

from tracked_project.nodes import per_fold, score


def register_pipelines():
    return {
        "__default__": Pipeline([
            node(score, "params:n", ["accuracy", "loss", "report"], name="score"),
            node(per_fold, "params:n", "fold_scores", name="per_fold"),
        ])
    }
"""

CATALOG = """
accuracy:
  type: kedro_mlflow.io.metrics.MlflowMetricDataset
  metadata:
    kedro-viz:
      layer: metrics

loss:
  type: kedro_mlflow.io.metrics.MlflowMetricHistoryDataset
  key: training_loss

report:
  type: kedro_mlflow.io.metrics.MlflowMetricsHistoryDataset

"{name}_scores":
  type: kedro_mlflow.io.metrics.MlflowMetricHistoryDataset
  save_args:
    mode: dict
"""


def run_project(project: Path, nodes: str, pipelines: str, catalog: str) -> Run:
    """`kedro run` of ``project`` with these nodes, pipeline registry and catalog: its run."""
    write(project / "src" / PACKAGE / "nodes.py", nodes)
    write(project / "src" / PACKAGE / "pipeline_registry.py", pipelines)
    write(project / "conf" / "base" / "catalog.yml", catalog)
    kedro(project, "run")
    (run,) = all_runs(store_uri(project))
    assert run.info.status == "FINISHED"
    return run


def test_kedro_run_logs_every_metric_dataset_named_after_its_entry(project):
    """2.x fails for factory-made entries (#660) and drops `metadata` when it names them."""
    run = run_project(project, NODES, PIPELINES, CATALOG)
    client = mlflow.MlflowClient(store_uri(project))
    n = int(run.data.params["n"])
    history = {key: client.get_metric_history(run.info.run_id, key) for key in run.data.metrics}
    steps = {key: [(m.step, m.value) for m in values] for key, values in history.items()}
    assert steps["accuracy"] == [(0, n / 10)]
    assert steps["training_loss"] == [(0, 0.5), (1, 0.25), (2, 0.125)]
    assert steps["report.f1"] == [(0, 0.7)]
    assert sorted(steps["fold_scores"]) == [(step, step * 0.1) for step in range(n)]
    assert set(steps) == {"accuracy", "training_loss", "report.f1", "fold_scores"}


WATCH_NODES = '''
"""A metric, then a node saying whether the kedro run process has imported MLflow."""

import sys


def score(n):
    return float(n) / 10, [0.5, 0.25], True


def mlflow_imported(ready):
    return {"mlflow": "mlflow" in sys.modules}
'''

WATCH_PIPELINES = """
from kedro.pipeline import Pipeline, node

from tracked_project.nodes import mlflow_imported, score


def register_pipelines():
    return {
        "__default__": Pipeline([
            node(score, "params:n", ["accuracy", "loss", "ready"], name="score"),
            node(mlflow_imported, "ready", "imported", name="watch"),
        ])
    }
"""

WATCH_CATALOG = """
accuracy:
  type: kedro_mlflow.io.metrics.MlflowMetricDataset

loss:
  type: kedro_mlflow.io.metrics.MlflowMetricHistoryDataset

imported:
  type: json.JSONDataset
  filepath: data/08_reporting/imported.json
"""


def test_metrics_do_not_import_mlflow_into_the_kedro_run_process(project):
    """The helper process holds the run: a metric is a few bytes over its pipe."""
    run = run_project(project, WATCH_NODES, WATCH_PIPELINES, WATCH_CATALOG)
    assert json.loads((project / "data" / "08_reporting" / "imported.json").read_text()) == {
        "mlflow": False
    }
    client = mlflow.MlflowClient(store_uri(project))
    assert run.data.metrics["accuracy"] == int(run.data.params["n"]) / 10
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [0.5, 0.25]
