"""A dataset's versions: the runs that logged its artifact, found by one search on a tag.

Every file a save logs has its digest recorded as a run tag (``kedro_mlflow.sha256/<artifact>``
= ``<sha256> <size>``, see ``_mlflow_store.digest_tag_key``). A save that writes a folder also
records the folder's own digest under the folder's name: the sha256 of its manifest (one line
``<sha256>  <path inside the folder>`` per file, sorted, as ``sha256sum`` prints it) and the
total size, followed by ``<n> files``. A save whose dataset knows its catalog name records it
too (``kedro_mlflow.dataset/<artifact>`` = the name).

The versions of a dataset are then the runs holding its digest tag: MLflow's
``search_runs`` with a filter on that tag, newest first, answers without reading every run.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import _digests
from kedro_mlflow.io.artifacts import _mlflow_store as store

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

logger = logging.getLogger(__name__)

DATASET_TAG_PREFIX = "kedro_mlflow.dataset/"
_FOLDER_SUFFIX = "files"
#: MLflow's search returns at most this many runs per page.
_PAGE = 1000


def dataset_tag_key(artifact: str) -> str:
    """The run tag holding the catalog name of the dataset logged as ``artifact``."""
    return store.tag_key(DATASET_TAG_PREFIX, artifact)


def folder_digest(folder: str, logged: Iterable[store.LoggedFile]) -> store.LoggedFile | None:
    """The record of a folder version: the sha256 of its manifest, its total size.

    Returns:
        ``None`` when ``logged`` holds no file inside ``folder`` (the save wrote one file).
    """
    prefix = folder + "/"
    inside = sorted(
        (item.artifact[len(prefix) :], item) for item in logged if item.artifact.startswith(prefix)
    )
    if not inside:
        return None
    manifest = "".join(f"{item.sha256}  {name}\n" for name, item in inside)
    return store.LoggedFile(
        folder,
        hashlib.sha256(manifest.encode()).hexdigest(),
        sum(item.size for _, item in inside),
        files=len(inside),
    )


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


def parse_digest(value: str) -> tuple[str, int, int] | None:
    """``(sha256, size, files)`` of a digest tag's value; None if it is not one."""
    parts = value.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    files = int(parts[2]) if len(parts) > 3 and parts[3] == _FOLDER_SUFFIX else 1
    return parts[0], int(parts[1]), files


def _version(run: Run, artifact: str) -> DatasetVersion | None:
    parsed = parse_digest(run.data.tags.get(store.digest_tag_key(artifact), ""))
    if parsed is None:
        return None
    sha256, size, files = parsed
    return DatasetVersion(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        status=run.info.status,
        start_time=datetime.fromtimestamp((run.info.start_time or 0) / 1000, tz=timezone.utc),
        experiment_id=run.info.experiment_id,
        artifact=artifact,
        sha256=sha256,
        size=size,
        files=files,
        dataset_name=run.data.tags.get(dataset_tag_key(artifact)),
    )


def recorded_dataset_names(run: Run) -> list[str]:
    """The catalog names the saves of ``run`` recorded."""
    return sorted(
        {value for key, value in run.data.tags.items() if key.startswith(DATASET_TAG_PREFIX)}
    )


def recorded_dataset_name(run: Run, artifact: str) -> str | None:
    """The catalog name the save of ``artifact`` in ``run`` recorded, if any."""
    return run.data.tags.get(dataset_tag_key(artifact))


def logged_file_count(run: Run) -> int:
    """How many files ``run`` logged with a recorded digest (folder records not counted)."""
    return sum(
        1
        for key, value in run.data.tags.items()
        if key.startswith(store.DIGEST_TAG_PREFIX) and not value.endswith(f" {_FOLDER_SUFFIX}")
    )


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
    experiment_ids: list[str] | None = None,
    limit: int | None = None,
    sha256: str | None = None,
) -> list[DatasetVersion]:
    """The runs that logged ``artifact``, newest first (deleted runs left out).

    Args:
        artifact: The dataset's artifact path (``reporting/metrics.csv``).
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
    key = store.digest_tag_key(artifact)
    # Tag keys hold only [A-Za-z0-9_-. /] (else they are hashed): safe between double quotes.
    wanted = f"{sha256} %" if sha256 else "%"
    filter_string = f"tags.\"{key}\" LIKE '{wanted}'"
    client = mlflow.MlflowClient()
    found: list[DatasetVersion] = []
    token = None
    while limit is None or len(found) < limit:
        page = client.search_runs(
            experiment_ids,
            filter_string,
            max_results=_PAGE if limit is None else min(_PAGE, limit - len(found)),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        found.extend(v for v in (_version(run, artifact) for run in page) if v is not None)
        token = page.token
        if not token:
            break
    return found


def latest_version(artifact: str) -> DatasetVersion | None:
    """The newest version of ``artifact`` in any experiment, if any run logged it."""
    versions = find_versions(artifact, limit=1)
    return versions[0] if versions else None


def logged_version_with_digest(artifact: str, sha256: str) -> DatasetVersion | None:
    """A run (of any experiment) that logged ``artifact`` with this exact content, if any."""
    versions = find_versions(artifact, limit=1, sha256=sha256)
    return versions[0] if versions else None


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
    folder = parse_digest(run.data.tags.get(store.digest_tag_key(artifact), ""))
    if set(files) != {artifact} and folder is not None:
        records = [
            store.LoggedFile(name, *digest)
            for name in files
            if (digest := store.recorded_digest(run, name)) is not None
        ]
        rebuilt = folder_digest(artifact, records)
        if rebuilt is None or (rebuilt.sha256, rebuilt.size) != folder[:2]:
            return Verification(
                "missing",
                (f"{artifact}: its files in the store are not those logged ({folder[2]} files)",),
            )
    local_dir = store.local_artifact_dir(repo)
    problems: list[tuple[Verdict, str]] = []
    with tempfile.TemporaryDirectory(prefix="kedro-mlflow-verify-") as scratch:
        for name in files:
            recorded = store.recorded_digest(run, name)
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
