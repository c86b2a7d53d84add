"""The folders show the architecture; each room keeps its one rule (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kedro_mlflow"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: The modules allowed to import mlflow or pydantic when they are imported themselves.
#: Nothing imports omegaconf (``kedro.config`` too) when imported: it costs ~0.1 s to load.
#: ``mlflow/kedro_pipeline_model.py`` subclasses mlflow's PythonModel; ``kedro_mlflow.mlflow``
#: imports it at first use only.
HEAVY_IMPORTERS = {"_lazy.py", "config/kedro_mlflow_config.py", "mlflow/kedro_pipeline_model.py"}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        if _is_type_checking_block(node):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _ours(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _imports_any(path: Path, prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in runtime_imports(path) if m.startswith(prefixes)}


@pytest.mark.parametrize("path", [p for p in MODULES if _ours(p).startswith("io/")], ids=_ours)
def test_io_knows_nothing_of_framework_or_config(path):
    assert not _imports_any(path, ("kedro_mlflow.framework", "kedro_mlflow.config"))


@pytest.mark.parametrize("path", [p for p in MODULES if _ours(p).startswith("config/")], ids=_ours)
def test_config_knows_nothing_of_framework_or_io(path):
    assert not _imports_any(path, ("kedro_mlflow.framework", "kedro_mlflow.io"))


@pytest.mark.parametrize("path", [p for p in MODULES if _ours(p) not in HEAVY_IMPORTERS], ids=_ours)
def test_mlflow_and_pydantic_are_imported_through_the_lazy_boundary(path):
    assert not _imports_any(path, ("mlflow", "pydantic"))


@pytest.mark.parametrize("path", [p for p in MODULES if _ours(p) != "_lazy.py"], ids=_ours)
def test_omegaconf_is_imported_through_the_lazy_boundary(path):
    assert not _imports_any(path, ("omegaconf", "kedro.config"))


def test_exceptions_import_nothing_heavy():
    assert _imports_any(PACKAGE / "exceptions.py", ("kedro_mlflow",)) == set()


def test_the_check_sees_imports():
    """A check that saw no import would pass whatever the code does."""
    configure = PACKAGE / "framework" / "hooks" / "configure.py"
    assert "kedro_mlflow._lazy" in runtime_imports(configure)
    assert "mlflow" not in runtime_imports(configure)
    assert "pydantic" in runtime_imports(PACKAGE / "config" / "kedro_mlflow_config.py")
