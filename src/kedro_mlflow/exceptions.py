"""The package's exceptions, importable without mlflow or pydantic.

.. code-block:: text

    KedroMlflowError
    ├── MlflowConfigError          (also a ValueError)   mlflow.yml, or what it points to
    ├── TrackingUnreachableError   (also a DatasetError) no tracking server at the URI
    ├── DatasetNotProvidedError    (also a DatasetError and an ImportError)
    │                              a kedro-mlflow 2.x dataset this package does not provide
    ├── KedroMlflowPipelineMLError (also a ValueError)   an inconsistent PipelineML
    └── KedroPipelineModelError    (also a ValueError)   a pipeline that cannot be a model

Dataset errors are Kedro's ``DatasetError``, so a catalog reports them as it does any
dataset's; ``TrackingUnreachableError`` is the one a caller may want to tell apart.
"""

from __future__ import annotations

from kedro.io import DatasetError


class KedroMlflowError(Exception):
    """Base class of the errors raised by kedro-mlflow itself."""


class MlflowConfigError(KedroMlflowError, ValueError):
    """``mlflow.yml`` (or what it points to) is invalid; the message names the key and file."""


class TrackingUnreachableError(KedroMlflowError, DatasetError):
    """The tracking server did not accept a connection."""


class DatasetNotProvidedError(KedroMlflowError, DatasetError, ImportError):
    """A kedro-mlflow 2.x dataset that this package does not provide was asked for.

    A ``DatasetError``, so Kedro's catalog reports the message unchanged; an
    ``ImportError``, so ``from kedro_mlflow.io.metrics import MlflowMetricDataset`` fails
    like any import of a missing name (``except ImportError`` catches it).
    """


class KedroMlflowPipelineMLError(KedroMlflowError, ValueError):
    """A ``PipelineML`` is inconsistent (e.g. ``input_name`` is not an input of inference)."""


class KedroPipelineModelError(KedroMlflowError, ValueError):
    """A ``KedroPipelineModel`` cannot be built or run from its pipeline and catalog."""
