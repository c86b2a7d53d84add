"""`kedro run`: the run's MLflow work in a helper process forked when the context is created.

Real `kedro run` subprocesses of the test project. The project's settings register an exit
probe that writes whether the `kedro run` process imported mlflow: with the helper it never
does (unless a node does), which is what takes MLflow's start-up off the run's critical path.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from kedro_mlflow.framework.hooks.helper import HELPER_ENV
from tests.helpers import (
    ALL_ARTIFACTS,
    PACKAGE,
    PIPELINE_REGISTRY,
    all_runs,
    artifacts,
    dataset_records,
    kedro,
    store_uri,
    write,
)

PROBE = """

import atexit as _atexit
import json as _json
import os as _os
import sys as _sys


def _probe() -> None:
    path = _os.environ.get("PROBE_FILE")
    if path:
        with open(path, "w") as file:
            _json.dump({"mlflow": "mlflow" in _sys.modules, "pid": _os.getpid()}, file)


_atexit.register(_probe)
"""

#: Nodes that use MLflow themselves (imported in the node, as a notebook-born node does),
#: and one that kills the helper (the children of its own process).
NODES = """

def log_from_node(raw):
    import mlflow

    mlflow.log_metric("rows", len(raw))
    with mlflow.start_run(nested=True, run_name="inner"):
        mlflow.log_param("inner", "yes")
    return raw


def kill_helper(raw):
    import os
    import signal
    from pathlib import Path

    tasks = Path(f"/proc/{os.getpid()}/task")
    for pid in [p for t in tasks.iterdir() for p in (t / "children").read_text().split()]:
        os.kill(int(pid), signal.SIGKILL)
    return raw
"""

REGISTRY = (
    PIPELINE_REGISTRY.replace("def register_pipelines", "def _registered")
    + """

from tracked_project.nodes import kill_helper, log_from_node, report


def register_pipelines():
    pipelines = _registered()
    logs = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(log_from_node, "raw", "logged_csv", name="log_from_node"),
    ])
    dies = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(kill_helper, "raw", "after_csv", name="kill_helper"),
    ])
    hidden = Pipeline([
        node(make_raw, "params:n", "hidden", name="make_hidden"),
        node(report, "hidden", "hidden_stats_csv", name="report_hidden"),
    ])
    return {**pipelines, "logs": logs, "dies": dies, "hidden": hidden}
"""
)


MLFLOW_YML = """
tracking:
  experiment:
    name: gone
    restore_if_deleted: false
"""


@pytest.fixture
def probed(project: Path) -> Path:
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + PROBE)
    nodes = project / "src" / PACKAGE / "nodes.py"
    nodes.write_text(nodes.read_text() + NODES)
    write(project / "src" / PACKAGE / "pipeline_registry.py", REGISTRY)
    return project


def _run(project: Path, *args: str, check: bool = True, **env: str) -> tuple[dict, str]:
    probe = project / "probe.json"
    result = kedro(project, "run", *args, check=check, PROBE_FILE=str(probe), **env)
    return json.loads(probe.read_text()), result.stdout + result.stderr


@pytest.mark.parametrize("helper", ["1", "0"])
def test_the_kedro_run_process_imports_no_mlflow_and_the_run_is_complete(probed, helper):
    found, output = _run(probed, **{HELPER_ENV: helper})

    # The helper takes MLflow off the kedro run process; without it, the process imports it.
    assert found["mlflow"] is (helper == "0"), output
    (run,) = all_runs(store_uri(probed))
    assert run.info.status == "FINISHED"
    assert artifacts(run.info.run_id, tracking_uri=store_uri(probed)) == ALL_ARTIFACTS
    recorded = dataset_records(run.info.run_id, tracking_uri=store_uri(probed))
    assert sorted(recorded) == ALL_ARTIFACTS
    assert run.data.params == {"n": "5", "model": "{'lr': 0.1, 'depth': 3}"}
    # The process tags name the kedro run process (stale-run detection), not the helper.
    assert run.data.tags["kedro_mlflow.pid"] == str(found["pid"])
    assert run.data.tags["kedro_mlflow.pipeline"] == "__default__"
    assert f"MLflow run '{run.info.run_id}'" in output


@pytest.mark.parametrize("runner", ["SequentialRunner", "ThreadRunner"])
def test_a_node_that_imports_mlflow_logs_into_the_kedro_run(probed, runner):
    found, _ = _run(probed, "--pipelines", "logs", "--runner", runner)

    assert found["mlflow"] is True  # the node imported it
    runs = all_runs(store_uri(probed))
    assert len(runs) == 2, [(r.info.run_name, r.data.tags) for r in runs]
    (kedro_run,) = [r for r in runs if r.info.run_name == "logs"]
    (inner,) = [r for r in runs if r.info.run_name == "inner"]
    assert kedro_run.data.metrics == {"rows": 5.0}
    assert inner.data.tags["mlflow.parentRunId"] == kedro_run.info.run_id
    assert inner.data.params == {"inner": "yes"}
    assert kedro_run.info.status == inner.info.status == "FINISHED"
    assert artifacts(kedro_run.info.run_id, tracking_uri=store_uri(probed)) == [
        "raw.csv",
        "reporting/logged.csv",
    ]


def test_a_node_module_importing_mlflow_keeps_the_run_in_the_process(probed):
    """mlflow imported before the pipeline starts: the run is opened in the process, as before
    the helper existed, and the unused helper is stopped."""
    nodes = probed / "src" / PACKAGE / "nodes.py"
    nodes.write_text("import mlflow\n" + nodes.read_text())

    found, output = _run(probed, "--pipelines", "logs")

    assert found["mlflow"] is True
    (kedro_run,) = [r for r in all_runs(store_uri(probed)) if r.info.run_name == "logs"]
    assert kedro_run.data.metrics == {"rows": 5.0}
    assert kedro_run.data.tags["kedro_mlflow.pid"] == str(found["pid"])
    assert "helper process" not in output


HIDDEN = """
hidden:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/02_intermediate/hidden.csv
  keep_local: false
