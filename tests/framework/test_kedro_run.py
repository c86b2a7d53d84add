"""`kedro run` of real `kedro new` projects in subprocesses; the MLflow store checked afterwards."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from tests.helpers import (
    ALL_ARTIFACTS,
    PACKAGE,
    all_runs,
    artifacts,
    kedro,
    store_uri,
    write,
)


@pytest.mark.parametrize(
    ("args", "extra_env", "runner"),
    [
        pytest.param([], {}, "SequentialRunner", id="sequential"),
        pytest.param(["--runner", "ThreadRunner"], {}, "ThreadRunner", id="thread"),
        pytest.param(
            ["--runner", "ParallelRunner"], {"KEDRO_MP_CONTEXT": "fork"}, "ParallelRunner",
            id="parallel-fork",
        ),
        pytest.param(
            ["--runner", "ParallelRunner"], {"KEDRO_MP_CONTEXT": "spawn"}, "ParallelRunner",
            id="parallel-spawn",
        ),
        pytest.param(["--async"], {}, "SequentialRunner", id="async"),
    ],
)  # fmt: skip
def test_every_runner_logs_every_dataset_into_one_run(project, args, extra_env, runner):
    """Worker threads and processes have no active run: they find it through the environment.

    Run from a sub-folder: the embedded store is still the project root's.
    """
    kedro(project, "run", *args, cwd=project / "notebooks", **extra_env)

    uri = store_uri(project)
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "__default__"
    assert artifacts(run.info.run_id, tracking_uri=uri) == ALL_ARTIFACTS
    assert run.info.artifact_uri.startswith((project / "mlruns").as_uri())
    experiment = mlflow.MlflowClient(uri).get_experiment(run.info.experiment_id)
    assert experiment.name == PACKAGE
    tags = run.data.tags
    assert tags["kedro_mlflow.pipeline"] == "__default__"
    assert tags["kedro_mlflow.env"] == "local"
    assert tags["kedro_mlflow.runner"] == runner
    assert tags["kedro_mlflow.command"] == " ".join(["kedro", "run", *args])
    assert tags["kedro_mlflow.session_id"]
    assert run.data.params == {"n": "5", "model": "{'lr': 0.1, 'depth': 3}"}
    assert not (project / "notebooks" / "mlflow.db").exists()
    assert not (project / "notebooks" / "mlruns").exists()
    assert (project / "data" / "08_reporting" / "stats.csv").is_file()


def test_failing_node_ends_the_run_failed_keeping_what_was_saved(project):
    result = kedro(project, "run", "--pipelines", "failing", check=False)

    assert result.returncode != 0
    assert "the node failed on purpose" in result.stdout + result.stderr
    uri = store_uri(project)
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
    assert run.info.run_name == "failing"
    assert artifacts(run.info.run_id, tracking_uri=uri) == ["raw.csv"]


def test_disabled_pipeline_opens_no_run_and_writes_local_files_only(project):
    """Factory-pattern datasets (stats_csv) included; the store is not even created."""
    write(
        project / "conf" / "base" / "mlflow.yml",
        """
        tracking:
          disable_tracking:
            pipelines: [data]
        """,
    )
    kedro(project, "run", "--pipelines", "data")

    assert (project / "data" / "01_raw" / "raw.csv").is_file()
    assert (project / "data" / "08_reporting" / "stats.csv").is_file()
    assert not (project / "mlflow.db").exists()
    assert not (project / "mlruns").exists()


def test_env_override_and_relative_paths_resolve_from_the_project_root(project):
    """conf/<env> replaces top-level keys of conf/base (Kedro's default merge)."""
    write(
        project / "conf" / "base" / "mlflow.yml",
        """
        server:
          mlflow_tracking_uri: sqlite:///base.db
        tracking:
          experiment:
            name: from_base
            create_experiment_kwargs:
              artifact_location: base-artifacts
          run:
            name: nightly
        """,
    )
    write(
        project / "conf" / "staging" / "mlflow.yml",
        """
        server:
          mlflow_tracking_uri: sqlite:///stores/staging.db
        """,
    )
    (project / "stores").mkdir()
    kedro(project, "run", "--env", "staging", "--pipelines", "data", cwd=project / "notebooks")

    uri = store_uri(project, "stores/staging.db")
    (run,) = all_runs(uri)
    assert run.info.run_name == "nightly"
    assert run.data.tags["kedro_mlflow.env"] == "staging"
    experiment = mlflow.MlflowClient(uri).get_experiment(run.info.experiment_id)
    assert experiment.name == "from_base"
    assert experiment.artifact_location == (project / "base-artifacts").as_uri()
    assert (project / "base-artifacts" / run.info.run_id / "artifacts" / "raw.csv").is_file()
    assert artifacts(run.info.run_id, tracking_uri=uri) == ["raw.csv", "reporting/stats.csv"]
    assert not (project / "base.db").exists()
    assert not (project / "mlflow.db").exists()
    assert not (project / "notebooks" / "stores").exists()


def test_an_orchestrator_running_nodes_separately_gets_one_run(project):
    """MLFLOW_RUN_ID for the first `kedro run --nodes`, tracking.run.id for the second."""
    uri = store_uri(project)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(
        "orchestrated", artifact_location=(project / "mlruns").as_uri()
    )
    run_id = client.create_run(experiment_id, run_name="dag-42").info.run_id

    kedro(project, "run", "--nodes", "make_raw", MLFLOW_RUN_ID=run_id)
    assert client.get_run(run_id).info.status == "FINISHED"
    write(project / "conf" / "local" / "mlflow.yml", f"tracking:\n  run:\n    id: {run_id}\n")
    kedro(project, "run", "--nodes", "report,summarize")

    (run,) = all_runs(uri)
    assert run.info.run_id == run_id
    assert run.info.run_name == "dag-42"
    assert run.info.status == "FINISHED"
    assert artifacts(run_id, tracking_uri=uri) == ALL_ARTIFACTS
    assert run.data.params == {"n": "5", "model": "{'lr': 0.1, 'depth': 3}"}


def test_a_typo_in_mlflow_yml_fails_naming_the_key_and_file_writing_nothing(project):
    write(
        project / "conf" / "local" / "mlflow.yml",
        """
        tracking:
          experimet:
            name: typo
        """,
    )
    result = kedro(project, "run", check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "'tracking.experimet' in conf/local/mlflow.yml" in output
    assert "did you mean 'experiment'?" in output
    assert not (project / "mlflow.db").exists()
    assert not (project / "mlruns").exists()
    assert not (project / "data" / "01_raw" / "raw.csv").exists()


@pytest.mark.parametrize("name", ["kedro-mlflow", "kedro_mlflow"])
def test_disable_hooks_for_plugins_disables_the_hook_in_either_spelling(project, name):
    """2.0.3's hook ignored `("kedro-mlflow",)`, the name its docs give; `("kedro_mlflow",)`,
    its wheel's name, is what disabled it, and what ours first ignored.

    The hook would fail on the typo; disabled, it never reads mlflow.yml.
    """
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + f"\nDISABLE_HOOKS_FOR_PLUGINS = ({name!r},)\n")
    write(project / "conf" / "local" / "mlflow.yml", "tracking:\n  experimet: {}\n")

    kedro(project, "run", "--pipelines", "data", KEDRO_MLFLOW_DISABLE_TRACKING="1")

    assert (project / "data" / "01_raw" / "raw.csv").is_file()
    assert not (project / "mlflow.db").exists()


_IMPORT_PROBE = """
import sys
from kedro.framework.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
loaded = [name for name in ("kedro_mlflow.framework.cli", "kedro_mlflow.framework.hooks")
          if name in sys.modules]
heavy = [name for name in ("mlflow", "pandas", "pydantic") if name in sys.modules]
print("LOADED", loaded, "HEAVY", heavy)
"""


@pytest.mark.parametrize("args", [["--help"], ["info"], ["mlflow", "--help"]], ids=" ".join)
def test_kedro_cli_commands_do_not_import_mlflow(project, args):
    import subprocess
    import sys

    from tests.helpers import clean_environ

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *args],
        cwd=project, env=clean_environ(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    line = result.stdout.strip().splitlines()[-1]
    assert "kedro_mlflow.framework.cli" in line
    assert "mlflow'" not in line.split("HEAVY")[1]
    assert "pandas" not in line.split("HEAVY")[1]


def test_loading_the_hook_module_imports_no_heavy_module(tmp_path: Path):
    import subprocess
    import sys

    probe = (
        "import sys, kedro_mlflow.framework.hooks, kedro_mlflow.framework.cli,"
        " kedro_mlflow.io.artifacts;"
        "print([m for m in ('mlflow', 'pandas', 'pydantic', 'omegaconf',"
        " 'kedro_mlflow.config.kedro_mlflow_config') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
