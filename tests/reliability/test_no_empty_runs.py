"""No empty runs from bad configuration: set-up errors are found before a run is created.

Issue 12, row "artifact_path: ../x, an unknown run_id, a MemoryDataset inside, under kedro
run -- fails clearly, but leaves an empty FAILED run per attempt". Each attempt fails naming
the dataset, and leaves no run (or only deleted ones) in the store, however many attempts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CATALOG, all_runs, kedro_bounded, store_uri, write

RAW = """
raw:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: {type}
    {filepath}
{extra}
"""

FAULTS = {
    "climbing-artifact-path": (
        {"type": "pandas.CSVDataset", "extra": "  artifact_path: ../x"},
        "data",
        "../x",
    ),
    "absolute-artifact-path": (
        {"type": "pandas.CSVDataset", "extra": "  artifact_path: /tmp/x"},
        "data",
        "/tmp/x",
    ),
    "memory-dataset-inside": ({"type": "MemoryDataset", "filepath": ""}, "data", "MemoryDataset"),
    "unknown-dataset-type": ({"type": "pandas.NoSuchDataset"}, "data", "NoSuchDataset"),
    "unknown-run-id": (
        {"type": "pandas.CSVDataset", "extra": "  run_id: 0123456789abcdef0123456789abcdef"},
        "model",
        "0123456789abcdef0123456789abcdef",
    ),
}


def catalog_with_raw(
    project: Path, type: str, filepath: str | None = None, extra: str = ""
) -> None:
    raw = RAW.format(
        type=type,
        filepath="filepath: data/01_raw/raw.csv" if filepath is None else filepath,
        extra=extra,
    )
    rest = CATALOG.split("summary:", 1)[1]
    write(project / "conf" / "base" / "catalog.yml", raw + "\nsummary:" + rest)


def live_runs(project: Path) -> list[str]:
    if not (project / "mlflow.db").exists():
        return []
    return [
        f"{run.info.run_id} ({run.info.status})"
        for run in all_runs(store_uri(project))
        if run.info.lifecycle_stage == "active"
    ]


@pytest.mark.timeout(300, func_only=True)
@pytest.mark.parametrize(("fault", "pipeline", "named"), FAULTS.values(), ids=FAULTS.keys())
def test_bad_catalog_entry_fails_before_any_run_is_created(
    project: Path, fault: dict[str, str], pipeline: str, named: str
) -> None:
    """Row: artifact_path: ../x, an unknown run_id, a MemoryDataset inside, under kedro run --
    an empty FAILED run per attempt. Two attempts, no run."""
    catalog_with_raw(project, **fault)
    for attempt in (1, 2):
        result = kedro_bounded(project, "run", "--pipelines", pipeline, timeout=120)
        assert result.returncode != 0, f"attempt {attempt} succeeded:\n{result.output[-2000:]}"
        assert "raw" in result.output and named in result.output, result.output[-3000:]
        assert live_runs(project) == [], f"attempt {attempt} left runs behind"


@pytest.mark.timeout(300, func_only=True)
def test_mlflow_yml_error_fails_before_any_run_is_created(project: Path) -> None:
    """Row: ... mlflow.yml errors are found before a run is created (a typo in a key)."""
    write(project / "conf" / "base" / "mlflow.yml", "tracking:\n  experimet:\n    name: x\n")
    result = kedro_bounded(project, "run", "--pipelines", "data", timeout=120)
    assert result.returncode != 0
    assert "tracking.experimet" in result.output
    assert live_runs(project) == []
