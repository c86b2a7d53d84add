"""Real MLflow stores for the tests: sqlite in tmp, a real `mlflow server`, moto's S3 server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Store:
    """A tracking URI and an experiment whose artifacts go where the test says."""

    tracking_uri: str
    experiment_id: str
    artifact_root: str


def make_store(tracking_uri: str, artifact_root: str | None, name: str = "tests") -> Store:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(name, artifact_location=artifact_root)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return Store(tracking_uri, experiment_id, artifact_root or "")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    """A local sqlite tracking store with artifacts in tmp_path/mlruns."""
    return make_store(f"sqlite:///{tmp_path}/mlflow.db", (tmp_path / "mlruns").as_uri())


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on loopback that proxies artifacts (--serve-artifacts)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env = {k: v for k, v in env.items() if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID"}}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{root}/server.db",
                "--artifacts-destination", str(root / "artifacts"),
                "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log, timeout=120)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def server_store(mlflow_server: str, request: pytest.FixtureRequest) -> Store:
    """An experiment of its own on the real server, artifacts proxied over HTTP."""
    return make_store(mlflow_server, None, name=f"tests-{request.node.name}"[:400])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 API over HTTP on loopback, with a bucket named 'artifacts'."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    ).create_bucket(Bucket="artifacts")  # fmt: skip
    yield endpoint
    server.stop()


@pytest.fixture
def s3_store(
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Store:
    """A sqlite tracking store whose experiment keeps artifacts in moto's S3."""
    for name, value in {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return make_store(f"sqlite:///{tmp_path}/mlflow.db", f"s3://artifacts/{request.node.name}")
