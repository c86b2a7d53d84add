"""A model's pip requirements, inferred by MLflow once per environment and then reused.

MLflow infers them by loading the saved model in a subprocess and listing what it imports:
seconds for a tiny model, on every save. The result depends only on the flavor, on the
modules the model's pickle refers to and on the installed distributions, so it is kept on
disk under that key (``<cache>/.requirements/<key>.txt``) and passed back as
``pip_requirements`` to the next save of the same kind: the logged ``requirements.txt`` is
the same, without the subprocess. A model that does not pickle, or a save whose
``save_args`` already say what to require, is left to MLflow every time.

Given requirements, MLflow still checks them against the environment, through a map of every
installed module to its distribution that takes it ~0.4 s to build once per process. It too
depends only on the installed distributions: kept beside them, under the environment's key.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import pickle
import pickletools
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from kedro_mlflow._lazy import mlflow
from kedro_mlflow.io.artifacts import cache_root

#: ``save_args`` that decide the requirements themselves: no cache then.
REQUIREMENT_ARGS = frozenset({"pip_requirements", "extra_pip_requirements", "conda_env"})

_distributions: str | None = None


def requirements_key(flavor: str, model: Any, save_args: dict[str, Any]) -> str | None:
    """The cache key of ``model``'s requirements; None when they must be inferred anew."""
    if REQUIREMENT_ARGS & save_args.keys():
        return None
    modules = _pickled_modules(model)
    if modules is None:
        return None
    text = "\n".join([flavor, sys.version, _installed(), *sorted(modules)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _environment_key() -> str:
    return hashlib.sha256(f"{sys.version}\n{_installed()}".encode()).hexdigest()[:32]


def cached(key: str | None) -> list[str] | None:
    """The requirements remembered under ``key``, if any."""
    if key is None:
        return None
    try:
        lines = (_folder() / f"{key}.txt").read_text().splitlines()
    except OSError:
        return None
    known = [line for line in lines if line.strip()] or None
    if known is not None:
        _load_package_map()
    return known


def remember(key: str | None, requirements_txt: Path) -> None:
    """Keep the ``requirements.txt`` MLflow just inferred under ``key`` (atomically)."""
    if key is None:
        return
    try:
        text = requirements_txt.read_text()
    except OSError:
        return
    if any(line.startswith("-") for line in text.splitlines()):
        return  # constraints files (-c) belong to that one model
    _write(f"{key}.txt", text)
    _save_package_map()


def _write(name: str, text: str) -> None:
    """``text`` as ``<cache>/.requirements/<name>``, atomically."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(scratch, folder / name)


def _package_map_file() -> str:
    return f"packages-{_environment_key()}.json"


def _save_package_map() -> None:
    """Keep MLflow's module-to-distributions map once it has built it in this process."""
    requirements_utils = importlib.import_module("mlflow.utils.requirements_utils")
    found = getattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    if isinstance(found, dict) and not (_folder() / _package_map_file()).exists():
        _write(_package_map_file(), json.dumps(found))


def _load_package_map() -> None:
    """Give MLflow the map kept for this environment, unless it has one (or is not MLflow 3's);
    none kept yet: let MLflow build it now, as it would next, and keep it."""
    requirements_utils = importlib.import_module("mlflow.utils.requirements_utils")
    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", False) is not None:
        return
    try:
        found = json.loads((_folder() / _package_map_file()).read_text())
    except (OSError, ValueError):
        found = None
    if isinstance(found, dict):
        setattr(requirements_utils, "_MODULES_TO_PACKAGES", found)  # noqa: B010
    elif callable(build := getattr(requirements_utils, "_init_modules_to_packages_map", None)):
        build()
        _save_package_map()


def remember_logged(key: str | None, model_id: str) -> None:
    """Keep the requirements MLflow inferred for the model just logged (one small download)."""
    if key is None:
        return
    location = mlflow.get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory() as scratch:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location.rstrip('/')}/requirements.txt", dst_path=scratch
        )
        remember(key, Path(path))


def _folder() -> Path:
    # A dot-folder: the artifact cache's size cap and `kedro mlflow cache` skip it.
    return cache_root() / ".requirements"


def _installed() -> str:
    """Every installed distribution and its version, once per process."""
    global _distributions  # noqa: PLW0603 - computed once per process
    if _distributions is None:
        names = {
            f"{dist.metadata['Name']}=={dist.version}".lower() for dist in metadata.distributions()
        }
        _distributions = "\n".join(sorted(names))
    return _distributions


def _pickled_modules(model: Any) -> set[str] | None:
    """The modules a pickle of ``model`` imports when loaded; None if it does not pickle.

    Protocol 2 names each class by an inline ``GLOBAL "module name"``, simple to read back.
    """
    try:
        data = pickle.dumps(model, protocol=2)
    except Exception:
        return None
    return {
        str(arg).split(" ", 1)[0]
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data))
        if opcode.name == "GLOBAL"
    }
