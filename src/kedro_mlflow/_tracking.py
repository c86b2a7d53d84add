"""What the dataset and the hook both ask of the tracking server: is it there, which run.

The probe exists because MLflow's own client retries a refused connection for minutes:
probing first lets a save or a ``kedro run`` fail in seconds.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.exceptions import TrackingUnreachableError

if TYPE_CHECKING:
    from mlflow.entities import Run

#: How long a tracking server may take to accept a connection.
REACH_TIMEOUT_S = 5.0
#: URI schemes of tracking servers (their artifact location is the server's to decide).
SERVER_SCHEMES = frozenset({"http", "https", "databricks", "databricks-uc"})


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names a tracking server rather than a store on this machine.

    Examples:
        >>> is_server_uri("http://localhost:5000"), is_server_uri("databricks")
        (True, True)
        >>> is_server_uri("sqlite:///mlflow.db")
        False
    """
    return uri in SERVER_SCHEMES or urlparse(uri).scheme in SERVER_SCHEMES


def redacted(uri: str) -> str:
    """``uri`` without the password of a ``user:password@`` part, for messages and logs.

    Examples:
        >>> redacted("http://me:secret@127.0.0.1:5000")
        'http://me:***@127.0.0.1:5000'
    """
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    netloc = parsed.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parsed._replace(netloc=f"{user}:***@{netloc[2]}").geturl()


def tracking_uri() -> str:
    """The tracking URI MLflow uses in this process."""
    return str(mlflow.get_tracking_uri())


def require_reachable(
    uri: str, context: str, fix: str, *, error: type[Exception] = TrackingUnreachableError
) -> None:
    """Raise at once when the HTTP(S) tracking server ``uri`` refuses a connection.

    Args:
        uri: The tracking URI; other schemes than http(s) are not probed.
        context: What was being done, the start of the message.
        fix: What to do about it, the end of the message.
        error: The exception class to raise.

    Raises:
        TrackingUnreachableError: (or ``error``) The server did not accept a connection in time.
    """
    parsed = urlparse(uri)
    if parsed.scheme not in {"http", "https"}:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), REACH_TIMEOUT_S):
            return
    except OSError as exc:
        raise error(
            f"{context}: the MLflow tracking server at '{redacted(uri)}' is unreachable "
            f"({exc}). {fix}"
        ) from exc


def get_run(
    run_id: str,
    context: str,
    fix: str,
    *,
    error: type[Exception],
    allow_deleted: bool = True,
) -> Run:
    """Fetch a run, or raise ``error`` naming the run, the tracking URI and ``fix``.

    Args:
        run_id: The run to fetch.
        context: What was being done, the start of the message.
        fix: How to point at another run, the end of the message.
        error: The exception class to raise.
        allow_deleted: Return a deleted run rather than refuse it.
    """
    uri = redacted(tracking_uri())
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise error(
            f"{context}: MLflow run '{run_id}' was not found on tracking URI '{uri}' "
            f"({exc.message}). {fix}"
        ) from exc
    if not allow_deleted and run.info.lifecycle_stage == "deleted":
        raise error(
            f"{context}: MLflow run '{run_id}' is deleted on tracking URI '{uri}'. Restore it "
            f"(mlflow runs restore --run-id {run_id}) or {fix[0].lower()}{fix[1:]}"
        )
    return run
