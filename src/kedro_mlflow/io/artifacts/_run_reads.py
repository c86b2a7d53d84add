"""Reading a dataset's artifact from an MLflow run: the run, the verified fetch, the record.

``MlflowArtifactDataset`` decides that a load or an existence check reads a run rather than
its local file; this reads it: the current run once it logged the artifact (waiting for its
upload), the file fetched through the verified cache (``_cache``), partition ids checked, and
the load recorded as a dataset record of the loading run (``_records``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kedro_mlflow.io.artifacts import _cache, _digests, _queue, _records, _versions
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts._names import is_clean
from kedro_mlflow.io.artifacts._runs import current_run_id, tracking_disabled_by_env

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reader:
    """What reading one dataset from a run needs to know of it.

    Attributes:
        artifact: Its artifact in the run (``reporting/metrics.csv``).
        catalog_name: Its catalog entry's name, when known (records, messages).
        local_path: The wrapped dataset's own path, named in errors.
        partitioned: Whether it is a folder of partitions (their ids are checked).
        copy_at: The wrapped dataset reading another path (the fetched copy).
    """

    artifact: str
    catalog_name: str | None
    local_path: Path
    partitioned: bool
    copy_at: Callable[[Path], AbstractDataset[Any, Any]]


def load(
    reader: Reader, source: str | None, context: str, *, loud_for: str | None, record: bool
) -> Any:
    """The data of ``reader``'s artifact in run ``source`` (``None``: the current run).

    Args:
        loud_for: The run whose loads are said at INFO (``kedro run --load-versions``).
        record: Record the load as a read of the current run (when it is another run).
    """
    _digests.record_waiting(source, context)
    if source is None:
        source = logged_in_current_run(reader, context)
    run = store.get_run(source, context, remember="ended", allow_deleted=False, to_read=True)
    logger.log(
        logging.INFO if source == loud_for else logging.DEBUG,
        "Loading '%s' from artifact '%s' of MLflow run %s",
        reader.catalog_name or reader.local_path,
        reader.artifact,
        source,
    )
    artifact = reader.artifact
    with _cache.fetched(run, store.artifact_repository(run), artifact, context) as local:
        try:
            data = reader.copy_at(local).load()
        except DatasetError as exc:
            raise DatasetError(
                f"{context}: reading artifact '{artifact}' of MLflow run '{source}' "
                f"(from '{local}') failed: {exc}"
            ) from exc
    if reader.partitioned and isinstance(data, dict):
        for pid in data:
            if not is_clean(str(pid)):
                raise store.hostile_entry(
                    run, artifact, str(pid), "is not a clean partition id", context
                )
    consumer = current_run_id() if record else None
    if consumer is not None and consumer != source:
        _records.record_read(consumer, run, artifact, reader.catalog_name)
    return data


def exists(reader: Reader, source: str | None, context: str) -> bool:
    """Whether run ``source`` (``None``: the current run) holds ``reader``'s artifact.

    A deleted run holds nothing: its load would be refused (and say how to restore it).
    """
    _digests.record_waiting(source, context)
    if source is None:
        try:
            source = logged_in_current_run(reader, context)
        except DatasetError:
            return False
    run = store.get_run(source, context, remember="ended", to_read=True)
    if run.info.lifecycle_stage == "deleted":
        logger.debug("%s: MLflow run '%s' is deleted: does not exist", context, source)
        return False
    return store.artifact_exists(run, store.artifact_repository(run), reader.artifact, context)


def logged_in_current_run(reader: Reader, context: str) -> str:
    """The current run, once it logged this ``keep_local: false`` dataset; else an error.

    A node reading what an earlier node of the same ``kedro run`` saved waits for that
    upload. Otherwise the error names the run holding the latest version.
    """
    current = None if tracking_disabled_by_env() else current_run_id()
    if current is not None:
        if _queue.wait_for_artifact(current, reader.artifact):
            return current
        if _records.record_of(store.get_run(current, context), reader.artifact):
            return current
    latest = _versions.latest_version(reader.artifact, reader.catalog_name)
    name = reader.catalog_name or "<name>"
    where = (
        f"The latest version is in MLflow run '{latest.run_id}' (started "
        f"{latest.start_time:%Y-%m-%d %H:%M:%S} UTC): load it with 'load_run_id: "
        f"{latest.run_id}' or `kedro run --load-versions {name}:{latest.run_id}`."
        if latest is not None
        else f"No run on tracking URI '{store.tracking_uri()}' has logged artifact "
        f"'{reader.artifact}' yet: run the pipeline that saves it first."
    )
    raise DatasetError(
        f"{context}: 'keep_local: false' keeps this data only in MLflow, not at "
        f"'{reader.local_path}', and no run to load it from was given. {where}"
    )
