"""Hostile runs and names: nothing a run's listing holds makes a load or a save reach outside.

Issue 12, rows "a run whose S3 keys contain // or /./ under a partition folder, loaded as a
PartitionedDataset" (loops forever), "a local-store artifact that is a symlink to a file
elsewhere" (followed), "PartitionedDataset with path: . (or ending in ..)" (the copy writes
outside the artifact store) and "artifact_path containing ? or # on a server" (reported as
logged, stored under another name); and the rule "artifact listings are normalised and checked
before any path is built ...; property-based tests (hypothesis) over names".

The invariant checked everywhere: after a load, every new file lies in the download cache;
after a save, every new file lies in the wrapped dataset's own folder or in the run's
artifacts, under a name with no empty, ``.`` or ``..`` segment and no backslash; data planted
outside the run (``666``) is never returned.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kedro.io import DatasetError

from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from tests.helpers import (
    DF,
    Store,
    artifacts,
    csv,
    files_under,
    local_artifact_dir,
    make_store,
    partitioned,
    s3_client,
    s3_location,
    time_limit,
)

#: What data planted outside a run holds; a load must never return it.
OUTSIDE = b"a,b\n666,666\n"
GOOD = DF.to_csv(index=False).encode()


def load_all(dataset: MlflowArtifactDataset) -> dict[str, pd.DataFrame]:
    return {pid: load() for pid, load in dataset.load().items()}


def assert_never_outside(frames: dict[str, pd.DataFrame] | pd.DataFrame) -> None:
    values = frames.values() if isinstance(frames, dict) else [frames]
    for frame in values:
        assert 666 not in frame.to_numpy(), "a load returned data from outside the run"


def bad_segments(name: str) -> list[str]:
    """The segments of an artifact name or partition id that a normaliser must not leave."""
    if name.startswith("/") or "\\" in name:
        return [name]
    return [part for part in name.split("/") if part in {"", ".", ".."}]


def new_files_outside(before: set[Path], after: set[Path], *allowed: Path) -> list[Path]:
    return sorted(
        path
        for path in after - before
        if not any(path == root or root in path.parents for root in allowed)
        and not path.name.startswith("mlflow.db")
    )


# -- symlinks in a local store ----------------------------------------------------------


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize("digested", [True, False], ids=["logged-by-us", "logged-by-another-tool"])
def test_symlinked_local_artifact_is_not_followed(
    sqlite_store: Store, tmp_path: Path, digested: bool
) -> None:
    """Row: a local-store artifact that is a symlink to a file elsewhere -- followed: loads
    data from outside the run. Refused even when no digest was recorded to catch it, and
    even when the file outside holds the very bytes that were logged."""
    local = tmp_path / "data" / "f.csv"
    with mlflow.start_run() as run:
        if digested:
            csv(local).save(DF)
        else:
            local.parent.mkdir()
            local.write_bytes(GOOD)
            mlflow.log_artifact(str(local))
    stored = local_artifact_dir(mlflow.get_run(run.info.run_id)) / "f.csv"
    outside = tmp_path / "outside" / "f.csv"
    outside.parent.mkdir()
    outside.write_bytes(OUTSIDE if not digested else stored.read_bytes())
    stored.unlink()
    stored.symlink_to(outside)

    with pytest.raises(DatasetError) as info:
        csv(tmp_path / "other" / "f.csv", run_id=run.info.run_id).load()
    assert run.info.run_id in str(info.value)
    assert "f.csv" in str(info.value)


@pytest.mark.timeout(60, func_only=True)
def test_symlinks_inside_a_local_partition_folder_are_not_followed(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Row: a local-store artifact that is a symlink elsewhere -- inside a folder artifact,
    a symlinked partition, a symlinked sub-folder and a link to an ancestor (a cycle) are
    neither followed nor looped over."""
    with mlflow.start_run() as run:
        partitioned(tmp_path / "data" / "parts").save({"p1": DF})
    folder = local_artifact_dir(mlflow.get_run(run.info.run_id)) / "parts"
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "evil.csv").write_bytes(OUTSIDE)
    (outside / "deep" / "evil.csv").write_bytes(OUTSIDE)
    (folder / "evil.csv").symlink_to(outside / "evil.csv")
    (folder / "evil_dir").symlink_to(outside / "deep", target_is_directory=True)
    (folder / "loop").symlink_to(folder.parent, target_is_directory=True)

    try:
        loaded = load_all(partitioned(tmp_path / "other" / "parts", run_id=run.info.run_id))
    except DatasetError as exc:
        assert run.info.run_id in str(exc)
        return
    assert_never_outside(loaded)
    assert sorted(loaded) == ["p1"]


