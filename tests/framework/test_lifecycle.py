"""The run's life: open, resume, join, end, the experiment; real sqlite stores."""

from __future__ import annotations

import os

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset

from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from kedro_mlflow.config.settings import resolve_settings
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks import configure, lifecycle, opening
from kedro_mlflow.io import artifacts as io_artifacts
from tests.helpers import (
    OMEGACONF_DEPRECATION,
    RUN_PARAMS,
    all_runs,
    param_pipeline,
    settings_for,
)

pytestmark = OMEGACONF_DEPRECATION


# -- start_tracking / end_tracking ------------------------------------------------------------


def test_the_run_id_is_exported_for_workers_and_the_environment_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDRO_MLFLOW_DISABLE_TRACKING", "0")
    settings = settings_for(tmp_path)
    pipeline, catalog = param_pipeline()
    client = mlflow.MlflowClient()
    orchestrators = client.create_run(configure.ensure_experiment(client, settings)).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", orchestrators)

    tracked = lifecycle.start_tracking(settings, RUN_PARAMS, pipeline, catalog)
    assert tracked.run_id == orchestrators
    assert os.environ["KEDRO_MLFLOW_RUN_ID"] == tracked.run_id
    assert os.environ["MLFLOW_TRACKING_URI"] == settings.tracking_uri
    # MLflow would resume it for a node's nested run, and unset it when that run ends.
    assert "MLFLOW_RUN_ID" not in os.environ
    lifecycle.end_tracking(tracked, "FINISHED", raise_upload_errors=True)

    assert "KEDRO_MLFLOW_RUN_ID" not in os.environ
    assert os.environ["MLFLOW_RUN_ID"] == orchestrators
    run = mlflow.MlflowClient(settings.tracking_uri).get_run(tracked.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["kedro_mlflow.runner"] == "ThreadRunner"
    assert run.data.tags["kedro_mlflow.session_id"] == RUN_PARAMS["run_id"]
    assert run.data.params == {
        "model": "{'lr': 0.1, 'layers': {'n': 2}}",
        "parameters": "{'model': {'lr': 0.1}}",
    }


def test_a_disabled_pipeline_sets_the_dataset_switch_for_the_run_only(tmp_path):
    settings = settings_for(tmp_path, {"tracking": {"disable_tracking": {"pipelines": ["a"]}}})
    pipeline, catalog = param_pipeline()

    tracked = lifecycle.start_tracking(settings, {"pipeline_names": ["a"]}, pipeline, catalog)
    assert tracked.run_id is None
    assert os.environ[io_artifacts.DISABLE_TRACKING_ENV] == "1"
    lifecycle.end_tracking(tracked, "FINISHED", raise_upload_errors=True)
    assert io_artifacts.DISABLE_TRACKING_ENV not in os.environ
    assert not (tmp_path / "mlflow.db").exists()


def test_a_pipeline_mix_is_tracked_unless_every_pipeline_is_disabled():
    config = KedroMlflowConfig.model_validate(
        {"tracking": {"disable_tracking": {"pipelines": ["a", "__default__"]}}}
    )
    assert opening.tracking_disabled(config, ["a"])
    assert opening.tracking_disabled(config, opening.pipeline_names({"pipeline_names": None}))
    assert not opening.tracking_disabled(config, ["a", "b"])


def test_a_failure_after_the_run_started_ends_it_failed(tmp_path):
    """before_pipeline_run failing is not followed by on_pipeline_error: clean up there."""
    settings = settings_for(tmp_path)
    pipeline, _ = param_pipeline()
    catalog = DataCatalog(
        {"parameters": MemoryDataset("x" * 7000), "params:model": MemoryDataset(1)}
    )

    with pytest.raises(MlflowConfigError, match="long_params_strategy"):
        lifecycle.start_tracking(settings, RUN_PARAMS, pipeline, catalog)

    (run,) = all_runs(settings.tracking_uri)
    assert run.info.status == "FAILED"
    assert mlflow.active_run() is None
    assert "MLFLOW_RUN_ID" not in os.environ


@pytest.mark.parametrize("origin", ["env", "config"])
def test_resuming_an_unknown_run_says_where_the_id_came_from(tmp_path, monkeypatch, origin):
    config = {"tracking": {"run": {"id": "0123abc"}}} if origin == "config" else {}
    if origin == "env":
        monkeypatch.setenv("MLFLOW_RUN_ID", "0123abc")
    settings = settings_for(tmp_path, config)
    expected = "'tracking.run.id'" if origin == "config" else "MLFLOW_RUN_ID"
    with pytest.raises(MlflowConfigError, match=f"'0123abc' \\(from .*{expected}.*not found"):
        opening.open_run(settings, "x")


def test_resuming_a_deleted_run_fails(tmp_path):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    run_id = client.create_run(configure.ensure_experiment(client, settings)).info.run_id
    client.delete_run(run_id)
    settings = settings_for(tmp_path, {"tracking": {"run": {"id": run_id}}})
    with pytest.raises(MlflowConfigError, match=r"is deleted.*mlflow runs restore"):
        opening.open_run(settings, "x")


def test_a_deleted_experiment_is_restored_or_refused(tmp_path):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    experiment_id = configure.ensure_experiment(client, settings)
    client.delete_experiment(experiment_id)

    refusing = settings_for(tmp_path, {"tracking": {"experiment": {"restore_if_deleted": False}}})
    with pytest.raises(MlflowConfigError, match="restore_if_deleted: true"):
        configure.ensure_experiment(client, refusing)
    assert configure.ensure_experiment(client, settings) == experiment_id
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_a_missing_experiment_is_created_with_its_kwargs(tmp_path):
    settings = settings_for(
        tmp_path,
        {
            "tracking": {
                "experiment": {
                    "name": "exp",
                    "create_experiment_kwargs": {
                        "artifact_location": "store/artifacts",
                        "tags": {"team": "data"},
                    },
                }
            }
        },
    )
    client = mlflow.MlflowClient(settings.tracking_uri)
    experiment = client.get_experiment(configure.ensure_experiment(client, settings))
    assert experiment.name == "exp"
    assert experiment.tags["team"] == "data"
    assert experiment.artifact_location == (tmp_path / "store" / "artifacts").as_uri()


def test_an_unreachable_server_fails_in_seconds_naming_the_setting(tmp_path):
    from tests.helpers import free_port

    settings = resolve_settings(
        KedroMlflowConfig.model_validate(
            {"server": {"mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}"}}
        ),
        project_path=tmp_path,
        package_name="pkg",
        env=None,
    )
    configure.use_tracking_uri(settings)
    with pytest.raises(MlflowConfigError, match=r"unreachable.*server\.mlflow_tracking_uri"):
        opening.open_run(settings, "x")
