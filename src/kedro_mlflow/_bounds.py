"""How long one call to the tracking server or the artifact store may take: a bounded total.

MLflow's own client waits 120 s per HTTP request and retries 7 times with exponential
backoff: a server that accepts connections and never answers hangs a save for many minutes.
kedro-mlflow bounds every call with one number, ``server.request_timeout`` in ``mlflow.yml``
(the hook exports it as ``KEDRO_MLFLOW_REQUEST_TIMEOUT``, read by the dataset in every thread
and process), default ``DEFAULT_REQUEST_TIMEOUT_S``, and turns it into MLflow's and
botocore's own settings, each only when the user did not set it:

- ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (seconds per attempt: connect, each send, the answer),
  ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``, so that
  attempts and backoff together stay within the total (tracking calls and ``--serve-artifacts``
  uploads and downloads);
- ``AWS_MAX_ATTEMPTS`` and the connect and read timeouts of boto3's default session (S3
  artifact stores).

A variable the user set wins, and the total then follows from it (``describe`` says so).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import threading

#: The default of ``server.request_timeout``: tens of seconds, not minutes.
DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: Exported by the hook from ``server.request_timeout`` for every thread and process.
REQUEST_TIMEOUT_ENV = "KEDRO_MLFLOW_REQUEST_TIMEOUT"

_TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
_BACKOFF = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
_AWS_ATTEMPTS = "AWS_MAX_ATTEMPTS"

#: The values this process set (a value equal to ours is ours to change, not the user's).
_ours: dict[str, str] = {}
_lock = threading.Lock()
_boto_configured: list[float] = []


def request_timeout() -> float:
    """The total bound of one call, seconds: ``KEDRO_MLFLOW_REQUEST_TIMEOUT`` or the default."""
    text = os.environ.get(REQUEST_TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_REQUEST_TIMEOUT_S
    except ValueError:
        return DEFAULT_REQUEST_TIMEOUT_S
    return value if value > 0 and math.isfinite(value) else DEFAULT_REQUEST_TIMEOUT_S


def http_settings(total: float) -> dict[str, str]:
    """MLflow's HTTP variables whose attempts and backoff fit in ``total`` seconds.

    urllib3 retries at once the first time, then sleeps ``factor * 2**(n-1)`` plus up to
    1 s of jitter: with 2 retries and factor 1 that is at most 3 s of sleep.

    Examples:
        >>> http_settings(30)
        {'MLFLOW_HTTP_REQUEST_TIMEOUT': '9', 'MLFLOW_HTTP_REQUEST_MAX_RETRIES': '2', \
'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR': '1'}
        >>> http_settings(10)
        {'MLFLOW_HTTP_REQUEST_TIMEOUT': '5', 'MLFLOW_HTTP_REQUEST_MAX_RETRIES': '1', \
'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR': '0'}
    """
    retries, factor, sleeping = (2, 1, 3.0) if total >= 15 else (1, 0, 0.0)
    per_attempt = max(1, math.floor((total - sleeping) / (retries + 1)))
    return {_TIMEOUT: str(per_attempt), _RETRIES: str(retries), _BACKOFF: str(factor)}


def apply(*, s3: bool = False) -> None:
    """Set MLflow's (and botocore's) bounds from ``request_timeout()``, unless the user did.

    Called before the dataset's and the hook's calls to MLflow; cheap when nothing changed.

    Args:
        s3: Also bound boto3's clients (an ``s3://`` artifact store is about to be used);
            done anyway once boto3 is imported.
    """
    total = request_timeout()
    wanted = http_settings(total)
    wanted[_AWS_ATTEMPTS] = str(int(wanted[_RETRIES]) + 1)
    with _lock:
        for name, value in wanted.items():
            current = os.environ.get(name)
            if current is None or current == _ours.get(name):
                os.environ[name] = value
                _ours[name] = value
        per_attempt = float(wanted[_TIMEOUT])
        wants_boto = s3 or "boto3" in sys.modules
        if wants_boto and (not _boto_configured or _boto_configured[0] != per_attempt):
            if _configure_boto(per_attempt):
                _boto_configured[:] = [per_attempt]


def _configure_boto(per_attempt: float) -> bool:
    """Bound the connect and read timeouts of S3 clients created by boto3's default session.

    botocore reads no variable for them (60 s each by default); MLflow creates its S3 client
    from boto3's default session, whose default client configuration is merged into it.
    A default session the user set up is left alone.
    """
    if importlib.util.find_spec("boto3") is None:  # no S3 support installed: nothing to bound
        return True
    boto3 = importlib.import_module("boto3")
    botocore_config = importlib.import_module("botocore.config")
    botocore_session = importlib.import_module("botocore.session")
    if boto3.DEFAULT_SESSION is not None and not getattr(
        boto3.DEFAULT_SESSION, "_kedro_mlflow_bounded", False
    ):
        return True
    core = botocore_session.get_session()
    core.set_default_client_config(
        botocore_config.Config(connect_timeout=per_attempt, read_timeout=per_attempt)
    )
    boto3.setup_default_session(botocore_session=core)
    boto3.DEFAULT_SESSION._kedro_mlflow_bounded = True
    return True


def effective_total() -> float:
    """The longest a call waits for a silent server now, MLflow's variables included."""
    try:
        per_attempt = float(os.environ.get(_TIMEOUT, "120"))
        retries = int(os.environ.get(_RETRIES, "7"))
        factor = float(os.environ.get(_BACKOFF, "2"))
    except ValueError:
        return request_timeout()
    sleeping = sum(min(120.0, factor * float(2**n) + 1) for n in range(1, retries))
    return per_attempt * (retries + 1) + sleeping


def describe() -> str:
    """How calls are bounded now, for error messages: ``30 s (request_timeout)``..."""
    total = request_timeout()
    timeout = os.environ.get(_TIMEOUT)
    retries = os.environ.get(_RETRIES)
    user_set = [
        name
        for name in (_TIMEOUT, _RETRIES, _BACKOFF)
        if os.environ.get(name) is not None and os.environ.get(name) != _ours.get(name)
    ]
    if user_set:
        return (
            f"{timeout or 120} s per attempt, {retries or 7} retries ("
            + ", ".join(f"{name}={os.environ[name]}" for name in user_set)
            + ")"
        )
    return f"{total:g} s ('server.request_timeout' or {REQUEST_TIMEOUT_ENV})"


def looks_like_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a timeout or a connection that broke."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        text = str(current)
        if any(
            word in name for word in ("Timeout", "ConnectionError", "ReadTimeout", "ConnectTimeout")
        ) or any(
            phrase in text
            for phrase in (
                "timeout",
                "timed out",
                "Max retries exceeded",
                "Connection refused",
                "Connection reset",
                "Connection aborted",
                "RemoteDisconnected",
            )
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
