"""The Kedro hook that opens one MLflow run per ``kedro run``.

Kedro imports this module on every ``kedro`` command (entry point ``kedro.hooks``), so it
imports nothing heavy: mlflow, pydantic and the datasets are imported inside the functions.

The run is found by the datasets of every runner's threads and processes through the
environment: MLflow's active run is thread-local, so ``MLFLOW_RUN_ID`` and
``MLFLOW_TRACKING_URI`` are exported for the duration of the run (a ``ThreadRunner``
worker, an ``--async`` save thread, a ``ParallelRunner`` process, forked or spawned, all
read them) and restored afterwards.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from kedro_mlflow._net import unreachable

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from mlflow import MlflowClient

    from kedro_mlflow.framework.config import (
        DictParamsOptions,
        KedroMlflowConfig,
        MlflowSettings,
    )

logger = logging.getLogger(__name__)

#: Tags every run opened (or joined) by ``kedro run`` gets.
SESSION_ID_TAG = "kedro_mlflow.session_id"
PIPELINE_TAG = "kedro_mlflow.pipeline"
ENV_TAG = "kedro_mlflow.env"
RUNNER_TAG = "kedro_mlflow.runner"
COMMAND_TAG = "kedro_mlflow.command"
KEDRO_VERSION_TAG = "kedro_mlflow.kedro_version"
PROJECT_PATH_TAG = "kedro_mlflow.project_path"

#: The name of the run of ``kedro run`` without ``--pipelines``.
DEFAULT_PIPELINE = "__default__"
#: MLflow refuses longer param values and tag values.
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000


class MlflowHook:
    """Opens one MLflow run per ``kedro run`` and ends it with the run's outcome.

    Registered by the ``kedro.hooks`` entry point; disable it with
    ``DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)`` in ``settings.py``.

    Examples:
        Nothing to declare: installing the plugin registers the hook. Configure it in
        ``conf/base/mlflow.yml`` (``kedro mlflow init`` writes a commented template):

        .. code-block:: yaml

            tracking:
              experiment:
                name: my_project

        In Python, the hook is a plain pluggy plugin:

        >>> from kedro_mlflow.framework.hooks import MlflowHook, mlflow_hook
        >>> isinstance(mlflow_hook, MlflowHook)
        True
    """

    def __init__(self) -> None:
        self._settings: MlflowSettings | None = None
        self._run: TrackedRun | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``mlflow.yml`` (a typo fails here, before anything is written)."""
        self._settings = configure_tracking(context)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Open (resume, or join) the run, tag it, log the parameters."""
        if self._settings is None:
            raise RuntimeError(
                "kedro-mlflow's before_pipeline_run was called before after_context_created: "
                "create the context with KedroSession.load_context() first."
            )
        self._run = start_tracking(self._settings, run_params, pipeline, catalog)

    # trylast: other plugins' and the project's hooks may still log into the run.
    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Wait for uploads, end the run FINISHED (FAILED if an upload failed)."""
        run, self._run = self._run, None
        if run is not None:
            end_tracking(run, "FINISHED", raise_upload_errors=True)

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any]) -> None:
        """Wait for uploads (what was saved before the failure is kept), end the run FAILED."""
        run, self._run = self._run, None
        if run is not None:
            # Kedro raises the node's error once the hooks return: an upload error is logged
            # rather than raised, so that it does not hide the cause of the failure.
            end_tracking(run, "FAILED", raise_upload_errors=False)


mlflow_hook = MlflowHook()


# -- after_context_created ------------------------------------------------------------------


