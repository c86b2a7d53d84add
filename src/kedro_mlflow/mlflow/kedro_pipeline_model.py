"""``KedroPipelineModel``: an MLflow pyfunc model that runs a Kedro inference pipeline.

The pipeline's inputs other than ``input_name`` (fitted models, encoders, parameters) are the
model's artifacts: ``extract_pipeline_artifacts`` writes each one's data to a file, MLflow
packages the files, ``load_context`` reads them back into memory. ``predict`` runs the
pipeline on the caller's data with the catalog's MLflow logging switched off, so predicting
never writes to a run, and without Kedro's INFO lines (a served model predicts per request).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import kedro.runner as kedro_runners
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner, SequentialRunner
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from kedro_mlflow.exceptions import KedroPipelineModelError
from kedro_mlflow.io.catalog import switch_catalog_logging

__all__ = ["KedroPipelineModel", "KedroPipelineModelError"]


class KedroPipelineModel(PythonModel):
    """Runs ``pipeline`` on the data given to ``predict`` as ``input_name``.

    Args:
        pipeline: The inference pipeline; it has exactly one output, the prediction.
        catalog: A catalog holding every input of ``pipeline`` other than ``input_name``.
        input_name: The input of ``pipeline`` the caller of ``predict`` provides.
        runner: The Kedro runner of ``predict`` (default ``SequentialRunner()``).
        copy_mode: How the in-memory artifacts are handed to nodes: ``"assign"``,
            ``"copy"`` or ``"deepcopy"``, or a dict of dataset name to one of these.

    Raises:
        KedroPipelineModelError: ``input_name`` is not an input of ``pipeline``, the
            pipeline has not exactly one output, or an input is missing from ``catalog``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        catalog: Any,
        input_name: str,
        runner: AbstractRunner | None = None,
        copy_mode: str | dict[str, str] | None = "assign",
    ) -> None:
        inputs = sorted(pipeline.inputs())
        if input_name not in inputs:
            raise KedroPipelineModelError(
                f"input_name={input_name!r} is not an input of the pipeline; its inputs are "
                f"{inputs}."
            )
        outputs = sorted(pipeline.outputs())
        if len(outputs) != 1:
            raise KedroPipelineModelError(
                f"The inference pipeline must have exactly one output, the prediction; it "
                f"has {outputs}. Make the other outputs intermediate or remove them."
            )
        missing = [name for name in inputs if name != input_name and name not in catalog]
        if missing:
            raise KedroPipelineModelError(
                f"The inputs {missing} of the inference pipeline are not in the catalog: "
                "declare them in catalog.yml (persisted) so they can be packaged with the model."
            )
        modes = copy_mode.values() if isinstance(copy_mode, dict) else [copy_mode or "assign"]
        wrong = sorted(set(modes) - {"assign", "copy", "deepcopy"})
        if wrong:
            raise KedroPipelineModelError(
                f"copy_mode {wrong} is not one of 'assign', 'copy', 'deepcopy' (or a dict of "
                "dataset name to one of these)."
            )
        self.pipeline = pipeline
        self.input_name = input_name
        self.output_name = outputs[0]
        self.initial_catalog = catalog
        self.runner = runner or SequentialRunner()
        self.copy_mode = copy_mode
        self.loaded_catalog: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        """What MLflow pickles: no catalog, whose data are the model's artifacts already."""
        state = dict(self.__dict__)
        state["initial_catalog"] = None
        state["loaded_catalog"] = {}
        return state

    @property
    def artifact_names(self) -> list[str]:
        """The inputs of the pipeline packaged with the model (all but ``input_name``)."""
        return sorted(set(self.pipeline.inputs()) - {self.input_name})

    def extract_pipeline_artifacts(self, parameters_saving_folder: Path | str) -> dict[str, str]:
        """Write the data of each artifact input to ``parameters_saving_folder``.

        Returns:
            The ``artifacts`` argument of ``mlflow.pyfunc.log_model``: input name to file.
        """
        return self._write_artifacts(Path(parameters_saving_folder))[0]

    def _write_artifacts(self, folder: Path) -> tuple[dict[str, str], dict[str, Any]]:
        """``extract_pipeline_artifacts``, and the data written (loaded once)."""
        folder.mkdir(parents=True, exist_ok=True)
        artifacts, written = {}, {}
        for index, name in enumerate(self.artifact_names):
            path = folder / f"{index}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.pkl"
            written[name] = self.initial_catalog.load(name)
            path.write_bytes(pickle.dumps(written[name]))
            artifacts[name] = str(path)
        return artifacts, written

    def load_context(self, context: PythonModelContext) -> None:
        """Read the artifacts MLflow unpacked (``context.artifacts``) into memory."""
        missing = sorted(set(self.artifact_names) - set(context.artifacts))
        if missing:
            raise KedroPipelineModelError(
                f"The model has no artifact for the inputs {missing}: log it with "
                "artifacts=kedro_pipeline_model.extract_pipeline_artifacts(folder)."
            )
        self.loaded_catalog = {
            # The files are the model's own artifacts, written by extract_pipeline_artifacts.
            name: pickle.loads(Path(context.artifacts[name]).read_bytes())  # noqa: S301
            for name in self.artifact_names
        }

    def _copy_mode(self, name: str) -> Literal["deepcopy", "copy", "assign"]:
        if isinstance(self.copy_mode, dict):
            mode = self.copy_mode.get(name, "assign")
        else:
            mode = self.copy_mode or "assign"
        return cast(Literal["deepcopy", "copy", "assign"], mode)

    def predict(  # type: ignore[no-untyped-def]
        self, context: PythonModelContext, model_input, params: dict[str, Any] | None = None
    ) -> Any:
        """Run the pipeline on ``model_input`` and return its output.

        ``model_input`` has no type hint: MLflow would infer the model's signature from one.

        ``params`` may hold ``runner`` (a runner class name of ``kedro.runner``, e.g.
        ``"ThreadRunner"``, or a runner) to use instead of the model's, and a value for any
        parameter the pipeline reads (``factor`` for ``params:factor``), for this prediction
        only.
        """
        if not self.loaded_catalog and self.artifact_names:
            self.load_context(context)
        overrides = {
            f"params:{name}": value for name, value in (params or {}).items() if name != "runner"
        }
        unknown = sorted(set(overrides) - set(self.loaded_catalog))
        if unknown:
            known = sorted(
                n.removeprefix("params:") for n in self.artifact_names if n.startswith("params:")
            )
            raise KedroPipelineModelError(
                f"params {[n.removeprefix('params:') for n in unknown]} are not parameters of "
                f"the inference pipeline; it reads {known} (and 'runner')."
            )
        datasets: dict[str, Any] = {
            name: MemoryDataset(data=overrides.get(name, data), copy_mode=self._copy_mode(name))
            for name, data in self.loaded_catalog.items()
        }
        datasets[self.input_name] = MemoryDataset(data=model_input, copy_mode="assign")
        catalog = DataCatalog(datasets=datasets)
        switch_catalog_logging(catalog, False)
        with _quiet_kedro():
            self._runner(params).run(self.pipeline, catalog)
            return catalog.load(self.output_name)

    def _runner(self, params: dict[str, Any] | None) -> AbstractRunner:
        chosen = (params or {}).get("runner")
        if chosen is None:
            return self.runner
        if isinstance(chosen, AbstractRunner):
            return chosen
        runner_class = getattr(kedro_runners, str(chosen), None)
        if runner_class is None:
            raise KedroPipelineModelError(
                f"params runner={chosen!r} is not a runner of kedro.runner: use "
                "'SequentialRunner' or 'ThreadRunner'."
            )
        return runner_class()  # type: ignore[no-any-return]


@contextlib.contextmanager
def _quiet_kedro() -> Iterator[None]:
    """Kedro's INFO lines (each dataset loaded, each node run) left out of a prediction.

    A served model predicts on every request: five log lines each would drown the server's
    log. Warnings and errors still show.
    """
    kedro_logger = logging.getLogger("kedro")
    previous = kedro_logger.level
    if kedro_logger.getEffectiveLevel() < logging.WARNING:
        kedro_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        kedro_logger.setLevel(previous)
