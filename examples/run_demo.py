"""``make demo``: run the example project twice and show what each run logged in MLflow.

1. ``kedro run`` generates a synthetic dataset and trains a model; every dataset the
   pipeline saves is logged as an artifact of that run, and its inference pipeline as a
   registered model.
2. ``kedro run --pipeline score_previous --params previous_run_id=<run 1>`` reads the
   model of run 1 back from MLflow (not from the local disk) and scores it on a new batch.

Then it prints the two run ids, each run's artifacts and models, the versions of the model
(``kedro mlflow versions regressor``) and how to open the MLflow UI.
Both runs log into the project's own store (``<project>/mlflow.db``, artifacts in
``<project>/mlruns``): ``MLFLOW_*`` variables of the calling shell are not passed on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXAMPLE_PROJECT = Path(__file__).resolve().parent / "spaceflights-mlflow"
SCORE_PIPELINE = "score_previous"
#: The dataset whose versions the demo lists at the end.
VERSIONED_DATASET = "regressor"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", type=Path, default=EXAMPLE_PROJECT, help="the Kedro project to run"
    )
    parser.add_argument("--verbose", action="store_true", help="show the log of each kedro run")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    tracking_uri = f"sqlite:///{(project / 'mlflow.db').as_posix()}"

    print(f"kedro-mlflow demo: two `kedro run`s of {_shown(project)}")
    print(f"MLflow tracking URI: {tracking_uri}\n")
    first = _kedro_run(project, tracking_uri, [], verbose=args.verbose)
    second = _kedro_run(
        project,
        tracking_uri,
        ["--pipeline", SCORE_PIPELINE, "--params", f"previous_run_id={first}"],
        verbose=args.verbose,
    )

    print()
    _describe_run("Run 1", first, tracking_uri, "trained the model; logged every dataset it saved")
    _describe_run(
        "Run 2",
        second,
        tracking_uri,
        f"loaded previous_regressor = artifact regressor.pkl of run {first}",
    )
    _compare_metrics(first, second, tracking_uri)
    _print_versions(project, VERSIONED_DATASET)
    _print_ui_command(project, tracking_uri)


def _kedro_run(project: Path, tracking_uri: str, arguments: list[str], *, verbose: bool) -> str:
    """Runs ``kedro run`` in ``project`` and returns the id of the MLflow run it logged into."""
    shown = " ".join(["kedro", "run", *arguments])
    print(f"$ {shown}", flush=True)
    started_ms = time.time_ns() // 1_000_000
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *arguments],
        cwd=project,
        env=_child_environment(),
        stdout=None if verbose else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if result.stdout:
            print(result.stdout[-6000:])
        raise SystemExit(f"`{shown}` failed (exit code {result.returncode}) in {project}.")
    run_id = _run_started_since(tracking_uri, started_ms, shown)
    print(f"  done in {time.perf_counter() - began:.1f} s, MLflow run {run_id}", flush=True)
    return run_id


def _child_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "KEDRO_MLFLOW_"))
    }
    environment["KEDRO_DISABLE_TELEMETRY"] = "1"
    environment["MPLBACKEND"] = "Agg"
    return environment


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient  # noqa: PLC0415  (slow import, after argument parsing)

    return MlflowClient(tracking_uri=tracking_uri)


def _run_started_since(tracking_uri: str, started_ms: int, shown: str) -> str:
    """The run a ``kedro run`` logged into: the newest run of any experiment started since.

    Found in the store rather than in kedro's log, so it holds whoever opened the run
    (kedro-mlflow's hook, or the dataset itself when no hook runs).
    """
    from mlflow.entities import ViewType  # noqa: PLC0415

    client = _client(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(
        experiments,
        filter_string=f"attributes.start_time >= {started_ms}",
        run_view_type=ViewType.ALL,
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise SystemExit(f"`{shown}` succeeded but logged no MLflow run into {tracking_uri}.")
    if len(runs) > 1:
        ids = ", ".join(run.info.run_id for run in runs)
        print(f"  note: `{shown}` logged into {len(runs)} MLflow runs ({ids}); showing the newest")
    return str(runs[0].info.run_id)


def _artifacts(client: Any, run_id: str, path: str | None = None) -> Iterator[tuple[str, int]]:
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from _artifacts(client, run_id, info.path)
        else:
            yield info.path, info.file_size or 0


def _describe_run(title: str, run_id: str, tracking_uri: str, what: str) -> None:
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    artifacts = sorted(_artifacts(client, run_id))
    print(f"{title}: {run_id}  ({what})")
    print(
        f"  experiment '{experiment.name}', run name '{run.info.run_name}', "
        f"status {run.info.status}, {len(artifacts)} artifacts:"
    )
    width = max((len(path) for path, _ in artifacts), default=0)
    for path, size in artifacts:
        print(f"    {path:<{width}}  {_human_size(size):>9}")
    for output in run.outputs.model_outputs if run.outputs else []:
        model = client.get_logged_model(output.model_id)
        print(f"  model '{model.name}': models:/{model.model_id}")
        for metric in model.metrics or []:
            on = f" on dataset '{metric.dataset_name}'" if metric.dataset_name else ""
            print(f"    metric {metric.key} = {metric.value:.4f}{on}")
        for found in client.search_model_versions(f"run_id = '{run_id}'"):
            version = client.get_model_version(found.name, found.version)  # with its aliases
            if version.source != f"models:/{model.model_id}":
                continue
            aliases = "".join(f" (@{alias})" for alias in version.aliases)
            print(f"    registered as models:/{version.name}/{version.version}{aliases}")
    print()


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def _compare_metrics(first: str, second: str, tracking_uri: str) -> None:
    """Reads both runs' metrics back with the plugin's own dataset, by run id."""
    import mlflow  # noqa: PLC0415

    from kedro_mlflow.io.artifacts import MlflowArtifactDataset  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)

    def metrics(run_id: str, filename: str) -> dict[str, Any]:
        dataset = MlflowArtifactDataset(
            dataset={"type": "json.JSONDataset", "filepath": filename},
            artifact_path="reporting",
            run_id=run_id,
        )
        loaded: dict[str, Any] = dataset.load()
        return loaded

    trained = metrics(first, "metrics.json")
    scored = metrics(second, "new_batch_metrics.json")
    print(
        f"Model {trained['model_id']} (logged by run 1): R² {trained['r2']} on its test set, "
        f"R² {scored['r2']} on the new batch of run 2 (model {scored['model_id']})."
    )
    print()


def _print_versions(project: Path, dataset: str) -> None:
    """Runs ``kedro mlflow versions DATASET`` and prints what it printed (not Kedro's log)."""
    shown = f"kedro mlflow versions {dataset}"
    print(f"$ {shown}")
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "mlflow", "versions", dataset],
        cwd=project,
        env=_child_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Versions of")), None)
    if result.returncode != 0 or start is None:
        raise SystemExit(f"`{shown}` failed in {project}:\n{result.stdout}{result.stderr}")
    print("\n".join(lines[start:]))
    print()


def _print_ui_command(project: Path, tracking_uri: str) -> None:
    kedro = Path(sys.executable).parent / "kedro"
    if not kedro.exists():
        command = "kedro"
    elif _shown(kedro) != str(kedro) and _shown(project) != str(project):
        command = os.path.relpath(kedro, project)  # both inside the working directory
    else:
        command = str(kedro)
    mlflow = Path(sys.executable).parent / "mlflow"
    print("Open the MLflow UI (then http://127.0.0.1:5000):")
    print(f"  cd {_shown(project)} && {command} mlflow ui")
    print("or, with MLflow's own command:")
    print(f"  {_shown(mlflow)} ui --backend-store-uri {tracking_uri}")


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
