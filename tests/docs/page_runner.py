"""Runs the steps of one docs page in the current folder, as a reader would, in order.

Usage: ``python page_runner.py STEPS.json [WHERE.txt]``: the folder it ends in is written to
``WHERE.txt``, for the page that continues this one. Files are written, ``python`` blocks run in one
shared namespace (like a notebook's cells), ``bash`` blocks in ``bash -euo pipefail`` with
``cd`` carried over. A block followed by an ``<!-- output -->`` block must print that text.
Exits 1 naming the first block that failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any


def output_matches(expected: str, actual: str) -> bool:
    """Whether what was printed ends with ``expected``, ``...`` matching anything.

    Whole lines are compared, spaces at their ends ignored; what Kedro's logging printed before
    is not part of what the page shows.
    """
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    printed = "\n".join(line.rstrip() for line in actual.strip().splitlines())
    return re.search(f"(?:^|\n){pattern}\\Z", printed, re.DOTALL) is not None


def run_python(code: str, label: str, namespace: dict[str, Any]) -> str:
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        exec(compile(code, label, "exec"), namespace)  # noqa: S102  (the docs' own code)
    return captured.getvalue()


def run_shell(code: str) -> str:
    with tempfile.NamedTemporaryFile("r", suffix=".cwd", delete=False) as cwd_file:
        where = cwd_file.name
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{code}\npwd > '{where}'"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"exit code {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
                f"--- stderr\n{result.stderr[-6000:]}"
            )
        os.chdir(Path(where).read_text().strip())
        return result.stdout
    finally:
        Path(where).unlink(missing_ok=True)


def main(steps_file: str, where_file: str | None = None) -> int:
    steps = json.loads(Path(steps_file).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for step in steps:
        label = step["label"]
        print(f"--- {label} ({step['kind']})", flush=True)  # noqa: T201
        try:
            if step["kind"] == "file":
                target = Path(step["target"])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(step["code"] + "\n", encoding="utf-8")
                continue
            if step["kind"] == "python":
                printed = run_python(step["code"], label, namespace)
            else:
                printed = run_shell(step["code"])
        except BaseException:
            print(f"FAILED: the block at {label} did not run:", file=sys.stderr)  # noqa: T201
            traceback.print_exc()
            return 1
        print(printed, flush=True)  # noqa: T201
        expected = step.get("expected")
        if expected is not None and not output_matches(expected, printed):
            print(  # noqa: T201
                f"FAILED: the block at {label} printed\n{printed}\nnot the output the page "
                f"shows after it:\n{expected}",
                file=sys.stderr,
            )
            return 1
    if where_file:
        Path(where_file).write_text(os.getcwd(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
