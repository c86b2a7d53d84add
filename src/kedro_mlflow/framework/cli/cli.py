"""``kedro mlflow ...`` commands (entry point ``kedro.project_commands``).

``init`` and ``ui`` live here; ``versions`` and ``pull`` in ``versions.py``, ``cache`` in
``cache.py``, ``runs`` in ``runs.py``, ``modelify`` in ``modelify.py``.

Kedro imports this module for every ``kedro`` command run in a project, ``kedro --help``
included: mlflow and pydantic are imported at their first use, inside the commands.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kedro_mlflow._lazy import kedro_project
from kedro_mlflow._tracking import is_server_uri, redact
from kedro_mlflow.config.loading import display_path
from kedro_mlflow.framework.cli.cache import cache
from kedro_mlflow.framework.cli.modelify import modelify
from kedro_mlflow.framework.cli.project import load_settings, project_path
from kedro_mlflow.framework.cli.runs import runs
from kedro_mlflow.framework.cli.versions import pull, versions

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.group(name="kedro-mlflow")
def commands() -> None:
    """kedro-mlflow commands."""


@commands.group(name="mlflow")
def mlflow_commands() -> None:
    """Use MLflow in this Kedro project."""


@mlflow_commands.command()
@click.option(
    "--env",
    "-e",
    default="local",
    show_default=True,
    help="The configuration environment (folder of conf/) to write mlflow.yml into.",
)
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing mlflow.yml.")
@click.option("--silent", "-s", is_flag=True, help="Print nothing unless something fails.")
@click.pass_obj
def init(metadata: ProjectMetadata | None, env: str, force: bool, silent: bool) -> None:
    """Write conf/<env>/mlflow.yml: every key with its default, commented.

    An existing file is left as it is (exit code 0) unless --force is given, so scripts may
    run this command every time.
    """
    root = project_path(metadata)
    conf_source = Path(str(kedro_project.settings.CONF_SOURCE))
    conf_dir = conf_source if conf_source.is_absolute() else root / conf_source
    if not conf_dir.is_dir():
        raise click.ClickException(
            f"The configuration folder '{conf_dir}' (CONF_SOURCE in settings.py) is not a "
            f"local folder: write mlflow.yml into it by hand (see the README)."
        )
    env_path = Path(env)
    if env_path.is_absolute() or ".." in env_path.parts or not env.strip():
        raise click.BadParameter(
            f"'{env}' is not an environment name; use e.g. 'local' or 'base'.", param_hint="--env"
        )
    target = conf_dir / env / "mlflow.yml"
    shown = display_path(target, root)
    if target.exists() and not force:
        if not silent:
            click.secho(
                f"'{shown}' already exists and was left unchanged. Use --force to overwrite "
                f"it, or --env to write into another environment.",
                fg="yellow",
            )
        return
    template = resources.files("kedro_mlflow.config").joinpath("mlflow.yml").read_text("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template, encoding="utf-8")
    if not silent:
        click.secho(f"'{shown}' written: every key with its default, commented.", fg="green")


# "-h" is --host, as in kedro-mlflow 2.x and `mlflow ui`: help is --help only here.
@mlflow_commands.command(context_settings={"help_option_names": ["--help"]})
@click.option(
    "--env",
    "-e",
    default=None,
    help="The configuration environment whose mlflow.yml is read (default: local).",
)
@click.option("--host", "-h", default=None, help="The host to listen on (default: 'ui.host').")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=None,
    help="The port to listen on (default: 'ui.port').",
)
@click.pass_obj
def ui(
    metadata: ProjectMetadata | None, env: str | None, host: str | None, port: int | None
) -> None:
    """Serve the MLflow UI of the project's tracking store."""
    root = project_path(metadata)
    settings = load_settings(root, env)
    uri = settings.tracking_uri
    if is_server_uri(uri):
        raise click.ClickException(
            f"The tracking URI of this project is the server '{redact(uri)}' (from "
            f"{settings.tracking_uri_origin}): open it in a browser. `kedro mlflow ui` serves "
            f"local stores only (sqlite, databases)."
        )
    host = host or settings.config.ui.host
    port_text = str(port or settings.config.ui.port)
    # mlflow ui logs a taken port and exits 0 seconds later: bind first, as uvicorn will.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port_text)))
    except OSError as exc:
        reason = f"port {port_text} is already in use" if exc.errno == errno.EADDRINUSE else exc
        raise click.ClickException(
            f"Cannot serve the MLflow UI on {host}:{port_text}: {reason}. Choose another port "
            f"with --port or 'ui.port' in mlflow.yml."
        ) from exc
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", host, "--port", port_text,
        # One worker serves one user, and starts in seconds rather than half a minute.
        "--workers", "1",
    ]  # fmt: skip
    if settings.registry_uri:
        command += ["--registry-store-uri", settings.registry_uri]
    if settings.artifact_location:
        # Experiments created from the UI keep their artifacts in the project too.
        command += ["--default-artifact-root", settings.artifact_location]
    environ = dict(os.environ)
    # Background jobs (used by GenAI evaluation) cost a slow start; opt back in with the env.
    environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    click.echo(f"MLflow UI of '{redact(uri)}' on http://{host}:{port_text} (Ctrl+C to stop)")
    code = _serve(command, environ, root)
    if code is not None:  # it stopped by itself: it serves until Ctrl+C or SIGTERM otherwise
        raise click.ClickException(
            f"mlflow ui on {host}:{port_text} stopped by itself (exit code {code}); its log "
            f"above says why. If port {port_text} is taken, choose another with --port or "
            f"'ui.port' in mlflow.yml."
        )


def _serve(command: list[str], environ: dict[str, str], cwd: Path) -> int | None:
    """Run the server until it exits; a SIGTERM sent to us stops it too.

    Ctrl+C reaches the whole process group, but a SIGTERM (a process manager, ``kill``)
    reaches only this process: forward it, or the server and its workers outlive us.

    Returns:
        ``None`` when it was stopped (Ctrl+C, SIGTERM), else its exit code.
    """
    server = subprocess.Popen(command, env=environ, cwd=cwd)  # noqa: S603
    stopped: list[int] = []

    def forward(signum: int, _: object) -> None:
        stopped.append(signum)
        server.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = server.wait()
                return None if stopped else code
            except KeyboardInterrupt:
                stopped.append(signal.SIGINT)
                continue  # the server got the same Ctrl+C; wait for it to stop
    finally:
        signal.signal(signal.SIGTERM, previous)


# Commands of their own modules: a dataset's versions, the download cache, the runs, and
# a pipeline logged as a model.
mlflow_commands.add_command(versions)
mlflow_commands.add_command(pull)
mlflow_commands.add_command(cache)
mlflow_commands.add_command(runs)
mlflow_commands.add_command(modelify)
