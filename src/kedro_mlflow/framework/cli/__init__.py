"""The ``kedro mlflow`` commands (entry point ``kedro.project_commands``: ``commands``)."""

from kedro_mlflow.framework.cli.cli import commands

__all__ = ["commands"]
