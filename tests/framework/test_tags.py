"""The tags of a kedro run's MLflow run."""

from __future__ import annotations

import pytest

from kedro_mlflow.framework.hooks import tags
from tests.helpers import (
    OMEGACONF_DEPRECATION,
)

pytestmark = OMEGACONF_DEPRECATION


# -- small functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python -m kedro", "run", "--async"], "kedro run --async"),
        (["/venv/bin/kedro", "run", "--params", "a=b c"], "kedro run --params 'a=b c'"),
        (["/x/my_project/__main__.py", "run"], "python -m my_project run"),
        ([], ""),
    ],
)
def test_command_line(argv, expected):
    assert tags.command_line(argv) == expected


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        ("<kedro.runner.parallel_runner.ParallelRunner object at 0x7f>", "ParallelRunner"),
        ("SequentialRunner", "SequentialRunner"),
        (None, None),
    ],
)
def test_runner_name(runner, expected):
    assert tags.runner_name(runner) == expected
