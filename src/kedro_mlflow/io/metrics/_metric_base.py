"""What the three metric datasets share: their key, their run, their errors.

A metric is logged into ``run_id`` when it is given, else into the run this process logs
into (the ``kedro run``'s, the active run, ``MLFLOW_RUN_ID``); with none, a save is refused
(kedro-mlflow 2.x started a run and left it open). ``key`` (``prefix``) defaults to the
catalog entry's name, set by the hook at the start of a ``kedro run``, factory-made entries
included.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import shown_tracking_uri
from kedro_mlflow.io.artifacts import _queue
from kedro_mlflow.io.artifacts._runs import current_run_id
from kedro_mlflow.io.metrics._links import Evaluated, linked_inputs
from kedro_mlflow.io.metrics._metric_log import MetricSave, Point, run_save

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric


class MetricBase(AbstractDataset[Any, Any]):
    """A dataset of metrics of one MLflow run (see the module)."""

    _kind = "metric"

    def __init__(
        self,
        *,
        key: str | None,
        run_id: str | None,
        load_args: dict[str, Any] | None,
        save_args: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        self.key = key
        self._run_id = None if run_id is None else str(run_id)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata
        self._logging_activated = True
        #: What the node saving it reads (its model, its data), told by the hook (``_links``).
        self.evaluated: Evaluated | None = None

    @property
    def _logging_activated(self) -> bool:
        """Whether a save logs to MLflow (``switch_catalog_logging`` turns it off)."""
        return self.__logging_activated

    @_logging_activated.setter
    def _logging_activated(self, flag: bool) -> None:
        if not isinstance(flag, bool):
            raise ValueError(f"_logging_activated must be a boolean, got {type(flag)}")
        self.__logging_activated = flag

    @property
    def run_id(self) -> str | None:
        """``run_id`` as given, else the run this process logs into, else None."""
        return self._run_id or current_run_id()

    @run_id.setter
    def run_id(self, run_id: str | None) -> None:
        self._run_id = run_id

    def _submit(
        self, points: list[Point], mode: str = "overwrite", args: dict[str, Any] | None = None
    ) -> None:
        """Log ``points``: in the kedro run's helper process when it holds the run (MLflow is
        not imported here then), else in this process (``_metric_log``)."""
        model, data = linked_inputs(self.evaluated, self.metadata)
        save = MetricSave(self._name(), tuple(points), mode, dict(args or {}), model, data)
        forward = _queue.forwarder() if self._run_id is None else None
        if forward is not None:
            forward.log_metrics(save)
            return
        run_save(self._run_to_save(), save)

    def _name(self) -> str:
        return f"{type(self).__name__} '{self.key}'" if self.key else type(self).__name__

    def _describe(self) -> dict[str, Any]:
        return {"key": self.key, "run_id": self._run_id}

    def _require_key(self, doing: str) -> str:
        if not self.key:
            raise DatasetError(
                f"{doing} {type(self).__name__}: it has no 'key' and was not named by a "
                f"`kedro run` (the catalog entry's name is the default). Give 'key' in the "
                f"catalog entry or to the constructor."
            )
        return self.key

    def _run_to_save(self) -> str:
        run_id = self.run_id
        if run_id is None:
            raise DatasetError(
                f"Saving {self._name()}: there is no MLflow run to log the {self._kind} into "
                f"(no 'run_id', no active run; tracking URI '{shown_tracking_uri()}'). Save it "
                f"during a `kedro run`, inside `with mlflow.start_run():`, or give 'run_id'."
            )
        if self._run_id is not None:  # the current run exists: only a given one is checked
            self._check_run(run_id, "Saving")
        return run_id

    def _run_to_load(self) -> str:
        run_id = self.run_id
        if run_id is None:
            raise DatasetError(
                f"Loading {self._name()}: no 'run_id' and no active MLflow run to read the "
                f"{self._kind} from. Give 'run_id' in the catalog entry."
            )
        self._check_run(run_id, "Loading")
        return run_id

    def _check_run(self, run_id: str, doing: str) -> None:
        try:
            client().get_run(run_id)
        except mlflow.exceptions.MlflowException as exc:
            raise DatasetError(
                f"{doing} {self._name()}: MLflow run '{run_id}' was not found on tracking URI "
                f"'{shown_tracking_uri()}' ({exc.message}). Check 'run_id' of this dataset."
            ) from None

    def _exists(self) -> bool:
        run_id = self.run_id
        if run_id is None or not self.key:
            return False
        try:
            metrics = client().get_run(run_id).data.metrics
        except mlflow.exceptions.MlflowException:
            return False
        return self._exists_in(metrics)

    def _exists_in(self, metrics: dict[str, float]) -> bool:
        return self.key in metrics

    def _history(self, run_id: str, key: str) -> list[Metric]:
        return list(client().get_metric_history(run_id, key))


def client() -> MlflowClient:
    return mlflow.MlflowClient()


def number(value: Any, owner: str, what: str = "value") -> float:
    """``value`` as a float, or a ``DatasetError`` saying it is not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DatasetError(
            f"Saving {owner}: the metric {what} must be a number (int or float), got "
            f"{type(value).__name__} {value!r}."
        )
    return float(value)
