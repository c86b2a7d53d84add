"""``kedro mlflow versions`` and ``kedro mlflow pull``: a dataset's versions; one back on disk."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING

import click
from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._sizes import format_size
from kedro_mlflow._stdout import json_stdout
from kedro_mlflow.framework.cli.project import (
    DescribedArgument,
    Project,
    load_project,
    logs_to_stderr,
)
from kedro_mlflow.framework.hooks.catalog import artifact_dataset_names
from kedro_mlflow.io import artifacts

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_mlflow.io.artifacts import DatasetVersion, MlflowArtifactDataset

_ENV = click.option(
    "--env",
    "-e",
    default=None,
    help="The configuration environment (catalog, mlflow.yml) to read (default: local).",
)


def _experiment_ids(project: Project, all_experiments: bool) -> tuple[list[str], str]:
    """Where to search, and how to say it."""
    uri = project.settings.tracking_uri
    if all_experiments:
        return artifacts.all_experiment_ids(), f"every experiment of {uri}"
    name = project.settings.experiment_name
    experiment = mlflow.MlflowClient().get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        return [], f"experiment '{name}' (not on {uri} yet)"
    return [str(experiment.experiment_id)], f"experiment '{name}' on {uri}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


@click.command()
@click.argument(
    "dataset",
    cls=DescribedArgument,
    help="A catalog entry (an MlflowArtifactDataset; factory patterns resolved).",
)
@_ENV
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object a version.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show the newest N versions; 0 shows all.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Read each version back from the artifact store and compare it with its digest.",
)
@click.option(
    "--all-experiments",
    is_flag=True,
    help="Search every experiment of the tracking store, not only the project's.",
)
@click.pass_obj
def versions(
    metadata: ProjectMetadata | None,
    dataset: str,
    *,
    env: str | None,
    as_json: bool,
    limit: int,
    verify: bool,
    all_experiments: bool,
) -> None:
    """List the MLflow runs that logged DATASET (a catalog entry), newest first.

    Each version: when its run started, the run id, name and status, the artifact path,
    the size and the sha256 recorded when it was saved. Pull one back with
    `kedro mlflow pull DATASET --run-id RUN_ID`, or load it in a run with
    `kedro run --load-versions DATASET:RUN_ID`.
    """
    with logs_to_stderr() if as_json else nullcontext():
        project = load_project(metadata, env)
        entry = project.dataset(dataset)
        experiment_ids, where = _experiment_ids(project, all_experiments)
        found = artifacts.find_versions(
            entry.artifact,
            name=entry.catalog_name,
            experiment_ids=experiment_ids,
            limit=limit + 1 if limit else None,
        )
        more = bool(limit) and len(found) > limit
        found = found[:limit] if limit else found
        checks = {v.run_id: artifacts.verify(v.run_id, v.artifact) for v in found} if verify else {}
    if as_json:
        listed = []
        for version in found:
            item = version.to_json()
            if verify:
                item["verified"] = checks[version.run_id].verdict
                item["problems"] = list(checks[version.run_id].problems)
            listed.append(item)
        click.echo(json.dumps(listed, indent=2), file=json_stdout())
    else:
        _print_table(
            dataset, entry, found=found, checks=checks, where=where, more=more, limit=limit
        )
    bad = {run_id: check for run_id, check in checks.items() if check.verdict != "ok"}
    if bad:
        details = "\n".join(
            f"  {run_id}: {check.verdict}: {'; '.join(check.problems)}"
            for run_id, check in bad.items()
        )
        raise click.ClickException(
            f"{len(bad)} of {len(checks)} version(s) of '{dataset}' do not match what their "
            f"run recorded:\n{details}\nDo not pull or load them; pull another version."
        )


def _print_table(
    name: str,
    entry: MlflowArtifactDataset,
    *,
    found: list[DatasetVersion],
    checks: dict[str, artifacts.Verification],
    where: str,
    more: bool,
    limit: int,
) -> None:
    if not found:
        click.echo(f"No run of {where} has logged '{name}' (artifact '{entry.artifact}').")
        return
    click.echo(f"Versions of '{name}' (artifact '{entry.artifact}') in {where}, newest first:")
    header = ["START (UTC)", "RUN ID", "RUN NAME", "STATUS", "ARTIFACT PATH", "SIZE", "SHA256"]
    if checks:
        header.append("VERIFIED")
    rows = []
    for version in found:
        size = format_size(version.size)
        if version.files > 1 or version.artifact != entry.artifact:
            size += f" ({version.files} files)"
        row = [
            f"{version.start_time:%Y-%m-%d %H:%M:%S}",
            version.run_id,
            version.run_name,
            version.status,
            version.artifact,
            size,
            version.sha256[:12],
        ]
        if checks:
            row.append(checks[version.run_id].verdict)
        rows.append(row)
    click.echo(_table(rows, header))
    if more:
        click.echo(f"(the newest {limit}; --limit 0 lists them all)")


@click.command()
@click.argument(
    "dataset",
    required=False,
    cls=DescribedArgument,
    help="A catalog entry (an MlflowArtifactDataset); omitted with --all.",
)
@click.option("--run-id", "-r", required=True, help="The MLflow run holding the version.")
@click.option("--all", "all_datasets", is_flag=True, help="Every dataset the run logged, not one.")
@click.option(
    "--force", "-f", is_flag=True, help="Overwrite local files even if they were edited by hand."
)
@_ENV
@click.pass_obj
def pull(
    metadata: ProjectMetadata | None,
    dataset: str | None,
    *,
    run_id: str,
    all_datasets: bool,
    force: bool,
    env: str | None,
) -> None:
    """Restore the local file(s) of DATASET as logged in the run --run-id.

    The files are verified against the sha256 their run recorded and replace the local
    ones atomically. A local file is replaced only if it is itself a logged version (of
    any run); a file edited by hand is kept and the command fails, unless --force.
    """
    if all_datasets == (dataset is not None):
        raise click.UsageError("Give either a DATASET or --all.")
    project = load_project(metadata, env)
    if dataset is not None:
        _pull_one(project, project.dataset(dataset), run_id, force=force)
        return
    names = _datasets_of_run(project, run_id)
    if not names:
        raise click.ClickException(
            f"MLflow run '{run_id}' holds no version of any MlflowArtifactDataset of the "
            f"catalog (environment '{project.settings.env or 'local'}')."
        )
    failures = []
    for name in names:
        try:
            _pull_one(project, project.dataset(name), run_id, force=force)
        except click.ClickException as exc:
            failures.append(f"  {name}: {exc.format_message()}")
    if failures:
        raise click.ClickException(
            f"{len(failures)} of {len(names)} dataset(s) were not pulled:\n" + "\n".join(failures)
        )


def _pull_one(project: Project, entry: MlflowArtifactDataset, run_id: str, *, force: bool) -> None:
    name = entry.catalog_name or entry.artifact
    try:
        restored = artifacts.restore_version(entry, run_id, force=force)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in restored.written:
        click.echo(f"{name}: wrote {project.shown(path)} (run {run_id}, sha256 verified)")
    for path in restored.unchanged:
        click.echo(f"{name}: {project.shown(path)} already holds this version")


def _datasets_of_run(project: Project, run_id: str) -> list[str]:
    """The catalog names of the datasets ``run_id`` holds a version of."""
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise click.ClickException(
            f"MLflow run '{run_id}' was not found on tracking URI "
            f"'{project.settings.tracking_uri}' ({exc.message})."
        ) from exc
    # The names its saves recorded (factory patterns too); for artifacts saved without a
    # name, the catalog's explicit entries logged under that artifact.
    names = set(artifacts.recorded_dataset_names(run))
    for name in artifact_dataset_names(project.catalog):
        artifact = project.dataset(name).artifact
        if artifacts.version_of(run, artifact) is None:
            continue
        recorded = artifacts.recorded_dataset_name(run, artifact)
        if recorded is None or recorded == name:
            names.add(name)
    return sorted(name for name in names if name in project.catalog)
