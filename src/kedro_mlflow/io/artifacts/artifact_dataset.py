"""``MlflowArtifactDataset``: any local Kedro dataset, versioned as an MLflow artifact."""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError, Version

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.exceptions import TrackingUnreachableError
from kedro_mlflow.io.artifacts import _cache, _queue
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts._local_files import (
    local_target,
    refuse_remote_config,
    written_files,
)

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

#: Set to ``1`` (the Kedro hook does it for ``disable_tracking.pipelines``) to
#: write local files only and log nothing. Read at each save, in every thread
#: and process of a run.
DISABLE_TRACKING_ENV = "KEDRO_MLFLOW_DISABLE_TRACKING"
#: The run of the ``kedro run`` under way, set by the Kedro hook for every thread and
#: process of the run. Not ``MLFLOW_RUN_ID``: MLflow would resume that run for any
#: ``mlflow.start_run(nested=True)`` a node makes, and unset it when that run ends.
RUN_ID_ENV = "KEDRO_MLFLOW_RUN_ID"


def _normalise_artifact_path(artifact_path: str | None) -> str | None:
    if artifact_path is None:
        return None
    text = str(artifact_path).replace("\\", "/").strip()
    if text.startswith("/") or PureWindowsPath(text).drive:
        raise DatasetError(
            f"'artifact_path' must be relative to the run's artifact root, got the absolute "
            f"path '{artifact_path}'. Use e.g. 'artifact_path: reporting'."
        )
    parts = [part for part in PurePosixPath(text).parts if part != "."]
    if ".." in parts:
        raise DatasetError(
            f"'artifact_path' must stay inside the run's artifact root, got '{artifact_path}' "
            f"which climbs out with '..'. Use e.g. 'artifact_path: reporting'."
        )
    return "/".join(parts) or None


