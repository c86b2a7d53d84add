"""Lineage: a load from another run is recorded on the run that consumes it.

Two records, both on the consuming run:

- an MLflow dataset input (what ``mlflow.log_input`` records), so the MLflow UI's datasets
  panel and ``MlflowClient.get_run(...).inputs`` show what the run was built from: name = the
  catalog name (else the artifact path), source ``runs:/<run>/<artifact>``, digest = the
  first 36 hex digits of the recorded sha256 (MLflow's limit), the full sha256 and the size
  in its profile;
- a tag ``kedro_mlflow.input/<run>/<artifact>`` = ``runs:/<run>/<artifact> <sha256> <size>``,
  readable with a run's tags alone.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import _mlflow_store as store

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

INPUT_TAG_PREFIX = "kedro_mlflow.input/"
#: The ``source_type`` of the MLflow dataset: an artifact of an MLflow run.
SOURCE_TYPE = "mlflow_run_artifact"
#: MLflow stores at most 36 characters of a dataset digest.
_DIGEST_LENGTH = 36

_recorded: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def record_input(consumer_run_id: str, source: Run, artifact: str, name: str | None) -> None:
    """Record on ``consumer_run_id`` that it loaded ``artifact`` of ``source``, once per process.

    Args:
        consumer_run_id: The run that loaded the data.
        source: The run the data was logged in.
        artifact: The artifact path in ``source``.
        name: The dataset's catalog name, if known (else the artifact path is the name).
    """
    source_id = str(source.info.run_id)
    key = (consumer_run_id, source_id, artifact)
    with _lock:
        if key in _recorded:
            return
        _recorded.add(key)
    uri = f"runs:/{source_id}/{artifact}"
    recorded = source.data.tags.get(store.digest_tag_key(artifact), "")
    client = mlflow.MlflowClient()
    client.set_tag(
        consumer_run_id,
        store.tag_key(INPUT_TAG_PREFIX, f"{source_id}/{artifact}"),
        f"{uri} {recorded}".strip(),
    )
    parts = recorded.split()
    sha256 = parts[0] if parts else ""
    entities = mlflow.entities
    dataset = entities.Dataset(
        name=name or artifact,
        # Without a recorded digest, the source names the version: run ids are unique.
        digest=(sha256 or source_id)[:_DIGEST_LENGTH],
        source_type=SOURCE_TYPE,
        source=json.dumps({"uri": uri}),
        profile=json.dumps(
            {"sha256": sha256 or None, "size": int(parts[1]) if len(parts) > 1 else None}
        ),
    )
    tags = [
        entities.InputTag(key="mlflow.data.context", value="kedro load"),
        entities.InputTag(key="kedro_mlflow.source_run_id", value=source_id),
    ]
    try:
        client.log_inputs(consumer_run_id, [entities.DatasetInput(dataset, tags)])
    except mlflow.exceptions.MlflowException as exc:
        # A store without dataset inputs must not fail the load: the tag holds the lineage.
        logger.warning(
            "Could not record '%s' of MLflow run %s as a dataset input of run %s: %s",
            artifact,
            source_id,
            consumer_run_id,
            exc.message,
        )
