"""A model dataset's ``flavor`` (``mlflow.sklearn``, ``mlflow.pyfunc``, ...) turned into its module.

The flavor is imported at the first save or load, not when the catalog is built: importing
mlflow costs every ``kedro`` command a second. A name that does not import fails naming the
dataset, the flavor and the closest ``mlflow.*`` flavor modules.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from kedro.io import DatasetError

from kedro_mlflow._lazy import mlflow

#: The two ways kedro-mlflow 2.x saves an ``mlflow.pyfunc`` model.
PYFUNC_WORKFLOWS = ("python_model", "loader_module")


@dataclass(frozen=True)
class Flavor:
    """A model dataset's flavor: its module path and, for ``mlflow.pyfunc``, its workflow.

    Attributes:
        name: The module path, e.g. ``mlflow.sklearn``.
        pyfunc_workflow: ``python_model`` or ``loader_module`` for ``mlflow.pyfunc``, else None.
        owner: The dataset's class name, for messages.
    """

    name: str
    pyfunc_workflow: str | None
    owner: str

    def module(self) -> ModuleType:
        """The flavor's module, imported.

        Raises:
            DatasetError: It does not import (the closest flavor modules in the message).
        """
        try:
            return importlib.import_module(self.name)
        except ImportError as exc:
            close = difflib.get_close_matches(self.name, _flavor_modules(), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DatasetError(
                f"{self.owner}: flavor '{self.name}' cannot be imported ({exc}).{hint} Set "
                f"'flavor' to an MLflow flavor module such as 'mlflow.sklearn' or "
                f"'mlflow.pyfunc', or install the package that provides it."
            ) from exc

    def write(self, function: str, model: Any, **kwargs: Any) -> Any:
        """Call the flavor's ``save_model`` or ``log_model`` on ``model``.

        Every flavor takes its model as the first argument, but ``mlflow.pyfunc`` takes it
        as ``python_model`` or ``loader_module``.
        """
        write = getattr(self.module(), function)
        if self.pyfunc_workflow is not None:
            return write(**{self.pyfunc_workflow: model}, **kwargs)
        return write(model, **kwargs)

    def load(self, uri: str, **kwargs: Any) -> Any:
        """The flavor's ``load_model(uri)``."""
        return self.module().load_model(uri, **kwargs)


def make_flavor(owner: str, flavor: str, pyfunc_workflow: str | None) -> Flavor:
    """Check ``flavor`` and ``pyfunc_workflow`` together, without importing anything.

    Raises:
        DatasetError: ``mlflow.pyfunc`` without a known workflow, or a workflow for another
            flavor.
    """
    if not isinstance(flavor, str) or not flavor:
        raise DatasetError(f"{owner}: 'flavor' must be a module path such as 'mlflow.sklearn'.")
    if flavor == "mlflow.pyfunc":
        if pyfunc_workflow not in PYFUNC_WORKFLOWS:
            raise DatasetError(
                f"{owner}: flavor 'mlflow.pyfunc' needs 'pyfunc_workflow' set to "
                f"'python_model' or 'loader_module' (got {pyfunc_workflow!r})."
            )
        return Flavor(flavor, pyfunc_workflow, owner)
    if pyfunc_workflow is not None:
        raise DatasetError(
            f"{owner}: 'pyfunc_workflow' ({pyfunc_workflow!r}) only applies to flavor "
            f"'mlflow.pyfunc', not '{flavor}'. Remove it, or set 'flavor: mlflow.pyfunc'."
        )
    return Flavor(flavor, None, owner)


def _flavor_modules() -> list[str]:
    return [f"mlflow.{info.name}" for info in pkgutil.iter_modules(mlflow.__path__)]
