"""The MLflow UI as a person sees it after ``make demo``: headless Chromium on ``kedro mlflow ui``.

The demo runs in a copy of ``examples/spaceflights-mlflow`` (two ``kedro run``s, the second
loading the model of the first by run id), ``kedro mlflow ui`` serves the project's store on a
free loopback port, and Playwright drives Debian's Chromium (``/usr/bin/chromium``, or
``$CHROMIUM``); no browser is downloaded. Screenshots go to ``$DOCS_SCREENSHOTS_DIR`` (the docs
use those in ``docs/img``), else to a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import clean_environ, dataset_records, free_port, wait_for_http

#: The tests share the module's demo run: on one xdist worker, it runs once.
pytestmark = pytest.mark.xdist_group("e2e-demo")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "spaceflights-mlflow"
RUN_DEMO = REPO / "examples" / "run_demo.py"

#: Flags that let Chromium start headless on a machine with no network but the loopback:
#: without the background-networking ones it keeps trying to reach Google's hosts.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The MLflow UI opens on its GenAI view with an assistant panel; a person training models
#: switches to "Model training" and closes the panel once, which the UI keeps in localStorage.
UI_PREFERENCES = """
localStorage.setItem('mlflow.workflowType_v1', '"machine_learning"');
localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
"""
TIMEOUT_MS = 60_000
#: Tags every run of `kedro run` gets (kedro_mlflow.framework.hooks).
RUN_TAGS = [
    "kedro_mlflow.session_id",
    "kedro_mlflow.pipeline",
    "kedro_mlflow.env",
    "kedro_mlflow.runner",
    "kedro_mlflow.command",
    "kedro_mlflow.kedro_version",
    "kedro_mlflow.project_path",
]


def chromium_executable() -> str:
    """Debian's Chromium, or skip (fail in CI, whose .ci/run installs it)."""
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = (
        "NO CHROMIUM: the MLflow UI browser test did not run. Install Debian's chromium "
        "(apt-get install chromium chromium-driver, as .ci/run does) or set CHROMIUM."
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Demo:
    project: Path
    tracking_uri: str
    first: Any  # mlflow.entities.Run: trained the model
    second: Any  # loaded the model of the first by run id


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``examples/run_demo.py`` (what ``make demo`` runs) on a fresh copy of the project."""
    chromium_executable()  # no demo to run when there is no browser to look at it
    project = tmp_path_factory.mktemp("e2e") / EXAMPLE.name
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns("data", "mlflow.db", "mlruns", "__pycache__", "*.egg-info"),
    )
    result = subprocess.run(
        [sys.executable, str(RUN_DEMO), "--project", str(project)],
        cwd=project.parent,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ids = re.findall(r"^Run [12]: ([0-9a-f]{32})", result.stdout, re.MULTILINE)
    assert len(ids) == 2, result.stdout
    from mlflow import MlflowClient

    tracking_uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri)
    return Demo(project, tracking_uri, client.get_run(ids[0]), client.get_run(ids[1]))


@pytest.fixture(scope="module")
def ui_url(demo: Demo) -> Iterator[str]:
    """``kedro mlflow ui`` in the demo project, on a free loopback port."""
    port = free_port()
    log = demo.project / "ui.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "mlflow", "ui", "--port", str(port)],
            cwd=demo.project,
            env=clean_environ(MLFLOW_DISABLE_TELEMETRY="true"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the server's workers stop with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log, timeout=120)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def browser_context(ui_url: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_FLAGS
        )
        context = browser.new_context(viewport={"width": 1200, "height": 720})
        context.add_init_script(UI_PREFERENCES)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$DOCS_SCREENSHOTS_DIR`` (e.g. docs/img), else a temp folder."""
    chosen = os.environ.get("DOCS_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_url(ui_url: str, run: Any, tab: str = "") -> str:
    return f"{ui_url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}{tab}"


def save_screenshot(page: Any, folder: Path, name: str) -> None:
    path = folder / name
    page.mouse.move(0, 0)  # no hover tooltip in the picture
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def tags_section(page: Any) -> Any:
    """The Tags panel of a run's overview."""
    return page.get_by_role("heading", name="Tags", exact=True).locator("xpath=..")


def test_the_experiment_lists_both_runs_by_name(
    page: Any, ui_url: str, demo: Demo, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ui_url}/#/experiments/{demo.first.info.experiment_id}/runs")
    for run in (demo.first, demo.second):
        expect(page.get_by_role("link", name=run.info.run_name, exact=True)).to_be_visible()
    assert (demo.first.info.run_name, demo.second.info.run_name) == (
        "__default__",
        "score_previous",
    )
    expect(page.get_by_text("2 matching runs")).to_be_visible()
    save_screenshot(page, screenshots, "runs.png")


def test_the_run_page_shows_its_name_status_and_tags(
    page: Any, ui_url: str, demo: Demo, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    run = demo.first
    page.goto(run_url(ui_url, run))
    expect(page.get_by_role("heading", name=run.info.run_name, exact=True)).to_be_visible()
    expect(page.get_by_text(run.info.run_id, exact=True)).to_be_visible()
    expect(page.get_by_text("Finished", exact=True)).to_be_visible()
    tags = tags_section(page)
    for key in RUN_TAGS:
        expect(tags.get_by_text(key, exact=True)).to_be_visible()
        assert key in run.data.tags
    expect(tags).to_contain_text("kedro_mlflow.command: kedro run")
    expect(tags).to_contain_text("kedro_mlflow.pipeline: __default__")
    save_screenshot(page, screenshots, "run-overview.png")


def test_the_artifact_tree_lists_every_versioned_file(
    page: Any, ui_url: str, demo: Demo, screenshots: Path
) -> None:
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    run = demo.first
    client = MlflowClient(demo.tracking_uri)
    top = {info.path for info in client.list_artifacts(run.info.run_id)}
    reporting = {info.path for info in client.list_artifacts(run.info.run_id, "reporting")}
    assert reporting == {
        "reporting/coefficients.csv",
        "reporting/metrics.json",
        "reporting/predictions.png",
    }

    page.goto(run_url(ui_url, run, "/artifacts"))
    nodes = page.locator('[data-testid="artifact-tree-node"]')
    folder = nodes.and_(page.locator('[artifact-name="reporting"]'))
    folder.click()  # expand the artifact_path folder
    expect(nodes.and_(page.locator('[artifact-name="predictions.png"]'))).to_be_visible()
    shown = nodes.evaluate_all("nodes => nodes.map(node => node.getAttribute('artifact-name'))")
    expected = [Path(path).name for path in top | reporting]
    assert sorted(shown) == sorted(expected)

    nodes.and_(page.locator('[artifact-name="predictions.png"]')).click()
    # The preview pane shows the plot the run logged.
    expect(page.get_by_role("img", name="reporting/predictions.png")).to_be_visible()
    save_screenshot(page, screenshots, "run-artifacts.png")


def test_the_second_run_names_the_run_and_artifact_it_loaded(
    page: Any, ui_url: str, demo: Demo, screenshots: Path
) -> None:
    """What the scoring run loaded is a dataset record (context ``read``), not a run tag."""
    from playwright.sync_api import expect

    first, second = demo.first, demo.second
    (read,) = dataset_records(second.info.run_id, "read", tracking_uri=demo.tracking_uri).values()
    assert read["source"] == f"runs:/{first.info.run_id}/regressor.pkl"
    assert read["tags"]["kedro_mlflow.source_run_id"] == first.info.run_id
    assert not [key for key in second.data.tags if key.startswith("kedro_mlflow.input")]

    page.goto(run_url(ui_url, second))
    expect(page.get_by_role("heading", name="score_previous", exact=True)).to_be_visible()
    panel = page.get_by_role("heading", name="Datasets", exact=True).locator("xpath=..")
    expect(panel).to_contain_text(read["name"])
    save_screenshot(page, screenshots, "run-lineage.png")


def test_the_second_run_shows_the_loaded_dataset_in_its_datasets_panel(
    page: Any, ui_url: str, demo: Demo
) -> None:
    from mlflow import MlflowClient

    inputs = MlflowClient(demo.tracking_uri).get_run(demo.second.info.run_id).inputs
    # The scoring run loads the first run's regressor by run id: a dataset input of the run
    # (its saved outputs are dataset records of the run too, with the context 'saved').
    contexts = {
        item.dataset.name: {tag.value for tag in item.tags if tag.key == "mlflow.data.context"}
        for item in inputs.dataset_inputs
    }
    assert [name for name, context in contexts.items() if context != {"saved"}] == [
        "previous_regressor"
    ]
    assert len(contexts) > 1
    from playwright.sync_api import expect

    page.goto(run_url(ui_url, demo.second))
    panel = page.get_by_role("heading", name="Datasets", exact=True).locator("xpath=..")
    # The panel shows the first record by name and counts the others ("+3").
    expect(panel).to_contain_text("previous_regressor")
    expect(panel).to_contain_text(f"+{len(contexts) - 1}")
