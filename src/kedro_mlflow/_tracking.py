"""What the dataset and the hook both ask of the tracking server: is it there, which run.

The probe exists because MLflow's own client retries a refused connection for minutes:
probing first lets a save or a ``kedro run`` fail in seconds.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from kedro_mlflow import _bounds
from kedro_mlflow._lazy import mlflow
from kedro_mlflow.exceptions import TrackingUnreachableError

if TYPE_CHECKING:
    from mlflow.entities import Run

#: How long a tracking server may take to accept a connection.
REACH_TIMEOUT_S = 5.0
#: URI schemes of tracking servers (their artifact location is the server's to decide).
SERVER_SCHEMES = frozenset({"http", "https", "databricks", "databricks-uc"})


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@'\"]*):[^@/\s'\"]*@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URI in it hidden.

    Every URI kedro-mlflow prints (logs, errors) goes through here, and so does the text of
    MLflow's exceptions, which repeat the URL they called.

    Examples:
        >>> redact("http://me:s3cret@host:5000/api failed")
        'http://me:***@host:5000/api failed'
        >>> redact("sqlite:////p/mlflow.db")
        'sqlite:////p/mlflow.db'
    """
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)


def shown_tracking_uri() -> str:
    """The tracking URI of this process, as printed: without its password."""
    return redact(tracking_uri())


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names a tracking server rather than a store on this machine.

    Examples:
        >>> is_server_uri("http://localhost:5000"), is_server_uri("databricks")
        (True, True)
        >>> is_server_uri("sqlite:///mlflow.db")
        False
    """
    return uri in SERVER_SCHEMES or urlparse(uri).scheme in SERVER_SCHEMES


def tracking_uri() -> str:
    """The tracking URI MLflow uses in this process.

    Until mlflow is imported, ``MLFLOW_TRACKING_URI`` is the URI it will use (the hook sets
    it): reading it spares a ``kedro run`` whose MLflow work is in a helper the import.
    """
    if "mlflow" not in sys.modules and os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
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
    _bounds.apply()
    parsed = urlparse(uri)
    if parsed.scheme not in {"http", "https"}:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), REACH_TIMEOUT_S):
            return
    except OSError as exc:
        raise error(
            f"{context}: the MLflow tracking server at '{redact(uri)}' is unreachable ({exc}). "
            f"{fix}"
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
    _bounds.apply()
    uri = shown_tracking_uri()
    failure: Exception | None = None
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        # Raised below, outside this block: MLflow's message may repeat a URL with a password,
        # and an exception raised here would carry it as its __context__.
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST" and _bounds.looks_like_timeout(exc):
            # A dataset error becomes TrackingUnreachableError: a save keeps the data locally.
            unreachable = issubclass(TrackingUnreachableError, error)
            failure = (TrackingUnreachableError if unreachable else error)(
                f"{context}: the MLflow tracking server at '{uri}' did not answer when asked "
                f"for run '{run_id}' (timed out after {_bounds.describe()}): "
                f"{redact(exc.message)}. Check that the server is up and answering."
            )
        else:
            failure = error(
                f"{context}: MLflow run '{run_id}' was not found on tracking URI '{uri}' "
                f"({redact(exc.message)}). {fix}"
            )
    if failure is not None:
        raise failure
    if not allow_deleted:
        refuse_deleted(run, context, fix, error=error)
    return run


def refuse_deleted(run: Run, context: str, fix: str, *, error: type[Exception]) -> None:
    """Raise ``error`` when ``run`` is deleted, naming it, the tracking URI and ``fix``."""
    if run.info.lifecycle_stage == "deleted":
        run_id = run.info.run_id
        raise error(
            f"{context}: MLflow run '{run_id}' is deleted on tracking URI "
            f"'{shown_tracking_uri()}'. Restore it (mlflow runs restore --run-id {run_id}) or "
            f"{fix[0].lower()}{fix[1:]}"
        )
