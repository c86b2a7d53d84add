"""``switch_catalog_logging``: MLflow logging of a whole catalog's kedro-mlflow datasets on or off.

kedro-mlflow 2.x's served models call it with ``False`` so that predicting never writes to a
run; code written against 2.x calls it too. A dataset with logging off still reads and writes
its local data; it logs nothing.
"""

from __future__ import annotations

from typing import Any


def switch_catalog_logging(catalog: Any, logging_flag: bool = True) -> None:
    """Set ``_logging_activated`` on each dataset of ``catalog`` that has the flag.

    Args:
        catalog: A Kedro ``DataCatalog`` (or anything with ``items()`` of name, dataset).
        logging_flag: ``True`` to log, ``False`` to log nothing.

    Raises:
        ValueError: ``logging_flag`` is not a bool.

    Examples:
        >>> from kedro.io import DataCatalog
        >>> from kedro_mlflow.io.artifacts import MlflowArtifactDataset
        >>> catalog = DataCatalog(
        ...     {"raw": MlflowArtifactDataset(dataset={"type": "pandas.CSVDataset",
        ...                                            "filepath": f"{tmp_path}/raw.csv"})}
        ... )
        >>> switch_catalog_logging(catalog, False)
        >>> catalog["raw"]._logging_activated
        False
    """
    if not isinstance(logging_flag, bool):
        raise ValueError(f"logging_flag must be a bool, got {logging_flag!r}.")
    for _, dataset in catalog.items():
        if hasattr(dataset, "_logging_activated"):
            dataset._logging_activated = logging_flag
