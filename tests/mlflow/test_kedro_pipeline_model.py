"""KedroPipelineModel: logged with mlflow.pyfunc, loaded back, predicting like Kedro does."""

from __future__ import annotations

import logging

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro.runner import SequentialRunner, ThreadRunner

from kedro_mlflow.mlflow import KedroPipelineModel, KedroPipelineModelError
from tests.helpers import artifacts, csv


def scale(data: pd.DataFrame, factor: float) -> pd.DataFrame:
    return data * factor


def shift(scaled: pd.DataFrame, model: dict) -> pd.DataFrame:
    return scaled + model["offset"]


INFERENCE = pipeline(
    [
        node(scale, ["data", "params:factor"], "scaled", name="scale"),
        node(shift, ["scaled", "model"], "predictions", name="shift"),
    ]
)
DATA = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})


@pytest.fixture
def catalog(tmp_path) -> DataCatalog:
    """The project's catalog: the intermediate `scaled` is an MLflow artifact dataset."""
    return DataCatalog(
        {
            "model": MemoryDataset({"offset": 10.0}),
            "params:factor": MemoryDataset(2.0),
            "scaled": csv(tmp_path / "scaled.csv"),
        }
    )


def kedro_predictions(catalog: DataCatalog, data: pd.DataFrame) -> pd.DataFrame:
    """The inference pipeline run by Kedro itself on ``data``."""
    run_catalog = DataCatalog(
        {name: MemoryDataset(catalog.load(name)) for name in ("model", "params:factor")}
        | {"data": MemoryDataset(data)}
    )
    SequentialRunner().run(INFERENCE, run_catalog)
    return run_catalog.load("predictions")


def log(kpm: KedroPipelineModel, folder) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=kpm,
            artifacts=kpm.extract_pipeline_artifacts(folder),
        )
    return info.model_uri


def test_a_logged_model_predicts_what_kedro_computes(sqlite_store, catalog, tmp_path):
    uri = log(KedroPipelineModel(INFERENCE, catalog, input_name="data"), tmp_path / "artifacts")
    loaded = mlflow.pyfunc.load_model(uri)
    pd.testing.assert_frame_equal(loaded.predict(DATA), kedro_predictions(catalog, DATA))
    assert loaded.predict(DATA)["a"].tolist() == [12.0, 14.0]


def test_predicting_writes_nothing_to_the_active_run(sqlite_store, catalog, tmp_path):
    uri = log(KedroPipelineModel(INFERENCE, catalog, input_name="data"), tmp_path / "artifacts")
    loaded = mlflow.pyfunc.load_model(uri)
    with mlflow.start_run() as run:
        loaded.predict(DATA)
    assert artifacts(run.info.run_id) == []
    assert not (tmp_path / "scaled.csv").exists()


def test_a_prediction_leaves_kedro_info_lines_out_and_warnings_in(catalog, caplog):
    kpm = KedroPipelineModel(INFERENCE, catalog, input_name="data")
    kpm.loaded_catalog = {"model": {"offset": 0.0}, "params:factor": 1.0}
    kedro_logger = logging.getLogger("kedro")
    kedro_logger.setLevel(logging.INFO)  # as Kedro's logging configuration sets it
    try:
        with caplog.at_level(logging.INFO):
            kpm.predict(None, DATA)
            logging.getLogger("kedro.runner").warning("still shown")
        assert kedro_logger.level == logging.INFO  # restored
    finally:
        kedro_logger.setLevel(logging.NOTSET)
    kedro_lines = [r for r in caplog.records if r.name.startswith("kedro")]
    assert [r.getMessage() for r in kedro_lines] == ["still shown"]
    # Kedro does log these lines outside a prediction: the check above can fail.
    with caplog.at_level(logging.INFO, logger="kedro"):
        kedro_predictions(catalog, DATA)
    assert any("Running node" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("runner", ["SequentialRunner", "ThreadRunner"])
def test_the_runner_is_a_predict_param(sqlite_store, catalog, tmp_path, runner):
    kpm = KedroPipelineModel(INFERENCE, catalog, input_name="data", runner=ThreadRunner())
    loaded = mlflow.pyfunc.load_model(log(kpm, tmp_path / "artifacts"))
    predictions = loaded.unwrap_python_model().predict(None, DATA, params={"runner": runner})
    assert predictions["b"].tolist() == [16.0, 18.0]


def test_an_unknown_runner_param_is_refused(catalog):
    kpm = KedroPipelineModel(INFERENCE, catalog, input_name="data")
    kpm.loaded_catalog = {"model": {"offset": 0.0}, "params:factor": 1.0}
    with pytest.raises(KedroPipelineModelError, match="'NoSuchRunner'"):
        kpm.predict(None, DATA, params={"runner": "NoSuchRunner"})


@pytest.mark.parametrize("copy_mode", ["assign", "deepcopy", {"model": "deepcopy"}])
def test_copy_modes_predict_alike(sqlite_store, catalog, tmp_path, copy_mode):
    kpm = KedroPipelineModel(INFERENCE, catalog, input_name="data", copy_mode=copy_mode)
    loaded = mlflow.pyfunc.load_model(log(kpm, tmp_path / "artifacts"))
    assert loaded.predict(DATA)["a"].tolist() == [12.0, 14.0]


def test_a_wrong_input_name_is_refused_naming_the_inputs(catalog):
    with pytest.raises(
        KedroPipelineModelError, match=r"'rows'.*\['data', 'model', 'params:factor'\]"
    ):
        KedroPipelineModel(INFERENCE, catalog, input_name="rows")


def test_an_input_missing_from_the_catalog_is_named(catalog):
    with pytest.raises(KedroPipelineModelError, match=r"\['model'\]"):
        KedroPipelineModel(
            INFERENCE, DataCatalog({"params:factor": MemoryDataset(2.0)}), input_name="data"
        )


def test_a_pipeline_with_two_outputs_is_refused(catalog):
    two = INFERENCE + pipeline([node(scale, ["data", "params:factor"], "other", name="x")])
    with pytest.raises(KedroPipelineModelError, match=r"\['other', 'predictions'\]"):
        KedroPipelineModel(two, catalog, input_name="data")


def test_an_unknown_copy_mode_is_refused(catalog):
    with pytest.raises(KedroPipelineModelError, match=r"\['shallow'\]"):
        KedroPipelineModel(INFERENCE, catalog, input_name="data", copy_mode={"model": "shallow"})
