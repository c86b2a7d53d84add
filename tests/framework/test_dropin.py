"""What kedro-mlflow 2.0.3's users rely on, through public paths only.

Real ``kedro new`` projects run with ``kedro run`` (subprocess) or a ``KedroSession`` in this
process (what notebooks do), the ``kedro`` CLI, and the MLflow store read back with
``MlflowClient``. The expected behaviours were established by running kedro-mlflow 2.0.3
with Kedro 1.7 and MLflow 3.17: each test says what broke for its users.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro import __version__ as kedro_version
from kedro.framework.session import KedroSession
from mlflow.entities import Run

from tests.helpers import (
    ALL_ARTIFACTS,
    CATALOG,
    OMEGACONF_DEPRECATION,
    PACKAGE,
    all_runs,
    artifacts,
    clean_environ,
    csv,
    kedro,
    store_uri,
    write,
)

pytestmark = OMEGACONF_DEPRECATION

REPO = Path(__file__).resolve().parents[2]
PARENT_TAG = "mlflow.parentRunId"

# -- a project whose nodes use MLflow themselves -------------------------------------------

#: Appended to the test project's nodes: what users' nodes do with MLflow.
MLFLOW_NODES = '''

import mlflow


def _require_running(run_ids):
    """Fail the node unless every run is RUNNING: the kedro run must outlive its children."""
    client = mlflow.MlflowClient()
    for run_id in run_ids:
        if not run_id:
            raise RuntimeError("a nested run has no parent run (mlflow.parentRunId)")
        status = client.get_run(run_id).info.status
        if status != "RUNNING":
            raise RuntimeError(f"the run {run_id} is {status} while its pipeline runs")


def tune(raw: pd.DataFrame, model: dict) -> dict:
    """A hyper-parameter search: one nested run per candidate, the best in the kedro run."""
    client = mlflow.MlflowClient()
    children = []
    for lr in (0.01, 0.1):
        with mlflow.start_run(nested=True) as child:
            mlflow.log_param("lr", lr)
            mlflow.log_metric("score", lr * 10)
        children.append(child.info.run_id)
    mlflow.log_metric("best_lr", 0.1)
    parents = sorted(
        {client.get_run(child).data.tags.get("mlflow.parentRunId") or "" for child in children}
    )
    _require_running(parents)
    return {"children": children, "parents": parents}


def after_tuning(raw: pd.DataFrame, tuning: dict) -> pd.DataFrame:
    _require_running(tuning["parents"])
    return raw.describe()


def start_unnested(raw: pd.DataFrame) -> pd.DataFrame:
    with mlflow.start_run():
        mlflow.log_param("unnested", 1)
    return raw


def fail_in_child(raw: pd.DataFrame) -> pd.DataFrame:
    mlflow.start_run(nested=True)
    mlflow.log_param("candidate", 1)
    raise RuntimeError("the search failed on purpose")
'''

MLFLOW_PIPELINE_REGISTRY = '''
"""The test project's pipelines, and pipelines whose nodes use MLflow."""

from kedro.pipeline import Pipeline, node

from tracked_project.nodes import (
    after_tuning, explode, fail_in_child, make_raw, report, start_unnested, summarize, tune,
)


def register_pipelines() -> dict[str, Pipeline]:
    data = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(report, "raw", "stats_csv", name="report"),
    ])
    model = Pipeline([node(summarize, ["raw", "params:model"], "summary", name="summarize")])
    raw = node(make_raw, "params:n", "raw", name="make_raw")
    return {
        "__default__": data + model,
        "data": data,
        "model": model,
        "failing": Pipeline([raw, node(explode, "raw", "never_csv", name="explode")]),
        "tuning": Pipeline([
            raw,
            node(tune, ["raw", "params:model"], "tuning", name="tune"),
            node(after_tuning, ["raw", "tuning"], "stats_csv", name="after_tuning"),
        ]),
        "unnested": Pipeline([raw, node(start_unnested, "raw", "never_csv", name="unnested")]),
        "failing_child": Pipeline([raw, node(fail_in_child, "raw", "never_csv", name="fail")]),
    }
