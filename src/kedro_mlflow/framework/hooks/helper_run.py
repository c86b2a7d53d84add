"""What the helper process of a ``kedro run`` runs: the run's life, told by the hook's calls.

``helper`` is the process and its pipe; this is the other end's service. Each call runs the
functions the ``kedro run`` process runs when everything stays in it (``opening.open_run``,
``params.log_params``, ``_queue.log``, ``lifecycle.end_tracking``), so that the run records
the same and fails with the same words; a failure is kept and reported to the ``kedro run``
process, which raises it at its next save or at the end of the run.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.framework.hooks import helper
from kedro_mlflow.framework.hooks.lifecycle import (
    TrackedRun,
    end_tracking,
    log_opened,
    warn_interrupted,
)
from kedro_mlflow.framework.hooks.opening import open_run
from kedro_mlflow.framework.hooks.params import log_params
from kedro_mlflow.framework.hooks.tags import as_run_tags
from kedro_mlflow.io import artifacts
from kedro_mlflow.io.artifacts import RUN_ID_ENV
from kedro_mlflow.io.metrics._metric_log import run_save

if TYPE_CHECKING:
    from kedro_mlflow.config.settings import MlflowSettings


class HelperRun:
    """The helper process's side: the run's life as in-process, driven by the hook's calls."""

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings
        self.tracked: TrackedRun | None = None
        self.run: Any = None
        self.failure: tuple[str, str] | None = None
        self.told = False
        #: Artifacts handed over once the run had failed: never logged, named at its end.
        self.dropped: list[str] = []

    def new_failure(self) -> tuple[str, str] | None:
        """The failure to report to the kedro run process, once."""
        if self.failure is None or self.told:
            return None
        self.told = True
        return self.failure

    def _fail(self, exc: BaseException, doing: str | None = None) -> None:
        run = f" '{self.tracked.run_id}'" if self.tracked is not None else ""
        said = f"{doing} (MLflow run{run}) failed: {exc}" if doing else str(exc)
        self.failure = (type(exc).__name__, said)
        self.run = None
        if self.tracked is not None:
            end_tracking(self.tracked, "FAILED", raise_upload_errors=False)

    def start(self, run_name: str, tags: dict[str, str], owner_tags: dict[str, str]) -> None:
        try:
            run_id, owned = open_run(self.settings, run_name, owner_tags)
            self.tracked = TrackedRun(run_id, owned, settings=self.settings)
            os.environ[RUN_ID_ENV] = run_id
            os.environ.pop("MLFLOW_RUN_ID", None)
            client = mlflow.MlflowClient()
            client.log_batch(run_id, tags=as_run_tags(tags))
            artifacts.start_background_uploads()
            self.run = client.get_run(run_id)
            log_opened(self.tracked)
        except Exception as exc:
            self._fail(exc, "Opening the MLflow run of this kedro run")

    def params(self, params: dict[str, str], tags: dict[str, str]) -> None:
        if self.run is not None:
            try:
                log_params(mlflow.MlflowClient(), self.run.info.run_id, params, tags)
            except Exception as exc:
                self._fail(exc)

    def log(self, upload: Any) -> None:
        if self.run is None:
            self.dropped.extend(artifact for _, artifact in upload.files)
            upload.discard()
            return
        try:
            artifacts.log_upload(dataclasses.replace(upload, run=upload.run or self.run))
        except Exception as exc:
            self._fail(exc)

    def not_logged(self, names: tuple[str, ...], why: str) -> None:
        if self.run is None:
            self.dropped.extend(names)
        else:
            artifacts.not_logged(names, why)

    def run_id(self) -> str | None:
        return self.tracked.run_id if self.tracked is not None else None

    def wait_for_artifact(self, artifact: str) -> tuple[bool, str | None]:
        if self.run is None:
            return False, None
        try:
            return artifacts.wait_for_artifact(self.run.info.run_id, artifact), None
        except Exception as exc:
            return False, str(exc)

    def log_metrics(self, save: Any) -> str | None:
        """Log one metric dataset's save into the run; what went wrong, if anything."""
        if self.run is None:
            return (
                f"Saving {save.owner}: the MLflow run of this kedro run could not be opened "
                f"(see the error above); the metric was not logged."
            )
        try:
            run_save(self.run.info.run_id, save)
        except Exception as exc:
            return f"Saving {save.owner} into MLflow run '{self.run.info.run_id}' failed: {exc}"
        return None

    def end(self, status: str, interrupted: bool) -> tuple[str | None, str | None, str | None]:
        """End the run; its id, and the kind and message of what went wrong."""
        if self.failure is not None or self.tracked is None:
            kind, message = self.failure or (None, None)
            if message is not None and self.dropped:
                shown = ", ".join(f"'{name}'" for name in self.dropped)
                message += f"\nNot logged into MLflow (their local files are kept): {shown}."
            return self.run_id(), kind, message
        if interrupted:
            warn_interrupted(self.tracked)
        try:
            end_tracking(self.tracked, status, raise_upload_errors=True)
        except Exception as exc:
            return self.run_id(), type(exc).__name__, str(exc)
        return self.run_id(), None, None

    def lost(self) -> None:
        """The kedro run process is gone without a word: end the run FAILED."""
        if self.tracked is not None and self.failure is None:
            self.end("FAILED", interrupted=True)


def fork_helper(settings: MlflowSettings) -> None:
    """Fork the helper of a ``kedro run`` (see ``helper``), which imports mlflow meanwhile."""
    if not helper.wanted():
        return
    # mlflow imports pandas (about 0.3 s of its 1 s import), and most Kedro projects import it
    # too: imported here, once, before the fork, the helper inherits it instead of importing it
    # again on its own core, which ends it that much sooner after a short pipeline.
    importlib.import_module("pandas")
    warm_up = ["mlflow"]
    if settings.tracking_uri.startswith("sqlite:"):
        warm_up.append("mlflow.store.tracking.sqlalchemy_store")
    helper.fork(lambda: HelperRun(settings), warm_up)
