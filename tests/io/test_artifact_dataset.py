"""MlflowArtifactDataset against a real sqlite MLflow store in tmp_path."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import textwrap
from pathlib import Path, PurePosixPath

import mlflow
import pandas as pd
import pytest
import yaml
from kedro.io import AbstractDataset, DataCatalog, DatasetError, MemoryDataset
from kedro_datasets.pandas import CSVDataset

from kedro_mlflow.io.artifacts import MlflowArtifactDataset, wait_for_uploads
from tests.helpers import DF, artifacts, csv, dataset_records, recorded_files

# -- the seed's snippets -----------------------------------------------------------


def test_seed_python_snippet_with_class_type(sqlite_store, tmp_path):
    """The seed's Python example: the inner type given as a class."""
    csv_dataset = MlflowArtifactDataset(
        dataset={"type": CSVDataset, "filepath": str(tmp_path / "file.csv")}
    )
    with mlflow.start_run() as run:
        csv_dataset.save(data=pd.DataFrame({"a": [1, 2], "b": [3, 4]}))
    assert artifacts(run.info.run_id) == ["file.csv"]
    assert (tmp_path / "file.csv").read_text() == "a,b\n1,3\n2,4\n"


def test_seed_yaml_load_and_save_args_pass_through(sqlite_store, tmp_path):
    catalog = DataCatalog.from_config(
        yaml.safe_load(
            textwrap.dedent(
                f"""
                my_dataset_to_version:
                  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
                  dataset:
                    type: pandas.CSVDataset
                    filepath: {tmp_path}/file.csv
                    load_args:
                      sep: ;
                    save_args:
                      sep: ;
                  artifact_path: reporting
                """
            )
        )
    )
    with mlflow.start_run() as run:
        catalog.save("my_dataset_to_version", DF)
    assert (tmp_path / "file.csv").read_text() == "a;b\n1;3\n2;4\n"
    assert artifacts(run.info.run_id) == ["reporting/file.csv"]
    pd.testing.assert_frame_equal(catalog.load("my_dataset_to_version"), DF)


def test_seed_placeholder_run_id_read_as_int_is_a_string(sqlite_store, tmp_path):
    """YAML reads `run_id: 13245678910111213` as an int; upstream crashed on `.startswith`."""
    config = yaml.safe_load(
        f"""
        ds:
          type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
          dataset: {{type: pandas.CSVDataset, filepath: {tmp_path}/f.csv}}
          run_id: 13245678910111213
        """
    )
    assert isinstance(config["ds"]["run_id"], int)
    dataset = DataCatalog.from_config(config).get("ds")
    assert dataset._run_id == "13245678910111213"
    with pytest.raises(DatasetError, match=r"run '13245678910111213' was not found.*sqlite"):
        dataset.load()


# -- construction -------------------------------------------------------------------


def test_is_an_instance_and_pickles(tmp_path):
    dataset = csv(tmp_path / "f.csv", run_id="abc", artifact_path="x")
    assert isinstance(dataset, MlflowArtifactDataset)
    clone = pickle.loads(pickle.dumps(dataset))
    assert isinstance(clone, MlflowArtifactDataset)
    assert clone._describe() == dataset._describe()


@pytest.mark.parametrize(
    ("given", "stored"),
    [("reporting/", "reporting"), ("./a/b/", "a/b"), ("a\\b", "a/b"), ("", None), (None, None)],
    ids=["trailing-slash", "dot-prefix", "backslash", "empty", "none"],
)
def test_artifact_path_is_normalised(tmp_path, given, stored):
    assert csv(tmp_path / "f.csv", artifact_path=given)._artifact_path == stored


