"""`kedro mlflow ui` when its port is taken: a non-zero exit and one line naming the port.

Regression: mlflow ui logs uvicorn's "address already in use" and exits 0, so the command
used to exit 0 too, seconds after saying the UI was being served.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import clean_environ, free_port, kedro, write


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize("where", ["--port", "ui.port"], ids=["cli-option", "mlflow-yml"])
def test_ui_on_a_port_in_use_exits_non_zero_naming_the_port(
    project: Path, held_port: int, where: str
) -> None:
    if where == "--port":
        args = ["--port", str(held_port)]
    else:
        write(project / "conf" / "local" / "mlflow.yml", f'ui:\n  port: "{held_port}"\n')
        args = []

    began = time.monotonic()
    result = kedro(project, "mlflow", "ui", *args, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert errors == [
        f"Error: Cannot serve the MLflow UI on 127.0.0.1:{held_port}: port {held_port} is "
        f"already in use. Choose another port with --port or 'ui.port' in mlflow.yml."
    ], output
    # Refused before the server was started (it takes seconds to start and fail).
    assert "MLflow UI of" not in output
    assert "Traceback" not in output
    assert time.monotonic() - began < 60


def test_ui_reports_a_server_that_stops_by_itself(project: Path) -> None:
    """The port is free when checked and taken when the server binds it: mlflow exits 0."""
    port = free_port()
    with socket.socket() as holder:
        # SO_REUSEADDR on both sides lets the check bind while no one listens yet.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "mlflow", "ui", "--port", str(port)],
            cwd=project,
            env=clean_environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("MLflow UI of"):
                    holder.listen()  # the check passed; now the server cannot bind
                    break
            output = "".join(lines) + process.communicate(timeout=120)[0]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert process.returncode != 0, output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"Error: mlflow ui on 127.0.0.1:{port} stopped by itself"), output
    assert f"If port {port} is taken" in last


def test_ui_on_an_address_it_cannot_bind_says_why(in_process: Path) -> None:
    """Not a taken port: the OS's reason is given (203.0.113.1 is no address of this host)."""
    from click.testing import CliRunner
    from kedro.framework.startup import bootstrap_project

    from kedro_mlflow.framework.cli.cli import commands

    result = CliRunner().invoke(
        commands,
        ["mlflow", "ui", "--host", "203.0.113.1", "--port", "5000"],
        obj=bootstrap_project(in_process),
    )
    assert result.exit_code != 0
    assert "Cannot serve the MLflow UI on 203.0.113.1:5000: [Errno" in result.output
    assert "MLflow UI of" not in result.output
