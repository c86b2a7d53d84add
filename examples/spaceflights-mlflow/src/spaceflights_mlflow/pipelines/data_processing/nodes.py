"""Generate a synthetic spaceflights dataset and clean it into a model input table.

The raw tables are written the way the real spaceflights data looks (ratings as
``"87%"``, flags as ``"t"``/``"f"``, prices as ``"$1,234.00"``), so the cleaning
nodes have real work to do. Everything derives from a seed: no downloads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LOCATIONS = ("Mars", "Moon", "Europa", "Titan", "Ceres")


def generate_companies(options: dict[str, Any]) -> pd.DataFrame:
    """Space shuttle companies, with their rating and IATA approval."""
    rng = np.random.default_rng(options["seed"])
    count = options["n_companies"]
    return pd.DataFrame(
        {
            "company_id": np.arange(count),
            "company_rating": [f"{rating:.0%}" for rating in rng.uniform(0.4, 1.0, count)],
            "iata_approved": rng.choice(["t", "f"], count),
            "company_location": rng.choice(LOCATIONS, count),
        }
    )


def generate_shuttles(companies: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    """Shuttles for hire; their price follows their features, plus noise."""
    rng = np.random.default_rng(options["seed"] + 1)
    count = options["n_shuttles"]
    company = rng.integers(0, len(companies), count)
    engines = rng.integers(1, 5, count)
    capacity = rng.integers(2, 12, count)
    crew = rng.integers(1, 6, count)
    d_check = rng.random(count) < 0.7
    moon_clearance = rng.random(count) < 0.3
    rating = companies["company_rating"].str.rstrip("%").astype(float).to_numpy()[company] / 100
    approved = companies["iata_approved"].eq("t").to_numpy()[company]
    price = (
        800
        + 350 * engines
        + 120 * capacity
        + 60 * crew
        + 400 * d_check
        + 250 * moon_clearance
        + 900 * rating
        + 300 * approved
        + rng.normal(0, 150, count)
    ) * options.get("price_factor", 1.0)
    return pd.DataFrame(
        {
            "shuttle_id": np.arange(count),
            "company_id": company,
            "engines": engines,
            "passenger_capacity": capacity,
            "crew": crew,
            "d_check_complete": np.where(d_check, "t", "f"),
            "moon_clearance_complete": np.where(moon_clearance, "t", "f"),
            "price": [f"${value:,.2f}" for value in price],
        }
    )


def _is_true(column: pd.Series) -> pd.Series:
    return column == "t"


def preprocess_companies(companies: pd.DataFrame) -> pd.DataFrame:
    """Ratings become fractions, flags become booleans."""
    return companies.assign(
        company_rating=companies["company_rating"].str.rstrip("%").astype(float) / 100,
        iata_approved=_is_true(companies["iata_approved"]),
    )


def preprocess_shuttles(shuttles: pd.DataFrame) -> pd.DataFrame:
    """Prices become numbers, flags become booleans."""
    return shuttles.assign(
        d_check_complete=_is_true(shuttles["d_check_complete"]),
        moon_clearance_complete=_is_true(shuttles["moon_clearance_complete"]),
        price=shuttles["price"].str.replace(r"[$,]", "", regex=True).astype(float),
    )


def create_model_input_table(shuttles: pd.DataFrame, companies: pd.DataFrame) -> pd.DataFrame:
    """One row per shuttle, with its company's features."""
    return shuttles.merge(companies, on="company_id", how="inner").dropna()
