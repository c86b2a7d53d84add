"""The model datasets against a real sqlite MLflow store in tmp_path (and a real server on S3)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog, DatasetError
from sklearn.linear_model import LinearRegression

from kedro_mlflow.io.artifacts import MlflowArtifactDataset, wait_for_uploads
from kedro_mlflow.io.catalog import switch_catalog_logging
from kedro_mlflow.io.models import (
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
)
from tests.helpers import artifacts, free_port, s3_client, wait_for_http

X = np.array([[1.0], [2.0], [3.0]])


def fitted(slope: float = 2.0) -> LinearRegression:
    return LinearRegression().fit(X, X[:, 0] * slope)


def predicts(model: object, slope: float) -> bool:
    return bool(np.allclose(model.predict(np.array([[10.0]])), [10.0 * slope]))  # type: ignore[attr-defined]


class AddN(mlflow.pyfunc.PythonModel):
    """A python_model workflow model."""

    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return [x + self.n for x in model_input]


def requirements_of(model_uri: str, tmp_path: Path) -> list[str]:
    location = mlflow.get_logged_model(model_uri.removeprefix("models:/")).artifact_location
    path = mlflow.artifacts.download_artifacts(f"{location}/requirements.txt", dst_path=tmp_path)
    return Path(path).read_text().split()


# -- MlflowModelTrackingDataset ---------------------------------------------------


def test_tracking_save_logs_a_logged_model_of_the_run_and_loads_it(sqlite_store):
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
    dataset.catalog_name = "regressor"
    with mlflow.start_run() as run:
        dataset.save(fitted(3.0))
    [model] = mlflow.search_logged_models(output_format="list")
    assert (model.name, model.source_run_id) == ("regressor", run.info.run_id)
    assert dataset.model_uri == f"models:/{model.model_id}"
    assert predicts(dataset.load(), 3.0)
    assert mlflow.get_run(run.info.run_id).outputs.model_outputs[0].model_id == model.model_id


def test_tracking_save_args_name_and_pass_through(sqlite_store):
    dataset = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn",
        save_args={"name": "reg", "input_example": X[:1], "tags": {"team": "a"}},
    )
    with mlflow.start_run():
        dataset.save(fitted())
    [model] = mlflow.search_logged_models(output_format="list")
    assert (model.name, model.tags["team"]) == ("reg", "a")
    assert mlflow.models.get_model_info(dataset.model_uri).signature is not None


def test_tracking_save_with_no_run_is_an_error_naming_the_dataset(sqlite_store):
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
    with pytest.raises(DatasetError, match=r"MlflowModelTrackingDataset.*no active MLflow run"):
        dataset.save(fitted())
    assert mlflow.active_run() is None
    assert mlflow.search_logged_models(output_format="list") == []


def test_tracking_save_goes_to_the_kedro_run_even_when_not_active(sqlite_store, monkeypatch):
    """A node's thread without the kedro run active still logs into it (KEDRO_MLFLOW_RUN_ID)."""
    kedro_run = mlflow.MlflowClient().create_run(sqlite_store.experiment_id).info.run_id
    monkeypatch.setenv("KEDRO_MLFLOW_RUN_ID", kedro_run)
    MlflowModelTrackingDataset(flavor="mlflow.sklearn").save(fitted())
    [model] = mlflow.search_logged_models(output_format="list")
    assert model.source_run_id == kedro_run
    assert mlflow.active_run() is None
    assert mlflow.get_run(kedro_run).info.status == "RUNNING"


def test_tracking_logging_off_logs_nothing(sqlite_store):
    catalog = DataCatalog({"model": MlflowModelTrackingDataset(flavor="mlflow.sklearn")})
    switch_catalog_logging(catalog, False)
    with mlflow.start_run():
        catalog.save("model", fitted())
    assert mlflow.search_logged_models(output_format="list") == []


