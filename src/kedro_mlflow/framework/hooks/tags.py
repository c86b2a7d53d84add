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
#: kedro-mlflow 2.x's name for the ``kedro run`` that reproduces the run.
KEDRO_COMMAND_TAG = "kedro_command"
#: MLflow refuses longer tag values.
MAX_TAG_LENGTH = 8000


def run_tags(
    settings: MlflowSettings, run_params: Mapping[str, Any], names: list[str]
) -> dict[str, str]:
    """The tags naming the Kedro session, pipeline, env, runner and command of a run.

    Every non-empty entry of ``run_params`` is a tag under its own name, and
    ``kedro_command`` the ``kedro run`` that reproduces the run, as kedro-mlflow 2.x tagged
    them (users' saved searches and UI columns use these names); the ``kedro_mlflow.*``
    tags add what those lack (the runner's class name, the command line as typed).
    """
    run_params = dict(run_params)
    if run_params.get("runner") in (None, "None"):
        # KedroSession.run() without a runner records "None", then runs a SequentialRunner.
        run_params["runner"] = "SequentialRunner"
    tags: dict[str, Any] = {key: value for key, value in run_params.items() if value}
    tags[KEDRO_COMMAND_TAG] = kedro_command(run_params)
    tags |= {
        SESSION_ID_TAG: run_params.get("run_id") or run_params.get("session_id"),
        PIPELINE_TAG: ",".join(names),
        ENV_TAG: run_params.get("env") or settings.env,
        RUNNER_TAG: runner_name(run_params.get("runner")),
        COMMAND_TAG: command_line(sys.argv),
        KEDRO_VERSION_TAG: run_params.get("kedro_version"),
        PROJECT_PATH_TAG: settings.project_path.as_posix(),
    }
    return {key: str(value)[:MAX_TAG_LENGTH] for key, value in tags.items() if value}


def kedro_command(run_params: Mapping[str, Any]) -> str:
    """The ``kedro run`` that selects the same nodes, written as kedro-mlflow 2.x wrote it.

    Examples:
        >>> kedro_command({"pipeline_names": ["data"], "tags": ["a", "b"], "node_names": None})
        'kedro run --pipeline=data --tag=a,b'
        >>> kedro_command({"load_versions": {"model": "2024-01-01T00.00.00.000Z"}})
        'kedro run --pipeline=__default__ --load-version=model:2024-01-01T00.00.00.000Z'
    """
    pipelines = run_params.get("pipeline_names") or [
        run_params.get("pipeline_name") or "__default__"
    ]
    options = [
        ("--from-inputs", run_params.get("from_inputs")),
        ("--from-nodes", run_params.get("from_nodes")),
        ("--to-nodes", run_params.get("to_nodes")),
        ("--node", run_params.get("node_names")),
        ("--pipeline", pipelines),
        ("--tag", run_params.get("tags")),
        (
            "--load-version",
            [
                f"{name}:{version}"
                for name, version in (run_params.get("load_versions") or {}).items()
            ],
        ),
    ]
    words = ["kedro", "run"]
    words += [f"{flag}={','.join(map(str, values))}" for flag, values in options if values]
    return " ".join(words)


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
