"""``kedro mlflow runs``: the project's runs left RUNNING; the stale ones ended FAILED."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import redact
from kedro_mlflow.framework.cli.project import load_settings, project_path
from kedro_mlflow.framework.store import stale_runs

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_mlflow.config.settings import MlflowSettings


@click.command(name="runs")
@click.option("--env", "-e", default=None, help="The configuration environment (default: local).")
@click.option(
    "--stale",
    "show_stale",
    is_flag=True,
    help="List the runs kedro run opened that are RUNNING with no live process.",
)
@click.option("--close-stale", is_flag=True, help="End those stale runs FAILED (listing each one).")
@click.pass_obj
def runs(
    metadata: ProjectMetadata | None, env: str | None, show_stale: bool, close_stale: bool
) -> None:
    """List the project's runs left RUNNING (--stale), or end the stale ones (--close-stale).

    A run is stale when the process of this host that opened it is gone (killed, or the
    tracking server was down when it ended). Runs opened on another host are listed, never
    closed from here.
    """
    settings = load_settings(project_path(metadata), env)
    _list_or_close_stale(settings, close=close_stale, everything=not (show_stale or close_stale))


def _list_or_close_stale(settings: MlflowSettings, *, close: bool, everything: bool) -> None:
    """The body of ``kedro mlflow runs``: bounded calls, errors naming the server."""
    uri = redact(settings.tracking_uri)
    try:
        client = mlflow.MlflowClient(settings.tracking_uri)
        found = stale_runs.open_runs(client, settings.project_path)
    except Exception as exc:
        raise click.ClickException(
            f"Could not list the runs of tracking URI '{uri}': {redact(str(exc))}. Check that "
            f"the server is up ('server.mlflow_tracking_uri' in mlflow.yml)."
        ) from None
    shown = found if everything else [run for run in found if run.stale]
    if not shown:
        click.echo(f"No {'' if everything else 'stale '}RUNNING run of this project on '{uri}'.")
        return
    click.echo(f"{'RUNNING' if everything else 'Stale'} run(s) of this project on '{uri}':")
    for open_run in shown:
        click.echo(f"  {open_run.describe()}")
    if not close:
        if not everything:
            click.echo("End them FAILED with: kedro mlflow runs --close-stale")
        return
    failed = []
    for open_run in shown:
        try:
            stale_runs.close(client, open_run)
        except Exception as exc:
            failed.append(f"{open_run.run_id}: {redact(str(exc))}")
        else:
            click.echo(f"Ended run {open_run.run_id} FAILED.")
    if failed:
        raise click.ClickException(
            f"Could not end {len(failed)} run(s) on '{uri}':\n" + "\n".join(failed)
        )