'''

TUNING_CATALOG = """
tuning:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/tuning.pkl
  artifact_path: models
"""

TUNING_ARTIFACTS = ["models/tuning.pkl", "raw.csv", "reporting/stats.csv"]
KEDRO_RUN_PARAMS = {"n": "5", "model": "{'lr': 0.1, 'depth': 3}"}


@pytest.fixture
def mlflow_project(project: Path) -> Path:
    """The test project with nodes that open nested runs, fail in them, or misuse them."""
    nodes = project / "src" / PACKAGE / "nodes.py"
    nodes.write_text(nodes.read_text() + MLFLOW_NODES)
    write(project / "src" / PACKAGE / "pipeline_registry.py", MLFLOW_PIPELINE_REGISTRY)
    write(project / "conf" / "base" / "catalog.yml", CATALOG + TUNING_CATALOG)
    return project


def top_level_runs(runs: list[Run]) -> list[Run]:
    return [run for run in runs if PARENT_TAG not in run.data.tags]


def children_of(parent: Run, runs: list[Run]) -> list[Run]:
    return [run for run in runs if run.data.tags.get(PARENT_TAG) == parent.info.run_id]


def flat(output: str) -> str:
    """Rich wraps long lines: compare with whitespace collapsed."""
    return " ".join(output.split())


# -- nested runs from nodes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        pytest.param([], {}, id="sequential"),
        pytest.param(["--runner", "ThreadRunner"], {}, id="thread"),
        pytest.param(
            ["--runner", "ParallelRunner"], {"KEDRO_MP_CONTEXT": "fork"}, id="parallel-fork"
        ),
        pytest.param(
            ["--runner", "ParallelRunner"], {"KEDRO_MP_CONTEXT": "spawn"}, id="parallel-spawn"
        ),
        pytest.param(["--async"], {}, id="async"),
    ],
)  # fmt: skip
def test_nested_runs_of_a_node_are_children_of_the_kedro_run(mlflow_project, args, extra_env):
    """The exported MLFLOW_RUN_ID made `mlflow.start_run(nested=True)` resume the kedro run
    itself: the child's params landed in it, it was ended mid-pipeline (the next node saw it
    FINISHED) and later saves went to a stray run. With 2.0.3 they were child runs."""
    kedro(mlflow_project, "run", "--pipelines", "tuning", *args, **extra_env)

    uri = store_uri(mlflow_project)
    runs = all_runs(uri)
    (parent,) = top_level_runs(runs)
    children = children_of(parent, runs)
    assert len(runs) == 3, [(run.info.run_name, run.data.tags) for run in runs]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "tuning"
    assert artifacts(parent.info.run_id, tracking_uri=uri) == TUNING_ARTIFACTS
    assert parent.data.params == KEDRO_RUN_PARAMS
    assert parent.data.metrics == {"best_lr": 0.1}
    assert sorted(child.data.params["lr"] for child in children) == ["0.01", "0.1"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.info.experiment_id == parent.info.experiment_id
        assert set(child.data.metrics) == {"score"}
        assert artifacts(child.info.run_id, tracking_uri=uri) == []
    with (mlflow_project / "data" / "06_models" / "tuning.pkl").open("rb") as saved:
        assert pickle.load(saved)["parents"] == [parent.info.run_id]


@pytest.mark.parametrize(
    "args", [[], ["--runner", "ThreadRunner"]], ids=["sequential", "thread"]
)  # fmt: skip
def test_a_node_starting_a_run_without_nested_gets_mlflows_already_active_error(
    mlflow_project, args
):
    """In a ThreadRunner worker, `mlflow.start_run()` silently resumed the kedro run through
    MLFLOW_RUN_ID and ended it; 2.0.3 (and MLflow in a script) refuse: a run is active."""
    result = kedro(mlflow_project, "run", "--pipelines", "unnested", *args, check=False)

    assert result.returncode != 0
    runs = all_runs(store_uri(mlflow_project))
    (parent,) = top_level_runs(runs)
    assert f"Run with UUID {parent.info.run_id} is already active" in flat(
        result.stdout + result.stderr
    )
    assert "To start a nested run, call start_run with nested=True" in flat(
        result.stdout + result.stderr
    )
    assert parent.info.status == "FAILED"
    assert "unnested" not in parent.data.params
    assert len(runs) == 1


@pytest.mark.parametrize("runner", ["SequentialRunner", "ThreadRunner"])
def test_a_node_failing_inside_a_nested_run_leaves_no_run_open(mlflow_project, in_process, runner):
    """The child run the failing node left open stayed RUNNING (active in the process, or
    orphaned in a finished worker thread), and the notebook's next `session.run()` nested its
    run under it. 2.0.3 ends both FAILED."""
    from kedro.runner import SequentialRunner, ThreadRunner

    runner_class = {"SequentialRunner": SequentialRunner, "ThreadRunner": ThreadRunner}[runner]
    with (
        pytest.raises(RuntimeError, match="search failed on purpose"),
        KedroSession.create(project_path=in_process) as session,
    ):
        session.run(pipeline_names=["failing_child"], runner=runner_class())

    uri = store_uri(in_process)
    runs = all_runs(uri)
    (parent,) = top_level_runs(runs)
    children = children_of(parent, runs)
    assert len(children) == 1, "the node's nested run is not a child run of the kedro run"
    (child,) = children
    assert parent.info.status == "FAILED"
    assert child.info.status == "FAILED"
    assert child.data.params == {"candidate": "1"}
    assert "candidate" not in parent.data.params
    assert mlflow.active_run() is None

    # The notebook goes on: the next kedro run is a run of its own, not a child.
    with KedroSession.create(project_path=in_process) as session:
        session.run(pipeline_names=["data"])
    earlier = {parent.info.run_id, child.info.run_id}
    (new,) = [run for run in all_runs(uri) if run.info.run_id not in earlier]
    assert PARENT_TAG not in new.data.tags
    assert new.info.status == "FINISHED"
    assert artifacts(new.info.run_id, tracking_uri=uri) == ["raw.csv", "reporting/stats.csv"]


# -- notebooks and scripts: KedroSession.load_context() --------------------------------------


def test_load_context_points_mlflow_at_the_projects_store_and_experiment(in_process):
    """`%load_ext kedro.ipython` / `%reload_kedro` call load_context(): with 2.0.3 the
    tracking and registry URIs and the experiment were set there, autologging configured.
    Ours set the tracking URI only: runs and saves of a notebook landed in whatever
    experiment was active before ("Default")."""
    from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS

    write(
        in_process / "conf" / "local" / "mlflow.yml",
        "server:\n  mlflow_registry_uri: sqlite:///registry.db\n",
    )
    saved_autolog = AUTOLOGGING_INTEGRATIONS.pop("mlflow", None)
    try:
        with KedroSession.create(project_path=in_process) as session:
            context = session.load_context()

            assert mlflow.get_tracking_uri() == store_uri(in_process)
            assert mlflow.get_registry_uri() == store_uri(in_process, "registry.db")
            assert AUTOLOGGING_INTEGRATIONS.get("mlflow", {}).get("disable") is True
            with mlflow.start_run() as run:
                mlflow.log_param("origin", "notebook")
            assert mlflow.get_experiment(run.info.experiment_id).name == PACKAGE
            assert run.info.artifact_uri.startswith((in_process / "mlruns").as_uri())

            context.catalog.save("raw", pd.DataFrame({"x": [1, 2]}))
            implicit = mlflow.active_run()
            assert implicit is not None
            assert implicit.info.experiment_id == run.info.experiment_id
            mlflow.end_run()
        uri = store_uri(in_process)
        assert {recorded.info.run_id for recorded in all_runs(uri)} == {
            run.info.run_id,
            implicit.info.run_id,
        }
        assert artifacts(implicit.info.run_id, tracking_uri=uri) == ["raw.csv"]

        # The next project of this process names no registry: its models go to its own
        # store, not to the registry the previous project set (process-wide in MLflow).
        write(in_process / "conf" / "local" / "mlflow.yml", "")
        with KedroSession.create(project_path=in_process) as session:
            session.load_context()
            assert mlflow.get_registry_uri() == store_uri(in_process)
            assert "MLFLOW_REGISTRY_URI" not in os.environ
    finally:
        if saved_autolog is not None:
            AUTOLOGGING_INTEGRATIONS["mlflow"] = saved_autolog


@pytest.mark.parametrize(
    ("mlflow_yml", "tracking_uri", "experiment"),
    [
        pytest.param("", "mlflow.db", PACKAGE, id="defaults"),
        pytest.param(
            "server:\n  mlflow_tracking_uri: sqlite:///stores/nb.db\n"
            "tracking:\n  experiment:\n    name: notebook_experiments\n",
            "stores/nb.db",
            "notebook_experiments",
            id="relative-uri",
        ),
    ],
)
def test_context_mlflow_holds_the_resolved_configuration(
    in_process, mlflow_yml, tracking_uri, experiment
):
    """2.0.3 documents `context.mlflow` for interactive use: its KedroMlflowConfig, with the
    tracking URI made absolute and the experiment name filled in with the package name.
    Ours set no `context.mlflow`."""
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig

    if mlflow_yml:
        write(in_process / "conf" / "local" / "mlflow.yml", mlflow_yml)
    (in_process / "stores").mkdir()
    with KedroSession.create(project_path=in_process) as session:
        context = session.load_context()

    assert isinstance(context.mlflow, KedroMlflowConfig)
    assert context.mlflow.server.mlflow_tracking_uri == store_uri(in_process, tracking_uri)
    assert context.mlflow.tracking.experiment.name == experiment
    assert context.mlflow.ui.port == "5000"


def test_context_mlflow_server_mlflow_client_is_a_client_of_the_project_store(in_process):
    """2.x code reads `context.mlflow.server._mlflow_client` (an MlflowClient on the project's
    tracking URI) in notebooks and hooks; ours had no such attribute. It is made at first read,
    so that loading a context imports no mlflow for it."""
    with KedroSession.create(project_path=in_process) as session:
        context = session.load_context()
    client = context.mlflow.server._mlflow_client
    assert client is context.mlflow.server._mlflow_client  # one client, reused
    assert client.tracking_uri == store_uri(in_process, "mlflow.db")
    experiment_id = client.create_experiment("made_by_2x_code")
    assert mlflow.MlflowClient(store_uri(in_process, "mlflow.db")).get_experiment(experiment_id)

    probe = (
        "import sys; from kedro.framework.session import KedroSession;"
        "from kedro.framework.startup import bootstrap_project;"
        f"bootstrap_project({str(in_process)!r});"
        f"ctx = KedroSession.create(project_path={str(in_process)!r}).load_context();"
        "print('mlflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        env=clean_environ(), cwd=in_process,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_a_relative_mlflow_tracking_uri_variable_resolves_from_the_project_root(project):
    """Like a relative `mlflow_tracking_uri` in mlflow.yml; ours used it as given, relative
    to the working directory (`kedro run` from notebooks/ could not open the database)."""
    (project / "stores").mkdir()
    kedro(
        project, "run", "--pipelines", "data", cwd=project / "notebooks",
        MLFLOW_TRACKING_URI="sqlite:///stores/from_env.db",
    )  # fmt: skip

    uri = store_uri(project, "stores/from_env.db")
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    assert artifacts(run.info.run_id, tracking_uri=uri) == ["raw.csv", "reporting/stats.csv"]
    assert not (project / "notebooks" / "stores").exists()
    assert not (project / "mlflow.db").exists()


# -- settings and names users already have --------------------------------------------------


def test_km_random_name_resolver_names_the_run(project):
    """2.0.3's template suggests `name: ${km.random_name:}`; ours failed on the unknown
    resolver. 2.0.3 gives MLflow's own random names: adjective-noun-number."""
    write(
        project / "conf" / "local" / "mlflow.yml",
        "tracking:\n  run:\n    name: ${km.random_name:}\n",
    )
    kedro(project, "run", "--pipelines", "data")

    (run,) = all_runs(store_uri(project))
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", run.info.run_name), run.info.run_name
    assert run.info.status == "FINISHED"


#: Tags of 2.0.3 that are not run_params entries.
UPSTREAM_EXTRA_TAGS = {"kedro_command"}


def upstream_named_tags(run: Run) -> dict[str, str]:
    """The run's tags except MLflow's own and our namespaced ones."""
    return {
        key: value
        for key, value in run.data.tags.items()
        if not key.startswith(("mlflow.", "kedro_mlflow."))
    }


def test_run_tags_carry_upstreams_names_for_a_plain_session_run(in_process):
    """Saved searches and UI columns use 2.0.3's tags: one per non-empty entry of Kedro's
    `run_params` (Kedro 1.7 names the session id `run_id`) and `kedro_command`, built from
    the run's options. Ours had only namespaced tags (kedro_mlflow.session_id, ...)."""
    with KedroSession.create(project_path=in_process) as session:
        session_id = session.session_id
        session.run()

    (run,) = all_runs(store_uri(in_process))
    tags = upstream_named_tags(run)
    assert set(tags) == {"run_id", "project_path", "kedro_version", "runner", "kedro_command"}
    assert tags["run_id"] == session_id
    assert tags["project_path"] == in_process.as_posix()
    assert tags["kedro_version"] == kedro_version
    assert "SequentialRunner" in tags["runner"]
    assert tags["kedro_command"] == "kedro run --pipeline=__default__"


def test_run_tags_carry_upstreams_names_and_values_for_kedro_run_options(project):
    """`kedro_command` is 2.0.3's: filters and pipelines in its own `--option=a,b` form."""
    kedro(
        project, "run", "--pipelines", "data", "--nodes", "make_raw,report", "--env", "local",
        "--params", "n=3", "--runner", "ThreadRunner",
    )  # fmt: skip

    (run,) = all_runs(store_uri(project))
    tags = upstream_named_tags(run)
    assert set(tags) == {
        "run_id", "project_path", "env", "kedro_version", "node_names", "runtime_params",
        "pipeline_names", "runner", "kedro_command",
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z", tags["run_id"])
    assert tags["project_path"] == project.as_posix()
    assert tags["env"] == "local"
    assert tags["kedro_version"] == kedro_version
    assert tags["node_names"] == "('make_raw', 'report')"
    assert tags["runtime_params"] == "{'n': 3}"
    assert tags["pipeline_names"] == "['data']"
    assert "ThreadRunner" in tags["runner"]
    assert tags["kedro_command"] == "kedro run --node=make_raw,report --pipeline=data"


UPSTREAM_IMPORTS = [
    ("kedro_mlflow.config.kedro_mlflow_config", "KedroMlflowConfig"),
    ("kedro_mlflow.framework.hooks.mlflow_hook", "MlflowHook"),
    ("kedro_mlflow.framework.hooks.mlflow_hook", "mlflow_hook"),
    ("kedro_mlflow.framework.hooks", "MlflowHook"),
    ("kedro_mlflow.framework.hooks", "mlflow_hook"),
    ("kedro_mlflow.framework.cli.cli", "commands"),
    ("kedro_mlflow.io.artifacts", "MlflowArtifactDataset"),
]


@pytest.mark.parametrize(
    ("module", "name"), UPSTREAM_IMPORTS, ids=[f"{m}.{n}" for m, n in UPSTREAM_IMPORTS]
)
def test_upstreams_import_paths_work(module, name):
    """Projects' settings.py, tests and tools import these from 2.0.3's modules."""
    assert getattr(importlib.import_module(module), name) is not None


def test_one_hook_and_one_command_group_whatever_the_import_path():
    """The entry points and 2.0.3's paths give the same objects: two hook instances would
    open two runs, a second `commands` group would not be the one Kedro runs."""
    from kedro_mlflow.framework.cli.cli import commands
    from kedro_mlflow.framework.hooks import mlflow_hook as package_hook
    from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook, mlflow_hook

    entry_points = importlib.metadata.distribution("kedro-mlflow").entry_points
    (hook_entry,) = [ep for ep in entry_points if ep.group == "kedro.hooks"]
    (cli_entry,) = [ep for ep in entry_points if ep.group == "kedro.project_commands"]
    assert hook_entry.load() is mlflow_hook
    assert package_hook is mlflow_hook
    assert isinstance(mlflow_hook, MlflowHook)
    assert cli_entry.load() is commands
    assert set(commands.commands["mlflow"].commands) >= {"init", "ui"}


# -- the kedro mlflow CLI --------------------------------------------------------------------


def test_init_silent_and_idempotent(project):
    """Scripts run `kedro mlflow init -s` on every checkout. 2.0.3 prints nothing with
    --silent, and a second `init` without --force keeps the file and exits 0 saying so; ours
    had no --silent and exited 1."""
    target = project / "conf" / "local" / "mlflow.yml"

    first = kedro(project, "mlflow", "init", "--silent")
    assert target.is_file()
    assert "mlflow.yml" not in first.stdout + first.stderr
    target.write_text(target.read_text() + "# my edit\n")
    edited = target.read_text()

    again = kedro(project, "mlflow", "init", "-s")
    assert target.read_text() == edited

    verbose = kedro(project, "mlflow", "init")
    assert target.read_text() == edited
    said = flat(verbose.stdout + verbose.stderr)
    assert "already exists" in said
    assert "--force" in said
    assert again.returncode == verbose.returncode == 0


def test_ui_help_lists_upstreams_short_flags(project):
    result = kedro(project, "mlflow", "ui", "--help")
    for flags in ("-e, --env", "-p, --port", "-h, --host"):
        assert flags in result.stdout


@pytest.mark.parametrize("flag", ["-p", "-h", "-e"])
def test_ui_short_flags_are_options_taking_a_value(project, flag):
    """Parsed without starting a server: `-h` must be the host (Kedro's CLI makes it
    --help elsewhere), `-p` the port; ours had no -p and no -h (`-h` printed the help)."""
    result = kedro(project, "mlflow", "ui", flag, check=False)
    assert result.returncode == 2
    assert f"Option '{flag}' requires an argument" in result.stdout + result.stderr


# -- a kedro-mlflow 2.x metric dataset given what is not a number ----------------------------


def test_kedro_run_saving_a_table_into_a_metric_dataset_fails_naming_it(project):
    """2.0.3 passed the value to MLflow, which failed with an error naming neither."""
    write(
        project / "conf" / "base" / "catalog.yml",
        CATALOG + "\nstats_csv:\n  type: kedro_mlflow.io.metrics.MlflowMetricDataset\n",
    )
    result = kedro(project, "run", "--pipelines", "data", check=False)

    assert result.returncode != 0
    said = flat(result.stdout + result.stderr)
    assert "MlflowMetricDataset 'stats_csv'" in said
    assert "must be a number (int or float), got DataFrame" in said
    (run,) = all_runs(store_uri(project))
    assert run.info.status == "FAILED"


# -- docs/migrating.md: an old `mlruns/` file store ------------------------------------------

_WRITE_UPSTREAM_STORE = """
import sys, tempfile, pathlib, mlflow
project, experiment = pathlib.Path(sys.argv[1]), sys.argv[2]
mlflow.set_tracking_uri((project / "mlruns").as_uri())
mlflow.set_experiment(experiment)
with tempfile.TemporaryDirectory() as folder, mlflow.start_run(run_name="__default__") as run:
    raw = pathlib.Path(folder) / "raw.csv"
    raw.write_text("x\\n7\\n8\\n")
    mlflow.log_artifact(str(raw))
print(run.info.run_id)
"""


def upstream_file_store(project: Path) -> str:
    """What `kedro run` with 2.0.3 left: a `mlruns/` file store, the package's experiment,
    a run with `raw.csv`. Returns the run id."""
    result = subprocess.run(
        [sys.executable, "-c", _WRITE_UPSTREAM_STORE, str(project), PACKAGE],
        env=clean_environ(MLFLOW_ALLOW_FILE_STORE="true"),
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def documented_command(prefix: str) -> list[str]:
    """The shell command of docs/migrating.md starting with ``prefix``, as argv."""
    doc = (REPO / "docs" / "migrating.md").read_text(encoding="utf-8")
    (line,) = [line.strip() for line in doc.splitlines() if line.strip().startswith(prefix)]
    return shlex.split(line)


def test_migrating_an_old_file_store_into_the_default_sqlite_store(project):
    """docs/migrating.md: `mlflow migrate-filestore` once, then old runs load by run_id and
    new runs go into the same experiment of the default store."""
    old_run_id = upstream_file_store(project)
    command = documented_command("mlflow migrate-filestore")
    subprocess.run(
        [sys.executable, "-m", "mlflow", *command[1:]],
        cwd=project, env=clean_environ(), capture_output=True, text=True, timeout=180,
        check=True,
    )  # fmt: skip

    kedro(project, "run")

    uri = store_uri(project)
    runs = {run.info.run_id: run for run in all_runs(uri)}
    assert old_run_id in runs
    (new_run_id,) = set(runs) - {old_run_id}
    assert runs[new_run_id].info.experiment_id == runs[old_run_id].info.experiment_id
    assert artifacts(new_run_id, tracking_uri=uri) == ALL_ARTIFACTS
    mlflow.set_tracking_uri(uri)
    old = csv(project / "elsewhere" / "raw.csv", run_id=old_run_id)
    assert old.load()["x"].tolist() == [7, 8]


def test_keeping_an_old_file_store(project, monkeypatch):
    """docs/migrating.md: `mlflow_tracking_uri: mlruns` and MLFLOW_ALLOW_FILE_STORE=true."""
    old_run_id = upstream_file_store(project)
    doc = (REPO / "docs" / "migrating.md").read_text(encoding="utf-8")
    assert "mlflow_tracking_uri: mlruns" in doc
    assert "MLFLOW_ALLOW_FILE_STORE=true" in doc
    write(project / "conf" / "local" / "mlflow.yml", "server:\n  mlflow_tracking_uri: mlruns\n")

    kedro(project, "run", MLFLOW_ALLOW_FILE_STORE="true")

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (project / "mlruns").as_uri()
    runs = {run.info.run_id: run for run in all_runs(uri)}
    (new_run_id,) = set(runs) - {old_run_id}
    assert runs[new_run_id].info.experiment_id == runs[old_run_id].info.experiment_id
    assert artifacts(new_run_id, tracking_uri=uri) == ALL_ARTIFACTS
    assert not (project / "mlflow.db").exists()
