"""kedro-mlflow 2.x's model datasets, which this package does not provide.

Naming one (``type: kedro_mlflow.io.models.MlflowModelTrackingDataset`` in ``catalog.yml``,
or an import) fails with a ``DatasetNotProvidedError`` saying what to do instead: log and
load models from nodes with MLflow's flavor APIs, version a pickled model with
``MlflowArtifactDataset``, or keep kedro-mlflow 2.x.

Examples:
    >>> try:
    ...     from kedro_mlflow.io.models import MlflowModelTrackingDataset
    ... except ImportError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    'kedro_mlflow.io.models.MlflowModelTrackingDataset' is a kedro-mlflow 2.x dataset ...
"""

from __future__ import annotations

from typing import NoReturn

from kedro_mlflow._not_provided import raise_not_provided

__all__: list[str] = []

_ALTERNATIVES = {
    "MlflowModelTrackingDataset": (
        "log the model with mlflow.<flavor>.log_model(...) in the node and load it with "
        "mlflow.<flavor>.load_model('runs:/<run_id>/<artifact_path>'), or version a pickled "
        "model with MlflowArtifactDataset around pickle.PickleDataset"
    ),
    "MlflowModelLocalFileSystemDataset": (
        "save the model with mlflow.<flavor>.save_model(model, path) and load it with "
        "mlflow.<flavor>.load_model(path)"
    ),
    "MlflowModelRegistryDataset": (
        "load the model with mlflow.<flavor>.load_model('models:/<name>/<version>') "
        "(or 'models:/<name>@<alias>')"
    ),
}


def __getattr__(name: str) -> NoReturn:
    raise_not_provided(__name__, name, _ALTERNATIVES)
