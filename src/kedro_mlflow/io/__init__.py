"""Datasets. Nothing here knows of ``kedro_mlflow.framework``."""
