"""The ``mlflow.yml`` schema, how it is read from a Kedro project and what it resolves to.

The keys and defaults are those of kedro-mlflow 2.0.3, so users' files work unchanged, plus
``tracking.background_uploads``. Unknown keys are refused: a typo fails ``kedro run`` naming
the key and the file, before anything is written.

pydantic is imported here, so ``hooks`` and ``cli`` import this module inside functions only.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

logger = logging.getLogger(__name__)

#: The key under which Kedro's config loader serves ``mlflow.yml``.
CONFIG_KEY = "mlflow"
#: Which files of ``conf/<env>/`` make up the MLflow configuration.
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**"]
_CONFIG_SUFFIXES = {".yml", ".yaml", ".json"}
#: The shipped, commented template of every key (``kedro mlflow init`` writes it).
TEMPLATE_PATH = Path(__file__).with_name("mlflow.yml")
#: Tracking URIs that name a server, whose artifact location the server decides.
_SERVER_SCHEMES = {"http", "https", "databricks", "databricks-uc"}


class MlflowConfigError(ValueError):
    """``mlflow.yml`` (or what it points to) is invalid; the message names the key and file."""


class _Options(BaseModel):
    # Numbers are read as the strings they mean (a run id `123`, a port `5000`); booleans
    # stay strict so `flatten: "no"` is an error, not True.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class RequestHeaderProviderOptions(_Options):
    """``server.request_header_provider``: a class adding headers to MLflow's requests."""

    type: str | None = None
    pass_context: StrictBool = False
    init_kwargs: dict[str, Any] = Field(default_factory=dict)


class ServerOptions(_Options):
    """``server``: where runs are recorded and how to authenticate."""

    mlflow_tracking_uri: str | None = None
    mlflow_registry_uri: str | None = None
    credentials: str | None = None
    request_header_provider: RequestHeaderProviderOptions = Field(
        default_factory=RequestHeaderProviderOptions
    )


class DisableTrackingOptions(_Options):
    """``tracking.disable_tracking``: pipelines that log nothing."""

    pipelines: list[str] = Field(default_factory=list)
    disable_autologging: StrictBool = True


class CreateExperimentOptions(_Options):
    """``tracking.experiment.create_experiment_kwargs``: used when the experiment is created."""

    artifact_location: str | None = None
    tags: dict[str, Any] | None = None


class ExperimentOptions(_Options):
    """``tracking.experiment``: the experiment runs go into (``None``: the package name)."""

    name: str | None = None
    create_experiment_kwargs: CreateExperimentOptions = Field(
        default_factory=CreateExperimentOptions
    )
    restore_if_deleted: StrictBool = True


class RunOptions(_Options):
    """``tracking.run``: the run to resume (``id``), its ``name``; ``nested`` is accepted."""

    id: str | None = None
    name: str | None = None
    nested: StrictBool = True


class DictParamsOptions(_Options):
    """``tracking.params.dict_params``: how dict parameters become MLflow params."""

    flatten: StrictBool = False
    recursive: StrictBool = True
    sep: str = "."


class ParamsOptions(_Options):
    """``tracking.params``: node parameters logged as MLflow params."""

    dict_params: DictParamsOptions = Field(default_factory=DictParamsOptions)
    long_params_strategy: Literal["fail", "truncate", "tag"] = "fail"


class TrackingOptions(_Options):
    """``tracking``: what a ``kedro run`` records."""

    disable_tracking: DisableTrackingOptions = Field(default_factory=DisableTrackingOptions)
    experiment: ExperimentOptions = Field(default_factory=ExperimentOptions)
    run: RunOptions = Field(default_factory=RunOptions)
    params: ParamsOptions = Field(default_factory=ParamsOptions)
    background_uploads: StrictBool = True


class UiOptions(_Options):
    """``ui``: defaults of ``kedro mlflow ui``."""

    port: str = "5000"
    host: str = "127.0.0.1"

    @field_validator("port")
    @classmethod
    def _port_is_a_port(cls, value: str) -> str:
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ValueError(f"must be a TCP port number between 1 and 65535, got '{value}'")
        return value


