"""``MlflowMetricsHistoryDataset``: several metrics at once, logged as ``<prefix>.<name>``."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from kedro_mlflow.io.metrics._metric_base import MetricBase, client, number
from kedro_mlflow.io.metrics._metric_log import Point


class MlflowMetricsHistoryDataset(MetricBase):
    """Metrics ``{name: {"value", "step"}}`` or ``{name: [{"value", "step"}, ...]}``.

    Each is logged as ``<prefix>.<name>`` (``prefix`` defaults to the catalog entry's name),
    all in one call per 1,000 points; a load returns the same shape, keyed by ``name``.

    Examples:
        >>> import mlflow, tempfile
        >>> from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset
        >>> mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
        >>> with mlflow.start_run():
        ...     scores = MlflowMetricsHistoryDataset(prefix="scores")
        ...     scores.save({"f1": {"value": 0.7, "step": 0}, "auc": [{"value": 0.8, "step": 0}]})
        ...     sorted(scores.load().items())
        [('auc', {'step': 0, 'value': 0.8}), ('f1', {'step': 0, 'value': 0.7})]
    """

    _kind = "metrics"

    def __init__(
        self,
        run_id: str | None = None,
        prefix: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            key=prefix, run_id=run_id, load_args=None, save_args=None, metadata=metadata
        )

    @property
    def prefix(self) -> str | None:
        """The prefix of the metrics' names (the key of the other metric datasets)."""
        return self.key

    def _describe(self) -> dict[str, Any]:
        return {"run_id": self._run_id, "prefix": self.key}

    def _exists_in(self, metrics: dict[str, float]) -> bool:
        return any(name.startswith(f"{self.key}.") for name in metrics)

    def load(self) -> dict[str, Any]:
        prefix = self._require_key("Loading")
        run_id = self._run_to_load()
        names = [n for n in client().get_run(run_id).data.metrics if n.startswith(f"{prefix}.")]
        loaded: dict[str, Any] = {}
        for full in sorted(names):
            history = sorted(self._history(run_id, full), key=lambda m: (m.step, m.timestamp))
            points = [{"step": m.step, "value": m.value} for m in history]
            loaded[full[len(prefix) + 1 :]] = points[0] if len(points) == 1 else points
        return loaded

    def save(self, data: dict[str, Any]) -> None:
        if not self._logging_activated:
            return
        prefix = self._require_key("Saving")
        points = []
        for name, item in dict(data).items():
            entries = [item] if isinstance(item, dict) else item
            if not isinstance(entries, list) or not entries:
                raise DatasetError(
                    f"Saving {self._name()}: metric '{name}' must be a {{'value', 'step'}} dict "
                    f"or a non-empty list of them, got {type(item).__name__}."
                )
            for entry in entries:
                try:
                    value, step = entry["value"], int(entry.get("step", 0))
                except (TypeError, KeyError, ValueError):
                    raise DatasetError(
                        f"Saving {self._name()}: metric '{name}' holds {entry!r}; each entry is "
                        f"a {{'value': number, 'step': int}} dict."
                    ) from None
                points.append(Point(f"{prefix}.{name}", number(value, self._name()), step))
        self._submit(points)