@pytest.mark.parametrize(
    ("artifact_path", "message"),
    [("/abs/path", "absolute"), ("C:/x", "absolute"), ("a/../../b", r"climbs out")],
    ids=["posix-absolute", "windows-drive", "dotdot"],
)
def test_bad_artifact_path_is_refused_at_construction(tmp_path, artifact_path, message):
    with pytest.raises(DatasetError, match=rf"'artifact_path'.*{message}"):
        csv(tmp_path / "f.csv", artifact_path=artifact_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": MemoryDataset}, r"MemoryDataset.*no local filepath"),
        (
            {"type": "pandas.CSVDataset", "filepath": "s3://bucket/f.csv"},
            r"'s3://bucket/f.csv' is not on the local disk",
        ),
        (
            {"type": "pandas.CSVDataset", "filepath": "memory://f.csv"},
            r"'memory://f.csv' is not on the local disk",
        ),
    ],
    ids=["memory", "s3", "memory-fs"],
)
def test_non_local_inner_dataset_is_refused(config, message):
    with pytest.raises(DatasetError, match=message) as info:
        MlflowArtifactDataset(dataset=config)
    assert "artifact store" in str(info.value)
    assert "mlflow.yml" in str(info.value)


@pytest.mark.parametrize(
    "dataset",
    [{}, {"filepath": "data/01_raw/companies.csv"}, {"type": None}],
    ids=["empty", "no-type", "type-null"],
)
def test_dataset_without_type_names_the_missing_key_the_entry_and_an_example(dataset):
    """Issue 20: ``dataset: {}`` failed with only ``... 'type'.`` (Kedro's KeyError)."""
    catalog = DataCatalog.from_config(
        {
            "companies": {
                "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
                "dataset": dataset,
            }
        }
    )
    with pytest.raises(DatasetError) as info:
        catalog["companies"]
    message = str(info.value)
    for said in (
        "'type' key of its 'dataset' is missing",
        "'companies'",
        "type: pandas.CSVDataset",
    ):
        assert said in message, f"the error does not say {said!r}:\n{message}"


def test_credentials_are_handed_to_inner_dataset_and_never_shown(tmp_path):
    dataset = MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")},
        credentials={"client_kwargs": {"secret": "hunter2"}},
        metadata={"owner": "me"},
    )
    assert dataset._dataset._storage_options["client_kwargs"] == {"secret": "hunter2"}
    assert "hunter2" not in repr(dataset)
    assert dataset.metadata == {"owner": "me"}


def test_describe_nests_inner_description(tmp_path):
    described = csv(tmp_path / "f.csv", run_id="r1", artifact_path="a")._describe()
    assert described["run_id"] == "r1"
    assert described["artifact_path"] == "a"
    assert described["dataset"]["type"] == "kedro_datasets.pandas.csv_dataset.CSVDataset"
    assert str(described["dataset"]["filepath"]) == str(tmp_path / "f.csv")


# -- save ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 9 * 1024 * 1024], ids=["small", "digest-on-another-core"])
def test_save_logs_into_active_run_with_its_dataset_record(sqlite_store, tmp_path, size):
    dataset = MlflowArtifactDataset(
        dataset={"type": "pickle.PickleDataset", "filepath": str(tmp_path / "f.pkl")},
        artifact_path="reporting",
    )
    with mlflow.start_run() as run:
        dataset.save(os.urandom(size))
        assert mlflow.active_run().info.run_id == run.info.run_id
    wait_for_uploads()  # a script's digests are recorded in batches: now
    sha, logged_size = recorded_files(run.info.run_id)["reporting/f.pkl"]
    content = (tmp_path / "f.pkl").read_bytes()
    assert int(logged_size) == len(content)
    assert sha == hashlib.sha256(content).hexdigest()
    artifact = Path(mlflow.get_run(run.info.run_id).info.artifact_uri[len("file://") :])
    assert (artifact / "reporting" / "f.pkl").read_bytes() == content


def test_save_with_run_id_leaves_active_run_untouched(sqlite_store, tmp_path):
    target = mlflow.MlflowClient().create_run(sqlite_store.experiment_id).info.run_id
    with mlflow.start_run() as active:
        csv(tmp_path / "f.csv", run_id=target).save(DF)
        assert mlflow.active_run().info.run_id == active.info.run_id
    assert artifacts(target) == ["f.csv"]
    assert artifacts(active.info.run_id) == []


