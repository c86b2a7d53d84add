"""``MlflowModelRegistryDataset``: a registered model loaded by version, by alias, or its latest."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.models import _registry
from kedro_mlflow.io.models._flavors import make_flavor


class MlflowModelRegistryDataset(AbstractDataset[None, Any]):
    """Load a version of a registered model (load only).

    ``stage_or_version`` is a version number (or, as in MLflow 2, a stage name or
    ``latest``); ``alias`` an alias such as ``champion``; neither means the latest version.

    Examples:
        .. code-block:: yaml

            champion:
              type: kedro_mlflow.io.models.MlflowModelRegistryDataset
              model_name: spaceflights
              alias: champion

        >>> MlflowModelRegistryDataset(model_name="spaceflights", alias="champion").model_uri
        'models:/spaceflights@champion'
        >>> MlflowModelRegistryDataset(model_name="spaceflights", stage_or_version=3).model_uri
        'models:/spaceflights/3'
    """

    def __init__(
        self,
        *,
        model_name: str,
        stage_or_version: str | int | None = None,
        alias: str | None = None,
        flavor: str = "mlflow.pyfunc",
        pyfunc_workflow: str | None = "python_model",
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if stage_or_version is not None and alias is not None:
            raise DatasetError(
                f"MlflowModelRegistryDataset '{model_name}': set 'stage_or_version' "
                f"({stage_or_version!r}) or 'alias' ({alias!r}), not both."
            )
        workflow = pyfunc_workflow if flavor == "mlflow.pyfunc" else None
        self._flavor = make_flavor(type(self).__name__, flavor, workflow)
        self._model_name = model_name
        if alias is not None:
            self._uri = f"models:/{model_name}@{alias}"
        else:
            self._uri = f"models:/{model_name}/{stage_or_version or 'latest'}"
        self._load_args = dict(load_args or {})
        self.metadata = metadata
        #: kedro-mlflow 2.x's switch; nothing is ever logged by this dataset.
        self._logging_activated = True

    @property
    def model_uri(self) -> str:
        """The ``models:/`` URI a load reads."""
        return self._uri

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._uri, "flavor": self._flavor.name}

    def _load(self) -> Any:
        owner = f"{type(self).__name__} '{self._model_name}'"
        self._flavor.module()
        try:
            return self._flavor.load(self._uri, **self._load_args)
        except (mlflow.exceptions.MlflowException, OSError) as exc:
            raise _registry.explain_missing(owner, self._uri, exc) from exc

    def _save(self, data: None) -> None:
        raise DatasetError(
            f"MlflowModelRegistryDataset '{self._model_name}' is load-only: save the model with "
            f"MlflowModelTrackingDataset and 'save_args.registered_model_name: "
            f"{self._model_name}' to register a new version."
        )
