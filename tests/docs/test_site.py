"""The docs site builds with no warning, and its generated references cover the code.

A new ``mlflow.yml`` key, ``kedro mlflow`` command or option, or dataset argument must show up
in the site by itself; one with no description must fail the build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import BaseModel, Field

from tests.docs.blocks import DOCS, PAGES, REPO, docs_hooks

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
MAX_IMAGE_BYTES = 200_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict``, as ``make docs`` runs it, into a temporary folder."""
    folder = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return folder


def html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def schema_keys(model: Any, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        keys.append(key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += schema_keys(annotation, key)
    return keys


@pytest.mark.xdist_group("docs-site")  # site is made once
def test_every_mlflow_yml_key_has_its_entry(site: Path) -> None:
    page = html(site, "mlflow-yml")
    keys = schema_keys(docs_hooks().schema())
    assert "tracking.run.id" in keys
    assert len(keys) > 20
    for key in keys:
        assert f'id="{key.replace(".", "-")}"' in page, key


@pytest.mark.xdist_group("docs-site")  # site is made once
def test_every_command_and_option_is_in_the_cli_reference(site: Path) -> None:
    page = html(site, "cli")
    group = docs_hooks().cli_group()
    ctx = click.Context(group, info_name="kedro mlflow")
    names = group.list_commands(ctx)
    assert {"init", "ui"} <= set(names)
    for name in names:
        command = group.get_command(ctx, name)
        assert f"kedro mlflow {name}" in page
        for param in command.params:
            # An argument is shown by its name as usage prints it (DATASET), not its opts.
            shown = [param.human_readable_name] if isinstance(param, click.Argument) else param.opts
            for option in shown:
                assert f"<code>{option}</code>" in page, (name, option)


@pytest.mark.xdist_group("docs-site")  # site is made once
def test_every_dataset_argument_is_in_the_dataset_reference(site: Path) -> None:
    import inspect

    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    page = html(site, "datasets")
    for name in inspect.signature(MlflowArtifactDataset.__init__).parameters:
        if name != "self":
            assert f"<td><code>{name}</code></td>" in page, name


@pytest.mark.xdist_group("docs-site")  # site is made once
def test_the_architecture_page_is_in_the_site(site: Path) -> None:
    assert (site / "architecture" / "index.html").is_file()


@pytest.mark.xdist_group("docs-site")  # site is made once
def test_the_benchmark_targets_are_those_of_the_results_file(site: Path) -> None:
    results = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    first_target = re.search(r"^\| (import dataset class) \|", results, re.MULTILINE)
    assert first_target
    assert f"<td>{first_target[1]}</td>" in html(site, "performance")


def test_images_exist_are_used_and_small() -> None:
    used = set()
    for page in PAGES:
        for target in IMAGE.findall((REPO / page).read_text(encoding="utf-8")):
            path = ((REPO / page).parent / target).resolve()
            assert path.is_file(), f"{page} shows {target}, which does not exist"
            used.add(path)
    committed = {path.resolve() for path in (DOCS / "img").glob("*.png")}
    assert committed, "no screenshots in docs/img"
    assert committed <= used, f"unused images: {sorted(committed - used)}"
    for path in committed:
        assert path.stat().st_size < MAX_IMAGE_BYTES, path


class _Extra(BaseModel):
    """``extra``: a section added later."""

    documented: int = Field(default=3, description="A key described by its field.")


class _Config(BaseModel):
    extra: _Extra = Field(default_factory=_Extra)


def test_a_new_key_shows_up_in_the_reference_by_itself() -> None:
    text = "\n".join(docs_hooks()._section(_Config, "", {}, level=2))
    assert "`extra.documented`" in text
    assert "**Type:** integer · **Default:** `3`" in text
    assert "A key described by its field." in text


def test_a_key_without_description_fails_the_build() -> None:
    class Undocumented(BaseModel):
        silent: str = "x"

    hooks = docs_hooks()
    with pytest.raises(hooks.GenerationError, match="'silent' has no description"):
        hooks._section(Undocumented, "", {}, level=2)


def test_a_new_command_shows_up_in_the_reference_by_itself() -> None:
    @click.command()
    @click.option("--count", type=click.IntRange(1, 9), default=2, help="How many.")
    def versions(count: int) -> None:
        """List the versions of a dataset."""

    text = "\n".join(docs_hooks()._command(versions, "kedro mlflow versions", level=3))
    assert "### `kedro mlflow versions`" in text
    assert "| `--count` | integer from 1 to 9 | `2` | How many. |" in text
    assert "Usage: kedro mlflow versions [OPTIONS]" in text
