"""What a dataset's configuration means: the wrapped dataset, ``artifact_path``, run ids.

Each value is read once, at construction, and refused there with what to write instead.
"""

from __future__ import annotations

import copy
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from kedro.io import DatasetError

#: An MLflow run id: 32 lowercase hex digits. A Kedro load version (``--load-versions``)
#: of this form names the run to load from; Kedro's own versions are timestamps
#: (``2026-01-01T00.00.00.000Z``) and go to a ``versioned: true`` wrapped dataset.
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def is_run_id(version: str) -> bool:
    """Whether a Kedro load version names an MLflow run (32 hex digits) rather than a timestamp.

    Examples:
        >>> is_run_id("4f1c2b7e9a0d4e6f8b3a5c7d9e1f2a3b"), is_run_id("2026-01-01T00.00.00.000Z")
        (True, False)
    """
    return bool(_RUN_ID.match(version))


def unusable_load_version(path: object, load_version: str) -> DatasetError:
    """The error of a load version that is no run id, for a dataset that is not versioned."""
    return DatasetError(
        f"MlflowArtifactDataset '{path}' was given the load version "
        f"'{load_version}' (kedro run --load-versions), which is not an MLflow run id "
        f"(32 hex digits) and its wrapped dataset is not 'versioned: true'. Give "
        f"--load-versions NAME:RUN_ID with the id of the run to load from (see "
        f"`kedro mlflow versions NAME`)."
    )


def normalise_artifact_path(artifact_path: str | None) -> str | None:
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


_EXAMPLE_DATASET = "dataset: {type: pandas.CSVDataset, filepath: data/01_raw/companies.csv}"


def wrapped_config(dataset: object) -> dict[str, Any]:
    """The wrapped dataset's config (a copy), refused at once when it names no ``type``.

    Kedro's own parser would only say ``'type'`` (the missing key, as a ``KeyError``).
    """
    config: dict[str, Any] = (
        copy.deepcopy(dataset) if isinstance(dataset, dict) else {"type": dataset}
    )
    if not config.get("type"):
        given = "an empty 'dataset'" if not config else f"'dataset: {dataset!r}'"
        raise DatasetError(
            f"MlflowArtifactDataset was given {given}: the 'type' key of its 'dataset' is "
            f"missing, so there is no dataset to wrap. Give the wrapped dataset's type and "
            f"arguments in the catalog entry, e.g. '{_EXAMPLE_DATASET}'"
        )
    return config
