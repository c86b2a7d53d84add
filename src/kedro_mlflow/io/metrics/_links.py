"""What a metric measured: the model and the data of the node that computed it.

At the start of a ``kedro run`` the hook tells each metric dataset what its node reads
(``Evaluated``): the first ``MlflowModelTrackingDataset`` input, and the first input versioned
by an ``MlflowArtifactDataset`` that is not a pickle (the data the model was evaluated on). A
save then links the metric to that model when the dataset logged it into the same run, and to
that data's MLflow dataset record in the run (its name and digest, after its upload): MLflow
3's ``model_id``, ``dataset_name`` and ``dataset_digest`` of a metric, which the model's page
shows and ``search_logged_models`` filters on. ``metadata: {kedro_mlflow: {link: false}}`` on
the metric's entry turns it off; links given in ``save_args`` win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kedro_mlflow._lazy import mlflow

#: The MLflow arguments of a metric that say what it measured.
LINK_ARGS = ("model_id", "dataset_name", "dataset_digest")


@dataclass(frozen=True)
class Evaluated:
    """The inputs of the node that saves a metric: its model and its data, if any."""

    model: Any = None  # an MlflowModelTrackingDataset
    data: Any = None  # an MlflowArtifactDataset


def links(
    evaluated: Evaluated | None, metadata: dict[str, Any] | None, run_id: str
) -> dict[str, str]:
    """The ``model_id`` and ``dataset_name``/``dataset_digest`` of a metric saved in ``run_id``."""
    own = (metadata or {}).get("kedro_mlflow") or {}
    if evaluated is None or (isinstance(own, dict) and own.get("link") is False):
        return {}
    found: dict[str, str] = {}
    if evaluated.model is not None:
        model_id = evaluated.model.model_logged_in(run_id)
        if model_id is not None:
            found["model_id"] = model_id
    if evaluated.data is not None:
        record = _record(run_id, evaluated.data.artifact)
        if record is not None:
            found["dataset_name"], found["dataset_digest"] = record
    return found


def _record(run_id: str, artifact: str) -> tuple[str, str] | None:
    from kedro.io import DatasetError  # noqa: PLC0415

    from kedro_mlflow.io.artifacts import _queue, _records  # noqa: PLC0415 - no cycle at import

    try:
        _queue.wait_for_artifact(run_id, artifact)  # saved in this run: recorded once uploaded
    except DatasetError:
        return None  # its upload failed: the run fails with it, the metric stays unlinked
    return _records.dataset_of(mlflow.MlflowClient().get_run(run_id), artifact)
