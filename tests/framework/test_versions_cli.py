"""Versions a user can see, check out and trust: real `kedro run`s, then the commands.

A module-scoped project holds two runs of the default pipeline (n=3, then n=5) in its
embedded sqlite store; commands run in this process through Kedro's CLI group, or as
subprocesses where stdout itself is what is checked. A second project logs to a real
`mlflow server`.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project

from kedro_mlflow.framework.cli import commands
from tests.helpers import (
    OMEGACONF_DEPRECATION,
    PACKAGE,
    all_runs,
    artifacts,
    clean_environ,
    dataset_records,
    kedro,
    store_uri,
    write,
)

pytestmark = OMEGACONF_DEPRECATION


@dataclass(frozen=True)
class History:
    """A project and the two runs its `kedro run`s made, oldest first."""

    project: Path
    old: str
    new: str
    output: str  # what the second `kedro run` printed


@pytest.fixture(scope="module")
def history(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    project = Path(shutil.copytree(project_template, tmp_path_factory.mktemp("history") / "p"))
    kedro(project, "run", "--params", "n=3")
    second = kedro(project, "run")
    old, new = sorted(all_runs(store_uri(project)), key=lambda run: run.info.start_time)
    return History(project, old.info.run_id, new.info.run_id, second.stdout + second.stderr)


@pytest.fixture
def cli(history: History) -> Iterator[CliRunner]:
    """`kedro mlflow ...` in this process, as Kedro's CLI calls it; the project undone after."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield CliRunner()
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        if name == PACKAGE or name.startswith(f"{PACKAGE}."):
            del sys.modules[name]


