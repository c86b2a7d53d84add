"""Background uploads: saves return once the local file is written; uploads overlap.

Placeholder API (synchronous for now); the Kedro hook calls these at run start and end.
"""

from __future__ import annotations


def start_background_uploads(max_workers: int = 4) -> None:
    """From now on, in this process, saves queue their upload instead of waiting for it."""


def wait_for_uploads() -> None:
    """Block until every queued upload finished; stop queueing.

    Raises:
        DatasetError: Listing every artifact that could not be uploaded, with its run.
    """
