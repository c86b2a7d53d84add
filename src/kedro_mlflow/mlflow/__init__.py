"""MLflow models made of Kedro pipelines (kedro-mlflow 2.x's ``KedroPipelineModel``).

``KedroPipelineModel`` imports mlflow: it is imported here at its first use, so that
importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro_mlflow.mlflow.kedro_pipeline_model import (
        KedroPipelineModel,
        KedroPipelineModelError,
    )

__all__ = ["KedroPipelineModel", "KedroPipelineModelError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module("kedro_mlflow.mlflow.kedro_pipeline_model")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
