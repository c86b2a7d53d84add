"""Pipelines that train a model and log their inference pipeline with it (``pipeline_ml_factory``).

Not provided yet: importing ``pipeline_ml_factory`` or ``PipelineML`` fails with a
``NotProvidedError`` naming what to do meanwhile.
"""

from __future__ import annotations

from typing import NoReturn

from kedro_mlflow._not_provided import raise_not_provided

__all__: list[str] = []

_ALTERNATIVES = {
    "pipeline_ml_factory": (
        "register the training pipeline as a plain Pipeline and log the inference model "
        "from a node with mlflow.pyfunc.log_model"
    ),
    "PipelineML": "use a plain kedro.pipeline.Pipeline",
}


def __getattr__(name: str) -> NoReturn:
    raise_not_provided(__name__, name, _ALTERNATIVES, kind="name")
