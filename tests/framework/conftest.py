"""Real Kedro projects (``kedro new``) with MlflowArtifactDatasets, and helpers to run them.

The project is created once per session and copied for each test: ``kedro new`` works
offline with ``--tools=none --example=n``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

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


def artifacts(tracking_uri: str, run_id: str, path: str | None = None) -> list[str]:
    """Every file logged in a run, recursively."""
    client = mlflow.MlflowClient(tracking_uri)
    found: list[str] = []
    for info in client.list_artifacts(run_id, path):
        found.extend(artifacts(tracking_uri, run_id, info.path) if info.is_dir else [info.path])
    return sorted(found)


@pytest.fixture(scope="session")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `kedro new` project with the pipelines above, created once."""
    root = tmp_path_factory.mktemp("template")
    result = subprocess.run(
        [
            sys.executable, "-m", "kedro", "new", "--name", PACKAGE,
            "--tools=none", "--example=n", "--telemetry=no",
        ],
        cwd=root, env=clean_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    project = root / PACKAGE.replace("_", "-")
    write(project / "src" / PACKAGE / "nodes.py", NODES)
    write(project / "src" / PACKAGE / "pipeline_registry.py", PIPELINE_REGISTRY)
    write(project / "conf" / "base" / "catalog.yml", CATALOG)
    write(project / "conf" / "base" / "parameters.yml", PARAMETERS)
    return project


@pytest.fixture
def project(project_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the test project, in tmp_path."""
    return Path(shutil.copytree(project_template, tmp_path / "project"))


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """Undo what in-process sessions change for the whole process.

    They export variables (tracking URI, credentials), and the hook's default
    ``disable_autologging: true`` calls ``mlflow.autolog(disable=True)``, which puts MLflow's
    import-hook finder on ``sys.meta_path``: later imports of hooked libraries (boto3, in
    other tests) would go through its loader, which warns (an error under ``-W error``).
    """
    saved_environ = dict(os.environ)
    saved_meta_path = list(sys.meta_path)
    yield
    os.environ.clear()
    os.environ.update(saved_environ)
    sys.meta_path[:] = saved_meta_path


@pytest.fixture
def in_process(project: Path) -> Iterator[Path]:
    """The project bootstrapped in this process (for KedroSession), undone afterwards."""
    from kedro.framework.startup import bootstrap_project

    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    bootstrap_project(project)
    yield project
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        if name == PACKAGE or name.startswith(f"{PACKAGE}."):
            del sys.modules[name]
