"""What a metric measured: the model and the data of the node that computed it.

At the start of a ``kedro run`` the hook tells each metric dataset what its node reads
(``Evaluated``): the first ``MlflowModelTrackingDataset`` input, and the first input versioned
by an ``MlflowArtifactDataset`` that is not a pickle (the data the model was evaluated on). A
save then links the metric to that model when the dataset logged it into the same run, and to
that data's MLflow dataset record in the run (its name and digest, after its upload): MLflow
3's ``model_id``, ``dataset_name`` and ``dataset_digest`` of a metric, which the model's page
shows and ``search_logged_models`` filters on (``_metric_log`` logs them).
``metadata: {kedro_mlflow: {link: false}}`` on the metric's entry turns it off; links given
in an ``MlflowMetricDataset``'s ``save_args`` win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evaluated:
    """The inputs of the node that saves a metric: its model and its data, if any."""

    model: Any = None  # an MlflowModelTrackingDataset
    data: Any = None  # an MlflowArtifactDataset


def linked_inputs(
    evaluated: Evaluated | None, metadata: dict[str, Any] | None
) -> tuple[tuple[str, str] | None, str | None]:
    """``(run id, model id)`` of the model the node read and its data's artifact, if linked."""
    own = (metadata or {}).get("kedro_mlflow") or {}
    if evaluated is None or (isinstance(own, dict) and own.get("link") is False):
        return None, None
    model = None if evaluated.model is None else evaluated.model.logged_model()
    data = None if evaluated.data is None else str(evaluated.data.artifact)
    return model, data
