"""MlflowArtifactDataset against remote stores: a real `mlflow server` and moto's S3 server."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _records, wait_for_uploads
from tests.helpers import DF, artifacts, csv, free_port, partitioned


@pytest.fixture(params=["server_store", "s3_store"], ids=["http-proxied", "s3"])
def remote_store(request):
    return request.getfixturevalue(request.param)


def test_save_and_load_round_trip(remote_store, tmp_path, mocker):
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv", artifact_path="reporting").save(DF)
    assert artifacts(run.info.run_id) == ["reporting/f.csv"]

    reader = csv(tmp_path / "fresh" / "f.csv", artifact_path="reporting", run_id=run.info.run_id)
    assert reader.exists()
    # Each listed (checked) file is downloaded by name: one file, one download.
    download = mocker.spy(type(mlflow_repo(run.info.run_id)), "_download_file")
    pd.testing.assert_frame_equal(reader.load(), DF)
    pd.testing.assert_frame_equal(reader.load(), DF)
    assert download.call_count == 1, "the second load must come from the cache"
    assert not (tmp_path / "fresh").exists()
    leftovers = [p for p in (tmp_path / "kedro-mlflow-cache").rglob("*") if ".download." in p.name]
    assert leftovers == []


def mlflow_repo(run_id: str):
    from kedro_mlflow.io.artifacts._mlflow_store import artifact_repository

    return artifact_repository(mlflow.get_run(run_id))


def test_partitioned_round_trip(remote_store, tmp_path):
    with mlflow.start_run() as run:
        partitioned(tmp_path / "parts").save({"p1": DF, "sub/p2": DF})
    assert artifacts(run.info.run_id) == ["parts/p1.csv", "parts/sub/p2.csv"]
    loaded = partitioned(tmp_path / "new" / "parts", run_id=run.info.run_id).load()
    assert sorted(loaded) == ["p1", "sub/p2"]
    pd.testing.assert_frame_equal(loaded["sub/p2"](), DF)


def test_missing_artifact_on_remote_store(remote_store, tmp_path):
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    reader = csv(tmp_path / "g.csv", run_id=run.info.run_id)
    assert not reader.exists()
    with pytest.raises(
        DatasetError, match=rf"'g.csv' does not exist in MLflow run '{run.info.run_id}'"
    ):
        reader.load()


def test_tampered_cache_is_downloaded_again(server_store, tmp_path):
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    reader = csv(tmp_path / "f.csv", run_id=run.info.run_id)
    reader.load()
    cached = next((tmp_path / "kedro-mlflow-cache").rglob("f.csv"))
    cached.write_text("a,b\n9,9\n")
    pd.testing.assert_frame_equal(reader.load(), DF)


def test_corrupted_download_is_refused(server_store, tmp_path):
    """A download that does not match the digest recorded at save is not loaded."""
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    wait_for_uploads()  # the digest is recorded: the newer record below replaces it
    forged = _records.Record("f.csv", "0" * 64, 16, saved_at=2**41)
    _records.log(run.info.run_id, [_records.saved_input(run.info.run_id, forged)])
    with pytest.raises(DatasetError, match=r"does not match what was logged"):
        csv(tmp_path / "f.csv", run_id=run.info.run_id).load()
    assert [p.name for p in (tmp_path / "kedro-mlflow-cache").rglob("f.csv")] == []


def test_unreachable_server_keeps_local_file_and_fails_fast(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    mlflow.set_tracking_uri(uri)
    started = time.monotonic()
    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "f.csv").save(DF)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert uri in message
    assert str(tmp_path / "f.csv") in message
    assert (tmp_path / "f.csv").exists()
