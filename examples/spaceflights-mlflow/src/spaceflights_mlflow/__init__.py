"""Spaceflights MLflow: the kedro-mlflow demo project."""

__version__ = "0.1"
