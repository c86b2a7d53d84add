"""MlflowArtifactDataset as kedro-mlflow 2.0.3's users and tools reach it.

Its public attributes (``run_id``, ``artifact_path``), what kedro-viz reads from a dataset,
and the datasets of kedro-mlflow 2.x that this package does not provide.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from kedro.io import AbstractDataset, DataCatalog, DatasetError
from kedro_datasets.pandas import CSVDataset

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from tests.helpers import csv

# -- run_id and artifact_path -----------------------------------------------------------


def test_run_id_and_artifact_path_are_public(tmp_path):
    """Upstream users read `dataset.run_id` / `dataset.artifact_path`; ours were private."""
    dataset = csv(tmp_path / "f.csv", run_id="0123abcd", artifact_path="reporting")
    assert dataset.run_id == "0123abcd"
    assert dataset.artifact_path == "reporting"

    plain = csv(tmp_path / "f.csv")
    assert plain.run_id is None
    assert plain.artifact_path is None


def test_setting_run_id_after_construction_changes_where_load_reads(sqlite_store, tmp_path):
    """Notebooks set `catalog["model"].run_id = "..."` then load: ours read the local file."""
    first, second = pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})
    with mlflow.start_run() as run_1:
        csv(tmp_path / "f.csv").save(first)
    with mlflow.start_run() as run_2:
        csv(tmp_path / "f.csv").save(second)
    (tmp_path / "f.csv").write_text("a\n3\n")

    dataset = csv(tmp_path / "f.csv")
    dataset.run_id = run_1.info.run_id
    assert dataset.run_id == run_1.info.run_id
    pd.testing.assert_frame_equal(dataset.load(), first)

    dataset.run_id = run_2.info.run_id
    pd.testing.assert_frame_equal(dataset.load(), second)

    dataset.run_id = None
    assert dataset.load()["a"].tolist() == [3]
    assert (tmp_path / "f.csv").read_text() == "a\n3\n"


# -- what kedro-viz reads ---------------------------------------------------------------


def kedro_viz_view(dataset: AbstractDataset[Any, Any]) -> dict[str, Any]:
    """What kedro-viz shows of a catalog dataset, read the way kedro-viz reads it.

    kedro_viz.models.utils.get_dataset_type (the type), model_utils._parse_filepath (a
    top-level "filepath" or "path" of ``_describe()``), node_metadata.DataNodeMetadata
    (``preview(**metadata["kedro-viz"]["preview_args"])`` if the dataset has ``preview``,
    and the name of its return annotation as the preview type).
    """
    cls = type(dataset)
    description = dataset._describe()
    view: dict[str, Any] = {
        "type": ".".join(cls.__module__.split(".")[-2:]) + f".{cls.__qualname__}",
        "filepath": description.get("filepath") or description.get("path"),
        "preview": None,
        "preview_type": None,
    }
    if hasattr(dataset, "preview"):
        viz = (dataset.metadata or {}).get("kedro-viz") or {}
        view["preview"] = dataset.preview(**viz.get("preview_args", {}))
        annotation = inspect.signature(dataset.preview).return_annotation
        view["preview_type"] = getattr(annotation, "__name__", str(annotation))
    return view


def test_kedro_viz_shows_the_type_filepath_and_table_preview(tmp_path):
    """Upstream's dynamic subclass inherited the inner dataset's preview and description;
    ours had no preview() (kedro-viz showed no table) and no top-level filepath."""
    path = tmp_path / "companies.csv"
    pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}).to_csv(path, index=False)
    dataset = MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(path)},
        metadata={"kedro-viz": {"layer": "raw", "preview_args": {"nrows": 2}}},
    )

    view = kedro_viz_view(dataset)

    assert view["type"].endswith(".MlflowArtifactDataset")
    assert str(view["filepath"]) == str(path)
    assert view["preview"] == CSVDataset(filepath=str(path)).preview(nrows=2)
    assert view["preview"]["data"] == [[1, "a"], [2, "b"]]
    assert view["preview_type"] == "TablePreview"


def test_kedro_viz_previews_nothing_when_the_wrapped_dataset_has_no_preview(tmp_path):
    """kedro-viz calls preview() whenever the attribute exists, and warns when it fails."""
    dataset = MlflowArtifactDataset(
        dataset={"type": "pickle.PickleDataset", "filepath": str(tmp_path / "m.pkl")}
    )
    assert not hasattr(dataset, "preview")
    assert kedro_viz_view(dataset)["preview"] is None


# -- kedro-mlflow 2.x's metric datasets, by their short and full module paths ---------------

METRIC_TYPES = [
    "kedro_mlflow.io.metrics.MlflowMetricDataset",
    "kedro_mlflow.io.metrics.mlflow_metric_dataset.MlflowMetricDataset",
    "kedro_mlflow.io.metrics.MlflowMetricHistoryDataset",
    "kedro_mlflow.io.metrics.mlflow_metric_history_dataset.MlflowMetricHistoryDataset",
]


@pytest.mark.parametrize("type_name", METRIC_TYPES)
def test_a_catalog_entry_of_a_metric_dataset_builds_by_its_2x_path(type_name):
    catalog = DataCatalog.from_config({"scores": {"type": type_name, "key": "accuracy"}})
    assert catalog["scores"].key == "accuracy"
    assert catalog["scores"]._logging_activated is True


def test_a_metrics_history_entry_builds_by_its_2x_path():
    catalog = DataCatalog.from_config(
        {
            "scores": {
                "type": "kedro_mlflow.io.metrics.mlflow_metrics_history_dataset."
                "MlflowMetricsHistoryDataset",
                "prefix": "val",
            }
        }
    )
    assert catalog["scores"].prefix == "val"


def test_upstream_module_path_of_the_artifact_dataset():
    """Catalogs and imports may name the class by upstream's full module path."""
    module = importlib.import_module("kedro_mlflow.io.artifacts.mlflow_artifact_dataset")
    assert module.MlflowArtifactDataset is MlflowArtifactDataset
    catalog = DataCatalog.from_config(
        {
            "raw": {
                "type": "kedro_mlflow.io.artifacts.mlflow_artifact_dataset.MlflowArtifactDataset",
                "dataset": {"type": "pandas.CSVDataset", "filepath": str(Path("raw.csv"))},
            }
        }
    )
    assert isinstance(catalog["raw"], MlflowArtifactDataset)


