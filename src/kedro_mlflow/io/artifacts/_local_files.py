"""The one place that reads an inner dataset's private attributes.

Kedro datasets keep where they write in private attributes (``_filepath``,
``_path``, ``_protocol``) and compute versioned paths with private methods.
Every such reach goes through the functions below, which raise a clear
``DatasetError`` for a dataset they cannot handle.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError

_LOCAL_PROTOCOLS = frozenset({"file", "local", ""})


@dataclass(frozen=True)
class LocalTarget:
    """Where an inner dataset keeps its data on the local disk.

    Attributes:
        path: The file or folder named in the dataset's configuration
            (for a versioned dataset, the folder holding its versions).
        config_key: The constructor argument that holds ``path``.
        partitioned: Whether the dataset is a folder of partitions.
    """

    path: Path
    config_key: str
    partitioned: bool


def _unsupported(dataset: AbstractDataset[Any, Any], why: str) -> DatasetError:
    return DatasetError(
        f"MlflowArtifactDataset cannot version a '{type(dataset).__module__}."
        f"{type(dataset).__qualname__}': {why}. The wrapped dataset must write a file or "
        f"folder on the local disk; MLflow then uploads it to the artifact store, which is "
        f"set on the tracking server (or 'server.mlflow_tracking_uri' in mlflow.yml), "
        f"not in the dataset's path."
    )


def refuse_remote_config(config: dict[str, Any]) -> None:
    """Refuse a remote ``filepath``/``path`` before building the dataset.

    Building it first would fail with the filesystem's own complaint (e.g.
    "Install s3fs") instead of saying that the path must be local.
    """
    for key in ("filepath", "path"):
        value = config.get(key)
        if isinstance(value, str) and "://" in value:
            protocol = value.split("://", 1)[0]
            if protocol not in _LOCAL_PROTOCOLS:
                raise DatasetError(
                    f"MlflowArtifactDataset cannot version '{config.get('type')}' with "
                    f"{key} '{value}': its path '{value}' is not on the local disk. The "
                    f"wrapped dataset must write a file or folder on the local disk; MLflow "
                    f"then uploads it to the artifact store, which is set on the tracking "
                    f"server (or 'server.mlflow_tracking_uri' in mlflow.yml), not in the "
                    f"dataset's path."
                )


def copy_at(config: dict[str, Any], target: LocalTarget, path: Path) -> AbstractDataset[Any, Any]:
    """The wrapped dataset of ``config``, unversioned, reading or writing ``path`` instead."""
    config = copy.deepcopy(config)
    config.pop("versioned", None)
    config[target.config_key] = str(path)
    return AbstractDataset.from_config("MlflowArtifactDataset.dataset", config)


def local_target(dataset: AbstractDataset[Any, Any]) -> LocalTarget:
    """Return where ``dataset`` writes on the local disk.

    Raises:
        DatasetError: If the dataset has no local file (``MemoryDataset``, SQL)
            or points at a remote filesystem (``s3://``, ``memory://``).
    """
    protocol = getattr(dataset, "_protocol", "file")
    partitioned = hasattr(dataset, "_partition_to_path") and hasattr(dataset, "_path")
    raw = getattr(dataset, "_path", None) if partitioned else getattr(dataset, "_filepath", None)
    if raw is None:
        raise _unsupported(dataset, "it has no local filepath")
    if protocol not in _LOCAL_PROTOCOLS:
        raise _unsupported(dataset, f"its path '{protocol}://{raw}' is not on the local disk")
    text = str(raw)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return LocalTarget(
        path=Path(text), config_key="path" if partitioned else "filepath", partitioned=partitioned
    )


def _expand(path: Path, name: str) -> list[tuple[Path, str]]:
    if not path.is_dir():
        return [(path, name)]
    files = []
    for root, _, filenames in os.walk(path):
        for filename in sorted(filenames):
            local = Path(root) / filename
            files.append((local, f"{name}/{local.relative_to(path).as_posix()}"))
    return sorted(files, key=lambda item: item[1])


def written_files(dataset: AbstractDataset[Any, Any], data: Any) -> list[tuple[Path, str]]:
    """List the local files that ``dataset.save(data)`` just wrote.

    Returns:
        ``(local file, artifact name)`` pairs. A file is named after itself
        (a versioned file after its plain name); a folder's files are named
        ``<folder>/<relative path>``; a partitioned folder lists only the
        partitions in ``data``.
    """
    target = local_target(dataset)
    name = os.path.basename(os.path.abspath(target.path))
    if target.partitioned:
        suffix = getattr(dataset, "_filename_suffix", "")
        files: list[tuple[Path, str]] = []
        for partition_id in sorted(data):
            local = Path(dataset._partition_to_path(partition_id))  # type: ignore[attr-defined]
            relative = PurePosixPath(partition_id.strip("/") + suffix).as_posix()
            files.extend(_expand(local, f"{name}/{relative}"))
        return files
    if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
        version = dataset._version.save or dataset.resolve_save_version()
        return _expand(Path(str(dataset._get_versioned_path(str(version)))), name)
    return _expand(target.path, name)


def writes_one_plain_file(dataset: AbstractDataset[Any, Any]) -> bool:
    """Whether ``dataset`` writes one file at its own path (not versioned, not partitioned)."""
    if local_target(dataset).partitioned:
        return False
    return not (isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None)
