"""Packaging an inference pipeline as an MLflow model: checked before a run, logged after it.

``check_packaging`` runs before the first node of a ``PipelineML`` run: an inference input
that will not be there at the end (not persisted, not produced, or released from memory by
the runner) fails the run then, not after hours of training. ``log_pipeline_model`` is the
one way a pipeline becomes a model: the hook calls it at the end of a successful run,
``kedro mlflow modelify`` for any pipeline.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kedro_mlflow._lazy import lazy_module, mlflow
from kedro_mlflow.exceptions import KedroMlflowPipelineMLError
from kedro_mlflow.io.models import _registry, _requirements
from kedro_mlflow.pipeline.pipeline_ml import LOG_MODEL_KWARGS_DEFAULT

#: KedroPipelineModel imports mlflow: at the first model logged.
_kpm = lazy_module("kedro_mlflow.mlflow.kedro_pipeline_model")

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from mlflow.models.model import ModelInfo

    from kedro_mlflow.pipeline.pipeline_ml import PipelineML

#: Our addition to ``log_model_kwargs``: the alias the registered version gets.
ALIAS_KEY = "alias"


def _persisted(catalog: CatalogProtocol[Any, Any], name: str) -> bool:
    if name not in catalog:
        return False
    return not getattr(catalog.get(name), "_EPHEMERAL", False)


def check_packaging(pipeline: PipelineML, catalog: CatalogProtocol[Any, Any]) -> None:
    """Refuse a run whose inference pipeline could not be packaged at its end.

    Each inference input but ``input_name`` (and ``params:``) must be persisted in the
    catalog (and exist, unless this run makes it) or be an output of this run that the
    runner keeps in memory to the end (a final output). ``input_name`` too, for the signature
    to be inferred (``signature: auto``).

    Raises:
        KedroMlflowPipelineMLError: Naming each input that will be missing and what to do.
    """
    produced = pipeline.all_outputs()
    kept = pipeline.outputs()
    needed = set(pipeline.inference.inputs()) - {pipeline.input_name}
    if pipeline.log_model_kwargs["signature"] == "auto":
        needed.add(pipeline.input_name)
    problems = missing_inputs(catalog, needed, produced, kept)
    if problems:
        raise KedroMlflowPipelineMLError(
            "This run could not log its inference pipeline as a model, so it stops before its "
            "first node. The model packages every input of the inference pipeline, but: "
            + "; ".join(problems)
            + ". Declare each one in catalog.yml with a persisted dataset (any type but "
            "MemoryDataset), or run the nodes that produce it."
            + (
                f" For '{pipeline.input_name}' (input_name), log_model_kwargs "
                "'signature' may instead be a ModelSignature or None."
                if any(p.startswith(f"'{pipeline.input_name}'") for p in problems)
                else ""
            )
        )


def missing_inputs(
    catalog: CatalogProtocol[Any, Any],
    names: set[str],
    produced: set[str] | None = None,
    kept: set[str] | None = None,
) -> list[str]:
    """Each of ``names`` (parameters aside) that will not be loadable, and why.

    ``produced`` are the outputs of the run to come (none for ``modelify``), ``kept`` those
    the runner keeps in memory to its end.
    """
    problems = []
    for name in sorted(names):
        if name.startswith("params:") or name == "parameters":
            continue
        problem = _why_missing(catalog, name, produced or set(), kept or set())
        if problem:
            problems.append(f"'{name}' {problem}")
    return problems


def _why_missing(
    catalog: CatalogProtocol[Any, Any], name: str, produced: set[str], kept: set[str]
) -> str | None:
    """Why ``name`` will not be loadable when the run ends (None: it will be).

    ``produced`` empty: no run comes (``modelify``), the data must be there now.
    """
    if _persisted(catalog, name):
        if name in produced or catalog.exists(name):
            return None
        if produced:
            return "is persisted in the catalog but does not exist and this run does not produce it"
        return "is persisted in the catalog but does not exist yet (run the pipeline that makes it)"
    if name in kept:
        return None
    if name in produced:
        return (
            "is a memory dataset that the runner releases once its last consumer has run "
            "(it is not a final output of the run)"
        )
    return (
        "is neither in the catalog nor produced by the nodes this run runs"
        if produced
        else "is not a persisted dataset of the catalog (a memory dataset has no data here)"
    )


def log_pipeline_model(
    *,
    inference: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    input_name: str,
    run_id: str | None,
    kpm_kwargs: Mapping[str, Any] | None = None,
    log_model_kwargs: Mapping[str, Any] | None = None,
    provenance: Mapping[str, str] | None = None,
) -> ModelInfo:
    """Log ``inference`` as a pyfunc ``KedroPipelineModel`` of run ``run_id``.

    Args:
        inference: The pipeline the model runs at predict time.
        catalog: Where the inputs the model packages are loaded from.
        input_name: The input the model's caller gives.
        run_id: The run the model is logged into (it stays as it is: not ended); None logs
            a model of no run, in the active experiment.
        kpm_kwargs: Keyword arguments of ``KedroPipelineModel``.
        log_model_kwargs: Of ``mlflow.pyfunc.log_model``; ``signature: auto`` infers it from
            ``input_name``'s data and the inference's parameters; ``alias`` (with
            ``registered_model_name``) points that alias at the new version.
        provenance: Tags of the model (the kedro run, pipeline, git commit).

    Returns:
        MLflow's ``ModelInfo`` of the logged model.
    """
    kwargs = {**LOG_MODEL_KWARGS_DEFAULT, **(log_model_kwargs or {})}
    alias = kwargs.pop(ALIAS_KEY, None)
    if alias is not None and not kwargs.get("registered_model_name"):
        raise KedroMlflowPipelineMLError(
            f"log_model_kwargs has alias={alias!r} but no 'registered_model_name': an alias "
            "names a version of a registered model. Add registered_model_name."
        )
    model = _kpm.KedroPipelineModel(inference, catalog, input_name, **dict(kpm_kwargs or {}))
    if kwargs["signature"] == "auto":
        kwargs["signature"] = _signature(model, catalog, input_name)
    folder = Path(tempfile.mkdtemp(prefix="kedro-mlflow-model-"))
    try:
        artifacts, data = model._write_artifacts(folder)
        # MLflow infers the requirements in a subprocess (seconds): once per environment.
        # They come from the model and the artifacts it loads (a fitted estimator's library).
        key = _requirements.requirements_key("mlflow.pyfunc", (model, data), kwargs)
        known = _requirements.cached(key)
        if known is not None:
            kwargs["pip_requirements"] = known
        tags = {**(provenance or {})}
        params = {
            f"artifact.{_key(name)}.sha256": _sha256(Path(path)) for name, path in artifacts.items()
        }
        with _registry.active(run_id) if run_id else nullcontext(), warnings.catch_warnings():
            # predict() has no type hints on purpose: they would replace the signature.
            warnings.filterwarnings("ignore", message=".*Add type hints to the `predict`")
            info = mlflow.pyfunc.log_model(
                python_model=model,
                artifacts=artifacts,
                tags=tags or None,
                params=params or None,
                **kwargs,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if known is None:
        _requirements.remember_logged(key, info.model_id)
    if alias is not None:
        _registry.set_alias_when_ready(
            f"PipelineML model '{kwargs['name']}'",
            kwargs["registered_model_name"],
            str(info.registered_model_version),
            str(alias),
        )
    return cast("ModelInfo", info)


def _signature(model: Any, catalog: CatalogProtocol[Any, Any], input_name: str) -> Any:
    """The signature of ``input_name``'s data, with the overridable parameters and ``runner``."""
    params = {
        name.removeprefix("params:"): catalog.load(name)
        for name in sorted(model.pipeline.inputs())
        if name.startswith("params:")
    }
    overridable = {key: value for key, value in params.items() if _signature_param(value)}
    overridable["runner"] = type(model.runner).__name__
    return mlflow.models.infer_signature(model_input=catalog.load(input_name), params=overridable)


def _signature_param(value: Any) -> bool:
    """Whether MLflow can put ``value`` in a signature's params (a scalar or a flat list)."""
    scalar = (bool, int, float, str)
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, scalar) for item in value)
    return isinstance(value, scalar)


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-./: ]", "_", name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(
    project_path: Path | None, run_id: str | None, pipeline_name: str | None
) -> dict[str, str]:
    """The model's tags: the kedro run's MLflow run, its pipeline and the git commit, if any."""
    tags = {"kedro.pipeline": pipeline_name or "__default__"}
    if run_id:
        tags["kedro.run_id"] = run_id
    commit = _git_commit(project_path)
    if commit:
        tags["kedro.git_commit"] = commit
    return tags


def _git_commit(project_path: Path | None) -> str | None:
    if project_path is None or shutil.which("git") is None:
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=project_path,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None