def test_save_without_active_run_starts_one_and_says_so(sqlite_store, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="kedro_mlflow")
    csv(tmp_path / "f.csv").save(DF)
    run = mlflow.active_run()
    assert run is not None
    assert run.info.run_id in caplog.text
    csv(tmp_path / "g.csv").save(DF)
    assert artifacts(run.info.run_id) == ["f.csv", "g.csv"]


def test_save_joins_run_named_by_mlflow_run_id(sqlite_store, tmp_path, monkeypatch):
    """Worker threads and processes have no active run; MLFLOW_RUN_ID names the run."""
    target = mlflow.MlflowClient().create_run(sqlite_store.experiment_id).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", target)
    csv(tmp_path / "f.csv").save(DF)
    assert mlflow.active_run() is None
    assert artifacts(target) == ["f.csv"]


def test_unknown_run_id_fails_before_writing_local_file(sqlite_store, tmp_path):
    """Upstream wrote the local file, then failed."""
    with pytest.raises(DatasetError, match=r"run 'nope' was not found.*sqlite:///"):
        csv(tmp_path / "f.csv", run_id="nope").save(DF)
    assert not (tmp_path / "f.csv").exists()


def test_deleted_run_is_refused(sqlite_store, tmp_path):
    """Upstream logged into deleted runs."""
    client = mlflow.MlflowClient()
    run_id = client.create_run(sqlite_store.experiment_id).info.run_id
    client.delete_run(run_id)
    with pytest.raises(DatasetError, match=rf"run '{run_id}' is deleted"):
        csv(tmp_path / "f.csv", run_id=run_id).save(DF)
    assert not (tmp_path / "f.csv").exists()


def test_disable_tracking_env_writes_locally_only(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDRO_MLFLOW_DISABLE_TRACKING", "1")
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    assert (tmp_path / "f.csv").exists()
    assert artifacts(run.info.run_id) == []


def test_versioned_inner_dataset_logs_plain_name(sqlite_store, tmp_path):
    dataset = MlflowArtifactDataset(
        dataset={
            "type": "pandas.CSVDataset",
            "filepath": str(tmp_path / "f.csv"),
            "versioned": True,
        }
    )
    with mlflow.start_run() as run:
        dataset.save(DF)
    assert artifacts(run.info.run_id) == ["f.csv"]
    assert len(list((tmp_path / "f.csv").iterdir())) == 1


def test_versioned_inner_dataset_uses_catalog_save_version(sqlite_store, tmp_path):
    """Upstream picked its own timestamp and failed with VersionAlreadyExistsError."""
    config = {
        "ds": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv"),
                        "versioned": True},
        },
        "plain": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "p.csv"),
                  "versioned": True},
    }  # fmt: skip
    catalog = DataCatalog.from_config(config, save_version="2026-01-01T00.00.00.000Z")
    with mlflow.start_run() as run:
        catalog.save("ds", DF)
        catalog.save("plain", DF)
    assert (tmp_path / "f.csv" / "2026-01-01T00.00.00.000Z" / "f.csv").exists()
    assert artifacts(run.info.run_id) == ["f.csv"]
    pd.testing.assert_frame_equal(catalog.load("ds"), DF)


def test_partitioned_dataset_logs_only_this_saves_partitions(sqlite_store, tmp_path):
    """Upstream logged the whole folder, earlier runs' partitions too."""
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "old.csv").write_text("a\n0\n")
    dataset = MlflowArtifactDataset(
        dataset={
            "type": "partitions.PartitionedDataset",
            "path": str(folder),
            "dataset": "pandas.CSVDataset",
            "filename_suffix": ".csv",
        },
        artifact_path="parts_root",
    )
    with mlflow.start_run() as run:
        dataset.save({"p1": DF, "sub/p2": DF})
    assert artifacts(run.info.run_id) == [
        "parts_root/parts/p1.csv",
        "parts_root/parts/sub/p2.csv",
    ]

    reader = MlflowArtifactDataset(
        dataset={
            "type": "partitions.PartitionedDataset",
            "path": str(tmp_path / "elsewhere" / "parts"),
            "dataset": "pandas.CSVDataset",
            "filename_suffix": ".csv",
        },
        artifact_path="parts_root",
        run_id=run.info.run_id,
    )
    loaded = reader.load()
    assert sorted(loaded) == ["p1", "sub/p2"]
    pd.testing.assert_frame_equal(loaded["sub/p2"](), DF)


