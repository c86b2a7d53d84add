"""PipelineML keeps its inference pipeline through Kedro's pipeline operations."""

from __future__ import annotations

import pytest
from kedro.pipeline import Pipeline, node, pipeline

from kedro_mlflow.pipeline import KedroMlflowPipelineMLError, PipelineML, pipeline_ml_factory


def fit(raw):
    return raw


def clean(raw):
    return raw


def predict(model, data):
    return data


TRAINING = pipeline(
    [
        node(clean, "raw", "clean", name="clean", tags="prep"),
        node(fit, "clean", "model", name="fit", tags="train"),
    ]
)
INFERENCE = pipeline([node(predict, ["model", "data"], "predictions", name="predict")])
OTHER = pipeline([node(clean, "extra", "extra_clean", name="other")])


@pytest.fixture
def ml() -> PipelineML:
    return pipeline_ml_factory(
        TRAINING,
        INFERENCE,
        input_name="data",
        kpm_kwargs={"copy_mode": "deepcopy"},
        log_model_kwargs={"name": "clf"},
    )


OPERATIONS = {
    "add": lambda ml: ml + OTHER,
    "radd": lambda ml: OTHER + ml,
    "sum": lambda ml: sum([OTHER, ml]),
    "sum_first": lambda ml: sum([ml, OTHER]),
    "sub": lambda ml: ml - OTHER,
    "and": lambda ml: ml & TRAINING,
    "rand": lambda ml: TRAINING & ml,
    "or": lambda ml: ml | OTHER,
    "ror": lambda ml: OTHER | ml,
    "filter": lambda ml: ml.filter(node_names=["fit"]),
    "filter_tags": lambda ml: ml.filter(tags=["train"]),
    "from_nodes": lambda ml: ml.from_nodes("fit"),
    "to_nodes": lambda ml: ml.to_nodes("clean"),
    "from_inputs": lambda ml: ml.from_inputs("clean"),
    "to_outputs": lambda ml: ml.to_outputs("clean"),
    "only_nodes": lambda ml: ml.only_nodes("fit"),
    "only_nodes_with_tags": lambda ml: ml.only_nodes_with_tags("prep"),
    "only_nodes_with_inputs": lambda ml: ml.only_nodes_with_inputs("raw"),
    "only_nodes_with_outputs": lambda ml: ml.only_nodes_with_outputs("model"),
    "tag": lambda ml: ml.tag("extra_tag"),
}


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_pipeline_operations_keep_the_model(ml, operation):
    result = operation(ml)
    assert isinstance(result, PipelineML)
    assert result.inference is INFERENCE
    assert result.input_name == "data"
    assert result.kpm_kwargs == {"copy_mode": "deepcopy"}
    assert result.log_model_kwargs == {"signature": "auto", "name": "clf"}


def test_operations_act_on_the_training_nodes(ml):
    assert {n.name for n in ml.from_nodes("fit").nodes} == {"fit"}
    assert {n.name for n in (ml + OTHER).nodes} == {"clean", "fit", "other"}
    assert all("extra_tag" in n.tags for n in ml.tag("extra_tag").nodes)
    assert ml.nodes == TRAINING.nodes


def test_the_factory_returns_a_kedro_pipeline(ml):
    assert isinstance(ml, Pipeline)
    assert ml.inputs() == {"raw"}


def test_a_wrong_input_name_is_refused_naming_the_inputs():
    with pytest.raises(KedroMlflowPipelineMLError, match=r"'wrong'.*\['data', 'model'\]"):
        pipeline_ml_factory(TRAINING, INFERENCE, input_name="wrong")


def test_inference_must_be_a_pipeline():
    with pytest.raises(KedroMlflowPipelineMLError, match="inference must be a kedro Pipeline"):
        pipeline_ml_factory(TRAINING, INFERENCE.nodes, input_name="data")  # type: ignore[arg-type]


def test_two_pipeline_ml_with_different_inference_do_not_combine(ml):
    other_inference = pipeline([node(predict, ["model", "rows"], "out", name="p2")])
    other = pipeline_ml_factory(OTHER, other_inference, input_name="rows")
    with pytest.raises(KedroMlflowPipelineMLError, match="one model"):
        ml + other


def test_two_pipeline_ml_with_the_same_inference_combine(ml):
    same = pipeline_ml_factory(OTHER, INFERENCE, input_name="data")
    assert isinstance(ml + same, PipelineML)


def test_removing_a_pipeline_ml_from_a_pipeline_leaves_a_plain_pipeline(ml):
    assert type((TRAINING + OTHER) - ml) is Pipeline


def test_a_plain_pipeline_is_not_turned_into_pipeline_ml():
    assert type(TRAINING + OTHER) is Pipeline
    assert type(TRAINING.filter(node_names=["fit"])) is Pipeline
