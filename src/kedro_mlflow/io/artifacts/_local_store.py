"""A run of a sqlite store on this machine, read without MLflow: the fast path of a load by run_id.

Importing mlflow and opening its sqlite store (SQLAlchemy's models and mappers) costs a
fresh process two to four seconds: most of a load by ``run_id`` of a few hundred MiB. A load
only needs the run's row (status, lifecycle stage, artifact location), its tags and its
dataset records (``_records``: what each save recorded), indexed reads of the store's
``runs``, ``tags``, ``inputs``, ``datasets`` and ``input_tags`` tables. When the tracking
URI is a sqlite file here and the run's artifacts are in a folder here, they are read with
``sqlite3``, read only, and the artifact folder is read as MLflow's local artifact
repository reads it.

Anything else the load path asks of such a run or repository (a listing for an error
message, an attribute not read here) is answered by MLflow's own objects, fetched at that
moment: the fast path changes the cost of a load, never its answers. Where the store cannot
be read so (another URI, a remote artifact location, a table or column missing, a locked or
corrupt file), ``read_run`` returns None and the caller asks MLflow.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlparse

from kedro_mlflow._lazy import artifact_repository_registry, mlflow

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

#: How long a read waits for a writer's lock on the store.
_BUSY_TIMEOUT_S = 5.0
#: Once MLflow's own sqlite store is loaded in this process, asking it is as cheap.
_MLFLOW_STORE_MODULE = "mlflow.store.tracking.sqlalchemy_store"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, else None.

    Examples:
        >>> sqlite_file("sqlite:////p/mlflow.db").as_posix()
        '/p/mlflow.db'
        >>> sqlite_file("sqlite:///mlflow.db").as_posix()
        'mlflow.db'
        >>> sqlite_file("http://localhost:5000") is None, sqlite_file("sqlite://") is None
        (True, True)
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or "?" in uri:
        return None
    path = uri[len(prefix) :]
    return Path(path) if path and path != ":memory:" else None


def local_folder(artifact_uri: str) -> Path | None:
    """The folder of an artifact location on this machine's disk, else None.

    Examples:
        >>> local_folder("file:///p/mlruns/1/abc/artifacts").as_posix()
        '/p/mlruns/1/abc/artifacts'
        >>> local_folder("/p/mlruns/1/abc/artifacts").as_posix()
        '/p/mlruns/1/abc/artifacts'
        >>> local_folder("s3://bucket/1/abc/artifacts") is None
        True
    """
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file" and parsed.netloc in {"", "localhost"}:
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and artifact_uri.startswith("/"):
        return Path(artifact_uri)
    return None


class _Answered:
    """What is not read here comes from MLflow's own run, fetched on first use."""

    _full: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._full(), name)


@dataclass
class _Info(_Answered):
    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    artifact_uri: str
    start_time: int | None
    end_time: int | None
    run_name: str | None
    _full: Any = field(repr=False)

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class _Data(_Answered):
    tags: dict[str, str]
    _full: Any = field(repr=False)


@dataclass(frozen=True)
class _Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None


@dataclass(frozen=True)
class _Tag:
    key: str
    value: str


@dataclass(frozen=True)
class _DatasetInput:
    dataset: _Dataset
    tags: list[_Tag]


@dataclass(frozen=True)
class _Inputs:
    dataset_inputs: list[_DatasetInput]


class LocalRun(_Answered):
    """A run read from the sqlite file: ``info``, ``data.tags`` and ``inputs.dataset_inputs``
    as MLflow's ``Run`` has them."""

    def __init__(
        self, uri: str, row: sqlite3.Row, tags: dict[str, str], inputs: list[_DatasetInput]
    ) -> None:
        self._uri = uri
        self._run: Run | None = None
        self.info = _Info(
            run_id=row["run_uuid"],
            experiment_id=str(row["experiment_id"]),
            status=row["status"],
            lifecycle_stage=row["lifecycle_stage"],
            artifact_uri=row["artifact_uri"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            run_name=row["name"],
            _full=lambda: self._full().info,
        )
        self.data = _Data(tags=tags, _full=lambda: self._full().data)
        self.inputs = _Inputs(inputs)

    def _full(self) -> Run:
        if self._run is None:
            self._run = mlflow.MlflowClient(tracking_uri=self._uri).get_run(self.info.run_id)
        return self._run


class LocalRepository:
    """The artifact folder of a ``LocalRun``; anything but its path is MLflow's repository's."""

    def __init__(self, artifact_uri: str, folder: Path, tracking_uri: str) -> None:
        self.artifact_uri = artifact_uri
        self.artifact_dir = str(folder)
        self._tracking_uri = tracking_uri
        self._repo: ArtifactRepository | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_repo":
            raise AttributeError(name)
        if self._repo is None:
            self._repo = artifact_repository_registry.get_artifact_repository(
                self.artifact_uri, tracking_uri=self._tracking_uri
            )
        return getattr(self._repo, name)


def read_run(uri: str, run_id: str) -> Run | None:
    """``run_id`` read from the sqlite file of ``uri`` when its artifacts are local, else None."""
    database = sqlite_file(uri)
    if database is None or _MLFLOW_STORE_MODULE in sys.modules or not database.is_file():
        return None
    try:
        connection = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S
        )
    except sqlite3.Error:
        return None
    try:
        connection.row_factory = sqlite3.Row
        row = connection.execute(
            "SELECT run_uuid, experiment_id, status, lifecycle_stage, artifact_uri, "
            "start_time, end_time, name FROM runs WHERE run_uuid = ?",
            (run_id,),
        ).fetchone()
        if row is None or local_folder(str(row["artifact_uri"] or "")) is None:
            return None
        tags = dict(connection.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
        inputs = _dataset_inputs(connection, run_id)
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return cast("Run", LocalRun(uri, row, tags, inputs))


def _dataset_inputs(connection: sqlite3.Connection, run_id: str) -> list[_DatasetInput]:
    """The dataset records of ``run_id``, each with its input tags."""
    rows = [
        tuple(row)
        for row in connection.execute(
            "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d "
            "ON d.dataset_uuid = i.source_id WHERE i.destination_type = 'RUN' "
            "AND i.destination_id = ? AND i.source_type = 'DATASET'",
            (run_id,),
        )
    ]
    tags: dict[str, list[_Tag]] = {}
    if rows:
        marks = ",".join("?" * len(rows))
        query = f"SELECT input_uuid, name, value FROM input_tags WHERE input_uuid IN ({marks})"  # noqa: S608 - placeholders only
        for input_uuid, key, value in connection.execute(query, [row[0] for row in rows]):
            tags.setdefault(input_uuid, []).append(_Tag(key, value))
    return [_DatasetInput(_Dataset(*row[1:]), tags.get(row[0], [])) for row in rows]


def repository(run: Run, tracking_uri: str) -> ArtifactRepository | None:
    """The artifact repository of a ``LocalRun``, without MLflow; None for another run."""
    if not isinstance(run, LocalRun):
        return None
    folder = local_folder(run.info.artifact_uri)
    assert folder is not None  # noqa: S101 - read_run returns only runs with a local folder
    return cast("ArtifactRepository", LocalRepository(run.info.artifact_uri, folder, tracking_uri))
