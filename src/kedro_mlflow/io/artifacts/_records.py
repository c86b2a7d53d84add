"""What a run saved and read, as MLflow dataset records of the run: written and read here only.

Each save is one MLflow dataset input of its run (``MlflowClient.log_inputs``), logged as
soon as its upload ends:

- ``name``: the dataset's catalog name (the artifact path when it has none);
- ``digest``: the first 36 hex digits of the content's sha256 (MLflow's limit); a folder's
  content is its manifest (one line ``<sha256>  <path inside the folder>`` per file, sorted,
  as ``sha256sum`` prints it);
- ``source``: ``{"uri": "runs:/<run>/<artifact>"}``;
- ``profile``: the full ``sha256``, the ``size`` in bytes and, for a folder, ``files``: each
  file's path inside it with its ``[sha256, size]``;
- input tags: ``mlflow.data.context`` = ``saved``, ``kedro_mlflow.artifact`` = the artifact
  path, ``kedro_mlflow.saved_at`` = when (ms; the newest record of an artifact wins).

A load from another run is a record of the loading run with context ``read`` and the tag
``kedro_mlflow.source_run_id``; its profile is the one its source recorded.

Runs written before these records hold run tags instead (``kedro_mlflow.sha256/<artifact>``
= ``<sha256> <size>[ <n> files]``, ``kedro_mlflow.dataset/<artifact>`` = the name): the
small legacy reader at the end of this module reads them, so existing stores stay readable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput, Run

    from kedro_mlflow.io.artifacts._mlflow_store import LoggedFile

logger = logging.getLogger(__name__)
CONTEXT_TAG = "mlflow.data.context"
SAVED, READ = "saved", "read"
ARTIFACT_TAG = "kedro_mlflow.artifact"
SAVED_AT_TAG = "kedro_mlflow.saved_at"
SOURCE_RUN_TAG = "kedro_mlflow.source_run_id"
#: The ``source_type`` of the records: an artifact of an MLflow run.
SOURCE_TYPE = "mlflow_run_artifact"
#: MLflow stores at most 36 characters of a dataset digest.
DIGEST_LENGTH = 36
#: Datasets logged in one ``log_inputs`` call (MLflow takes at most 1,000).
BATCH = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Record:
    """One artifact a run saved.

    Attributes:
        artifact: Its path in the run (``reporting/metrics.csv``, or a folder).
        sha256: The sha256 of the file, or of the folder's manifest.
        size: Bytes (all files, for a folder).
        files: For a folder, each file's path inside it with its ``(sha256, size)``;
            ``None`` for a file.
        dataset_name: The catalog name the save recorded, if any.
        saved_at: When it was recorded (ms since the epoch; 0 when not known).
    """

    artifact: str
    sha256: str
    size: int
    files: dict[str, tuple[str, int]] | None = None
    dataset_name: str | None = None
    saved_at: int = 0

    @property
    def file_count(self) -> int:
        return 1 if self.files is None else len(self.files)

    def digest_of(self, name: str) -> tuple[str, int] | None:
        """The ``(sha256, size)`` of the file ``name`` (the artifact or a file in the folder)."""
        if self.files is None:
            return (self.sha256, self.size) if name == self.artifact else None
        prefix = self.artifact + "/"
        return self.files.get(name[len(prefix) :]) if name.startswith(prefix) else None


def manifest_digest(files: dict[str, tuple[str, int]]) -> str:
    """The sha256 of a folder's manifest: one ``<sha256>  <path>`` line per file, sorted."""
    manifest = "".join(f"{files[name][0]}  {name}\n" for name in sorted(files))
    return hashlib.sha256(manifest.encode()).hexdigest()


# -- writing -----------------------------------------------------------------------------------


def saved_record(artifact: str, logged: Iterable[LoggedFile], dataset_name: str | None) -> Record:
    """The record of one save: ``logged`` holds ``artifact`` itself, or the files under it."""
    prefix = artifact + "/"
    inside = {
        item.artifact[len(prefix) :]: (item.sha256, item.size)
        for item in logged
        if item.artifact.startswith(prefix)
    }
    if not inside:
        single = [item for item in logged if item.artifact == artifact]
        if not single:
            raise ValueError(f"nothing was logged as or under '{artifact}'")
        return Record(artifact, single[0].sha256, single[0].size, None, dataset_name)
    total = sum(size for _, size in inside.values())
    return Record(artifact, manifest_digest(inside), total, inside, dataset_name)


def saved_input(run_id: str, record: Record) -> DatasetInput:
    """The MLflow dataset input recording ``record`` as saved in ``run_id``."""
    tags = {
        CONTEXT_TAG: SAVED,
        ARTIFACT_TAG: record.artifact,
        SAVED_AT_TAG: str(record.saved_at or int(time.time() * 1000)),
    }
    return _dataset_input(run_id, record, tags)


