"""Where a load reads: ``load_run_id``, a ``--load-versions`` run id, ``keep_local: false``.

Real sqlite stores in tmp_path; Kedro's own catalog passes the load versions.
"""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from kedro_mlflow.io.artifacts import (
    MlflowArtifactDataset,
    start_background_uploads,
    wait_for_uploads,
)
from tests.helpers import DF, artifacts, csv, dataset_records

OLD = pd.DataFrame({"a": [1], "b": [2]})


def _saved_in_a_run(tmp_path, frame=OLD, **kwargs):
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv", **kwargs).save(frame)
    return run.info.run_id


def test_load_run_id_reads_one_run_while_saves_go_to_the_active_run(sqlite_store, tmp_path):
    """Upstream #566: `run_id` meant both; `load_run_id` splits reading from writing."""
    source = _saved_in_a_run(tmp_path)
    dataset = csv(tmp_path / "f.csv", load_run_id=source)
    with mlflow.start_run() as current:
        pd.testing.assert_frame_equal(dataset.load(), OLD)
        dataset.save(DF)
    assert artifacts(current.info.run_id) == ["f.csv"]
    pd.testing.assert_frame_equal(dataset.load(), OLD)  # still the old run, not the local file
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f.csv"), DF)


def test_load_run_id_and_run_id_together_read_one_and_write_the_other(sqlite_store, tmp_path):
    """`run_id` keeps the seed's meaning for saves; `load_run_id` wins for loads."""
    source = _saved_in_a_run(tmp_path)
    target = mlflow.MlflowClient().create_run(sqlite_store.experiment_id).info.run_id
    dataset = csv(tmp_path / "f.csv", run_id=target, load_run_id=source)
    dataset.save(DF)
    assert artifacts(target) == ["f.csv"]
    pd.testing.assert_frame_equal(dataset.load(), OLD)
    assert dataset.run_id == target
    assert dataset.load_run_id == source
    assert dataset._describe()["load_run_id"] == source


def test_load_run_id_from_yaml_as_a_number_is_a_string(sqlite_store, tmp_path):
    """YAML reads an all-digit run id as an int: it is the string it means, as for `run_id`."""
    dataset = DataCatalog.from_config(
        {
            "ds": {
                "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
                "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")},
                "load_run_id": 12345678901234,
            }
        }
    ).get("ds")
    assert dataset.load_run_id == "12345678901234"


def test_a_load_version_that_is_a_run_id_loads_from_that_run(sqlite_store, tmp_path):
    """`kedro run --load-versions ds:RUN_ID` reaches the dataset as Kedro's load version."""
    source = _saved_in_a_run(tmp_path)
    config = {
        "ds": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")},
        }
    }
    (tmp_path / "f.csv").write_text("a,b\n9,9\n")
    catalog = DataCatalog.from_config(config, load_versions={"ds": source})
    with mlflow.start_run() as current:
        pd.testing.assert_frame_equal(catalog.load("ds"), OLD)
        catalog.save("ds", DF)
    assert artifacts(current.info.run_id) == ["f.csv"]
    # Without the load version, the local file (this run's save), as before.
    pd.testing.assert_frame_equal(DataCatalog.from_config(config).load("ds"), DF)


def test_a_timestamp_load_version_goes_to_a_versioned_dataset(sqlite_store, tmp_path):
    """Kedro's own load versions (timestamps) still select a local version."""
    config = {
        "ds": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "v.csv"),
                        "versioned": True},
        }
    }  # fmt: skip
    with mlflow.start_run():
        DataCatalog.from_config(config, save_version="2026-01-01T00.00.00.000Z").save("ds", OLD)
        DataCatalog.from_config(config, save_version="2026-01-02T00.00.00.000Z").save("ds", DF)
    first = DataCatalog.from_config(config, load_versions={"ds": "2026-01-01T00.00.00.000Z"})
    pd.testing.assert_frame_equal(first.load("ds"), OLD)


def test_a_timestamp_load_version_of_an_unversioned_dataset_is_refused(tmp_path):
    """Kedro would ignore it silently: the error says to give a run id."""
    config = {
        "ds": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")},
        }
    }
    catalog = DataCatalog.from_config(config, load_versions={"ds": "2026-01-01T00.00.00.000Z"})
    with pytest.raises(DatasetError, match=r"not an MLflow run id \(32 hex digits\)"):
        catalog.load("ds")


