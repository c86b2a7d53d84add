"""The tags of the run of a ``kedro run``: session, pipeline, env, runner, command."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import mlflow

if TYPE_CHECKING:
    from mlflow.entities import RunTag

    from kedro_mlflow.config.settings import MlflowSettings

SESSION_ID_TAG = "kedro_mlflow.session_id"
PIPELINE_TAG = "kedro_mlflow.pipeline"
ENV_TAG = "kedro_mlflow.env"
RUNNER_TAG = "kedro_mlflow.runner"
COMMAND_TAG = "kedro_mlflow.command"
KEDRO_VERSION_TAG = "kedro_mlflow.kedro_version"
PROJECT_PATH_TAG = "kedro_mlflow.project_path"
#: MLflow refuses longer tag values.
MAX_TAG_LENGTH = 8000


def run_tags(
    settings: MlflowSettings, run_params: Mapping[str, Any], names: list[str]
) -> dict[str, str]:
    """The tags naming the Kedro session, pipeline, env, runner and command of a run."""
    tags = {
        SESSION_ID_TAG: run_params.get("run_id") or run_params.get("session_id"),
        PIPELINE_TAG: ",".join(names),
        ENV_TAG: run_params.get("env") or settings.env,
        RUNNER_TAG: runner_name(run_params.get("runner")),
        COMMAND_TAG: command_line(sys.argv),
        KEDRO_VERSION_TAG: run_params.get("kedro_version"),
        PROJECT_PATH_TAG: settings.project_path.as_posix(),
    }
    return {key: str(value)[:MAX_TAG_LENGTH] for key, value in tags.items() if value}


def runner_name(runner: Any) -> str | None:
    """``SequentialRunner`` from what Kedro puts in ``run_params["runner"]`` (its repr)."""
    if runner is None:
        return None
    if not isinstance(runner, str):
        return type(runner).__name__
    match = re.search(r"([\w.]+) object at 0x", runner)
    return (match.group(1) if match else runner).rsplit(".", 1)[-1]


def command_line(argv: list[str]) -> str:
    """The command that started this process, as typed: ``kedro run --runner ThreadRunner``.

    Examples:
        >>> command_line(["/venv/bin/kedro", "run", "--pipelines", "a b"])
        "kedro run --pipelines 'a b'"
        >>> command_line(["python -m kedro", "run"])  # what Kedro's __main__ leaves
        'kedro run'
    """
    if not argv:
        return ""
    path = Path(argv[0])
    if argv[0].endswith(" -m kedro") or path.stem == "kedro" or path.parent.name == "kedro":
        program = ["kedro"]
    elif path.name == "__main__.py":
        program = ["python", "-m", path.parent.name]
    else:
        program = [path.name]
    return shlex.join([*program, *argv[1:]])


def as_run_tags(tags: Mapping[str, str]) -> list[RunTag]:
    """``tags`` as MLflow ``RunTag`` entities, for ``log_batch``."""
    return [mlflow.entities.RunTag(key, value) for key, value in tags.items()]
