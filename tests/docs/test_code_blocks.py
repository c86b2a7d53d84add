"""Every code block of the docs and the README runs, or says why it cannot.

YAML blocks load into what reads them (a real ``DataCatalog``, the ``mlflow.yml`` schema, Kedro's
config loader); each page's Python and shell blocks run in order in an empty folder, with real
``kedro new`` projects and sqlite MLflow stores, as a reader following the page would run them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.blocks import PAGES, REPO, Block, blocks, continued_page, docs_hooks, script
from tests.helpers import OMEGACONF_DEPRECATION, clean_environ, write

RUNNER = Path(__file__).with_name("page_runner.py")
ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]
CODE_BLOCKS = [block for block in ALL_BLOCKS if block.kind]
RUN_PAGES = [
    page for page in PAGES if any(step["kind"] in {"python", "shell"} for step in script(page))
]
MLFLOW_SECTIONS = {"server", "tracking", "ui"}


def yaml_kind(block: Block, data: Any) -> str:
    """What reads a YAML block: named by its file, else recognised by its content."""
    name = Path(block.target).name if block.target else ""
    for kind in ("catalog", "mlflow", "credentials", "parameters"):
        if name.startswith(kind):
            return kind
    if isinstance(data, dict) and data and set(data) <= MLFLOW_SECTIONS:
        return "mlflow"
    if (
        isinstance(data, dict)
        and data
        and all(isinstance(entry, dict) and "type" in entry for entry in data.values())
    ):
        return "catalog"
    raise AssertionError(
        f"{block.label}: a YAML block that is neither catalog entries nor mlflow.yml: name its "
        f"file on its first line (# conf/base/parameters.yml) or mark it not-runnable."
    )


def page_credentials(page: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in blocks(page):
        if block.kind == "yaml" and block.target and Path(block.target).name.startswith("cred"):
            found.update(yaml.safe_load(block.code))
    return found


def config_loader(tmp_path: Path, files: dict[str, str]) -> Any:
    from kedro.config import OmegaConfigLoader

    conf = tmp_path / "conf"
    (conf / "local").mkdir(parents=True)
    for name, text in files.items():
        write(conf / "base" / name, text)
    return OmegaConfigLoader(str(conf), base_env="base", default_run_env="local", runtime_params={})


def check_catalog(block: Block, tmp_path: Path) -> None:
    from kedro.io import DataCatalog

    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    loader = config_loader(
        tmp_path,
        {
            "catalog.yml": block.code,
            "credentials.yml": yaml.safe_dump(page_credentials(block.page)),
        },
    )
    catalog = DataCatalog.from_config(loader["catalog"], loader["credentials"])
    names = [name.replace("{name}", "example") for name in yaml.safe_load(block.code)]
    for name in names:
        dataset = catalog[name]
        assert dataset is not None, f"{block.label}: '{name}' was not built"
    if "kedro_mlflow.io.artifacts.MlflowArtifactDataset" in block.code:
        assert any(isinstance(catalog[name], MlflowArtifactDataset) for name in names)


def check_yaml(block: Block, tmp_path: Path) -> None:
    data = yaml.safe_load(block.code)
    if block.not_runnable:
        return
    kind = yaml_kind(block, data)
    if kind == "mlflow":
        docs_hooks().schema().model_validate(data)
    elif kind == "catalog":
        check_catalog(block, tmp_path)
    elif kind == "credentials":
        credentials = config_loader(tmp_path, {"credentials.yml": block.code})["credentials"]
        assert credentials, block.label
        assert all(isinstance(entry, dict) for entry in credentials.values()), block.label
    else:
        assert config_loader(tmp_path, {"parameters.yml": block.code})["parameters"], block.label


def ipython_free(code: str) -> str:
    """The code with IPython's magics and shell escapes (``%load_ext``, ``!ls``) commented out."""
    return "\n".join(
        f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()
    )


def test_the_pages_have_code_blocks_to_check() -> None:
    assert {"docs/getting-started.md", "docs/faq.md", "README.md"} <= set(PAGES)
    assert len(CODE_BLOCKS) > 40
    assert len(RUN_PAGES) >= 5


def test_every_block_says_its_language() -> None:
    unnamed = [block.label for block in ALL_BLOCKS if not block.language]
    assert not unnamed, f"Blocks without a language after their fence: {unnamed}"


def test_every_output_block_follows_a_block_that_runs() -> None:
    """An expected output after a block that is not run would never be checked."""
    for page in PAGES:
        page_blocks = blocks(page)
        for previous, block in itertools.pairwise(page_blocks):
            if block.output_of_previous:
                assert block.language == "text", block.label
                assert previous.kind in {"python", "shell"}, block.label
                assert not previous.not_runnable and not previous.target, block.label


