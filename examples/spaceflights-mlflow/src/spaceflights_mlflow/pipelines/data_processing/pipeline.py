"""Generate the raw tables and build the model input table."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    create_model_input_table,
    generate_companies,
    generate_shuttles,
    preprocess_companies,
    preprocess_shuttles,
)


def create_pipeline() -> Pipeline:
    """The ``data_processing`` pipeline: from a seed to ``model_input_table``."""
    return pipeline(
        [
            node(generate_companies, "params:generation", "companies"),
            node(generate_shuttles, ["companies", "params:generation"], "shuttles"),
            node(preprocess_companies, "companies", "preprocessed_companies"),
            node(preprocess_shuttles, "shuttles", "preprocessed_shuttles"),
            node(
                create_model_input_table,
                ["preprocessed_shuttles", "preprocessed_companies"],
                "model_input_table",
            ),
        ]
    )
