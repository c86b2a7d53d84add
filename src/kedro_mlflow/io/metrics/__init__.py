"""kedro-mlflow 2.x's metric datasets: a metric, a metric's history, several metrics.

Each logs into ``run_id`` when given, else into the run this process logs into (during a
``kedro run``, the run's); ``key`` / ``prefix`` defaults to the catalog entry's name.
"""

from __future__ import annotations

from kedro_mlflow.io.metrics.mlflow_metric_dataset import MlflowMetricDataset
from kedro_mlflow.io.metrics.mlflow_metric_history_dataset import MlflowMetricHistoryDataset
from kedro_mlflow.io.metrics.mlflow_metrics_history_dataset import MlflowMetricsHistoryDataset

__all__ = ["MlflowMetricDataset", "MlflowMetricHistoryDataset", "MlflowMetricsHistoryDataset"]