def configure_tracking(context: KedroContext) -> MlflowSettings:
    """Read the context's ``mlflow.yml`` and point MLflow at the project's tracking store.

    Exports the ``server.credentials`` entry of ``credentials.yml`` as environment
    variables, sets the tracking and registry URIs and the request header provider. No
    file is created: the store is first touched when a run starts.

    Args:
        context: The Kedro context just created.

    Returns:
        The resolved settings.

    Raises:
        MlflowConfigError: Naming the invalid key and its file.
    """
    from kedro_mlflow.framework.config import read_config, resolve_settings  # noqa: PLC0415

    project_path = Path(context.project_path)
    config, files = read_config(context.config_loader, project_path)
    settings = resolve_settings(
        config,
        project_path=project_path,
        package_name=_package_name(project_path),
        env=context.env or getattr(context.config_loader, "default_run_env", None) or None,
        files=files,
    )
    export_credentials(context.config_loader, settings)
    use_tracking_uri(settings)
    use_request_header_provider(settings, context)
    return settings


def _package_name(project_path: Path) -> str:
    from kedro.framework import project  # noqa: PLC0415

    return project.PACKAGE_NAME or project_path.name


def export_credentials(config_loader: Any, settings: MlflowSettings) -> None:
    """Export the ``credentials.yml`` entry named by ``server.credentials`` to ``os.environ``.

    Raises:
        MlflowConfigError: The entry is missing or is not a mapping of plain values.
    """
    from kedro.config import MissingConfigException  # noqa: PLC0415

    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

    name = settings.config.server.credentials
    if name is None:
        return
    try:
        credentials = config_loader["credentials"]
    except MissingConfigException:
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


def use_tracking_uri(settings: MlflowSettings) -> None:
    """Point MLflow (and child processes) at the settings' tracking and registry URIs.

    mlflow is not imported for this: when it is not loaded yet, the environment variables
    it reads at first use are enough, and commands that never log pay nothing. A run
    already active in this thread keeps its tracking URI: it lives there.
    """
    if "mlflow" in sys.modules:
        import mlflow  # noqa: PLC0415

        active = mlflow.active_run()
        if active is not None:
            logger.info(
                "MLflow run '%s' is already active: kedro runs join it, on tracking URI '%s'.",
                active.info.run_id,
                mlflow.get_tracking_uri(),
            )
            return
        mlflow.set_tracking_uri(settings.tracking_uri)
        if settings.registry_uri:
            mlflow.set_registry_uri(settings.registry_uri)
    os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    if settings.registry_uri:
        os.environ["MLFLOW_REGISTRY_URI"] = settings.registry_uri


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
    from kedro.utils import load_obj  # noqa: PLC0415
    from mlflow.tracking.request_header import registry  # noqa: PLC0415
    from mlflow.tracking.request_header.abstract_request_header_provider import (  # noqa: PLC0415
        RequestHeaderProvider,
    )

    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

    key = f"'server.request_header_provider.type: {options.type}' in {settings.where}"
    try:
        provider_class = load_obj(options.type)
    except Exception as exc:
        raise MlflowConfigError(
            f"{key} cannot be imported ({exc}). Give the import path of a class, "
            f"e.g. my_project.auth.TokenHeaderProvider."
        ) from exc
    if not (isinstance(provider_class, type) and issubclass(provider_class, RequestHeaderProvider)):
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


# -- before_pipeline_run --------------------------------------------------------------------


@dataclass
class TrackedRun:
    """What ``start_tracking`` opened, for ``end_tracking`` to close.

    Attributes:
        run_id: The MLflow run of this ``kedro run``; ``None`` when tracking is disabled.
        owned: Whether this hook started or resumed the run, and so ends it. A run that
            was already active is joined and left open.
        saved_env: Environment variables changed for the run, with their previous value
            (``None``: unset).
    """

    run_id: str | None
    owned: bool = False
    saved_env: dict[str, str | None] = field(default_factory=dict)


