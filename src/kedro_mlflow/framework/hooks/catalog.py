"""The project's catalog as kedro-mlflow sees it: which entries are MlflowArtifactDatasets.

Kedro does not tell a dataset its catalog name. The hook names the pipeline's datasets at the
start of a run (the name is recorded with each save, and names the MLflow dataset input of a
load from another run); the commands resolve a name, factory patterns included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from kedro_mlflow.io.metrics._links import Evaluated
from kedro_mlflow.io.metrics._metric_base import MetricBase
from kedro_mlflow.io.models import MlflowModelTrackingDataset

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

_TYPE_NAME = MlflowArtifactDataset.__qualname__
_MODEL_TYPE_NAME = MlflowModelTrackingDataset.__qualname__


def name_datasets(catalog: CatalogProtocol[Any, Any], pipeline: Pipeline) -> None:
    """Tell each MlflowArtifactDataset of ``pipeline`` its name in ``catalog``.

    The pipeline's datasets are built here rather than at their first use, as the runner
    would build them anyway; a ``ParallelRunner`` pickles them with their name.
    """
    for name in sorted(pipeline.datasets()):
        if _TYPE_NAME not in str(_type_of(catalog, name)):
            continue
        dataset = _get(catalog, name)
        if isinstance(dataset, MlflowArtifactDataset):
            dataset.catalog_name = name
    name_model_datasets(catalog, pipeline)
    name_metric_datasets(catalog, pipeline)
    link_metric_datasets(catalog, pipeline)


def link_metric_datasets(catalog: CatalogProtocol[Any, Any], pipeline: Pipeline) -> None:
    """Tell each metric dataset what its node reads: its model and its data (``_links``)."""
    for node in pipeline.nodes:
        metrics = [
            dataset
            for name in node.outputs
            if "Metric" in str(_type_of(catalog, name))
            and isinstance(dataset := _get(catalog, name), MetricBase)
        ]
        if not metrics:
            continue
        inputs = [_get(catalog, name) for name in node.inputs if _known(catalog, name)]
        model = next((d for d in inputs if isinstance(d, MlflowModelTrackingDataset)), None)
        data = next((d for d in inputs if _evaluation_data(d)), None)
        for dataset in metrics:
            dataset.evaluated = Evaluated(model=model, data=data)


def _known(catalog: CatalogProtocol[Any, Any], name: str) -> bool:
    return not name.startswith("params:") and name != "parameters" and name in catalog


def _evaluation_data(dataset: object) -> bool:
    """A versioned input that holds data rather than a pickled object (a model, often)."""
    if not isinstance(dataset, MlflowArtifactDataset):
        return False
    wrapped = type(getattr(dataset, "_dataset", None)).__module__
    return not any(kind in wrapped for kind in ("pickle", "joblib", "cloudpickle"))


def name_metric_datasets(catalog: CatalogProtocol[Any, Any], pipeline: Pipeline) -> None:
    """Give each metric dataset of ``pipeline`` without a ``key`` (``prefix``) its name."""
    for name in sorted(pipeline.datasets()):
        if "Metric" in str(_type_of(catalog, name)):
            dataset = _get(catalog, name)
            if isinstance(dataset, MetricBase) and not dataset.key:
                dataset.key = name


def name_model_datasets(catalog: CatalogProtocol[Any, Any], pipeline: Pipeline) -> None:
    """Tell each MlflowModelTrackingDataset of ``pipeline`` its name (its LoggedModel's default)."""
    for name in sorted(pipeline.datasets()):
        if _MODEL_TYPE_NAME in str(_type_of(catalog, name)):
            dataset = _get(catalog, name)
            if isinstance(dataset, MlflowModelTrackingDataset):
                dataset.catalog_name = name


def _type_of(catalog: CatalogProtocol[Any, Any], name: str) -> str | None:
    """The dataset type of ``name`` without building it (None for unknown names)."""
    get_type = getattr(catalog, "get_type", None)
    if get_type is None:  # a catalog without Kedro 1.x's API: build it to know
        dataset = _get(catalog, name)
        return None if dataset is None else type(dataset).__qualname__
    return str(get_type(name)) if name in catalog else None


def _get(catalog: CatalogProtocol[Any, Any], name: str) -> Any:
    get = getattr(catalog, "get", None)
    return get(name) if get is not None else None


def get_dataset(catalog: CatalogProtocol[Any, Any], name: str) -> MlflowArtifactDataset | None:
    """The MlflowArtifactDataset named ``name`` (factory patterns resolved), named; else None.

    Raises:
        TypeError: ``name`` is a dataset of another type (its type in the message).
    """
    if name not in catalog:
        return None
    dataset = _get(catalog, name)
    if not isinstance(dataset, MlflowArtifactDataset):
        kind = type(dataset)
        raise TypeError(f"{kind.__module__}.{kind.__qualname__}")
    dataset.catalog_name = name
    return dataset


def artifact_dataset_names(catalog: CatalogProtocol[Any, Any]) -> list[str]:
    """The catalog's explicit entries that are MlflowArtifactDatasets (patterns are not listed)."""
    names: list[str] = getattr(catalog, "keys", list)()
    return sorted(str(name) for name in names if _TYPE_NAME in str(_type_of(catalog, name)))


def artifact_dataset_patterns(catalog: CatalogProtocol[Any, Any]) -> list[str]:
    """The catalog's factory patterns that build MlflowArtifactDatasets."""
    resolver = getattr(catalog, "config_resolver", None)
    if resolver is None:
        return []
    # A pattern matches itself ("{name}_csv" with name="{name}"): its type, without building it.
    return [
        str(pattern)
        for pattern in resolver.list_patterns()
        if _TYPE_NAME in str(_type_of(catalog, pattern))
    ]
