"""Verified on every path: a load by run_id returns what the save logged, or says why not.

Issue 12, rows "a stored artifact in a local store tampered or truncated, then loaded by
run_id", "a malformed digest tag", "artifact store folder deleted, then load by run_id",
and the rule "a run with no digest record (logged by another tool) loads with a warning,
once". Each case runs on a local artifact store and on moto's S3 (the remote path, which
holds today, stays as the reference).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import warnings
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import MlflowArtifactDataset, wait_for_uploads
from tests.helpers import (
    DF,
    Store,
    csv,
    local_artifact_dir,
    partitioned,
    read_artifact,
    recorded_files,
    s3_client,
    s3_location,
    tamper_bytes,
    write_artifact,
)


@pytest.fixture(params=["sqlite_store", "s3_store"], ids=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def endpoint(store: Store, request: pytest.FixtureRequest) -> str | None:
    """moto's endpoint when the store is on S3."""
    if store.artifact_root.startswith("s3://"):
        return request.getfixturevalue("s3_endpoint")  # type: ignore[no-any-return]
    return None


def load_all(dataset: MlflowArtifactDataset) -> dict[str, pd.DataFrame]:
    return {pid: load() for pid, load in dataset.load().items()}


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize("how", ["same-size", "truncated", "appended"])
def test_tampered_artifact_is_refused_naming_run_artifact_and_both_digests(
    store: Store, endpoint: str | None, tmp_path: Path, how: str
) -> None:
    """Row: a stored artifact in a local store tampered or truncated, then loaded by run_id
    -- loads the wrong data silently (the recorded sha256 is not checked on this path)."""
    with mlflow.start_run() as started:
        csv(tmp_path / "f.csv", artifact_path="reporting").save(DF)
    wait_for_uploads()  # digest tags outside kedro run wait for a batch: recorded now
    run = mlflow.get_run(started.info.run_id)
    recorded = recorded_files(run.info.run_id)["reporting/f.csv"][0]
    tampered = tamper_bytes(read_artifact(run, "reporting/f.csv", endpoint), how)
    write_artifact(run, "reporting/f.csv", tampered, endpoint)

    reader = csv(tmp_path / "other" / "f.csv", artifact_path="reporting", run_id=run.info.run_id)
    with pytest.raises(DatasetError) as info:
        reader.load()
    message = str(info.value)
    actual = hashlib.sha256(tampered).hexdigest()
    for name in (run.info.run_id, "reporting/f.csv", recorded, actual):
        assert name in message, f"the error does not name {name}:\n{message}"


@pytest.mark.timeout(60, func_only=True)
def test_tampered_partition_of_a_folder_artifact_is_refused(
    store: Store, endpoint: str | None, tmp_path: Path
) -> None:
    """Row: a stored artifact tampered, then loaded by run_id -- for a folder dataset, one
    partition changed is enough to refuse the load (or that partition's load)."""
    with mlflow.start_run() as started:
        partitioned(tmp_path / "parts").save({"p1": DF, "p2": DF})
    wait_for_uploads()
    run = mlflow.get_run(started.info.run_id)
    stored = read_artifact(run, "parts/p2.csv", endpoint)
    write_artifact(run, "parts/p2.csv", tamper_bytes(stored, "same-size"), endpoint)

    with pytest.raises(DatasetError, match=re.escape(run.info.run_id)) as info:
        load_all(partitioned(tmp_path / "elsewhere" / "parts", run_id=run.info.run_id))
    assert "parts/p2.csv" in str(info.value)


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize(
    "value",
    ["not-a-digest", "abc def", "0" * 64, ""],
    ids=["word", "two-words", "no-size", "empty"],
)
def test_malformed_digest_record_is_reported_as_such(
    store: Store, tmp_path: Path, value: str
) -> None:
    """Row: a malformed digest record -- "invalid literal for int()".

    The load is refused with an error that names the record, the run and the artifact.
    (An empty profile is what a tool that "clears" it leaves: it is malformed too.)
    """
    with mlflow.start_run() as started:
        csv(tmp_path / "f.csv").save(DF)
    wait_for_uploads()  # recorded now, so that the record below is the newest
    run_id = started.info.run_id
    entities = mlflow.entities
    forged = entities.Dataset("f.csv", "forged", "mlflow_run_artifact", "{}", profile=value)
    tags = {"mlflow.data.context": "saved", "kedro_mlflow.artifact": "f.csv"}
    tags["kedro_mlflow.saved_at"] = str(2**41)
    inputs = [entities.InputTag(key, tag) for key, tag in tags.items()]
    mlflow.MlflowClient().log_inputs(run_id, [entities.DatasetInput(forged, inputs)])

    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "other" / "f.csv", run_id=run_id).load()
    message = str(info.value)
    assert "invalid literal" not in message, message
    for name in (run_id, "dataset record 'f.csv'", "malformed"):
        assert name in message, f"the error does not name {name}:\n{message}"


