"""Outside a kedro run, the digests of saves are recorded in batches, and never lost.

A notebook's or a script's save keeps its digest tags (``_digests``) until a batch is full,
``_digests.SECONDS`` have passed, this process reads versions back, ``wait_for_uploads()`` is
called, or the program ends (a crash included). Real sqlite stores; the scripts whose exit
matters run in subprocesses.
"""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from kedro_mlflow.io.artifacts import (
    MlflowArtifactDataset,
    _digests,
    _mlflow_store,
    _records,
    find_versions,
    wait_for_uploads,
)
from tests.helpers import DF, artifacts, csv, dataset_records


def _digested(run_id: str) -> list[str]:
    return sorted(dataset_records(run_id))


def _script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a new Python process whose MLflow store is tmp_path's."""
    header = f"""
        import mlflow
        from kedro_mlflow.io.artifacts import MlflowArtifactDataset
        mlflow.set_tracking_uri("sqlite:///{tmp_path}/mlflow.db")
        mlflow.set_experiment(experiment_id=mlflow.create_experiment(
            "e", artifact_location="{(tmp_path / "mlruns").as_uri()}"))

        def pickle(i):
            return MlflowArtifactDataset(
                dataset={{"type": "pickle.PickleDataset", "filepath": f"{tmp_path}/d{{i}}.pkl"}}
            )
    """
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(("crash", "status"), [(False, "FINISHED"), (True, "FAILED")])
def test_every_digest_of_a_script_is_recorded_by_its_end(tmp_path, crash, status):
    """More saves than a batch into the run the dataset started: none is lost, crash or not."""
    saves = _digests.BATCH + 30
    done = _script(
        tmp_path,
        f"""
        for i in range({saves}):
            pickle(i).save(i)
        if {crash}:
            raise RuntimeError("the script crashed")
        """,
    )

    assert (done.returncode != 0) is crash, done.stderr
    assert "could not record" not in done.stderr
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == status
    assert _digested(run.info.run_id) == sorted(f"d{i}.pkl" for i in range(saves))


def test_digests_wait_for_a_full_batch(sqlite_store, tmp_path, monkeypatch):
    """No store call per save: the save that fills a batch records the whole batch."""
    monkeypatch.setattr(_digests, "SECONDS", 600.0)  # no background record during the test
    with mlflow.start_run() as run:
        for index in range(_digests.BATCH - 1):
            csv(tmp_path / f"{index}.csv").save(DF)
        assert _digested(run.info.run_id) == []
        assert _digests.waiting() == _digests.BATCH - 1
        csv(tmp_path / "last.csv").save(DF)
        assert len(_digested(run.info.run_id)) == _digests.BATCH
        assert _digests.waiting() == 0


def test_a_digest_is_recorded_soon_without_any_further_call(sqlite_store, tmp_path):
    with mlflow.start_run() as run:
        csv(tmp_path / "a.csv").save(DF)
    deadline = time.monotonic() + 60 * _digests.SECONDS
    while not _digested(run.info.run_id):
        assert time.monotonic() < deadline, "the digest was not recorded in the background"
        time.sleep(0.1)
    assert _digested(run.info.run_id) == ["a.csv"]


def test_a_load_in_the_same_process_sees_the_digest_at_once(sqlite_store, tmp_path, caplog):
    """The run fetched is kept once ended: its digests are recorded before it is fetched."""
    with mlflow.start_run() as run:
        csv(tmp_path / "a.csv").save(DF)
    caplog.set_level(logging.WARNING, logger="kedro_mlflow")

    assert csv(tmp_path / "copy" / "a.csv", run_id=run.info.run_id).load().equals(DF)
    assert "unverified" not in caplog.text
    kept = _mlflow_store.get_run(run.info.run_id, "test", remember="ended")
    assert _records.recorded_digest(kept, "a.csv") is not None


def test_a_listing_in_the_same_process_sees_the_save_at_once(sqlite_store, tmp_path):
    with mlflow.start_run() as run:
        csv(tmp_path / "a.csv", artifact_path="out").save(DF)
    assert [version.run_id for version in find_versions("out/a.csv")] == [run.info.run_id]


def test_wait_for_uploads_records_them_at_once(sqlite_store, tmp_path):
    csv(tmp_path / "a.csv").save(DF)  # into the run the dataset starts
    run_id = mlflow.active_run().info.run_id
    wait_for_uploads()
    assert _digested(run_id) == ["a.csv"]


def test_a_failing_record_fails_the_next_save_into_that_run_only(tmp_path):
    """The run deleted behind the script's back: its digests cannot be recorded."""
    done = _script(
        tmp_path,
        """
        import contextlib
        import time
        from kedro.io import DatasetError
        pickle(0).save(0)
        run_id = mlflow.active_run().info.run_id
        mlflow.MlflowClient().delete_run(run_id)
        time.sleep(2)  # the background record fails meanwhile
        try:
            pickle(1).save(1)
        except DatasetError as exc:
            print("RAISED:", exc)
        with contextlib.suppress(Exception):  # the run is deleted: it cannot end
            mlflow.end_run()
        with mlflow.start_run() as other:
            pickle(2).save(2)
        print("OTHER:", other.info.run_id)
        """,
    )

    assert "RAISED: Saving MlflowArtifactDataset" in done.stdout, done.stdout + done.stderr
    assert "recording 2 dataset record(s) of run '" in done.stdout
    assert "kept and recorded again at the next save into this run, or at exit" in done.stdout
    assert "could not record 1 dataset record(s) of run" in done.stderr  # the background try
    assert "before exit. The artifacts are logged" in done.stderr
    other = done.stdout.split("OTHER: ")[1].strip()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    assert _digested(other) == ["d2.pkl"]


def _save_in_child(path: str, done: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    MlflowArtifactDataset(dataset={"type": "pickle.PickleDataset", "filepath": path}).save(1)
    done.put(mlflow.active_run().info.run_id)


def test_a_worker_process_records_its_digests_before_its_save_returns(sqlite_store, tmp_path):
    """A multiprocessing child ends by os._exit, skipping exit handlers: nothing may wait."""
    context = multiprocessing.get_context("fork")
    done = context.Queue()
    child = context.Process(target=_save_in_child, args=(str(tmp_path / "w.pkl"), done))
    child.start()
    run_id = done.get(timeout=60)
    child.join(60)  # (its exit code is coverage's under --cov: not checked)

    assert artifacts(run_id) == ["w.pkl"]
    assert _digested(run_id) == ["w.pkl"]
