"""Fixtures of the reliability tests: faults made real, on loopback, and undone afterwards.

- ``stalled_server``: a port that accepts connections and never answers;
- ``proxy``: a TCP proxy in front of the shared ``mlflow server``, told to stall or die;
- ``private_server`` / ``private_proxy``: an ``mlflow server`` of the test's own, to kill;
- ``tiny_tmpfs``: a 2 MiB tmpfs (disk full; remount it read-only for a read-only store);
- ``project`` / ``rproject``: real ``kedro new`` projects (``rproject`` adds the pipelines
  ``big``, ``big_then_idle``, ``big_then_clobber`` and ``blocking``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The Kedro projects of tests/framework, reused here (fixtures are per folder).
from tests.framework.conftest import (  # noqa: F401
    _restore_process_state,
    in_process,
    project,
    project_template,
)
from tests.helpers import (
    MlflowServer,
    TcpProxy,
    add_reliability_pipelines,
    mount_tmpfs,
    unmount,
)


@pytest.fixture
def rproject(project: Path) -> Path:  # noqa: F811
    """The test project with the reliability pipelines (big payloads, a blocking node)."""
    return add_reliability_pipelines(project)


@pytest.fixture
def stalled_server() -> Iterator[TcpProxy]:
    """A 'server' on loopback that accepts every connection and never answers."""
    with TcpProxy() as proxy:
        yield proxy


@pytest.fixture
def proxy(mlflow_server: str) -> Iterator[TcpProxy]:
    """A proxy in front of the shared mlflow server; forwards until told to stall."""
    with TcpProxy(mlflow_server) as forwarding:
        yield forwarding
        forwarding.forward()  # let the teardown's end_run reach the server


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[MlflowServer]:
    """An ``mlflow server`` of this test's own (the shared one must not be killed)."""
    server = MlflowServer(tmp_path / "private-server")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def private_proxy(private_server: MlflowServer) -> Iterator[TcpProxy]:
    """A proxy in front of the private server: clients use its URL as the server's."""
    with TcpProxy(private_server.url) as forwarding:
        yield forwarding


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: an artifact store that fills up (skipped, loudly, if mount is refused)."""
    mountpoint = tmp_path / "tmpfs"
    mount_tmpfs(mountpoint, "2m")
    try:
        yield mountpoint
    finally:
        unmount(mountpoint)


@pytest.fixture
def no_leftover_threads() -> Iterator[None]:
    """The test must leave no kedro-mlflow thread running (checked after a short grace)."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if "kedro-mlflow" in t.name]
        if not alive:
            return
        time.sleep(0.1)
    pytest.fail(f"kedro-mlflow threads outlived the failure: {alive}")


@pytest.fixture(autouse=True)
def _quiet_moto_requests() -> Iterator[None]:
    """moto's server logs every request at INFO: a listing that loops would fill the memory
    of the log capture (and take minutes to report) instead of just timing out."""
    import logging

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    yield
    werkzeug.setLevel(level)