def invoke(runner: CliRunner, project: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(commands, ["mlflow", *args], obj=bootstrap_project(project))
    return result.exit_code, result.output


def listing(output: str) -> list[str]:
    """The lines of `kedro mlflow versions` from its title (log lines of Kedro before it)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("Versions of", "No run")))
    return lines[start:]


def _artifact_file(project: Path, run_id: str, artifact: str) -> Path:
    uri = mlflow.MlflowClient(store_uri(project)).get_run(run_id).info.artifact_uri
    return Path(uri.removeprefix("file://")) / artifact


# -- see ----------------------------------------------------------------------------------


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_kedro_run_ends_by_naming_its_run_experiment_artifacts_and_link(history):
    """At Kedro's default logging level; the link opens under `kedro mlflow ui`."""
    line = re.search(
        rf"MLflow run '{history.new}' of experiment '{PACKAGE}' FINISHED: 3 artifacts logged\.",
        history.output,
    )
    assert line, history.output
    assert re.search(
        rf"See it with `kedro mlflow ui`, at http://127\.0\.0\.1:5000/#/experiments/\d+/runs/"
        rf"{history.new}",
        history.output,
    )
    assert f"MLflow run '{history.new}' on 'sqlite:///" in history.output  # at the start


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_versions_lists_the_runs_that_logged_a_dataset_newest_first(history, cli):
    """`stats_csv` comes from the factory pattern `{name}_csv`."""
    code, output = invoke(cli, history.project, "versions", "stats_csv")
    assert code == 0, output
    lines = listing(output)
    assert lines[0].startswith(
        "Versions of 'stats_csv' (artifact 'reporting/stats.csv') in experiment "
        f"'{PACKAGE}' on sqlite:///"
    )
    assert lines[1].split() == [
        "START", "(UTC)", "RUN", "ID", "RUN", "NAME", "STATUS", "ARTIFACT", "PATH", "SIZE",
        "SHA256",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert [row[2] for row in rows] == [history.new, history.old]
    records = dataset_records(history.new, tracking_uri=store_uri(history.project))
    sha256, size = (
        records["reporting/stats.csv"]["sha256"],
        str(records["reporting/stats.csv"]["size"]),
    )
    assert rows[0][3:] == ["__default__", "FINISHED", "reporting/stats.csv", size, "B",
                           sha256[:12]]  # fmt: skip

    code, output = invoke(cli, history.project, "versions", "raw", "--limit", "1")
    assert code == 0, output
    assert history.new in output
    assert history.old not in output
    assert "(the newest 1; --limit 0 lists them all)" in output


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_versions_json_prints_a_json_list_and_nothing_else(history, tmp_path):
    """stdout is the JSON list; Kedro's own log lines go to stderr while the command runs."""
    logging_config = write(
        tmp_path / "logging.yml",
        """
        version: 1
        disable_existing_loggers: False
        handlers:
          stderr: {class: logging.StreamHandler, stream: ext://sys.stderr}
        root: {handlers: [stderr], level: INFO}
        """,
    )
    result = kedro(
        history.project, "mlflow", "versions", "summary", "--json",
        KEDRO_LOGGING_CONFIG=str(logging_config),
    )  # fmt: skip
    listed = json.loads(result.stdout)
    assert [item["run_id"] for item in listed] == [history.new, history.old]
    assert set(listed[0]) == {
        "run_id", "run_name", "status", "start_time", "experiment_id", "artifact_path", "size",
        "files", "sha256", "dataset",
    }  # fmt: skip
    assert listed[0]["artifact_path"] == "models/summary.pkl"
    assert listed[0]["dataset"] == "summary"
    assert len(listed[0]["sha256"]) == 64

    # Kedro's default (rich) logging writes to stdout, and Kedro logs its first line before any
    # plugin is loaded (it polluted stdout): the whole stdout is the JSON, the line on stderr.
    default = kedro(history.project, "mlflow", "versions", "summary", "--json")
    assert json.loads(default.stdout) == listed
    assert "logging configuration" in default.stderr


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_versions_json_from_the_kedro_script_is_json_alone(history):
    """The `kedro` console script (not `python -m kedro`) keeps stdout for the JSON too; without
    --json the table and Kedro's log lines share stdout as they always did."""
    script = str(Path(sys.executable).with_name("kedro"))
    result = subprocess.run(
        [script, "mlflow", "versions", "summary", "--json"], cwd=history.project,
        env=clean_environ(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert [item["run_id"] for item in json.loads(result.stdout)] == [history.new, history.old]
    table = subprocess.run(
        [script, "mlflow", "versions", "summary"], cwd=history.project,
        env=clean_environ(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "logging configuration" in table.stdout
    assert history.new in table.stdout


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_versions_verify_says_which_stored_versions_were_modified(history, cli):
    """`--verify` marks each version ok or modified and fails naming the run and the file."""
    stored = _artifact_file(history.project, history.old, "raw.csv")
    original = stored.read_bytes()
    stored.write_text("x\n42\n")
    try:
        code, output = invoke(cli, history.project, "versions", "raw", "--verify")
    finally:
        stored.write_bytes(original)
    assert code != 0
    rows = {line.split()[2]: line.split()[-1] for line in listing(output)[2:4]}
    assert rows == {history.new: "ok", history.old: "modified"}
    assert "1 of 2 version(s) of 'raw' do not match what their run recorded" in output
    assert f"{history.old}: modified: raw.csv: sha256" in output


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_versions_of_a_name_not_in_the_catalog_lists_what_is(history, cli):
    """An unknown name lists the MlflowArtifactDatasets and patterns; another type is named."""
    code, output = invoke(cli, history.project, "versions", "nope")
    assert code != 0
    assert "'nope' is not in the catalog" in output
    assert "raw, summary, {name}_csv" in output

    code, output = invoke(cli, history.project, "versions", "params:n")
    assert code != 0
    assert "MemoryDataset" in output
    assert "not a kedro_mlflow.io.artifacts.MlflowArtifactDataset" in output


# -- check out ----------------------------------------------------------------------------


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_pull_restores_a_version_and_keeps_a_hand_edited_file(history, cli):
    """A logged local version is replaced, verified; a hand edit is kept, unless --force."""
    raw = history.project / "data" / "01_raw" / "raw.csv"
    code, output = invoke(cli, history.project, "pull", "raw", "--run-id", history.old)
    assert code == 0, output
    assert f"raw: wrote data/01_raw/raw.csv (run {history.old}, sha256 verified)" in output
    assert raw.read_bytes() == _artifact_file(history.project, history.old, "raw.csv").read_bytes()

    raw.write_text("x\nedited by hand\n")
    code, output = invoke(cli, history.project, "pull", "raw", "--run-id", history.new)
    assert code != 0
    assert f"kept '{raw}'" in output
    assert "--force" in output
    assert raw.read_text() == "x\nedited by hand\n"

    code, output = invoke(cli, history.project, "pull", "raw", "--run-id", history.new, "--force")
    assert code == 0, output
    assert raw.read_bytes() == _artifact_file(history.project, history.new, "raw.csv").read_bytes()


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_pull_all_restores_every_dataset_of_a_run(history, cli):
    """Factory-pattern datasets too: their names were recorded by the run's saves."""
    code, output = invoke(cli, history.project, "pull", "--all", "--run-id", history.old)
    assert code == 0, output
    for name, path, artifact in [
        ("raw", "data/01_raw/raw.csv", "raw.csv"),
        ("stats_csv", "data/08_reporting/stats.csv", "reporting/stats.csv"),
        ("summary", "data/06_models/summary.pkl", "models/summary.pkl"),
    ]:
        assert f"{name}: " in output and path in output, output
        stored = _artifact_file(history.project, history.old, artifact)
        assert (history.project / path).read_bytes() == stored.read_bytes()
    code, output = invoke(cli, history.project, "pull", "--all", "--run-id", history.new)
    assert code == 0, output

    code, output = invoke(cli, history.project, "pull", "--run-id", history.new)
    assert code != 0
    assert "Give either a DATASET or --all" in output


@pytest.mark.xdist_group("versions-history")  # history is made once
def test_load_versions_reads_one_dataset_of_a_run_for_this_run_only(history):
    """`kedro run --load-versions raw:RUN_ID`: Kedro's own flag; saves go to the new run."""
    kedro(history.project, "run", "--load-versions", f"raw:{history.old}")
    uri = store_uri(history.project)
    newest = max(all_runs(uri), key=lambda run: run.info.start_time)
    run_id = newest.info.run_id
    assert run_id not in {history.old, history.new}
    assert artifacts(run_id, tracking_uri=uri) == [
        "models/summary.pkl", "raw.csv", "reporting/stats.csv"
    ]  # fmt: skip
    client = mlflow.MlflowClient(uri)
    # Its own save of raw (n=5) is logged in the new run...
    new_raw = dataset_records(history.new, tracking_uri=uri)["raw.csv"]["sha256"]
    assert dataset_records(run_id, tracking_uri=uri)["raw.csv"]["sha256"] == new_raw
    # ...while its nodes read raw as the old run logged it (n=3: 0 + 1 + 2).
    summary = pickle.loads(
        _artifact_file(history.project, run_id, "models/summary.pkl").read_bytes()
    )
    assert summary["total"] == 3
    (recorded,) = dataset_records(run_id, "read", tracking_uri=uri).values()
    assert recorded["name"] == "raw"
    assert recorded["source"] == f"runs:/{history.old}/raw.csv"
    old_raw = dataset_records(history.old, tracking_uri=uri)["raw.csv"]["sha256"]
    assert recorded["digest"] == old_raw[:36]
    assert recorded["sha256"] == old_raw
    assert client.get_run(run_id).data.tags == newest.data.tags


# -- a real mlflow server -------------------------------------------------------------------


@pytest.mark.server
def test_versions_pull_cache_and_link_against_a_server(project, mlflow_server, request):
    """The run's page on the server; versions, a verified pull through the download cache."""
    write(
        project / "conf" / "local" / "mlflow.yml",
        f"""
        server:
          mlflow_tracking_uri: {mlflow_server}
        tracking:
          experiment:
            name: versions-{request.node.name}
          cache_max_bytes: 1MiB
        """,
    )
    result = kedro(project, "run", "--pipelines", "data")
    link = re.search(
        rf"See it at {re.escape(mlflow_server)}/#/experiments/(\d+)/runs/([0-9a-f]{{32}})",
        result.stdout,
    )
    assert link, result.stdout
    run_id = link[2]
    runner = CliRunner()
    try:
        code, output = invoke(runner, project, "versions", "raw", "--verify")
        assert code == 0, output
        assert run_id in output
        assert listing(output)[2].split()[-1] == "ok"

        raw = project / "data" / "01_raw" / "raw.csv"
        logged = raw.read_bytes()
        raw.unlink()
        code, output = invoke(runner, project, "pull", "raw", "--run-id", run_id)
        assert code == 0, output
        assert raw.read_bytes() == logged

        code, output = invoke(runner, project, "cache")
        assert code == 0, output
        assert "1 entry" in output
        assert "cap 1.0 MiB" in output
        assert run_id in output
        code, output = invoke(runner, project, "cache", "clear")
        assert code == 0, output
        assert "Removed 1 entry" in output
        code, output = invoke(runner, project, "cache")
        assert "0 entries, 0 B" in output
    finally:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


# -- an experiment of 1,000 runs ------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["records", "legacy-tags"])
def test_versions_of_1000_runs_is_one_search_not_a_scan(project, mocker, legacy):
    """MLflow filters on the records' names (and the legacy digest tag): one `search_runs`
    call per format, no run fetched one by one; runs of the earlier format are listed too.

    The runs are created as `benchmarks/versions_1000.py` creates them (its time is in
    benchmarks/RESULTS.md).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import versions_1000
    finally:
        sys.path.pop(0)
    # In memory where there is one; a folder of its own (tmp names repeat across workers).
    fast = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else project))
    database = fast / "versions.db"
    uri = f"sqlite:///{database}"
    write(
        project / "conf" / "local" / "mlflow.yml",
        f"server:\n  mlflow_tracking_uri: {uri}\ntracking:\n  experiment:\n"
        f"    name: versions_bench\n",
    )
    runner = CliRunner()
    try:
        versions_1000.create_runs(
            uri, (project / "mlruns").as_uri(), 1000, finished=False, legacy=legacy
        )
        search = mocker.spy(mlflow.MlflowClient, "search_runs")
        get_run = mocker.spy(mlflow.MlflowClient, "get_run")
        code, output = invoke(runner, project, "versions", "raw", "--json", "--limit", "0")
    finally:
        shutil.rmtree(fast, ignore_errors=True)
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
    assert code == 0, output[-3000:]
    listed = json.loads("[" + output.split("\n[", 1)[1])
    assert len(listed) == 1000
    times = [item["start_time"] for item in listed]
    assert times == sorted(times, reverse=True)
    assert listed[0]["sha256"] == versions_1000.digest(999)
    assert search.call_count == 2
    assert get_run.call_count == 0
