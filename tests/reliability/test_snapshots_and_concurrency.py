"""A version is exactly what the save wrote; concurrent loads never see a half-built entry.

Issue 12, rows "2 processes loading the same folder artifact into an empty cache" (10 of 48
loads fail), "two kedro runs writing the same local file with background uploads" (3 of 8
runs hold the other run's data; digest tags that do not match the stored file), and the
faults rule "two kedro runs at once on the same sqlite store: every artifact in its own run".
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from tests.helpers import (
    DF,
    KedroProcess,
    Store,
    all_runs,
    clean_environ,
    recorded_files,
    store_uri,
    write,
)

LOADER = '''
"""One of several processes loading the same artifact of one run into a shared cache."""

import json
import os
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd

from kedro_mlflow.io.artifacts import MlflowArtifactDataset

kind, run_id, base, me, peers, rounds = sys.argv[1:7]
peers, rounds = int(peers), int(rounds)
mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
expected = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
if kind == "folder":
    config = {"type": "partitions.PartitionedDataset", "path": f"{base}/mine-{me}/parts",
              "dataset": "pandas.CSVDataset", "filename_suffix": ".csv"}
else:
    config = {"type": "pandas.CSVDataset", "filepath": f"{base}/mine-{me}/f.csv"}
failures = []
for round_ in range(rounds):
    # Every round starts from an empty cache, shared by all the peers.
    os.environ["KEDRO_MLFLOW_CACHE_DIR"] = f"{base}/cache-{round_}"
    Path(f"{base}/ready-{round_}-{me}").touch()
    deadline = time.monotonic() + 30
    while len(list(Path(base).glob(f"ready-{round_}-*"))) < peers:
        if time.monotonic() > deadline:
            break
        time.sleep(0.001)
    try:
        loaded = MlflowArtifactDataset(dataset=config, run_id=run_id).load()
        frames = [load() for load in loaded.values()] if kind == "folder" else [loaded]
        if kind == "folder" and len(frames) != 8:
            raise AssertionError(f"{len(frames)} partitions")
        for frame in frames:
            pd.testing.assert_frame_equal(frame, expected)
    except Exception as exc:  # reported to the test, which counts them
        failures.append(f"round {round_}: {type(exc).__name__}: {exc}"[:300])
print(json.dumps(failures))
'''


@pytest.fixture(params=["server_store", "s3_store"], ids=["server", "s3"])
def remote(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.mark.timeout(300, func_only=True)
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_processes_loading_one_artifact_into_an_empty_cache_all_succeed(
    remote: Store, tmp_path: Path, kind: str
) -> None:
    """Row: 2 processes loading the same folder artifact into an empty cache -- 10 of 48 loads
    fail ("No such file", "No partitions found"): one deletes the entry the other just
    completed. Here 2 processes x 24 rounds, each round from an empty shared cache."""
    with mlflow.start_run() as run:
        if kind == "folder":
            MlflowArtifactDataset(
                dataset={
                    "type": "partitions.PartitionedDataset",
                    "path": str(tmp_path / "parts"),
                    "dataset": "pandas.CSVDataset",
                    "filename_suffix": ".csv",
                }
            ).save({f"p{i}": DF for i in range(8)})
        else:
            MlflowArtifactDataset(
                dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "f.csv")}
            ).save(DF)
    script = write(tmp_path / "loader.py", LOADER)
    base = tmp_path / "shared"
    base.mkdir()
    env = clean_environ(
        TRACKING_URI=remote.tracking_uri,
        **{
            name: os.environ[name]
            for name in (
                "MLFLOW_S3_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
            )
            if name in os.environ
        },
    )
    peers = [
        subprocess.Popen(
            [sys.executable, str(script), kind, run.info.run_id, str(base), str(me), "2", "24"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(2)
    ]
    failures: list[str] = []
    for peer in peers:
        out, err = peer.communicate(timeout=240)
        assert peer.returncode == 0, err[-3000:]
        failures += json.loads(out.strip().splitlines()[-1])
    assert failures == [], f"{len(failures)} of 48 loads failed: {failures[:5]}"


def stored_big(run: mlflow.entities.Run, tracking_uri: str) -> bytes:
    client = mlflow.MlflowClient(tracking_uri)
    local = client.download_artifacts(run.info.run_id, "models/big.pkl")
    return Path(local).read_bytes()


def expected_big(mib: int, label: str) -> bytes:
    block = (label.encode() * 1024)[:1024] * 1024
    return block * mib


def assert_holds_its_own_data(run: mlflow.entities.Run, tracking_uri: str) -> None:
    stored = stored_big(run, tracking_uri)
    label, mib = run.data.params["label"], int(run.data.params["mib"])
    data = pickle.loads(stored)  # the test's own file
    own = expected_big(mib, label)
    assert data == own, (
        f"run {run.info.run_id} (label {label}) holds other data: "
        f"{sorted(set(data[:: 1024 * 1024]))!r}"
    )
    recorded = recorded_files(run.info.run_id, tracking_uri=tracking_uri)["models/big.pkl"]
    assert recorded[0] == hashlib.sha256(stored).hexdigest(), "digest record != stored file"
    assert int(recorded[1]) == len(stored)


@pytest.mark.timeout(300, func_only=True)
def test_rewriting_the_local_file_after_save_changes_neither_artifact_nor_digest(
    rproject: Path,
) -> None:
    """Row: two kedro runs writing the same local file with background uploads -- the
    artifact and its digest come from one read of one snapshot taken when the save returns;
    here the next node rewrites the file (as a user or another run would) at once."""
    for attempt in range(3):
        process = KedroProcess(
            rproject,
            "run",
            "--pipelines",
            "big_then_clobber",
            "--params",
            f"mib=48,label=A{attempt}",
        )
        result = process.finish(120)
        assert result.returncode == 0, result.output[-3000:]
    uri = store_uri(rproject)
    runs = all_runs(uri)
    assert len(runs) == 3
    for run in runs:
        assert_holds_its_own_data(run, uri)


def run_pairs(project: Path, rounds: int, mib: int) -> None:
    """``rounds`` times, two ``kedro run``s at once writing the same file (labels A and B)."""
    for round_ in range(rounds):
        pair = [
            KedroProcess(
                project,
                "run",
                "--pipelines",
                "big_then_idle",
                "--params",
                f"mib={mib},label={label}{round_},idle_seconds=1",
            )
            for label in ("A", "B")
        ]
        for process in pair:
            result = process.finish(180)
            assert result.returncode == 0, result.output[-3000:]


@pytest.mark.timeout(300, func_only=True)
def test_two_kedro_runs_at_once_on_a_new_sqlite_store_both_succeed_in_their_own_runs(
    rproject: Path,
) -> None:
    """Rule (faults): two kedro runs at once on the same sqlite store: every artifact in its
    own run -- starting from a store that does not exist yet (both create it)."""
    run_pairs(rproject, rounds=1, mib=1)
    uri = store_uri(rproject)
    runs = all_runs(uri)
    assert len(runs) == 2
    assert {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert_holds_its_own_data(run, uri)


@pytest.mark.timeout(420, func_only=True)
def test_two_kedro_runs_writing_the_same_file_keep_their_own_data(rproject: Path) -> None:
    """Rows: two kedro runs writing the same local file with background uploads -- 3 of 8
    runs hold the other run's data; digest tags that do not match the stored file. The store
    exists beforehand; 3 rounds of 2 concurrent runs, labels A and B, 32 MiB each."""
    first = KedroProcess(rproject, "run", "--pipelines", "data").finish(120)
    assert first.returncode == 0, first.output[-3000:]
    run_pairs(rproject, rounds=3, mib=32)
    uri = store_uri(rproject)
    runs = [run for run in all_runs(uri) if "label" in run.data.params]
    assert len(runs) == 6
    assert {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert_holds_its_own_data(run, uri)
