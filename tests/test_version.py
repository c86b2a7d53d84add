"""The version number: one value everywhere, sorting after the plugin this package replaces."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.version import Version

import kedro_mlflow

#: The newest kedro-mlflow release on the package index when this was written.
NEWEST_UPSTREAM_RELEASE = "2.0.3"


def test_the_version_is_the_same_in_pyproject_the_package_and_its_metadata():
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    assert declared is not None
    assert kedro_mlflow.__version__ == declared.group(1)
    assert importlib.metadata.version("kedro-mlflow") == kedro_mlflow.__version__


def test_the_version_sorts_after_every_upstream_release():
    """At 0.1.0, `pip install -U kedro-mlflow` replaced this package with upstream's 2.0.3."""
    assert Version(kedro_mlflow.__version__) > Version(NEWEST_UPSTREAM_RELEASE)
