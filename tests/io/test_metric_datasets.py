"""The metric datasets on a real sqlite store: kedro-mlflow 2.x's YAML and results, and errors."""

from __future__ import annotations

import mlflow
import pytest
from kedro.io import DataCatalog, DatasetError

from kedro_mlflow.io.catalog import switch_catalog_logging
from kedro_mlflow.io.metrics import (
    MlflowMetricDataset,
    MlflowMetricHistoryDataset,
    MlflowMetricsHistoryDataset,
)


def _steps(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in mlflow.MlflowClient().get_metric_history(run_id, key)]


def test_overwrite_logs_at_the_last_step_and_append_at_the_next(sqlite_store):
    """As in 2.0.3: overwrite (the default) reuses the last step, append takes the next one."""
    with mlflow.start_run() as run:
        MlflowMetricDataset(key="acc").save(0.1)
        MlflowMetricDataset(key="acc", save_args={"mode": "append"}).save(0.2)
        MlflowMetricDataset(key="acc").save(0.3)
        MlflowMetricDataset(key="acc", save_args={"step": 7}).save(0.4)
    assert _steps(run.info.run_id, "acc") == [(0, 0.1), (1, 0.2), (1, 0.3), (7, 0.4)]
    reader = MlflowMetricDataset(key="acc", run_id=run.info.run_id)
    assert reader.load() == 0.4
    assert (
        MlflowMetricDataset(key="acc", run_id=run.info.run_id, load_args={"step": 1}).load() == 0.3
    )
    assert reader.exists()
    with pytest.raises(
        DatasetError, match=r"no metric 'acc' at step 3 \(steps logged: \[0, 1, 7\]\)"
    ):
        MlflowMetricDataset(key="acc", run_id=run.info.run_id, load_args={"step": 3}).load()


@pytest.mark.parametrize(
    ("mode", "data", "loaded_as_list"),
    [
        ("list", [0.5, 0.25, 0.125], [0.5, 0.25, 0.125]),
        ("dict", {0: 0.5, 2: 0.125}, [0.5, 0.125]),
        (
            "history",
            [
                {"step": 0, "value": 0.5, "timestamp": 1000},
                {"step": 1, "value": 0.25, "timestamp": 2000},
            ],
            [0.5, 0.25],
        ),
    ],
)
def test_a_history_round_trips_in_each_mode(sqlite_store, mode, data, loaded_as_list):
    with mlflow.start_run() as run:
        MlflowMetricHistoryDataset(key="loss", save_args={"mode": mode}).save(data)
    loaded = MlflowMetricHistoryDataset(
        key="loss", run_id=run.info.run_id, load_args={"mode": mode}
    ).load()
    assert loaded == data
    assert MlflowMetricHistoryDataset(key="loss", run_id=run.info.run_id).load() == loaded_as_list


def test_a_long_history_is_logged_whole_in_batches(sqlite_store):
    """2,500 points: three log_batch calls (MLflow's limit is 1,000), every point kept."""
    values = [i / 2500 for i in range(2500)]
    with mlflow.start_run() as run:
        MlflowMetricHistoryDataset(key="curve").save(values)
    assert MlflowMetricHistoryDataset(key="curve", run_id=run.info.run_id).load() == values


def test_metrics_history_logs_prefixed_names_and_loads_the_same_shape(sqlite_store):
    data = {
        "f1": {"value": 0.7, "step": 0},
        "auc": [{"value": 0.8, "step": 0}, {"value": 0.9, "step": 1}],
    }
    with mlflow.start_run() as run:
        MlflowMetricsHistoryDataset(prefix="val").save(data)
        mlflow.log_metric("validation", 1.0)  # starts with the prefix, but not "val."
    assert set(mlflow.get_run(run.info.run_id).data.metrics) == {"val.f1", "val.auc", "validation"}
    reader = MlflowMetricsHistoryDataset(run_id=run.info.run_id, prefix="val")
    assert reader.load() == data
    assert reader.exists()
    assert not MlflowMetricsHistoryDataset(run_id=run.info.run_id, prefix="test").exists()


