"""The embedded store's artifacts stay in the project, even once the project moved.

An experiment records an absolute artifact location when it is created
(``file:///<project>/mlruns``). Move or copy the project and its ``mlflow.db`` goes along,
but the experiment still points at the old folder: every new run would write its artifacts
there, recreating a moved project's old folder or writing into the original of a copy. A run
is refused before it is created when the project's own sqlite store holds an experiment whose
local artifact location lies outside the project, and the message says how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from kedro_mlflow._tracking import is_server_uri
from kedro_mlflow.exceptions import MlflowConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from kedro_mlflow.config.settings import MlflowSettings


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _embedded_database(settings: MlflowSettings) -> Path | None:
    """The sqlite database of the tracking URI when it lies inside the project, else None."""
    uri = settings.tracking_uri
    if is_server_uri(uri) or not uri.startswith("sqlite:///"):
        return None
    database = Path(os.path.abspath(uri[len("sqlite:///") :]))
    return database if _inside(database, settings.project_path) else None


def check_follows_project(
    client: MlflowClient, settings: MlflowSettings, experiment_id: str
) -> None:
    """Refuse to open a run whose artifacts would land outside a moved or copied project.

    Only for the project's own sqlite store with the default artifact location (a location
    set in ``mlflow.yml`` is the user's choice).

    Raises:
        MlflowConfigError: Naming the experiment, the old folder and how to fix it.
    """
    configured = settings.config.tracking.experiment.create_experiment_kwargs.artifact_location
    database = _embedded_database(settings)
    if configured or database is None:
        return
    experiment = client.get_experiment(experiment_id)
    location = str(experiment.artifact_location or "")
    if not location.startswith("file:"):
        return
    folder = Path(unquote(urlparse(location).path))
    project = settings.project_path
    if _inside(folder, project):
        return
    here = (project / "mlruns").as_uri()
    update = f"UPDATE experiments SET artifact_location = '{here}' WHERE experiment_id = "  # noqa: S608 - shown to the user, not run
    raise MlflowConfigError(
        f"MLflow experiment '{experiment.name}' (id {experiment_id}) of this project's store "
        f"'{database}' keeps its artifacts in '{folder}' (its artifact_location, fixed when "
        f"the experiment was created), outside this project '{project}': the project was moved "
        f"or copied. New runs would write into '{folder}'. No run was opened. Fix it with one "
        f"of: a new experiment for this copy ('tracking.experiment.name' in {settings.where}), "
        f"whose artifacts go to '{project / 'mlruns'}'; or "
        f"'tracking.experiment.create_experiment_kwargs.artifact_location: {folder}' in "
        f"mlflow.yml to keep writing there on purpose; or point the experiment at this "
        f"project: sqlite3 '{database}' \"{update}{experiment_id}\"."
    )
