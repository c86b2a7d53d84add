"""The code blocks of the docs pages and the README, as the docs tests see them.

Conventions (docs/development.md says them to writers):

- ``<!-- not-runnable: REASON -->`` on the line right above a block: not run, still parsed;
- ``<!-- output -->`` right above a ``text`` block: what the block before it must print
  (``...`` matches anything);
- ``<!-- docs-test: continues PAGE.md -->`` in a page: that page's blocks run first;
- a block whose first line is a comment naming a relative file is written to that file.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: The pages whose blocks are checked: every page of the site, and the README.
PAGES = [
    *sorted(
        path.relative_to(REPO).as_posix()
        for path in DOCS.rglob("*.md")
        if "_gen" not in path.relative_to(DOCS).parts
    ),
    "README.md",
]

CHECKED = {"yaml": "yaml", "yml": "yaml", "python": "python", "py": "python"}
CHECKED |= {"bash": "shell", "sh": "shell", "shell": "shell", "console": "shell"}
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*$")
NOT_RUNNABLE = re.compile(r"^<!-- not-runnable: (.+) -->$")
OUTPUT = "<!-- output -->"
CONTINUES = re.compile(r"^<!-- docs-test: continues ([\w.-]+\.md) -->$", re.MULTILINE)
TARGET = re.compile(r"^#\s+([\w.-]+(?:/[\w.-]+)*\.(?:ya?ml|py|json|toml|txt|cfg))\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based, in the page as the site renders it
    language: str  # as written after the fence
    code: str
    not_runnable: str | None  # the reason given
    output_of_previous: bool  # a text block that the previous block must print

    @property
    def kind(self) -> str | None:
        """``yaml``, ``python``, ``shell``, or ``None`` for blocks that are not code."""
        return CHECKED.get(self.language)

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def target(self) -> str | None:
        """The relative file the block is the content of, from its first line."""
        first = self.code.splitlines()[0] if self.code else ""
        match = TARGET.match(first)
        if not match or self.kind not in {"yaml", "python"}:
            return None
        path = PurePosixPath(match[1])
        return None if ".." in path.parts else str(path)


@cache
def docs_hooks() -> ModuleType:
    """``docs/_gen/hooks.py``, which expands the generated parts of the pages."""
    spec = importlib.util.spec_from_file_location(
        "kedro_mlflow_docs_hooks", DOCS / "_gen" / "hooks.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def page_text(page: str) -> str:
    """The page as the site renders it: generated parts expanded."""
    text = (REPO / page).read_text(encoding="utf-8")
    return docs_hooks().expand(text, REPO) if page.startswith("docs/") else text


def blocks(page: str) -> list[Block]:
    found: list[Block] = []
    lines = page_text(page).splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, language = match[1], match[2]
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        above = lines[index - 1].strip() if index else ""
        marker = NOT_RUNNABLE.match(above)
        found.append(
            Block(
                page=page,
                line=index + 1,
                language=language,
                code="\n".join(lines[index + 1 : end]),
                not_runnable=marker[1] if marker else None,
                output_of_previous=above == OUTPUT,
            )
        )
        index = end + 1
    return found


def continued_page(page: str) -> str | None:
    match = CONTINUES.search((REPO / page).read_text(encoding="utf-8"))
    return f"docs/{match[1]}" if match else None


def script(page: str) -> list[dict[str, str | None]]:
    """The steps the page runner takes for a page: files to write, code to run.

    A page that continues another runs after it, in a new interpreter (a new notebook), from
    the folder the other one ended in.
    """
    steps: list[dict[str, str | None]] = []
    page_blocks = blocks(page)
    for index, block in enumerate(page_blocks):
        if block.not_runnable or block.kind is None:
            continue
        following = page_blocks[index + 1] if index + 1 < len(page_blocks) else None
        expected = following.code if following and following.output_of_previous else None
        if block.target:
            steps.append(
                {"kind": "file", "label": block.label, "target": block.target, "code": block.code}
            )
        elif block.kind in {"python", "shell"}:
            steps.append(
                {"kind": block.kind, "label": block.label, "code": block.code, "expected": expected}
            )
    return steps
