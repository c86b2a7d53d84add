"""``MlflowArtifactDataset``: any local Kedro dataset, versioned as an MLflow artifact.

The class keeps each decision a save or a load makes (which run, which name, which path);
the work lives beside it: names (``_names``), uploads (``_queue``, ``_upload``), reads from a
run (``_run_reads``: the verified fetch and the cache of ``_cache``, the read records of
``_records``), snapshots (``_snapshot``), the store's calls (``_mlflow_store``).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError, Version

from kedro_mlflow.exceptions import TrackingUnreachableError
from kedro_mlflow.io.artifacts import _artifact_names, _queue, _run_reads, _snapshot, _upload
from kedro_mlflow.io.artifacts._config import (
    is_run_id,
    normalise_artifact_path,
    unusable_load_version,
    wrapped_config,
)
from kedro_mlflow.io.artifacts._local_files import (
    copy_at,
    local_target,
    refuse_remote_config,
    writes_one_plain_file,
    written_files,
)
from kedro_mlflow.io.artifacts._runs import (
    DISABLE_TRACKING_ENV,
    run_for_save,
    tracking_disabled_by_env,
)

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)


class MlflowArtifactDataset(AbstractDataset[Any, Any]):
    """Wraps any local Kedro dataset and logs what it saves as an MLflow artifact.

    ``save`` lets the wrapped dataset write its local file, then logs exactly the
    file(s) that save wrote into the MLflow run: the ``run_id`` given, else the
    active run (the one ``kedro run`` opens), else a run started for it. ``load``
    reads the local file, or the artifact logged in a run (``load_run_id``, else
    ``run_id``; ``kedro run --load-versions NAME:RUN_ID`` for one run), fetched once
    into a local cache and never over your local file. With ``keep_local: false`` the
    wrapped dataset writes into a private temporary folder, removed once logged.

    Examples:
        In ``catalog.yml``:

        .. code-block:: yaml

            my_dataset_to_version:
              type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
              dataset:
                type: pandas.CSVDataset
                filepath: data/08_reporting/metrics.csv
              artifact_path: reporting

            features_of_last_week:  # reads one run, logs into the current one
              type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
              dataset:
                type: pandas.ParquetDataset
                filepath: data/04_feature/features.parquet
              load_run_id: 4f1c2b7e9a0d4e6f8b3a5c7d9e1f2a3b
              keep_local: false  # only in MLflow, nothing left in data/

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
        load_run_id: str | int | None = None,
        keep_local: bool = True,
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
            load_run_id: The MLflow run to load from, while saves go to ``run_id`` or
                the active run. Wins over ``run_id`` for loads.
            keep_local: ``False``: the wrapped dataset writes into a private temporary
                folder, which is removed once its files are logged; nothing stays at its
                path. Loads then read a run (``load_run_id``, ``run_id``, or the current
                run once it logged the data).
            credentials: Handed to the wrapped dataset as its ``credentials``.
            metadata: Arbitrary metadata, ignored by Kedro and by this dataset.
            version: Set by Kedro's catalog. A load version of 32 hex digits (``kedro run
                --load-versions NAME:RUN_ID``) is the MLflow run to load from, winning over
                ``load_run_id``; any other version goes to a ``versioned: true`` dataset.

        Raises:
            DatasetError: If ``dataset`` has no ``type``, ``artifact_path`` is absolute
                or climbs out with ``..``, the wrapped dataset does not write a local file,
                or a load version is neither a run id nor usable by the wrapped dataset.
        """
        config = wrapped_config(dataset)
        if credentials is not None:
            config.setdefault("credentials", credentials)
        refuse_remote_config(config)
        self._config = config
        self._version = version
        self._run_id = None if run_id is None else str(run_id)
        self._load_run_id = None if load_run_id is None else str(load_run_id)
        self._keep_local = bool(keep_local)
        self._artifact_path = normalise_artifact_path(artifact_path)
        self._catalog_name: str | None = None
        self._logging = True
        self.metadata = metadata
        load_version = version.load if version else None
        self._version_run_id = load_version if load_version and is_run_id(load_version) else None
        self._dataset = AbstractDataset.from_config(
            "MlflowArtifactDataset.dataset",
            config,
            None if self._version_run_id else load_version,
            version.save if version else None,
        )
        self._target = local_target(self._dataset)
        if load_version and not self._version_run_id and not self._wraps_versioned():
            raise unusable_load_version(self._target.path, load_version)
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
        self._artifact_path = normalise_artifact_path(value)

    @property
    def _logging_activated(self) -> bool:
        """Whether saves log into MLflow (kedro-mlflow 2.x's switch, kept for its users).

        ``False``: saves write the local data only and loads record no lineage, as with
        tracking disabled; ``kedro_mlflow.io.catalog.switch_catalog_logging`` sets it for a
        whole catalog.
        """
        return self._logging

    @_logging_activated.setter
    def _logging_activated(self, flag: bool) -> None:
        if not isinstance(flag, bool):
            raise ValueError(f"_logging_activated must be a bool, got {flag!r}.")
        self._logging = flag

    def _logging_off(self) -> str | None:
        """Why saves log nothing now (the start of a message), or ``None`` when they log."""
        if not self._logging:
            return "logging is switched off for this dataset (_logging_activated: False)"
        if tracking_disabled_by_env():
            return (
                f"MLflow tracking is disabled ({DISABLE_TRACKING_ENV}, or "
                f"'tracking.disable_tracking.pipelines' in mlflow.yml)"
            )
        return None

    def _wraps_versioned(self) -> bool:
        return getattr(self._dataset, "_version", None) is not None

    @property
    def catalog_name(self) -> str | None:
        """Its catalog entry's name, set by the hook at the start of a ``kedro run`` (Kedro
        does not pass it to datasets): the name of its MLflow dataset records."""
        return self._catalog_name

    @catalog_name.setter
    def catalog_name(self, name: str | None) -> None:
        self._catalog_name = name

    @property
    def load_run_id(self) -> str | None:
        """The MLflow run loads read while saves go to ``run_id`` or the current run.

        ``None``: loads read ``run_id`` if set, else the local file. ``kedro run
        --load-versions NAME:RUN_ID`` wins over both for that run. Settable.
        """
        return self._load_run_id

    @load_run_id.setter
    def load_run_id(self, value: str | int | None) -> None:
        self._load_run_id = None if value is None else str(value)

    def _source_run_id(self) -> str | None:
        """The run loads read: ``--load-versions``, else ``load_run_id``, else ``run_id``."""
        return self._version_run_id or self._load_run_id or self._run_id

    @property
    def keep_local(self) -> bool:
        """Whether the saved data stays at the wrapped dataset's path."""
        return self._keep_local

    @property
    def local_path(self) -> Path:
        """The wrapped dataset's file or folder (for ``versioned: true``, its versions' folder)."""
        return self._target.path

    @property
    def artifact(self) -> str:
        """Where the data lives inside the run's artifacts, e.g. ``reporting/metrics.csv``."""
        return _artifact_names.artifact_of(self._target.path, self._artifact_path)

    def _artifact_name(self, name: str) -> str:
        """``name`` (a file, or a file of a folder) inside ``artifact_path``, or an error."""
        return _artifact_names.file_artifact(self._artifact_path, name, self._context("Saving"))

    def _describe(self) -> dict[str, Any]:
        inner = type(self._dataset)
        inner_described = self._dataset._describe()
        described: dict[str, Any] = {
            # Top level, where kedro-viz looks for the path it shows.
            self._target.config_key: inner_described.get(
                self._target.config_key, self._target.path
            ),
            "dataset": {"type": f"{inner.__module__}.{inner.__qualname__}"} | inner_described,
            "run_id": self._run_id,
            "artifact_path": self._artifact_path,
        }
        if self._source_run_id() != self._run_id:
            described["load_run_id"] = self._source_run_id()
        if not self._keep_local:
            described["keep_local"] = False
        return described

    def _context(self, action: str) -> str:
        """The start of this dataset's error messages: ``Saving MlflowArtifactDataset 'x'``."""
        return f"{action} MlflowArtifactDataset '{self._target.path}'"

    # -- save ---------------------------------------------------------------------

    def save(self, data: Any) -> None:
        off = self._logging_off()
        if off is not None:
            if not self._keep_local:
                raise DatasetError(
                    f"{self._context('Saving')}: 'keep_local: false' keeps the data only in "
                    f"MLflow, and {off}: nothing would be kept. Log into MLflow, or set "
                    f"'keep_local: true'."
                )
            self._dataset.save(data)
            return
        context = self._context("Saving")
        try:
            run = run_for_save(self._run_id, context, self._target.path)
        except TrackingUnreachableError as exc:
            # Keep the user's data: write it locally, then say nothing was logged.
            self._dataset.save(data)
            message = f"{exc} The data was saved locally at '{self._target.path}' but not logged."
            _queue.not_logged((self.artifact,), message)
            raise DatasetError(message) from exc
        _artifact_names.refuse_unsafe(
            self.artifact,
            self._artifact_path,
            list(data) if self._target.partitioned and isinstance(data, dict) else [],
            getattr(self._dataset, "_filename_suffix", ""),
            context,
        )
        if (
            self._keep_local
            and (_queue.queued() or _queue.forwarder() is not None)
            and writes_one_plain_file(self._dataset)
            and (saved := _snapshot.save_privately(self._config, self._target, data))
        ):
            folder, private = saved
            self._log(run, [(private, self.artifact)], context, snapshot=folder)
            return
        writer, scratch = self._dataset, None
        if not self._keep_local:
            scratch = Path(tempfile.mkdtemp(prefix="kedro-mlflow-save-"))
            writer = copy_at(self._config, self._target, scratch / self._target.path.name)
        try:
            writer.save(data)
            files = [
                (local, self._artifact_name(name)) for local, name in written_files(writer, data)
            ]
        except BaseException:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        self._log(run, files, context, cleanup=scratch)

    def _log(
        self,
        run: Run | None,
        files: list[tuple[Path, str]],
        context: str,
        *,
        cleanup: Path | None = None,
        snapshot: Path | None = None,
    ) -> None:
        """Hand the files one save wrote to the upload queue (``_upload.Upload``)."""
        _queue.log(
            _upload.Upload(
                run,
                files,
                context,
                self._target.path,
                artifact=self.artifact,
                dataset_name=self._catalog_name,
                cleanup=cleanup,
                snapshot=snapshot,
            )
        )

    # -- load ---------------------------------------------------------------------

    def load(self) -> Any:
        source = self._source_run_id()
        if source is None and self._keep_local:
            return self._dataset.load()
        context = f"{self._context('Loading')} (artifact '{self.artifact}')"
        return _run_reads.load(
            self._reader(),
            source,
            context,
            loud_for=self._version_run_id,
            record=self._logging_off() is None,
        )

    def _reader(self) -> _run_reads.Reader:
        return _run_reads.Reader(
            artifact=self.artifact,
            catalog_name=self._catalog_name,
            local_path=self._target.path,
            partitioned=self._target.partitioned,
            copy_at=functools.partial(copy_at, self._config, self._target),
        )

    def _exists(self) -> bool:
        source = self._source_run_id()
        if source is None and self._keep_local:
            return self._dataset.exists()
        return _run_reads.exists(self._reader(), source, self._context("Checking"))

    def _release(self) -> None:
        self._dataset.release()
