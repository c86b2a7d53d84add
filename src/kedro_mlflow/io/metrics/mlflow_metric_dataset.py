"""``MlflowMetricDataset``: one float, logged as a metric of an MLflow run."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from kedro_mlflow.io.metrics._metric_base import MetricBase, number
from kedro_mlflow.io.metrics._metric_log import Point

MODES = ("overwrite", "append")


class MlflowMetricDataset(MetricBase):
    """A metric of an MLflow run: save logs a number, load returns the last one logged.

    ``save_args``: ``step`` (else, with ``mode: overwrite``, the default, the last step logged
    or 0; with ``mode: append``, the step after it), other keys passed to
    ``MlflowClient.log_metric`` (``timestamp``, ``synchronous``, ...). ``load_args``: ``step``
    reads the value logged last at that step.

    Examples:
        >>> import mlflow, tempfile
        >>> from kedro_mlflow.io.metrics import MlflowMetricDataset
        >>> mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
        >>> with mlflow.start_run():
        ...     accuracy = MlflowMetricDataset(key="accuracy", save_args={"mode": "append"})
        ...     accuracy.save(0.8)
        ...     accuracy.save(0.9)
        ...     (accuracy.load(), MlflowMetricDataset(key="accuracy", load_args={"step": 0}).load())
        (0.9, 0.8)
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
        self.mode = str(self._save_args.pop("mode", "overwrite"))
        if self.mode not in MODES:
            raise DatasetError(
                f"MlflowMetricDataset '{key}': save_args 'mode' is '{self.mode}'; it must be "
                f"one of {', '.join(MODES)}."
            )

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "mode": self.mode}

    def load(self) -> float:
        key = self._require_key("Loading")
        run_id = self._run_to_load()
        history = self._history(run_id, key)
        step = self._load_args.get("step")
        values = [m.value for m in history if step is None or m.step == int(step)]
        if not values:
            at = "" if step is None else f" at step {step}"
            logged = sorted({m.step for m in history})
            raise DatasetError(
                f"Loading {self._name()}: MLflow run '{run_id}' has no metric '{key}'{at}"
                + (f" (steps logged: {logged})." if logged else ".")
                + " Save it first, or check 'key', 'run_id' and load_args 'step'."
            )
        return float(values[-1])

    def save(self, data: float) -> None:
        if not self._logging_activated:
            return
        key = self._require_key("Saving")
        value = number(data, self._name())
        args = dict(self._save_args)
        step = args.pop("step", None)
        self._submit([Point(key, value, None if step is None else int(step))], self.mode, args)
