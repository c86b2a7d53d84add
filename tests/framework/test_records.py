"""Every save is an MLflow dataset record of its run: real `kedro run`s on a `kedro new` project.

The run's tag list does not grow with its datasets; MLflow's FILE store (which refuses tag
keys with `/`) records, verifies and lists a dataset under an `artifact_path`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pytest

from tests.helpers import (
    OMEGACONF_DEPRECATION,
    PACKAGE,
    all_runs,
    dataset_records,
    kedro,
    store_uri,
    write,
)

pytestmark = OMEGACONF_DEPRECATION

WIDE_REGISTRY = '''
"""Pipelines saving 2 and 16 MlflowArtifactDatasets (raw, then r<i>_csv from the factory)."""

from kedro.pipeline import Pipeline, node

from tracked_project.nodes import make_raw, report


def _saving(count: int) -> Pipeline:
    reports = [node(report, "raw", f"r{i}_csv", name=f"report_{i}") for i in range(count - 1)]
    return Pipeline([node(make_raw, "params:n", "raw", name="make_raw"), *reports])


def register_pipelines() -> dict[str, Pipeline]:
    return {"__default__": _saving(2), "two": _saving(2), "sixteen": _saving(16)}
'''


def test_the_tag_count_of_a_run_does_not_grow_with_its_datasets(project: Path) -> None:
    """Issue 23: a 16-dataset run had ~50 tags; its saves are dataset records instead."""
    write(project / "src" / PACKAGE / "pipeline_registry.py", WIDE_REGISTRY)
    kedro(project, "run", "--pipeline", "two")
    kedro(project, "run", "--pipeline", "sixteen")
    uri = store_uri(project)
    two, sixteen = sorted(all_runs(uri), key=lambda run: run.info.start_time)

    assert len(sixteen.data.tags) == len(two.data.tags)
    assert set(sixteen.data.tags) == set(two.data.tags)
    saved = dataset_records(sixteen.info.run_id, tracking_uri=uri)
    assert sorted(saved) == sorted(["raw.csv", *(f"reporting/r{i}.csv" for i in range(15))])
    local = project / "data" / "08_reporting" / "r3.csv"
    record = saved["reporting/r3.csv"]
    assert record["name"] == "r3_csv"
    assert record["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert record["digest"] == record["sha256"][:36]
    assert record["size"] == local.stat().st_size
    assert record["source"] == f"runs:/{sixteen.info.run_id}/reporting/r3.csv"
    assert record["tags"]["mlflow.data.context"] == "saved"


def test_the_file_store_records_verifies_and_lists_a_dataset_under_an_artifact_path(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: MLflow's FILE store refuses tag keys with `/`; records have none."""
    write(
        project / "conf" / "local" / "mlflow.yml",
        "server:\n  mlflow_tracking_uri: mlruns\n",
    )
    env = {"MLFLOW_ALLOW_FILE_STORE": "true"}
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # this process reads the store too
    first = kedro(project, "run", **env)
    uri = (project / "mlruns").as_uri()
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(PACKAGE)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    local = project / "data" / "08_reporting" / "stats.csv"
    recorded = dataset_records(run_id, tracking_uri=uri)["reporting/stats.csv"]
    assert recorded["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()

    # A later run loads raw from that run: verified against its record, no warning.
    second = kedro(project, "run", "--load-versions", f"raw:{run_id}", **env)
    listed = kedro(project, "mlflow", "versions", "stats_csv", "--json", **env)
    for done in (first, second, listed):
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output[-3000:]
        assert "unverified" not in output, output[-3000:]
    versions = json.loads(listed.stdout)
    assert versions[-1]["run_id"] == run_id
    assert versions[-1]["sha256"] == recorded["sha256"]
    assert len(versions) == 2


@pytest.mark.parametrize("command", ["versions", "pull"])
def test_a_run_recorded_with_the_legacy_tags_is_still_read(project: Path, command: str) -> None:
    """Users' existing stores: runs of earlier versions hold digest tags, not records."""
    uri = store_uri(project)
    content = b"x\n0\n1\n"
    sha256 = hashlib.sha256(content).hexdigest()
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(
        PACKAGE, artifact_location=(project / "mlruns").as_uri()
    )
    tags = {
        "kedro_mlflow.sha256/raw.csv": f"{sha256} {len(content)}",
        "kedro_mlflow.dataset/raw.csv": "raw",
    }
    run = client.create_run(experiment_id, tags=tags)
    staged = write(project / "staged" / "raw.csv", content.decode())
    client.log_artifact(run.info.run_id, str(staged))
    client.set_terminated(run.info.run_id)

    if command == "versions":
        done = kedro(project, "mlflow", "versions", "raw", "--json", "--verify")
        (version,) = json.loads(done.stdout)
        assert (version["run_id"], version["sha256"]) == (run.info.run_id, sha256)
        assert version["verified"] == "ok"
    else:
        kedro(project, "mlflow", "pull", "raw", "--run-id", run.info.run_id)
        assert (project / "data" / "01_raw" / "raw.csv").read_bytes() == content