def start_tracking(
    settings: MlflowSettings,
    run_params: Mapping[str, Any],
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
) -> TrackedRun:
    """Open the run of a ``kedro run`` and make it the run of every thread and process.

    Args:
        settings: The context's resolved settings.
        run_params: Kedro's ``run_params`` (session id, pipeline names, env, runner...).
        pipeline: The pipeline about to run, whose parameters are logged.
        catalog: The run's catalog, from which the parameters are read.

    Returns:
        What to close at the end of the run.
    """
    from kedro_mlflow.io.artifacts import (  # noqa: PLC0415
        DISABLE_TRACKING_ENV,
        tracking_disabled_by_env,
    )

    config = settings.config
    names = pipeline_names(run_params)
    tracked = TrackedRun(run_id=None)
    if config.tracking.disable_tracking.disable_autologging:
        import mlflow  # noqa: PLC0415

        # Some platforms turn autologging on, which would log runs of its own.
        mlflow.autolog(disable=True)
    if tracking_disabled(config, names):
        logger.info(
            "MLflow tracking is disabled for pipeline(s) %s ('tracking.disable_tracking."
            "pipelines' in %s): datasets write their local files only.",
            ", ".join(names),
            settings.where,
        )
        _set_env(tracked.saved_env, DISABLE_TRACKING_ENV, "1")
        return tracked
    if tracking_disabled_by_env():
        logger.info("%s is set: no MLflow run is opened.", DISABLE_TRACKING_ENV)
        return tracked

    import mlflow  # noqa: PLC0415

    tracked.run_id, tracked.owned = open_run(settings, run_name=",".join(names))
    try:
        _set_env(tracked.saved_env, "MLFLOW_RUN_ID", tracked.run_id)
        _set_env(tracked.saved_env, "MLFLOW_TRACKING_URI", mlflow.get_tracking_uri())
        client = mlflow.MlflowClient()
        client.log_batch(
            tracked.run_id,
            tags=_as_tags(run_tags(settings, run_params, names)),
        )
        log_parameters(
            client, tracked.run_id, config, pipeline=pipeline, catalog=catalog, where=settings.where
        )
        if config.tracking.background_uploads:
            from kedro_mlflow.io import artifacts  # noqa: PLC0415

            artifacts.start_background_uploads()
    except BaseException:
        end_tracking(tracked, "FAILED", raise_upload_errors=False)
        raise
    logger.info(
        "MLflow run '%s' on '%s' records this kedro run%s.",
        tracked.run_id,
        mlflow.get_tracking_uri(),
        "" if tracked.owned else " (it was already active: joined, left open)",
    )
    return tracked


def pipeline_names(run_params: Mapping[str, Any]) -> list[str]:
    """The pipelines of a ``kedro run``: ``--pipelines`` or ``__default__``."""
    names = run_params.get("pipeline_names") or (
        [run_params["pipeline_name"]] if run_params.get("pipeline_name") else None
    )
    return [str(name) for name in names] if names else [DEFAULT_PIPELINE]


def tracking_disabled(config: KedroMlflowConfig, names: list[str]) -> bool:
    """Whether every pipeline run is listed in ``tracking.disable_tracking.pipelines``."""
    disabled = set(config.tracking.disable_tracking.pipelines)
    return all(name in disabled for name in names)


def open_run(settings: MlflowSettings, run_name: str) -> tuple[str, bool]:
    """Join the active run, resume the configured one, or start a new one.

    The run resumed is ``tracking.run.id``, else ``MLFLOW_RUN_ID``: an orchestrator that
    runs ``kedro run --nodes a`` then ``kedro run --nodes b`` with the same id gets one run.

    Args:
        settings: The context's resolved settings.
        run_name: The name of a new run unless ``tracking.run.name`` is set.

    Returns:
        The run id, and whether this hook owns (ends) the run.

    Raises:
        MlflowConfigError: The run to resume is unknown or deleted, the experiment is
            deleted and may not be restored, or the tracking store is unusable.
    """
    import mlflow  # noqa: PLC0415

    run_options = settings.config.tracking.run
    requested = run_options.id or os.environ.get("MLFLOW_RUN_ID") or None
    active = mlflow.active_run()
    if active is not None:
        if requested and requested != active.info.run_id:
            logger.warning(
                "MLflow run '%s' is active: kedro run joins it and ignores the run '%s' "
                "requested by %s.",
                active.info.run_id,
                requested,
                "'tracking.run.id'" if run_options.id else "MLFLOW_RUN_ID",
            )
        return active.info.run_id, False
    _ensure_reachable(settings)
    client = mlflow.MlflowClient()
    if requested:
        origin = (
            f"'tracking.run.id' in {settings.where}"
            if run_options.id
            else "the MLFLOW_RUN_ID environment variable"
        )
        experiment_id = _run_to_resume(client, requested, origin, settings)
        mlflow.set_experiment(experiment_id=experiment_id)
        run = mlflow.start_run(run_id=requested, run_name=run_options.name)
    else:
        experiment_id = ensure_experiment(client, settings)
        mlflow.set_experiment(experiment_id=experiment_id)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_options.name or run_name)
    return run.info.run_id, True


