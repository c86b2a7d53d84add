"""What a project's ``mlflow.yml`` resolves to: the tracking URI, experiment, artifact location.

Light on purpose (no pydantic, no mlflow): the CLI imports it on every ``kedro`` command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from kedro_mlflow._tracking import SERVER_SCHEMES, is_server_uri
from kedro_mlflow.config.loading import display_path

if TYPE_CHECKING:
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig


@dataclass(frozen=True)
class MlflowSettings:
    """The configuration of one Kedro context, with every URI and name resolved.

    Attributes:
        config: The validated ``mlflow.yml``.
        project_path: The project root, from which relative paths are resolved.
        package_name: The project's package, the default experiment name.
        env: The Kedro run environment (``None``: the config loader's default).
        files: The ``mlflow.yml`` files read, for messages.
        tracking_uri: The tracking URI runs are recorded at.
        tracking_uri_origin: Where ``tracking_uri`` came from, for messages.
        registry_uri: The model registry URI, ``None`` for MLflow's default.
        experiment_name: The experiment new runs go into.
        artifact_location: Artifact location of the experiment when this plugin creates
            it; ``None`` lets the tracking server decide.
    """

    config: KedroMlflowConfig
    project_path: Path
    package_name: str
    env: str | None
    files: tuple[Path, ...]
    tracking_uri: str
    tracking_uri_origin: str
    registry_uri: str | None
    experiment_name: str
    artifact_location: str | None

    @property
    def where(self) -> str:
        """The configuration files, as shown in messages."""
        shown = [display_path(path, self.project_path) for path in self.files]
        return ", ".join(shown) if shown else "the defaults (no mlflow.yml)"


def default_tracking_uri(project_path: Path) -> str:
    """The embedded store: sqlite ``mlflow.db`` in the project root."""
    return f"sqlite:///{project_path.resolve().as_posix()}/mlflow.db"


def resolve_uri(uri: str, project_path: Path) -> str:  # noqa: PLR0911
    """Make a tracking, registry or artifact URI independent of the working directory.

    A relative path, or a sqlite URI with a relative database path, is resolved from the
    project root; a URI with a scheme (``http://``, ``s3://``, ...) is returned unchanged.

    Args:
        uri: As written in ``mlflow.yml``.
        project_path: The project root.

    Returns:
        An absolute URI.

    Examples:
        >>> from pathlib import Path
        >>> resolve_uri("sqlite:///mlflow.db", Path("/project"))
        'sqlite:////project/mlflow.db'
        >>> resolve_uri("mlruns", Path("/project"))
        'file:///project/mlruns'
        >>> resolve_uri("http://localhost:5000", Path("/project"))
        'http://localhost:5000'
    """
    root = Path(os.path.abspath(project_path))
    if uri in SERVER_SCHEMES:  # "databricks" is a URI, not a relative path
        return uri
    if PurePath(uri).is_absolute():
        return Path(uri).as_uri()
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        database = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if database and database != ":memory:" and not PurePath(database).is_absolute():
            return f"sqlite:///{(root / database).as_posix()}"
        return uri
    if scheme == "file" and not uri.startswith("file:/"):
        return (root / uri[len("file:") :]).as_uri()
    if scheme:
        return uri
    return (root / uri).as_uri()


def resolve_settings(
    config: KedroMlflowConfig,
    *,
    project_path: Path,
    package_name: str,
    env: str | None,
    files: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> MlflowSettings:
    """Resolve the tracking URI, experiment and artifact location of a project.

    The tracking URI is ``server.mlflow_tracking_uri``, else ``MLFLOW_TRACKING_URI``, else
    sqlite ``mlflow.db`` in the project root; a relative path in either resolves from the
    project root. Unless the URI names a server (http, https,
    databricks), a new experiment keeps its artifacts in ``<project>/mlruns``: MLflow's own
    default is ``./mlruns`` relative to whatever the working directory is.

    Args:
        config: The validated ``mlflow.yml``.
        project_path: The project root.
        package_name: The project's package, the default experiment name.
        env: The Kedro run environment.
        files: The ``mlflow.yml`` files read, for messages.
        environ: The environment variables (``os.environ`` when ``None``).

    Returns:
        The resolved settings.
    """
    environ = os.environ if environ is None else environ
    project_path = Path(os.path.abspath(project_path))
    settings_files = tuple(files)
    where = ", ".join(display_path(path, project_path) for path in settings_files) or "mlflow.yml"
    server = config.server
    if server.mlflow_tracking_uri:
        tracking_uri = resolve_uri(server.mlflow_tracking_uri, project_path)
        origin = f"'server.mlflow_tracking_uri' in {where}"
    elif environ.get("MLFLOW_TRACKING_URI"):
        tracking_uri = resolve_uri(environ["MLFLOW_TRACKING_URI"], project_path)
        origin = "the MLFLOW_TRACKING_URI environment variable"
    else:
        tracking_uri = default_tracking_uri(project_path)
        origin = "kedro-mlflow's default (no 'server.mlflow_tracking_uri' in mlflow.yml)"
    registry_uri = (
        resolve_uri(server.mlflow_registry_uri, project_path)
        if server.mlflow_registry_uri
        else None
    )
    configured_location = config.tracking.experiment.create_experiment_kwargs.artifact_location
    if configured_location:
        artifact_location: str | None = resolve_uri(configured_location, project_path)
    elif is_server_uri(tracking_uri) or urlparse(tracking_uri).scheme in {"", "file"}:
        # A server, or MLflow's FILE store, which keeps each experiment's artifacts in the
        # experiment's own folder (a location at its root would read as a broken experiment).
        artifact_location = None
    else:
        artifact_location = (project_path / "mlruns").as_uri()
    return MlflowSettings(
        config=config,
        project_path=project_path,
        package_name=package_name,
        env=env,
        files=settings_files,
        tracking_uri=tracking_uri,
        tracking_uri_origin=origin,
        registry_uri=registry_uri,
        experiment_name=config.tracking.experiment.name or package_name,
        artifact_location=artifact_location,
    )
