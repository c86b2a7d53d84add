"""``MlflowArtifactDataset``: any local Kedro dataset, versioned as an MLflow artifact.

Longer than the other rooms on purpose: this is the one public class users configure, and it
keeps each decision a save or a load makes (which run, which name, which path) readable in
one place. Everything that is not a decision lives beside it: names (``_names``), uploads and
digests (``_queue``), verified loads and the cache (``_cache``), versions (``_versions``),
records of what a run saved and read (``_records``), snapshots (``_snapshot``), the
store's calls (``_mlflow_store``).
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError, Version

from kedro_mlflow.exceptions import TrackingUnreachableError
from kedro_mlflow.io.artifacts import _cache, _digests, _queue, _records, _snapshot, _versions
from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts._config import is_run_id, normalise_artifact_path, wrapped_config
from kedro_mlflow.io.artifacts._local_files import (
    local_target,
    refuse_remote_config,
    writes_one_plain_file,
    written_files,
)
from kedro_mlflow.io.artifacts._names import UnsafeName, base_name, is_clean, normalise
from kedro_mlflow.io.artifacts._runs import (
    DISABLE_TRACKING_ENV,
    current_run_id,
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
            raise DatasetError(
                f"MlflowArtifactDataset '{self._target.path}' was given the load version "
                f"'{load_version}' (kedro run --load-versions), which is not an MLflow run id "
                f"(32 hex digits) and its wrapped dataset is not 'versioned: true'. Give "
                f"--load-versions NAME:RUN_ID with the id of the run to load from (see "
                f"`kedro mlflow versions NAME`)."
            )
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
        """The name of this dataset's catalog entry, when known.

        The Kedro hook sets it at the start of a ``kedro run`` (Kedro does not pass it to
        datasets). It names the dataset in the run's MLflow dataset records, of a save and
        of a load.
        """
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
        try:
            name = base_name(self._target.path)
        except UnsafeName as exc:
            raise DatasetError(
                f"MlflowArtifactDataset '{self._target.path}' cannot be named in the run: "
                f"{exc}. Point the dataset at a file or folder with a name."
            ) from exc
        return self._artifact_name(name)

    def _artifact_name(self, name: str) -> str:
        """``name`` (a file, or a file of a folder) inside ``artifact_path``, normalised.

        Raises:
            DatasetError: The name could reach outside the run (``..``, a backslash, ...).
        """
        return self._checked(f"{self._artifact_path}/{name}" if self._artifact_path else name)

    def _checked(self, name: str) -> str:
        """A full artifact name through the one normaliser, or a ``DatasetError``."""
        try:
            return normalise(name)
        except UnsafeName as exc:
            raise DatasetError(
                f"{self._context('Saving')}: the artifact name {exc}, which could reach "
                f"outside the MLflow run; nothing was logged. Rename the file or partition."
            ) from exc

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
        self._refuse_names_on_a_server(data)
        if (
            self._keep_local
            and (_queue.queued() or _queue.forwarder() is not None)
            and writes_one_plain_file(self._dataset)
            and self._save_privately(run, data, context)
        ):
            return
        writer, scratch = self._dataset, None
        if not self._keep_local:
            scratch = Path(tempfile.mkdtemp(prefix="kedro-mlflow-save-"))
            writer = self._copy_at(scratch / self._target.path.name)
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

    def _save_privately(self, run: Run | None, data: Any, context: str) -> bool:
        """Save into a private file, copy it into place, and upload that file in the background.

        The bytes logged are the ones this save wrote, even when another process writes the
        same local path at the same moment. False (nothing done) if the wrapped dataset did
        not write one regular file there.
        """
        folder = _snapshot.new_folder()
        private = folder / "0" / self._target.path.name
        private.parent.mkdir()
        config = copy.deepcopy(self._config)
        config[self._target.config_key] = str(private)
        try:
            AbstractDataset.from_config("MlflowArtifactDataset.writer", config).save(data)
            if not private.is_file() or private.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
                return False
            _snapshot.install(private, self._target.path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._log(run, [(private, self.artifact)], context, snapshot=folder)
        return True

    def _log(
        self,
        run: Run | None,
        files: list[tuple[Path, str]],
        context: str,
        *,
        cleanup: Path | None = None,
        snapshot: Path | None = None,
    ) -> None:
        """Hand the files one save wrote to the upload queue (``_queue.Upload``)."""
        _queue.log(
            _queue.Upload(
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

    def _refuse_names_on_a_server(self, data: Any) -> None:
        """Refuse, before anything is written, names a server would store under another name.

        Over HTTP, MLflow puts the artifact's path in the URL unescaped: ``?`` and ``#``
        start a query or a fragment, and the file lands under a shorter name. Partition ids
        are checked too (through the one normaliser, for ``..`` and backslashes).
        """
        names = [self.artifact]
        if self._target.partitioned and isinstance(data, dict):
            suffix = getattr(self._dataset, "_filename_suffix", "")
            for pid in data:
                self._checked(str(pid))  # an empty id would be named after the folder alone
                names.append(self._checked(f"{names[0]}/{pid}{suffix}"))
        if not store.is_server_uri(store.tracking_uri()):
            return
        for name in names:
            if "?" in name or "#" in name or "%" in name:
                raise DatasetError(
                    f"{self._context('Saving')}: the artifact name '{name}' holds '?', '#' "
                    f"or '%', which the MLflow server at '{store.tracking_uri()}' "
                    f"would store under another name; nothing was saved or logged. Rename "
                    f"'artifact_path' ('{self._artifact_path}') or the file."
                )

    # -- load ---------------------------------------------------------------------

    def load(self) -> Any:
        source = self._source_run_id()
        if source is None and self._keep_local:
            return self._dataset.load()
        context = f"{self._context('Loading')} (artifact '{self.artifact}')"
        _digests.record_waiting(source, context)
        if source is None:
            source = self._logged_in_current_run(context)
        run = store.get_run(source, context, remember="ended", allow_deleted=False, to_read=True)
        # Said at INFO when `kedro run --load-versions` departs from the catalog for this run.
        logger.log(
            logging.INFO if source == self._version_run_id else logging.DEBUG,
            "Loading '%s' from artifact '%s' of MLflow run %s",
            self._catalog_name or self._target.path,
            self.artifact,
            source,
        )
        with _cache.fetched(run, store.artifact_repository(run), self.artifact, context) as local:
            try:
                data = self._copy_at(local).load()
            except DatasetError as exc:
                raise DatasetError(
                    f"{context}: reading artifact '{self.artifact}' of MLflow run '{source}' "
                    f"(from '{local}') failed: {exc}"
                ) from exc
        if self._target.partitioned and isinstance(data, dict):
            for pid in data:
                if not is_clean(str(pid)):
                    raise store.hostile_entry(
                        run, self.artifact, str(pid), "is not a clean partition id", context
                    )
        consumer = None if self._logging_off() else current_run_id()
        if consumer is not None and consumer != source:
            _records.record_read(consumer, run, self.artifact, self._catalog_name)
        return data

    def _logged_in_current_run(self, context: str) -> str:
        """The current run, once it logged this ``keep_local: false`` dataset; else an error.

        A node reading what an earlier node of the same ``kedro run`` saved waits for that
        upload. Otherwise the error names the run holding the latest version.
        """
        current = None if tracking_disabled_by_env() else current_run_id()
        if current is not None:
            if _queue.wait_for_artifact(current, self.artifact):
                return current
            if _records.record_of(store.get_run(current, context), self.artifact):
                return current
        latest = _versions.latest_version(self.artifact, self._catalog_name)
        name = self._catalog_name or "<name>"
        where = (
            f"The latest version is in MLflow run '{latest.run_id}' (started "
            f"{latest.start_time:%Y-%m-%d %H:%M:%S} UTC): load it with 'load_run_id: "
            f"{latest.run_id}' or `kedro run --load-versions {name}:{latest.run_id}`."
            if latest is not None
            else f"No run on tracking URI '{store.tracking_uri()}' has logged artifact "
            f"'{self.artifact}' yet: run the pipeline that saves it first."
        )
        raise DatasetError(
            f"{context}: 'keep_local: false' keeps this data only in MLflow, not at "
            f"'{self._target.path}', and no run to load it from was given. {where}"
        )

    def _copy_at(self, path: Path) -> AbstractDataset[Any, Any]:
        """The wrapped dataset, unversioned, reading or writing ``path`` instead of its own."""
        config = copy.deepcopy(self._config)
        config.pop("versioned", None)
        config[self._target.config_key] = str(path)
        return AbstractDataset.from_config("MlflowArtifactDataset.dataset", config)

    def _exists(self) -> bool:
        source = self._source_run_id()
        if source is None and self._keep_local:
            return self._dataset.exists()
        context = self._context("Checking")
        _digests.record_waiting(source, context)
        if source is None:
            try:
                source = self._logged_in_current_run(context)
            except DatasetError:
                return False
        run = store.get_run(source, context, remember="ended", to_read=True)
        if run.info.lifecycle_stage == "deleted":
            # What a load refuses does not exist; the load says why (how to restore the run).
            logger.debug("%s: MLflow run '%s' is deleted: does not exist", context, source)
            return False
        return store.artifact_exists(run, store.artifact_repository(run), self.artifact, context)

    def _release(self) -> None:
        self._dataset.release()
