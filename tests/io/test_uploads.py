"""Background uploads: saves return early, the run's end waits, failures are listed."""

from __future__ import annotations

import hashlib
import multiprocessing
import time

import mlflow
import pytest
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import (
    UploadStatus,
    start_background_uploads,
    upload_status,
    wait_for_uploads,
)
from tests.helpers import DF, artifacts, csv, dataset_records, make_store


@pytest.fixture
def broken_store(tmp_path):
    """A store whose artifact root lies under a regular file, so every upload fails."""
    (tmp_path / "not-a-folder").write_text("")
    return make_store(
        f"sqlite:///{tmp_path}/mlflow.db", (tmp_path / "not-a-folder" / "mlruns").as_uri()
    )


def test_queued_uploads_all_land_after_wait(sqlite_store, tmp_path):
    start_background_uploads(max_workers=2)
    with mlflow.start_run() as run:
        for name in ("a", "b", "c"):
            csv(tmp_path / f"{name}.csv", artifact_path="out").save(DF)
        wait_for_uploads()
    assert artifacts(run.info.run_id) == ["out/a.csv", "out/b.csv", "out/c.csv"]
    assert set(dataset_records(run.info.run_id)) == {"out/a.csv", "out/b.csv", "out/c.csv"}


def test_failed_background_uploads_are_listed_and_local_files_kept(broken_store, tmp_path):
    start_background_uploads()
    with mlflow.start_run() as run:
        csv(tmp_path / "a.csv").save(DF)
        csv(tmp_path / "b.csv", artifact_path="rep").save(DF)
        with pytest.raises(DatasetError) as info:
            wait_for_uploads()
    message = str(info.value)
    assert "2 of 2 save(s) of this run not logged into MLflow" in message
    assert "Logged: nothing." in message
    assert f"'a.csv' into run '{run.info.run_id}'" in message
    assert "'rep/b.csv'" in message
    assert (tmp_path / "a.csv").exists()
    assert (tmp_path / "b.csv").exists()


def test_failed_synchronous_upload_names_run_and_keeps_local_file(broken_store, tmp_path):
    with mlflow.start_run() as run, pytest.raises(DatasetError) as info:
        csv(tmp_path / "a.csv").save(DF)
    assert run.info.run_id in str(info.value)
    assert broken_store.tracking_uri in str(info.value)
    assert (tmp_path / "a.csv").exists()


def test_wait_without_start_queues_nothing_and_records_waiting_digests(sqlite_store, tmp_path):
    """Issue 20: this was ``wait_for_uploads()`` alone, a test that could fail only by raising.

    Without background uploads a save is logged before it returns; ``wait_for_uploads`` then
    waits for no queue, starts none, and records the digests still waiting for a batch.
    """
    with mlflow.start_run() as run:
        csv(tmp_path / "a.csv").save(DF)
        assert artifacts(run.info.run_id) == ["a.csv"], "logged before save returned"
        assert upload_status() == UploadStatus()
        wait_for_uploads()
        assert upload_status() == UploadStatus()
        csv(tmp_path / "b.csv").save(DF)
        assert artifacts(run.info.run_id) == ["a.csv", "b.csv"], "a save after it queued"
    assert "a.csv" in dataset_records(run.info.run_id), "the waiting record was not logged"


def _save_in_child(path, done):
    csv(path).save(DF)
    done.put(True)


def test_forked_worker_uploads_synchronously(sqlite_store, tmp_path, monkeypatch):
    """A ParallelRunner worker cannot be waited for by the parent: it must not queue."""
    start_background_uploads()
    try:
        with mlflow.start_run() as run:
            # What the hook exports: a worker process has no active run of its own.
            monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
            context = multiprocessing.get_context("fork")
            done = context.Queue()
            child = context.Process(target=_save_in_child, args=(tmp_path / "w.csv", done))
            child.start()
            child.join(60)
            assert done.get(timeout=5) is True
            # Logged and digested by the child itself, before the parent waited for anything.
            assert artifacts(run.info.run_id) == ["w.csv"]
            assert "w.csv" in dataset_records(run.info.run_id)
    finally:
        wait_for_uploads()


def test_a_queued_upload_logs_its_dataset_record_as_soon_as_it_ends(sqlite_store, tmp_path):
    """Issue 20: a server dying later must not cost the uploads already done their digests.

    The record is visible before anything waits for the queue (no batch at the end of the run).
    """
    start_background_uploads(max_workers=1)
    try:
        with mlflow.start_run() as run:
            csv(tmp_path / "a.csv", artifact_path="out").save(DF)
            deadline = time.monotonic() + 60
            while "out/a.csv" not in dataset_records(run.info.run_id):
                assert time.monotonic() < deadline, "the record never appeared before the wait"
                time.sleep(0.05)
            (record,) = dataset_records(run.info.run_id).values()
            assert record["sha256"] == hashlib.sha256((tmp_path / "a.csv").read_bytes()).hexdigest()
    finally:
        wait_for_uploads()
