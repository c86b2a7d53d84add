"""Pipelines that train a model and carry the inference pipeline to log with it."""

from __future__ import annotations

from kedro_mlflow.pipeline.pipeline_ml import KedroMlflowPipelineMLError, PipelineML
from kedro_mlflow.pipeline.pipeline_ml_factory import pipeline_ml_factory

__all__ = ["KedroMlflowPipelineMLError", "PipelineML", "pipeline_ml_factory"]
