"""The Kedro hook of kedro-mlflow (entry point ``kedro.hooks``: ``mlflow_hook``)."""

from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook, mlflow_hook

__all__ = ["MlflowHook", "mlflow_hook"]
