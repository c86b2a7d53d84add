"""``MlflowMetricHistoryDataset``: the whole history of one metric, saved and loaded at once."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from kedro_mlflow.io.metrics._metric_base import MetricBase, number
from kedro_mlflow.io.metrics._metric_log import Point

MODES = ("list", "dict", "history")


class MlflowMetricHistoryDataset(MetricBase):
    """A metric's history: ``list`` (values of steps 0..n-1), ``dict`` ({step: value}) or
    ``history`` (a list of ``{"step", "value", "timestamp"}``), the mode of ``save_args`` and
    ``load_args`` (default ``list``). A history is logged in one call per 1,000 points.

    Examples:
        >>> import mlflow, tempfile
        >>> from kedro_mlflow.io.metrics import MlflowMetricHistoryDataset
        >>> mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
        >>> with mlflow.start_run():
        ...     loss = MlflowMetricHistoryDataset(key="loss", load_args={"mode": "dict"})
        ...     loss.save([0.5, 0.25, 0.125])
        ...     loss.load()
        {0: 0.5, 1: 0.25, 2: 0.125}
    """

    def __init__(
        self,
        key: str | None = None,
        run_id: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            key=key, run_id=run_id, load_args=load_args, save_args=save_args, metadata=metadata
        )
        for where, args in (("save_args", self._save_args), ("load_args", self._load_args)):
            mode = args.get("mode", "list")
            if mode not in MODES:
                raise DatasetError(
                    f"MlflowMetricHistoryDataset '{key}': {where} 'mode' is '{mode}'; it must "
                    f"be one of {', '.join(MODES)}."
                )

    def load(self) -> list[float] | dict[int, float] | list[dict[str, Any]]:
        key = self._require_key("Loading")
        run_id = self._run_to_load()
        history = sorted(self._history(run_id, key), key=lambda m: (m.step, m.timestamp))
        if not history:
            raise DatasetError(
                f"Loading {self._name()}: MLflow run '{run_id}' has no metric '{key}'. Save it "
                f"first, or check 'key' and 'run_id'."
            )
        mode = self._load_args.get("mode", "list")
        if mode == "dict":
            return {m.step: m.value for m in history}
        if mode == "history":
            return [{"step": m.step, "value": m.value, "timestamp": m.timestamp} for m in history]
        return [m.value for m in history]

    def save(self, data: Any) -> None:
        if not self._logging_activated:
            return
        key = self._require_key("Saving")
        self._submit(self._points(key, data))

    def _points(self, key: str, data: Any) -> list[Point]:
        mode = self._save_args.get("mode", "list")
        owner = self._name()
        try:
            if mode == "dict":
                items = [(int(step), number(v, owner)) for step, v in dict(data).items()]
                return [Point(key, value, step) for step, value in items]
            if mode == "history":
                return [
                    Point(key, number(p["value"], owner), int(p.get("step", 0)), p.get("timestamp"))
                    for p in data
                ]
            return [Point(key, number(v, owner), step) for step, v in enumerate(data)]
        except (TypeError, ValueError, KeyError) as exc:
            shape = {
                "list": "a list of numbers",
                "dict": "a {step: value} dict",
                "history": 'a list of {"step", "value", "timestamp"} dicts',
            }[mode]
            raise DatasetError(
                f"Saving {owner}: save_args mode '{mode}' takes {shape}; got "
                f"{type(data).__name__} ({exc})."
            ) from None