def read_input(source: Run, artifact: str, name: str | None) -> DatasetInput:
    """The MLflow dataset input recording a load of ``artifact`` from the run ``source``."""
    source_id = str(source.info.run_id)
    record = record_of(source, artifact) or Record(artifact, "", 0)  # no digest recorded
    record = Record(artifact, record.sha256, record.size, record.files, name or artifact)
    tags = {CONTEXT_TAG: READ, ARTIFACT_TAG: artifact, SOURCE_RUN_TAG: source_id}
    return _dataset_input(source_id, record, tags)


def _dataset_input(source_run_id: str, record: Record, tags: dict[str, str]) -> DatasetInput:
    profile: dict[str, Any] = {"sha256": record.sha256 or None, "size": record.size}
    if not record.sha256:
        profile["size"] = None
    if record.files is not None:
        profile["files"] = {name: list(digest) for name, digest in sorted(record.files.items())}
    entities = mlflow.entities
    dataset = entities.Dataset(
        name=record.dataset_name or record.artifact,
        # Without a recorded digest, the source run names the version: run ids are unique.
        digest=(record.sha256 or source_run_id)[:DIGEST_LENGTH],
        source_type=SOURCE_TYPE,
        source=json.dumps({"uri": f"runs:/{source_run_id}/{record.artifact}"}),
        profile=json.dumps(profile),
    )
    return entities.DatasetInput(
        dataset, [entities.InputTag(key=key, value=value) for key, value in tags.items()]
    )


def record_read(consumer_run_id: str, source: Run, artifact: str, name: str | None) -> None:
    """Record on ``consumer_run_id`` that it loaded ``artifact`` of ``source``, once per process.

    A store that refuses the record does not fail the load: it is logged as a warning.
    """
    key = (consumer_run_id, str(source.info.run_id), artifact)
    with _lock:
        if key in _read:
            return
        _read.add(key)
    try:
        log(consumer_run_id, [read_input(source, artifact, name)])
    except mlflow.exceptions.MlflowException as exc:
        logger.warning(
            "Could not record '%s' of MLflow run %s as a dataset record of run %s: %s",
            artifact,
            key[1],
            consumer_run_id,
            exc.message,
        )


_read: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def log(run_id: str, inputs: list[DatasetInput], tracking_uri: str | None = None) -> None:
    """Log ``inputs`` as dataset records of ``run_id``, ``BATCH`` per store call."""
    client = mlflow.MlflowClient(tracking_uri)
    for start in range(0, len(inputs), BATCH):
        client.log_inputs(run_id, datasets=inputs[start : start + BATCH])


# -- reading -----------------------------------------------------------------------------------


def saved(run: Run) -> dict[str, Record]:
    """What ``run`` saved, per artifact: its dataset records, else its legacy tags."""
    found: dict[str, Record] = {}
    for item in _inputs(run):
        tags = {tag.key: tag.value for tag in item.tags}
        if tags.get(CONTEXT_TAG) != SAVED or ARTIFACT_TAG not in tags:
            continue
        record = _parse(run, item, tags)
        known = found.get(record.artifact)
        if known is None or record.saved_at >= known.saved_at:
            found[record.artifact] = record
    return found or _legacy_saved(run)


def record_of(run: Run, artifact: str) -> Record | None:
    """The record of ``artifact`` (a file or a folder) saved in ``run``, if any."""
    return saved(run).get(artifact) or _legacy_hashed(run, artifact)


def recorded_digest(run: Run, name: str, context: str = "Loading") -> tuple[str, int] | None:
    """The ``(sha256, size)`` recorded for the file ``name`` of ``run``; None if none was.

    Raises:
        DatasetError: A record is there but malformed (``context`` starts the message).
    """
    try:
        records = saved(run)
    except _Malformed as exc:
        raise DatasetError(f"{context}: {exc}") from None
    for record in records.values():
        digest = record.digest_of(name)
        if digest is not None:
            return digest
    hashed = _legacy_hashed(run, name)
    return (hashed.sha256, hashed.size) if hashed is not None else None


def records_under(run: Run, artifact: str) -> list[str]:
    """The artifacts at or under ``artifact`` that ``run`` holds a record of."""
    under = artifact + "/"
    return sorted(name for name in saved(run) if name == artifact or name.startswith(under))


def dataset_of(run: Run, artifact: str) -> tuple[str, str] | None:
    """The ``(name, digest)`` of the newest record of ``artifact`` in ``run``, saved or read:
    what a metric names to say it was measured on that data."""
    found = None
    for item in _inputs(run):
        tags = {tag.key: tag.value for tag in item.tags}
        if tags.get(ARTIFACT_TAG) == artifact and tags.get(CONTEXT_TAG) in {SAVED, READ}:
            found = (str(item.dataset.name), str(item.dataset.digest))
    return found


def dataset_names(run: Run) -> list[str]:
    """The catalog names the saves of ``run`` recorded."""
    return sorted({r.dataset_name for r in saved(run).values() if r.dataset_name is not None})


def file_count(run: Run) -> int:
    """How many files the saves of ``run`` recorded."""
    return sum(record.file_count for record in saved(run).values())


def _inputs(run: Run) -> list[DatasetInput]:
    inputs = getattr(run, "inputs", None)
    return list(getattr(inputs, "dataset_inputs", None) or [])