# -- load -----------------------------------------------------------------------------


def test_load_from_run_on_a_fresh_machine_keeps_local_file(sqlite_store, tmp_path):
    """Upstream copied over the local file and failed when its folder was missing."""
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    local = tmp_path / "missing" / "folder" / "f.csv"
    dataset = csv(local, run_id=run.info.run_id)
    pd.testing.assert_frame_equal(dataset.load(), DF)
    assert not local.parent.exists()

    local.parent.mkdir(parents=True)
    local.write_text("a\nmine\n")
    pd.testing.assert_frame_equal(dataset.load(), DF)
    assert local.read_text() == "a\nmine\n"


def test_load_versioned_from_run_with_no_local_version(sqlite_store, tmp_path):
    with mlflow.start_run() as run:
        MlflowArtifactDataset(
            dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv"),
                     "versioned": True}
        ).save(DF)  # fmt: skip
    fresh = MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "new" / "f.csv"),
                 "versioned": True},
        run_id=run.info.run_id,
    )  # fmt: skip
    pd.testing.assert_frame_equal(fresh.load(), DF)
    assert fresh.exists()


def test_missing_artifact_names_run_path_uri_and_contents(sqlite_store, tmp_path):
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv", artifact_path="reporting").save(DF)
    dataset = csv(tmp_path / "other.csv", run_id=run.info.run_id, artifact_path="reporting")
    assert not dataset.exists()
    with pytest.raises(DatasetError) as info:
        dataset.load()
    message = str(info.value)
    assert "'reporting/other.csv'" in message
    assert run.info.run_id in message
    assert sqlite_store.tracking_uri in message
    assert "'reporting/f.csv'" in message


def test_load_without_run_id_reads_local_file(sqlite_store, tmp_path):
    (tmp_path / "f.csv").write_text("a\n5\n")
    assert csv(tmp_path / "f.csv").load()["a"].tolist() == [5]
    assert csv(tmp_path / "f.csv").exists()
    assert not csv(tmp_path / "g.csv").exists()


def test_factory_pattern_datasets(sqlite_store, tmp_path):
    catalog = DataCatalog.from_config(
        {
            "{name}_report": {
                "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
                "dataset": {"type": "pandas.CSVDataset", "filepath": f"{tmp_path}/{{name}}.csv"},
                "artifact_path": "reports",
            }
        }
    )
    with mlflow.start_run() as run:
        catalog.save("sales_report", DF)
    assert artifacts(run.info.run_id) == ["reports/sales.csv"]


class FolderOfCsvs(AbstractDataset[dict, dict]):
    """A user's own dataset that writes a folder with one CSV per key, as some datasets do."""

    def __init__(self, *, filepath: str) -> None:
        self._filepath = PurePosixPath(filepath)

    def save(self, data: dict) -> None:
        Path(self._filepath).mkdir(parents=True, exist_ok=True)
        for key, frame in data.items():
            frame.to_csv(Path(self._filepath) / f"{key}.csv", index=False)

    def load(self) -> dict:
        return {p.stem: pd.read_csv(p) for p in sorted(Path(self._filepath).rglob("*.csv"))}

    def _describe(self) -> dict:
        return {"filepath": self._filepath}


def test_dataset_writing_a_folder_logs_its_files(sqlite_store, tmp_path):
    dataset = MlflowArtifactDataset(
        dataset={"type": FolderOfCsvs, "filepath": str(tmp_path / "tables")},
        artifact_path="out",
    )
    with mlflow.start_run() as run:
        dataset.save({"x": DF, "y": DF})
    assert artifacts(run.info.run_id) == ["out/tables/x.csv", "out/tables/y.csv"]
    reader = MlflowArtifactDataset(
        dataset={"type": FolderOfCsvs, "filepath": str(tmp_path / "new" / "tables")},
        artifact_path="out",
        run_id=run.info.run_id,
    )
    assert sorted(reader.load()) == ["x", "y"]


