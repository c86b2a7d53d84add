"""Where artifacts go: the embedded store's artifacts follow the project when it moves.

Known failure (issue 20): a moved or copied project wrote into, or was refused because of, its
old folder: the embedded store keeps absolute artifact locations. `mv proj elsewhere && kedro
run` and `cp -r proj copy && (cd copy && kedro run)` now just work, each logging into its own
folder, with its old runs' artifacts loadable from where they now are; a copy never writes into
the original.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from tests.helpers import (
    all_runs,
    artifacts,
    files_under,
    kedro,
    local_artifact_dir,
    store_uri,
    write,
)


def _runs(home: Path) -> list[mlflow.entities.Run]:
    return sorted(all_runs(store_uri(home)), key=lambda run: run.info.start_time)


def _load_raw(home: Path, run_id: str) -> pd.DataFrame:
    """`raw` of ``run_id``, loaded by run id through the project's store, as a notebook would."""
    mlflow.set_tracking_uri(store_uri(home))
    dataset = MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(home / "elsewhere" / "raw.csv")},
        run_id=run_id,
    )
    return dataset.load()


def _assert_lives_in(home: Path) -> None:
    """Every run of the store at ``home`` keeps its artifacts under ``home/mlruns``."""
    for run in _runs(home):
        assert (home / "mlruns") in local_artifact_dir(run).parents, run.info.artifact_uri
    client = mlflow.MlflowClient(store_uri(home))
    for experiment in client.search_experiments():
        assert str(home / "mlruns") in experiment.artifact_location


@pytest.mark.timeout(240, func_only=True)
def test_moved_project_just_works_and_reads_its_old_runs_from_where_they_are(
    project: Path, tmp_path: Path
) -> None:
    """`mv proj elsewhere && kedro run`: the run succeeds in the new place (it was refused), the
    old folder is not recreated, and the run made before the move loads from the new place."""
    kedro(project, "run", "--pipelines", "data")
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(project, moved)

    # Plain log lines (rich wraps long ones at the terminal's width).
    plain_logs = write(
        tmp_path / "logging.yml",
        """
        version: 1
        disable_existing_loggers: False
        handlers:
          stderr: {class: logging.StreamHandler, stream: ext://sys.stderr}
        root: {handlers: [stderr], level: INFO}
        """,
    )
    result = kedro(moved, "run", "--pipelines", "data", KEDRO_LOGGING_CONFIG=str(plain_logs))
    assert f"was moved or copied from '{project}'" in result.stderr, result.stderr[-3000:]
    assert not project.exists(), f"the moved project's run recreated {project}"
    old, new = _runs(moved)
    _assert_lives_in(moved)
    for run in (old, new):
        tracking = store_uri(moved)
        assert artifacts(run.info.run_id, tracking_uri=tracking) == [
            "raw.csv",
            "reporting/stats.csv",
        ]
    assert _load_raw(moved, old.info.run_id)["x"].tolist() == [0, 1, 2, 3, 4]
    listed = kedro(moved, "mlflow", "versions", "raw")
    assert old.info.run_id in listed.stdout and new.info.run_id in listed.stdout


@pytest.mark.timeout(240, func_only=True)
def test_copied_project_writes_into_its_own_folder_never_into_the_original(
    project: Path, tmp_path: Path
) -> None:
    """`cp -r proj copy && (cd copy && kedro run)`: the copy logs into its own mlruns, the
    original's files are untouched, the copy's old run loads from the copy (even with the
    original gone), and the original keeps logging into itself."""
    kedro(project, "run", "--pipelines", "data")
    copy = Path(shutil.copytree(project, tmp_path / "copy"))
    original = files_under(project / "mlruns")

    kedro(copy, "run", "--pipelines", "data")
    assert files_under(project / "mlruns") == original, "the copy wrote into the original"
    _assert_lives_in(copy)

    kedro(project, "run", "--pipelines", "data")
    _assert_lives_in(project)
    assert len(_runs(project)) == 2

    first_of_copy = _runs(copy)[0].info.run_id
    shutil.rmtree(project)
    assert _load_raw(copy, first_of_copy)["x"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.timeout(240, func_only=True)
def test_an_artifact_location_set_by_hand_outside_the_project_is_still_refused(
    project: Path, tmp_path: Path
) -> None:
    """A location that is not a moved store's `mlruns` is someone's choice: a run is refused
    before it is created, saying how to keep writing there on purpose."""
    kedro(project, "run", "--pipelines", "data")
    custom = tmp_path / "shared-artifacts"
    with sqlite3.connect(project / "mlflow.db") as connection:
        connection.execute(
            "UPDATE experiments SET artifact_location = ? WHERE name = ?",
            (custom.as_uri(), "tracked_project"),
        )
    result = kedro(project, "run", "--pipelines", "data", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(custom) in output and "artifact_location" in output, output[-3000:]
    assert len(_runs(project)) == 1, "a refused run must not leave a run behind"
    assert not custom.exists()

    write(
        project / "conf" / "local" / "mlflow.yml",
        f"tracking:\n  experiment:\n    create_experiment_kwargs:\n"
        f"      artifact_location: {custom}\n",
    )
    kedro(project, "run", "--pipelines", "data")
    assert (custom / _runs(project)[-1].info.run_id).is_dir()