class _Malformed(DatasetError):
    """A record that does not hold what this module writes (the message names it and its run)."""

    def __init__(self, run: Run, what: str) -> None:
        super().__init__(
            f"{what} of MLflow run '{run.info.run_id}' is malformed (not what kedro-mlflow "
            f"records), so its artifacts cannot be verified. Log the dataset anew."
        )


def _parse(run: Run, item: DatasetInput, tags: dict[str, str]) -> Record:
    artifact = tags[ARTIFACT_TAG]
    where = f"the dataset record '{item.dataset.name}' of artifact '{artifact}'"
    try:
        profile = json.loads(item.dataset.profile or "")
        sha256, size = profile["sha256"], int(profile["size"])
        files = profile.get("files")
        parsed = (
            None
            if files is None
            else {str(name): (str(d[0]), int(d[1])) for name, d in dict(files).items()}
        )
        saved_at = int(tags.get(SAVED_AT_TAG, "0"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise _Malformed(run, where) from None
    if not _SHA256.match(str(sha256)) or any(
        not _SHA256.match(d[0]) for d in (parsed or {}).values()
    ):
        raise _Malformed(run, where)
    name = None if item.dataset.name == artifact else item.dataset.name
    return Record(artifact, sha256, size, parsed, name, saved_at)


# -- legacy: the run tags of earlier versions ----------------------------------------------------

LEGACY_DIGEST_PREFIX = "kedro_mlflow.sha256/"
LEGACY_NAME_PREFIX = "kedro_mlflow.dataset/"
_HASHED = LEGACY_DIGEST_PREFIX + "sha1-"
_LEGACY_KEY_OK = re.compile(r"^[A-Za-z0-9_\-. /]+$")


def legacy_tag_key(prefix: str, path: str) -> str:
    """The tag key earlier versions used for ``path``: the path, or a hash of a long one."""
    key = prefix + path
    if len(key) <= 250 and _LEGACY_KEY_OK.match(key) and "//" not in key and ".." not in key:
        return key
    return prefix + "sha1-" + hashlib.sha1(path.encode()).hexdigest()  # noqa: S324


def _legacy_saved(run: Run) -> dict[str, Record]:
    """The records of a run written with tags: every digest tag whose key names its file.

    A folder's own tag (``<sha256> <size> <n> files``) becomes its record, holding the files
    tagged under it; a file of no folder record is a record of its own.
    """
    tags = run.data.tags
    parsed: dict[str, tuple[str, int, bool]] = {}
    for key, value in tags.items():
        if not key.startswith(LEGACY_DIGEST_PREFIX):
            continue
        parts = value.split()
        if len(parts) < 2 or not _SHA256.match(parts[0]) or not parts[1].isdigit():
            raise _Malformed(run, f"the digest tag '{key}' ({value!r})")
        folder = len(parts) > 3 and parts[3] == "files"
        name = key[len(LEGACY_DIGEST_PREFIX) :]
        if legacy_tag_key(LEGACY_DIGEST_PREFIX, name) == key:  # else a hash: see _legacy_hashed
            parsed[name] = (parts[0], int(parts[1]), folder)
    folders = {name for name, (_, _, folder) in parsed.items() if folder}
    found: dict[str, Record] = {}
    for name, (sha256, size, folder) in parsed.items():
        owner = next((f for f in folders if name.startswith(f + "/")), None)
        dataset_name = tags.get(legacy_tag_key(LEGACY_NAME_PREFIX, owner or name))
        if folder:
            found[name] = Record(name, sha256, size, {}, dataset_name)
        elif owner is None:
            found[name] = Record(name, sha256, size, None, dataset_name)
    for name, (sha256, size, folder) in parsed.items():
        owner = next((f for f in folders if name.startswith(f + "/")), None)
        if owner is not None and not folder:
            files = found[owner].files
            if files is not None:
                files[name[len(owner) + 1 :]] = (sha256, size)
    return found


def _legacy_hashed(run: Run, name: str) -> Record | None:
    """The legacy record of a file whose long name earlier versions hashed into its tag key."""
    key = legacy_tag_key(LEGACY_DIGEST_PREFIX, name)
    parts = run.data.tags.get(key, "").split() if key.startswith(_HASHED) else []
    if len(parts) < 2 or not _SHA256.match(parts[0]) or not parts[1].isdigit():
        return None
    dataset_name = run.data.tags.get(legacy_tag_key(LEGACY_NAME_PREFIX, name))
    return Record(name, parts[0], int(parts[1]), None, dataset_name)


def legacy_filter(artifact: str, sha256: str | None = None) -> str:
    """A ``search_runs`` filter on the legacy digest tag of ``artifact``."""
    # Tag keys hold only [A-Za-z0-9_-. /] (else they are hashed): safe between double quotes.
    key = legacy_tag_key(LEGACY_DIGEST_PREFIX, artifact)
    return f"tags.\"{key}\" LIKE '{f'{sha256} %' if sha256 else '%'}'"
