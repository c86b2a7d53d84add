"""Deleted runs: loading from a deleted run is refused, as saving into one is.

Issue 12, row "load by run_id of a deleted run -- loads silently", on a local store, moto's
S3 and a real server, in one process that loaded the run before it was deleted, and under
``kedro run``.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.helpers import (
    DF,
    Store,
    all_runs,
    csv,
    kedro,
    kedro_bounded,
    store_uri,
    write,
)


@pytest.fixture(params=["sqlite_store", "s3_store", "server_store"], ids=["local", "s3", "server"])
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def assert_refused_naming(exc: DatasetError, run_id: str) -> None:
    message = str(exc)
    assert run_id in message, message
    assert "deleted" in message, message


@pytest.mark.timeout(60, func_only=True)
def test_load_from_a_deleted_run_is_refused(store: Store, tmp_path: Path) -> None:
    """Row: load by run_id of a deleted run -- loads silently."""
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    mlflow.MlflowClient().delete_run(run.info.run_id)

    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "other" / "f.csv", run_id=run.info.run_id).load()
    assert_refused_naming(info.value, run.info.run_id)


@pytest.mark.timeout(60, func_only=True)
def test_load_is_refused_once_the_run_is_deleted_even_if_loaded_before(
    store: Store, tmp_path: Path
) -> None:
    """Row: load by run_id of a deleted run -- a process that loaded the run before it was
    deleted (an ended run is remembered, a remote artifact cached) must see the deletion."""
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    reader = csv(tmp_path / "other" / "f.csv", run_id=run.info.run_id)
    pd.testing.assert_frame_equal(reader.load(), DF)
    mlflow.MlflowClient().delete_run(run.info.run_id)

    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "third" / "f.csv", run_id=run.info.run_id).load()
    assert_refused_naming(info.value, run.info.run_id)


@pytest.mark.timeout(60, func_only=True)
def test_exists_and_load_agree_on_a_deleted_run(store: Store, tmp_path: Path) -> None:
    """Row: load by run_id of a deleted run -- ``exists()`` does not report as present what
    ``load()`` refuses. Issue 20: it raised instead of returning False, as the docs say
    (Kedro's runner asks ``exists()`` to decide, it does not expect an error)."""
    with mlflow.start_run() as run:
        csv(tmp_path / "f.csv").save(DF)
    reader = csv(tmp_path / "other" / "f.csv", run_id=run.info.run_id)
    assert reader.exists() is True
    mlflow.MlflowClient().delete_run(run.info.run_id)
    assert reader.exists() is False
    assert csv(tmp_path / "third" / "f.csv", run_id=run.info.run_id).exists() is False
    with pytest.raises(DatasetError) as info:
        reader.load()
    assert_refused_naming(info.value, run.info.run_id)


@pytest.mark.timeout(240, func_only=True)
def test_kedro_run_loading_from_a_deleted_run_fails_naming_it(project: Path) -> None:
    """Row: load by run_id of a deleted run -- under kedro run, the pipeline that loads from a
    deleted run fails naming it, and leaves no run of its own."""
    kedro(project, "run", "--pipelines", "data")
    uri = store_uri(project)
    (source,) = all_runs(uri)
    mlflow.MlflowClient(uri).delete_run(source.info.run_id)
    catalog = (project / "conf" / "base" / "catalog.yml").read_text()
    write(
        project / "conf" / "base" / "catalog.yml",
        catalog.replace(
            "    filepath: data/01_raw/raw.csv\n",
            f"    filepath: data/01_raw/raw.csv\n  run_id: {source.info.run_id}\n",
            1,
        ),
    )

    result = kedro_bounded(project, "run", "--pipelines", "model", timeout=120)
    assert result.returncode != 0, result.output[-3000:]
    assert source.info.run_id in result.output
    assert "deleted" in result.output
    others = [
        run
        for run in all_runs(uri)
        if run.info.run_id != source.info.run_id and run.info.lifecycle_stage == "active"
    ]
    assert others == [], "the failed kedro run left a run behind"
