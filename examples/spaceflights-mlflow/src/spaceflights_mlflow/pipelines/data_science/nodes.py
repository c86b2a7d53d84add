"""Fit a linear price model with numpy least squares, score it and report on it.

The model is a plain dict (pickled by ``pickle.PickleDataset``): no extra dependency.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def split_data(data: pd.DataFrame, options: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffle the table and split it into a train and a test set."""
    shuffled = data.sample(frac=1.0, random_state=options["random_state"])
    test_size = round(len(shuffled) * options["test_size"])
    return shuffled.iloc[test_size:], shuffled.iloc[:test_size]


def _design_matrix(data: pd.DataFrame, features: list[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(data)), data[features].to_numpy(dtype=float)])


def train_model(train_set: pd.DataFrame, options: dict[str, Any]) -> dict[str, Any]:
    """Least-squares fit of the target on the features, with an intercept."""
    features = list(options["features"])
    target = options["target"]
    weights, *_ = np.linalg.lstsq(
        _design_matrix(train_set, features), train_set[target].to_numpy(dtype=float), rcond=None
    )
    return {
        # Lets a later run show which model it scored.
        "model_id": uuid.uuid4().hex,
        "target": target,
        "features": features,
        "weights": [float(weight) for weight in weights],
        "n_train": len(train_set),
    }


def predict(regressor: dict[str, Any], data: pd.DataFrame) -> pd.DataFrame:
    """The model's prediction next to the actual target, one row per shuttle."""
    predicted = _design_matrix(data, regressor["features"]) @ np.asarray(regressor["weights"])
    return pd.DataFrame(
        {
            "shuttle_id": data["shuttle_id"].to_numpy(),
            "company_location": data["company_location"].to_numpy(),
            "actual": data[regressor["target"]].to_numpy(dtype=float),
            "predicted": predicted.round(2),
        }
    )


def evaluate(regressor: dict[str, Any], predictions: pd.DataFrame) -> dict[str, Any]:
    """R², MAE and RMSE of the predictions, and which model made them."""
    error = predictions["predicted"] - predictions["actual"]
    spread = predictions["actual"] - predictions["actual"].mean()
    return {
        "model_id": regressor["model_id"],
        "n_scored": len(predictions),
        "r2": round(1 - float((error**2).sum() / (spread**2).sum()), 4),
        "mae": round(float(error.abs().mean()), 2),
        "rmse": round(float(np.sqrt((error**2).mean())), 2),
    }


def as_price_model(regressor: dict[str, Any]) -> Any:
    """The regressor as an MLflow pyfunc model, which ``price_model`` logs as a LoggedModel."""
    from .price_model import PriceModel  # noqa: PLC0415 - imports MLflow: only this node

    return PriceModel(regressor)


def r2_of_model(model: Any, test_set: pd.DataFrame, options: dict[str, Any]) -> float:
    """The R² of the logged model (loaded back from MLflow) on the test set: ``test_r2``."""
    actual = test_set[options["target"]].to_numpy(dtype=float)
    predicted = model.predict(test_set)["predicted"].to_numpy(dtype=float)
    return float(1 - ((actual - predicted) ** 2).sum() / ((actual - actual.mean()) ** 2).sum())


def r2_of(metrics: dict[str, Any]) -> float:
    """The R² of the evaluation, logged as the run's metric ``r2``."""
    return float(metrics["r2"])


def coefficients_table(regressor: dict[str, Any]) -> pd.DataFrame:
    """The fitted weights, one row per feature."""
    return pd.DataFrame(
        {"feature": ["intercept", *regressor["features"]], "weight": regressor["weights"]}
    )


def partition_by_location(predictions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One partition (file) per company location."""
    return {
        str(location).lower(): group.reset_index(drop=True)
        for location, group in predictions.groupby("company_location")
    }


def plot_predictions(predictions: pd.DataFrame) -> Figure:
    """Predicted against actual price (drawn with the Agg canvas, no display needed)."""
    figure = Figure(figsize=(5, 5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(predictions["actual"], predictions["predicted"], s=8, alpha=0.6)
    low = min(predictions["actual"].min(), predictions["predicted"].min())
    high = max(predictions["actual"].max(), predictions["predicted"].max())
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set_xlabel("actual price")
    axes.set_ylabel("predicted price")
    figure.tight_layout()
    return figure
