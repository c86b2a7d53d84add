"""``kedro mlflow modelify``: log a registered pipeline as an MLflow pyfunc model.

The packaging is the one a ``PipelineML`` run uses (``pipeline._packaging``): the model's
artifacts are the pipeline's inputs but ``--input-name``, read from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import redact
from kedro_mlflow.exceptions import KedroMlflowPipelineMLError, KedroPipelineModelError
from kedro_mlflow.framework.cli.project import load_project, logs_to_stderr

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata
    from kedro.pipeline import Pipeline

    from kedro_mlflow.framework.cli.project import Project


_F = TypeVar("_F", bound=Callable[..., Any])


def _log_model_option(name: str, what: str, **kwargs: Any) -> Callable[[_F], _F]:
    """An option passed on to ``mlflow.pyfunc.log_model`` as its argument of the same name."""
    return click.option(name, default=None, help=f"{what} (log_model's argument).", **kwargs)


@click.command(name="modelify")
@click.option(
    "--pipeline",
    "-p",
    "pipeline_name",
    required=True,
    help="The name of a pipeline of the project's pipeline registry.",
)
@click.option(
    "--input-name",
    "-i",
    required=True,
    help="The input of the pipeline that the model's caller gives (the data to predict on).",
)
@click.option(
    "--infer-signature",
    is_flag=True,
    help="Infer the signature from the input's data; the pipeline's parameters and 'runner' "
    "become params that each prediction may override.",
)
@click.option(
    "--infer-input-example",
    is_flag=True,
    help="Log the first row of the input's data as the model's input example.",
)
@click.option(
    "--copy-mode",
    default="deepcopy",
    show_default=True,
    help="How the packaged inputs are handed to the nodes at predict time: assign, copy or "
    "deepcopy, or a YAML mapping of dataset name to one of these, e.g. '{model: assign}'.",
)
@click.option("--model-name", default=None, help="The model's name (default: model-<pipeline>).")
@_log_model_option("--code-paths", "A local file or folder packaged with the model, repeatable",
                   multiple=True)  # fmt: skip
@_log_model_option("--conda-env", "A conda environment file")
@_log_model_option("--registered-model-name", "Register the model under this name")
@_log_model_option(
    "--await-registration-for",
    "Seconds to wait for the registered version to be READY",
    type=click.IntRange(min=0),
)
@_log_model_option("--pip-requirements", "A pip requirements file (default: inferred)")
@_log_model_option("--extra-pip-requirements", "A pip requirements file added to the inferred")
@click.option(
    "--run-id",
    default=None,
    help="Log the model into this run (default: a model of no run, in the project's experiment).",
)
@click.option("--env", "-e", default=None, help="The configuration environment (default: local).")
@click.pass_obj
def modelify(  # noqa: PLR0917 - kedro-mlflow 2.x's options, and ours
    metadata: ProjectMetadata | None,
    pipeline_name: str,
    input_name: str,
    infer_signature: bool,
    infer_input_example: bool,
    copy_mode: str,
    model_name: str | None,
    code_paths: tuple[str, ...],
    conda_env: str | None,
    registered_model_name: str | None,
    await_registration_for: int | None,
    pip_requirements: str | None,
    extra_pip_requirements: str | None,
    run_id: str | None,
    env: str | None,
) -> None:
    """Log PIPELINE as an MLflow model that predicts on INPUT_NAME; print its models:/ URI.

    The model's artifacts are the pipeline's other inputs, loaded from the catalog: each
    one must be persisted there (trained models, encoders) or be a parameter. The last
    line of stdout is the model's URI, for `mlflow models serve -m ...`.
    """
    from kedro_mlflow.pipeline import _packaging  # noqa: PLC0415 - imports mlflow's model code

    with logs_to_stderr():
        project = load_project(metadata, env)
        pipeline = _pipeline(pipeline_name)
        _check_inputs(project, pipeline, pipeline_name, input_name)
        kwargs: dict[str, Any] = {
            "name": model_name or f"model-{pipeline_name}",
            "signature": "auto" if infer_signature else None,
            "code_paths": list(code_paths) or None,
            "conda_env": conda_env,
            "registered_model_name": registered_model_name,
            "await_registration_for": await_registration_for,
            "pip_requirements": pip_requirements,
            "extra_pip_requirements": extra_pip_requirements,
        }
        if infer_input_example:
            kwargs["input_example"] = _first_row(project.catalog.load(input_name))
        kwargs = {k: v for k, v in kwargs.items() if v is not None or k == "signature"}
        uri = redact(project.settings.tracking_uri)
        _use_run_or_experiment(project, run_id, uri)
        try:
            info = _packaging.log_pipeline_model(
                inference=pipeline,
                catalog=project.catalog,
                input_name=input_name,
                run_id=run_id,
                kpm_kwargs={"copy_mode": _copy_mode(copy_mode)},
                log_model_kwargs=kwargs,
                provenance=_packaging.provenance(project.path, run_id, pipeline_name),
            )
        except (KedroMlflowPipelineMLError, KedroPipelineModelError) as exc:
            raise click.ClickException(f"Pipeline '{pipeline_name}': {exc}") from None
        except mlflow.exceptions.MlflowException as exc:
            raise click.ClickException(
                f"Could not log pipeline '{pipeline_name}' as a model on tracking URI "
                f"'{uri}': {redact(str(exc))}"
            ) from None
    where = f"run '{run_id}'" if run_id else "no run"
    click.echo(f"Logged pipeline '{pipeline_name}' as model '{kwargs['name']}' ({where}).")
    if info.registered_model_version is not None:
        click.echo(
            f"Registered as '{registered_model_name}' version {info.registered_model_version}."
        )
    click.echo(f"Model id: {info.model_id}")
    click.echo(f"models:/{info.model_id}")


def _pipeline(name: str) -> Pipeline:
    from kedro.framework.project import pipelines  # noqa: PLC0415 - the project's registry

    found = pipelines.get(name)
    if found is None:
        known = ", ".join(sorted(pipelines)) or "none"
        raise click.BadParameter(
            f"'{name}' is not a pipeline of the project's registry; its pipelines: {known}.",
            param_hint="--pipeline",
        )
    return found  # type: ignore[no-any-return]


def _check_inputs(project: Project, pipeline: Pipeline, name: str, input_name: str) -> None:
    """``input_name`` is an input of the pipeline; its other inputs can be packaged."""
    from kedro_mlflow.pipeline._packaging import missing_inputs  # noqa: PLC0415

    inputs = set(pipeline.inputs())
    if input_name not in inputs:
        valid = ", ".join(sorted(n for n in inputs if not n.startswith("params:"))) or "none"
        raise click.BadParameter(
            f"'{input_name}' is not an input of pipeline '{name}'; its inputs: {valid}.",
            param_hint="--input-name",
        )
    problems = missing_inputs(project.catalog, inputs - {input_name})
    if problems:
        raise click.ClickException(
            f"Pipeline '{name}' cannot be packaged as a model: its inputs other than "
            f"'{input_name}' are the model's artifacts, but " + "; ".join(problems) + ". "
            "Declare each one in catalog.yml with a persisted dataset and run the pipeline "
            "that makes it first."
        )


def _use_run_or_experiment(project: Project, run_id: str | None, uri: str) -> None:
    """Check that ``run_id`` is a live run; without one, make the project's experiment active."""
    from kedro_mlflow.framework.hooks.configure import ensure_experiment  # noqa: PLC0415

    client = mlflow.MlflowClient()
    try:
        if run_id is None:
            mlflow.set_experiment(experiment_id=ensure_experiment(client, project.settings))
            return
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        what = f"find run '{run_id}'" if run_id else "use the project's experiment"
        raise click.ClickException(
            f"Could not {what} on tracking URI '{uri}': {redact(str(exc))}. Check the run id "
            f"(`kedro mlflow versions DATASET` lists the runs) and 'server.mlflow_tracking_uri' "
            f"in mlflow.yml."
        ) from None
    if run.info.lifecycle_stage == "deleted":
        raise click.BadParameter(
            f"Run '{run_id}' on '{uri}' is deleted: restore it, or give another run.",
            param_hint="--run-id",
        )


def _copy_mode(value: str) -> str | dict[str, str]:
    """``--copy-mode``: a mode, or a YAML mapping of dataset name to mode."""
    if not value.lstrip().startswith("{"):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise click.BadParameter(
            f"'{value}' is not a YAML mapping: {exc}", param_hint="--copy-mode"
        ) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"'{value}' is not a YAML mapping.", param_hint="--copy-mode")
    return {str(k): str(v) for k, v in parsed.items()}


def _first_row(data: Any) -> Any:
    """The input example: the first row of a table (still a table), else the first item."""
    if hasattr(data, "iloc"):
        return data.iloc[0:1]
    if isinstance(data, list | tuple) or hasattr(data, "shape"):
        return data[:1]
    return data