# -- kedro-mlflow 2.x's logging switch -------------------------------------------------------


def test_switch_catalog_logging_turns_logging_off_and_on(sqlite_store, tmp_path):
    """2.x code (its served models) calls switch_catalog_logging(catalog, False): saves then
    write their local file and log nothing; True logs again."""
    from kedro_mlflow.io.catalog import switch_catalog_logging
    from tests.helpers import DF, artifacts

    catalog = DataCatalog({"table": csv(tmp_path / "table.csv")})
    switch_catalog_logging(catalog, False)
    assert catalog["table"]._logging_activated is False
    with mlflow.start_run() as off:
        catalog.save("table", DF)
    assert (tmp_path / "table.csv").exists()
    assert artifacts(off.info.run_id) == []

    switch_catalog_logging(catalog, True)
    with mlflow.start_run() as on:
        catalog.save("table", DF)
    assert artifacts(on.info.run_id) == ["table.csv"]


def test_logging_activated_takes_bools_only(tmp_path):
    """As in 2.x, a non-bool flag is refused rather than read as truthy."""
    dataset = csv(tmp_path / "table.csv")
    with pytest.raises(ValueError, match="must be a bool"):
        dataset._logging_activated = "no"
    with pytest.raises(ValueError, match="must be a bool"):
        from kedro_mlflow.io.catalog import switch_catalog_logging

        switch_catalog_logging(DataCatalog({"t": dataset}), 0)  # type: ignore[arg-type]
    assert dataset._logging_activated is True


def test_keep_local_false_with_logging_off_is_refused(tmp_path):
    """Nothing would be kept anywhere: the save says so instead of losing the data."""
    dataset = csv(tmp_path / "table.csv", keep_local=False)
    dataset._logging_activated = False
    from tests.helpers import DF

    with pytest.raises(DatasetError, match="_logging_activated: False"):
        dataset.save(DF)
    assert not (tmp_path / "table.csv").exists()
