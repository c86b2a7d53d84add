"""Pipeline parameters logged as MLflow params."""

from __future__ import annotations

import logging

import mlflow
import pytest

from kedro_mlflow.config.kedro_mlflow_config import DictParamsOptions
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks import configure, params
from tests.helpers import (
    OMEGACONF_DEPRECATION,
    param_pipeline,
    settings_for,
)

pytestmark = OMEGACONF_DEPRECATION


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
    logged, tagged = params.params_to_log(
        {"m": {"a": {"b": 1}}, "n": 1}, DictParamsOptions(**options), "fail"
    )
    assert (logged, tagged) == (expected, {})


def test_long_params_strategies():
    long = {"long": "x" * 6001, "short": "y"}
    with pytest.raises(MlflowConfigError, match=r"'long' is 6001 characters.*'truncate' or 'tag'"):
        params.params_to_log(long, DictParamsOptions(), "fail")
    logged, tagged = params.params_to_log(long, DictParamsOptions(), "truncate")
    assert (len(logged["long"]), tagged) == (6000, {})
    logged, tagged = params.params_to_log(long, DictParamsOptions(), "tag")
    assert (logged, tagged) == ({"short": "y"}, {"long": "x" * 6001})


def test_invalid_characters_in_param_names_are_replaced(caplog):
    with caplog.at_level(logging.WARNING):
        logged, _ = params.params_to_log({"a=b": 1}, DictParamsOptions(), "fail")
    assert logged == {"a_b": "1"}
    assert "'a=b' is logged as 'a_b'" in caplog.text


def test_params_already_in_a_resumed_run_are_kept(tmp_path, caplog):
    settings = settings_for(tmp_path)
    client = mlflow.MlflowClient(settings.tracking_uri)
    run_id = client.create_run(configure.ensure_experiment(client, settings)).info.run_id
    client.log_param(run_id, "model", "{'lr': 0.1, 'layers': {'n': 2}}")
    client.log_param(run_id, "parameters", "changed")
    pipeline, catalog = param_pipeline()

    with caplog.at_level(logging.WARNING):
        found, tags = params.pipeline_params(settings.config, pipeline=pipeline, catalog=catalog)
        params.log_params(client, run_id, found, tags)
    assert client.get_run(run_id).data.params["parameters"] == "changed"
    assert "already has the param 'parameters'" in caplog.text
    assert "param 'model'" not in caplog.text
