"""Which MLflow run a ``kedro run`` records into: joined, resumed, or new, and where it opens.

``lifecycle`` owns the run's life (start, end, interrupts); this module decides the run
itself: the pipelines tracked, the run joined or resumed or started in the project's
experiment (after ending the project's runs an earlier ``kedro run`` left RUNNING), and
whether the helper process may open it instead of the ``kedro run`` process.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import get_run, redact, require_reachable
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks.configure import ensure_experiment
from kedro_mlflow.framework.store.artifact_location import check_follows_project
from kedro_mlflow.framework.store.stale_runs import close_left_running
from kedro_mlflow.framework.store.store_lock import open_store

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
    from kedro_mlflow.config.settings import MlflowSettings

logger = logging.getLogger(__name__)

#: The name of the run of ``kedro run`` without ``--pipelines``.
DEFAULT_PIPELINE = "__default__"


def helper_can_run(config: KedroMlflowConfig, run_params: Mapping[str, Any]) -> bool:
    """Whether the forked helper may do this run's MLflow work (else it is stopped).

    Not when this process already imported mlflow (a node's module, another plugin: the run
    must be active here from the start), for a ``ParallelRunner`` (its workers log
    themselves), without background uploads (a save then returns once logged), or to
    resume a run (an unknown id must fail before the first node, and only the store knows).
    """
    return (
        "mlflow" not in sys.modules
        and "Parallel" not in str(run_params.get("runner") or "")
        and config.tracking.background_uploads
        and not (config.tracking.run.id or os.environ.get("MLFLOW_RUN_ID"))
    )


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


def open_run(
    settings: MlflowSettings, run_name: str, owner_tags: dict[str, str] | None = None
) -> tuple[str, bool]:
    """Join the active run, resume the configured one, or start a new one.

    The run resumed is ``tracking.run.id``, else ``MLFLOW_RUN_ID``: an orchestrator that
    runs ``kedro run --nodes a`` then ``kedro run --nodes b`` with the same id gets one run.

    Args:
        settings: The context's resolved settings.
        run_name: The name of a new run unless ``tracking.run.name`` is set.
        owner_tags: The tags naming the process that owns the run, set on a run this opens
            or resumes in the same call that opens it: a process killed right after never
            leaves a RUNNING run that ``kedro mlflow runs --stale`` cannot judge.

    Returns:
        The run id, and whether this hook owns (ends) the run.

    Raises:
        MlflowConfigError: The run to resume is unknown or deleted, the experiment is
            deleted and may not be restored, or the tracking store is unusable.
    """
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
    require_server(settings)
    open_store(settings.tracking_uri)
    client = mlflow.MlflowClient()
    if requested:
        origin = (
            f"'tracking.run.id' in {settings.where}"
            if run_options.id
            else "the MLFLOW_RUN_ID environment variable"
        )
        experiment_id = get_run(
            requested,
            f"Resuming MLflow run '{requested}' (from {origin})",
            "Give the id of an existing run, or unset it to start a new run.",
            error=MlflowConfigError,
            allow_deleted=False,
        ).info.experiment_id
        mlflow.set_experiment(experiment_id=experiment_id)
        run = mlflow.start_run(run_id=requested, run_name=run_options.name, tags=owner_tags)
    else:
        experiment_id = ensure_experiment(client, settings)
        check_follows_project(client, settings, experiment_id)
        _close_left_running(client, experiment_id, settings)
        mlflow.set_experiment(experiment_id=experiment_id)
        run = mlflow.start_run(
            experiment_id=experiment_id, run_name=run_options.name or run_name, tags=owner_tags
        )
    return run.info.run_id, True


def _close_left_running(client: MlflowClient, experiment_id: str, settings: MlflowSettings) -> None:
    """End FAILED the runs an earlier ``kedro run`` of the project could not end (never fails)."""
    try:
        closed = close_left_running(client, experiment_id, settings.project_path)
    except Exception as exc:
        logger.debug("Runs left RUNNING were not looked for: %s", redact(str(exc)))
        return
    if closed:
        logger.warning(
            "Ended FAILED MLflow run(s) %s: an earlier kedro run of this project could not "
            "end them (its server was gone) and its process is gone.",
            ", ".join(f"'{run_id}'" for run_id in closed),
        )


def require_server(settings: MlflowSettings) -> None:
    """Fail in seconds when the tracking server does not answer (no mlflow imported)."""
    require_reachable(
        settings.tracking_uri,
        f"Opening the MLflow run of kedro run (tracking URI from {settings.tracking_uri_origin})",
        "Start it, or change 'server.mlflow_tracking_uri' in mlflow.yml or MLFLOW_TRACKING_URI.",
        error=MlflowConfigError,
    )
