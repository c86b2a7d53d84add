"""Reading ``mlflow.yml`` through Kedro's config loader, and naming its files in messages.

The schema (pydantic) is imported at the first read, not with this module: the CLI imports
this module on every ``kedro`` command.
"""

from __future__ import annotations

import difflib
import logging
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_mlflow._lazy import kedro_config, lazy_module, omegaconf, yaml
from kedro_mlflow.exceptions import MlflowConfigError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from kedro_mlflow.config import kedro_mlflow_config as schema
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
else:
    schema = lazy_module("kedro_mlflow.config.kedro_mlflow_config")

logger = logging.getLogger(__name__)

#: The key under which Kedro's config loader serves ``mlflow.yml``.
CONFIG_KEY = "mlflow"
#: Which files of ``conf/<env>/`` make up the MLflow configuration.
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**"]
_CONFIG_SUFFIXES = {".yml", ".yaml", ".json"}


_ADJECTIVES = (
    "amber bold brisk calm clever crisp deft eager fair gentle glad keen lucid merry "
    "nimble placid quick quiet rapid sharp steady sunny swift tidy vivid witty"
).split()
_NOUNS = (
    "badger bison crane dolphin falcon ferret gecko heron ibis koala lemur lynx marten "
    "newt otter owl panda quail raven robin seal stoat swan tapir walrus wren"
).split()


def random_name() -> str:
    """A readable run name like MLflow's, ``adjective-noun-N`` (``${km.random_name:}``).

    Examples:
        >>> import re
        >>> bool(re.fullmatch(r"[a-z]+-[a-z]+-\\d{1,3}", random_name()))
        True
    """
    pick = secrets.SystemRandom()
    return f"{pick.choice(_ADJECTIVES)}-{pick.choice(_NOUNS)}-{pick.randrange(1000)}"


def register_resolvers() -> None:
    """Make ``${km.random_name:}`` (kedro-mlflow 2.x's resolver) usable in ``mlflow.yml``.

    One name per read of the configuration: every use in it resolves to the same name.
    """
    omega = omegaconf.OmegaConf
    if omega.has_resolver("km.random_name"):
        return
    # omegaconf 2.4 renamed register_new_resolver, which it now deprecates; Kedro 1.x
    # also runs on 2.3, which has only the old name.
    major, minor = (int(part) for part in omegaconf.__version__.split(".")[:2])
    register = omega.register_resolver if (major, minor) >= (2, 4) else omega.register_new_resolver
    register("km.random_name", random_name, use_cache=True)


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it (as shown in messages), else whole.

    Examples:
        >>> display_path(Path("/project/conf/base/mlflow.yml"), Path("/project"))
        'conf/base/mlflow.yml'
    """
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def add_config_pattern(config_loader: Any) -> None:
    """Let Kedro's config loader serve ``conf/<env>/mlflow*.yml`` under the ``mlflow`` key.

    A pattern the project already declares (``CONFIG_LOADER_ARGS`` in settings.py) is kept.
    """
    patterns = getattr(config_loader, "config_patterns", None)
    if isinstance(patterns, dict):
        patterns.setdefault(CONFIG_KEY, list(CONFIG_PATTERNS))


def config_files(config_loader: Any) -> list[Path]:
    """The local files making up the MLflow configuration, base environment first.

    Used to name files in error messages; empty when the configuration is not on local disk.
    """
    conf_source = getattr(config_loader, "conf_source", None)
    if not conf_source or "://" in str(conf_source) or not Path(conf_source).is_dir():
        return []
    patterns = getattr(config_loader, "config_patterns", {}).get(CONFIG_KEY, CONFIG_PATTERNS)
    base_env = getattr(config_loader, "base_env", None) or ""
    run_env = getattr(config_loader, "env", None) or getattr(config_loader, "default_run_env", None)
    envs = [base_env] + ([run_env] if run_env and run_env != base_env else [])
    found: list[Path] = []
    for env in envs:
        folder = Path(conf_source) / env
        # pathlib's "**" matches folders only (fsspec's, which Kedro uses, matches files too)
        candidates = {
            candidate
            for pattern in patterns
            for path in folder.glob(pattern)
            for candidate in ([path, *path.rglob("*")] if path.is_dir() else [path])
        }
        matches = {
            path
            for path in candidates
            if path.is_file()
            and path.suffix in _CONFIG_SUFFIXES
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        }
        found.extend(sorted(matches))
    return found


def read_config(config_loader: Any, project_path: Path) -> tuple[KedroMlflowConfig, list[Path]]:
    """Read and validate the project's MLflow configuration for the loader's environment.

    Args:
        config_loader: The context's config loader (base and run environments merged).
        project_path: The project root, to show files relative to it.

    Returns:
        The validated configuration (defaults when there is no ``mlflow.yml``) and the
        files it was read from.

    Raises:
        MlflowConfigError: Naming every invalid key, the file it is in and what to do.
    """
    add_config_pattern(config_loader)
    register_resolvers()
    files = config_files(config_loader)
    try:
        raw = config_loader[CONFIG_KEY]
    except kedro_config.MissingConfigException:
        logger.debug("No mlflow.yml in the project: using kedro-mlflow's defaults.")
        raw = {}
    except KeyError as exc:
        raise MlflowConfigError(
            f"The project's config loader ({type(config_loader).__name__}) cannot serve "
            f"'{CONFIG_KEY}': add \"{CONFIG_KEY}\": {CONFIG_PATTERNS} to "
            f"CONFIG_LOADER_ARGS['config_patterns'] in settings.py."
        ) from exc
    try:
        return schema.KedroMlflowConfig.model_validate(raw or {}), files
    except schema.ValidationError as exc:
        raise MlflowConfigError(describe_errors(exc, files, project_path)) from None


def describe_errors(error: ValidationError, files: Sequence[Path], project_path: Path) -> str:
    """One line per invalid key: its dotted name, the problem, the file(s) it is in."""
    raw_files = {path: _load_yaml(path) for path in files}
    lines = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        key = ".".join(loc) or "<top level>"
        if item["type"] == "extra_forbidden":
            problem = "unknown key"
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            if close:
                problem += f", did you mean '{close[0]}'?"
            elif known:
                problem += f" (expected one of: {', '.join(known)})"
        elif item["type"] == "value_error":
            problem = item["msg"].removeprefix("Value error, ")
        else:
            problem = item["msg"]
            if not isinstance(item.get("input"), dict | list):
                problem += f" (got {item.get('input')!r})"
        where = [
            display_path(path, project_path) for path, raw in raw_files.items() if _has(raw, loc)
        ]
        shown = where or [display_path(path, project_path) for path in files] or ["mlflow.yml"]
        lines.append(f"  - '{key}' in {', '.join(shown)}: {problem}")
    return (
        "Invalid MLflow configuration (mlflow.yml):\n"
        + "\n".join(lines)
        + "\nFix or remove these keys; `kedro mlflow init` writes a template with every "
        "valid key commented (use --env to pick the environment, --force to overwrite)."
    )


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[schema.BaseModel] = schema.KedroMlflowConfig
    for part in loc:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, schema.BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _has(raw: Any, loc: tuple[str, ...]) -> bool:
    for part in loc:
        if isinstance(raw, Mapping) and part in raw:
            raw = raw[part]
        elif isinstance(raw, list) and part.isdigit() and int(part) < len(raw):
            raw = raw[int(part)]
        else:
            return False
    return True
