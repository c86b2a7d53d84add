"""kedro-mlflow 2.x's module path of ``MlflowArtifactDataset``, kept for users' imports."""

from kedro_mlflow.io.artifacts.artifact_dataset import MlflowArtifactDataset

__all__ = ["MlflowArtifactDataset"]
