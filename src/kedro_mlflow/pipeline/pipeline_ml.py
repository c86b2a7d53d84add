"""``PipelineML``: a training pipeline that carries the inference pipeline to log as its model.

It is a Kedro ``Pipeline`` (the training nodes) plus ``inference``, ``input_name`` and the
keyword arguments of the model. Kedro's pipeline operations (``+``, ``-``, ``&``, ``|``,
``filter``, ``from_nodes``, ``tag``, ...) return a plain ``Pipeline``; here they return a
``PipelineML`` with the same inference (all but ``pipeline - pipeline_ml``, which removes
it), so ``kedro run --from-nodes ...`` and ``sum(pipelines.values())`` in
``register_pipelines`` keep the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from kedro_mlflow.exceptions import KedroMlflowPipelineMLError

__all__ = ["KedroMlflowPipelineMLError", "PipelineML"]

#: Kedro's methods that build a new pipeline from this one's nodes.
_UNARY_OPERATIONS = (
    "filter",
    "from_inputs",
    "from_nodes",
    "only_nodes",
    "only_nodes_with_inputs",
    "only_nodes_with_namespaces",
    "only_nodes_with_outputs",
    "only_nodes_with_tags",
    "tag",
    "to_nodes",
    "to_outputs",
)


#: What ``log_model_kwargs`` holds unless it says otherwise: the model is ``model`` of the run,
#: its signature inferred from ``input_name``'s data.
LOG_MODEL_KWARGS_DEFAULT: dict[str, Any] = {"signature": "auto", "name": "model"}


class PipelineML(Pipeline):
    """A training pipeline whose successful ``kedro run`` logs ``inference`` as an MLflow model.

    Build it with ``kedro_mlflow.pipeline.pipeline_ml_factory``.

    Args:
        nodes: The training nodes (or pipelines).
        inference: The pipeline the model runs at predict time.
        input_name: The input of ``inference`` that the model's caller provides.
        kpm_kwargs: Keyword arguments of ``KedroPipelineModel`` (``runner``, ``copy_mode``).
        log_model_kwargs: Keyword arguments of ``mlflow.pyfunc.log_model``.
        tags: Tags of the training nodes, as for ``Pipeline``.

    Raises:
        KedroMlflowPipelineMLError: ``inference`` is not a ``Pipeline``, or ``input_name``
            is not one of its inputs.
    """

    def __init__(
        self,
        nodes: Iterable[Node | Pipeline] | Pipeline,
        *,
        inference: Pipeline,
        input_name: str,
        kpm_kwargs: dict[str, Any] | None = None,
        log_model_kwargs: dict[str, Any] | None = None,
        tags: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__(nodes, tags=tags)
        _check_inference(inference, input_name)
        self.inference = inference
        self.input_name = input_name
        self.kpm_kwargs = dict(kpm_kwargs or {})
        self.log_model_kwargs = {**LOG_MODEL_KWARGS_DEFAULT, **_named(log_model_kwargs or {})}

    @property
    def training(self) -> Pipeline:
        """The training nodes as a plain ``Pipeline``."""
        return Pipeline(self.nodes)

    def _like_me(self, pipeline: Pipeline) -> PipelineML:
        """``pipeline``'s nodes with this one's inference, input name and model arguments."""
        return PipelineML(
            pipeline.nodes,
            inference=self.inference,
            input_name=self.input_name,
            kpm_kwargs=self.kpm_kwargs,
            log_model_kwargs=self.log_model_kwargs,
        )

    def _combine(self, other: Any, operation: Callable[[Any, Any], Any]) -> Any:
        if isinstance(other, PipelineML) and (
            other.inference.nodes != self.inference.nodes or other.input_name != self.input_name
        ):
            raise KedroMlflowPipelineMLError(
                "Cannot combine two PipelineML with different inference pipelines or "
                f"input names ({self.input_name!r} and {other.input_name!r}): a run logs one "
                "model. Combine one PipelineML with plain Pipelines."
            )
        result = operation(self, other)
        return result if result is NotImplemented else self._like_me(result)

    def __add__(self, other: Any) -> Any:
        return self._combine(other, Pipeline.__add__)

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, int) and other == 0:
            return self
        return self._combine(other, lambda me, them: Pipeline.__add__(them, me))

    def __sub__(self, other: Any) -> Any:
        return self._combine(other, Pipeline.__sub__)

    def __and__(self, other: Any) -> Any:
        return self._combine(other, Pipeline.__and__)

    def __rand__(self, other: Any) -> Any:
        return self._combine(other, lambda me, them: Pipeline.__and__(them, me))

    def __or__(self, other: Any) -> Any:
        return self._combine(other, Pipeline.__or__)

    def __ror__(self, other: Any) -> Any:
        return self._combine(other, lambda me, them: Pipeline.__or__(them, me))


def _keeping_the_model(name: str) -> Callable[..., PipelineML]:
    """Kedro's ``Pipeline.<name>``, returning a ``PipelineML`` like the one it is called on."""
    operation = getattr(Pipeline, name)

    def keeping_the_model(self: PipelineML, *args: Any, **kwargs: Any) -> PipelineML:
        return self._like_me(operation(self, *args, **kwargs))

    keeping_the_model.__name__ = name
    keeping_the_model.__doc__ = operation.__doc__
    return keeping_the_model


for _name in _UNARY_OPERATIONS:
    setattr(PipelineML, _name, _keeping_the_model(_name))


def _named(log_model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``log_model_kwargs`` with MLflow 2's ``artifact_path`` as MLflow 3's ``name``."""
    kwargs = dict(log_model_kwargs)
    if "artifact_path" in kwargs:
        if "name" in kwargs:
            raise KedroMlflowPipelineMLError(
                "log_model_kwargs has both 'name' and 'artifact_path' (MLflow 2's name of "
                "'name'): keep 'name' only."
            )
        kwargs["name"] = kwargs.pop("artifact_path")
    return kwargs


def _check_inference(inference: Any, input_name: Any) -> None:
    if not isinstance(inference, Pipeline):
        raise KedroMlflowPipelineMLError(
            f"inference must be a kedro Pipeline, got {type(inference).__name__}: pass the "
            "pipeline the model runs at predict time."
        )
    outputs = sorted(inference.outputs())
    if len(outputs) != 1:
        raise KedroMlflowPipelineMLError(
            f"The inference pipeline must have exactly one output, the prediction; it has "
            f"{outputs}. Make the others intermediate datasets or remove their nodes."
        )
    inputs = sorted(inference.inputs())
    if input_name not in inputs:
        raise KedroMlflowPipelineMLError(
            f"input_name={input_name!r} is not an input of the inference pipeline; its inputs "
            f"are {inputs}. Pass the one the model's caller provides at predict time."
        )