def test_tracking_load_every_model_uri_form(sqlite_store):
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(fitted(5.0), name="m", registered_model_name="reg")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("reg", "champion", "1")
    for uri in (
        f"models:/{info.model_id}",
        f"runs:/{run.info.run_id}/m",
        "models:/reg/1",
        "models:/reg@champion",
    ):
        dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn", load_args={"model_uri": uri})
        assert predicts(dataset.load(), 5.0), uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/nope/1", r"no registered model 'nope' \(registered: reg\)"),
        ("models:/reg/7", r"registered model 'reg' has no version 7 \(its versions: 1\)"),
        ("models:/reg@gone", r"registered model 'reg' has no alias 'gone' \(its aliases: none\)"),
        ("models:/m-00000000000000000000000000000000", r"cannot load model 'models:/m-0+'"),
    ],
    ids=["name", "version", "alias", "model-id"],
)
def test_tracking_load_of_a_missing_model_names_what_exists(sqlite_store, uri, message):
    with mlflow.start_run():
        mlflow.sklearn.log_model(fitted(), name="m", registered_model_name="reg")
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn", load_args={"model_uri": uri})
    with pytest.raises(DatasetError, match=message):
        dataset.load()


def test_tracking_load_before_any_save_without_model_uri_says_what_to_set():
    with pytest.raises(DatasetError, match=r"has no model to load.*load_args.model_uri"):
        MlflowModelTrackingDataset(flavor="mlflow.sklearn").load()


def test_a_flavor_that_does_not_import_suggests_the_close_ones(sqlite_store):
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklern")
    with (
        mlflow.start_run(),
        pytest.raises(DatasetError, match=r"flavor 'mlflow.sklern'.*Did you mean 'mlflow.sklearn'"),
    ):
        dataset.save(fitted())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flavor": "mlflow.pyfunc"}, r"needs 'pyfunc_workflow'"),
        ({"flavor": "mlflow.pyfunc", "pyfunc_workflow": "nope"}, r"needs 'pyfunc_workflow'"),
        ({"flavor": "mlflow.sklearn", "pyfunc_workflow": "python_model"}, r"only applies"),
        ({"flavor": "mlflow.sklearn", "save_args": {"alias": "a"}}, r"needs.*registered_model"),
    ],
    ids=["no-workflow", "bad-workflow", "workflow-not-pyfunc", "alias-unregistered"],
)
def test_tracking_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(DatasetError, match=message):
        MlflowModelTrackingDataset(**kwargs)


def test_pyfunc_python_model_workflow(sqlite_store):
    dataset = MlflowModelTrackingDataset(flavor="mlflow.pyfunc", pyfunc_workflow="python_model")
    with mlflow.start_run():
        dataset.save(AddN(2))
    assert dataset.load().predict([1, 2]) == [3, 4]


def test_pyfunc_loader_module_workflow(sqlite_store, tmp_path, monkeypatch):
    (tmp_path / "times_three.py").write_text(
        textwrap.dedent(
            """
            class _Model:
                def predict(self, model_input, params=None):
                    return [x * 3 for x in model_input]

            def _load_pyfunc(path):
                return _Model()
            """
        )
    )
    (tmp_path / "data").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    dataset = MlflowModelTrackingDataset(
        flavor="mlflow.pyfunc",
        pyfunc_workflow="loader_module",
        save_args={
            "data_path": str(tmp_path / "data"),
            "code_paths": [str(tmp_path / "times_three.py")],
        },
    )
    with mlflow.start_run():
        dataset.save("times_three")
    assert dataset.load().predict([1, 2]) == [3, 6]


def test_register_on_save_moves_the_alias_to_the_new_version(sqlite_store):
    dataset = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn",
        save_args={"registered_model_name": "reg", "alias": "champion"},
    )
    with mlflow.start_run():
        dataset.save(fitted(1.0))
        dataset.save(fitted(4.0))
    client = mlflow.MlflowClient()
    assert {k: str(v) for k, v in client.get_registered_model("reg").aliases.items()} == {
        "champion": "2"
    }
    registry = MlflowModelRegistryDataset(
        model_name="reg", alias="champion", flavor="mlflow.sklearn"
    )
    assert predicts(registry.load(), 4.0)