def _ensure_reachable(settings: MlflowSettings) -> None:
    """Fail in seconds when a tracking server is down (MLflow retries for minutes)."""
    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

    exc = unreachable(settings.tracking_uri)
    if exc is not None:
        raise MlflowConfigError(
            f"The MLflow tracking server '{settings.tracking_uri}' (from "
            f"{settings.tracking_uri_origin}) is unreachable ({exc}). Start it, or change "
            f"'server.mlflow_tracking_uri' in mlflow.yml or MLFLOW_TRACKING_URI."
        ) from exc


def _run_to_resume(client: MlflowClient, run_id: str, origin: str, settings: MlflowSettings) -> str:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise MlflowConfigError(
            f"MLflow run '{run_id}' (from {origin}) was not found on tracking URI "
            f"'{settings.tracking_uri}' ({exc.message}). Give the id of an existing run, or "
            f"unset it to start a new run."
        ) from exc
    if run.info.lifecycle_stage == "deleted":
        raise MlflowConfigError(
            f"MLflow run '{run_id}' (from {origin}) is deleted on tracking URI "
            f"'{settings.tracking_uri}'. Restore it (mlflow runs restore --run-id {run_id}) "
            f"or unset it to start a new run."
        )
    return str(run.info.experiment_id)


def ensure_experiment(client: MlflowClient, settings: MlflowSettings) -> str:
    """The id of the settings' experiment: created if missing, restored if deleted (if allowed).

    Raises:
        MlflowConfigError: The experiment is deleted and ``restore_if_deleted`` is false,
            or the tracking store refuses to be used.
    """
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

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
            except MlflowException as exc:
                # Another process (a parallel orchestrator task) created it meanwhile.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                logger.debug("Experiment '%s' was created concurrently: %s", name, exc)
    except MlflowException as exc:
        raise MlflowConfigError(
            f"MLflow refused the tracking URI '{settings.tracking_uri}' (from "
            f"{settings.tracking_uri_origin}): {exc.message} Fix 'server.mlflow_tracking_uri' "
            f"in mlflow.yml or MLFLOW_TRACKING_URI."
        ) from exc
    if experiment.lifecycle_stage == "deleted":
        if not options.restore_if_deleted:
            raise MlflowConfigError(
                f"MLflow experiment '{name}' is deleted on tracking URI "
                f"'{settings.tracking_uri}'. Set 'tracking.experiment.restore_if_deleted: true' "
                f"or another 'tracking.experiment.name' in {settings.where}, or restore it "
                f"(mlflow experiments restore --experiment-id {experiment.experiment_id})."
            )
        client.restore_experiment(experiment.experiment_id)
        logger.info("Restored the deleted MLflow experiment '%s'.", name)
    return str(experiment.experiment_id)


