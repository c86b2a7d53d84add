"""kedro-mlflow 2.x's model datasets, on MLflow 3's LoggedModels and model registry.

- ``MlflowModelTrackingDataset``: ``<flavor>.log_model`` into the current run; load it back,
  or any ``models:/`` / ``runs:/`` URI.
- ``MlflowModelLocalFileSystemDataset``: ``<flavor>.save_model`` into a local folder
  (``versioned: true`` works; wrap it in ``MlflowArtifactDataset`` to log the folder).
- ``MlflowModelRegistryDataset``: a registered model by version, by alias, or its latest.

Importing them imports no mlflow: the flavor is imported at the first save or load.
"""

from __future__ import annotations

from kedro_mlflow.io.models.mlflow_model_local_filesystem_dataset import (
    MlflowModelLocalFileSystemDataset,
)
from kedro_mlflow.io.models.mlflow_model_registry_dataset import MlflowModelRegistryDataset
from kedro_mlflow.io.models.mlflow_model_tracking_dataset import MlflowModelTrackingDataset

__all__ = [
    "MlflowModelLocalFileSystemDataset",
    "MlflowModelRegistryDataset",
    "MlflowModelTrackingDataset",
]