class KedroMlflowConfig(_Options):
    """The whole of ``mlflow.yml``.

    Examples:
        In ``conf/base/mlflow.yml`` (every key is optional):

        .. code-block:: yaml

            server:
              mlflow_tracking_uri: sqlite:///mlflow.db  # relative to the project root
            tracking:
              experiment:
                name: my_project
              disable_tracking:
                pipelines: [inference]

        In Python:

        >>> from kedro_mlflow.framework.config import KedroMlflowConfig
        >>> config = KedroMlflowConfig.model_validate({"tracking": {"run": {"name": "nightly"}}})
        >>> config.tracking.run.name, config.tracking.background_uploads
        ('nightly', True)
    """

    server: ServerOptions = Field(default_factory=ServerOptions)
    tracking: TrackingOptions = Field(default_factory=TrackingOptions)
    ui: UiOptions = Field(default_factory=UiOptions)


# -- reading mlflow.yml through Kedro's config loader ---------------------------------------


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
    from kedro.config import MissingConfigException  # noqa: PLC0415

    add_config_pattern(config_loader)
    files = config_files(config_loader)
    try:
        raw = config_loader[CONFIG_KEY]
    except MissingConfigException:
        logger.debug("No mlflow.yml in the project: using kedro-mlflow's defaults.")
        raw = {}
    except KeyError as exc:
        raise MlflowConfigError(
            f"The project's config loader ({type(config_loader).__name__}) cannot serve "
            f"'{CONFIG_KEY}': add \"{CONFIG_KEY}\": {CONFIG_PATTERNS} to "
            f"CONFIG_LOADER_ARGS['config_patterns'] in settings.py."
        ) from exc
    try:
        return KedroMlflowConfig.model_validate(raw or {}), files
    except ValidationError as exc:
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
        where = [_display(path, project_path) for path, raw in raw_files.items() if _has(raw, loc)]
        shown = where or [_display(path, project_path) for path in files] or ["mlflow.yml"]
        lines.append(f"  - '{key}' in {', '.join(shown)}: {problem}")
    return (
        "Invalid MLflow configuration (mlflow.yml):\n"
        + "\n".join(lines)
        + "\nFix or remove these keys; `kedro mlflow init` writes a template with every "
        "valid key commented (use --env to pick the environment, --force to overwrite)."
    )


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = KedroMlflowConfig
    for part in loc:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
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


def _display(path: Path, project_path: Path) -> str:
    try:
        return path.resolve().relative_to(project_path.resolve()).as_posix()
    except ValueError:
        return str(path)


# -- what the configuration resolves to -----------------------------------------------------


@dataclass(frozen=True)
class MlflowSettings:
    """The configuration of one Kedro context, with every URI and name resolved.

    Attributes:
        config: The validated ``mlflow.yml``.
        project_path: The project root, from which relative paths are resolved.
        package_name: The project's package, the default experiment name.
        env: The Kedro run environment (``None``: the config loader's default).
        files: The ``mlflow.yml`` files read, for messages.
        tracking_uri: The tracking URI runs are recorded at.
        tracking_uri_origin: Where ``tracking_uri`` came from, for messages.
        registry_uri: The model registry URI, ``None`` for MLflow's default.
        experiment_name: The experiment new runs go into.
        artifact_location: Artifact location of the experiment when this plugin creates
            it; ``None`` lets the tracking server decide.
    """

    config: KedroMlflowConfig
    project_path: Path
    package_name: str
    env: str | None
    files: tuple[Path, ...]
    tracking_uri: str
    tracking_uri_origin: str
    registry_uri: str | None
    experiment_name: str
    artifact_location: str | None

    @property
    def where(self) -> str:
        """The configuration files, as shown in messages."""
        shown = [_display(path, self.project_path) for path in self.files]
        return ", ".join(shown) if shown else "the defaults (no mlflow.yml)"


def default_tracking_uri(project_path: Path) -> str:
    """The embedded store: sqlite ``mlflow.db`` in the project root."""
    return f"sqlite:///{project_path.resolve().as_posix()}/mlflow.db"


