"""A dataset's versions found by search, verified, restored, and its lineage; sqlite stores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import (
    MlflowArtifactDataset,
    find_versions,
    logged_file_count,
    restore_version,
    verify,
)
from tests.helpers import DF, csv, dataset_records, partitioned

OLD = pd.DataFrame({"a": [1], "b": [2]})


def _runs_saving(dataset: MlflowArtifactDataset, *frames: object) -> list[str]:
    ids = []
    for frame in frames:
        with mlflow.start_run() as run:
            dataset.save(frame)
        ids.append(run.info.run_id)
    return ids


def test_versions_are_the_runs_holding_its_dataset_record_newest_first(sqlite_store, tmp_path):
    """A search on the records' names: the runs that logged it, newest first, sha256 and size."""
    dataset = csv(tmp_path / "f.csv", artifact_path="rep")
    dataset.catalog_name = "metrics"
    old, new = _runs_saving(dataset, OLD, DF)
    with mlflow.start_run():  # a run that logged something else is not a version
        csv(tmp_path / "g.csv", artifact_path="rep").save(DF)

    found = find_versions("rep/f.csv", name="metrics")
    assert [v.run_id for v in found] == [new, old]
    content = (tmp_path / "f.csv").read_bytes()
    assert found[0].sha256 == hashlib.sha256(content).hexdigest()
    assert found[0].size == len(content)
    assert found[0].dataset_name == "metrics"
    assert found[0].to_json()["artifact_path"] == "rep/f.csv"
    assert found[0].to_json()["start_time"].endswith("Z")
    assert [v.run_id for v in find_versions("rep/f.csv", limit=1)] == []  # named "metrics"
    assert [v.run_id for v in find_versions("rep/f.csv", name="metrics", limit=1)] == [new]
    assert find_versions("rep/f.csv", experiment_ids=[]) == []


def test_artifact_names_that_are_not_tag_keys_are_found_too(sqlite_store, tmp_path):
    """Tag keys refuse some characters; a dataset record's name and tags take them."""
    name = "données (v2)+.csv"
    dataset = csv(tmp_path / name)
    (run_id,) = _runs_saving(dataset, DF)
    (version,) = find_versions(name)
    assert version.run_id == run_id
    assert set(dataset_records(run_id)) == {name}


def test_a_folder_version_has_the_digest_of_its_manifest(sqlite_store, tmp_path):
    """A folder's version is the sha256 of its `sha256sum`-style manifest and its total size."""
    dataset = partitioned(tmp_path / "parts")
    (run_id,) = _runs_saving(dataset, {"p1": DF, "sub/p2": OLD})
    (version,) = find_versions("parts")
    files = {
        "p1.csv": (tmp_path / "parts" / "p1.csv").read_bytes(),
        "sub/p2.csv": (tmp_path / "parts" / "sub" / "p2.csv").read_bytes(),
    }
    manifest = "".join(
        f"{hashlib.sha256(content).hexdigest()}  {name}\n"
        for name, content in sorted(files.items())
    )
    assert version.sha256 == hashlib.sha256(manifest.encode()).hexdigest()
    assert version.size == sum(len(content) for content in files.values())
    assert version.files == 2
    assert logged_file_count(mlflow.get_run(run_id)) == 2


def test_verify_says_whether_each_stored_file_still_matches(sqlite_store, tmp_path):
    """`ok`; `modified`: a stored file changed; `missing`: a folder's file or the artifact gone."""
    good, tampered = _runs_saving(csv(tmp_path / "f.csv"), OLD, DF)
    (folder_run,) = _runs_saving(partitioned(tmp_path / "parts"), {"p1": DF, "p2": OLD})
    store = Path(mlflow.get_run(tampered).info.artifact_uri.removeprefix("file://"))
    (store / "f.csv").write_text("a,b\n6,6\n")
    parts = Path(mlflow.get_run(folder_run).info.artifact_uri.removeprefix("file://"))
    (parts / "parts" / "p2.csv").unlink()

    assert verify(good, "f.csv").verdict == "ok"
    check = verify(tampered, "f.csv")
    assert check.verdict == "modified"
    assert "f.csv: sha256" in check.problems[0]
    assert verify(folder_run, "parts").verdict == "missing"
    assert verify(good, "nope.csv").verdict == "missing"


# -- restore ----------------------------------------------------------------------------------


def test_restore_replaces_a_logged_version_and_refuses_a_hand_edit(sqlite_store, tmp_path):
    """A logged local version is replaced; a hand edit is kept unless forced; no staging left."""
    dataset = csv(tmp_path / "f.csv")
    old, _ = _runs_saving(dataset, OLD, DF)

    restored = restore_version(dataset, old)
    assert restored.written == [tmp_path / "f.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f.csv"), OLD)
    assert restore_version(dataset, old).unchanged == [tmp_path / "f.csv"]

    (tmp_path / "f.csv").write_text("a,b\n7,7\n")
    with pytest.raises(DatasetError, match=r"not a version logged in MLflow.*--force"):
        restore_version(dataset, old)
    assert (tmp_path / "f.csv").read_text() == "a,b\n7,7\n"
    restore_version(dataset, old, force=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f.csv"), OLD)
    assert [p.name for p in tmp_path.iterdir() if ".pull." in p.name] == []


def test_restore_creates_missing_folders_and_a_versioned_datasets_version(sqlite_store, tmp_path):
    """On a fresh machine the folders are created; a versioned dataset gets its version folder."""
    config = {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "v.csv"), "versioned": True}
    (run_id,) = _runs_saving(MlflowArtifactDataset(dataset=config), OLD)
    fresh = {**config, "filepath": str(tmp_path / "fresh" / "v.csv")}
    (written,) = restore_version(MlflowArtifactDataset(dataset=fresh), run_id).written
    assert written.parent.parent == tmp_path / "fresh" / "v.csv"
    pd.testing.assert_frame_equal(MlflowArtifactDataset(dataset=fresh).load(), OLD)


