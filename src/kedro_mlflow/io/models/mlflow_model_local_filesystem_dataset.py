"""``MlflowModelLocalFileSystemDataset``: a model saved as an MLflow model folder, locally."""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import get_protocol_and_path

from kedro_mlflow.io.models import _requirements
from kedro_mlflow.io.models._flavors import make_flavor


class MlflowModelLocalFileSystemDataset(AbstractVersionedDataset[Any, Any]):
    """Save a model with ``<flavor>.save_model`` into a folder (with its ``MLmodel``); load it back.

    ``versioned: true`` keeps each save in a folder of its own, as for any Kedro dataset.
    Wrapped in ``MlflowArtifactDataset``, the folder is logged to the run like any other
    folder. ``save_args`` go to ``save_model``, ``load_args`` to ``load_model``;
    ``log_args`` is accepted for kedro-mlflow 2.x's catalogs and not used.

    Examples:
        .. code-block:: yaml

            regressor:
              type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
              dataset:
                type: kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset
                flavor: mlflow.sklearn
                filepath: data/06_models/regressor

        >>> dataset = MlflowModelLocalFileSystemDataset(
        ...     filepath=f"{tmp_path}/regressor", flavor="mlflow.sklearn"
        ... )
        >>> dataset.exists()
        False
    """

    def __init__(
        self,
        *,
        filepath: str,
        flavor: str,
        pyfunc_workflow: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        log_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._flavor = make_flavor(type(self).__name__, flavor, pyfunc_workflow)
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol not in {"file", ""}:
            raise DatasetError(
                f"{type(self).__name__}: filepath '{filepath}' is not on the local disk. "
                f"Use a local folder; wrap the dataset in MlflowArtifactDataset to store it "
                f"in MLflow's artifact store."
            )
        self._protocol = "file"
        super().__init__(filepath=PurePosixPath(path), version=version, exists_function=_exists)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self._log_args = dict(log_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "flavor": self._flavor.name,
            "pyfunc_workflow": self._flavor.pyfunc_workflow,
            "version": self._version,
        }

    def _load(self) -> Any:
        path = Path(str(self._get_load_path()))
        if not (path / "MLmodel").is_file():
            raise DatasetError(
                f"{type(self).__name__}: '{path}' holds no MLflow model (no MLmodel file). "
                f"Save a model there first, or point 'filepath' at an MLflow model folder."
            )
        return self._flavor.load(path.as_posix(), **self._load_args)

    def _save(self, model: Any) -> None:
        path = Path(str(self._get_save_path()))
        save_args = copy.deepcopy(self._save_args)
        key = _requirements.requirements_key(self._flavor.name, model, save_args)
        known = _requirements.cached(key)
        if known is not None:
            save_args["pip_requirements"] = known
        # save_model refuses an existing folder: write beside it, then swap it in.
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            self._flavor.write("save_model", model, path=str(scratch / "model"), **save_args)
            if known is None:
                _requirements.remember(key, scratch / "model" / "requirements.txt")
            if path.exists():
                shutil.rmtree(path)
            (scratch / "model").rename(path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:  # versioned, with no version saved yet
            return False
        return _exists(str(path))


def _exists(path: str) -> bool:
    return (Path(path) / "MLmodel").is_file()