class MlflowArtifactDataset(AbstractDataset[Any, Any]):
    """Wraps any local Kedro dataset and logs what it saves as an MLflow artifact.

    ``save`` lets the wrapped dataset write its local file, then logs exactly the
    file(s) that save wrote into the MLflow run: the ``run_id`` given, else the
    active run (the one ``kedro run`` opens), else a run started for it. ``load``
    reads the local file, or with ``run_id`` the artifact logged in that run,
    fetched once into a local cache and never over your local file.

    Examples:
        In ``catalog.yml``:

        .. code-block:: yaml

            my_dataset_to_version:
              type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
              dataset:
                type: pandas.CSVDataset
                filepath: data/08_reporting/metrics.csv
              artifact_path: reporting

        In Python:

        >>> import mlflow, pandas as pd
        >>> from kedro_mlflow.io.artifacts import MlflowArtifactDataset
        >>> mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
        >>> _ = mlflow.set_experiment("doctest")
        >>> with mlflow.start_run() as run:
        ...     dataset = MlflowArtifactDataset(
        ...         dataset={"type": "pandas.CSVDataset", "filepath": f"{tmp_path}/a.csv"}
        ...     )
        ...     dataset.save(pd.DataFrame({"a": [1, 2]}))
        >>> reloaded = MlflowArtifactDataset(
        ...     dataset={"type": "pandas.CSVDataset", "filepath": f"{tmp_path}/a.csv"},
        ...     run_id=run.info.run_id,
        ... )
        >>> reloaded.load()["a"].tolist()
        [1, 2]
    """

    #: The wrapped dataset's ``preview`` (set only when it has one), for kedro-viz.
    preview: Callable[..., Any]

    #: Asks Kedro's catalog for its load and save versions (``version=``), which the
    #: wrapped dataset uses when it is ``versioned: true``.
    versioned = True

    def __init__(
        self,
        *,
        dataset: str | type[AbstractDataset[Any, Any]] | dict[str, Any],
        run_id: str | int | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        version: Version | None = None,
    ) -> None:
        """Creates a new instance of ``MlflowArtifactDataset``.

        Args:
            dataset: The wrapped dataset: a config dict with a ``type`` (a class or a
                name such as ``pandas.CSVDataset``) and its arguments, or just the type.
            run_id: The MLflow run to log into and load from. ``None`` logs into the
                active run and loads the local file.
            artifact_path: Folder inside the run's artifacts, relative (``reporting``).
            credentials: Handed to the wrapped dataset as its ``credentials``.
            metadata: Arbitrary metadata, ignored by Kedro and by this dataset.
            version: Set by Kedro's catalog; passed on to a ``versioned: true`` dataset.

        Raises:
            DatasetError: If ``artifact_path`` is absolute or climbs out with ``..``,
                or the wrapped dataset does not write a local file.
        """
        config: dict[str, Any] = (
            copy.deepcopy(dataset) if isinstance(dataset, dict) else {"type": dataset}
        )
        if credentials is not None:
            config.setdefault("credentials", credentials)
        refuse_remote_config(config)
        self._config = config
        self._version = version
        self._run_id = None if run_id is None else str(run_id)
        self._artifact_path = _normalise_artifact_path(artifact_path)
        self.metadata = metadata
        self._dataset = AbstractDataset.from_config(
            "MlflowArtifactDataset.dataset",
            config,
            version.load if version else None,
            version.save if version else None,
        )
        self._target = local_target(self._dataset)
        preview = getattr(self._dataset, "preview", None)
        if callable(preview):
            # kedro-viz previews a dataset through preview(), typed by its return annotation:
            # the wrapped dataset's own bound method keeps both.
            self.preview = preview

    @property
    def run_id(self) -> str | None:
        """The MLflow run to log into and load from; ``None``: the current run, the local file.

        Settable after construction (a notebook pointing a catalog entry at another run).
        """
        return self._run_id

    @run_id.setter
    def run_id(self, value: str | int | None) -> None:
        self._run_id = None if value is None else str(value)

    @property
    def artifact_path(self) -> str | None:
        """The folder inside the run's artifacts (``reporting``); ``None``: the root."""
        return self._artifact_path

    @artifact_path.setter
    def artifact_path(self, value: str | None) -> None:
        self._artifact_path = _normalise_artifact_path(value)

    @property
    def artifact(self) -> str:
        """Where the data lives inside the run's artifacts, e.g. ``reporting/metrics.csv``."""
        return self._artifact_name(self._target.path.name)

    def _artifact_name(self, name: str) -> str:
        """``name`` (a file, or a file of a folder) inside ``artifact_path``."""
        return f"{self._artifact_path}/{name}" if self._artifact_path else name

    def _describe(self) -> dict[str, Any]:
        inner = type(self._dataset)
        described = self._dataset._describe()
        return {
            # Top level, where kedro-viz looks for the path it shows.
            self._target.config_key: described.get(self._target.config_key, self._target.path),
            "dataset": {"type": f"{inner.__module__}.{inner.__qualname__}"} | described,
            "run_id": self._run_id,
            "artifact_path": self._artifact_path,
        }

    def _context(self, action: str) -> str:
        """The start of this dataset's error messages: ``Saving MlflowArtifactDataset 'x'``."""
        return f"{action} MlflowArtifactDataset '{self._target.path}'"

    # -- save ---------------------------------------------------------------------

    def save(self, data: Any) -> None:
        if tracking_disabled_by_env():
            self._dataset.save(data)
            return
        context = self._context("Saving")
        try:
            run = self._run_for_save(context)
        except TrackingUnreachableError as exc:
            # Keep the user's data: write it locally, then say nothing was logged.
            self._dataset.save(data)
            raise DatasetError(
                f"{exc} The data was saved locally at '{self._target.path}' but not logged."
            ) from exc
        self._dataset.save(data)
        files = [
            (local, self._artifact_name(name)) for local, name in written_files(self._dataset, data)
        ]
        _queue.log(_queue.Upload(run, files, context, self._target.path))

    def _run_for_save(self, context: str) -> Run:
        """The dataset's ``run_id``, else the kedro run's, else the active run, else
        ``MLFLOW_RUN_ID``'s, else a run started for it."""
        store.require_reachable(context)
        if self._run_id is not None:
            return store.get_run(self._run_id, context, allow_deleted=False)
        kedro_run = os.environ.get(RUN_ID_ENV)
        if kedro_run:
            # The hook keeps this run alive for the whole kedro run: fetch it once per process.
            return store.get_run(kedro_run, context, remember="always")
        active = mlflow.active_run()
        if active is not None:
            return active
        resumed = os.environ.get("MLFLOW_RUN_ID")
        if resumed:
            return store.get_run(resumed, context, allow_deleted=False)
        run = mlflow.start_run()
        _fail_implicit_run_on_crash(run.info.run_id)
        logger.info(
            "No active MLflow run: started run '%s' (experiment %s) for %s; it stays active "
            "for later saves, end it with mlflow.end_run().",
            run.info.run_id,
            run.info.experiment_id,
            self._target.path,
        )
        return run

    # -- load ---------------------------------------------------------------------

    def load(self) -> Any:
        if self._run_id is None:
            return self._dataset.load()
        context = f"{self._context('Loading')} (artifact '{self.artifact}')"
        run = store.get_run(self._run_id, context, remember="ended")
        local = _cache.fetch(run, store.artifact_repository(run), self.artifact, context)
        data = self._reader(local).load()
        consumer = None if tracking_disabled_by_env() else _current_run_id()
        if consumer is not None and consumer != self._run_id:
            store.record_input(consumer, run, self.artifact)
        return data

    def _reader(self, local: Path) -> AbstractDataset[Any, Any]:
        """The wrapped dataset, unversioned, reading ``local`` instead of its own path."""
        config = copy.deepcopy(self._config)
        config.pop("versioned", None)
        config[self._target.config_key] = str(local)
        return AbstractDataset.from_config("MlflowArtifactDataset.reader", config)

    def _exists(self) -> bool:
        if self._run_id is None:
            return self._dataset.exists()
        context = self._context("Checking")
        run = store.get_run(self._run_id, context, remember="ended")
        return store.artifact_exists(store.artifact_repository(run), self.artifact)

    def _release(self) -> None:
        self._dataset.release()


def tracking_disabled_by_env() -> bool:
    """Whether ``KEDRO_MLFLOW_DISABLE_TRACKING`` asks this process to log nothing."""
    return os.environ.get(DISABLE_TRACKING_ENV, "").lower() in {"1", "true", "yes"}


def _current_run_id() -> str | None:
    """The run this thread or process logs into (no run is started for it)."""
    kedro_run = os.environ.get(RUN_ID_ENV)
    if kedro_run:
        return kedro_run
    active = mlflow.active_run()
    if active is not None:
        return str(active.info.run_id)
    return os.environ.get("MLFLOW_RUN_ID") or None


_implicit_runs: set[str] = set()


def _fail_implicit_run_on_crash(run_id: str) -> None:
    """Mark a run this dataset started as FAILED if the program dies of an exception.

    MLflow ends a run left open at exit as FINISHED, even after a crash.
    """
    if not _implicit_runs:
        previous = sys.excepthook

        def excepthook(
            kind: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            active = mlflow.active_run()
            if active is not None and active.info.run_id in _implicit_runs:
                mlflow.end_run("FAILED")
            previous(kind, exc, tb)

        sys.excepthook = excepthook
    _implicit_runs.add(run_id)
