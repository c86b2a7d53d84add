"""`kedro mlflow versions` on an experiment of 1,000 runs, timed as a whole process.

Creates a Kedro project (`kedro new`) in a temporary folder whose catalog has one
MlflowArtifactDataset (`raw`), then 1,000 finished runs in its sqlite store with
MlflowClient, each holding the tags a `kedro run` leaves (session, pipeline, runner, ...) and
the dataset records of three saved datasets, `raw` among them; and the same with 10 runs. It
then times `kedro mlflow versions raw` (the newest 20 listed) on both stores and prints one
line: the median of 3 runs of the command, each a fresh process, on each store, their ratio
(the cost must not grow with the runs: at most 1.2), and the median time of the search of
all 1,000 versions itself (``find_versions``, in one process once mlflow is imported).

    .venv/bin/python benchmarks/versions_1000.py [--runs 1000] [--repeat 3]

The store lives in /dev/shm when there is one, only to create the runs quickly (sqlite syncs
each of the 2,000 commits to disk otherwise); the command reads it from the page cache either
way. ``make bench`` (workload 9) builds its project with these functions (the runs in /dev/shm,
then moved into the project) and times the same command against ``python -c "import mlflow"``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATALOG = """
raw:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/01_raw/raw.csv
"""
COMMAND = ("-m", "kedro", "mlflow", "versions", "raw")  # after the python
SHOWN = 20  # the versions it lists by default
FAST = "/dev/shm" if Path("/dev/shm").is_dir() else None  # where sqlite commits are quick


class VersionsError(RuntimeError):
    """The command failed or did not list every version."""


def environment() -> dict[str, str]:
    """This environment without MLflow/kedro-mlflow variables; no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "KEDRO_MLFLOW_"))}
    return env | {"KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


def make_project(root: Path) -> tuple[Path, str]:
    """A `kedro new` project whose catalog holds the dataset ``raw`` and whose experiment is
    ``versions_bench`` of its default store: (project, tracking URI of that store)."""
    subprocess.run(
        [sys.executable, "-m", "kedro", "new", "--name", "versions_bench", "--tools=none",
         "--example=n", "--telemetry=no"],
        cwd=root, env=environment(), check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    project = root / "versions-bench"
    (project / "conf" / "base" / "catalog.yml").write_text(CATALOG)
    (project / "conf" / "local" / "mlflow.yml").write_text(
        "tracking:\n  experiment:\n    name: versions_bench\n"
    )
    return project, f"sqlite:///{project / 'mlflow.db'}"


def digest(index: int) -> str:
    """The sha256 the ``index``-th run records for ``raw`` (distinct in their first 36 digits)."""
    return hashlib.sha256(str(index).encode()).hexdigest()


def create_runs(
    tracking_uri: str,
    artifact_location: str,
    count: int,
    *,
    finished: bool = True,
    legacy: bool = False,
) -> str:
    """``count`` runs that logged ``raw`` (and two other datasets), oldest first; the experiment.

    ``finished=False`` leaves them RUNNING: fewer commits. ``legacy``: the runs record their
    saves as the run tags of earlier versions, not as dataset records.
    """
    from mlflow import MlflowClient

    from kedro_mlflow.io.artifacts._records import Record, saved_input

    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("versions_bench", artifact_location=artifact_location)
    start = int(time.time() * 1000) - count * 60_000
    for index in range(count):
        tags = {
            "mlflow.runName": f"run-{index}",
            "kedro_mlflow.session_id": f"2026-01-01T00.{index // 60:02d}.{index % 60:02d}.000Z",
            "kedro_mlflow.pipeline": "__default__",
            "kedro_mlflow.env": "local",
            "kedro_mlflow.runner": "SequentialRunner",
            "kedro_mlflow.command": "kedro run",
        }
        saved = [
            ("raw.csv", "raw", digest(index), 1000 + index),
            ("models/model.pkl", "model", digest(index + 1), 52000),
            ("reporting/metrics.json", "metrics", digest(index + 2), 120),
        ]
        if legacy:  # the run tags of kedro-mlflow before dataset records
            for artifact, name, sha256, size in saved:
                tags[f"kedro_mlflow.sha256/{artifact}"] = f"{sha256} {size}"
                tags[f"kedro_mlflow.dataset/{artifact}"] = name
        run = client.create_run(experiment_id, start_time=start + index * 60_000, tags=tags)
        if not legacy:  # what a kedro run records: one dataset record per save
            records = [Record(a, sha256, size, dataset_name=n) for a, n, sha256, size in saved]
            client.log_inputs(run.info.run_id, [saved_input(run.info.run_id, r) for r in records])
        if finished:
            client.set_terminated(run.info.run_id, "FINISHED", end_time=start + index * 60_000 + 5)
    return str(experiment_id)


def time_versions(project: Path, repeat: int, expected: int) -> list[float]:
    """Wall times of ``kedro mlflow versions raw --limit 0``, each a fresh process."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *COMMAND],
            cwd=project, env=environment(), capture_output=True, text=True, timeout=600,
            check=False,
        )  # fmt: skip
        times.append(time.perf_counter() - began)
        rows = sum(1 for line in done.stdout.splitlines() if line.startswith("20"))
        if done.returncode != 0 or rows != expected:
            raise VersionsError(
                f"versions failed or listed {rows} rows:\n{done.stdout}{done.stderr}"
            )
    return times


def time_search(tracking_uri: str, experiment_id: str, repeat: int, expected: int) -> list[float]:
    """In this process, mlflow imported and the store open: the search alone."""
    import mlflow

    from kedro_mlflow.io.artifacts import find_versions

    mlflow.set_tracking_uri(tracking_uri)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        found = find_versions("raw.csv", name="raw", experiment_ids=[experiment_id])
        times.append(time.perf_counter() - began)
        if len(found) != expected:
            raise VersionsError(f"the search found {len(found)} versions, not {expected}")
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # this process creates runs and searches
    medians: dict[int, float] = {}
    for count in (10, args.runs):
        root = Path(tempfile.mkdtemp(prefix="kedro-mlflow-versions-bench-", dir=FAST))
        try:
            project, uri = make_project(root)
            began = time.perf_counter()
            experiment_id = create_runs(uri, (project / "mlruns").as_uri(), count)
            created = time.perf_counter() - began
            times = time_versions(project, args.repeat, min(count, SHOWN))
            if count == args.runs:
                search = time_search(uri, experiment_id, args.repeat, count)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        medians[count] = statistics.median(times)
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"kedro mlflow versions raw on {count:,} runs: {medians[count]:.2f} s (median of "
              f"{args.repeat} processes: {shown} s); runs created in {created:.0f} s")  # fmt: skip
    print(
        f"ratio {args.runs:,} runs / 10 runs: {medians[args.runs] / medians[10]:.2f} (limit 1.2); "
        f"the search of all {args.runs:,} versions itself: {statistics.median(search):.2f} s"
    )


if __name__ == "__main__":
    main()
