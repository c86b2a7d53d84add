"""`kedro run` of a PipelineML logs its inference pipeline as a model that predicts, serves
and registers; a run that could not package it fails before its first node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.helpers import (
    CATALOG,
    PACKAGE,
    all_runs,
    clean_environ,
    free_port,
    kedro,
    store_uri,
    wait_for_http,
    write,
)

ML_NODES = '''
"""Training fits a slope; inference scales the input's x by it and by params:factor."""

import pandas as pd


def make_raw(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)]})


def fit(raw: pd.DataFrame, fail: bool) -> dict:
    if fail:
        raise RuntimeError("training failed on purpose")
    return {"slope": float(raw["x"].max())}


def predict(fitted: dict, raw: pd.DataFrame, factor: float) -> pd.DataFrame:
    return pd.DataFrame({"y": raw["x"] * fitted["slope"] * factor})
'''

REGISTRY = """
from kedro.pipeline import Pipeline, node

from kedro_mlflow.pipeline import pipeline_ml_factory
from tracked_project.ml_nodes import fit, make_raw, predict


def register_pipelines() -> dict[str, Pipeline]:
    training = Pipeline([
        node(make_raw, "params:n", "raw", name="make_raw"),
        node(fit, ["raw", "params:fail"], "fitted", name="fit"),
    ])
    inference = Pipeline([
        node(predict, ["fitted", "raw", "params:factor"], "predictions", name="predict")
    ])
    ml = pipeline_ml_factory(
        training, inference, input_name="raw", log_model_kwargs=LOG_MODEL_KWARGS
    )
    return {"__default__": ml, "inference": inference}
"""

FITTED = """
fitted:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/06_models/fitted.pkl
"""

PREDICTIONS = """
predictions:
  type: pandas.CSVDataset
  filepath: data/07_model_output/predictions.csv
"""

PARAMETERS = "n: 5\nfail: false\nfactor: 2.0\n"


def ml_project(project: Path, log_model_kwargs: dict | None = None, catalog: str = FITTED) -> Path:
    write(project / "src" / PACKAGE / "ml_nodes.py", ML_NODES)
    registry = REGISTRY.replace("LOG_MODEL_KWARGS", repr(log_model_kwargs or {}))
    write(project / "src" / PACKAGE / "pipeline_registry.py", registry)
    write(project / "conf" / "base" / "catalog.yml", CATALOG + catalog)
    write(project / "conf" / "base" / "parameters.yml", PARAMETERS)
    return project


def logged_models(project: Path, run_id: str) -> list:
    client = mlflow.MlflowClient(store_uri(project))
    run = client.get_run(run_id)
    return client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )


def load_model(project: Path, uri: str):
    """The model, loaded as a user of the project does: its package importable."""
    mlflow.set_tracking_uri(store_uri(project))
    sys.path.insert(0, str(project / "src"))
    try:
        return mlflow.pyfunc.load_model(uri)
    finally:
        sys.path.remove(str(project / "src"))


def only_run(project: Path):
    runs = all_runs(store_uri(project))
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def git_commit_all(project: Path) -> str:
    """The project as a git repository of one commit; its id."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    )
    return head.stdout.strip()


def test_a_kedro_run_logs_the_inference_pipeline_as_a_model_that_predicts(project):
    ml_project(project)
    commit = git_commit_all(project)
    kedro(project, "run")
    run = only_run(project)
    assert run.info.status == "FINISHED"
    [model] = logged_models(project, run.info.run_id)
    assert model.name == "model"
    # Where it came from, on the model's page.
    assert model.tags["kedro.run_id"] == run.info.run_id
    assert model.tags["kedro.pipeline"] == "__default__"
    assert model.tags["kedro.git_commit"] == commit
    digests = {k: v for k, v in model.params.items() if k.startswith("artifact.")}
    assert set(digests) == {"artifact.fitted.sha256", "artifact.params:factor.sha256"}
    assert all(len(value) == 64 for value in digests.values())

    loaded = load_model(project, f"models:/{model.model_id}")
    raw = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    # slope = max of the training data (0..4) = 4, factor 2.0 from parameters.yml.
    assert loaded.predict(raw)["y"].tolist() == [8.0, 16.0, 24.0]
    # Parameters are the signature's params, overridable for one prediction; and runner.
    params = {p.name: p.default for p in loaded.metadata.get_params_schema().params}
    assert params == {"factor": 2.0, "runner": "SequentialRunner"}
    assert loaded.predict(raw, params={"factor": 1.0})["y"].tolist() == [4.0, 8.0, 12.0]
    assert loaded.predict(raw)["y"].tolist() == [8.0, 16.0, 24.0]
    assert loaded.predict(raw, params={"runner": "ThreadRunner"})["y"].tolist() == [8.0, 16.0, 24.0]
    # The signature is inferred from input_name's data.
    assert [c.name for c in loaded.metadata.get_input_schema().inputs] == ["x"]


@pytest.mark.parametrize("runner", ["ThreadRunner", "ParallelRunner"])
def test_thread_and_parallel_runners_log_the_same_model(project, runner):
    ml_project(project)
    kedro(project, "run", "--runner", runner)
    run = only_run(project)
    assert run.info.status == "FINISHED"
    [model] = logged_models(project, run.info.run_id)
    assert set(model.params) >= {"artifact.fitted.sha256", "artifact.params:factor.sha256"}
    loaded = load_model(project, f"models:/{model.model_id}")
    assert loaded.predict(pd.DataFrame({"x": [1.0]}))["y"].tolist() == [8.0]


def test_a_failed_run_logs_no_model(project):
    ml_project(project)
    result = kedro(project, "run", "--params", "fail=true", check=False)
    assert result.returncode != 0
    assert "training failed on purpose" in result.stdout + result.stderr
    run = only_run(project)
    assert run.info.status == "FAILED"
    assert logged_models(project, run.info.run_id) == []


def _refused_before_the_first_node(project: Path, *args: str) -> str:
    result = kedro(project, "run", *args, check=False)
    output = " ".join((result.stdout + result.stderr).split())  # rich wraps lines
    assert result.returncode != 0, output[-2000:]
    assert "stops before its first node" in output, output[-3000:]
    assert not (project / "data" / "01_raw" / "raw.csv").exists()
    assert all_runs(store_uri(project)) == []
    return output


def test_an_artifact_the_runner_releases_fails_the_run_before_its_first_node(project):
    """2.0.3 finds out at the end of the run, after the training; here nothing runs."""
    ml_project(project, catalog="")
    registry = (project / "src" / PACKAGE / "pipeline_registry.py").read_text()
    write(
        project / "src" / PACKAGE / "pipeline_registry.py",
        registry.replace(
            'name="fit"),',
            'name="fit"),\n        node(lambda f: f, "fitted", "fitted_copy", name="copy"),',
        ),
    )
    output = _refused_before_the_first_node(project)
    assert "'fitted' is a memory dataset that the runner releases" in output


def test_a_persisted_artifact_this_run_does_not_make_and_that_is_missing_fails_first(project):
    ml_project(project)
    output = _refused_before_the_first_node(project, "--nodes", "make_raw")
    assert "'fitted' is persisted in the catalog but does not exist" in output
    # Once it exists, a run that does not make it packages the one the catalog reads.
    kedro(project, "run")
    kedro(project, "run", "--nodes", "make_raw")
    first, second = sorted(all_runs(store_uri(project)), key=lambda r: r.info.start_time)
    [trained] = logged_models(project, first.info.run_id)
    [packaged] = logged_models(project, second.info.run_id)
    key = "artifact.fitted.sha256"
    assert packaged.params[key] == trained.params[key]
    assert load_model(project, f"models:/{packaged.model_id}").predict(pd.DataFrame({"x": [1.0]}))[
        "y"
    ].tolist() == [8.0]


def test_registered_model_name_and_alias_make_the_run_models_x_at_challenger(project):
    ml_project(project, {"registered_model_name": "slope", "alias": "challenger"})
    cache = project / "cache"
    kedro(project, "run", KEDRO_MLFLOW_CACHE_DIR=str(cache))
    # MLflow inferred the requirements once (a subprocess, seconds); the next run reuses them.
    assert len(list((cache / ".requirements").glob("*.txt"))) == 1
    kedro(project, "run", "--params", "n=11", KEDRO_MLFLOW_CACHE_DIR=str(cache))
    client = mlflow.MlflowClient(store_uri(project))
    version = client.get_model_version_by_alias("slope", "challenger")
    assert str(version.version) == "2"
    mlflow.set_tracking_uri(store_uri(project))
    requirements = [
        Path(
            mlflow.artifacts.download_artifacts(
                f"models:/slope/{n}/requirements.txt",
                dst_path=str(project / f"r{n}"),
            )
        ).read_text()
        for n in (1, 2)
    ]
    assert requirements[0] == requirements[1]
    assert "mlflow" in requirements[0]
    loaded = load_model(project, "models:/slope@challenger")
    assert loaded.predict(pd.DataFrame({"x": [1.0]}))["y"].tolist() == [20.0]


def test_the_logged_model_serves_what_kedro_run_of_the_inference_pipeline_gives(project):
    ml_project(project, catalog=FITTED + PREDICTIONS)
    kedro(project, "run")
    [model] = logged_models(project, only_run(project).info.run_id)
    data = pd.DataFrame({"x": [0.5, 1.5, 7.0]})
    # What Kedro gives: the inference pipeline run on the same input, with the run's artifacts.
    data.to_csv(project / "data" / "01_raw" / "raw.csv", index=False)
    kedro(project, "run", "--pipeline", "inference")
    expected = pd.read_csv(project / "data" / "07_model_output" / "predictions.csv")["y"]
    port = free_port()
    log = project / "serve.log"
    env = clean_environ(
        MLFLOW_TRACKING_URI=store_uri(project),
        PYTHONPATH=os.pathsep.join([str(project / "src"), *sys.path]),
        # The server runs uvicorn of this environment.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "models", "serve",
                "-m", f"models:/{model.model_id}", "--env-manager", "local",
                "-h", "127.0.0.1", "-p", str(port),
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=project,
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, log, timeout=120)
        body = json.dumps({"dataframe_split": data.to_dict(orient="split")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    predictions = [row["y"] for row in served["predictions"]]
    assert predictions == expected.tolist() == [4.0, 12.0, 56.0]
