"""A dataset's names inside its run: its artifact, each file's, and the names refused.

Every name goes through the one normaliser (``_names.normalise``); the errors say which
dataset and what to rename.
"""

from __future__ import annotations

from pathlib import Path

from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import _mlflow_store as store
from kedro_mlflow.io.artifacts._names import UnsafeName, base_name, normalise


def artifact_of(local_path: Path, artifact_path: str | None) -> str:
    """The artifact of the dataset at ``local_path``: its base name inside ``artifact_path``."""
    try:
        name = base_name(local_path)
    except UnsafeName as exc:
        raise DatasetError(
            f"MlflowArtifactDataset '{local_path}' cannot be named in the run: "
            f"{exc}. Point the dataset at a file or folder with a name."
        ) from exc
    return file_artifact(artifact_path, name, f"Saving MlflowArtifactDataset '{local_path}'")


def file_artifact(artifact_path: str | None, name: str, context: str) -> str:
    """``name`` (a file, or a file of a folder) inside ``artifact_path``, normalised.

    Raises:
        DatasetError: The name could reach outside the run (``..``, a backslash, ...).
    """
    return checked(f"{artifact_path}/{name}" if artifact_path else name, context)


def checked(name: str, context: str) -> str:
    """A full artifact name through the one normaliser, or a ``DatasetError``."""
    try:
        return normalise(name)
    except UnsafeName as exc:
        raise DatasetError(
            f"{context}: the artifact name {exc}, which could reach "
            f"outside the MLflow run; nothing was logged. Rename the file or partition."
        ) from exc


def refuse_unsafe(
    artifact: str,
    artifact_path: str | None,
    partitions: list[object],
    suffix: str,
    context: str,
) -> None:
    """Refuse, before anything is written, names a server would store under another name.

    Over HTTP, MLflow puts the artifact's path in the URL unescaped: ``?`` and ``#``
    start a query or a fragment, and the file lands under a shorter name. Partition ids
    are checked too (through the one normaliser, for ``..`` and backslashes).
    """
    names = [artifact]
    for pid in partitions:
        checked(str(pid), context)  # an empty id would be named after the folder alone
        names.append(checked(f"{artifact}/{pid}{suffix}", context))
    if not store.is_server_uri(store.tracking_uri()):
        return
    for name in names:
        if "?" in name or "#" in name or "%" in name:
            raise DatasetError(
                f"{context}: the artifact name '{name}' holds '?', '#' "
                f"or '%', which the MLflow server at '{store.tracking_uri()}' "
                f"would store under another name; nothing was saved or logged. Rename "
                f"'artifact_path' ('{artifact_path}') or the file."
            )