def run_tags(
    settings: MlflowSettings, run_params: Mapping[str, Any], names: list[str]
) -> dict[str, str]:
    """The tags naming the Kedro session, pipeline, env, runner and command of a run."""
    tags = {
        SESSION_ID_TAG: run_params.get("run_id") or run_params.get("session_id"),
        PIPELINE_TAG: ",".join(names),
        ENV_TAG: run_params.get("env") or settings.env,
        RUNNER_TAG: runner_name(run_params.get("runner")),
        COMMAND_TAG: command_line(sys.argv),
        KEDRO_VERSION_TAG: run_params.get("kedro_version"),
        PROJECT_PATH_TAG: settings.project_path.as_posix(),
    }
    return {key: str(value)[:MAX_TAG_LENGTH] for key, value in tags.items() if value}


def runner_name(runner: Any) -> str | None:
    """``SequentialRunner`` from what Kedro puts in ``run_params["runner"]`` (its repr)."""
    if runner is None:
        return None
    if not isinstance(runner, str):
        return type(runner).__name__
    match = re.search(r"([\w.]+) object at 0x", runner)
    return (match.group(1) if match else runner).rsplit(".", 1)[-1]


def command_line(argv: list[str]) -> str:
    """The command that started this process, as typed: ``kedro run --runner ThreadRunner``.

    Examples:
        >>> command_line(["/venv/bin/kedro", "run", "--pipelines", "a b"])
        "kedro run --pipelines 'a b'"
        >>> command_line(["python -m kedro", "run"])  # what Kedro's __main__ leaves
        'kedro run'
    """
    if not argv:
        return ""
    path = Path(argv[0])
    if argv[0].endswith(" -m kedro") or path.stem == "kedro" or path.parent.name == "kedro":
        program = ["kedro"]
    elif path.name == "__main__.py":
        program = ["python", "-m", path.parent.name]
    else:
        program = [path.name]
    return shlex.join([*program, *argv[1:]])


