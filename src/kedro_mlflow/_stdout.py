"""The stdout of ``kedro mlflow ... --json`` holds the JSON and nothing else.

Kedro's CLI logs a line to stdout when it is imported ("Using '.../rich_logging.yml' as
logging configuration"), before any plugin's code runs, so a program reading the JSON would
fail on it. kedro-mlflow installs a ``.pth`` file (``kedro_mlflow-json-stdout.pth``) that
imports this module at interpreter start-up when ``--json`` is on the command line. For a
``kedro mlflow ...`` command, everything written to ``sys.stdout`` from then on (Kedro's
start-up line, logs, warnings) goes to stderr, and the command writes its JSON to the stdout
kept here (``json_stdout()``). Any other program is left alone.

Only the standard library is imported: this runs before ``site`` has finished.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_kept: TextIO | None = None


def is_kedro_mlflow_json(argv: list[str]) -> bool:
    """Whether ``argv`` (``sys.orig_argv``) runs ``kedro mlflow ... --json``.

    Examples:
        >>> is_kedro_mlflow_json(["python", "-m", "kedro", "mlflow", "versions", "x", "--json"])
        True
        >>> is_kedro_mlflow_json(["/venv/bin/kedro", "mlflow", "versions", "x", "--json"])
        True
        >>> is_kedro_mlflow_json(["/venv/bin/kedro", "run", "--json"])
        False
        >>> is_kedro_mlflow_json(["python", "tool.py", "mlflow", "--json"])
        False
    """
    for index, arg in enumerate(argv):
        if arg == "-m":
            start = index + 2 if argv[index + 1 : index + 2] == ["kedro"] else None
            break
        name = os.path.basename(arg).lower()
        if name in {"kedro", "kedro.exe", "kedro-script.py"}:
            start = index + 1
            break
    else:
        return False
    return start is not None and argv[start : start + 1] == ["mlflow"] and "--json" in argv[start:]


def json_stdout() -> TextIO:
    """Where a ``--json`` command writes its JSON: the stdout kept at start-up, else stdout."""
    return _kept if _kept is not None else sys.stdout


def _keep_stdout_for_json() -> None:
    global _kept  # one stdout per process, kept once at start-up
    if _kept is None and is_kedro_mlflow_json(list(getattr(sys, "orig_argv", sys.argv))):
        _kept, sys.stdout = sys.stdout, sys.stderr


_keep_stdout_for_json()
