"""Score a model logged by an earlier run on a fresh batch of data.

``kedro run --pipeline score_previous --params previous_run_id=<run id>``: the
catalog entry ``previous_regressor`` reads ``regressor.pkl`` from that MLflow run.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spaceflights_mlflow.pipelines import data_processing
from spaceflights_mlflow.pipelines.data_science.nodes import evaluate, plot_predictions, predict


def create_pipeline() -> Pipeline:
    """The ``score_previous`` pipeline: a new batch, scored by ``previous_regressor``."""
    # The same data processing, from other parameters; its intermediate tables stay in memory.
    new_batch = pipeline(
        data_processing.create_pipeline(),
        namespace="new_batch",
        parameters={"params:generation": "params:new_batch"},
        outputs={"model_input_table": "new_batch_table"},
    )
    scoring = pipeline(
        [
            node(predict, ["previous_regressor", "new_batch_table"], "new_batch_predictions"),
            node(evaluate, ["previous_regressor", "new_batch_predictions"], "new_batch_metrics"),
            node(plot_predictions, "new_batch_predictions", "new_batch_plot"),
        ]
    )
    return new_batch + scoring
