"""MLflow models made of Kedro pipelines (kedro-mlflow 2.x's ``KedroPipelineModel``).

Not provided yet: importing ``KedroPipelineModel`` fails with a ``NotProvidedError`` naming
what to do meanwhile.
"""

from __future__ import annotations

from typing import NoReturn

from kedro_mlflow._not_provided import raise_not_provided

__all__: list[str] = []

_ALTERNATIVES = {
    "KedroPipelineModel": (
        "log the model with mlflow.pyfunc.log_model(python_model=...) from a node of your own"
    ),
}


def __getattr__(name: str) -> NoReturn:
    raise_not_provided(__name__, name, _ALTERNATIVES, kind="class")
