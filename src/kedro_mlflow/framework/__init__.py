"""Kedro integration: the hook, the ``mlflow.yml`` schema and the ``kedro mlflow`` CLI."""
