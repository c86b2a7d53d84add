"""The folders show the architecture: io/ (datasets) knows nothing of framework/ (Kedro hooks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IO = Path(__file__).resolve().parents[1] / "src" / "kedro_mlflow" / "io"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(IO.rglob("*.py")), ids=lambda p: p.name)
def test_io_does_not_import_framework(path):
    assert not {m for m in imported_modules(path) if m.startswith("kedro_mlflow.framework")}


def test_the_check_sees_imports():
    hooks = IO.parent / "framework" / "hooks.py"
    assert "kedro_mlflow._net" in imported_modules(hooks)