def test_load_from_old_run_leaves_local_versions_alone(sqlite_store, tmp_path):
    """Upstream overwrote the newest local version with the older run's artifact."""
    config = {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv"), "versioned": True}
    with mlflow.start_run() as old:
        MlflowArtifactDataset(dataset=config).save(pd.DataFrame({"a": [1]}))
    with mlflow.start_run():
        MlflowArtifactDataset(dataset=config).save(pd.DataFrame({"a": [2]}))
    before = {p: p.read_bytes() for p in (tmp_path / "f.csv").rglob("*.csv")}
    loaded = MlflowArtifactDataset(dataset=config, run_id=old.info.run_id).load()
    assert loaded["a"].tolist() == [1]
    assert {p: p.read_bytes() for p in (tmp_path / "f.csv").rglob("*.csv")} == before
    assert MlflowArtifactDataset(dataset=config).load()["a"].tolist() == [2]


@pytest.mark.parametrize(("crash", "status"), [(True, "FAILED"), (False, "FINISHED")])
def test_implicit_run_ends_with_the_script_outcome(tmp_path, crash, status):
    """Upstream's implicit run was marked FINISHED at exit even when the script crashed."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import mlflow, pandas as pd
            from kedro_mlflow.io.artifacts import MlflowArtifactDataset
            mlflow.set_tracking_uri("sqlite:///{tmp_path}/mlflow.db")
            mlflow.set_experiment(experiment_id=mlflow.create_experiment(
                "e", artifact_location="{(tmp_path / "mlruns").as_uri()}"))
            MlflowArtifactDataset(
                dataset={{"type": "pandas.CSVDataset", "filepath": "{tmp_path}/f.csv"}}
            ).save(pd.DataFrame({{"a": [1]}}))
            if {crash}:
                raise RuntimeError("the script crashed")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True
    )
    assert (done.returncode != 0) is crash, done.stderr
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == status
    assert artifacts(run.info.run_id) == ["f.csv"]


def test_load_from_a_run_records_lineage_in_the_current_run(sqlite_store, tmp_path):
    with mlflow.start_run() as source:
        csv(tmp_path / "f.csv", artifact_path="rep").save(DF)
    reader = csv(tmp_path / "f.csv", artifact_path="rep", run_id=source.info.run_id)
    reader.load()  # no current run: nothing to record, nothing started
    assert mlflow.active_run() is None
    with mlflow.start_run() as consumer:
        reader.load()
    (read,) = dataset_records(consumer.info.run_id, "read").values()
    saved = dataset_records(source.info.run_id)["rep/f.csv"]
    assert read["source"] == f"runs:/{source.info.run_id}/rep/f.csv"
    assert (read["sha256"], read["size"]) == (saved["sha256"], saved["size"])
    assert not [key for key in mlflow.get_run(consumer.info.run_id).data.tags if "input" in key]


def test_loads_from_an_ended_run_fetch_it_once(sqlite_store, tmp_path, mocker, monkeypatch):
    """get_run returns every tag of the run: fetching it per load made N loads cost O(N^2).

    Within one kedro run (``KEDRO_MLFLOW_RUN_ID`` set by the hook); outside one, each load
    fetches the run, so that a run deleted meanwhile is refused (issue 12).
    """
    with mlflow.start_run() as run:
        for name in ("a", "b", "c"):
            csv(tmp_path / f"{name}.csv").save(DF)
    consumer = mlflow.MlflowClient().create_run(run.info.experiment_id)
    monkeypatch.setenv("KEDRO_MLFLOW_RUN_ID", consumer.info.run_id)
    get_run = mocker.spy(mlflow.MlflowClient, "get_run")
    for name in ("a", "b", "c"):
        pd.testing.assert_frame_equal(
            csv(tmp_path / f"{name}.csv", run_id=run.info.run_id).load(), DF
        )
    assert get_run.call_count == 1