@OMEGACONF_DEPRECATION
@pytest.mark.parametrize("block", CODE_BLOCKS, ids=[block.label for block in CODE_BLOCKS])
def test_code_block_is_valid(block: Block, tmp_path: Path) -> None:
    """Parses; a YAML block also loads into what reads it (not-runnable ones parse only)."""
    if block.kind == "yaml":
        check_yaml(block, tmp_path)
    elif block.kind == "python":
        compile(ipython_free(block.code), block.label, "exec")
    else:
        result = subprocess.run(
            ["bash", "-n"], input=block.code, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{block.label}: {result.stderr}"


def run_page(
    steps: list[dict[str, str | None]], tmp_path: Path, start: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The page runner on ``steps``, from ``start`` (a new empty folder by default)."""
    steps_file = tmp_path / f"steps-{len(list(tmp_path.glob('steps-*')))}.json"
    steps_file.write_text(json.dumps(steps), encoding="utf-8")
    if start is None:
        start = tmp_path / "reader"
        start.mkdir()
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    environ = clean_environ(
        PATH=path,
        MPLBACKEND="Agg",
        KEDRO_MLFLOW_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=str(REPO),
    )
    return subprocess.run(
        [sys.executable, str(RUNNER), str(steps_file), str(tmp_path / "where.txt")],
        cwd=start,
        env=environ,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


#: Where each page that ran in this session left its reader: (its folder, where it ended).
#: A page that continues one of them starts from a copy instead of running it again.
FINISHED: dict[str, tuple[Path, Path]] = {}


def _follow_copy(old: Path, new: Path) -> None:
    """Point the copied stores' experiments and runs at the copy's own artifact folders.

    The reader goes on in the same folder; the copy is only this test's way of giving each
    page a folder of its own. kedro-mlflow refuses a copied project whose experiment still
    writes into the original (docs/reliability.md), so the copy is made to look unmoved.
    """
    for database in new.rglob("mlflow.db"):
        with contextlib.closing(sqlite3.connect(database)) as connection, connection:
            for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
                connection.execute(
                    f"UPDATE {table} SET {column} = replace({column}, ?, ?)",  # noqa: S608
                    (old.as_uri(), new.as_uri()),
                )


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_runs_as_written(page: str, tmp_path: Path) -> None:
    chain = [page]
    while (before := continued_page(chain[0])) is not None and before not in FINISHED:
        chain.insert(0, before)
    start = None
    if before is not None:
        # The same files as after the page it continues, in a folder of this test's own.
        root, end = FINISHED[before]
        shutil.copytree(root, tmp_path / "reader", symlinks=True)
        _follow_copy(root, tmp_path / "reader")
        start = tmp_path / "reader" / end.relative_to(root)
    for each in chain:
        result = run_page(script(each), tmp_path, start)
        assert result.returncode == 0, f"{each}:\n{result.stdout[-6000:]}\n{result.stderr[-8000:]}"
        start = Path((tmp_path / "where.txt").read_text(encoding="utf-8"))
    FINISHED[page] = (tmp_path / "reader", start)


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"kind": "python", "code": "raise ValueError('no')"}, "ValueError: no"),
        ({"kind": "shell", "code": "false"}, "exit code 1"),
        ({"kind": "python", "code": "print('two')", "expected": "one"}, "printed\ntwo"),
    ],
    ids=["python-raises", "shell-fails", "output-differs"],
)
def test_the_runner_fails_on_a_block_that_does_not_run(
    step: dict[str, str], problem: str, tmp_path: Path
) -> None:
    result = run_page([{"label": "page.md:7", **step}], tmp_path)
    assert result.returncode == 1
    assert "the block at page.md:7" in result.stderr
    assert problem in result.stderr


def test_the_runner_carries_cd_and_variables_across_blocks(tmp_path: Path) -> None:
    steps = [
        {"kind": "shell", "label": "a", "code": "mkdir -p project && cd project"},
        {"kind": "file", "label": "b", "target": "conf/x.yml", "code": "a: 1"},
        {"kind": "python", "label": "c", "code": "import os\nhere = os.getcwd()"},
        {
            "kind": "python",
            "label": "d",
            "code": "print(here.endswith('project'))",
            "expected": "True",
        },
        {"kind": "shell", "label": "e", "code": "cat conf/x.yml", "expected": "a: 1"},
    ]
    result = run_page(steps, tmp_path)
    assert result.returncode == 0, result.stderr