def test_restore_a_folder_version_leaves_other_partitions_alone(sqlite_store, tmp_path):
    """Only the version's files are written (or kept if already there); other files stay."""
    dataset = partitioned(tmp_path / "parts")
    (run_id,) = _runs_saving(dataset, {"p1": OLD, "sub/p2": OLD})
    (tmp_path / "parts" / "sub" / "p2.csv").unlink()
    (tmp_path / "parts" / "mine.csv").write_text("a\n1\n")
    restored = restore_version(dataset, run_id)
    assert restored.written == [tmp_path / "parts" / "sub" / "p2.csv"]
    assert restored.unchanged == [tmp_path / "parts" / "p1.csv"]
    assert (tmp_path / "parts" / "mine.csv").read_text() == "a\n1\n"


def test_restore_refuses_a_stored_file_that_does_not_match_its_digest(sqlite_store, tmp_path):
    """A tampered artifact store is caught before anything local is replaced."""
    dataset = csv(tmp_path / "f.csv")
    old, _ = _runs_saving(dataset, OLD, DF)
    store = Path(mlflow.get_run(old).info.artifact_uri.removeprefix("file://"))
    (store / "f.csv").write_text("a,b\n6,6\n")
    with pytest.raises(
        DatasetError, match=r"does not match (the digest its run recorded|what was logged)"
    ):
        restore_version(dataset, old)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f.csv"), DF)


def test_restore_from_a_run_without_that_dataset_names_the_command(sqlite_store, tmp_path):
    """A run that did not log the dataset: the error says which command lists the runs that did."""
    (run_id,) = _runs_saving(csv(tmp_path / "f.csv"), DF)
    other = csv(tmp_path / "g.csv")
    other.catalog_name = "g"
    with pytest.raises(DatasetError, match=r"no recorded version .*`kedro mlflow versions g`"):
        restore_version(other, run_id)


# -- lineage ----------------------------------------------------------------------------------


def test_a_load_from_another_run_is_an_mlflow_dataset_input_of_the_consumer(sqlite_store, tmp_path):
    """Upstream #446: the MLflow UI's datasets panel shows what a run was built from."""
    (source,) = _runs_saving(csv(tmp_path / "f.csv", artifact_path="rep"), DF)
    reader = csv(tmp_path / "f.csv", artifact_path="rep", load_run_id=source)
    reader.catalog_name = "companies"
    with mlflow.start_run() as consumer:
        reader.load()
        reader.load()  # recorded once
    inputs = mlflow.MlflowClient().get_run(consumer.info.run_id).inputs.dataset_inputs
    (recorded,) = inputs
    saved = dataset_records(source)["rep/f.csv"]
    sha256, size = saved["sha256"], saved["size"]
    assert recorded.dataset.name == "companies"
    assert json.loads(recorded.dataset.source) == {"uri": f"runs:/{source}/rep/f.csv"}
    assert recorded.dataset.digest == sha256[:36]
    assert json.loads(recorded.dataset.profile) == {"sha256": sha256, "size": int(size)}
    tags = {tag.key: tag.value for tag in recorded.tags}
    assert tags["kedro_mlflow.source_run_id"] == source
    assert tags["mlflow.data.context"] == "read"
    assert not [key for key in mlflow.get_run(consumer.info.run_id).data.tags if "input" in key]


def test_without_a_catalog_name_the_input_is_named_after_the_artifact(sqlite_store, tmp_path):
    """A dataset built outside a catalog (no name known) names its input after its artifact path."""
    (source,) = _runs_saving(csv(tmp_path / "f.csv"), DF)
    with mlflow.start_run() as consumer:
        csv(tmp_path / "f.csv", run_id=source).load()
    (recorded,) = mlflow.MlflowClient().get_run(consumer.info.run_id).inputs.dataset_inputs
    assert recorded.dataset.name == "f.csv"


def test_a_legacy_folder_version_is_read_from_its_tags(sqlite_store, tmp_path):
    """Runs of earlier versions: a folder's tag (`<sha256> <size> <n> files`) and its files'."""
    files = {"p1.csv": b"a\n1\n", "p2.csv": b"a\n2\n"}
    digests = {name: (hashlib.sha256(data).hexdigest(), len(data)) for name, data in files.items()}
    manifest = "".join(f"{sha}  {name}\n" for name, (sha, _) in sorted(digests.items()))
    folder_sha = hashlib.sha256(manifest.encode()).hexdigest()
    tags = {f"kedro_mlflow.sha256/parts/{n}": f"{sha} {size}" for n, (sha, size) in digests.items()}
    tags["kedro_mlflow.sha256/parts"] = f"{folder_sha} 8 2 files"
    tags["kedro_mlflow.dataset/parts"] = "partitions"
    client = mlflow.MlflowClient()
    run = client.create_run(sqlite_store.experiment_id, tags=tags)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        client.log_artifact(run.info.run_id, str(tmp_path / name), "parts")
    client.set_terminated(run.info.run_id)

    (version,) = find_versions("parts", name="partitions")
    assert (version.sha256, version.size, version.files) == (folder_sha, 8, 2)
    assert version.dataset_name == "partitions"
    assert verify(run.info.run_id, "parts").verdict == "ok"
