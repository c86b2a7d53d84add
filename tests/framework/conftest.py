"""Real Kedro projects (``kedro new``) with MlflowArtifactDatasets, and helpers to run them.

The project is created once per session and copied for each test: ``kedro new`` works
offline with ``--tools=none --example=n``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    CATALOG,
    NODES,
    PACKAGE,
    PARAMETERS,
    PIPELINE_REGISTRY,
    clean_environ,
    write,
)


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
