"""The download cache's size cap: least recently used entries go, never one being read.

Loads by run id from a real `mlflow server` (artifacts proxied over HTTP) fill the cache.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import mlflow
import pytest
from kedro.io import DatasetError
from kedro_datasets.pickle import PickleDataset

from kedro_mlflow.io.artifacts import (
    MlflowArtifactDataset,
    cache_entries,
    cache_root,
    clear_cache,
    wait_for_uploads,
)
from tests.helpers import dataset_records

pytestmark = pytest.mark.server

SIZE = 100_000


class GatedPickle(PickleDataset):
    """A pickle whose load waits at a gate: a read that is under way for as long as we want."""

    entered = threading.Event()
    gate = threading.Event()

    def load(self) -> Any:
        GatedPickle.entered.set()
        assert GatedPickle.gate.wait(60)
        return super().load()


def pickled(path, kind: type = PickleDataset, **kwargs: Any) -> MlflowArtifactDataset:
    return MlflowArtifactDataset(dataset={"type": kind, "filepath": str(path)}, **kwargs)


def _runs(tmp_path, count: int) -> list[str]:
    ids = []
    for index in range(count):
        with mlflow.start_run() as run:
            pickled(tmp_path / f"d{index}.pkl").save(os.urandom(SIZE))
        ids.append(run.info.run_id)
    wait_for_uploads()  # records the digests _saved_in reads (kept in batches until then)
    return ids


def _load(tmp_path, run_id: str, kind: type = PickleDataset) -> Any:
    name = next(p.name for p in tmp_path.glob("d*.pkl") if _saved_in(run_id, p.name))
    return pickled(tmp_path / "elsewhere" / name, kind, run_id=run_id).load()


def _saved_in(run_id: str, name: str) -> bool:
    return name in dataset_records(run_id)


def _cached_runs() -> set[str]:
    return {entry.run_id for entry in cache_entries(cache_root())}


def test_the_cap_evicts_the_least_recently_used_entries(server_store, tmp_path, monkeypatch):
    """Beyond the cap, the entries read longest ago go first; reading an entry makes it recent."""
    first, second, third = _runs(tmp_path, 3)
    monkeypatch.setenv("KEDRO_MLFLOW_CACHE_MAX_BYTES", str(int(2.5 * SIZE)))
    _load(tmp_path, first)
    _load(tmp_path, second)
    assert _cached_runs() == {first, second}
    _load(tmp_path, third)
    assert _cached_runs() == {second, third}
    _load(tmp_path, second)  # read again: now the most recent
    _load(tmp_path, first)
    assert _cached_runs() == {second, first}
    assert sum(entry.size for entry in cache_entries(cache_root())) <= 2.5 * SIZE


def test_an_entry_being_read_is_never_evicted(server_store, tmp_path, monkeypatch, caplog):
    """A read under way in another thread keeps its entry through eviction and `clear`."""
    first, second, third = _runs(tmp_path, 3)
    monkeypatch.setenv("KEDRO_MLFLOW_CACHE_MAX_BYTES", "150kB")
    GatedPickle.entered.clear()
    GatedPickle.gate.clear()
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(_load(tmp_path, first, GatedPickle)))
    reader.start()
    try:
        assert GatedPickle.entered.wait(60)
        caplog.set_level(logging.WARNING, logger="kedro_mlflow")
        _load(tmp_path, second)
        _load(tmp_path, third)
        assert _cached_runs() == {first, third}
        assert "the rest is being read" in caplog.text
        removed, kept = clear_cache(cache_root())
        assert [entry.run_id for entry in kept] == [first]
        assert [entry.run_id for entry in removed] == [third]
    finally:
        GatedPickle.gate.set()
        reader.join(60)
    assert len(results) == 1 and len(results[0]) == SIZE
    removed, kept = clear_cache(cache_root())
    assert ([e.run_id for e in removed], kept) == ([first], [])
    assert list(cache_root().iterdir()) == []


def test_an_invalid_cap_names_the_variable(server_store, tmp_path, monkeypatch):
    """A cap that is not a size fails the load naming the variable and the accepted forms."""
    (run_id,) = _runs(tmp_path, 1)
    monkeypatch.setenv("KEDRO_MLFLOW_CACHE_MAX_BYTES", "lots")
    with pytest.raises(DatasetError, match=r"KEDRO_MLFLOW_CACHE_MAX_BYTES=lots: 'lots' is not a"):
        _load(tmp_path, run_id)
