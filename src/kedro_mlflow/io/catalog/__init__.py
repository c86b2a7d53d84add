"""Catalog-wide switches, as kedro-mlflow 2.x had them (``switch_catalog_logging``)."""

from kedro_mlflow.io.catalog.switch_catalog_logging import switch_catalog_logging

__all__ = ["switch_catalog_logging"]
