"""A load by ``run_id`` from a sqlite store on this machine reads the run without MLflow.

Each load runs in a fresh interpreter (as a script or a ``kedro run`` would), with the tracking
URI in ``MLFLOW_TRACKING_URI``: the answer (data or error) is the one MLflow's path gives, and
mlflow is imported only where an answer needs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.helpers import DF, Store, clean_environ, csv, local_artifact_dir

LOAD = """
import json, sys
from kedro.io import DatasetError
from kedro_mlflow.io.artifacts import MlflowArtifactDataset
dataset = MlflowArtifactDataset(
    dataset={"type": "pandas.CSVDataset", "filepath": sys.argv[1]}, run_id=sys.argv[2]
)
try:
    answer = {"rows": len(dataset.load())}
except DatasetError as exc:
    answer = {"error": str(exc)}
answer["exists"] = dataset.exists() if "error" not in answer else None
answer["mlflow_imported"] = "mlflow" in sys.modules
print(json.dumps(answer))
"""


def _load(store: Store, path: Path, run_id: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", LOAD, str(path), run_id],
        env=clean_environ(MLFLOW_TRACKING_URI=store.tracking_uri),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture
def saved(sqlite_store: Store, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "data" / "f.csv"
    with mlflow.start_run() as run:
        csv(path).save(DF)
    return path, run.info.run_id


def test_a_load_by_run_id_reads_the_run_and_its_file_without_importing_mlflow(
    sqlite_store: Store, saved: tuple[Path, str], tmp_path: Path
) -> None:
    _, run_id = saved
    answer = _load(sqlite_store, tmp_path / "elsewhere" / "f.csv", run_id)
    assert answer == {"rows": len(DF), "exists": True, "mlflow_imported": False}


def test_a_tampered_artifact_is_refused_on_the_fast_path_too(
    sqlite_store: Store, saved: tuple[Path, str]
) -> None:
    path, run_id = saved
    stored = local_artifact_dir(mlflow.get_run(run_id)) / "f.csv"
    stored.write_text(pd.DataFrame({"a": [9]}).to_csv(index=False))
    answer = _load(sqlite_store, path, run_id)
    assert "does not match what was logged" in str(answer["error"])
    assert run_id in str(answer["error"])


def test_a_deleted_run_is_refused_naming_it(sqlite_store: Store, saved: tuple[Path, str]) -> None:
    path, run_id = saved
    mlflow.MlflowClient().delete_run(run_id)
    answer = _load(sqlite_store, path, run_id)
    assert f"MLflow run '{run_id}' is deleted" in str(answer["error"])
    assert f"mlflow runs restore --run-id {run_id}" in str(answer["error"])


def test_a_missing_artifact_lists_what_the_run_holds_as_mlflow_lists_it(
    sqlite_store: Store, saved: tuple[Path, str], tmp_path: Path
) -> None:
    _, run_id = saved
    answer = _load(sqlite_store, tmp_path / "other.csv", run_id)
    error = str(answer["error"])
    assert "artifact 'other.csv' does not exist" in error
    assert "The run contains: 'f.csv'" in error


def test_an_unknown_run_id_is_answered_by_mlflow(
    sqlite_store: Store, saved: tuple[Path, str]
) -> None:
    path, _ = saved
    answer = _load(sqlite_store, path, "0" * 32)
    assert f"MLflow run '{'0' * 32}' was not found" in str(answer["error"])
