"""The model registry and the tracking store as the model datasets use them.

Which run a save logs into, a version's alias moved once the version is READY, and the
errors of a load that finds nothing: each one names the model URI, what exists instead and
the tracking URI.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._tracking import shown_tracking_uri
from kedro_mlflow.io.artifacts._runs import current_run_id

#: How long a new model version may take to become READY before its alias is set.
READY_TIMEOUT_S = 300.0


def run_for_save(owner: str) -> str:
    """The run a model is logged into: the kedro run's, else the active run, else MLFLOW_RUN_ID.

    Raises:
        DatasetError: There is none (a model is never logged into a run started for it).
    """
    run_id = current_run_id()
    if run_id:
        return run_id
    raise DatasetError(
        f"{owner}: there is no active MLflow run to log the model into (tracking URI "
        f"'{shown_tracking_uri()}'). Save it during a `kedro run`, or inside "
        f"`with mlflow.start_run():` in a notebook or script."
    )


@contextlib.contextmanager
def active(run_id: str) -> Iterator[None]:
    """Make ``run_id`` this thread's active run for the ``with`` block, without resuming it.

    A flavor's ``log_model`` logs into the active run and not every flavor takes a
    ``run_id``; ``start_run``/``end_run`` would change the run's status. MLflow has no public
    way to do this, so its per-thread stack is the one reach (as in the hook's node runs).
    """
    current = mlflow.active_run()
    if current is not None and current.info.run_id == run_id:
        yield
        return
    stack: list[Any] = mlflow.tracking.fluent._active_run_stack.get()
    stack.append(mlflow.ActiveRun(mlflow.MlflowClient().get_run(run_id)))
    try:
        yield
    finally:
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()


def set_alias_when_ready(owner: str, name: str, version: str, alias: str) -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` once that version is READY.

    Raises:
        DatasetError: The version failed to register, or was not READY in time.
    """
    client = mlflow.MlflowClient()
    deadline = time.monotonic() + READY_TIMEOUT_S
    delay = 0.05
    while True:
        status = client.get_model_version(name, version).status
        if status == "READY":
            break
        if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise DatasetError(
                f"{owner}: version {version} of registered model '{name}' is {status}, so "
                f"alias '{alias}' was not moved to it. Check the registry of '"
                f"{shown_tracking_uri()}' and set the alias by hand once it is READY."
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    client.set_registered_model_alias(name, alias, version)


def explain_missing(owner: str, uri: str, error: Exception) -> DatasetError:
    """A load of ``uri`` failed: say what does not exist and what does, when it can be told."""
    where = f"tracking URI '{shown_tracking_uri()}'"
    detail = _registry_detail(uri) or str(getattr(error, "message", error))
    return DatasetError(
        f"{owner}: cannot load model '{uri}' from {where}: {detail}. Point 'load_args.model_uri' "
        f"(or the registry dataset's 'model_name', 'stage_or_version', 'alias') at a model "
        f"that exists: models:/<model_id>, runs:/<run_id>/<name>, models:/<name>/<version> "
        f"or models:/<name>@<alias>."
    )


def _registry_detail(uri: str) -> str | None:
    """What the registry has instead of a ``models:/<name>/<version>`` or ``@<alias>`` URI."""
    if not uri.startswith("models:/"):
        return None
    path = uri[len("models:/") :].strip("/")
    name, alias, version = path, None, None
    if "@" in path:
        name, alias = path.split("@", 1)
    elif "/" in path:
        name, version = path.split("/", 1)
    else:
        return None  # a LoggedModel id
    client = mlflow.MlflowClient()
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        names = sorted(m.name for m in client.search_registered_models(max_results=20))
        return f"there is no registered model '{name}' (registered: {', '.join(names) or 'none'})"
    if alias is not None and alias not in model.aliases:
        known = ", ".join(sorted(model.aliases)) or "none"
        return f"registered model '{name}' has no alias '{alias}' (its aliases: {known})"
    if version is not None and version.isdigit():
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
        if int(version) not in versions:
            return (
                f"registered model '{name}' has no version {version} (its versions: "
                f"{', '.join(map(str, versions)) or 'none'})"
            )
    return None
