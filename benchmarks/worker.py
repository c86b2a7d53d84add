"""One measured process of the benchmark: ``python worker.py TASK 'JSON-ARGS'``.

Runs in the main venv (variants ``plain``, ``plain+mlflow``, ``ours``) and in the upstream
venv (``upstream``, kedro-mlflow 2.0.3), so it imports nothing but the standard library at
the top: what a task imports is part of what the harness times from outside. The last line
printed is ``BENCH {json}``: in-process phase timings and ids the harness needs (run ids,
artifact locations); the harness's own timing is the whole process, measured from outside.

Variants:
- ``plain``: the Kedro dataset alone, no mlflow imported.
- ``plain+mlflow``: the same, plus the fixed cost of MLflow a tracked process pays anyway
  (import mlflow; for a save, start and end a run; for a load, fetch the run).
- ``ours`` / ``upstream``: ``kedro_mlflow.io.artifacts.MlflowArtifactDataset`` wrapping the
  same dataset, saving into an active run (started here, as the hook would) or loading by
  ``run_id``.
"""

from __future__ import annotations

import json
import os
import sys
import time

T0 = time.perf_counter()
_PHASES: dict[str, float] = {}
_LAST = [T0]

TYPES = {"parquet": "pandas.ParquetDataset", "pickle": "pickle.PickleDataset"}


def mark(name: str) -> None:
    now = time.perf_counter()
    _PHASES[name] = round(now - _LAST[0], 6)
    _LAST[0] = now


def emit(**info: object) -> None:
    info["phases"] = _PHASES
    info["in_process_s"] = round(time.perf_counter() - T0, 6)
    print("BENCH " + json.dumps(info), flush=True)


def make_data(kind: str, size: int) -> object:
    if kind == "pickle":
        # A bytes object is pickled without a copy; b"\x01" touches every page (no lazy zeros).
        return b"\x01" * size
    import numpy as np
    import pandas as pd

    rows = np.random.default_rng(0).random((size, 10))
    return pd.DataFrame(rows, columns=[f"c{i}" for i in range(10)])


def dataset(variant: str, kind: str, filepath: str, **kwargs: object) -> object:
    inner = {"type": TYPES[kind], "filepath": filepath}
    if variant.startswith("plain"):
        from kedro.io import AbstractDataset

        return AbstractDataset.from_config("bench", inner)
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    args = {k: v for k, v in kwargs.items() if v is not None}
    return MlflowArtifactDataset(dataset=inner, **args)


def start_run(args: dict) -> object:
    import mlflow

    mlflow.set_tracking_uri(args["tracking_uri"])
    return mlflow.start_run(experiment_id=args["experiment_id"])


def end_run() -> None:
    import mlflow

    mlflow.end_run()


def task_save(args: dict) -> None:
    """Save one dataset (in an active run unless plain); report phases and the run."""
    variant = args["variant"]
    data = make_data(args["kind"], args["size"])
    mark("make_data")
    run = None
    if variant != "plain":
        run = start_run(args)
        mark("import_mlflow_start_run")
    ds = dataset(variant, args["kind"], args["filepath"], artifact_path=args.get("artifact_path"))
    mark("build_dataset")
    ds.save(data)
    mark("save")
    if run is not None:
        end_run()
        mark("end_run")
    emit(
        run_id=run.info.run_id if run else None,
        artifact_uri=run.info.artifact_uri if run else None,
    )


def task_load(args: dict) -> None:
    """Load one dataset: the local file (plain) or the artifact of ``run_id``."""
    variant = args["variant"]
    if variant == "plain+mlflow":
        import mlflow

        mlflow.set_tracking_uri(args["tracking_uri"])
        mlflow.MlflowClient().get_run(args["run_id"])
        mark("import_mlflow_get_run")
    elif variant != "plain":
        import mlflow

        mlflow.set_tracking_uri(args["tracking_uri"])
        mark("import_mlflow")
    ds = dataset(
        variant,
        args["kind"],
        args["filepath"],
        run_id=None if variant.startswith("plain") else args["run_id"],
        artifact_path=args.get("artifact_path"),
    )
    mark("build_dataset")
    data = ds.load()
    mark("load")
    emit(size=len(data))


