"""`kedro mlflow runs`: the project's runs left RUNNING, listed and closed, in this process.

The end-to-end case (a `kedro run` SIGKILLed, its run closed later) is in
tests/reliability/test_time_bounds.py; here the runs are made directly in the project's
store, each owned by a real process: one that is gone, one alive (this test), one on another
host, and one of another tool (no process tags).
"""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest

from kedro_mlflow.framework.hooks.tags import PROJECT_PATH_TAG
from kedro_mlflow.framework.store import stale_runs
from tests.helpers import OMEGACONF_DEPRECATION, invoke, store_uri

pytestmark = OMEGACONF_DEPRECATION


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


@pytest.fixture
def owned_runs(in_process):
    """Four RUNNING runs in the project's embedded store, by owner."""
    client = mlflow.MlflowClient(store_uri(in_process))
    experiment = client.create_experiment("e", artifact_location=(in_process / "mlruns").as_uri())
    project = {PROJECT_PATH_TAG: in_process.as_posix()}
    here = stale_runs.process_tags()
    owners = {
        "gone": {**here, stale_runs.PID_TAG: str(_dead_pid())},
        "alive": here,
        "elsewhere": {**here, stale_runs.HOST_TAG: "another-host"},
        "other tool": {},
    }
    return {
        name: client.create_run(experiment, tags={**project, **tags}).info.run_id
        for name, tags in owners.items()
    }


def test_stale_lists_only_runs_whose_process_is_gone(in_process, owned_runs):
    code, output = invoke(in_process, "runs", "--stale")
    assert code == 0, output
    assert owned_runs["gone"] in output
    assert owned_runs["alive"] not in output
    assert owned_runs["other tool"] not in output
    assert "--close-stale" in output


def test_runs_without_a_flag_lists_every_run_the_plugin_opened(in_process, owned_runs):
    code, output = invoke(in_process, "runs")
    assert code == 0, output
    for name in ("gone", "alive", "elsewhere"):
        assert owned_runs[name] in output
    assert "another host" in output
    assert owned_runs["other tool"] not in output


def test_close_stale_ends_them_failed_and_leaves_the_others_running(in_process, owned_runs):
    code, output = invoke(in_process, "runs", "--close-stale")
    assert code == 0, output
    assert f"Ended run {owned_runs['gone']} FAILED." in output
    client = mlflow.MlflowClient(store_uri(in_process))
    status = {name: client.get_run(run_id).info.status for name, run_id in owned_runs.items()}
    assert status == {
        "gone": "FAILED",
        "alive": "RUNNING",
        "elsewhere": "RUNNING",
        "other tool": "RUNNING",
    }
    assert "kedro_mlflow.closed_stale" in client.get_run(owned_runs["gone"]).data.tags
    assert invoke(in_process, "runs", "--stale")[1].startswith("No stale RUNNING run")


def test_a_recycled_pid_is_not_taken_for_the_runs_process():
    """Same pid, another start time: the run's process is gone."""
    assert stale_runs.process_alive(os.getpid(), stale_runs.process_start(os.getpid()))
    assert not stale_runs.process_alive(os.getpid(), "1")


def test_an_unreachable_server_fails_naming_it(in_process):
    (in_process / "conf" / "local" / "mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: http://me:s3cret@127.0.0.1:9\n  request_timeout: 2\n"
    )
    code, output = invoke(in_process, "runs", "--stale")
    assert code != 0
    assert "http://me:***@127.0.0.1:9" in output
    assert "s3cret" not in output
