"""Faults of the artifact store and of the saving process: clear error, local data intact.

Issue 12, rule "Faults: disk full or read-only artifact store (a small tmpfs or a read-only
folder): clear error, local data intact; SIGKILL during a save: no partial file is ever
listed as a version".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from tests.helpers import (
    TcpProxy,
    all_runs,
    artifacts,
    clean_environ,
    kedro_bounded,
    local_artifact_dir,
    make_store,
    remount_readonly,
    store_uri,
    write,
)

MIB = 1024 * 1024


def pickled(path: Path, **kwargs: object) -> MlflowArtifactDataset:
    return MlflowArtifactDataset(
        dataset={"type": "pickle.PickleDataset", "filepath": str(path)}, **kwargs
    )


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if not path.is_dir())


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_store_fault_fails_clearly_keeping_local_data(
    tiny_tmpfs: Path, tmp_path: Path, fault: str
) -> None:
    """Rule: disk full or read-only artifact store -- clear error naming the run, the
    artifact and the store; the local file intact; no partial file left or listed."""
    make_store(f"sqlite:///{tmp_path}/mlflow.db", tiny_tmpfs.as_uri())
    if fault == "read-only":
        remount_readonly(tiny_tmpfs)
    payload = b"z" * (4 * MIB)  # twice the tmpfs
    local = tmp_path / "data" / "big.pkl"
    with mlflow.start_run() as run, pytest.raises(DatasetError) as info:
        pickled(local, artifact_path="models").save(payload)
    message = str(info.value)
    for name in (run.info.run_id, "models/big.pkl", str(local), str(tiny_tmpfs)):
        assert name in message, f"the error does not name {name}:\n{message}"
    assert pd.read_pickle(local) == payload
    assert artifacts(run.info.run_id) == []
    assert stored_files(tiny_tmpfs) == [], "a partial file was left in the store"


@pytest.mark.timeout(240, func_only=True)
def test_full_store_under_kedro_run_ends_the_run_failed_listing_what_was_not_uploaded(
    rproject: Path, tiny_tmpfs: Path
) -> None:
    """Rule: disk full under kedro run (background uploads) -- the run ends FAILED, the
    output lists what was not uploaded and where, the local file is intact."""
    write(
        rproject / "conf" / "base" / "mlflow.yml",
        f"""
        tracking:
          experiment:
            create_experiment_kwargs:
              artifact_location: {tiny_tmpfs.as_uri()}
        """,
    )
    result = kedro_bounded(rproject, "run", "--pipelines", "big", timeout=180)
    assert result.returncode != 0, result.output[-3000:]
    assert "models/big.pkl" in result.output
    (run,) = all_runs(store_uri(rproject))
    assert run.info.status == "FAILED"
    assert run.info.run_id in result.output
    local = rproject / "data" / "06_models" / "big.pkl"
    assert len(pd.read_pickle(local)) == 4 * MIB
    assert stored_files(tiny_tmpfs) == [], "a partial file was left in the store"


SAVER = """
import os, sys
import mlflow
from kedro_mlflow.io.artifacts import MlflowArtifactDataset

uri, run_id, path, mib = sys.argv[1:5]
mlflow.set_tracking_uri(uri)
dataset = MlflowArtifactDataset(
    dataset={"type": "pickle.PickleDataset", "filepath": path},
    run_id=run_id, artifact_path="models",
)
payload = b"k" * (int(mib) * 1024 * 1024)
print("saving", flush=True)
dataset.save(payload)
print("saved", flush=True)
"""


def start_saver(tmp_path: Path, uri: str, run_id: str, mib: int) -> subprocess.Popen[str]:
    script = write(tmp_path / "saver.py", SAVER)
    return subprocess.Popen(
        [sys.executable, str(script), uri, run_id, str(tmp_path / "local" / "big.pkl"), str(mib)],
        env=clean_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def assert_no_partial_version(run_id: str, tracking_uri: str, full_size: int) -> None:
    """Whatever the store lists for the run is a complete file, under its own name."""
    listed = artifacts(run_id, tracking_uri=tracking_uri)
    assert set(listed) <= {"models/big.pkl"}, f"listed after SIGKILL: {listed}"
    if listed:
        path = mlflow.MlflowClient(tracking_uri).download_artifacts(run_id, "models/big.pkl")
        assert Path(path).stat().st_size == full_size, "a partial file is listed as a version"


@pytest.mark.timeout(120, func_only=True)
def test_sigkill_during_a_save_into_a_local_store_lists_no_partial_file(
    sqlite_store: object, tmp_path: Path
) -> None:
    """Rule: SIGKILL during a save -- no partial file is ever listed as a version (the process
    is killed as soon as the copy into the local store has begun)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = mlflow.MlflowClient().create_run(mlflow.get_experiment_by_name("tests").experiment_id)
    folder = local_artifact_dir(run)
    saver = start_saver(tmp_path, uri, run.info.run_id, mib=400)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and saver.poll() is None:
            if folder.exists() and any(path.is_file() for path in folder.rglob("*")):
                break
            time.sleep(0.002)
    finally:
        saver.send_signal(signal.SIGKILL)
        out = saver.communicate(timeout=10)[0]
    assert saver.returncode == -signal.SIGKILL, f"the save ended before the kill:\n{out}"
    full = (tmp_path / "local" / "big.pkl").stat().st_size
    assert_no_partial_version(run.info.run_id, uri, full)


@pytest.mark.server
@pytest.mark.timeout(120, func_only=True)
def test_sigkill_during_an_upload_to_a_server_lists_no_partial_file(
    mlflow_server: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rule: SIGKILL during a save -- against a real server, the saving process is killed
    once 20 MiB of a 200 MiB upload went through."""
    store = make_store(mlflow_server, None, name=f"sigkill-{request.node.name}")
    run = mlflow.MlflowClient().create_run(store.experiment_id)
    with TcpProxy(mlflow_server) as proxy:
        killed: list[bool] = []
        saver: list[subprocess.Popen[str]] = []

        def kill() -> None:
            os.kill(saver[0].pid, signal.SIGKILL)
            killed.append(True)

        proxy.die_after_upload(20 * MIB, then=kill)
        saver.append(start_saver(tmp_path, proxy.url, run.info.run_id, mib=200))
        out = saver[0].communicate(timeout=90)[0]
    assert killed, f"the upload never reached 20 MiB:\n{out}"
    full = (tmp_path / "local" / "big.pkl").stat().st_size
    assert_no_partial_version(run.info.run_id, mlflow_server, full)
