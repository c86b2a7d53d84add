"""The pipeline's parameters, logged as MLflow params of the run."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.exceptions import MlflowConfigError
from kedro_mlflow.framework.hooks.tags import MAX_TAG_LENGTH, as_run_tags

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from mlflow import MlflowClient

    from kedro_mlflow.config.kedro_mlflow_config import DictParamsOptions, KedroMlflowConfig

logger = logging.getLogger(__name__)

#: MLflow refuses longer param values.
MAX_PARAM_LENGTH = 6000


def pipeline_params(
    config: KedroMlflowConfig,
    *,
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    where: str = "mlflow.yml",
) -> tuple[dict[str, str], dict[str, str]]:
    """The params (and tags, for long values) of the pipeline's parameter inputs; no MLflow."""
    inputs = sorted(
        name for name in pipeline.inputs() if name == "parameters" or name.startswith("params:")
    )
    values = {name.removeprefix("params:"): catalog.load(name) for name in inputs}
    options = config.tracking.params
    return params_to_log(values, options.dict_params, options.long_params_strategy, where=where)


def log_params(
    client: MlflowClient, run_id: str, params: dict[str, str], tags: dict[str, str]
) -> None:
    """Log ``params`` and ``tags`` into ``run_id``, skipping the params it already holds."""
    params = dict(params)
    existing = client.get_run(run_id).data.params
    for key in [key for key in params if key in existing]:
        if existing[key] != params[key]:
            logger.warning(
                "MLflow run '%s' already has the param '%s' = %r; kedro run's value %r is "
                "not logged (MLflow params cannot change; start a new run to log it).",
                run_id,
                key,
                existing[key],
                params[key],
            )
        del params[key]
    client.log_batch(
        run_id,
        params=[mlflow.entities.Param(key, value) for key, value in params.items()],
        tags=as_run_tags(tags),
    )


def params_to_log(
    values: Mapping[str, Any],
    dict_params: DictParamsOptions,
    long_params_strategy: str,
    where: str = "mlflow.yml",
) -> tuple[dict[str, str], dict[str, str]]:
    """Turn parameter values into MLflow params (and tags, for long ones).

    Args:
        values: Parameter name (``params:`` removed) to value.
        dict_params: Whether and how to flatten dict values.
        long_params_strategy: For values over 6000 characters: ``fail``, ``truncate`` or
            ``tag`` (logged as a run tag).
        where: The configuration files, named in the error.

    Returns:
        The params and the tags to log, as strings.

    Raises:
        MlflowConfigError: A value is too long and the strategy is ``fail``.

    Examples:
        >>> from kedro_mlflow.config.kedro_mlflow_config import DictParamsOptions
        >>> params_to_log({"model": {"lr": 0.1}}, DictParamsOptions(flatten=True), "fail")
        ({'model.lr': '0.1'}, {})
    """
    if dict_params.flatten:
        values = flatten(values, recursive=dict_params.recursive, sep=dict_params.sep)
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for name, value in values.items():
        key = sanitize_key(name)
        text = str(value)
        if len(text) <= MAX_PARAM_LENGTH:
            params[key] = text
        elif long_params_strategy == "truncate":
            logger.warning(
                "Parameter '%s' (%d characters) is truncated to MLflow's limit of %d.",
                key,
                len(text),
                MAX_PARAM_LENGTH,
            )
            params[key] = text[:MAX_PARAM_LENGTH]
        elif long_params_strategy == "tag":
            logger.info("Parameter '%s' (%d characters) is logged as a tag.", key, len(text))
            tags[key] = text[:MAX_TAG_LENGTH]
        else:
            raise MlflowConfigError(
                f"Parameter '{key}' is {len(text)} characters long; MLflow params hold at most "
                f"{MAX_PARAM_LENGTH}. Set 'tracking.params.long_params_strategy' to 'truncate' "
                f"or 'tag' in {where}, or split the parameter "
                f"('tracking.params.dict_params.flatten: true' for a dict)."
            )
    return params, tags


def flatten(values: Mapping[str, Any], *, recursive: bool = True, sep: str = ".") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` becomes ``{"a.b": 1}`` (one level only unless ``recursive``).

    Examples:
        >>> flatten({"a": {"b": {"c": 1}}, "d": 2}, recursive=False)
        {'a.b': {'c': 1}, 'd': 2}
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            inner = flatten(value, recursive=True, sep=sep) if recursive else value
            for inner_key, inner_value in inner.items():
                flat[f"{key}{sep}{inner_key}"] = inner_value
        else:
            flat[str(key)] = value
    return flat


def sanitize_key(name: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . / :`` and spaces; others become ``_``."""
    sanitized = re.sub(r"[^\w\-./: ]", "_", name)
    if sanitized != name:
        logger.warning(
            "Parameter '%s' is logged as '%s' (MLflow refuses the name).", name, sanitized
        )
    return sanitized
