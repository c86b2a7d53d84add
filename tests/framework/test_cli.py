"""`kedro mlflow init` and `kedro mlflow ui` run as users run them, in real projects."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from click.testing import CliRunner

from kedro_mlflow.config.kedro_mlflow_config import TEMPLATE_PATH, KedroMlflowConfig
from kedro_mlflow.framework.cli import commands
from tests.helpers import OMEGACONF_DEPRECATION, clean_environ, free_port, invoke, kedro, write


def test_init_writes_the_template_into_conf_local(project):
    result = kedro(project, "mlflow", "init")

    written = project / "conf" / "local" / "mlflow.yml"
    assert written.read_text() == TEMPLATE_PATH.read_text()
    assert KedroMlflowConfig.model_validate(yaml.safe_load(written.read_text())) == (
        KedroMlflowConfig()
    )
    assert "conf/local/mlflow.yml" in result.stdout


def test_init_keeps_an_existing_file_without_force(in_process):
    """Scripts run `init` every time (as with kedro-mlflow 2.x): a re-run exits 0, file kept."""
    existing = write(in_process / "conf" / "local" / "mlflow.yml", "ui:\n  port: 5001\n")

    code, output = invoke(in_process, "init")
    assert code == 0, output
    assert "already exists" in output
    assert "--force" in output
    assert existing.read_text() == "ui:\n  port: 5001\n"

    code, output = invoke(in_process, "init", "--force")
    assert code == 0, output
    assert existing.read_text() == TEMPLATE_PATH.read_text()


@pytest.mark.parametrize("flag", ["--silent", "-s"])
def test_init_silent_prints_nothing(in_process, flag):
    code, output = invoke(in_process, "init", flag)
    assert (code, output) == (0, "")
    assert (in_process / "conf" / "local" / "mlflow.yml").read_text() == TEMPLATE_PATH.read_text()
    assert invoke(in_process, "init", flag) == (0, "")


def test_ui_takes_upstreams_short_flags(project):
    """`kedro mlflow ui -p PORT -h HOST -e ENV` as with kedro-mlflow 2.x: under Kedro's CLI,
    whose help flags are -h and --help, -h still means --host."""
    write(
        project / "conf" / "staging" / "mlflow.yml", "server:\n  mlflow_tracking_uri: http://x:1\n"
    )
    result = kedro(
        project, "mlflow", "ui", "-e", "staging", "-p", "5999", "-h", "127.0.0.2", check=False
    )
    assert result.returncode != 0
    assert "'http://x:1'" in result.stderr  # staging's server was read: -e reached the command
    result = kedro(project, "mlflow", "ui", "-p", "0", check=False)
    assert result.returncode != 0
    assert "'--port' / '-p'" in result.stderr


def test_init_into_another_environment(in_process):
    code, output = invoke(in_process, "init", "--env", "base")
    assert code == 0, output
    assert (in_process / "conf" / "base" / "mlflow.yml").is_file()
    assert not (in_process / "conf" / "local" / "mlflow.yml").exists()


def test_init_refuses_an_environment_outside_conf(in_process):
    code, output = invoke(in_process, "init", "--env", "../elsewhere")
    assert code != 0
    assert "--env" in output
    assert not (in_process / "elsewhere").exists()


def test_commands_need_a_project():
    result = CliRunner().invoke(commands, ["mlflow", "init"], obj=None)
    assert result.exit_code != 0
    assert "Not in a Kedro project" in result.output


def test_ui_serves_the_project_store(project):
    """The UI reads the embedded store of the project root, whatever the working directory."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "mlflow", "ui", "--port", str(port)],
        cwd=project / "notebooks",
        env=clean_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: mlflow's workers stop with it
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[0].decode()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow ui did not answer in 120 s"
                time.sleep(0.3)
        assert (project / "mlflow.db").is_file()
        assert not (project / "notebooks" / "mlflow.db").exists()
        # A SIGTERM to `kedro mlflow ui` alone (not its group) must stop the server too.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    pass
            except OSError:
                break
            assert time.monotonic() < deadline, "the server outlived `kedro mlflow ui`"
            time.sleep(0.3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_ui_of_a_server_says_to_open_it(in_process):
    write(
        in_process / "conf" / "local" / "mlflow.yml",
        "server:\n  mlflow_tracking_uri: http://127.0.0.1:1\n",
    )
    code, output = invoke(in_process, "ui")
    assert code != 0
    assert "open it in a browser" in output


@OMEGACONF_DEPRECATION
@pytest.mark.parametrize("env", [None, "staging"])
def test_ui_reports_an_invalid_configuration(in_process, env):
    where = env or "local"
    write(in_process / "conf" / where / "mlflow.yml", "ui:\n  prot: 1\n")
    code, output = invoke(in_process, "ui", *(["--env", env] if env else []))
    assert code != 0
    assert f"'ui.prot' in conf/{where}/mlflow.yml" in output
