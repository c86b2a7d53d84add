"""What the ``kedro mlflow`` commands read of a project: its settings and its catalog."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from kedro.io import DatasetError

from kedro_mlflow._lazy import kedro_session
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks import catalog as catalog_entries
from kedro_mlflow.framework.hooks.configure import configure_tracking

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata
    from kedro.io import CatalogProtocol

    from kedro_mlflow.config.settings import MlflowSettings
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset


class DescribedArgument(click.Argument):
    """A positional argument with a ``help`` text, as options have (for the docs' reference)."""

    def __init__(self, *args: Any, help: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = help


def project_path(metadata: ProjectMetadata | None) -> Path:
    """The project root, or a ``ClickException`` outside a project."""
    if metadata is None:
        raise click.ClickException(
            "Not in a Kedro project: run `kedro mlflow ...` from a project's folder."
        )
    return Path(metadata.project_path)


@dataclass(frozen=True)
class Project:
    """A project's resolved MLflow settings and its catalog, for one environment."""

    path: Path
    settings: MlflowSettings
    catalog: CatalogProtocol[Any, Any]

    def dataset(self, name: str) -> MlflowArtifactDataset:
        """The MlflowArtifactDataset ``name`` (factory patterns resolved).

        Raises:
            click.BadParameter: Unknown name, or a dataset of another type; lists the names.
        """
        try:
            dataset = catalog_entries.get_dataset(self.catalog, name)
        except TypeError as exc:
            raise click.BadParameter(
                f"'{name}' is a {exc} in the catalog, not a "
                f"kedro_mlflow.io.artifacts.MlflowArtifactDataset: it has no MLflow versions.",
                param_hint="DATASET",
            ) from exc
        except DatasetError as exc:
            raise click.ClickException(f"The catalog entry '{name}' is invalid: {exc}") from exc
        if dataset is None:
            names = catalog_entries.artifact_dataset_names(self.catalog)
            patterns = catalog_entries.artifact_dataset_patterns(self.catalog)
            known = ", ".join([*names, *patterns]) or "none"
            raise click.BadParameter(
                f"'{name}' is not in the catalog (environment "
                f"'{self.settings.env or 'local'}'). Its MlflowArtifactDatasets: {known}.",
                param_hint="DATASET",
            )
        return dataset

    def shown(self, path: Path) -> str:
        """``path`` relative to the project when inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.path.resolve()))
        except ValueError:
            return str(path)


def load_settings(path: Path, env: str | None) -> MlflowSettings:
    """The MLflow settings of the project at ``path`` for ``env``, read as ``kedro run --env`` does.

    MLflow is pointed at the project's tracking store on the way.
    """
    try:
        session = kedro_session.KedroSession.create(project_path=path, env=env)
        with session:
            return configure_tracking(session.load_context())
    except MlflowConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def load_project(metadata: ProjectMetadata | None, env: str | None) -> Project:
    """Read the project's ``mlflow.yml`` and catalog for ``env``, as ``kedro run --env`` does.

    MLflow is pointed at the project's tracking store on the way.
    """
    path = project_path(metadata)
    try:
        session = kedro_session.KedroSession.create(project_path=path, env=env)
        with session:
            context = session.load_context()
            settings = configure_tracking(context)
            return Project(path, settings, context.catalog)
    except MlflowConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Send the log lines written meanwhile to stderr, so that stdout holds only the output.

    Kedro's default logging writes to stdout (rich's console); a command printing JSON
    must not mix log lines into it. Only handlers writing to stdout are moved, and restored.
    """
    moved: list[tuple[logging.Handler, Any]] = []
    for handler in logging.getLogger().handlers:
        console = getattr(handler, "console", None)
        if console is not None and getattr(console, "file", None) is sys.stdout:
            from rich.console import Console  # noqa: PLC0415 - Kedro's handler is rich's

            moved.append((handler, console))
            handler.console = Console(stderr=True)  # type: ignore[attr-defined]
        elif isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            moved.append((handler, handler.stream))
            handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, previous in moved:
            if isinstance(handler, logging.StreamHandler) and not hasattr(handler, "console"):
                handler.setStream(previous)
            else:
                handler.console = previous  # type: ignore[attr-defined]
