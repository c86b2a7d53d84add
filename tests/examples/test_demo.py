"""``examples/run_demo.py`` (what ``make demo`` runs) on a copy of the example project."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import artifacts

#: The tests share the module's demo run: on one xdist worker, it runs once.
pytestmark = pytest.mark.xdist_group("demo")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "spaceflights-mlflow"
RUN_DEMO = REPO / "examples" / "run_demo.py"

TRAINING_ARTIFACTS = {
    "companies.csv",
    "shuttles.csv",
    "preprocessed_companies.parquet",
    "preprocessed_shuttles.parquet",
    "model_input_table.parquet",
    "train_set.parquet",
    "test_set.parquet",
    "regressor.pkl",
    "test_predictions.csv",
    "reporting/metrics.json",
    "reporting/coefficients.csv",
    "reporting/predictions.png",
}
SCORING_ARTIFACTS = {
    "new_batch_predictions.csv",
    "reporting/new_batch_metrics.json",
    "reporting/new_batch_predictions.png",
}


@dataclass(frozen=True)
class Demo:
    project: Path
    files_before: set[Path]
    outputs: list[str]  # one per invocation of the demo


def _files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo run twice (as a second ``make demo`` would) in a fresh copy of the project."""
    project = tmp_path_factory.mktemp("demo") / EXAMPLE.name
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns("data", "mlflow.db", "mlruns", "__pycache__", "*.egg-info"),
    )
    files_before = _files(project)
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, str(RUN_DEMO), "--project", str(project)],
            cwd=project.parent,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
    return Demo(project, files_before, outputs)


def _uri(project: Path) -> str:
    return f"sqlite:///{project / 'mlflow.db'}"


def _client(project: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=_uri(project))


def _run_ids(output: str) -> tuple[str, str]:
    first = re.search(r"^Run 1: ([0-9a-f]{32})", output, re.MULTILINE)
    second = re.search(r"^Run 2: ([0-9a-f]{32})", output, re.MULTILINE)
    assert first and second, output
    return first[1], second[1]


def test_each_demo_logs_two_new_runs(demo: Demo) -> None:
    from mlflow.entities import ViewType

    client = _client(demo.project)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(experiments, order_by=["attributes.start_time ASC"])
    printed = [run_id for output in demo.outputs for run_id in _run_ids(output)]
    assert [run.info.run_id for run in runs] == printed
    assert {run.info.status for run in runs} == {"FINISHED"}


@pytest.mark.parametrize("invocation", [0, 1], ids=["first-demo", "second-demo"])
def test_first_run_logs_every_dataset_it_saved(demo: Demo, invocation: int) -> None:
    first, _ = _run_ids(demo.outputs[invocation])
    logged = set(artifacts(first, tracking_uri=_uri(demo.project)))
    partitions = {path for path in logged if path.startswith("predictions_by_location/")}
    assert logged - partitions == TRAINING_ARTIFACTS
    assert partitions
    assert all(path.endswith(".csv") for path in partitions)
    # The metric dataset `r2` logged the evaluation's R² as a metric of the run.
    client = _client(demo.project)
    with tempfile.TemporaryDirectory() as scratch:
        evaluation = json.loads(
            Path(client.download_artifacts(first, "reporting/metrics.json", scratch)).read_text()
        )
    assert client.get_run(first).data.metrics["r2"] == pytest.approx(evaluation["r2"])
    # The model dataset `price_model` logged a LoggedModel; `test_r2`, computed by a node that
    # reads it and test_set, is on the model's page with the dataset it was measured on.
    run = client.get_run(first)
    [price_model] = [
        model
        for output in run.outputs.model_outputs
        if (model := client.get_logged_model(output.model_id)).name == "price_model"
    ]
    [test_set] = [d.dataset for d in run.inputs.dataset_inputs if d.dataset.name == "test_set"]
    [(key, value, name, digest)] = [
        (m.key, m.value, m.dataset_name, m.dataset_digest) for m in price_model.metrics
    ]
    assert (key, name, digest) == ("test_r2", "test_set", test_set.digest)
    assert value == pytest.approx(evaluation["r2"], abs=1e-3)
    assert f"metric test_r2 = {value:.4f} on dataset 'test_set'" in demo.outputs[invocation]


