"""`kedro run`: a metric saved by a node reading a model and data of the run is linked to both;
the model, registered on save, loads back from the registry in the same run."""

from __future__ import annotations

import json

import mlflow

from tests.framework.test_metric_kedro_run import run_project
from tests.helpers import store_uri

NODES = '''
"""Fit a line, score it on the table it was fitted on."""

import pandas as pd
from sklearn.linear_model import LinearRegression


def make(n):
    table = pd.DataFrame({"x": [float(i) for i in range(n)]})
    return table.assign(y=2 * table.x + 1)


def fit(table):
    return LinearRegression().fit(table[["x"]], table.y)


def evaluate(model, table):
    r2 = float(model.score(table[["x"]], table.y))
    return r2, [r2 / 2, r2], r2


def same(registered, model, table):
    """The registry's champion, loaded by MlflowModelRegistryDataset, is the model just fitted."""
    x = table[["x"]]
    return {"same": registered.predict(x).tolist() == model.predict(x).tolist()}
'''

PIPELINES = """
from kedro.pipeline import Pipeline, node

from tracked_project.nodes import evaluate, fit, make, same


def register_pipelines():
    return {
        "__default__": Pipeline([
            node(make, "params:n", "table", name="make"),
            node(fit, "table", "regressor", name="fit"),
            node(evaluate, ["regressor", "table"], ["r2", "r2_steps", "unlinked"], name="score"),
            node(same, ["champion", "regressor", "table"], "same", name="same"),
        ])
    }
"""

CATALOG = """
table:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/01_raw/table.csv

regressor:
  type: kedro_mlflow.io.models.MlflowModelTrackingDataset
  flavor: mlflow.sklearn
  save_args:
    registered_model_name: line
    alias: champion

champion:
  type: kedro_mlflow.io.models.MlflowModelRegistryDataset
  model_name: line
  alias: champion
  flavor: mlflow.sklearn

same:
  type: json.JSONDataset
  filepath: data/08_reporting/same.json

r2:
  type: kedro_mlflow.io.metrics.MlflowMetricDataset

r2_steps:
  type: kedro_mlflow.io.metrics.MlflowMetricHistoryDataset

unlinked:
  type: kedro_mlflow.io.metrics.MlflowMetricDataset
  metadata:
    kedro_mlflow:
      link: false
"""


def test_metrics_are_linked_to_the_model_and_the_data_the_node_read(project):
    """2.0.3 never links them: the model's page shows no metric."""
    run = run_project(project, NODES, PIPELINES, CATALOG)
    client = mlflow.MlflowClient(store_uri(project))
    [output] = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    [table] = [d.dataset for d in run.inputs.dataset_inputs if d.dataset.name == "table"]
    linked = sorted((m.key, m.step, m.value) for m in model.metrics)
    assert linked == [("r2", 0, 1.0), ("r2_steps", 0, 0.5), ("r2_steps", 1, 1.0)]
    assert {(m.dataset_name, m.dataset_digest) for m in model.metrics} == {("table", table.digest)}
    # The opted-out metric is the run's only.
    assert run.data.metrics["unlinked"] == 1.0
    # The models of the experiment can be searched on the metrics they were linked to.
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="metrics.r2 > 0.9"
    )
    assert [m.model_id for m in found] == [model.model_id]
    # Registered on save, then loaded from the registry by alias in the same run.
    assert client.get_model_version_by_alias("line", "champion").source == (
        f"models:/{model.model_id}"
    )
    same = (project / "data" / "08_reporting" / "same.json").read_text()
    assert json.loads(same) == {"same": True}
