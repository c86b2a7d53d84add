"""What ``kedro run`` says about its MLflow run: uploads still in flight, then the run and its link.

At the end of the pipeline, uploads still running are named ("waiting for 3 uploads,
1.2 GiB"); when they last more than ``PROGRESS_AFTER_S``, a progress bar (rich, which Kedro
ships) follows them on a terminal, and a line every ``LOG_EVERY_S`` elsewhere (CI logs). Once
the run ended, one line gives the run id, experiment, status and number of artifacts, and
the run's page in the MLflow UI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._sizes import format_size
from kedro_mlflow._tracking import is_server_uri
from kedro_mlflow.io import artifacts

if TYPE_CHECKING:
    from rich.console import Console

    from kedro_mlflow.config.settings import MlflowSettings

logger = logging.getLogger(__name__)

#: Uploads lasting longer than this get a progress display.
PROGRESS_AFTER_S = 2.0
#: Without a terminal, how often a progress line is logged.
LOG_EVERY_S = 10.0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@contextmanager
def upload_progress(run_id: str, console: Console | None = None) -> Iterator[None]:
    """Name the uploads still running, and show their progress while the block waits for them.

    Args:
        run_id: The run the uploads go to, named in the message.
        console: Where to draw the progress bar (rich's console when None).
    """
    status = artifacts.upload_status()
    if not status.pending:
        yield
        return
    names = status.pending_artifacts
    shown = ", ".join(f"'{name}'" for name in names[:3])
    if len(names) > 3:
        shown += f" and {len(names) - 3} more"
    logger.info(
        "MLflow run '%s': waiting for %s, %s (%s)",
        run_id,
        _plural(status.pending, "upload"),
        format_size(status.pending_bytes),
        shown,
    )
    finished = threading.Event()
    display = threading.Thread(
        target=_follow, args=(finished, console), name="kedro-mlflow-progress", daemon=True
    )
    display.start()
    try:
        yield
    finally:
        finished.set()
        display.join()


def _follow(finished: threading.Event, console: Console | None) -> None:
    if finished.wait(PROGRESS_AFTER_S):
        return
    from rich import get_console  # noqa: PLC0415 - only when uploads are slow
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = console or get_console()
    if not console.is_terminal:
        while not finished.wait(LOG_EVERY_S):
            status = artifacts.upload_status()
            if not status.total:  # the uploads ended: their digests are being recorded
                continue
            logger.info(
                "MLflow uploads: %d of %d done, %s of %s",
                status.done,
                status.total,
                format_size(status.done_bytes),
                format_size(status.total_bytes),
            )
        return
    columns = (
        TextColumn("Uploading to MLflow"),
        BarColumn(),
        TextColumn("{task.fields[uploads]}"),
        DownloadColumn(binary_units=True),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        status = artifacts.upload_status()
        task = progress.add_task("uploads", total=status.total_bytes, uploads="")
        while True:
            status = artifacts.upload_status()
            progress.update(
                task,
                total=status.total_bytes,
                completed=status.done_bytes,
                uploads=f"{status.done}/{status.total} uploads",
            )
            if finished.wait(0.2):
                return


def ui_link(settings: MlflowSettings, experiment_id: str, run_id: str) -> tuple[str, bool]:
    """The run's page in the MLflow UI, and whether it needs ``kedro mlflow ui`` running."""
    uri = settings.tracking_uri
    if is_server_uri(uri) and uri.startswith(("http://", "https://")):
        # A link to open in a browser: no user or password in it (the browser asks).
        parsed = urlparse(uri)
        page = parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()
        return f"{page.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}", False
    base = f"http://{settings.config.ui.host}:{settings.config.ui.port}"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}", True


def log_run_summary(settings: MlflowSettings, run_id: str) -> None:
    """Log the run id, experiment, status, number of artifacts and the UI link of the run."""
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    count = artifacts.logged_file_count(run)
    logger.info(
        "MLflow run '%s' of experiment '%s' %s: %s logged.",
        run_id,
        experiment.name,
        run.info.status,
        _plural(count, "artifact"),
    )
    if settings.tracking_uri.startswith("databricks"):
        return
    link, needs_ui = ui_link(settings, run.info.experiment_id, run_id)
    if needs_ui:
        logger.info("See it with `kedro mlflow ui`, at %s", link)
    else:
        logger.info("See it at %s", link)
