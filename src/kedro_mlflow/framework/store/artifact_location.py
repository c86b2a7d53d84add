"""The embedded store's artifacts stay in the project, even once the project moved.

An experiment records an absolute artifact location when it is created
(``file:///<project>/mlruns``), and each run the absolute URI of its artifacts. Move or copy the
project and its ``mlflow.db`` goes along, but those locations still name the old folder: new runs
would write there (recreating a moved project's old folder, or writing into the original of a
copy) and old runs would read their artifacts from there.

When a project's own sqlite store (``mlflow.db`` inside the project) names artifact locations
under another folder's ``mlruns`` (what this plugin and MLflow create for a store there), the
store is pointed at the project's own ``mlruns`` when the project is loaded
(``follow_moved_project``): experiments, runs, logged models, model versions and traces, in one
sqlite transaction, with the standard library's ``sqlite3`` (no mlflow imported). A copy then
writes into its own folder and reads its old runs from there; the original is never touched.

Any other location outside the project (set by hand) is left as it is, and ``kedro run`` refuses
to write there unless ``mlflow.yml`` names it (``check_follows_project``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from kedro_mlflow._tracking import is_server_uri
from kedro_mlflow.exceptions import MlflowConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from kedro_mlflow.config.settings import MlflowSettings

logger = logging.getLogger(__name__)

#: The folder of the embedded store's artifacts, inside the project.
ARTIFACTS_FOLDER = "mlruns"

#: Where MLflow keeps absolute artifact locations: (table, column, optional WHERE clause).
_LOCATIONS = (
    ("experiments", "artifact_location", ""),
    ("runs", "artifact_uri", ""),
    ("logged_models", "artifact_location", ""),
    ("model_versions", "source", ""),
    ("model_versions", "storage_location", ""),
    ("trace_tags", "value", "key = 'mlflow.artifactLocation'"),
)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _embedded_database(settings: MlflowSettings) -> Path | None:
    """The sqlite database of the tracking URI when it lies inside the project, else None."""
    uri = settings.tracking_uri
    if is_server_uri(uri) or not uri.startswith("sqlite:///"):
        return None
    database = Path(os.path.abspath(uri[len("sqlite:///") :].split("?", 1)[0]))
    return database if _inside(database, settings.project_path) else None


def _local_folder(location: str) -> Path | None:
    """The folder of a local artifact location (``file:`` URI or plain path), else None."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    if "://" in location or not location:
        return None
    return Path(location) if Path(location).is_absolute() else None


def _old_home(location: str, experiment_id: str, project: Path) -> Path | None:
    """The folder an embedded store was in, if ``location`` is its ``mlruns`` outside ``project``.

    ``<home>/mlruns`` is what this plugin creates, ``<home>/mlruns/<experiment id>`` what
    MLflow creates for its default experiment.
    """
    folder = _local_folder(location)
    if folder is None or _inside(folder, project):
        return None
    parts = PurePosixPath(folder.as_posix()).parts
    if parts[-1] == ARTIFACTS_FOLDER:
        return folder.parent
    if parts[-1] == experiment_id and len(parts) > 1 and parts[-2] == ARTIFACTS_FOLDER:
        return folder.parent.parent
    return None


def follow_moved_project(settings: MlflowSettings) -> Path | None:
    """Point the project's own store at the project's ``mlruns`` if it moved; the old home.

    Does nothing (returns None) for a store that is not the project's own sqlite file, that
    does not exist yet, that names no other folder's ``mlruns``, that names several, or when
    ``mlflow.yml`` sets the experiment's artifact location.
    """
    configured = settings.config.tracking.experiment.create_experiment_kwargs.artifact_location
    database = _embedded_database(settings)
    if configured or database is None or not database.is_file():
        return None
    project = settings.project_path
    connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        try:
            experiments = connection.execute(
                "SELECT experiment_id, artifact_location FROM experiments"
            ).fetchall()
        except sqlite3.DatabaseError:  # not (yet) an MLflow store: MLflow will say so
            return None
        homes = {_old_home(str(loc or ""), str(eid), project) for eid, loc in experiments}
        homes.discard(None)
        if len(homes) != 1:
            return None
        old_home = homes.pop()
        assert old_home is not None  # noqa: S101 - discarded above
        moved = _rewrite(connection, old_home, project)
    finally:
        connection.close()
    logger.info(
        "This project's MLflow store '%s' was moved or copied from '%s': its runs now keep and "
        "read their artifacts in '%s' (%d location(s) updated).",
        database,
        old_home,
        project / ARTIFACTS_FOLDER,
        moved,
    )
    return old_home


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _rewrite(connection: sqlite3.Connection, old_home: Path, project: Path) -> int:
    """Replace the prefix ``old_home/mlruns`` by ``project/mlruns`` in every location column."""
    old, new = old_home / ARTIFACTS_FOLDER, project / ARTIFACTS_FOLDER
    prefixes = [(old.as_uri(), new.as_uri()), (str(old), str(new))]
    changed = 0
    connection.execute("BEGIN IMMEDIATE")
    try:
        for table, column, where in _LOCATIONS:
            if column not in _columns(connection, table):
                continue
            extra = f" AND {where}" if where else ""
            for before, after in prefixes:
                # Exactly the folder, or under it: '/old/mlruns-2' is not '/old/mlruns'.
                cursor = connection.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 - names are ours
                    f"WHERE ({column} = ? OR substr({column}, 1, ?) = ?){extra}",
                    (after, len(before) + 1, before, len(before) + 1, before + "/"),
                )
                changed += cursor.rowcount
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return changed


def check_follows_project(
    client: MlflowClient, settings: MlflowSettings, experiment_id: str
) -> None:
    """Refuse to open a run whose artifacts would land outside the project, in a folder the
    store did not move from (a location set by hand, not in ``mlflow.yml``).

    Only for the project's own sqlite store with the default artifact location (a location
    set in ``mlflow.yml`` is the user's choice).

    Raises:
        MlflowConfigError: Naming the experiment, the folder and how to fix it.
    """
    configured = settings.config.tracking.experiment.create_experiment_kwargs.artifact_location
    database = _embedded_database(settings)
    if configured or database is None:
        return
    experiment = client.get_experiment(experiment_id)
    folder = _local_folder(str(experiment.artifact_location or ""))
    project = settings.project_path
    if folder is None or _inside(folder, project):
        return
    raise MlflowConfigError(
        f"MLflow experiment '{experiment.name}' (id {experiment_id}) of this project's store "
        f"'{database}' keeps its artifacts in '{folder}', outside this project '{project}', "
        f"and not in another folder's 'mlruns' that the store was moved from. New runs would "
        f"write into '{folder}'. No run was opened. Fix it with one of: "
        f"'tracking.experiment.create_experiment_kwargs.artifact_location: {folder}' in "
        f"mlflow.yml to keep writing there on purpose; or a new experiment for this project "
        f"('tracking.experiment.name' in {settings.where}), whose artifacts go to "
        f"'{project / ARTIFACTS_FOLDER}'."
    )