# -- S3 keys with // and /./ ------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose download cache lies 8 levels deep, so that a key climbing out of it
    with ``..`` still lands inside the sandbox, where the test sees it."""
    root = tmp_path / "sandbox"
    cache = root.joinpath(*[f"d{i}" for i in range(8)], "cache")
    cache.mkdir(parents=True)
    monkeypatch.setenv("KEDRO_MLFLOW_CACHE_DIR", str(cache))
    return root


def put_keys(run: mlflow.entities.Run, endpoint: str, names: list[str], body: bytes) -> None:
    bucket, prefix = s3_location(run.info.artifact_uri)
    client = s3_client(endpoint)
    for name in names:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)


def load_back(
    run: mlflow.entities.Run, target: Path, root: Path, what: str = "a load"
) -> dict[str, pd.DataFrame] | DatasetError:
    """Load the partitions of ``run`` at ``target``, within 20 s: a refusal names the run, the
    ids are clean, and nothing is written under ``root`` but in the cache. The error if
    refused."""
    before = files_under(root)
    loaded: dict[str, pd.DataFrame] | DatasetError
    try:
        with time_limit(20, what):
            loaded = load_all(partitioned(target, run_id=run.info.run_id))
    except DatasetError as exc:
        assert run.info.run_id in str(exc)
        loaded = exc
    else:
        assert all(not bad_segments(pid) for pid in loaded), sorted(loaded)
    cache = Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"])
    assert new_files_outside(before, files_under(root), cache) == []
    return loaded


@pytest.mark.s3
@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize(
    "key",
    ["parts//evil.csv", "parts/./evil.csv", "parts/sub//x/./evil.csv", "parts/.//./evil.csv"],
    ids=["double-slash", "dot-segment", "both", "dot-double-slash"],
)
def test_s3_partition_keys_with_empty_or_dot_segments_terminate(
    s3_store: Store, s3_endpoint: str, sandbox: Path, tmp_path: Path, key: str
) -> None:
    """Row: a run whose S3 keys contain // or /./ under a partition folder, loaded as a
    PartitionedDataset -- loops forever. The load ends (refused, or with normalised ids)."""
    with mlflow.start_run() as run:
        partitioned(tmp_path / "data" / "parts").save({"p1": DF})
    put_keys(run, s3_endpoint, [key], GOOD)
    loaded = load_back(run, tmp_path / "other" / "parts", tmp_path)
    # Issue 20: `loaded is None or "p1" in loaded` accepted any outcome. The listing shows
    # the planted key as an unclean entry under 'parts': the load is refused as hostile.
    assert isinstance(loaded, DatasetError), f"a folder holding {key!r} loaded: {sorted(loaded)}"
    assert "not a clean name under 'parts" in str(loaded), str(loaded)


@pytest.mark.s3
@pytest.mark.timeout(60, func_only=True)
def test_s3_keys_climbing_with_dot_dot_never_write_outside_the_cache(
    s3_store: Store, s3_endpoint: str, sandbox: Path, tmp_path: Path
) -> None:
    """Rule: ``..`` in a run's listing never makes a load write outside the cache."""
    with mlflow.start_run() as run:
        partitioned(tmp_path / "data" / "parts").save({"p1": DF})
    climbing = "parts/" + "../" * 10 + "escaped.csv"
    put_keys(run, s3_endpoint, [climbing, "parts/sub/../../../escaped2.csv"], OUTSIDE)
    load_back(run, tmp_path / "other" / "parts", tmp_path)


