"""Run set-up: read ``mlflow.yml``, point MLflow at the project's store, ensure the experiment.

Called by the hook when Kedro creates a context (``configure_tracking``) and when a run is
opened (``ensure_experiment``), and by the CLI to read a project's settings.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.utils import load_obj

from kedro_mlflow import _bounds
from kedro_mlflow._lazy import (
    abstract_request_header_provider,
    kedro_config,
    kedro_project,
    mlflow,
    registry,
)
from kedro_mlflow._sizes import parse_size
from kedro_mlflow._tracking import redact
from kedro_mlflow.config.loading import read_config
from kedro_mlflow.config.settings import MlflowSettings, resolve_settings
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.store.artifact_location import follow_moved_project
from kedro_mlflow.io import artifacts

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from mlflow import MlflowClient

    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig

logger = logging.getLogger(__name__)


def configure_tracking(context: KedroContext) -> MlflowSettings:
    """Read the context's ``mlflow.yml`` and point MLflow at the project's tracking store.

    Exports the ``server.credentials`` entry of ``credentials.yml`` as environment
    variables, sets the tracking and registry URIs and the request header provider, makes
    the project's experiment the one MLflow picks when none is set (so that a notebook's
    ``mlflow.start_run()`` or ``catalog.save(...)`` lands there) and sets
    ``context.mlflow`` to the resolved configuration. No file is created: the store is first
    touched when a run starts; a project's own store that was moved or copied with the
    project is pointed at the project's ``mlruns`` (``follow_moved_project``).

    Args:
        context: The Kedro context just created.

    Returns:
        The resolved settings.

    Raises:
        MlflowConfigError: Naming the invalid key and its file.
    """
    show_info_logs()
    project_path = Path(context.project_path)
    config, files = read_config(context.config_loader, project_path)
    settings = resolve_settings(
        config,
        project_path=project_path,
        package_name=_package_name(project_path),
        env=context.env or getattr(context.config_loader, "default_run_env", None) or None,
        files=files,
    )
    follow_moved_project(settings)
    export_credentials(context.config_loader, settings)
    export_cache_limit(settings)
    use_request_timeout(settings)
    use_tracking_uri(settings)
    use_request_header_provider(settings, context)
    ProjectExperimentProvider.settings = settings
    if "mlflow" in sys.modules:  # else autologging cannot have been turned on yet
        configure_autologging(settings)
    # What kedro-mlflow 2.x users read in notebooks: the configuration, URIs resolved.
    context.mlflow = resolved_config(settings)  # type: ignore[attr-defined]
    return settings


def show_info_logs() -> None:
    """Let kedro-mlflow's INFO lines (the run id, its link) show, as Kedro's own do.

    Kedro's default logging configuration sets only the ``kedro`` and project loggers to
    INFO; a level the user configured for ``kedro_mlflow`` is left alone.
    """
    package_logger = logging.getLogger("kedro_mlflow")
    if package_logger.level == logging.NOTSET:
        package_logger.setLevel(logging.INFO)


def resolved_config(settings: MlflowSettings) -> KedroMlflowConfig:
    """The settings' ``mlflow.yml`` with the URIs and the experiment name it resolved to."""
    config = settings.config
    server = config.server.model_copy(
        update={
            "mlflow_tracking_uri": settings.tracking_uri,
            "mlflow_registry_uri": settings.registry_uri,
        }
    )
    experiment = config.tracking.experiment.model_copy(update={"name": settings.experiment_name})
    tracking = config.tracking.model_copy(update={"experiment": experiment})
    return config.model_copy(update={"server": server, "tracking": tracking})


def configure_autologging(settings: MlflowSettings) -> None:
    """Turn MLflow autologging off when ``disable_autologging`` asks (the default).

    Some platforms turn autologging on, which would log runs of its own.
    """
    if settings.config.tracking.disable_tracking.disable_autologging:
        mlflow.autolog(disable=True)


class ProjectExperimentProvider:
    """Gives MLflow the project's experiment when no experiment is set.

    Registered with MLflow (entry point ``mlflow.default_experiment_provider``) and asked
    only when a run starts without an experiment: the experiment is created then, with the
    project's artifact location, not when the context is created.
    """

    #: The settings of the last Kedro context created in this process.
    settings: MlflowSettings | None = None

    def in_context(self) -> bool:
        current = type(self).settings
        return current is not None and mlflow.get_tracking_uri() == current.tracking_uri

    def get_experiment_id(self) -> str:
        current = type(self).settings
        if current is None:  # pragma: no cover - MLflow asks in_context() first
            raise MlflowConfigError("No Kedro context configured kedro-mlflow.")
        return ensure_experiment(mlflow.MlflowClient(), current)


