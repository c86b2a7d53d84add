"""The model of a ``PipelineML`` run: checked before the first node, logged after the last.

A ``kedro run`` of a plain pipeline pays nothing here: an ``isinstance`` check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_mlflow.pipeline._packaging import check_packaging, log_pipeline_model, provenance
from kedro_mlflow.pipeline.pipeline_ml import PipelineML

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)


def check_before_run(pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]) -> None:
    """Fail now if the run's inference pipeline could not be packaged at its end."""
    if isinstance(pipeline, PipelineML):
        check_packaging(pipeline, catalog)


def prepare_logging(pipeline: Pipeline) -> None:
    """Import what logging the model needs (MLflow's pyfunc, ~1 s in a process that has not
    imported MLflow yet): called before waiting for the helper, which goes on meanwhile."""
    if isinstance(pipeline, PipelineML):
        import kedro_mlflow.mlflow.kedro_pipeline_model  # noqa: F401, PLC0415


def log_after_run(
    run_id: str | None,
    run_params: Mapping[str, Any],
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
) -> None:
    """Log the inference pipeline of a successful ``PipelineML`` run as a model of ``run_id``."""
    if not isinstance(pipeline, PipelineML) or run_id is None:
        return
    project_path = run_params.get("project_path")
    names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
    info = log_pipeline_model(
        inference=pipeline.inference,
        catalog=catalog,
        input_name=pipeline.input_name,
        run_id=run_id,
        kpm_kwargs=pipeline.kpm_kwargs,
        log_model_kwargs=pipeline.log_model_kwargs,
        provenance=provenance(
            Path(project_path) if project_path else None,
            run_id,
            ",".join(str(name) for name in names if name) or None,
        ),
    )
    registered = (
        f", registered as '{pipeline.log_model_kwargs['registered_model_name']}' version "
        f"{info.registered_model_version}"
        if info.registered_model_version is not None
        else ""
    )
    logger.info(
        "Logged the inference pipeline as model '%s' of run '%s': %s%s",
        pipeline.log_model_kwargs["name"],
        run_id,
        info.model_uri,
        registered,
    )