# -- PartitionedDataset at "." or "..": artifact names -----------------------------------


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize("folder", [".", "work/sub/..", "work/.."], ids=["dot", "dotdot", "up"])
def test_partitioned_dataset_at_dot_or_dotdot_logs_inside_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """Row: PartitionedDataset with path: . (or ending in ..) -- partition ids become
    absolute or .. artifact names: the copy writes outside the artifact store.

    Either the dataset is refused, or its files land in the run under normalised names.
    The partition is named uniquely: with ``path: .`` today's copy writes it at ``/``.
    """
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    store_root = tmp_path / "store"
    make_store(f"sqlite:///{tmp_path}/mlflow.db", store_root.as_uri())
    partition = f"kedro-mlflow-test-{uuid.uuid4().hex}"
    at_filesystem_root = Path("/") / f"{partition}.csv"
    before = files_under(store_root)
    try:
        with mlflow.start_run() as run:
            try:
                partitioned(folder).save({partition: DF})
            except DatasetError:
                return
        run_dir = local_artifact_dir(mlflow.get_run(run.info.run_id))
        assert not at_filesystem_root.exists(), f"the save wrote {at_filesystem_root}"
        outside = new_files_outside(before, files_under(store_root), run_dir)
        # The run's own folders (store/<run id>/) are created above run_dir: files only.
        assert [path for path in outside if not path.is_dir()] == []
        logged = artifacts(run.info.run_id)
        assert logged, "nothing was logged into the run and no error was raised"
        assert all(not bad_segments(name) for name in logged), logged
    finally:
        at_filesystem_root.unlink(missing_ok=True)


# -- ? and # on a server ----------------------------------------------------------------


@pytest.mark.server
@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize(
    ("artifact_path", "filename"),
    [
        ("a?b", "f.csv"),
        ("c#d", "f.csv"),
        ("rep", "f#1.csv"),
        ("rep", "f?x=1.csv"),
        ("e%2Fx", "f.csv"),
    ],
    ids=["query-folder", "fragment-folder", "fragment-file", "query-file", "percent-folder"],
)
def test_names_with_url_characters_on_a_server_are_stored_as_reported_or_refused(
    server_store: Store, tmp_path: Path, artifact_path: str, filename: str
) -> None:
    """Row: artifact_path containing ? or # on a server -- reported as logged, stored under
    another name. Either the name is refused with an error, or it is stored and loaded back
    under exactly the name the dataset reports."""
    local = tmp_path / filename
    dataset = None
    try:
        dataset = csv(local, artifact_path=artifact_path)
        with mlflow.start_run() as run:
            dataset.save(DF)
    except DatasetError as exc:
        assert artifact_path in str(exc) or filename in str(exc), str(exc)
        return
    reported = dataset.artifact
    assert artifacts(run.info.run_id) == [reported]
    reloaded = csv(
        tmp_path / "back" / filename, artifact_path=artifact_path, run_id=run.info.run_id
    )
    pd.testing.assert_frame_equal(reloaded.load(), DF)


# -- property-based: hostile names ------------------------------------------------------

SEGMENTS = st.sampled_from(["..", ".", "", "a", "b", "..\\..", "a\\..", "C:", "~", "..."])
HOSTILE_IDS = (
    st.lists(SEGMENTS, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda text: text.count("..") <= 4 and text.strip("/") not in {"", "."})
)