def disabled_in_settings() -> bool:
    """Whether the project's ``DISABLE_HOOKS_FOR_PLUGINS`` names this plugin, in any spelling.

    Kedro compares the distribution's name (``kedro-mlflow``); kedro-mlflow 2.x registered
    as ``kedro_mlflow``, which users' settings say. Both turn the plugin off.
    """
    names = getattr(kedro_project.settings, "DISABLE_HOOKS_FOR_PLUGINS", ()) or ()
    return any(re.sub(r"[-_.]+", "-", str(name)).lower() == "kedro-mlflow" for name in names)


def _package_name(project_path: Path) -> str:
    return kedro_project.PACKAGE_NAME or project_path.name


def export_credentials(config_loader: Any, settings: MlflowSettings) -> None:
    """Export the ``credentials.yml`` entry named by ``server.credentials`` to ``os.environ``.

    Raises:
        MlflowConfigError: The entry is missing or is not a mapping of plain values.
    """
    name = settings.config.server.credentials
    if name is None:
        return
    try:
        credentials = config_loader["credentials"]
    except kedro_config.MissingConfigException:
        credentials = {}
    entry = credentials.get(name)
    example = f"{name}:\n    MLFLOW_TRACKING_USERNAME: ...\n    MLFLOW_TRACKING_PASSWORD: ..."
    if entry is None:
        raise MlflowConfigError(
            f"'server.credentials' in {settings.where} names '{name}', which is not an entry "
            f"of credentials.yml (conf/<env>/credentials.yml). Add it there as a mapping of "
            f"environment variables:\n  {example}\nor remove 'server.credentials'."
        )
    if not isinstance(entry, Mapping) or any(
        isinstance(value, Mapping | list) for value in entry.values()
    ):
        raise MlflowConfigError(
            f"The credentials '{name}' named by 'server.credentials' in {settings.where} must "
            f"map environment variable names to values, like:\n  {example}"
        )
    for key, value in entry.items():
        if value is not None:
            os.environ[str(key)] = str(value)


def export_cache_limit(settings: MlflowSettings) -> None:
    """Export ``tracking.cache_max_bytes`` as ``KEDRO_MLFLOW_CACHE_MAX_BYTES`` for the datasets.

    Unset, the variable (if any) is left as it is.
    """
    limit = settings.config.tracking.cache_max_bytes
    if limit is not None:
        os.environ[artifacts.CACHE_MAX_BYTES_ENV] = str(parse_size(limit))


def use_request_timeout(settings: MlflowSettings) -> None:
    """Bound every call to the server by ``server.request_timeout`` (see ``_bounds``).

    Exported as ``KEDRO_MLFLOW_REQUEST_TIMEOUT`` for every thread and process of the run;
    MLflow's own HTTP variables, when the user set them, win.
    """
    os.environ[_bounds.REQUEST_TIMEOUT_ENV] = f"{settings.config.server.request_timeout:g}"
    _bounds.apply()


def use_tracking_uri(settings: MlflowSettings) -> None:
    """Point MLflow (and child processes) at the settings' tracking and registry URIs.

    mlflow is not imported for this: when it is not loaded yet, the environment variables
    it reads at first use are enough, and commands that never log pay nothing. A run
    already active in this thread keeps its tracking URI: it lives there.
    """
    if "mlflow" in sys.modules:
        active = mlflow.active_run()
        if active is not None:
            logger.info(
                "MLflow run '%s' is already active: kedro runs join it, on tracking URI '%s'.",
                active.info.run_id,
                redact(mlflow.get_tracking_uri()),
            )
            return
        mlflow.set_tracking_uri(settings.tracking_uri)
        if settings.registry_uri:
            mlflow.set_registry_uri(settings.registry_uri)
        elif _registry_uri_set and mlflow.get_registry_uri() == _registry_uri_set[-1]:
            # A previous project of this process set it; this one uses its tracking store.
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    if not settings.registry_uri and _registry_uri_set:
        if os.environ.get("MLFLOW_REGISTRY_URI") == _registry_uri_set[-1]:
            del os.environ["MLFLOW_REGISTRY_URI"]
        _registry_uri_set.clear()
    os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    if redact(settings.tracking_uri) != settings.tracking_uri:
        # MLflow prints "View run ... at: <the tracking URI>" at the end of a run, password
        # included: not for a URI holding one (our own messages show it redacted).
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if settings.registry_uri:
        os.environ["MLFLOW_REGISTRY_URI"] = settings.registry_uri
        _registry_uri_set[:] = [settings.registry_uri]


