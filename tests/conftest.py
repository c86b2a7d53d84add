"""Real MLflow stores for the tests: sqlite in tmp, a real `mlflow server`, moto's S3 server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Store, free_port, make_store, wait_for_http


@pytest.fixture(autouse=True)
def _registry_uri_of_the_test_only() -> Iterator[None]:
    """A registry URI a test sets (a project's mlflow.yml does, process-wide) ends with it.

    Otherwise a later test's models would be registered in, and looked up from, that
    test's registry instead of its own tracking store.
    """
    saved = os.environ.get("MLFLOW_REGISTRY_URI")
    yield
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils

        utils._registry_uri = None
    if saved is None:
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    else:
        os.environ["MLFLOW_REGISTRY_URI"] = saved


@pytest.fixture(scope="session")
def empty_sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite database, created once: MLflow's schema migrations take seconds."""
    import mlflow

    path = tmp_path_factory.mktemp("sqlite-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def sqlite_store(tmp_path: Path, empty_sqlite_database: Path) -> Store:
    """A local sqlite tracking store with artifacts in tmp_path/mlruns (a copy of the empty one)."""
    shutil.copyfile(empty_sqlite_database, tmp_path / "mlflow.db")
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
