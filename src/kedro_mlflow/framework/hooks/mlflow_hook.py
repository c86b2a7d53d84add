"""The Kedro hook: one MLflow run per ``kedro run``.

Kedro imports this module on every ``kedro`` command (entry point ``kedro.hooks``), so it
stays light: each hook delegates to a function of ``configure`` (set-up) or ``lifecycle`` (the
run's life), and mlflow and pydantic are imported at their first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from kedro_mlflow.framework.hooks.catalog import name_datasets
from kedro_mlflow.framework.hooks.configure import configure_tracking, disabled_in_settings
from kedro_mlflow.framework.hooks.helper_run import fork_helper
from kedro_mlflow.framework.hooks.lifecycle import end_tracking, start_tracking
from kedro_mlflow.framework.hooks.node_runs import enter_node, leave_node
from kedro_mlflow.framework.hooks.pipeline_model import (
    check_before_run,
    log_after_run,
    prepare_logging,
)

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from kedro_mlflow.config.settings import MlflowSettings
    from kedro_mlflow.framework.hooks.lifecycle import TrackedRun


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
        self._disabled = False

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``mlflow.yml`` (a typo fails here, before anything is written); fork the helper."""
        # Kedro unregisters the hook for "kedro-mlflow" only; "kedro_mlflow" disabled 2.x.
        self._disabled = disabled_in_settings()
        if not self._disabled:
            self._settings = configure_tracking(context)
            # Under `kedro run`: MLflow's start-up runs on the other core meanwhile.
            fork_helper(self._settings)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Name the pipeline's datasets; open (resume, or join) the run, tag it, log params."""
        if self._disabled:
            return
        if self._settings is None:
            raise RuntimeError(
                "kedro-mlflow's before_pipeline_run was called before after_context_created: "
                "create the context with KedroSession.load_context() first."
            )
        name_datasets(catalog, pipeline)
        check_before_run(pipeline, catalog)
        self._run = start_tracking(self._settings, run_params, pipeline, catalog)

    @hook_impl(tryfirst=True)
    def before_node_run(self) -> None:
        """Make the kedro run active in the node's thread or process (nested runs, log_*)."""
        enter_node()

    @hook_impl(trylast=True)
    def after_node_run(self) -> None:
        """End the runs the node left open; release the kedro run from its thread."""
        leave_node(failed=False)

    @hook_impl(trylast=True)
    def on_node_error(self) -> None:
        """End the runs the failing node left open FAILED; release the kedro run."""
        leave_node(failed=True)

    # trylast: other plugins' and the project's hooks may still log into the run.
    @hook_impl(trylast=True)
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Log a ``PipelineML``'s model; wait for uploads, end the run FINISHED (or FAILED)."""
        run, self._run = self._run, None
        if run is None:
            return
        try:
            prepare_logging(pipeline)
            run_id = run.run_id if run.helper is None else run.helper.run_id()
            log_after_run(run_id, run_params, pipeline, catalog)
        except BaseException:
            end_tracking(run, "FAILED", raise_upload_errors=False)
            raise
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
