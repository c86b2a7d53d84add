"""A dataset's versions: the runs whose dataset records hold its artifact, found by search.

Every save is a dataset record of its run (``_records``). The versions of a dataset are the
runs holding a ``saved`` record of its artifact: MLflow's ``search_runs`` filtered on the
records' names (``datasets.name``), newest first, one page at a time, answers without reading
every run; runs written by earlier versions (digest tags) are found by a second search on
their tag.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import _digests, _records
from kedro_mlflow.io.artifacts import _mlflow_store as store

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

#: MLflow's search returns at most this many runs per page.
_PAGE = 1000


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a dataset: the run that logged it, and what was logged.

    Attributes:
        run_id: The MLflow run holding the version.
        run_name: Its name.
        status: ``FINISHED``, ``FAILED``, ``RUNNING`` or ``KILLED``.
        start_time: When the run started (UTC).
        experiment_id: The run's experiment.
        artifact: Where the data lives in the run's artifacts (``reporting/metrics.csv``).
        sha256: The recorded sha256 (of the manifest, for a folder).
        size: The recorded size in bytes (all files, for a folder).
        files: How many files the version holds (1 for a file).
        dataset_name: The catalog name recorded by the save, if any.
    """

    run_id: str
    run_name: str
    status: str
    start_time: datetime
    experiment_id: str
    artifact: str
    sha256: str
    size: int
    files: int
    dataset_name: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping, times in ISO 8601 UTC."""
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "status": self.status,
            "start_time": self.start_time.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "experiment_id": self.experiment_id,
            "artifact_path": self.artifact,
            "size": self.size,
            "files": self.files,
            "sha256": self.sha256,
            "dataset": self.dataset_name,
        }


def _version(run: Run, artifact: str) -> DatasetVersion | None:
    record = _records.record_of(run, artifact)
    if record is None:
        return None
    return DatasetVersion(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        status=run.info.status,
        start_time=datetime.fromtimestamp((run.info.start_time or 0) / 1000, tz=timezone.utc),
        experiment_id=run.info.experiment_id,
        artifact=artifact,
        sha256=record.sha256,
        size=record.size,
        files=record.file_count,
        dataset_name=record.dataset_name,
    )


def recorded_dataset_names(run: Run) -> list[str]:
    """The catalog names the saves of ``run`` recorded."""
    return _records.dataset_names(run)


def recorded_dataset_name(run: Run, artifact: str) -> str | None:
    """The catalog name the save of ``artifact`` in ``run`` recorded, if any."""
    record = _records.record_of(run, artifact)
    return record.dataset_name if record is not None else None


def logged_file_count(run: Run) -> int:
    """How many files the saves of ``run`` recorded."""
    return _records.file_count(run)


def version_of(run: Run, artifact: str) -> DatasetVersion | None:
    """The version of ``artifact`` that ``run`` holds, if it recorded one."""
    return _version(run, artifact)


def all_experiment_ids() -> list[str]:
    """Every active experiment of the tracking store."""
    client = mlflow.MlflowClient()
    ids: list[str] = []
    token = None
    while True:
        page = client.search_experiments(max_results=_PAGE, page_token=token)
        ids.extend(str(experiment.experiment_id) for experiment in page)
        token = page.token
        if not token:
            return ids


def find_versions(
    artifact: str,
    *,
    name: str | None = None,
    experiment_ids: list[str] | None = None,
    limit: int | None = None,
    sha256: str | None = None,
) -> list[DatasetVersion]:
    """The runs that logged ``artifact``, newest first (deleted runs left out).

    Args:
        artifact: The dataset's artifact path (``reporting/metrics.csv``).
        name: The dataset's catalog name: the records are searched by it and by ``artifact``
            (the name of a record saved with no catalog name); with ``sha256``, by digest.
        experiment_ids: Where to search; ``None``: every active experiment.
        limit: At most this many versions; ``None``: all.
        sha256: Only the versions with this digest.

    Returns:
        The versions found.
    """
    _digests.record_waiting(context=f"Listing the versions of '{artifact}'")
    experiment_ids = all_experiment_ids() if experiment_ids is None else experiment_ids
    if not experiment_ids:
        return []
    if sha256:  # a content's records, whatever their name
        record_filter: str | None = f"datasets.digest = '{sha256[: _records.DIGEST_LENGTH]}'"
    else:
        names = [n for n in dict.fromkeys([name or artifact, artifact]) if "'" not in n]
        quoted = ", ".join(f"'{n}'" for n in names)
        record_filter = f"datasets.name IN ({quoted})" if names else None
    found = {
        version.run_id: version
        for search in (record_filter, _records.legacy_filter(artifact, sha256))
        if search is not None
        for version in _search(experiment_ids, search, artifact, limit, sha256)
    }
    newest = sorted(found.values(), key=lambda version: version.start_time, reverse=True)
    return newest if limit is None else newest[:limit]


def _search(
    experiment_ids: list[str],
    filter_string: str,
    artifact: str,
    limit: int | None,
    sha256: str | None,
) -> list[DatasetVersion]:
    """The newest ``limit`` versions of ``artifact`` among the runs ``filter_string`` matches."""
    client = mlflow.MlflowClient()
    found: list[DatasetVersion] = []
    token = None
    while limit is None or len(found) < limit:
        page = client.search_runs(
            experiment_ids,
            filter_string,
            max_results=_PAGE if limit is None else min(_PAGE, max(limit - len(found), 20)),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        for run in page:
            version = _version(run, artifact)
            if version is not None and sha256 in (None, version.sha256):
                found.append(version)
        token = page.token
        if not token:
            break
    return found if limit is None else found[:limit]


def latest_version(artifact: str, name: str | None = None) -> DatasetVersion | None:
    """The newest version of ``artifact`` (dataset ``name``) in any experiment, if any."""
    versions = find_versions(artifact, name=name, limit=1)
    return versions[0] if versions else None


def is_logged_content(artifact: str, name: str | None, file: str, sha256: str) -> bool:
    """Whether a run (of any experiment) logged ``file`` of ``artifact`` with this content.

    A file of its own is found by its digest; a file in a folder by reading the records of
    the folder's versions (its digest is not the folder's).
    """
    if find_versions(file, limit=1, sha256=sha256):
        return True
    if file == artifact:
        return False
    return any(
        (record := _records.record_of(run, artifact)) is not None
        and (digest := record.digest_of(file)) is not None
        and digest[0] == sha256
        for run in _runs_naming(artifact, name)
    )


def _runs_naming(artifact: str, name: str | None) -> list[Run]:
    names = ", ".join(f"'{n}'" for n in dict.fromkeys([name or artifact, artifact]) if "'" not in n)
    if not names:
        return []
    client = mlflow.MlflowClient()
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            all_experiment_ids(), f"datasets.name IN ({names})", max_results=_PAGE, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


# -- verification ------------------------------------------------------------------------------

Verdict = Literal["ok", "modified", "missing", "unrecorded"]


@dataclass(frozen=True)
class Verification:
    """Whether a stored version still matches what its run recorded.

    Attributes:
        verdict: ``ok``; ``modified`` (a file differs from its digest); ``missing`` (a file
            is gone from the artifact store); ``unrecorded`` (a file has no digest).
        problems: One line per file that is not ``ok``.
    """

    verdict: Verdict
    problems: tuple[str, ...] = ()


def version_files(run: Run, repo: ArtifactRepository, artifact: str) -> dict[str, int | None]:
    """The files of the version of ``artifact`` in ``run``, from the artifact store.

    An empty mapping when the artifact is absent.
    """
    local_dir = store.local_artifact_dir(repo)
    if local_dir is not None:
        path = local_dir / artifact
        if path.is_file():
            return {artifact: path.stat().st_size}
        if path.is_dir():
            return {
                f"{artifact}/{file.relative_to(path).as_posix()}": file.stat().st_size
                for file in sorted(path.rglob("*"))
                if file.is_file()
            }
        return {}
    return store.list_files(run, repo, artifact, f"Listing artifact {artifact!r}") or {}


def verify(run_id: str, artifact: str) -> Verification:
    """Read every file of the version of ``artifact`` in a run back, compare with its digest.

    A local store is read in place; a remote one is downloaded file by file into a
    temporary folder, removed afterwards. A folder's files are also checked against the
    folder's record: a file gone from the store changes its manifest.
    """
    _digests.record_waiting(run_id, f"Verifying '{artifact}' of MLflow run '{run_id}'")
    run = mlflow.MlflowClient().get_run(run_id)
    repo = store.artifact_repository(run)
    files = version_files(run, repo, artifact)
    if not files:
        return Verification("missing", (f"{artifact}: not in the artifact store",))
    record = _records.record_of(run, artifact)
    if set(files) != {artifact} and record is not None and record.files is not None:
        logged = {f"{artifact}/{inside}" for inside in record.files}
        if not logged <= set(files):
            return Verification(
                "missing",
                (f"{artifact}: its files in the store are not those logged ({len(logged)} files)",),
            )
    local_dir = store.local_artifact_dir(repo)
    problems: list[tuple[Verdict, str]] = []
    with tempfile.TemporaryDirectory(prefix="kedro-mlflow-verify-") as scratch:
        for name in files:
            recorded = _records.recorded_digest(run, name)
            if recorded is None:
                problems.append(("unrecorded", f"{name}: no digest recorded"))
                continue
            if local_dir is not None:
                path = local_dir / name
            else:
                path = Path(repo.download_artifacts(name, dst_path=scratch))
            actual = store.file_digest(path)
            if local_dir is None:
                path.unlink()
            if actual != recorded:
                problems.append(
                    (
                        "modified",
                        f"{name}: sha256 {actual[0]}, {actual[1]} bytes; logged "
                        f"{recorded[0]}, {recorded[1]} bytes",
                    )
                )
    for verdict in ("modified", "unrecorded"):
        if any(kind == verdict for kind, _ in problems):
            return Verification(verdict, tuple(line for _, line in problems))
    return Verification("ok")
