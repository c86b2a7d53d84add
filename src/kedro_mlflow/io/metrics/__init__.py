"""kedro-mlflow 2.x's metric datasets, which this package does not provide.

Naming one (``type: kedro_mlflow.io.metrics.MlflowMetricDataset`` in ``catalog.yml``, or an
import) fails with a ``DatasetNotProvidedError`` saying what to do instead: log metrics
from the node with ``mlflow.log_metric``, or keep kedro-mlflow 2.x.

Examples:
    >>> try:
    ...     from kedro_mlflow.io.metrics import MlflowMetricDataset
    ... except ImportError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    'kedro_mlflow.io.metrics.MlflowMetricDataset' is a kedro-mlflow 2.x dataset ... not provide: ...
"""

from __future__ import annotations

from typing import NoReturn

from kedro_mlflow._not_provided import raise_not_provided

__all__: list[str] = []

_ALTERNATIVES = {
    "MlflowMetricDataset": "call mlflow.log_metric(key, value) in the node computing it",
    "MlflowMetricHistoryDataset": (
        "call mlflow.log_metric(key, value, step=step) in the node, for each step"
    ),
    "MlflowMetricsHistoryDataset": (
        "call mlflow.log_metrics({key: value, ...}, step=step) in the node"
    ),
}


def __getattr__(name: str) -> NoReturn:
    raise_not_provided(__name__, name, _ALTERNATIVES)
