"""A project whose registry returns a PipelineML runs with `kedro run`, filters included."""

from __future__ import annotations

from tests.helpers import PACKAGE, kedro, write

REGISTRY = """
from kedro.pipeline import Pipeline, node

from kedro_mlflow.pipeline import pipeline_ml_factory
from tracked_project.nodes import make_raw, report, summarize


def register_pipelines() -> dict[str, Pipeline]:
    training = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(summarize, ["raw", "params:model"], "summary", name="summarize"),
    ])
    inference = Pipeline([node(report, "raw", "stats_csv", name="report")])
    ml = pipeline_ml_factory(training, inference, input_name="raw")
    return {"__default__": sum([ml]), "ml": ml}
"""


def test_kedro_run_of_a_pipeline_ml_runs_its_training_nodes(project):
    write(project / "src" / PACKAGE / "pipeline_registry.py", REGISTRY)
    full = kedro(project, "run")
    assert "make_raw" in full.stdout + full.stderr
    assert (project / "data" / "01_raw" / "raw.csv").exists()
    filtered = kedro(project, "run", "--pipeline", "ml", "--from-nodes", "summarize")
    output = filtered.stdout + filtered.stderr
    assert "summarize" in output
    assert "make_raw" not in output