def resolve_uri(uri: str, project_path: Path) -> str:  # noqa: PLR0911
    """Make a tracking, registry or artifact URI independent of the working directory.

    A relative path, or a sqlite URI with a relative database path, is resolved from the
    project root; a URI with a scheme (``http://``, ``s3://``, ...) is returned unchanged.

    Args:
        uri: As written in ``mlflow.yml``.
        project_path: The project root.

    Returns:
        An absolute URI.

    Examples:
        >>> from pathlib import Path
        >>> resolve_uri("sqlite:///mlflow.db", Path("/project"))
        'sqlite:////project/mlflow.db'
        >>> resolve_uri("mlruns", Path("/project"))
        'file:///project/mlruns'
        >>> resolve_uri("http://localhost:5000", Path("/project"))
        'http://localhost:5000'
    """
    root = Path(os.path.abspath(project_path))
    if uri in _SERVER_SCHEMES:  # "databricks" is a URI, not a relative path
        return uri
    if PurePath(uri).is_absolute():
        return Path(uri).as_uri()
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        database = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if database and database != ":memory:" and not PurePath(database).is_absolute():
            return f"sqlite:///{(root / database).as_posix()}"
        return uri
    if scheme == "file" and not uri.startswith("file:/"):
        return (root / uri[len("file:") :]).as_uri()
    if scheme:
        return uri
    return (root / uri).as_uri()


def resolve_settings(
    config: KedroMlflowConfig,
    *,
    project_path: Path,
    package_name: str,
    env: str | None,
    files: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> MlflowSettings:
    """Resolve the tracking URI, experiment and artifact location of a project.

    The tracking URI is ``server.mlflow_tracking_uri``, else ``MLFLOW_TRACKING_URI``, else
    sqlite ``mlflow.db`` in the project root. Unless the URI names a server (http, https,
    databricks), a new experiment keeps its artifacts in ``<project>/mlruns``: MLflow's own
    default is ``./mlruns`` relative to whatever the working directory is.

    Args:
        config: The validated ``mlflow.yml``.
        project_path: The project root.
        package_name: The project's package, the default experiment name.
        env: The Kedro run environment.
        files: The ``mlflow.yml`` files read, for messages.
        environ: The environment variables (``os.environ`` when ``None``).

    Returns:
        The resolved settings.
    """
    environ = os.environ if environ is None else environ
    project_path = Path(os.path.abspath(project_path))
    settings_files = tuple(files)
    where = ", ".join(_display(path, project_path) for path in settings_files) or "mlflow.yml"
    server = config.server
    if server.mlflow_tracking_uri:
        tracking_uri = resolve_uri(server.mlflow_tracking_uri, project_path)
        origin = f"'server.mlflow_tracking_uri' in {where}"
    elif environ.get("MLFLOW_TRACKING_URI"):
        tracking_uri = environ["MLFLOW_TRACKING_URI"]
        origin = "the MLFLOW_TRACKING_URI environment variable"
    else:
        tracking_uri = default_tracking_uri(project_path)
        origin = "kedro-mlflow's default (no 'server.mlflow_tracking_uri' in mlflow.yml)"
    registry_uri = (
        resolve_uri(server.mlflow_registry_uri, project_path)
        if server.mlflow_registry_uri
        else None
    )
    configured_location = config.tracking.experiment.create_experiment_kwargs.artifact_location
    if configured_location:
        artifact_location: str | None = resolve_uri(configured_location, project_path)
    elif tracking_uri in _SERVER_SCHEMES or urlparse(tracking_uri).scheme in _SERVER_SCHEMES:
        artifact_location = None
    else:
        artifact_location = (project_path / "mlruns").as_uri()
    return MlflowSettings(
        config=config,
        project_path=project_path,
        package_name=package_name,
        env=env,
        files=settings_files,
        tracking_uri=tracking_uri,
        tracking_uri_origin=origin,
        registry_uri=registry_uri,
        experiment_name=config.tracking.experiment.name or package_name,
        artifact_location=artifact_location,
    )
