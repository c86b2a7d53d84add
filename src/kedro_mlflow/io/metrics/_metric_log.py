"""Logging one metric save into a run: its steps, its links, its batches.

A metric dataset turns what a node returned into a ``MetricSave`` (plain data, no MLflow):
its points, and what the node read (the model it logged, the data's artifact). ``run_save``
logs it, in the process that holds the run: during a ``kedro run`` whose MLflow work is in
the helper process, the save is handed to the helper (``_queue.forwarder()``), so a metric
does not import MLflow into the ``kedro run`` process; elsewhere, here. One implementation
for both, so a metric is logged the same wherever it goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow

if TYPE_CHECKING:
    from mlflow.entities import Metric

#: The MLflow arguments of a metric that say what it measured.
LINK_ARGS = ("model_id", "dataset_name", "dataset_digest")
#: At most this many metrics per ``log_batch`` call (MLflow's limit).
BATCH = 1000


@dataclass(frozen=True)
class Point:
    """One value of a metric; ``step`` ``None``: from the history (``MetricSave.mode``)."""

    key: str
    value: float
    step: int | None = 0
    timestamp: int | None = None


@dataclass(frozen=True)
class MetricSave:
    """What one save of a metric dataset logs.

    Attributes:
        owner: The dataset, as errors name it.
        points: Its values.
        mode: For a point with no step: ``overwrite`` (the last step logged) or ``append``.
        args: More arguments of ``MlflowClient.log_metric`` (``save_args``), for one point.
        model: ``(run id, model id)`` of the model the node read, logged by its dataset.
        data_artifact: The artifact of the data the node read (its record names the data).
    """

    owner: str
    points: tuple[Point, ...]
    mode: str = "overwrite"
    args: dict[str, Any] = field(default_factory=dict)
    model: tuple[str, str] | None = None
    data_artifact: str | None = None


def run_save(run_id: str, save: MetricSave) -> None:
    """Log ``save`` into ``run_id``: one ``log_metric``, or ``log_batch`` per 1,000 points."""
    client = mlflow.MlflowClient()
    linked = _links(run_id, save)
    args = {key: value for key, value in save.args.items() if key not in LINK_ARGS}
    points = [_with_step(client, run_id, point, save.mode) for point in save.points]
    if len(points) == 1 and args:
        [point] = points
        client.log_metric(
            run_id, point.key, point.value, step=int(point.step or 0), **{**linked, **args}
        )
        return
    metrics = [metric(p.key, p.value, int(p.step or 0), p.timestamp, **linked) for p in points]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])


def metric(
    key: str, value: float, step: int, timestamp: int | None = None, **linked: str
) -> Metric:
    """A point of a metric; ``linked``: its ``model_id``, ``dataset_name``, ``dataset_digest``."""
    stamp = int(time.time() * 1000) if timestamp is None else int(timestamp)
    return mlflow.entities.Metric(key=key, value=value, timestamp=stamp, step=int(step), **linked)


def _with_step(client: Any, run_id: str, point: Point, mode: str) -> Point:
    if point.step is not None:
        return point
    steps = [m.step for m in client.get_metric_history(run_id, point.key)]
    step = max(steps, default=-1) + 1 if mode == "append" else max(steps, default=0)
    return Point(point.key, point.value, step, point.timestamp)


def _links(run_id: str, save: MetricSave) -> dict[str, str]:
    """The model and data links of ``save`` in ``run_id``; those in its ``args`` win."""
    found: dict[str, str] = {}
    if save.model is not None and save.model[0] == run_id:
        found["model_id"] = save.model[1]
    if save.data_artifact is not None:
        record = _record(run_id, save.data_artifact)
        if record is not None:
            found["dataset_name"], found["dataset_digest"] = record
    given = {key: str(save.args[key]) for key in LINK_ARGS if key in save.args}
    return found | given


def _record(run_id: str, artifact: str) -> tuple[str, str] | None:
    """The run's dataset record of ``artifact`` (a save of this run: once uploaded)."""
    from kedro_mlflow.io.artifacts import _queue, _records  # noqa: PLC0415 - no import cycle

    try:
        _queue.wait_for_artifact(run_id, artifact)
    except DatasetError:
        return None  # its upload failed: the run fails with it, the metric stays unlinked
    return _records.dataset_of(mlflow.MlflowClient().get_run(run_id), artifact)
