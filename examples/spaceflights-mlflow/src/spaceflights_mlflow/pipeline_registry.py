"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from kedro_mlflow.pipeline import pipeline_ml_factory
from spaceflights_mlflow.pipelines import data_processing, data_science, score_previous
from spaceflights_mlflow.pipelines.data_science.nodes import predict

#: The registered model each training run's inference pipeline becomes a version of.
MODEL_NAME = "spaceflights-pipeline"


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``kedro run`` generates the data and trains the model, then logs the inference pipeline
    (the trained regressor's prediction) as an MLflow model, registered as
    ``models:/spaceflights-pipeline@challenger``. ``kedro run --pipeline score_previous
    --params previous_run_id=<run id>`` scores a model logged by an earlier run on a fresh
    batch of data.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    training = data_processing.create_pipeline() + data_science.create_pipeline()
    inference = Pipeline([node(predict, ["regressor", "test_set"], "test_predictions")])
    training_ml = pipeline_ml_factory(
        training=training,
        inference=inference,
        input_name="test_set",
        log_model_kwargs={"registered_model_name": MODEL_NAME, "alias": "challenger"},
    )
    return {
        "__default__": training_ml,
        "training": training_ml,
        "inference": inference,
        "data_processing": data_processing.create_pipeline(),
        "data_science": data_science.create_pipeline(),
        "score_previous": score_previous.create_pipeline(),
    }
