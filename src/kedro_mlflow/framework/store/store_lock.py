"""Two ``kedro run``s at once on a sqlite store that does not exist yet both create it.

MLflow creates a sqlite store's tables (its migrations) at the first use of the store in a
process; two processes doing it at once race, and one fails ("table ... already exists").
The first use of a sqlite store by a ``kedro run`` is made under an exclusive ``flock`` of the
database file itself (independent of sqlite's own POSIX locks; no extra file in the project),
so that one process creates the tables and the other finds them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kedro_mlflow._lazy import mlflow


def sqlite_database(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None (in memory, other stores).

    Examples:
        >>> sqlite_database("sqlite:////p/mlflow.db")
        PosixPath('/p/mlflow.db')
        >>> sqlite_database("http://localhost:5000") is None
        True
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(os.path.abspath(path)) if path and path != ":memory:" else None


def open_store(uri: str) -> None:
    """Make this process's first use of the store at ``uri``, locked when it is sqlite."""
    database = sqlite_database(uri)
    if database is None:
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.open("ab") as lock:  # an empty file is a new sqlite database
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
