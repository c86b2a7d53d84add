"""`kedro mlflow modelify` logs a registered pipeline as a model that predicts, and says why
when it cannot."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from tests.helpers import kedro, store_uri
from tests.pipeline.test_pipeline_ml_model import load_model, ml_project, only_run

RAW = pd.DataFrame({"x": [1.0, 2.0, 3.0]})


def test_modelify_logs_a_model_of_no_run_and_prints_its_uri(project):
    ml_project(project)
    kedro(project, "run")  # trains: data/06_models/fitted.pkl
    run = only_run(project)
    result = kedro(
        project, "mlflow", "modelify", "--pipeline", "inference", "--input-name", "raw",
        "--infer-signature", "--infer-input-example", "--copy-mode", "{fitted: assign}",
    )  # fmt: skip
    # Its lines end stdout (Kedro's start-up line may come first; its logs go to stderr),
    # the last one is the model's URI: `$(kedro mlflow modelify ... | tail -n1)`.
    lines = result.stdout.strip().splitlines()[-3:]
    assert lines[0] == "Logged pipeline 'inference' as model 'model-inference' (no run)."
    model_id = lines[1].removeprefix("Model id: ")
    assert lines[2] == f"models:/{model_id}"

    client = mlflow.MlflowClient(store_uri(project))
    model = client.get_logged_model(model_id)
    assert model.name == "model-inference"
    assert model.source_run_id is None
    assert model.experiment_id == run.info.experiment_id  # the project's experiment
    assert model.tags["kedro.pipeline"] == "inference"
    assert "kedro.run_id" not in model.tags
    assert "kedro.git_commit" not in model.tags  # the project is not a git repository
    # The run has only the model its PipelineML logged, not this one.
    [own] = only_run(project).outputs.model_outputs
    assert own.model_id != model_id

    loaded = load_model(project, lines[-1])
    # slope 4 trained by the run, factor 2.0 of parameters.yml, overridable per prediction.
    assert loaded.predict(RAW)["y"].tolist() == [8.0, 16.0, 24.0]
    assert loaded.predict(RAW, params={"factor": 1.0})["y"].tolist() == [4.0, 8.0, 12.0]
    assert loaded.metadata.get_input_schema().input_names() == ["x"]
    assert loaded.metadata.load_input_example(
        mlflow.artifacts.download_artifacts(lines[-1])
    ).to_dict("list") == {"x": [0.0]}


def test_modelify_into_a_run_registers_the_model(project):
    ml_project(project)
    kedro(project, "run")
    run_id = only_run(project).info.run_id
    (project / "extra-requirements.txt").write_text("kedro-mlflow-extra-test-pkg==1.0\n")
    (project / "helpers.py").write_text("ANSWER = 42\n")
    result = kedro(
        project, "mlflow", "modelify", "-p", "inference", "-i", "raw",
        "--model-name", "scorer", "--run-id", run_id, "--registered-model-name", "scoring",
        "--await-registration-for", "30", "--code-paths", "helpers.py",
        "--extra-pip-requirements", "extra-requirements.txt",
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()[-4:]
    assert lines[0] == f"Logged pipeline 'inference' as model 'scorer' (run '{run_id}')."
    assert lines[1] == "Registered as 'scoring' version 1."
    client = mlflow.MlflowClient(store_uri(project))
    model = client.get_logged_model(lines[-1].removeprefix("models:/"))
    assert model.source_run_id == run_id
    assert model.tags["kedro.run_id"] == run_id
    assert client.get_model_version("scoring", "1").source == f"models:/{model.model_id}"
    # log_model's own arguments, passed through.
    mlflow.set_tracking_uri(store_uri(project))
    files = Path(mlflow.artifacts.download_artifacts(lines[-1], dst_path=str(project / "got")))
    assert "kedro-mlflow-extra-test-pkg==1.0" in (files / "requirements.txt").read_text()
    assert (files / "code" / "helpers.py").read_text() == "ANSWER = 42\n"
    # No --infer-signature: no signature, hence no params to override (as in 2.x).
    loaded = load_model(project, "models:/scoring/1")
    assert loaded.metadata.signature is None
    assert loaded.predict(RAW)["y"].tolist() == [8.0, 16.0, 24.0]


def test_modelify_refuses_what_it_cannot_package_and_names_the_fix(project):
    ml_project(project)

    def refused(*args: str) -> str:
        result = kedro(project, "mlflow", "modelify", *args, check=False)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr, result.stderr
        return " ".join(result.stderr.split())

    message = refused("-p", "inference", "-i", "rows")
    assert "'rows' is not an input of pipeline 'inference'; its inputs: fitted, raw." in message
    message = refused("-p", "scoring", "-i", "raw")
    assert "'scoring' is not a pipeline of the project's registry; its pipelines: " in message
    assert "__default__, inference." in message
    # Not trained yet: the model's artifact is not there.
    message = refused("-p", "inference", "-i", "raw")
    assert "'fitted' is persisted in the catalog but does not exist yet" in message
    kedro(project, "run")
    message = refused("-p", "inference", "-i", "raw", "--run-id", "0123456789abcdef")
    assert "Could not find run '0123456789abcdef' on tracking URI" in message
    message = refused("-p", "inference", "-i", "raw", "--copy-mode", "{fitted: move}")
    assert "copy_mode ['move'] is not one of 'assign', 'copy', 'deepcopy'" in message
    assert len(only_run(project).outputs.model_outputs) == 1  # only the PipelineML run's own
