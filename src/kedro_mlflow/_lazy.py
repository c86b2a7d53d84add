"""The one place where kedro-mlflow imports mlflow, pydantic, omegaconf and Kedro's project modules.

Kedro imports the hook and the CLI on every ``kedro`` command, and the dataset class each
time a catalog is built. Importing mlflow there would cost every command a second or more
and ~190 MiB; pydantic and omegaconf (``kedro.config``, ~0.1 s) are only needed once
``mlflow.yml`` is read; and importing ``kedro.framework.project`` configures logging, which
a library must not do on import.
Each name below is a stand-in that imports the real module at its first attribute access;
mypy sees the real module, so every use stays type-checked.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


def lazy_module(name: str) -> Any:
    """A stand-in for the module ``name``, imported when one of its attributes is first read.

    Declare the real module under ``if TYPE_CHECKING:`` beside it, as below, for mypy.
    """
    return _LazyModule(name)


class _LazyModule:
    """Imports the module ``name`` when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


if TYPE_CHECKING:
    import mlflow
    import omegaconf
    import yaml
    from kedro import config as kedro_config
    from kedro.framework import project as kedro_project
    from kedro.framework import session as kedro_session
    from mlflow.store.artifact import artifact_repository_registry
    from mlflow.tracking.request_header import abstract_request_header_provider, registry

else:
    mlflow = lazy_module("mlflow")
    omegaconf = lazy_module("omegaconf")
    yaml = lazy_module("yaml")
    kedro_config = lazy_module("kedro.config")
    kedro_project = lazy_module("kedro.framework.project")
    kedro_session = lazy_module("kedro.framework.session")
    artifact_repository_registry = lazy_module("mlflow.store.artifact.artifact_repository_registry")
    registry = lazy_module("mlflow.tracking.request_header.registry")
    abstract_request_header_provider = lazy_module(
        "mlflow.tracking.request_header.abstract_request_header_provider"
    )

__all__ = [
    "abstract_request_header_provider",
    "artifact_repository_registry",
    "kedro_config",
    "kedro_project",
    "kedro_session",
    "lazy_module",
    "mlflow",
    "omegaconf",
    "registry",
    "yaml",
]
