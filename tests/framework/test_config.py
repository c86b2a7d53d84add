"""The mlflow.yml schema, read through Kedro's real OmegaConfigLoader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from kedro_mlflow.config.kedro_mlflow_config import TEMPLATE_PATH, KedroMlflowConfig
from kedro_mlflow.config.loading import read_config
from kedro_mlflow.config.settings import resolve_settings, resolve_uri
from kedro_mlflow.exceptions import MlflowConfigError
from tests.helpers import OMEGACONF_DEPRECATION, loader, write

pytestmark = OMEGACONF_DEPRECATION

#: Every key of kedro-mlflow 2.0.3's template, as users' files have them.
UPSTREAM_FILE = """
server:
  mlflow_tracking_uri: null
  mlflow_registry_uri: null
  credentials: null
  request_header_provider:
    type: null
    pass_context: False
    init_kwargs: {}
tracking:
  disable_tracking:
    disable_autologging: True
    pipelines: []
  experiment:
    name: my_package
    create_experiment_kwargs:
      artifact_location: null
      tags: null
    restore_if_deleted: True
  run:
    id: null
    name: null
    nested: True
  params:
    dict_params:
      flatten: False
      recursive: True
      sep: "."
    long_params_strategy: fail
ui:
  port: "5000"
  host: "127.0.0.1"
