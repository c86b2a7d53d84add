"""The Kedro hook that opens one MLflow run per ``kedro run``."""

from __future__ import annotations


class MlflowHook:
    """Placeholder until the hook lands."""


mlflow_hook = MlflowHook()
