"""The ``mlflow.yml`` schema: every key, its type and its default.

The keys and defaults are those of kedro-mlflow 2.0.3, so users' files work unchanged, plus
``tracking.background_uploads`` and ``tracking.cache_max_bytes``. Unknown keys are refused: a
typo fails ``kedro run`` naming the key and the file (``loading.describe_errors``), before
anything is written.

pydantic is imported here: the rest of the package reaches this module lazily, through
``kedro_mlflow.config.loading``, so that Kedro commands that never read ``mlflow.yml``
do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
)

from kedro_mlflow._lazy import mlflow
from kedro_mlflow._sizes import parse_size

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["BaseModel", "ValidationError"]  # used by loading.py, which imports no pydantic


#: The shipped, commented template of every key (``kedro mlflow init`` writes it).
TEMPLATE_PATH = Path(__file__).with_name("mlflow.yml")


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
    request_timeout: float = 30.0
    _client: Any = PrivateAttr(default=None)

    @property
    def _mlflow_client(self) -> MlflowClient:
        """An ``MlflowClient`` on these URIs, made at first use (kedro-mlflow 2.x's attribute).

        Code written for 2.x reads ``context.mlflow.server._mlflow_client``; the client is
        created when it is first read, so that a context never imports mlflow for it.
        """
        if self._client is None:
            self._client = mlflow.MlflowClient(
                tracking_uri=self.mlflow_tracking_uri, registry_uri=self.mlflow_registry_uri
            )
        client: MlflowClient = self._client
        return client

    @field_validator("request_timeout")
    @classmethod
    def _timeout_is_positive(cls, value: float) -> float:
        if not 0 < value < float("inf"):
            raise ValueError(f"must be a number of seconds greater than 0, got {value}")
        return value


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
    cache_max_bytes: str | None = None

    @field_validator("cache_max_bytes")
    @classmethod
    def _cache_max_bytes_is_a_size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)  # its ValueError names the accepted forms
        return value


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

        >>> from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
        >>> config = KedroMlflowConfig.model_validate({"tracking": {"run": {"name": "nightly"}}})
        >>> config.tracking.run.name, config.tracking.background_uploads
        ('nightly', True)
    """

    server: ServerOptions = Field(default_factory=ServerOptions)
    tracking: TrackingOptions = Field(default_factory=TrackingOptions)
    ui: UiOptions = Field(default_factory=UiOptions)
