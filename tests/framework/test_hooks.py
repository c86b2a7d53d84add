"""The hook in in-process Kedro sessions, against real sqlite MLflow stores."""

from __future__ import annotations

import os

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.io import DatasetError

from kedro_mlflow.framework.hooks import MlflowHook
from kedro_mlflow.io import artifacts as io_artifacts
from tests.helpers import (
    ALL_ARTIFACTS,
    OMEGACONF_DEPRECATION,
    RUN_PARAMS,
    all_runs,
    artifacts,
    param_pipeline,
    store_uri,
    write,
)

pytestmark = OMEGACONF_DEPRECATION


# -- sessions in this process -----------------------------------------------------------------


def test_a_run_already_active_is_joined_and_left_open(in_process, tmp_path):
    """A notebook's or orchestrator's run: kedro logs into it and does not end it."""
    uri = f"sqlite:///{tmp_path}/notebook.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("notebook")
    with mlflow.start_run() as outer:
        run_id = outer.info.run_id
        with KedroSession.create(project_path=in_process) as session:
            session.run()
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == run_id
        assert mlflow.get_run(run_id).info.status == "RUNNING"
        assert "MLFLOW_RUN_ID" not in os.environ
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert artifacts(run_id, tracking_uri=uri) == ALL_ARTIFACTS
    assert run.data.tags["kedro_mlflow.pipeline"] == "__default__"
    assert run.data.params["n"] == "5"
    assert not (in_process / "mlflow.db").exists()


def test_background_uploads_are_started_and_waited_for(in_process, mocker):
    start = mocker.spy(io_artifacts, "start_background_uploads")
    wait = mocker.spy(io_artifacts, "wait_for_uploads")
    with KedroSession.create(project_path=in_process) as session:
        session.run(pipeline_names=["data"])
    assert start.call_count == 1
    assert wait.call_count == 1
    (run,) = all_runs(store_uri(in_process))
    assert run.info.status == "FINISHED"


def test_background_uploads_can_be_turned_off(in_process, mocker):
    write(in_process / "conf" / "local" / "mlflow.yml", "tracking:\n  background_uploads: false\n")
    start = mocker.spy(io_artifacts, "start_background_uploads")
    with KedroSession.create(project_path=in_process) as session:
        session.run(pipeline_names=["data"])
    assert start.call_count == 0


def test_a_failed_upload_ends_the_run_failed_and_fails_kedro_run(in_process, monkeypatch):
    """Rule: uploads that fail (an artifact root under a regular file) fail the run."""
    (in_process / "not-a-folder").write_text("")
    write(
        in_process / "conf" / "local" / "mlflow.yml",
        "tracking:\n  experiment:\n    create_experiment_kwargs:\n"
        "      artifact_location: not-a-folder/mlruns\n",
    )
    monkeypatch.setenv("MLFLOW_RUN_ID", "")  # an empty variable is restored as it was
    with (
        pytest.raises(DatasetError, match=r"2 of 2 save\(s\) of this run not logged"),
        KedroSession.create(project_path=in_process) as session,
    ):
        session.run(pipeline_names=["data"])
    (run,) = all_runs(store_uri(in_process))
    assert run.info.status == "FAILED"
    assert mlflow.active_run() is None
    assert os.environ["MLFLOW_RUN_ID"] == ""
    assert os.environ.get("KEDRO_MLFLOW_DISABLE_TRACKING") is None


def test_a_failing_node_ends_the_run_failed_and_restores_the_environment(in_process):
    with (
        pytest.raises(RuntimeError, match="failed on purpose"),
        KedroSession.create(project_path=in_process) as session,
    ):
        session.run(pipeline_names=["failing"])
    uri = store_uri(in_process)
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
    assert artifacts(run.info.run_id, tracking_uri=uri) == ["raw.csv"]
    assert mlflow.active_run() is None
    assert "MLFLOW_RUN_ID" not in os.environ


def test_the_hook_needs_a_context_first():
    pipeline, catalog = param_pipeline()
    with pytest.raises(RuntimeError, match="load_context"):
        MlflowHook().before_pipeline_run(RUN_PARAMS, pipeline, catalog)
