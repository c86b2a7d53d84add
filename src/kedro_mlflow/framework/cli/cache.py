"""``kedro mlflow cache [clear]``: the download cache of loads from remote artifact stores."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
from kedro.io import DatasetError

from kedro_mlflow._sizes import format_size
from kedro_mlflow.framework.cli.project import load_project
from kedro_mlflow.io import artifacts

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

_ENV = click.option(
    "--env",
    "-e",
    default=None,
    help="The configuration environment whose mlflow.yml sets the cap (default: local).",
)


def _read_cap(metadata: ProjectMetadata | None, env: str | None) -> str:
    """The cap, read as ``kedro run`` reads it; how to say it."""
    if metadata is not None:
        # Exports tracking.cache_max_bytes as the variable, as the hook does for a run.
        load_project(metadata, env)
    try:
        cap = artifacts.cache_max_bytes()
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    if cap is None:
        return "no size cap (tracking.cache_max_bytes, or KEDRO_MLFLOW_CACHE_MAX_BYTES)"
    return f"cap {format_size(cap)}"


def _where() -> str:
    root = artifacts.cache_root()
    origin = (
        "KEDRO_MLFLOW_CACHE_DIR"
        if os.environ.get("KEDRO_MLFLOW_CACHE_DIR")
        else "default; set KEDRO_MLFLOW_CACHE_DIR to move it"
    )
    return f"{root} ({origin})"


@click.group(invoke_without_command=True)
@_ENV
@click.pass_context
def cache(context: click.Context, env: str | None) -> None:
    """Show the download cache: where it is, its size, its entries (one per run).

    Loads by run id from a tracking server or a bucket download each artifact once into
    it, verified; loads from a local store read the store in place and cache nothing.
    """
    if context.invoked_subcommand is not None:
        return
    cap = _read_cap(context.obj, env)
    root = artifacts.cache_root()
    found = artifacts.cache_entries(root)
    total = sum(entry.size for entry in found)
    click.echo(f"Download cache: {_where()}")
    click.echo(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}, {format_size(total)}; {cap}")
    if not found:
        return
    rows = [("RUN ID", "SIZE", "LAST USED")]
    rows += [
        (
            entry.run_id or entry.path.name,
            format_size(entry.size),
            f"{entry.age} ago",
        )
        for entry in reversed(found)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cache.command()
def clear() -> None:
    """Remove every entry of the download cache that is not being read."""
    root = artifacts.cache_root()
    removed, kept = artifacts.clear_cache(root)
    size = format_size(sum(entry.size for entry in removed))
    click.echo(
        f"Removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} ({size}) from {root}."
    )
    if kept:
        click.echo(
            f"Kept {len(kept)} entr{'y' if len(kept) == 1 else 'ies'} being read: "
            + ", ".join(entry.run_id or entry.path.name for entry in kept)
        )
