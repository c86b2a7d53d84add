"""``MlflowArtifactDataset``: version any local Kedro dataset as an MLflow artifact."""

from kedro_mlflow.io.artifacts._queue import start_background_uploads, wait_for_uploads
from kedro_mlflow.io.artifacts.artifact_dataset import (
    DISABLE_TRACKING_ENV,
    RUN_ID_ENV,
    MlflowArtifactDataset,
    tracking_disabled_by_env,
)

__all__ = [
    "DISABLE_TRACKING_ENV",
    "RUN_ID_ENV",
    "MlflowArtifactDataset",
    "start_background_uploads",
    "tracking_disabled_by_env",
    "wait_for_uploads",
]
