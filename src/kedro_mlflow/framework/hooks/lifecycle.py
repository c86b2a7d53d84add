"""The run's life: open (or resume, or join) the run of a ``kedro run``, and end it.

The run is found by the datasets of every runner's threads and processes through the
environment: MLflow's active run is thread-local, so ``KEDRO_MLFLOW_RUN_ID`` and
``MLFLOW_TRACKING_URI`` are exported for the duration of the run (a ``ThreadRunner``
worker, an ``--async`` save thread, a ``ParallelRunner`` process, forked or spawned, all
read them) and restored afterwards. ``MLFLOW_RUN_ID`` is unset meanwhile: MLflow resumes
that run for any ``mlflow.start_run(nested=True)`` a node makes (``node_runs`` makes the
kedro run the parent of such runs instead).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import redact
from kedro_mlflow.framework.hooks import helper, summary
from kedro_mlflow.framework.hooks.configure import configure_autologging
from kedro_mlflow.framework.hooks.node_runs import enter_node, leave_node
from kedro_mlflow.framework.hooks.opening import (
    helper_can_run,
    open_run,
    pipeline_names,
    require_server,
    tracking_disabled,
)
from kedro_mlflow.framework.hooks.params import log_params, pipeline_params
from kedro_mlflow.framework.hooks.preflight import check_catalog
from kedro_mlflow.framework.hooks.tags import as_run_tags, run_tags
from kedro_mlflow.framework.store.stale_runs import process_tags
from kedro_mlflow.io import artifacts
from kedro_mlflow.io.artifacts import DISABLE_TRACKING_ENV, RUN_ID_ENV, tracking_disabled_by_env

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from kedro_mlflow.config.settings import MlflowSettings

logger = logging.getLogger(__name__)


@dataclass
class TrackedRun:
    """What ``start_tracking`` opened, for ``end_tracking`` to close.

    Attributes:
        run_id: The MLflow run of this ``kedro run``; ``None`` when tracking is disabled.
        owned: Whether this hook started or resumed the run, and so ends it. A run that
            was already active is joined and left open.
        saved_env: Environment variables changed for the run, with their previous value
            (``None``: unset).
        settings: The settings the run was opened with (for its summary at the end).
    """

    run_id: str | None
    owned: bool = False
    saved_env: dict[str, str | None] = field(default_factory=dict)
    settings: MlflowSettings | None = None
    #: The SIGTERM handler replaced for the duration of the run (restored at its end).
    saved_sigterm: Any = None
    ended: bool = False
    #: The process that opened the run (a forked worker inherits the list, never ends it).
    pid: int = field(default_factory=os.getpid)
    #: The helper process doing the run's MLflow work, if any (``run_id`` is then ``None``).
    helper: helper.Helper | None = None


#: Runs opened by this process and not ended yet: ended FAILED at exit (an interrupt).
_open: list[TrackedRun] = []
_atexit_registered: list[bool] = []


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
    pending = helper.take()
    try:
        return _start(settings, run_params, pipeline, catalog, pending)
    finally:
        if pending is not None and not pending.taken:
            pending.close(unused=True)


def _start(
    settings: MlflowSettings,
    run_params: Mapping[str, Any],
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    pending: helper.Helper | None,
) -> TrackedRun:
    config = settings.config
    names = pipeline_names(run_params)
    tracked = TrackedRun(run_id=None, settings=settings)
    if tracking_disabled(config, names):
        configure_autologging(settings)
        logger.info(
            "MLflow tracking is disabled for pipeline(s) %s ('tracking.disable_tracking."
            "pipelines' in %s): datasets write their local files only.",
            ", ".join(names),
            settings.where,
        )
        _set_env(tracked.saved_env, DISABLE_TRACKING_ENV, "1")
        return tracked
    if tracking_disabled_by_env():
        configure_autologging(settings)
        logger.info("%s is set: no MLflow run is opened.", DISABLE_TRACKING_ENV)
        return tracked

    # Catalog errors fail here, before a run exists (Kedro builds datasets lazily).
    check_catalog(pipeline, catalog)
    if pending is not None and helper_can_run(config, run_params):
        pending.taken = True
        return _start_in_helper(pending, tracked, run_params, pipeline, catalog)
    configure_autologging(settings)
    tracked.run_id, tracked.owned = open_run(
        settings, run_name=",".join(names), owner_tags=process_tags()
    )
    try:
        if tracked.owned:
            _end_on_interrupt(tracked)
        _set_env(tracked.saved_env, RUN_ID_ENV, tracked.run_id)
        _set_env(tracked.saved_env, "MLFLOW_RUN_ID", None)
        _set_env(tracked.saved_env, "MLFLOW_TRACKING_URI", mlflow.get_tracking_uri())
        client = mlflow.MlflowClient()
        tags = run_tags(settings, run_params, names)
        client.log_batch(tracked.run_id, tags=as_run_tags(tags))
        params, param_tags = pipeline_params(
            config, pipeline=pipeline, catalog=catalog, where=settings.where
        )
        log_params(client, tracked.run_id, params, param_tags)
        if config.tracking.background_uploads:
            artifacts.start_background_uploads()
    except BaseException:
        end_tracking(tracked, "FAILED", raise_upload_errors=False)
        raise
    log_opened(tracked)
    return tracked


def log_opened(tracked: TrackedRun) -> None:
    logger.info(
        "MLflow run '%s' on '%s' records this kedro run%s.",
        tracked.run_id,
        redact(mlflow.get_tracking_uri()),
        "" if tracked.owned else " (it was already active: joined, left open)",
    )


def _start_in_helper(
    pending: helper.Helper,
    tracked: TrackedRun,
    run_params: Mapping[str, Any],
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
) -> TrackedRun:
    """Have the helper open the run, tag it and log params; this process does not wait."""
    settings = tracked.settings
    assert settings is not None  # noqa: S101 - set by start_tracking
    require_server(settings)
    tracked.helper = pending
    _end_on_interrupt(tracked)
    _set_env(tracked.saved_env, "MLFLOW_RUN_ID", None)
    _set_env(tracked.saved_env, "MLFLOW_TRACKING_URI", settings.tracking_uri)
    try:
        names = pipeline_names(run_params)
        tags = run_tags(settings, run_params, names)
        pending.call("start", ",".join(names), tags, process_tags())
        params, param_tags = pipeline_params(
            settings.config, pipeline=pipeline, catalog=catalog, where=settings.where
        )
        pending.call("params", params, param_tags)
    except BaseException:
        end_tracking(tracked, "FAILED", raise_upload_errors=False)
        raise
    artifacts.forward_to(pending)
    helper.call_on_mlflow_import(lambda: _adopt(tracked))
    return tracked


def _adopt(tracked: TrackedRun) -> None:
    """mlflow was just imported here (by a node): make the kedro run active, as in-process."""
    try:
        run_id = tracked.helper.run_id() if tracked.helper is not None else None
        if run_id is None or tracked.settings is None:
            return  # the run could not be opened: the run fails saying why
        _set_env(tracked.saved_env, RUN_ID_ENV, run_id)
        configure_autologging(tracked.settings)
        enter_node()
    except Exception as exc:
        logger.warning(
            "mlflow was imported during kedro run, but the kedro run's MLflow run could not "
            "be made active in this process: %s",
            redact(str(exc)),
        )


def end_tracking(
    tracked: TrackedRun, status: str, *, raise_upload_errors: bool, interrupted: bool = False
) -> None:
    """Wait for the uploads, end the run (if owned) with ``status``, restore the environment.

    An upload that failed makes the run FAILED; its error lists what was not uploaded. When
    the run cannot be ended (the server is gone), the error says so and how to close it
    later; it is added to the list, never put in its place.

    Args:
        tracked: What ``start_tracking`` opened.
        status: ``FINISHED`` or ``FAILED``; ``FAILED`` when an upload failed.
        raise_upload_errors: Raise the error of failed uploads (after ending the run)
            rather than log it.
        interrupted: The run ends because the process was interrupted (said in the log).
    """
    if tracked.ended:
        return
    tracked.ended = True
    if tracked in _open:
        _open.remove(tracked)
    _restore_sigterm(tracked)
    if tracked.helper is not None:
        _end_in_helper(tracked, tracked.helper, status, raise_upload_errors, interrupted)
        return
    if tracked.run_id is None:
        _restore_env(tracked.saved_env)
        return
    _end_in_process(tracked, tracked.run_id, status, raise_upload_errors, interrupted)


def _end_in_process(
    tracked: TrackedRun, run_id: str, status: str, raise_upload_errors: bool, interrupted: bool
) -> None:
    if interrupted:
        warn_interrupted(tracked)
    problems: list[str] = []
    try:
        try:
            with summary.upload_progress(run_id):
                artifacts.wait_for_uploads()
        except Exception as exc:
            problems.append(str(exc))
            status = "FAILED"
        try:
            # Runs that nodes of this thread left open, above the kedro run, end with it.
            leave_node(failed=status == "FAILED")
            if tracked.owned:
                active = mlflow.active_run()
                if active is not None and active.info.run_id == run_id:
                    mlflow.end_run(status)
                else:
                    mlflow.MlflowClient().set_terminated(run_id, status)
            else:
                logger.info(
                    "MLflow run '%s' was active before kedro run: left open (its owner ends it).",
                    run_id,
                )
        except Exception as exc:
            problems.append(
                f"MLflow run '{run_id}' could not be ended {status} on tracking URI "
                f"'{redact(mlflow.get_tracking_uri())}' (is the server gone?): "
                f"{redact(str(exc))}. It stays RUNNING until the server is back: the next "
                f"`kedro run` of this project then ends it FAILED, or run "
                f"`kedro mlflow runs --close-stale`."
            )
        _log_summary(tracked)
    finally:
        # After end_run, which unsets MLFLOW_RUN_ID.
        _restore_env(tracked.saved_env)
    if not problems:
        return
    message = f"MLflow run '{run_id}' ended {status}:\n" + "\n".join(problems)
    if raise_upload_errors:
        raise DatasetError(message)
    logger.error("%s", message)


def _end_in_helper(
    tracked: TrackedRun,
    run_helper: helper.Helper,
    status: str,
    raise_upload_errors: bool,
    interrupted: bool,
) -> None:
    """End the run in the helper (it waits for the uploads) and wait for the helper to exit."""
    artifacts.forward_to(None)
    helper.remove_import_hook()
    try:
        # Runs that nodes of this thread left open, above the kedro run, end with it.
        leave_node(failed=status == "FAILED")
        _, kind, message = run_helper.finish(status, interrupted=interrupted)
    except DatasetError as exc:  # the helper died
        kind, message = "DatasetError", str(exc)
    finally:
        _restore_env(tracked.saved_env)
    if message is None or run_helper.already_raised(kind, message):
        return
    if raise_upload_errors:
        raise helper.error(kind or "DatasetError", message)
    logger.error("%s", message)


def warn_interrupted(tracked: TrackedRun) -> None:
    logger.warning(
        "kedro run was interrupted: ending MLflow run '%s' FAILED (what was saved before is kept).",
        tracked.run_id,
    )


def _end_on_interrupt(tracked: TrackedRun) -> None:
    """End ``tracked`` FAILED if the process is interrupted (Ctrl+C, SIGTERM) or exits early.

    Kedro calls no hook when a run is interrupted (``KeyboardInterrupt`` is not an
    ``Exception``), and MLflow would end the run FINISHED at exit. SIGTERM, whose default is
    to die at once, is turned into ``SystemExit(143)`` for the duration of the run, so that
    the process unwinds and this exit handler ends the run FAILED.
    """
    _open.append(tracked)
    if not _atexit_registered:
        # Registered after mlflow's own exit handler, so it runs before it.
        atexit.register(_end_open_runs)
        _atexit_registered.append(True)
    if threading.current_thread() is threading.main_thread():
        tracked.saved_sigterm = signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _restore_sigterm(tracked: TrackedRun) -> None:
    if tracked.saved_sigterm is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, tracked.saved_sigterm)
        tracked.saved_sigterm = None


def _end_open_runs() -> None:
    """At exit: end FAILED the runs of ``kedro run``s that were interrupted."""
    for tracked in [run for run in _open if run.pid == os.getpid()]:
        try:
            end_tracking(tracked, "FAILED", raise_upload_errors=False, interrupted=True)
        except Exception as exc:
            logger.error(
                "MLflow run '%s' could not be ended FAILED: %s. Close it later with "
                "`kedro mlflow runs --close-stale`.",
                tracked.run_id,
                redact(str(exc)),
            )


def _log_summary(tracked: TrackedRun) -> None:
    """The run's summary line; a store that fails to answer costs a warning, not the run."""
    if tracked.run_id is None or tracked.settings is None:
        return
    try:
        summary.log_run_summary(tracked.settings, tracked.run_id)
    except Exception as exc:
        logger.warning("Could not summarise MLflow run '%s': %s", tracked.run_id, exc)


def _set_env(saved: dict[str, str | None], name: str, value: str | None) -> None:
    """Set (or with ``None`` unset) ``name``, keeping its previous value in ``saved``."""
    saved.setdefault(name, os.environ.get(name))
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    saved.clear()
