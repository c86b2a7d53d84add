"""``MlflowModelTrackingDataset``: a model logged as an MLflow LoggedModel of the current run."""

from __future__ import annotations

import copy
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.models import _registry, _requirements
from kedro_mlflow.io.models._flavors import make_flavor

#: The LoggedModel's name when neither ``save_args.name`` nor a catalog name is known.
DEFAULT_NAME = "model"


class MlflowModelTrackingDataset(AbstractDataset[Any, Any]):
    """Log a model with ``<flavor>.log_model`` into the current run; load it back.

    A save creates an MLflow 3 LoggedModel of the kedro run (or the active run) named
    ``save_args.name``, by default the catalog entry's name; the other ``save_args`` go to
    ``log_model`` (``signature``, ``input_example``, ``pip_requirements``,
    ``registered_model_name``, ...). ``save_args.alias`` with ``registered_model_name`` points
    that alias at the new version once it is READY. A load returns the model this dataset
    saved last, else ``load_args.model_uri`` (``models:/<model_id>``, ``runs:/<run>/<name>``,
    ``models:/<name>/<version>``, ``models:/<name>@<alias>``); other ``load_args`` go to
    ``load_model``.

    Examples:
        .. code-block:: yaml

            regressor:
              type: kedro_mlflow.io.models.MlflowModelTrackingDataset
              flavor: mlflow.sklearn
              save_args:
                registered_model_name: spaceflights
                alias: champion

        >>> dataset = MlflowModelTrackingDataset(
        ...     flavor="mlflow.sklearn", load_args={"model_uri": "models:/regressor@champion"}
        ... )
        >>> dataset.model_uri
        'models:/regressor@champion'
    """

    def __init__(
        self,
        *,
        flavor: str,
        pyfunc_workflow: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._flavor = make_flavor(type(self).__name__, flavor, pyfunc_workflow)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self._alias = self._save_args.pop("alias", None)
        if self._alias is not None and not self._save_args.get("registered_model_name"):
            raise DatasetError(
                f"{type(self).__name__}: 'save_args.alias' ({self._alias!r}) needs "
                f"'save_args.registered_model_name': an alias points at a registered version."
            )
        self._model_uri: str | None = self._load_args.pop("model_uri", None)
        self.metadata = metadata
        #: The catalog entry's name, told by the hook; the default of ``save_args.name``.
        self.catalog_name: str | None = None
        #: kedro-mlflow 2.x's switch (``switch_catalog_logging``): off, a save logs nothing.
        self._logging_activated = True

    def logged_model(self) -> tuple[str, str] | None:
        """``(run id, model id)`` of the model this dataset last logged, if it logged one."""
        logged: tuple[str, str] | None = getattr(self, "_logged", None)
        return logged

    @property
    def model_uri(self) -> str | None:
        """The URI a load reads: the last model saved here, else ``load_args.model_uri``."""
        return self._model_uri

    def _describe(self) -> dict[str, Any]:
        return {
            "flavor": self._flavor.name,
            "pyfunc_workflow": self._flavor.pyfunc_workflow,
            "model_uri": self._model_uri,
            "save_args": self._save_args,
        }

    @property
    def _owner(self) -> str:
        name = f" '{self.catalog_name}'" if self.catalog_name else ""
        return f"{type(self).__name__}{name}"

    def _load(self) -> Any:
        if self._model_uri is None:
            raise DatasetError(
                f"{self._owner} has no model to load: nothing was saved through it in this "
                f"process. Set 'load_args.model_uri' (models:/<model_id>, runs:/<run_id>/<name>, "
                f"models:/<name>/<version> or models:/<name>@<alias>)."
            )
        self._flavor.module()
        try:
            return self._flavor.load(self._model_uri, **self._load_args)
        except (mlflow.exceptions.MlflowException, OSError) as exc:
            raise _registry.explain_missing(self._owner, self._model_uri, exc) from exc

    def _save(self, model: Any) -> None:
        if not self._logging_activated:
            return
        self._flavor.module()
        run_id = _registry.run_for_save(self._owner)
        save_args = copy.deepcopy(self._save_args)
        save_args.setdefault("name", self.catalog_name or DEFAULT_NAME)
        key = _requirements.requirements_key(self._flavor.name, model, save_args)
        known = _requirements.cached(key)
        if known is not None:
            save_args["pip_requirements"] = known
        with _registry.active(run_id):
            info = self._flavor.write("log_model", model, **save_args)
        if known is None:
            _requirements.remember_logged(key, info.model_id)
        self._model_uri = f"models:/{info.model_id}"
        self._logged = (run_id, str(info.model_id))
        if self._alias is not None:
            _registry.set_alias_when_ready(
                self._owner,
                save_args["registered_model_name"],
                str(info.registered_model_version),
                self._alias,
            )

    def _exists(self) -> bool:
        return self._model_uri is not None
