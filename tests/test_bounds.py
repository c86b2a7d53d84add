"""server.request_timeout turned into MLflow's own bounds; a variable the user set wins."""

from __future__ import annotations

import os

import pytest

from kedro_mlflow import _bounds
from kedro_mlflow._tracking import redact
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig


def test_the_default_bound_is_tens_of_seconds():
    _bounds.apply()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "9"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert "30 s" in _bounds.describe()


def test_the_configured_bound_follows_a_change(monkeypatch):
    monkeypatch.setenv(_bounds.REQUEST_TIMEOUT_ENV, "10")
    _bounds.apply()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
    monkeypatch.setenv(_bounds.REQUEST_TIMEOUT_ENV, "60")
    _bounds.apply()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "19"


def test_a_variable_the_user_set_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    _bounds.apply()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT=2" in _bounds.describe()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc"])
def test_a_nonsense_variable_falls_back_to_the_default(monkeypatch, value):
    monkeypatch.setenv(_bounds.REQUEST_TIMEOUT_ENV, value)
    assert _bounds.request_timeout() == _bounds.DEFAULT_REQUEST_TIMEOUT_S


@pytest.mark.parametrize("value", [0, -5])
def test_mlflow_yml_refuses_a_bound_that_is_not_positive(value):
    with pytest.raises(ValueError, match="greater than 0"):
        KedroMlflowConfig.model_validate({"server": {"request_timeout": value}})


def test_redact_hides_every_password_in_a_text():
    text = "POST http://u:p1@a:1/x then https://v:p2@b/y, sqlite:///x.db"
    assert redact(text) == "POST http://u:***@a:1/x then https://v:***@b/y, sqlite:///x.db"


@pytest.mark.timeout(60, func_only=True)
def test_an_s3_store_that_stops_answering_fails_a_save_within_the_bound(tmp_path, monkeypatch):
    """boto3 has its own timeouts (60 s, 3 attempts): they follow server.request_timeout."""
    import time

    import boto3
    import mlflow
    import pandas as pd
    from kedro.io import DatasetError

    from tests.helpers import DF, TcpProxy, csv, make_store

    # As in a fresh process: the S3 fixtures of other tests made boto3's default session,
    # which kedro-mlflow leaves alone (it could be the user's own).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv(_bounds.REQUEST_TIMEOUT_ENV, "6")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with TcpProxy() as stalled:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", stalled.url)
        make_store(f"sqlite:///{tmp_path}/mlflow.db", "s3://bucket/artifacts")
        local = tmp_path / "f.csv"
        started = time.monotonic()
        with mlflow.start_run() as run, pytest.raises(DatasetError) as info:
            csv(local).save(DF)
        elapsed = time.monotonic() - started
    assert elapsed < 20, f"the save took {elapsed:.0f}s against a stalled S3 endpoint"
    assert run.info.run_id in str(info.value)
    pd.testing.assert_frame_equal(pd.read_csv(local), DF)
