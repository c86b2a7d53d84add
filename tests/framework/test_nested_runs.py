"""Nodes that open their own MLflow runs: children of the kedro run, under every runner.

Regression: the hook exported ``MLFLOW_RUN_ID``, which MLflow resumes for any
``mlflow.start_run(nested=True)``: the child's params landed in the kedro run, the kedro run
was ended mid-pipeline and later saves went to a stray run.
"""

from __future__ import annotations

import mlflow
import pytest

from tests.helpers import ALL_ARTIFACTS, all_runs, artifacts, kedro, store_uri, write

SEARCH_NODES = '''

import mlflow


def search(raw):
    """A hyper-parameter search: one child run per trial."""
    for trial in range(2):
        with mlflow.start_run(nested=True):
            mlflow.log_param("trial", trial)
    mlflow.log_metric("best", 1.0)
    return raw


def careless(raw):
    """Opens a child run and fails without closing it."""
    mlflow.start_run(nested=True)
    raise RuntimeError("the node failed on purpose")


def not_nested(raw):
    """A second top-level run while the kedro run is active."""
    with mlflow.start_run():
        pass
    return raw
'''

REGISTRY = """
from kedro.pipeline import Pipeline, node

from tracked_project.nodes import careless, make_raw, not_nested, report, search, summarize


def register_pipelines():
    data = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(search, "raw", "searched", name="search"),
        node(report, "searched", "stats_csv", name="report"),
        node(summarize, ["raw", "params:model"], "summary", name="summarize"),
    ])
    return {
        "__default__": data,
        "careless": Pipeline([
            node(make_raw, "params:n", "raw", name="make_raw"),
            node(careless, "raw", "never", name="careless"),
        ]),
        "not_nested": Pipeline([
            node(make_raw, "params:n", "raw", name="make_raw"),
            node(not_nested, "raw", "never", name="not_nested"),
        ]),
    }
"""


@pytest.fixture
def search_project(project):
    nodes = project / "src" / "tracked_project" / "nodes.py"
    nodes.write_text(nodes.read_text() + SEARCH_NODES)
    write(project / "src" / "tracked_project" / "pipeline_registry.py", REGISTRY)
    return project


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--runner", "ThreadRunner"],
        ["--runner", "ParallelRunner"],
        ["--async"],
    ],
    ids=["sequential", "thread", "parallel", "async"],
)
def test_nested_runs_of_a_node_are_children_of_the_kedro_run(search_project, args):
    kedro(search_project, "run", *args)

    runs = all_runs(store_uri(search_project))
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert parent.info.status == "FINISHED"
    assert artifacts(parent.info.run_id, tracking_uri=store_uri(search_project)) == ALL_ARTIFACTS
    assert "trial" not in parent.data.params
    assert parent.data.metrics == {"best": 1.0}
    assert sorted(child.data.params["trial"] for child in children) == ["0", "1"]
    assert {child.data.tags["mlflow.parentRunId"] for child in children} == {parent.info.run_id}
    assert {child.info.status for child in children} == {"FINISHED"}


@pytest.mark.parametrize("runner", ["SequentialRunner", "ThreadRunner"])
def test_a_failing_node_ends_its_open_children_and_the_kedro_run_failed(search_project, runner):
    result = kedro(search_project, "run", "--pipeline", "careless", "--runner", runner, check=False)

    assert result.returncode != 0
    runs = all_runs(store_uri(search_project))
    assert len(runs) == 2
    assert {run.info.status for run in runs} == {"FAILED"}


def test_a_second_top_level_run_in_a_node_gets_mlflows_own_error(search_project):
    result = kedro(search_project, "run", "--pipeline", "not_nested", check=False)

    assert result.returncode != 0
    assert "is already active" in result.stdout + result.stderr
    (run,) = all_runs(store_uri(search_project))
    assert run.info.status == "FAILED"


def test_in_a_session_no_run_is_left_active_after_a_failing_node(search_project, in_process):
    """A notebook session can go on after a node failed."""
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=in_process) as session, pytest.raises(RuntimeError):
        session.run(pipeline_name="careless")
    assert mlflow.active_run() is None
    assert {run.info.status for run in all_runs(store_uri(in_process))} == {"FAILED"}
