"""Fast checks of the benchmark harness's logic (the harness itself runs in `make bench-smoke`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402
import project  # noqa: E402
import run  # noqa: E402
import worker  # noqa: E402


def test_hook_gaps_measure_the_other_hooks_between_first_and_last() -> None:
    events = [
        ["after_context_created.first", 1.0],
        ["after_context_created.last", 1.5],
        ["before_pipeline_run.first", 2.0],
        ["before_pipeline_run.last", 2.25],
        ["after_pipeline_run.first", 5.0],
        ["after_pipeline_run.last", 6.0],
    ]
    gaps = harness.hook_gaps(events)
    assert gaps["start"] == pytest.approx(0.75)
    assert gaps["end"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kind", "ours", "base", "limit", "passed"),
    [
        ("ratio", 1.09, 1.0, 1.10, True),
        ("ratio", 1.2, 1.0, 1.10, False),
        ("delta", 150.0, 100.0, 32, False),
        ("delta", 120.0, 100.0, 32, True),
        ("zero", 0, None, 0, True),
        ("zero", 2, None, 0, False),
        ("ratio", None, 1.0, 1.10, None),
    ],
)
def test_target_verdicts(
    kind: str, ours: float | None, base: float | None, limit: float, passed: bool | None
) -> None:
    assert run.Target("t", "b", kind, ours, base, limit).passed is passed


def test_medians_and_table() -> None:
    case = harness.Case("c", ["true"], {})
    case.samples = [harness.Sample(w, 10.0) for w in (3.0, 1.0, 2.0)]
    assert case.median() == 2.0
    assert case.spread() == "1.00-3.00"
    text = harness.table(["a", "b"], [["1", "2"]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_worker_summary_splits_first_and_last_tenth() -> None:
    costs = [1.0] * 10 + [3.0] * 10
    summary = worker.summary(costs)
    assert summary["first_tenth_mean"] == 1.0
    assert summary["last_tenth_mean"] == 3.0
    assert summary["n"] == 20


def test_generated_project_wraps_every_plain_entry(tmp_path: Path) -> None:
    sizes = project.Sizes(rows=10, big_size=10, sleep_s=0.0, wide=(3,))
    stores = {"base": ("sqlite:///x.db", "e", None), "mlflow": ("sqlite:///x.db", "e", None)}
    root = project.generate(tmp_path / "p", sizes, "1.7.0", stores)
    plain = json.loads((root / "conf" / "base" / "catalog.yml").read_text())
    wrapped = json.loads((root / "conf" / "mlflow" / "catalog.yml").read_text())
    assert plain.keys() == wrapped.keys()
    for name, entry in wrapped.items():
        assert entry["type"] == project.WRAPPER
        assert entry["dataset"] == plain[name]
    assert 'kedro_init_version = "1.7.0"' in (root / "pyproject.toml").read_text()