def test_an_unknown_mode_is_refused_at_construction(sqlite_store):
    """2.0.3 accepted it and silently logged nothing."""
    with pytest.raises(DatasetError, match=r"save_args 'mode' is 'lst'; it must be one of list"):
        MlflowMetricHistoryDataset(key="loss", save_args={"mode": "lst"})
    with pytest.raises(DatasetError, match=r"load_args 'mode' is 'table'"):
        MlflowMetricHistoryDataset(key="loss", load_args={"mode": "table"})
    with pytest.raises(DatasetError, match=r"'mode' is 'add'; it must be one of overwrite, append"):
        MlflowMetricDataset(key="acc", save_args={"mode": "add"})


def test_a_value_that_is_not_a_number_is_refused_naming_the_dataset(sqlite_store):
    with mlflow.start_run():
        with pytest.raises(DatasetError, match=r"MlflowMetricDataset 'acc'.*must be a number.*str"):
            MlflowMetricDataset(key="acc").save("0.9")
        with pytest.raises(DatasetError, match=r"must be a number.*bool"):
            MlflowMetricHistoryDataset(key="loss").save([True])
        with pytest.raises(DatasetError, match=r"mode 'dict' takes a \{step: value\} dict"):
            MlflowMetricHistoryDataset(key="loss", save_args={"mode": "dict"}).save([1.0])


def test_a_save_with_no_run_is_refused_and_starts_none(sqlite_store):
    """2.0.3 started a run for it and left it open."""
    with pytest.raises(DatasetError, match=r"no MLflow run to log the metric into"):
        MlflowMetricDataset(key="acc").save(0.9)
    assert mlflow.active_run() is None
    assert mlflow.search_runs([sqlite_store.experiment_id]).empty


def test_an_unknown_run_id_is_named(sqlite_store):
    missing = "f" * 32
    with pytest.raises(DatasetError, match=rf"MLflow run '{missing}' was not found"):
        MlflowMetricDataset(key="acc", run_id=missing).save(0.9)
    with pytest.raises(DatasetError, match=rf"MLflow run '{missing}' was not found"):
        MlflowMetricsHistoryDataset(run_id=missing, prefix="p").load()
    assert not MlflowMetricDataset(key="acc", run_id=missing).exists()


def test_a_metric_of_another_run_is_logged_there(sqlite_store):
    target = mlflow.MlflowClient().create_run(sqlite_store.experiment_id).info.run_id
    with mlflow.start_run() as active:
        MlflowMetricDataset(key="acc", run_id=target).save(0.5)
    assert _steps(target, "acc") == [(0, 0.5)]
    assert _steps(active.info.run_id, "acc") == []


def test_switch_catalog_logging_turns_metric_saves_off(sqlite_store):
    catalog = DataCatalog.from_config(
        {
            "acc": {"type": "kedro_mlflow.io.metrics.MlflowMetricDataset", "key": "acc"},
            "loss": {"type": "kedro_mlflow.io.metrics.MlflowMetricHistoryDataset", "key": "loss"},
            "all": {"type": "kedro_mlflow.io.metrics.MlflowMetricsHistoryDataset", "prefix": "p"},
        }
    )
    switch_catalog_logging(catalog, False)
    with mlflow.start_run() as run:
        catalog.save("acc", 0.9)
        catalog.save("loss", [0.1])
        catalog.save("all", {"x": {"value": 1.0, "step": 0}})
    assert mlflow.get_run(run.info.run_id).data.metrics == {}
    with pytest.raises(ValueError, match="must be a boolean"):
        catalog["acc"]._logging_activated = "no"


def test_a_metric_without_key_outside_kedro_run_says_to_give_one(sqlite_store):
    with mlflow.start_run(), pytest.raises(DatasetError, match=r"has no 'key'.*Give 'key'"):
        MlflowMetricDataset().save(1.0)