def test_requirements_are_inferred_once_and_reused_identically(sqlite_store, tmp_path):
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
    with mlflow.start_run():
        dataset.save(fitted(1.0))
        first = requirements_of(dataset.model_uri, tmp_path / "a")
        dataset.save(fitted(2.0))
        second = requirements_of(dataset.model_uri, tmp_path / "b")
    from sklearn import __version__ as sklearn_version

    assert f"scikit-learn=={sklearn_version}" in first
    assert second == first
    cached = list((Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"]) / ".requirements").glob("*.txt"))
    assert len(cached) == 1


REUSE_IN_A_NEW_PROCESS = """
import sys, mlflow, numpy as np
import importlib_metadata
from sklearn.linear_model import LinearRegression
from kedro_mlflow.io.models import MlflowModelTrackingDataset

calls = []
real = importlib_metadata.packages_distributions
importlib_metadata.packages_distributions = lambda: calls.append(1) or real()
mlflow.set_tracking_uri(sys.argv[1])
X = np.array([[1.0], [2.0], [3.0]])
dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
with mlflow.start_run():
    dataset.save(LinearRegression().fit(X, X[:, 0]))
print(dataset.model_uri, len(calls))
"""


def test_a_new_process_reuses_the_requirements_and_mlflows_package_map(sqlite_store, tmp_path):
    """MLflow checks given requirements against a map of every installed package, ~0.4 s to
    build: kept with the requirements, a second process saves without building it."""
    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
    with mlflow.start_run():
        dataset.save(fitted())
        first = requirements_of(dataset.model_uri, tmp_path / "a")
    kept = list((Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"]) / ".requirements").glob("*.json"))
    assert len(kept) == 1
    assert "scikit-learn" in yaml.safe_load(kept[0].read_text())["sklearn"]
    out = subprocess.run(
        [sys.executable, "-c", REUSE_IN_A_NEW_PROCESS, sqlite_store.tracking_uri],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    ).stdout.split()
    uri, calls = out[-2], out[-1]
    assert calls == "0"
    assert requirements_of(uri, tmp_path / "b") == first


def test_requirements_of_a_model_of_other_classes_are_inferred_anew(sqlite_store, tmp_path):
    from sklearn.linear_model import Ridge

    dataset = MlflowModelTrackingDataset(flavor="mlflow.sklearn")
    with mlflow.start_run():
        dataset.save(fitted())
        dataset.save(Ridge().fit(X, X[:, 0]))
    cached = list((Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"]) / ".requirements").glob("*.txt"))
    assert len(cached) == 2


# -- MlflowModelRegistryDataset ------------------------------------------------------


def test_registry_round_trip_by_version_alias_and_latest(sqlite_store):
    with mlflow.start_run():
        for slope in (1.0, 2.0, 3.0):
            mlflow.sklearn.log_model(fitted(slope), name="m", registered_model_name="reg")
    mlflow.MlflowClient().set_registered_model_alias("reg", "champion", "2")

    def load(**kwargs: object) -> object:
        return MlflowModelRegistryDataset(
            model_name="reg", flavor="mlflow.sklearn", **kwargs
        ).load()

    assert predicts(load(stage_or_version=1), 1.0)
    assert predicts(load(stage_or_version="3"), 3.0)
    assert predicts(load(alias="champion"), 2.0)
    assert predicts(load(), 3.0)
    # The default flavor is pyfunc.
    pyfunc = MlflowModelRegistryDataset(model_name="reg").load()
    assert list(pyfunc.predict(np.array([[1.0]]))) == [pytest.approx(3.0)]


def test_registry_version_and_alias_together_is_an_error_naming_both():
    with pytest.raises(DatasetError, match=r"'stage_or_version' \(2\) or 'alias' \('champion'\)"):
        MlflowModelRegistryDataset(model_name="reg", stage_or_version=2, alias="champion")


def test_registry_dataset_is_load_only():
    with pytest.raises(DatasetError, match="load-only"):
        MlflowModelRegistryDataset(model_name="reg").save(object())


def test_registry_missing_model_names_the_registry(sqlite_store):
    with pytest.raises(DatasetError, match=r"no registered model 'nope' \(registered: none\)"):
        MlflowModelRegistryDataset(model_name="nope", alias="a").load()


# -- MlflowModelLocalFileSystemDataset ------------------------------------------------


def test_local_save_and_load(tmp_path):
    dataset = MlflowModelLocalFileSystemDataset(
        filepath=str(tmp_path / "models" / "reg"), flavor="mlflow.sklearn"
    )
    assert not dataset.exists()
    dataset.save(fitted(2.0))
    assert (tmp_path / "models" / "reg" / "MLmodel").is_file()
    assert dataset.exists()
    dataset.save(fitted(6.0))  # over an existing folder
    assert predicts(dataset.load(), 6.0)


def test_local_versioned_keeps_each_save(tmp_path):
    config = {
        "reg": {
            "type": "kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset",
            "filepath": str(tmp_path / "reg"),
            "flavor": "mlflow.sklearn",
            "versioned": True,
        }
    }
    for slope, version in ((1.0, "2026-01-01T00.00.00.000Z"), (5.0, "2026-01-02T00.00.00.000Z")):
        DataCatalog.from_config(config, save_version=version).save("reg", fitted(slope))
    assert (tmp_path / "reg" / "2026-01-01T00.00.00.000Z" / "reg" / "MLmodel").is_file()
    assert predicts(DataCatalog.from_config(config).load("reg"), 5.0)
    old = DataCatalog.from_config(config, load_versions={"reg": "2026-01-01T00.00.00.000Z"})
    assert predicts(old.load("reg"), 1.0)


def test_local_load_of_an_empty_folder_says_so(tmp_path):
    (tmp_path / "reg").mkdir()
    dataset = MlflowModelLocalFileSystemDataset(
        filepath=str(tmp_path / "reg"), flavor="mlflow.sklearn"
    )
    with pytest.raises(DatasetError, match=r"holds no MLflow model \(no MLmodel file\)"):
        dataset.load()


def test_local_wrapped_in_artifact_dataset_logs_the_folder(sqlite_store, tmp_path):
    catalog = DataCatalog.from_config(
        yaml.safe_load(
            f"""
            reg:
              type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
              dataset:
                type: kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset
                flavor: mlflow.sklearn
                filepath: {tmp_path}/reg
            """
        )
    )
    with mlflow.start_run() as run:
        catalog.save("reg", fitted(2.0))
        wait_for_uploads()
    logged = artifacts(run.info.run_id)
    assert {"reg/MLmodel", "reg/requirements.txt"} <= set(logged)
    model = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/reg")
    assert predicts(model, 2.0)
    reloaded = MlflowArtifactDataset(
        dataset={
            "type": "kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset",
            "flavor": "mlflow.sklearn",
            "filepath": str(tmp_path / "elsewhere" / "reg"),
        },
        run_id=run.info.run_id,
    )
    assert predicts(reloaded.load(), 2.0)


# -- a real mlflow server whose artifact store is S3 ----------------------------------


@pytest.fixture(scope="module")
def mlflow_server_on_s3(s3_endpoint, tmp_path_factory):
    """A real `mlflow server` proxying artifacts to moto's S3 (s3://artifacts/server)."""
    root = tmp_path_factory.mktemp("server-on-s3")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env.update(
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_S3_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{root}/server.db",
                "--artifacts-destination", "s3://artifacts/server",
                "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log, timeout=120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.server
@pytest.mark.s3
def test_model_datasets_against_a_server_on_s3(mlflow_server_on_s3, s3_endpoint, tmp_path):
    mlflow.set_tracking_uri(mlflow_server_on_s3)
    mlflow.set_experiment("models-on-s3")
    tracking = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn", save_args={"registered_model_name": "s3reg", "alias": "champion"}
    )
    local = MlflowArtifactDataset(
        dataset={
            "type": "kedro_mlflow.io.models.MlflowModelLocalFileSystemDataset",
            "flavor": "mlflow.sklearn",
            "filepath": str(tmp_path / "reg"),
        }
    )
    with mlflow.start_run() as run:
        tracking.save(fitted(7.0))
        local.save(fitted(8.0))
        wait_for_uploads()
    assert predicts(tracking.load(), 7.0)
    champion = MlflowModelRegistryDataset(
        model_name="s3reg", alias="champion", flavor="mlflow.sklearn"
    )
    assert predicts(champion.load(), 7.0)
    assert predicts(mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/reg"), 8.0)
    stored = s3_client(s3_endpoint).list_objects_v2(Bucket="artifacts", Prefix="server/")
    keys = [item["Key"] for item in stored["Contents"]]
    assert any(key.endswith("/reg/MLmodel") for key in keys)
    assert any("/models/" in key and key.endswith("/MLmodel") for key in keys)


def test_requirements_given_in_save_args_are_used_as_given_and_not_cached(sqlite_store, tmp_path):
    dataset = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn", save_args={"pip_requirements": ["scikit-learn", "numpy"]}
    )
    with mlflow.start_run():
        dataset.save(fitted())
    assert set(requirements_of(dataset.model_uri, tmp_path)) >= {"scikit-learn", "numpy"}
    assert not (Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"]) / ".requirements").exists()