def delete_stored_artifacts(run: mlflow.entities.Run, endpoint: str | None) -> str:
    """Delete every stored file of ``run`` behind MLflow's back; return where they were."""
    if run.info.artifact_uri.startswith("s3://"):
        bucket, prefix = s3_location(run.info.artifact_uri)
        client = s3_client(endpoint or "")
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
        for item in listed.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        return run.info.artifact_uri
    folder = local_artifact_dir(run)
    shutil.rmtree(folder)
    return str(folder)


@pytest.mark.timeout(60, func_only=True)
def test_deleted_artifact_store_says_the_logged_artifact_is_gone(
    store: Store, endpoint: str | None, tmp_path: Path
) -> None:
    """Row: artifact store folder deleted, then load by run_id -- says "does not exist in run
    ... contains nothing", though the run's digest tags prove it was logged.

    The error says the artifact was logged (the run records it) but is missing from the
    store, and names where it should be.
    """
    with mlflow.start_run() as started:
        csv(tmp_path / "f.csv", artifact_path="reporting").save(DF)
    wait_for_uploads()  # digest tags outside kedro run wait for a batch: recorded now
    run = mlflow.get_run(started.info.run_id)
    where = delete_stored_artifacts(run, endpoint)

    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "f.csv", artifact_path="reporting", run_id=run.info.run_id).load()
    message = str(info.value)
    assert "contains: nothing" not in message, message
    assert re.search(r"(?i)\b(was )?logged\b|\brecorded\b", message), message
    for name in (run.info.run_id, "reporting/f.csv", where):
        assert name in message, f"the error does not name {name}:\n{message}"


@pytest.mark.timeout(60, func_only=True)
def test_artifact_without_digest_record_loads_with_one_warning(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rule: a run with no digest record (logged by another tool) loads with a warning, once."""
    local = tmp_path / "f.csv"
    DF.to_csv(local, index=False)
    with mlflow.start_run() as started:
        mlflow.log_artifact(str(local))
    run_id = started.info.run_id
    reader = csv(tmp_path / "other" / "f.csv", run_id=run_id)

    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pd.testing.assert_frame_equal(reader.load(), DF)
        pd.testing.assert_frame_equal(reader.load(), DF)
        pd.testing.assert_frame_equal(csv(tmp_path / "third" / "f.csv", run_id=run_id).load(), DF)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] + [
        str(w.message) for w in caught
    ]
    about_it = [text for text in said if run_id in text and "f.csv" in text]
    assert len(about_it) == 1, f"expected one warning naming the run and f.csv, got {said}"


@pytest.mark.timeout(60, func_only=True)
def test_file_planted_in_a_verified_folder_artifact_is_refused_naming_it(
    store: Store, endpoint: str | None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20: a regular file planted in a folder artifact (a PartitionedDataset's
    partitions) was loaded with only a warning, while a symlink there was refused. The run
    records a digest for each partition it logged: a file without one is refused, named."""
    with mlflow.start_run() as started:
        partitioned(tmp_path / "parts").save({"p1": DF})
    wait_for_uploads()
    run = mlflow.get_run(started.info.run_id)
    write_artifact(run, "parts/planted.csv", b"a,b\n666,666\n", endpoint)

    with pytest.raises(DatasetError) as info:
        load_all(partitioned(tmp_path / "elsewhere" / "parts", run_id=run.info.run_id))
    message = str(info.value)
    for name in (run.info.run_id, "parts/planted.csv", "Delete it"):
        assert name in message, f"the error does not name {name}:\n{message}"
    assert "parts/p1.csv" not in message, message
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.timeout(60, func_only=True)
def test_folder_logged_by_another_tool_still_loads_with_a_warning(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal above is for folders the run verifies: a folder with no digest record at
    all (logged by ``mlflow.log_artifacts``) loads, with the one warning."""
    folder = tmp_path / "parts"
    folder.mkdir()
    DF.to_csv(folder / "p1.csv", index=False)
    DF.to_csv(folder / "p2.csv", index=False)
    with mlflow.start_run() as started:
        mlflow.log_artifacts(str(folder), "parts")
    caplog.set_level(logging.WARNING)
    loaded = load_all(partitioned(tmp_path / "other" / "parts", run_id=started.info.run_id))
    assert sorted(loaded) == ["p1", "p2"]
    pd.testing.assert_frame_equal(loaded["p2"], DF)
    assert any(
        "unverified" in r.getMessage() and started.info.run_id in r.getMessage()
        for r in caplog.records
    )
