"""``kedro mlflow ...`` commands."""

from __future__ import annotations

import click


@click.group(name="kedro-mlflow")
def commands() -> None:
    """kedro-mlflow commands."""


@commands.group(name="mlflow")
def mlflow_commands() -> None:
    """Use MLflow in this Kedro project."""