#: The registry URI ``use_tracking_uri`` last set in this process (none: MLflow's or the user's).
_registry_uri_set: list[str] = []


class _ConfiguredHeaderProvider:
    """Stands in MLflow's header-provider registry for the provider mlflow.yml names.

    MLflow's registry only appends providers; this single entry lets each new context
    replace (or drop) the provider of the previous one in the same process.
    """

    def __init__(self) -> None:
        self.target: Any = None

    def in_context(self) -> bool:
        return self.target is not None and bool(self.target.in_context())

    def request_headers(self) -> dict[str, str]:
        return dict(self.target.request_headers()) if self.target is not None else {}


_header_provider = _ConfiguredHeaderProvider()
_header_provider_registered: list[bool] = []


def use_request_header_provider(settings: MlflowSettings, context: KedroContext) -> None:
    """Instantiate ``server.request_header_provider.type`` and have MLflow use it.

    Raises:
        MlflowConfigError: The class cannot be imported or is not a ``RequestHeaderProvider``.
    """
    options = settings.config.server.request_header_provider
    if options.type is None:
        _header_provider.target = None
        return
    key = f"'server.request_header_provider.type: {options.type}' in {settings.where}"
    try:
        provider_class = load_obj(options.type)
    except Exception as exc:
        raise MlflowConfigError(
            f"{key} cannot be imported ({exc}). Give the import path of a class, "
            f"e.g. my_project.auth.TokenHeaderProvider."
        ) from exc
    if not (
        isinstance(provider_class, type)
        and issubclass(provider_class, abstract_request_header_provider.RequestHeaderProvider)
    ):
        raise MlflowConfigError(
            f"{key} must be a subclass of mlflow.tracking.request_header."
            f"abstract_request_header_provider.RequestHeaderProvider, got {provider_class!r}."
        )
    kwargs = dict(options.init_kwargs)
    if options.pass_context:
        kwargs["kedro_context"] = context
    _header_provider.target = provider_class(**kwargs)
    if not _header_provider_registered:
        # The registry takes a factory called with no argument; MLflow has no public API
        # to register an instance (its entry point group takes classes only).
        registry._request_header_provider_registry.register(lambda: _header_provider)
        _header_provider_registered.append(True)


def ensure_experiment(client: MlflowClient, settings: MlflowSettings) -> str:
    """The id of the settings' experiment: created if missing, restored if deleted (if allowed).

    Raises:
        MlflowConfigError: The experiment is deleted and ``restore_if_deleted`` is false,
            or the tracking store refuses to be used.
    """
    name = settings.experiment_name
    options = settings.config.tracking.experiment
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return str(
                    client.create_experiment(
                        name,
                        artifact_location=settings.artifact_location,
                        tags=options.create_experiment_kwargs.tags,
                    )
                )
            except mlflow.exceptions.MlflowException as exc:
                # Another process (a parallel orchestrator task) created it meanwhile.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                logger.debug("Experiment '%s' was created concurrently: %s", name, exc)
    except mlflow.exceptions.MlflowException as exc:
        raise MlflowConfigError(
            f"MLflow refused the tracking URI '{redact(settings.tracking_uri)}' (from "
            f"{settings.tracking_uri_origin}): {redact(exc.message)} Fix "
            f"'server.mlflow_tracking_uri' in mlflow.yml or MLFLOW_TRACKING_URI."
        ) from None  # MLflow's own exception may repeat the URI with its password
    if experiment.lifecycle_stage == "deleted":
        if not options.restore_if_deleted:
            raise MlflowConfigError(
                f"MLflow experiment '{name}' is deleted on tracking URI "
                f"'{redact(settings.tracking_uri)}'. Set "
                f"'tracking.experiment.restore_if_deleted: true' "
                f"or another 'tracking.experiment.name' in {settings.where}, or restore it "
                f"(mlflow experiments restore --experiment-id {experiment.experiment_id})."
            )
        client.restore_experiment(experiment.experiment_id)
        logger.info("Restored the deleted MLflow experiment '%s'.", name)
    return str(experiment.experiment_id)