"""


def test_a_keep_local_false_output_is_read_back_from_the_run_the_helper_logs(probed):
    """The next node reads it from the run once the helper uploaded it (it is not on disk)."""
    catalog = probed / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text() + HIDDEN)

    found, output = _run(probed, "--pipelines", "hidden")

    (run,) = all_runs(store_uri(probed))
    logged = artifacts(run.info.run_id, tracking_uri=store_uri(probed))
    assert logged == ["hidden.csv", "reporting/hidden_stats.csv"], output[-3000:]
    assert not (probed / "data" / "02_intermediate" / "hidden.csv").exists()
    assert (probed / "data" / "08_reporting" / "hidden_stats.csv").exists()
    # The load by run reads the local sqlite store without MLflow (io/artifacts/_local_store).
    assert found["mlflow"] is False
    assert run.info.status == "FINISHED"


def test_a_helper_that_dies_fails_the_run_saying_what_may_be_missing(probed):
    found, output = _run(probed, "--pipelines", "dies", check=False)

    assert "kedro-mlflow's helper process" in output, output[-3000:]
    assert "ended unexpectedly (killed by signal 9)" in output, output[-3000:]
    assert "'raw.csv'" in output  # handed over before the helper died
    assert "kedro mlflow runs --close-stale" in output
    assert found["mlflow"] is False
    assert (probed / "data" / "08_reporting" / "after.csv").exists()  # kept locally


@pytest.mark.parametrize("helper", ["1", "0"])
def test_a_run_that_cannot_be_opened_fails_kedro_run_with_the_same_error(probed, helper):
    """With the helper, the error comes at the first save after it, or at the end of the run:
    the nodes may have run (their data is saved locally); the run fails all the same."""
    write(probed / "conf" / "base" / "mlflow.yml", MLFLOW_YML)
    client = mlflow.MlflowClient(store_uri(probed))
    client.delete_experiment(client.create_experiment("gone"))

    found, output = _run(probed, check=False, **{HELPER_ENV: helper})

    assert "MLflow experiment 'gone' is deleted" in output, output[-3000:]
    assert "restore_if_deleted: true" in output
    assert found["mlflow"] is (helper == "0")
    assert client.search_runs([client.get_experiment_by_name("gone").experiment_id]) == []


def test_a_run_to_resume_is_checked_before_the_first_node(probed):
    """An unknown id to resume fails before any node: that run is opened in the process."""
    missing = "0" * 32

    _, output = _run(probed, check=False, MLFLOW_RUN_ID=missing)

    assert f"Resuming MLflow run '{missing}' (from the MLFLOW_RUN_ID" in output, output[-3000:]
    assert "Running node" not in output
    assert not (probed / "data" / "01_raw" / "raw.csv").exists()


def test_tracking_disabled_stops_the_helper_and_logs_nothing(probed):
    _, output = _run(probed, KEDRO_MLFLOW_DISABLE_TRACKING="1")

    assert "no MLflow run is opened" in output
    assert (probed / "data" / "01_raw" / "raw.csv").exists()
    assert not (probed / "mlflow.db").exists()  # the helper was stopped before the store
