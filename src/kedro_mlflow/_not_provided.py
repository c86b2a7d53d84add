"""The error raised for kedro-mlflow 2.x names that this package does not provide (yet).

``kedro_mlflow.io.metrics``, ``kedro_mlflow.io.models``, ``kedro_mlflow.mlflow`` and
``kedro_mlflow.pipeline`` exist so that a project still naming them (in ``catalog.yml`` or
in an import) gets a message saying what to do,
rather than Kedro's "No module named ... install the missing dependencies", which would send
its users looking for a package to install.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from kedro_mlflow.exceptions import DatasetNotProvidedError

#: Where to go for the datasets this package leaves out.
_KEEP_UPSTREAM = (
    'To keep using it, stay on kedro-mlflow 2.x for this project (pip install "kedro-mlflow<3")'
)


def raise_not_provided(
    module: str, name: str, alternatives: Mapping[str, str], kind: str = "dataset"
) -> NoReturn:
    """Fail the lookup of ``module.name``, naming the dataset and what to use instead.

    Args:
        module: The module looked into, e.g. ``kedro_mlflow.io.metrics``.
        name: The attribute looked up.
        alternatives: For each dataset kedro-mlflow 2.x had in ``module``, what to do in a
            node instead.
        kind: What ``name`` is, in the message (``dataset``, ``class``, ``function``).

    Raises:
        DatasetNotProvidedError: ``name`` is one of kedro-mlflow 2.x's datasets.
        AttributeError: Any other name (private and dunder names included, which tools
            probe with ``hasattr``).
    """
    if name in alternatives:
        raise DatasetNotProvidedError(
            f"'{module}.{name}' is a kedro-mlflow 2.x {kind} that this kedro-mlflow does "
            f"not provide: it versions the files your datasets write as MLflow artifacts "
            f"(kedro_mlflow.io.artifacts.MlflowArtifactDataset) and nothing else. "
            f"{_KEEP_UPSTREAM}; or instead {alternatives[name]}: in a node, MLflow's API "
            f"logs into the run of `kedro run`. See docs/migrating.md.",
            name=name,
        )
    raise AttributeError(f"module '{module}' has no attribute '{name}'")
