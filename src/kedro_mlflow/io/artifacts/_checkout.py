"""Restoring a dataset's local file(s) from one of its versions (``kedro mlflow pull``).

Every file is copied from the artifact store (a local store in place, a remote one through
the verified download cache) into a hidden file beside its destination, hashed on the way
and compared with the digest its run recorded, then renamed over the destination: a reader
never sees a half-written file, and nothing is replaced unless every file of the version
arrived intact.

A local file is replaced only if its content is itself a logged version of that file (its
sha256 is recorded by some run): what is replaced can be pulled back. A file edited by hand
is kept, and the restore fails naming it, unless forced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _cache, _digests, _records, _versions
from kedro_mlflow.io.artifacts import _mlflow_store as store

if TYPE_CHECKING:
    from mlflow.entities import Run

    from kedro_mlflow.io.artifacts.mlflow_artifact_dataset import MlflowArtifactDataset

#: The run tag holding the Kedro session id, which is the save version under ``kedro run``.
_SESSION_TAG = "kedro_mlflow.session_id"


@dataclass(frozen=True)
class Restored:
    """What a restore did.

    Attributes:
        run_id: The run the version came from.
        artifact: The dataset's artifact in that run.
        written: Local files written (created, or replaced).
        unchanged: Local files that already held this version.
    """

    run_id: str
    artifact: str
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def _save_version(run: Run) -> str:
    """The version folder of a ``versioned: true`` dataset saved by ``run``.

    Under ``kedro run`` the catalog's save version is the session id, tagged on the run;
    otherwise the run's start time, formatted as Kedro formats versions.
    """
    session = run.data.tags.get(_SESSION_TAG, "")
    if session and "/" not in session:
        return session
    start = datetime.fromtimestamp((run.info.start_time or 0) / 1000, tz=timezone.utc)
    return start.strftime("%Y-%m-%dT%H.%M.%S.") + f"{start.microsecond // 1000:03d}Z"


def destinations(dataset: MlflowArtifactDataset, run: Run, files: list[str]) -> dict[str, Path]:
    """Where each file of a version (artifact names) goes on the local disk."""
    target = dataset.local_path
    base = target
    if dataset._wraps_versioned():
        base = target / _save_version(run) / target.name
    artifact = dataset.artifact
    return {name: base if name == artifact else base / name[len(artifact) + 1 :] for name in files}


def _copy_verified(source: Path, destination: Path, expected: tuple[str, int], name: str) -> Path:
    """Copy ``source`` to a hidden file beside ``destination``, hashing it; return that file."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.pull.")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as stream:
            while chunk := stream.read(store.CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if (digest.hexdigest(), size) != expected:
            raise DatasetError(
                f"The stored file of artifact '{name}' does not match the digest its run "
                f"recorded (sha256 {digest.hexdigest()}, {size} bytes; logged {expected[0]}, "
                f"{expected[1]} bytes): the artifact store was modified. Nothing was replaced; "
                f"pull another version (`kedro mlflow versions --verify`)."
            )
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return Path(staging)


def _is_logged(dataset: MlflowArtifactDataset, file: str, local: Path) -> tuple[bool, str]:
    """Whether ``local``'s content is a logged version of ``file`` (any run); its sha256."""
    sha256, _ = store.file_digest(local)
    logged = _versions.is_logged_content(dataset.artifact, dataset.catalog_name, file, sha256)
    return logged, sha256


def _expected_digests(
    run: Run, targets: dict[str, Path], context: str
) -> dict[str, tuple[str, int]]:
    expected = {}
    for file in targets:
        digest = _records.recorded_digest(run, file)
        if digest is None:
            raise DatasetError(
                f"{context}: artifact '{file}' has no recorded digest, so it cannot be "
                f"verified; nothing was written."
            )
        expected[file] = digest
    return expected


def _refuse_hand_edits(
    dataset: MlflowArtifactDataset,
    targets: dict[str, Path],
    expected: dict[str, tuple[str, int]],
    result: Restored,
    context: str,
    *,
    force: bool,
) -> None:
    """Note the local files already at this version; refuse to replace hand-edited ones."""
    edited: list[str] = []
    for file, local in targets.items():
        if not local.exists():
            continue
        if store.file_digest(local) == expected[file]:
            result.unchanged.append(local)
            continue
        logged, sha256 = _is_logged(dataset, file, local)
        if not logged and not force:
            edited.append(f"'{local}' (sha256 {sha256[:12]}...)")
    if edited:
        one = len(edited) == 1
        raise DatasetError(
            f"{context}: kept {', '.join(edited)}: {'it is' if one else 'they are'} not a "
            f"version logged in MLflow (edited by hand?), and would be lost. Save or move "
            f"{'it' if one else 'them'} first, or pass --force to overwrite."
        )


def restore_version(
    dataset: MlflowArtifactDataset, run_id: str, *, force: bool = False
) -> Restored:
    """Write the version of ``dataset`` logged in ``run_id`` at its local path.

    Args:
        dataset: The dataset, as the project's catalog builds it.
        run_id: The run holding the version.
        force: Replace local files even if they are not logged versions (hand edits).

    Returns:
        What was written, and what already held this version.

    Raises:
        DatasetError: The run holds no version of the dataset, a stored file does not
            match its digest, or (without ``force``) a local file was edited by hand.
    """
    name = dataset.catalog_name or dataset.artifact
    context = f"Pulling '{name}' from MLflow run '{run_id}'"
    _digests.record_waiting(run_id, context)
    run = store.get_run(run_id, context, remember="ended", to_read=True)
    artifact = dataset.artifact
    if _versions.version_of(run, artifact) is None:
        raise DatasetError(
            f"{context}: the run holds no recorded version of artifact '{artifact}' "
            f"(tracking URI '{store.tracking_uri()}'). `kedro mlflow versions {name}` lists "
            f"the runs that do."
        )
    repo = store.artifact_repository(run)
    listed = _versions.version_files(run, repo, artifact)
    if not listed:
        raise store.missing_artifact(run, repo, artifact, context)
    targets = destinations(dataset, run, sorted(listed))
    expected = _expected_digests(run, targets, context)
    result = Restored(run_id, artifact)
    _refuse_hand_edits(dataset, targets, expected, result, context, force=force)

    pending = {file: local for file, local in targets.items() if local not in result.unchanged}
    staged: list[tuple[Path, Path]] = []
    try:
        with _cache.fetched(run, repo, artifact, context) as source:
            for file, local in pending.items():
                origin = source if file == artifact else source / file[len(artifact) + 1 :]
                staged.append((_copy_verified(origin, local, expected[file], file), local))
    except BaseException:
        for staging, _ in staged:
            staging.unlink(missing_ok=True)
        raise
    for staging, local in staged:
        os.replace(staging, local)
        result.written.append(local)
    return result
