"""``MlflowArtifactDataset``: version any local Kedro dataset as an MLflow artifact."""

from kedro_mlflow.io.artifacts.artifact_dataset import MlflowArtifactDataset

__all__ = ["MlflowArtifactDataset"]
