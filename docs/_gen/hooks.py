"""mkdocs hooks: the reference parts of the docs are generated from the code at build time.

A page asks for a generated part with an HTML comment alone on a line:

- ``<!-- generated: mlflow-yml -->``: every key of ``mlflow.yml`` (type, default, description),
  read from the pydantic schema and the comments of the template ``kedro mlflow init`` writes;
- ``<!-- generated: mlflow-yml-template -->``: that template, verbatim;
- ``<!-- generated: cli -->``: the ``kedro mlflow`` commands, their usage and options, from click;
- ``<!-- generated: dataset-arguments -->``: ``MlflowArtifactDataset``'s arguments, from its
  signature and docstring;
- ``<!-- generated: benchmark-targets -->``: the targets table of ``benchmarks/RESULTS.md``.

A new key, command, option or argument appears in the site by itself; one without a
description fails the build. ``tests/docs`` expands the same markers with ``expand`` and runs
the code blocks of the result.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
#: A section banner of the template (``# SERVER ----``), which describes no key.
BANNER = re.compile(r"^[A-Z ]+-+$")
#: Where the schema and the CLI live, newest layout first.
SCHEMA_MODULE = "kedro_mlflow.config.kedro_mlflow_config"
CLI_MODULE = "kedro_mlflow.framework.cli.cli"


class GenerationError(RuntimeError):
    """The code lacks what a generated page needs (a description, a module)."""


# -- mkdocs events ---------------------------------------------------------------------------


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown, Path(config.config_file_path).parent)


# -- expansion -------------------------------------------------------------------------------


def expand(markdown: str, root: Path) -> str:
    """Replace every generation marker of a page by what it asks for."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        generators = {
            "mlflow-yml": mlflow_yml_reference,
            "mlflow-yml-template": mlflow_yml_template,
            "cli": cli_reference,
            "dataset-arguments": dataset_arguments,
            "benchmark-targets": lambda: benchmark_targets(root / "benchmarks" / "RESULTS.md"),
        }
        if name not in generators:
            raise GenerationError(f"Unknown marker '<!-- generated: {name} -->'")
        return generators[name]().strip()

    return MARKER.sub(replace, markdown)


def _rst_to_md(text: str) -> str:
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _prose(text: str) -> str:
    """Plain text as Markdown that shows it as written: `<project>`, `__default__` included.

    Code spans (between backticks) are left alone.
    """
    parts = re.split(r"(`[^`]*`)", _rst_to_md(text))
    for index in range(0, len(parts), 2):
        part = parts[index].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[index] = re.sub(r"([_*\\\[\]])", r"\\\1", part)
    return "".join(parts)


# -- mlflow.yml ------------------------------------------------------------------------------


def schema() -> Any:
    """The pydantic model of the whole of ``mlflow.yml``."""
    return importlib.import_module(SCHEMA_MODULE).KedroMlflowConfig


def template_path() -> Path:
    """The commented template ``kedro mlflow init`` writes."""
    module = importlib.import_module(SCHEMA_MODULE)
    path = getattr(module, "TEMPLATE_PATH", None)
    if path is not None:
        return Path(path)
    package = Path(importlib.import_module("kedro_mlflow").__file__ or "").parent
    found = sorted(package.rglob("mlflow.yml"))
    if not found:
        raise GenerationError(f"No mlflow.yml template in {package}")
    return found[0]