def task_scale_save(args: dict) -> None:
    """Save ``n`` small datasets in one run; report the cost of each save."""
    variant = args["variant"]
    n = args["n"]
    payload = {"values": list(range(100))}
    run = None
    if variant != "plain":
        run = start_run(args)
    mark("start")
    folder = args["folder"]
    datasets = [
        dataset(variant, "pickle", f"{folder}/d{i}.pkl", artifact_path=args.get("artifact_path"))
        for i in range(n)
    ]
    mark("build_datasets")
    costs = []
    for ds in datasets:
        t = time.perf_counter()
        ds.save(payload)
        costs.append(time.perf_counter() - t)
    mark("saves")
    if run is not None:
        end_run()
    mark("end_run")
    emit(run_id=run.info.run_id if run else None, costs=summary(costs))


def task_scale_load(args: dict) -> None:
    """Load ``k`` of the datasets a ``scale_save`` run logged, by ``run_id``."""
    import mlflow

    mlflow.set_tracking_uri(args["tracking_uri"])
    folder = args["folder"]
    os.makedirs(folder, exist_ok=True)
    datasets = [
        dataset(
            args["variant"],
            "pickle",
            f"{folder}/d{i}.pkl",
            run_id=args["run_id"],
            artifact_path=args.get("artifact_path"),
        )
        for i in range(args["k"])
    ]
    mark("start")
    costs = []
    for ds in datasets:
        t = time.perf_counter()
        ds.load()
        costs.append(time.perf_counter() - t)
    mark("loads")
    emit(costs=summary(costs))


def summary(costs: list[float]) -> dict[str, float]:
    ordered = sorted(costs)
    tenth = max(1, len(costs) // 10)
    return {
        "n": len(costs),
        "total": round(sum(costs), 6),
        "median": round(ordered[len(ordered) // 2], 6),
        "first_tenth_mean": round(sum(costs[:tenth]) / tenth, 6),
        "last_tenth_mean": round(sum(costs[-tenth:]) / tenth, 6),
    }


def task_experiment(args: dict) -> None:
    """Create (or find) experiments ``[[name, artifact_location], ...]`` in one store.

    Creating the sqlite schema happens here, untimed. With ``runs``, the first experiment is
    also filled with that many finished runs (a tag each).
    """
    import mlflow

    mlflow.set_tracking_uri(args["tracking_uri"])
    client = mlflow.MlflowClient()
    ids = {}
    for name, artifact_location in args["experiments"]:
        found = client.get_experiment_by_name(name)
        if found is not None:
            ids[name] = found.experiment_id
        else:
            ids[name] = client.create_experiment(name, artifact_location=artifact_location)
    first = ids[args["experiments"][0][0]]
    for i in range(args.get("runs", 0)):
        run = client.create_run(first, run_name=f"filler-{i}", tags={"bench": "filler"})
        client.set_terminated(run.info.run_id)
    emit(ids=ids)


def task_versions_runs(args: dict) -> None:
    """The sqlite store ``database`` of ``kedro mlflow versions``, its runs made as
    benchmarks/versions_1000.py makes them, in /dev/shm (quick commits), then moved there."""
    import shutil
    import tempfile

    from versions_1000 import FAST, create_runs

    with tempfile.TemporaryDirectory(dir=FAST) as folder:
        create_runs(f"sqlite:///{folder}/mlflow.db", args["artifact_location"], args["runs"])
        shutil.move(f"{folder}/mlflow.db", args["database"])
    emit()


TASKS = {
    "save": task_save,
    "load": task_load,
    "scale_save": task_scale_save,
    "scale_load": task_scale_load,
    "experiment": task_experiment,
    "versions_runs": task_versions_runs,
}

if __name__ == "__main__":
    TASKS[sys.argv[1]](json.loads(sys.argv[2]))
