"""Shared by the dataset and the hook: is an HTTP tracking server there at all?"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

#: How long a tracking server may take to accept a connection.
REACH_TIMEOUT_S = 5.0


def unreachable(uri: str, timeout: float = REACH_TIMEOUT_S) -> OSError | None:
    """Why the HTTP(S) tracking server ``uri`` refuses a connection; None if it accepts one.

    MLflow's own client retries a refused connection for minutes: probing first lets a
    save or a ``kedro run`` fail in seconds. Other URIs (sqlite, databases) give None.
    """
    parsed = urlparse(uri)
    if parsed.scheme not in {"http", "https"}:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout):
            return None
    except OSError as exc:
        return exc
