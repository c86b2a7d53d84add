"""Train the model on the model input table, score it and report on it."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    as_price_model,
    coefficients_table,
    evaluate,
    partition_by_location,
    plot_predictions,
    predict,
    r2_of,
    r2_of_model,
    split_data,
    train_model,
)


def create_pipeline() -> Pipeline:
    """The ``data_science`` pipeline: from ``model_input_table`` to the reports."""
    return pipeline(
        [
            node(
                split_data,
                ["model_input_table", "params:model_options"],
                ["train_set", "test_set"],
            ),
            node(train_model, ["train_set", "params:model_options"], "regressor"),
            node(predict, ["regressor", "test_set"], "test_predictions"),
            node(evaluate, ["regressor", "test_predictions"], "metrics"),
            node(r2_of, "metrics", "r2"),
            node(as_price_model, "regressor", "price_model"),
            node(r2_of_model, ["price_model", "test_set", "params:model_options"], "test_r2"),
            node(coefficients_table, "regressor", "coefficients"),
            node(partition_by_location, "test_predictions", "predictions_by_location"),
            node(plot_predictions, "test_predictions", "predictions_plot"),
        ]
    )
