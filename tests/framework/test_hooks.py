"""The hook and its functions, in this process, against real sqlite MLflow stores."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import mlflow
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_mlflow.framework import hooks
from kedro_mlflow.framework.config import (
    DictParamsOptions,
    KedroMlflowConfig,
    MlflowConfigError,
    MlflowSettings,
    resolve_settings,
)
from kedro_mlflow.io import artifacts as io_artifacts
from tests.helpers import (
    ALL_ARTIFACTS,
    OMEGACONF_DEPRECATION,
    all_runs,
    artifacts,
    store_uri,
    write,
)

pytestmark = OMEGACONF_DEPRECATION


def settings_for(tmp_path: Path, config: dict | None = None) -> MlflowSettings:
    """Settings of a project in tmp_path, MLflow pointed at its embedded store."""
    resolved = resolve_settings(
        KedroMlflowConfig.model_validate(config or {}),
        project_path=tmp_path,
        package_name="pkg",
        env="local",
        environ={},
    )
    hooks.use_tracking_uri(resolved)
    return resolved


def identity(value: object) -> object:
    return value


def param_pipeline() -> tuple[Pipeline, DataCatalog]:
    pipeline = Pipeline(
        [node(identity, "params:model", "out", name="a"), node(identity, "parameters", "o2")]
    )
    catalog = DataCatalog(
        {
            "params:model": MemoryDataset({"lr": 0.1, "layers": {"n": 2}}),
            "parameters": MemoryDataset({"model": {"lr": 0.1}}),
        }
    )
    return pipeline, catalog


RUN_PARAMS = {
    "run_id": "2026-01-01T00.00.00.000Z",
    "env": "local",
    "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f00>",
    "pipeline_names": None,
    "kedro_version": "1.7.0",
}


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
    def failed_uploads() -> None:
        raise DatasetError("1 of 2 MLflow artifact upload(s) failed: raw.csv")

    monkeypatch.setattr(io_artifacts, "wait_for_uploads", failed_uploads)
    monkeypatch.setenv("MLFLOW_RUN_ID", "")  # an empty variable is restored as it was
    with (
        pytest.raises(DatasetError, match="upload"),
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
        hooks.MlflowHook().before_pipeline_run(RUN_PARAMS, pipeline, catalog)


# -- start_tracking / end_tracking ------------------------------------------------------------


def test_the_run_id_is_exported_for_workers_and_the_environment_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDRO_MLFLOW_DISABLE_TRACKING", "0")
    settings = settings_for(tmp_path)
    pipeline, catalog = param_pipeline()

    tracked = hooks.start_tracking(settings, RUN_PARAMS, pipeline, catalog)
    assert os.environ["MLFLOW_RUN_ID"] == tracked.run_id
    assert os.environ["MLFLOW_TRACKING_URI"] == settings.tracking_uri
    hooks.end_tracking(tracked, "FINISHED", raise_upload_errors=True)

    assert "MLFLOW_RUN_ID" not in os.environ
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

    tracked = hooks.start_tracking(settings, {"pipeline_names": ["a"]}, pipeline, catalog)
    assert tracked.run_id is None
    assert os.environ[io_artifacts.DISABLE_TRACKING_ENV] == "1"
    hooks.end_tracking(tracked, "FINISHED", raise_upload_errors=True)
    assert io_artifacts.DISABLE_TRACKING_ENV not in os.environ
    assert not (tmp_path / "mlflow.db").exists()


def test_a_pipeline_mix_is_tracked_unless_every_pipeline_is_disabled():
    config = KedroMlflowConfig.model_validate(
        {"tracking": {"disable_tracking": {"pipelines": ["a", "__default__"]}}}
    )
    assert hooks.tracking_disabled(config, ["a"])
    assert hooks.tracking_disabled(config, hooks.pipeline_names({"pipeline_names": None}))
    assert not hooks.tracking_disabled(config, ["a", "b"])


def test_a_failure_after_the_run_started_ends_it_failed(tmp_path):
    """before_pipeline_run failing is not followed by on_pipeline_error: clean up there."""
    settings = settings_for(tmp_path)
    pipeline, _ = param_pipeline()
    catalog = DataCatalog(
        {"parameters": MemoryDataset("x" * 7000), "params:model": MemoryDataset(1)}
    )

    with pytest.raises(MlflowConfigError, match="long_params_strategy"):
        hooks.start_tracking(settings, RUN_PARAMS, pipeline, catalog)

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
        hooks.open_run(settings, "x")


def test_resuming_a_deleted_run_fails(tmp_path):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    run_id = client.create_run(hooks.ensure_experiment(client, settings)).info.run_id
    client.delete_run(run_id)
    settings = settings_for(tmp_path, {"tracking": {"run": {"id": run_id}}})
    with pytest.raises(MlflowConfigError, match=r"is deleted.*mlflow runs restore"):
        hooks.open_run(settings, "x")


def test_a_deleted_experiment_is_restored_or_refused(tmp_path):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    experiment_id = hooks.ensure_experiment(client, settings)
    client.delete_experiment(experiment_id)

    refusing = settings_for(tmp_path, {"tracking": {"experiment": {"restore_if_deleted": False}}})
    with pytest.raises(MlflowConfigError, match="restore_if_deleted: true"):
        hooks.ensure_experiment(client, refusing)
    assert hooks.ensure_experiment(client, settings) == experiment_id
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
    experiment = client.get_experiment(hooks.ensure_experiment(client, settings))
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
    hooks.use_tracking_uri(settings)
    with pytest.raises(MlflowConfigError, match=r"unreachable.*server\.mlflow_tracking_uri"):
        hooks.open_run(settings, "x")


# -- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({}, {"m": "{'a': {'b': 1}}", "n": "1"}, id="as-is"),
        pytest.param({"flatten": True}, {"m.a.b": "1", "n": "1"}, id="flat"),
        pytest.param(
            {"flatten": True, "recursive": False}, {"m.a": "{'b': 1}", "n": "1"}, id="one-level"
        ),
        pytest.param({"flatten": True, "sep": "/"}, {"m/a/b": "1", "n": "1"}, id="sep"),
    ],
)
def test_dict_params_options(options, expected):
    params, tags = hooks.params_to_log(
        {"m": {"a": {"b": 1}}, "n": 1}, DictParamsOptions(**options), "fail"
    )
    assert (params, tags) == (expected, {})


def test_long_params_strategies():
    long = {"long": "x" * 6001, "short": "y"}
    with pytest.raises(MlflowConfigError, match=r"'long' is 6001 characters.*'truncate' or 'tag'"):
        hooks.params_to_log(long, DictParamsOptions(), "fail")
    params, tags = hooks.params_to_log(long, DictParamsOptions(), "truncate")
    assert (len(params["long"]), tags) == (6000, {})
    params, tags = hooks.params_to_log(long, DictParamsOptions(), "tag")
    assert (params, tags) == ({"short": "y"}, {"long": "x" * 6001})


def test_invalid_characters_in_param_names_are_replaced(caplog):
    with caplog.at_level(logging.WARNING):
        params, _ = hooks.params_to_log({"a=b": 1}, DictParamsOptions(), "fail")
    assert params == {"a_b": "1"}
    assert "'a=b' is logged as 'a_b'" in caplog.text


def test_params_already_in_a_resumed_run_are_kept(tmp_path, caplog):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    run_id = client.create_run(hooks.ensure_experiment(client, settings)).info.run_id
    client.log_param(run_id, "model", "{'lr': 0.1, 'layers': {'n': 2}}")
    client.log_param(run_id, "parameters", "changed")
    pipeline, catalog = param_pipeline()

    with caplog.at_level(logging.WARNING):
        hooks.log_parameters(client, run_id, settings.config, pipeline=pipeline, catalog=catalog)
    assert client.get_run(run_id).data.params["parameters"] == "changed"
    assert "already has the param 'parameters'" in caplog.text
    assert "param 'model'" not in caplog.text


# -- context: credentials, request headers ----------------------------------------------------


def loader(conf: Path) -> OmegaConfigLoader:
    return OmegaConfigLoader(conf_source=str(conf), base_env="base", default_run_env="local")


def test_credentials_are_exported_as_environment_variables(tmp_path):
    write(
        tmp_path / "conf" / "local" / "credentials.yml",
        "mlflow_creds:\n  MLFLOW_TRACKING_USERNAME: me\n  KEDRO_MLFLOW_TEST_PORT: 1234\n",
    )
    (tmp_path / "conf" / "base").mkdir()
    settings = settings_for(tmp_path, {"server": {"credentials": "mlflow_creds"}})
    hooks.export_credentials(loader(tmp_path / "conf"), settings)
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "me"
    assert os.environ["KEDRO_MLFLOW_TEST_PORT"] == "1234"


def test_missing_credentials_say_where_to_add_them(tmp_path):
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    settings = settings_for(tmp_path, {"server": {"credentials": "nowhere"}})
    with pytest.raises(MlflowConfigError, match="'nowhere', which is not an entry of credentials"):
        hooks.export_credentials(loader(tmp_path / "conf"), settings)


HEADER_PROVIDER = """
from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider


class TokenHeaders(RequestHeaderProvider):
    def __init__(self, token, kedro_context=None):
        self.token = token
        self.context = kedro_context

    def in_context(self):
        return True

    def request_headers(self):
        return {"Authorization": f"Bearer {self.token}"}


class NotAProvider:
    pass
"""


def test_request_header_provider_is_used_and_replaced(tmp_path, monkeypatch):
    from mlflow.tracking.request_header.registry import resolve_request_headers

    write(tmp_path / "kedro_mlflow_test_headers.py", HEADER_PROVIDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    provider = {
        "type": "kedro_mlflow_test_headers.TokenHeaders",
        "init_kwargs": {"token": "t1"},
        "pass_context": True,
    }
    settings = settings_for(tmp_path, {"server": {"request_header_provider": provider}})
    hooks.use_request_header_provider(settings, context="the context")
    assert resolve_request_headers()["Authorization"] == "Bearer t1"

    hooks.use_request_header_provider(settings_for(tmp_path), context=None)
    assert "Authorization" not in resolve_request_headers()

    wrong = {"type": "kedro_mlflow_test_headers.NotAProvider"}
    with pytest.raises(MlflowConfigError, match="must be a subclass of"):
        hooks.use_request_header_provider(
            settings_for(tmp_path, {"server": {"request_header_provider": wrong}}), None
        )
    sys.modules.pop("kedro_mlflow_test_headers", None)


# -- small functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python -m kedro", "run", "--async"], "kedro run --async"),
        (["/venv/bin/kedro", "run", "--params", "a=b c"], "kedro run --params 'a=b c'"),
        (["/x/my_project/__main__.py", "run"], "python -m my_project run"),
        ([], ""),
    ],
)
def test_command_line(argv, expected):
    assert hooks.command_line(argv) == expected


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        ("<kedro.runner.parallel_runner.ParallelRunner object at 0x7f>", "ParallelRunner"),
        ("SequentialRunner", "SequentialRunner"),
        (None, None),
    ],
)
def test_runner_name(runner, expected):
    assert hooks.runner_name(runner) == expected
