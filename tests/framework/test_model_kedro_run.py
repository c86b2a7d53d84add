"""`kedro run` of a real project whose catalog has the model datasets; the store checked after."""

from __future__ import annotations

import json

import mlflow
import pytest

from tests.helpers import PACKAGE, all_runs, artifacts, kedro, store_uri, write

NODES = '''
"""A tiny model trained, logged two ways, and used by a later node."""

import numpy as np
from sklearn.linear_model import LinearRegression


def train(n):
    x = np.arange(n, dtype=float).reshape(-1, 1)
    model = LinearRegression().fit(x, 2 * x[:, 0])
    return model, model


def predict(model):
    return {"at_10": float(model.predict(np.array([[10.0]]))[0])}
'''

PIPELINES = """
from kedro.pipeline import Pipeline, node

from tracked_project.nodes import predict, train


def register_pipelines():
    return {
        "__default__": Pipeline([
            node(train, "params:n", ["regressor", "regressor_folder"], name="train"),
            node(predict, "regressor", "prediction", name="predict"),
        ])
    }
"""

CATALOG = """
regressor:
  type: kedro_mlflow.io.models.MlflowModelTrackingDataset
  flavor: mlflow.sklearn
  save_args:
    registered_model_name: spaceflights
    alias: champion

regressor_folder:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset
    flavor: mlflow.sklearn
    filepath: data/06_models/regressor_folder

prediction:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: json.JSONDataset
    filepath: data/07_model_output/prediction.json
"""


@pytest.mark.parametrize("args", [[], ["--runner", "ThreadRunner"]], ids=["sequential", "thread"])
def test_kedro_run_logs_both_model_datasets_into_its_run(project, args):
    write(project / "src" / PACKAGE / "nodes.py", NODES)
    write(project / "src" / PACKAGE / "pipeline_registry.py", PIPELINES)
    write(project / "conf" / "base" / "catalog.yml", CATALOG)
    kedro(project, "run", *args)

    uri = store_uri(project)
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    client = mlflow.MlflowClient(uri)
    [model] = client.search_logged_models([run.info.experiment_id])
    assert (model.name, model.source_run_id) == ("regressor", run.info.run_id)
    aliases = client.get_registered_model("spaceflights").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1"}
    logged = artifacts(run.info.run_id, tracking_uri=uri)
    assert "regressor_folder/MLmodel" in logged
    assert "prediction.json" in logged
    prediction = project / "data" / "07_model_output" / "prediction.json"
    assert json.loads(prediction.read_text()) == {"at_10": pytest.approx(20.0)}