"""


def test_the_shipped_template_is_exactly_the_defaults():
    raw = yaml.safe_load(TEMPLATE_PATH.read_text())
    assert KedroMlflowConfig.model_validate(raw) == KedroMlflowConfig()


def test_the_template_names_every_key_of_the_schema():
    """Nothing of the schema is left undocumented in the template."""

    def keys(model: type, prefix: str = "") -> set[str]:
        found = set()
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                found |= keys(annotation, f"{prefix}{name}.")
            else:
                found.add(f"{prefix}{name}")
        return found

    def flat(raw: dict, prefix: str = "") -> set[str]:
        found = set()
        for name, value in raw.items():
            if isinstance(value, dict) and value:
                found |= flat(value, f"{prefix}{name}.")
            else:
                found.add(f"{prefix}{name}")
        return found

    assert flat(yaml.safe_load(TEMPLATE_PATH.read_text())) == keys(KedroMlflowConfig)


def test_upstream_files_are_accepted_unchanged():
    config = KedroMlflowConfig.model_validate(yaml.safe_load(UPSTREAM_FILE))
    assert config.tracking.experiment.name == "my_package"
    assert config.ui.port == "5000"


def test_defaults_match_upstream():
    config = KedroMlflowConfig()
    assert config.tracking.disable_tracking.disable_autologging is True
    assert config.tracking.experiment.restore_if_deleted is True
    assert config.tracking.run.nested is True
    assert config.tracking.params.dict_params.flatten is False
    assert config.tracking.params.dict_params.recursive is True
    assert config.tracking.params.dict_params.sep == "."
    assert config.tracking.params.long_params_strategy == "fail"
    assert config.tracking.background_uploads is True
    assert (config.ui.host, config.ui.port) == ("127.0.0.1", "5000")


def test_numbers_are_read_as_the_strings_they_mean():
    """A run id or a port written without quotes is a YAML int."""
    config = KedroMlflowConfig.model_validate(
        {"tracking": {"run": {"id": 13245678910111213}}, "ui": {"port": 5001}}
    )
    assert config.tracking.run.id == "13245678910111213"
    assert config.ui.port == "5001"


def test_booleans_stay_strict():
    with pytest.raises(ValueError, match="valid boolean"):
        KedroMlflowConfig.model_validate({"tracking": {"run": {"nested": "maybe"}}})


def test_no_mlflow_yml_gives_the_defaults(tmp_path):
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    config, files = read_config(loader(tmp_path / "conf"), tmp_path)
    assert config == KedroMlflowConfig()
    assert files == []


def test_base_and_env_files_are_merged_and_listed(tmp_path):
    conf = tmp_path / "conf"
    base = write(conf / "base" / "mlflow.yml", "tracking:\n  run:\n    name: base\n")
    local = write(conf / "local" / "mlflow.yml", "ui:\n  port: 6000\n")
    prod = write(conf / "prod" / "mlflow" / "server.yml", "tracking:\n  run:\n    name: prod\n")

    config, files = read_config(loader(conf), tmp_path)
    assert (config.tracking.run.name, config.ui.port) == ("base", "6000")
    assert files == [base, local]

    config, files = read_config(loader(conf, env="prod"), tmp_path)
    assert (config.tracking.run.name, config.ui.port) == ("prod", "5000")
    assert files == [base, prod]


def test_a_typo_names_the_key_the_file_and_the_closest_valid_key(tmp_path):
    conf = tmp_path / "conf"
    write(conf / "base" / "mlflow.yml", "server:\n  mlflow_tracking_uri: sqlite:///x.db\n")
    write(
        conf / "local" / "mlflow.yml",
        """
        tracking:
          experiment:
            nmae: typo
          params:
            long_params_strategy: ignore
        ui:
          port: 70000
        """,
    )
    with pytest.raises(MlflowConfigError) as error:
        read_config(loader(conf), tmp_path)
    message = str(error.value)
    assert (
        "'tracking.experiment.nmae' in conf/local/mlflow.yml: unknown key, did you mean 'name'?"
    ) in message
    assert "'tracking.params.long_params_strategy' in conf/local/mlflow.yml" in message
    assert "'fail', 'truncate' or 'tag'" in message
    assert "'ui.port' in conf/local/mlflow.yml: must be a TCP port number" in message
    assert "kedro mlflow init" in message
    assert "conf/base" not in message


def test_an_unknown_top_level_key_lists_the_valid_ones(tmp_path):
    write(tmp_path / "conf" / "base" / "mlflow.yml", "tracker: {}\n")
    (tmp_path / "conf" / "local").mkdir()
    with pytest.raises(MlflowConfigError, match=r"'tracker' in conf/base/mlflow.yml: unknown key"):
        read_config(loader(tmp_path / "conf"), tmp_path)


# -- resolution -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", "sqlite:////project/mlflow.db"),
        ("sqlite:///stores/a.db", "sqlite:////project/stores/a.db"),
        ("sqlite:////abs/a.db", "sqlite:////abs/a.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("mlruns", "file:///project/mlruns"),
        ("/abs/mlruns", "file:///abs/mlruns"),
        ("file:///abs/mlruns", "file:///abs/mlruns"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("s3://bucket/path", "s3://bucket/path"),
        ("postgresql://u:p@host/db", "postgresql://u:p@host/db"),
        ("databricks", "databricks"),
    ],
)
def test_resolve_uri(uri, expected):
    assert resolve_uri(uri, Path("/project")) == expected


def settings(config: dict | None = None, environ: dict | None = None, project: str = "/project"):
    return resolve_settings(
        KedroMlflowConfig.model_validate(config or {}),
        project_path=Path(project),
        package_name="pkg",
        env="local",
        environ=environ or {},
    )


def test_default_store_is_sqlite_in_the_project_with_artifacts_in_the_project():
    resolved = settings()
    assert resolved.tracking_uri == "sqlite:////project/mlflow.db"
    assert resolved.artifact_location == "file:///project/mlruns"
    assert resolved.experiment_name == "pkg"
    assert resolved.registry_uri is None


def test_the_file_wins_over_the_environment_which_wins_over_the_default():
    environ = {"MLFLOW_TRACKING_URI": "http://env:5000"}
    assert settings(environ=environ).tracking_uri == "http://env:5000"
    configured = settings({"server": {"mlflow_tracking_uri": "http://file:5000"}}, environ)
    assert configured.tracking_uri == "http://file:5000"
    assert "server.mlflow_tracking_uri" in configured.tracking_uri_origin


def test_a_server_decides_its_artifact_location_unless_configured():
    assert settings(environ={"MLFLOW_TRACKING_URI": "http://h:5000"}).artifact_location is None
    configured = settings(
        {
            "server": {"mlflow_tracking_uri": "http://h:5000"},
            "tracking": {"experiment": {"create_experiment_kwargs": {"artifact_location": "a"}}},
        }
    )
    assert configured.artifact_location == "file:///project/a"


def test_experiment_name_and_registry_uri_from_the_file():
    resolved = settings(
        {
            "server": {"mlflow_registry_uri": "sqlite:///registry.db"},
            "tracking": {"experiment": {"name": "exp"}},
        }
    )
    assert resolved.experiment_name == "exp"
    assert resolved.registry_uri == "sqlite:////project/registry.db"


def test_a_soft_merge_strategy_merges_base_and_env_key_by_key(tmp_path):
    """What the README advises for those who want conf/local to override single keys."""
    conf = tmp_path / "conf"
    write(conf / "base" / "mlflow.yml", "tracking:\n  run:\n    name: base\n")
    write(conf / "local" / "mlflow.yml", "tracking:\n  experiment:\n    name: local\n")
    soft = OmegaConfigLoader(
        conf_source=str(conf),
        base_env="base",
        default_run_env="local",
        merge_strategy={"mlflow": "soft"},
    )
    config, _ = read_config(soft, tmp_path)
    assert (config.tracking.run.name, config.tracking.experiment.name) == ("base", "local")


def test_the_cache_cap_is_a_size_and_is_exported_for_the_datasets(tmp_path, monkeypatch):
    """`tracking.cache_max_bytes` takes `20GiB`-like sizes; a wrong one names key and file."""
    from kedro_mlflow.framework.hooks.configure import export_cache_limit
    from tests.helpers import settings_for

    monkeypatch.delenv("KEDRO_MLFLOW_CACHE_MAX_BYTES", raising=False)
    export_cache_limit(settings_for(tmp_path, {"tracking": {"cache_max_bytes": "1.5GiB"}}))
    assert os.environ["KEDRO_MLFLOW_CACHE_MAX_BYTES"] == str(int(1.5 * 1024**3))

    conf = tmp_path / "conf"
    write(conf / "base" / "catalog.yml", "{}")
    write(conf / "local" / "mlflow.yml", "tracking:\n  cache_max_bytes: lots\n")
    with pytest.raises(MlflowConfigError) as error:
        read_config(loader(conf), tmp_path)
    assert "'tracking.cache_max_bytes' in conf/local/mlflow.yml" in str(error.value)
    assert "e.g. 20GiB or 500MB" in str(error.value)
