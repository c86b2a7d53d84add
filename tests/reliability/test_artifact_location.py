"""Where artifacts go: the embedded store's artifacts follow the project when it moves.

Issue 12, row "a project moved or copied to another folder -- its runs keep writing artifacts
into the old folder (absolute artifact_location), recreating it". Either the run writes into
the project's own ``mlruns`` wherever the project now is, or ``kedro run`` refuses before any
run is created and says how to fix it (naming the old location and ``artifact_location``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import (
    Finished,
    all_runs,
    artifacts,
    files_under,
    kedro,
    kedro_bounded,
    local_artifact_dir,
    store_uri,
)


def assert_follows_or_refuses(result: Finished, new_home: Path, old_home: Path) -> None:
    runs = sorted(all_runs(store_uri(new_home)), key=lambda run: run.info.start_time)
    if result.returncode != 0:
        assert len(runs) == 1, "a refused run must not leave a run behind"
        assert str(old_home / "mlruns") in result.output, result.output[-3000:]
        assert "artifact_location" in result.output, result.output[-3000:]
        return
    latest = runs[-1]
    where = local_artifact_dir(latest)
    assert (new_home / "mlruns") in where.parents, (
        f"the run in {new_home} wrote its artifacts to {where}"
    )
    assert artifacts(latest.info.run_id, tracking_uri=store_uri(new_home)) == [
        "raw.csv",
        "reporting/stats.csv",
    ]


@pytest.mark.timeout(180, func_only=True)
def test_moved_project_does_not_recreate_its_old_folder(project: Path, tmp_path: Path) -> None:
    """Row: a project moved to another folder -- its runs keep writing into the old folder."""
    kedro(project, "run", "--pipelines", "data")
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(project, moved)

    result = kedro_bounded(moved, "run", "--pipelines", "data", timeout=120)
    assert not project.exists(), f"the moved project's run recreated {project}"
    assert_follows_or_refuses(result, moved, project)


@pytest.mark.timeout(180, func_only=True)
def test_copied_project_does_not_write_into_the_original(project: Path, tmp_path: Path) -> None:
    """Row: a project copied to another folder -- the copy's runs write into the original's
    artifact folder."""
    kedro(project, "run", "--pipelines", "data")
    copy = Path(shutil.copytree(project, tmp_path / "copy"))
    original = files_under(project / "mlruns")

    result = kedro_bounded(copy, "run", "--pipelines", "data", timeout=120)
    assert files_under(project / "mlruns") == original, "the copy wrote into the original"
    assert_follows_or_refuses(result, copy, project)
