"""The fitted regressor as an MLflow pyfunc model: what the catalog's ``price_model`` logs.

Imported by the node that makes it, so that only that node imports MLflow.
"""

from __future__ import annotations

import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # predict() is typed by the model's use, a DataFrame of the features: no type hints.
    warnings.filterwarnings("ignore", message=".*type hints to the `predict`")

    class PriceModel(mlflow.pyfunc.PythonModel):
        """Predicts the price of each row of a table holding the regressor's features."""

        def __init__(self, regressor: dict[str, Any]) -> None:
            self.regressor = regressor

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            features = model_input[self.regressor["features"]].to_numpy(dtype=float)
            design = np.column_stack([np.ones(len(features)), features])
            return pd.DataFrame({"predicted": design @ np.asarray(self.regressor["weights"])})
