"""``pipeline_ml_factory``: kedro-mlflow 2.x's way to build a ``PipelineML``."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline

from kedro_mlflow.pipeline.pipeline_ml import PipelineML


def pipeline_ml_factory(
    training: Pipeline,
    inference: Pipeline,
    input_name: str,
    kpm_kwargs: dict[str, Any] | None = None,
    log_model_kwargs: dict[str, Any] | None = None,
) -> PipelineML:
    """``training`` that, after a successful ``kedro run``, logs ``inference`` as a model.

    Args:
        training: The pipeline ``kedro run`` runs.
        inference: The pipeline the model runs at predict time.
        input_name: The input of ``inference`` given by the model's caller.
        kpm_kwargs: Keyword arguments of ``KedroPipelineModel`` (``runner``, ``copy_mode``).
        log_model_kwargs: Keyword arguments of ``mlflow.pyfunc.log_model``.

    Raises:
        KedroMlflowPipelineMLError: ``input_name`` is not an input of ``inference``.

    Examples:
        >>> from kedro.pipeline import node, pipeline
        >>> training = pipeline([node(lambda x: x, "raw", "model", name="fit")])
        >>> inference = pipeline([node(lambda m, x: x, ["model", "data"], "out", name="use")])
        >>> ml = pipeline_ml_factory(training, inference, input_name="data")
        >>> ml.only_nodes("fit").input_name
        'data'
    """
    return PipelineML(
        training.nodes,
        inference=inference,
        input_name=input_name,
        kpm_kwargs=kpm_kwargs,
        log_model_kwargs=log_model_kwargs,
    )