# -- keep_local: false ----------------------------------------------------------------------


@pytest.mark.parametrize("background", [False, True], ids=["synchronous", "background"])
def test_keep_local_false_logs_and_leaves_nothing_locally(
    sqlite_store, tmp_path, background, monkeypatch
):
    """Upstream #673: large outputs logged without a copy at the local path."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    dataset = csv(tmp_path / "out" / "f.csv", keep_local=False, artifact_path="big")
    if background:
        start_background_uploads()
    try:
        with mlflow.start_run() as run:
            dataset.save(DF)
            # A later node of the same run reads it back: from the run, once uploaded.
            pd.testing.assert_frame_equal(dataset.load(), DF)
            assert dataset.exists()
    finally:
        wait_for_uploads()
    assert artifacts(run.info.run_id) == ["big/f.csv"]
    assert "big/f.csv" in dataset_records(run.info.run_id)
    assert not (tmp_path / "out").exists()
    assert list(scratch.iterdir()) == []  # the private copy is gone once logged
    pd.testing.assert_frame_equal(
        csv(tmp_path / "out" / "f.csv", keep_local=False, artifact_path="big",
            run_id=run.info.run_id).load(),
        DF,
    )  # fmt: skip


def test_keep_local_false_without_a_run_says_where_the_latest_version_is(sqlite_store, tmp_path):
    """The error names the run holding the newest version (found by search) and how to load it."""
    older = _saved_in_a_run(tmp_path, keep_local=False)
    newer = _saved_in_a_run(tmp_path, frame=DF, keep_local=False)
    dataset = csv(tmp_path / "f.csv", keep_local=False)
    dataset.catalog_name = "features"
    assert not dataset.exists()
    with pytest.raises(DatasetError) as info:
        dataset.load()
    message = str(info.value)
    assert "only in MLflow" in message
    assert f"MLflow run '{newer}'" in message
    assert older not in message
    assert f"--load-versions features:{newer}" in message
    pd.testing.assert_frame_equal(csv(tmp_path / "f.csv", load_run_id=older).load(), OLD)


def test_keep_local_false_before_any_run_logged_it(sqlite_store, tmp_path):
    """Before any run logged it, the error says so and names the tracking URI."""
    with pytest.raises(DatasetError, match=r"No run on tracking URI .* has logged artifact"):
        csv(tmp_path / "f.csv", keep_local=False).load()


def test_keep_local_false_with_tracking_disabled_is_refused(tmp_path, monkeypatch):
    """Nothing would be kept anywhere: refused before writing."""
    monkeypatch.setenv("KEDRO_MLFLOW_DISABLE_TRACKING", "1")
    with pytest.raises(DatasetError, match=r"'keep_local: false'.*tracking is disabled"):
        csv(tmp_path / "f.csv", keep_local=False).save(DF)
    assert not (tmp_path / "f.csv").exists()


def test_keep_local_false_keeps_the_private_copy_when_the_upload_fails(tmp_path, monkeypatch):
    """The data is not lost: the error names where it is."""
    (tmp_path / "not-a-folder").write_text("")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = mlflow.create_experiment(
        "broken", artifact_location=(tmp_path / "not-a-folder" / "mlruns").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run(), pytest.raises(DatasetError) as info:
        csv(tmp_path / "f.csv", keep_local=False).save(DF)
    message = str(info.value)
    assert "keep_local: false" in message
    kept = message.split("kept at '")[1].split("'", maxsplit=1)[0]
    pd.testing.assert_frame_equal(pd.read_csv(f"{kept}/f.csv"), DF)
    assert not (tmp_path / "f.csv").exists()


def test_keep_local_false_partitioned_dataset(sqlite_store, tmp_path):
    """A folder dataset with `keep_local: false` logs its partitions and leaves no folder behind."""
    dataset = MlflowArtifactDataset(
        dataset={
            "type": "partitions.PartitionedDataset",
            "path": str(tmp_path / "parts"),
            "dataset": "pandas.CSVDataset",
            "filename_suffix": ".csv",
        },
        keep_local=False,
    )
    with mlflow.start_run() as run:
        dataset.save({"p1": DF, "p2": OLD})
    assert artifacts(run.info.run_id) == ["parts/p1.csv", "parts/p2.csv"]
    assert not (tmp_path / "parts").exists()