@pytest.mark.timeout(240, func_only=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=st.lists(HOSTILE_IDS, min_size=1, max_size=3, unique=True))
def test_hostile_partition_ids_never_make_a_save_write_outside_the_run(
    tmp_path: Path, ids: list[str]
) -> None:
    """Rule: every final artifact name, partition ids included, goes through the same
    normaliser; ``..``, ``//``, ``/./``, backslashes never make the copy write outside the
    run's artifacts (property-based, local sqlite store)."""
    store_root = tmp_path / "store"
    make_store(f"sqlite:///{tmp_path}/mlflow.db", store_root.as_uri(), name="hostile-ids")
    example = tmp_path / "examples" / uuid.uuid4().hex
    data = example.joinpath(*[f"d{i}" for i in range(6)], "parts")
    before = files_under(tmp_path)
    run = mlflow.MlflowClient().create_run(
        mlflow.get_experiment_by_name("hostile-ids").experiment_id
    )
    try:
        with time_limit(20, f"a save of partitions {ids}"):
            partitioned(data, run_id=run.info.run_id).save({pid: DF for pid in ids})
    except DatasetError:
        pass
    run_dir = local_artifact_dir(run)
    outside = new_files_outside(
        before, files_under(tmp_path), example, run_dir, store_root / ".trash"
    )
    assert [p for p in outside if not p.is_dir()] == []
    logged = artifacts(run.info.run_id, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert all(not bad_segments(name) for name in logged), logged


ENTRY_NAMES = st.text(alphabet="ab.\\ -_#?%~", min_size=1, max_size=10).filter(
    lambda name: name not in {".", ".."}
)
ENTRIES = st.lists(
    st.tuples(
        ENTRY_NAMES,
        st.sampled_from([".csv", ""]),
        st.sampled_from(["file", "link-file", "link-relative", "link-dir", "link-ancestor"]),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda entry: entry[0] + entry[1],
)


@pytest.mark.timeout(240, func_only=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=ENTRIES)
def test_crafted_local_entries_never_make_a_load_read_outside_the_run(
    tmp_path: Path, entries: list[tuple[str, str, str]]
) -> None:
    """Rule: a local run's folder artifact holding crafted entries (backslashes, dots, URL
    characters, symlinks to files, folders, ancestors and absolute paths outside) loads
    without returning data from outside the run, without looping, without writing outside
    the cache (property-based, local sqlite store)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    make_store(uri, (tmp_path / "store").as_uri(), name="crafted")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True, exist_ok=True)
    (outside / "x.csv").write_bytes(OUTSIDE)
    (outside / "deep" / "y.csv").write_bytes(OUTSIDE)
    run = mlflow.MlflowClient().create_run(mlflow.get_experiment_by_name("crafted").experiment_id)
    example = tmp_path / "examples" / uuid.uuid4().hex
    partitioned(example / "parts", run_id=run.info.run_id).save({"p0": DF})
    folder = local_artifact_dir(run) / "parts"
    for stem, suffix, kind in entries:
        entry = folder / f"{stem}{suffix}"
        if kind == "file":
            entry.write_bytes(GOOD)
        elif kind == "link-file":
            entry.symlink_to(outside / "x.csv")
        elif kind == "link-dir":
            entry.symlink_to(outside / "deep", target_is_directory=True)
        elif kind == "link-ancestor":
            entry.symlink_to(folder.parent.parent, target_is_directory=True)
        else:
            entry.symlink_to(os.path.relpath(outside / "x.csv", folder))
    cache = Path(os.environ["KEDRO_MLFLOW_CACHE_DIR"])
    before = files_under(tmp_path / "store") | files_under(example)
    try:
        with time_limit(20, f"a load of a folder holding {entries}"):
            loaded = load_all(partitioned(example / "back" / "parts", run_id=run.info.run_id))
    except DatasetError as exc:
        assert run.info.run_id in str(exc)
    else:
        assert_never_outside(loaded)
        assert all(not bad_segments(pid) for pid in loaded), sorted(loaded)
        assert "p0" in loaded
    after = files_under(tmp_path / "store") | files_under(example)
    assert new_files_outside(before, after, cache) == []


KEY_SEGMENTS = st.sampled_from(["", ".", "..", "a", "b.csv", "c", "\\", "..\\x"])
#: Keys under the partition folder, each ending in a plain file name.
HOSTILE_KEYS = st.tuples(
    st.lists(KEY_SEGMENTS, min_size=1, max_size=5), st.sampled_from(["x.csv", "y.csv"])
).map(lambda parts: "parts/" + "/".join(parts[0]) + "/" + parts[1])


@pytest.mark.s3
@pytest.mark.timeout(240, func_only=True)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.generate],  # a hanging example is not shrunk, 20 s a try
)
@given(keys=st.lists(HOSTILE_KEYS, min_size=1, max_size=3, unique=True))
def test_hostile_s3_keys_under_a_partition_folder_terminate_inside_the_cache(
    s3_store: Store, s3_endpoint: str, sandbox: Path, tmp_path: Path, keys: list[str]
) -> None:
    """Rows: S3 keys with // or /./ under a partition folder (loops forever), and the rule
    that ``..``, ``//``, ``/./`` and backslashes in a remote listing never make a load write
    outside the cache (property-based, moto's S3)."""
    run = mlflow.MlflowClient().create_run(s3_store.experiment_id)
    example = tmp_path / "examples" / uuid.uuid4().hex
    partitioned(example / "parts", run_id=run.info.run_id).save({"p0": DF})
    put_keys(run, s3_endpoint, keys, GOOD)
    load_back(run, example / "back" / "parts", tmp_path, f"a load of a folder holding {keys}")
