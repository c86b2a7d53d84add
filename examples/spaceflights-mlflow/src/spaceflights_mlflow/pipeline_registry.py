"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from spaceflights_mlflow.pipelines import data_processing, data_science, score_previous


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``kedro run`` generates the data and trains the model; ``kedro run --pipeline
    score_previous --params previous_run_id=<run id>`` scores a model logged by an
    earlier run on a fresh batch of data.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    training = data_processing.create_pipeline() + data_science.create_pipeline()
    return {
        "__default__": training,
        "training": training,
        "data_processing": data_processing.create_pipeline(),
        "data_science": data_science.create_pipeline(),
        "score_previous": score_previous.create_pipeline(),
    }
