"""Catalog errors found before a run is opened: a bad entry must not leave an empty run.

Kedro 1.x builds a catalog's datasets lazily, at their first load or save: an
``artifact_path: ../x``, a ``MemoryDataset`` inside, an unknown type or an unknown ``run_id``
would fail the first node that touches the entry, after the hook opened the run. The hook
builds the pipeline's datasets first, and fetches the run of every ``MlflowArtifactDataset``
that names one, so that these errors fail ``kedro run`` with no run created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from kedro_mlflow._tracking import get_run, require_reachable, tracking_uri
from kedro_mlflow.io.artifacts import MlflowArtifactDataset

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline


def check_catalog(pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]) -> None:
    """Build every dataset of ``pipeline``; fetch the run of each that names a ``run_id``.

    Raises:
        DatasetError: Naming the catalog entry and what is wrong with it.
    """
    getter = getattr(catalog, "get", None)
    if getter is None:  # a catalog of another kind: its datasets are built already
        return
    for name in sorted(pipeline.datasets()):
        if name == "parameters" or name.startswith("params:"):
            continue
        try:
            dataset = getter(name)
        except Exception as exc:
            raise DatasetError(
                f"Catalog entry '{name}' cannot be built: {exc} Fix it in catalog.yml; no "
                f"MLflow run was opened."
            ) from exc
        if isinstance(dataset, MlflowArtifactDataset) and dataset.run_id:
            _check_run(name, dataset.run_id)


def _check_run(name: str, run_id: str) -> None:
    context = f"Catalog entry '{name}' (MlflowArtifactDataset, run_id '{run_id}')"
    require_reachable(
        tracking_uri(),
        context,
        "Start the server or fix 'server.mlflow_tracking_uri' in mlflow.yml.",
        error=DatasetError,
    )
    get_run(
        run_id,
        context,
        f"Fix 'run_id' of '{name}' in catalog.yml; no MLflow run was opened.",
        error=DatasetError,
        allow_deleted=False,
    )