def _as_tags(tags: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import RunTag  # noqa: PLC0415

    return [RunTag(key, value) for key, value in tags.items()]


# -- parameters -----------------------------------------------------------------------------


def log_parameters(
    client: MlflowClient,
    run_id: str,
    config: KedroMlflowConfig,
    *,
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    where: str = "mlflow.yml",
) -> None:
    """Log the pipeline's ``params:...`` and ``parameters`` inputs as MLflow params.

    Read from the catalog in this process, so it works with every runner. Params already
    logged in the run (a resumed or joined run) with the same value are skipped; a
    different value is kept as it was, with a warning: MLflow params cannot change.
    """
    from mlflow.entities import Param  # noqa: PLC0415

    inputs = sorted(
        name for name in pipeline.inputs() if name == "parameters" or name.startswith("params:")
    )
    values = {name.removeprefix("params:"): catalog.load(name) for name in inputs}
    options = config.tracking.params
    params, tags = params_to_log(
        values, options.dict_params, options.long_params_strategy, where=where
    )
    existing = client.get_run(run_id).data.params
    for key in [key for key in params if key in existing]:
        if existing[key] != params[key]:
            logger.warning(
                "MLflow run '%s' already has the param '%s' = %r; kedro run's value %r is "
                "not logged (MLflow params cannot change; start a new run to log it).",
                run_id,
                key,
                existing[key],
                params[key],
            )
        del params[key]
    client.log_batch(
        run_id,
        params=[Param(key, value) for key, value in params.items()],
        tags=_as_tags(tags),
    )


def params_to_log(
    values: Mapping[str, Any],
    dict_params: DictParamsOptions,
    long_params_strategy: str,
    where: str = "mlflow.yml",
) -> tuple[dict[str, str], dict[str, str]]:
    """Turn parameter values into MLflow params (and tags, for long ones).

    Args:
        values: Parameter name (``params:`` removed) to value.
        dict_params: Whether and how to flatten dict values.
        long_params_strategy: For values over 6000 characters: ``fail``, ``truncate`` or
            ``tag`` (logged as a run tag).
        where: The configuration files, named in the error.

    Returns:
        The params and the tags to log, as strings.

    Raises:
        MlflowConfigError: A value is too long and the strategy is ``fail``.

    Examples:
        >>> from kedro_mlflow.framework.config import DictParamsOptions
        >>> params_to_log({"model": {"lr": 0.1}}, DictParamsOptions(flatten=True), "fail")
        ({'model.lr': '0.1'}, {})
    """
    from kedro_mlflow.framework.config import MlflowConfigError  # noqa: PLC0415

    if dict_params.flatten:
        values = flatten(values, recursive=dict_params.recursive, sep=dict_params.sep)
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for name, value in values.items():
        key = sanitize_key(name)
        text = str(value)
        if len(text) <= MAX_PARAM_LENGTH:
            params[key] = text
        elif long_params_strategy == "truncate":
            logger.warning(
                "Parameter '%s' (%d characters) is truncated to MLflow's limit of %d.",
                key,
                len(text),
                MAX_PARAM_LENGTH,
            )
            params[key] = text[:MAX_PARAM_LENGTH]
        elif long_params_strategy == "tag":
            logger.info("Parameter '%s' (%d characters) is logged as a tag.", key, len(text))
            tags[key] = text[:MAX_TAG_LENGTH]
        else:
            raise MlflowConfigError(
                f"Parameter '{key}' is {len(text)} characters long; MLflow params hold at most "
                f"{MAX_PARAM_LENGTH}. Set 'tracking.params.long_params_strategy' to 'truncate' "
                f"or 'tag' in {where}, or split the parameter "
                f"('tracking.params.dict_params.flatten: true' for a dict)."
            )
    return params, tags


def flatten(values: Mapping[str, Any], *, recursive: bool = True, sep: str = ".") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` becomes ``{"a.b": 1}`` (one level only unless ``recursive``).

    Examples:
        >>> flatten({"a": {"b": {"c": 1}}, "d": 2}, recursive=False)
        {'a.b': {'c': 1}, 'd': 2}
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            inner = flatten(value, recursive=True, sep=sep) if recursive else value
            for inner_key, inner_value in inner.items():
                flat[f"{key}{sep}{inner_key}"] = inner_value
        else:
            flat[str(key)] = value
    return flat


def sanitize_key(name: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . / :`` and spaces; others become ``_``."""
    sanitized = re.sub(r"[^\w\-./: ]", "_", name)
    if sanitized != name:
        logger.warning(
            "Parameter '%s' is logged as '%s' (MLflow refuses the name).", name, sanitized
        )
    return sanitized


# -- after_pipeline_run / on_pipeline_error -------------------------------------------------


def end_tracking(tracked: TrackedRun, status: str, *, raise_upload_errors: bool) -> None:
    """Wait for the uploads, end the run (if owned) with ``status``, restore the environment.

    Args:
        tracked: What ``start_tracking`` opened.
        status: ``FINISHED`` or ``FAILED``; ``FAILED`` when an upload failed.
        raise_upload_errors: Raise the error of failed uploads (after ending the run)
            rather than log it.
    """
    if tracked.run_id is None:
        _restore_env(tracked.saved_env)
        return
    from kedro_mlflow.io import artifacts  # noqa: PLC0415

    upload_error: Exception | None = None
    try:
        try:
            artifacts.wait_for_uploads()
        except Exception as exc:
            upload_error = exc
            status = "FAILED"
        if tracked.owned:
            import mlflow  # noqa: PLC0415

            active = mlflow.active_run()
            if active is not None and active.info.run_id == tracked.run_id:
                mlflow.end_run(status)
            else:
                mlflow.MlflowClient().set_terminated(tracked.run_id, status)
        else:
            logger.info(
                "MLflow run '%s' was active before kedro run: left open (its owner ends it).",
                tracked.run_id,
            )
    finally:
        # After end_run, which unsets MLFLOW_RUN_ID.
        _restore_env(tracked.saved_env)
    if upload_error is not None:
        if raise_upload_errors:
            raise upload_error
        logger.error("Uploads into MLflow run '%s' failed: %s", tracked.run_id, upload_error)


def _set_env(saved: dict[str, str | None], name: str, value: str) -> None:
    saved.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    saved.clear()
