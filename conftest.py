"""Fixtures every test and doctest gets: a clean MLflow state and no telemetry."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(autouse=True)
def _clean_mlflow_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no run, no MLFLOW_* variable and its own download cache."""
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "KEDRO_MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEDRO_MLFLOW_CACHE_DIR", str(tmp_path / "kedro-mlflow-cache"))
    yield
    import mlflow
    from kedro.io import DatasetError

    from kedro_mlflow.io.artifacts import wait_for_uploads

    # A test that turned background uploads on and failed before waiting leaves them on for
    # the next test of this worker: wait for (and drop) them here.
    with contextlib.suppress(DatasetError):
        wait_for_uploads(deadline_s=10)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.tracking.fluent._active_experiment_id = None


@pytest.fixture(autouse=True)
def _doctest_tmp_path(doctest_namespace: dict[str, object], tmp_path: Path) -> None:
    doctest_namespace["tmp_path"] = tmp_path