def template_comments(text: str) -> dict[str, list[str]]:
    """The comment lines of the template that belong to each dotted key.

    A key owns the comment lines right above it (no blank line between) and the comment at
    the end of its own line. Lines indented past the first one keep their indentation: they
    are examples.
    """
    comments: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            comment = stripped[1:].removeprefix(" ")
            if not BANNER.match(comment):
                pending.append(comment)
            continue
        match = re.match(r"^(\s*)([A-Za-z_]\w*):(.*)$", line)
        if not match:
            pending = []
            continue
        indent = len(match[1])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match[2]))
        key = ".".join(name for _, name in stack)
        inline = match[3].split("#", 1)[1].strip() if "#" in match[3] else ""
        comments[key] = [*pending, *([inline] if inline else [])]
        pending = []
    return comments


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin is list:
        return f"list of {_type_name(args[0])}s" if args else "list"
    if origin is dict:
        return "mapping"
    names = {str: "string", bool: "boolean", int: "integer", float: "number", Any: "any value"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    return repr(value)


def _is_section(annotation: Any) -> bool:
    from pydantic import BaseModel  # noqa: PLC0415

    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _describe(lines: list[str]) -> Iterator[str]:
    """Comment lines as Markdown paragraphs; indented lines (examples) as a text block."""
    prose: list[str] = []
    example: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("  "):
            example.append(line[2:])
            continue
        if example or not line:
            if prose:
                yield _prose(" ".join(prose))
            if example:
                yield "```text\n" + "\n".join(example) + "\n```"
            prose, example = [], []
        if line:
            prose.append(line)


def _heading(level: int, key: str) -> str:
    return f"{'#' * level} `{key}` {{#{key.replace('.', '-')}}}"


def _section(model: Any, prefix: str, comments: dict[str, list[str]], level: int) -> list[str]:
    out: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        annotation = field.annotation
        if _is_section(annotation):
            doc = inspect.cleandoc(annotation.__doc__ or "").split("\n\n")[0]
            out += [_heading(level, key), "", *_describe([doc.replace("\n", " ")]), ""]
            out += [*_describe(comments.get(key, [])), ""]
            out += _section(annotation, key, comments, min(level + 1, 4))
            continue
        lines = [field.description] if field.description else comments.get(key, [])
        described = list(_describe(lines))
        if not described and comments.get(prefix):
            # Described with its section, as `type` is by `request_header_provider`'s comment.
            described = [f"Described with [`{prefix}`](#{prefix.replace('.', '-')}) above."]
        if not described:
            raise GenerationError(
                f"mlflow.yml key '{key}' has no description: give it a comment in the "
                f"template {template_path()} or a Field(description=...)."
            )
        default = field.get_default(call_default_factory=True)
        out += [
            _heading(level, key),
            "",
            f"**Type:** {_type_name(annotation)} · **Default:** `{_yaml_value(default)}`",
            "",
        ]
        for paragraph in described:
            out += [paragraph, ""]
    return out


def mlflow_yml_reference() -> str:
    """Every key of ``mlflow.yml``, section by section."""
    comments = template_comments(template_path().read_text(encoding="utf-8"))
    return "\n".join(_section(schema(), "", comments, level=2))


def mlflow_yml_template() -> str:
    return "```yaml\n" + template_path().read_text(encoding="utf-8").rstrip() + "\n```\n"


# -- the CLI ---------------------------------------------------------------------------------


def cli_group() -> Any:
    """The ``kedro mlflow`` click group."""
    module = importlib.import_module(CLI_MODULE)
    group = module.commands.commands.get("mlflow")
    if group is None:
        raise GenerationError(f"{module.__name__}.commands has no 'mlflow' group")
    return group


def _param_type(param: Any) -> str:
    import click  # noqa: PLC0415

    if getattr(param, "is_flag", False):
        return "flag"
    kind = param.type
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(f"`{choice}`" for choice in kind.choices)
    if isinstance(kind, click.IntRange | click.FloatRange):
        number = "integer" if isinstance(kind, click.IntRange) else "number"
        return f"{number} from {kind.min} to {kind.max}"
    return str(kind.name)


def _command(command: Any, path: str, level: int) -> list[str]:
    import click  # noqa: PLC0415

    ctx = click.Context(command, info_name=path)
    help_text = inspect.cleandoc(command.help or "")
    if not help_text:
        raise GenerationError(f"`{path}` has no help text (its docstring)")
    out = [f"{'#' * level} `{path}`", "", *_describe(help_text.splitlines()), ""]
    out += ["```text", command.get_usage(ctx), "```", ""]
    params = [param for param in command.get_params(ctx) if param.name != "_click_default_help"]
    if params:
        out += ["| option | type | default | meaning |", "|---|---|---|---|"]
    for param in params:
        names = ", ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])
        if isinstance(param, click.Argument):
            names = f"`{param.human_readable_name}` (argument)"
        help_text = getattr(param, "help", None)
        if not help_text:
            raise GenerationError(f"Option {names} of `{path}` has no help text")
        default = param.get_default(ctx)
        shown = "" if default is None or getattr(param, "is_flag", False) else f"`{default}`"
        out.append(f"| {names} | {_param_type(param)} | {shown} | {_prose(help_text)} |")
    out.append("")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            out += _command(command.get_command(ctx, name), f"{path} {name}", min(level + 1, 4))
    return out


def cli_reference() -> str:
    """Every ``kedro mlflow`` command with its usage and options, read from click."""
    import click  # noqa: PLC0415

    group = cli_group()
    names = group.list_commands(click.Context(group, info_name="kedro mlflow"))
    listed = ", ".join(f"`kedro mlflow {name}`" for name in names)
    out = [f"{_prose(inspect.cleandoc(group.help or ''))} Commands: {listed}.", ""]
    for name in names:
        out += _command(group.commands[name], f"kedro mlflow {name}", level=3)
    return "\n".join(out)


# -- the dataset -----------------------------------------------------------------------------


def google_args(docstring: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring, argument by argument."""
    found: dict[str, str] = {}
    inside, base, current = False, None, ""
    for line in docstring.splitlines():
        if line.strip() == "Args:":
            inside = True
            continue
        if not inside or not line.strip():
            continue
        if not line.startswith(" "):
            break
        indent = len(line) - len(line.lstrip())
        base = indent if base is None else base
        if indent == base:
            current, _, text = line.strip().partition(":")
            found[current] = text.strip()
        else:
            found[current] += " " + line.strip()
    return found


def dataset_arguments() -> str:
    """A table of ``MlflowArtifactDataset``'s constructor arguments."""
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset  # noqa: PLC0415

    init = MlflowArtifactDataset.__init__
    described = google_args(inspect.getdoc(init) or "")
    rows = ["| argument | type | default | meaning |", "|---|---|---|---|"]
    for name, parameter in inspect.signature(init).parameters.items():
        if name == "self":
            continue
        if name not in described:
            raise GenerationError(
                f"MlflowArtifactDataset argument '{name}' is not described in the Args: "
                f"section of its __init__ docstring."
            )
        annotation = str(parameter.annotation).replace(" | ", " or ")
        default = (
            "required" if parameter.default is parameter.empty else _yaml_value(parameter.default)
        )
        rows.append(
            f"| `{name}` | `{annotation}` | `{default}` | "
            f"{_rst_to_md(described[name]).replace('|', '/')} |"
        )
    return "\n".join(rows) + "\n"


# -- benchmarks ------------------------------------------------------------------------------


def benchmark_targets(results: Path) -> str:
    """What was measured, on what, and the targets table of ``benchmarks/RESULTS.md``."""
    text = results.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    preamble = [line for line in sections[0].splitlines() if line.startswith("- ")]
    targets = next((s for s in sections[1:] if s.startswith("Targets")), None)
    if targets is None:
        raise GenerationError(f"No '## Targets' section in {results}")
    table = [line for line in targets.splitlines() if line.startswith("|")]
    return "\n".join([*preamble, "", *table]) + "\n"
