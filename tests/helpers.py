"""Helpers shared by the tests: ports, real MLflow stores, real Kedro projects.

Fixtures live in the conftest files; everything a test module imports lives here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from kedro_mlflow.config.settings import MlflowSettings, resolve_settings
from kedro_mlflow.framework import configure
from kedro_mlflow.io.artifacts import MlflowArtifactDataset


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Store:
    """A tracking URI and an experiment whose artifacts go where the test says."""

    tracking_uri: str
    experiment_id: str
    artifact_root: str


def make_store(tracking_uri: str, artifact_root: str | None, name: str = "tests") -> Store:
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(name, artifact_location=artifact_root)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return Store(tracking_uri, experiment_id, artifact_root or "")


PACKAGE = "tracked_project"

NODES = '''
"""Nodes of the test project: a table, a summary (pickle), a report (factory pattern)."""

import pandas as pd


def make_raw(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


def report(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.describe()


def summarize(raw: pd.DataFrame, model: dict) -> dict:
    return {"total": int(raw["x"].sum()), "model": model}


def explode(raw: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError("the node failed on purpose")
'''

PIPELINE_REGISTRY = '''
"""Pipelines: data (raw, stats_csv), model (summary), failing (raw, then an error)."""

from kedro.pipeline import Pipeline, node

from tracked_project.nodes import explode, make_raw, report, summarize


def register_pipelines() -> dict[str, Pipeline]:
    data = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(report, "raw", "stats_csv", name="report"),
    ])
    model = Pipeline([node(summarize, ["raw", "params:model"], "summary", name="summarize")])
    failing = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(explode, "raw", "never_csv", name="explode"),
    ])
    return {"__default__": data + model, "data": data, "model": model, "failing": failing}
'''

CATALOG = """
raw:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/01_raw/raw.csv

summary:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/summary.pkl
  artifact_path: models

"{name}_csv":
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/08_reporting/{name}.csv
  artifact_path: reporting
"""

PARAMETERS = """
n: 5
model:
  lr: 0.1
  depth: 3
"""

#: Kedro 1.7 calls OmegaConf's deprecated register_new_resolver each time it loads config.
OMEGACONF_DEPRECATION = pytest.mark.filterwarnings(
    r"ignore:register_new_resolver\(\) is deprecated:UserWarning"
)

#: What a full `kedro run` of the default pipeline logs.
ALL_ARTIFACTS = ["models/summary.pkl", "raw.csv", "reporting/stats.csv"]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without MLflow/kedro-mlflow variables, plus ``extra``."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "KEDRO_MLFLOW_", "KEDRO_MP_", "KEDRO_ENV"))
    }
    environ.update(KEDRO_DISABLE_TELEMETRY="1", COLUMNS="200", **extra)
    return environ


def kedro(
    project: Path,
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kedro ARGS`` in the project (or ``cwd``), as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd or project,
        env=clean_environ(**extra_env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kedro {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def store_uri(project: Path, name: str = "mlflow.db") -> str:
    return f"sqlite:///{project}/{name}"


def all_runs(tracking_uri: str) -> list[mlflow.entities.Run]:
    """Every run of every experiment (deleted ones too) of a store."""
    from mlflow.entities import ViewType

    client = mlflow.MlflowClient(tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return client.search_runs(
        [experiment.experiment_id for experiment in experiments], run_view_type=ViewType.ALL
    )


def artifacts(
    run_id: str, path: str | None = None, *, tracking_uri: str | None = None
) -> list[str]:
    """Every file logged in a run, recursively (``tracking_uri`` None: the current one)."""
    client = mlflow.MlflowClient(tracking_uri)
    found: list[str] = []
    for info in client.list_artifacts(run_id, path):
        found.extend(
            artifacts(run_id, info.path, tracking_uri=tracking_uri) if info.is_dir else [info.path]
        )
    return sorted(found)


DF = pd.DataFrame({"a": [1, 2], "b": [3, 4]})


def csv(path: Path, **kwargs: object) -> MlflowArtifactDataset:
    """An MlflowArtifactDataset around a pandas CSVDataset at ``path``."""
    return MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(path)}, **kwargs
    )


# -- the hook's functions, in this process -------------------------------------------------


def settings_for(tmp_path: Path, config: dict[str, Any] | None = None) -> MlflowSettings:
    """Settings of a project in tmp_path, MLflow pointed at its embedded store."""
    resolved = resolve_settings(
        KedroMlflowConfig.model_validate(config or {}),
        project_path=tmp_path,
        package_name="pkg",
        env="local",
        environ={},
    )
    configure.use_tracking_uri(resolved)
    return resolved


def identity(value: object) -> object:
    """A node function that returns its input."""
    return value


def param_pipeline() -> tuple[Pipeline, DataCatalog]:
    """A pipeline reading ``params:model`` and ``parameters``, with its catalog."""
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


def loader(conf: Path, env: str | None = None) -> OmegaConfigLoader:
    """Kedro's config loader over ``conf`` (base + ``env``, default local)."""
    return OmegaConfigLoader(
        conf_source=str(conf), env=env, base_env="base", default_run_env="local"
    )
