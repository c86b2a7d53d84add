"""Run set-up: credentials and request headers from the project's configuration."""

from __future__ import annotations

import os
import sys

import pytest

from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks import configure
from tests.helpers import (
    OMEGACONF_DEPRECATION,
    loader,
    settings_for,
    write,
)

pytestmark = OMEGACONF_DEPRECATION


# -- context: credentials, request headers ----------------------------------------------------


def test_credentials_are_exported_as_environment_variables(tmp_path):
    write(
        tmp_path / "conf" / "local" / "credentials.yml",
        "mlflow_creds:\n  MLFLOW_TRACKING_USERNAME: me\n  KEDRO_MLFLOW_TEST_PORT: 1234\n",
    )
    (tmp_path / "conf" / "base").mkdir()
    settings = settings_for(tmp_path, {"server": {"credentials": "mlflow_creds"}})
    configure.export_credentials(loader(tmp_path / "conf"), settings)
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "me"
    assert os.environ["KEDRO_MLFLOW_TEST_PORT"] == "1234"


def test_missing_credentials_say_where_to_add_them(tmp_path):
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    settings = settings_for(tmp_path, {"server": {"credentials": "nowhere"}})
    with pytest.raises(MlflowConfigError, match="'nowhere', which is not an entry of credentials"):
        configure.export_credentials(loader(tmp_path / "conf"), settings)


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
    configure.use_request_header_provider(settings, context="the context")
    assert resolve_request_headers()["Authorization"] == "Bearer t1"

    configure.use_request_header_provider(settings_for(tmp_path), context=None)
    assert "Authorization" not in resolve_request_headers()

    wrong = {"type": "kedro_mlflow_test_headers.NotAProvider"}
    with pytest.raises(MlflowConfigError, match="must be a subclass of"):
        configure.use_request_header_provider(
            settings_for(tmp_path, {"server": {"request_header_provider": wrong}}), None
        )
    sys.modules.pop("kedro_mlflow_test_headers", None)