@pytest.mark.parametrize("invocation", [0, 1], ids=["first-demo", "second-demo"])
def test_second_run_scores_the_model_of_the_first(
    demo: Demo, invocation: int, tmp_path: Path
) -> None:
    first, second = _run_ids(demo.outputs[invocation])
    client = _client(demo.project)
    assert set(artifacts(second, tracking_uri=_uri(demo.project))) == SCORING_ARTIFACTS
    model_file = client.download_artifacts(first, "regressor.pkl", str(tmp_path))
    model = pickle.loads(Path(model_file).read_bytes())
    metrics_file = client.download_artifacts(
        second, "reporting/new_batch_metrics.json", str(tmp_path)
    )
    assert json.loads(Path(metrics_file).read_text())["model_id"] == model["model_id"]
    # Read from the MLflow run: the catalog's local path was neither read nor written.
    assert not (demo.project / "data" / "06_models" / "previous").exists()


def test_each_training_run_registers_its_inference_pipeline_that_predicts_as_kedro_did(
    demo: Demo,
) -> None:
    import mlflow
    import pandas as pd

    for invocation, output in enumerate(demo.outputs, start=1):
        assert f"registered as models:/spaceflights-pipeline/{invocation} (@challenger)" in output
    first, _ = _run_ids(demo.outputs[1])
    client = _client(demo.project)
    models = {
        client.get_logged_model(output.model_id).name: output.model_id
        for output in client.get_run(first).outputs.model_outputs
    }
    assert set(models) == {"model", "price_model"}
    version = client.get_model_version_by_alias("spaceflights-pipeline", "challenger")
    assert version.source == f"models:/{models['model']}"
    # Loaded as a user of the project does, its package importable: it predicts what the
    # training run's own predict node wrote.
    mlflow.set_tracking_uri(_uri(demo.project))
    sys.path.insert(0, str(demo.project / "src"))
    try:
        model = mlflow.pyfunc.load_model("models:/spaceflights-pipeline@challenger")
    finally:
        sys.path.remove(str(demo.project / "src"))
    test_set = pd.read_parquet(demo.project / "data" / "05_model_input" / "test_set.parquet")
    expected = pd.read_csv(demo.project / "data" / "07_model_output" / "test_predictions.csv")
    assert model.predict(test_set)["predicted"].tolist() == expected["predicted"].tolist()


def test_each_demo_trains_a_new_model(demo: Demo) -> None:
    model_ids = [
        re.search(r"^Model ([0-9a-f]{32})", output, re.MULTILINE) for output in demo.outputs
    ]
    assert all(model_ids), demo.outputs
    assert len({match[1] for match in model_ids if match}) == 2


def test_demo_prints_the_ui_command(demo: Demo) -> None:
    assert f"cd {demo.project.name} && " in demo.outputs[0]
    assert "kedro mlflow ui" in demo.outputs[0]


def test_demo_writes_only_files_git_ignores(demo: Demo) -> None:
    git = shutil.which("git")
    inside = (
        git
        and subprocess.run(
            [git, "-C", str(REPO), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not git or not inside:
        pytest.skip("needs git and a clone of the repository")
    new = sorted(
        (EXAMPLE.relative_to(REPO) / path).as_posix()
        for path in _files(demo.project) - demo.files_before
    )
    assert new
    ignored = subprocess.run(
        [git, "-C", str(REPO), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(new),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert set(new) - set(ignored) == set()


def test_demo_lists_the_versions_of_the_model(demo: Demo) -> None:
    """`kedro mlflow versions regressor`: one version per demo, newest first."""
    trained = [_run_ids(output)[0] for output in demo.outputs]
    listing = demo.outputs[1].split("$ kedro mlflow versions regressor\n", 1)[1]
    lines = listing.splitlines()
    assert lines[0].startswith("Versions of 'regressor' (artifact 'regressor.pkl')")
    assert [line.split()[2] for line in lines[2:4]] == trained[::-1]
