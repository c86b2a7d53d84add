"""The end of a run: uploads still in flight named and followed, then the run's summary line.

Real uploads to a real `mlflow server`; the progress display draws on a rich console.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

import mlflow
import pytest
from rich.console import Console

from kedro_mlflow.framework.hooks import lifecycle, summary
from kedro_mlflow.io.artifacts import (
    MlflowArtifactDataset,
    start_background_uploads,
    wait_for_uploads,
)
from tests.helpers import (
    OMEGACONF_DEPRECATION,
    RUN_PARAMS,
    artifacts,
    param_pipeline,
    settings_for,
)

pytestmark = OMEGACONF_DEPRECATION

SIZE = 4 * 1024 * 1024


class GatedRelay:
    """A TCP relay to the real server that holds new connections until its gate opens.

    MLflow talks HTTP to the real `mlflow server` through it; with the gate closed, uploads
    are under way but cannot finish, whatever the machine's speed.
    """

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.gate = threading.Event()
        self.gate.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.gate.wait()
        server = socket.create_connection(self.upstream)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relay(server_store) -> Iterator[GatedRelay]:
    """The server's experiment, reached through a ``GatedRelay``."""
    gated = GatedRelay(server_store.tracking_uri)
    mlflow.set_tracking_uri(gated.url)
    yield gated
    gated.gate.set()
    gated.listener.close()


def _queue_uploads(tmp_path, count: int = 3) -> None:
    start_background_uploads(max_workers=1)
    for index in range(count):
        MlflowArtifactDataset(
            dataset={"type": "pickle.PickleDataset", "filepath": str(tmp_path / f"u{index}.pkl")}
        ).save(bytes(SIZE))


@pytest.mark.server
@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log-lines"])
def test_uploads_in_flight_are_named_and_followed(relay, tmp_path, monkeypatch, caplog, terminal):
    """'waiting for N uploads, X MiB', then a progress bar (a terminal) or progress lines."""
    monkeypatch.setattr(summary, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(summary, "LOG_EVERY_S", 0.01)
    caplog.set_level(logging.INFO, logger="kedro_mlflow")
    console = Console(file=io.StringIO(), force_terminal=terminal, width=120)
    with mlflow.start_run() as run:
        relay.gate.clear()  # from now on, nothing reaches the server
        _queue_uploads(tmp_path)
        threading.Timer(1.0, relay.gate.set).start()
        with summary.upload_progress(run.info.run_id, console=console):
            wait_for_uploads()
    assert (
        f"MLflow run '{run.info.run_id}': waiting for 3 uploads, 12.0 MiB "
        "('u0.pkl', 'u1.pkl', 'u2.pkl')" in caplog.text
    )
    assert artifacts(run.info.run_id) == ["u0.pkl", "u1.pkl", "u2.pkl"]
    if terminal:
        assert "Uploading to MLflow" in console.file.getvalue()
    else:
        assert re.search(r"MLflow uploads: \d of 3 done", caplog.text)


def test_the_end_of_a_run_says_its_id_experiment_artifacts_and_link(tmp_path, caplog):
    """A local store: the link is the run's page under `kedro mlflow ui`."""
    settings = settings_for(tmp_path, {"ui": {"port": 5123}})
    pipeline, catalog = param_pipeline()
    tracked = lifecycle.start_tracking(settings, RUN_PARAMS, pipeline, catalog)
    for name in ("a", "b"):
        MlflowArtifactDataset(
            dataset={"type": "pickle.PickleDataset", "filepath": str(tmp_path / f"{name}.pkl")}
        ).save(name)
    caplog.set_level(logging.INFO, logger="kedro_mlflow")
    lifecycle.end_tracking(tracked, "FINISHED", raise_upload_errors=True)
    run = mlflow.MlflowClient(settings.tracking_uri).get_run(tracked.run_id)
    assert (
        f"MLflow run '{tracked.run_id}' of experiment 'pkg' FINISHED: 2 artifacts logged."
        in caplog.text
    )
    assert (
        f"See it with `kedro mlflow ui`, at http://127.0.0.1:5123/#/experiments/"
        f"{run.info.experiment_id}/runs/{tracked.run_id}" in caplog.text
    )
