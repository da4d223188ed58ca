"""The site's reference pages, generated from the code as the site is built, so that they cannot drift.

A page asks for a part with a marker on a line of its own: ``<!-- reference: cli -->`` (every command's
``--help``), ``settings`` (every ``IRS_*`` variable, from :class:`irs.settings.Settings`), ``rest`` (the
REST API, from the web app's OpenAPI schema), ``result`` (the result document, from its schema) or ``table``
(the columns of an exported table, from :mod:`irs.export`), ``s3-answers`` (what each answer S3 gives a read
means, from :mod:`irs.aws.s3_answers`), or
``<!-- include: FILE -->`` for a file of the repository's root (BENCHMARKS.md, SECURITY.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- (reference|include): ([\w./-]+) -->$", re.M)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs' hook: each marker replaced by what it names."""
    return MARKER.sub(lambda found: render(found[1], found[2]), markdown)


def render(kind: str, name: str) -> str:
    if kind == "include":
        return included(name)
    return {"cli": cli, "settings": settings, "rest": rest, "result": result, "table": table,
            "s3-answers": s3_answers}[name]()


def included(name: str) -> str:
    """A repository file, its first heading dropped (the page has its own); links to the pictures under docs/
    made to work from the site."""
    text = (ROOT / name).read_text().split("\n", 1)[1]
    text = re.sub(r"\]\(docs/", "](../", text)
    return re.sub(r"\[([^\]]+)\]\((?!https?:|#|\.\./)([^)]+)\)", _in_the_repository, text)


def _in_the_repository(link: re.Match[str]) -> str:
    """A link to a file of the repository that the site does not carry: its path, as code."""
    text, path = link[1], link[2]
    return f"`{path}`" if text.strip("`") == path else f"{text} (`{path}`)"


def s3_answers() -> str:
    from irs.aws import s3_answers

    return s3_answers.table()


# --- the command line ------------------------------------------------------------------------------
def cli() -> str:
    from irs.cli import main

    root = click.Context(main, info_name="irs")
    rows, sections = [], []
    for path, command, context in _commands(main, root, "irs"):
        rows.append(f"| [`{path}`](#{_anchor(path)}) | {_cell(command.get_short_help_str(100))} |")
        sections.append(f"## {path}\n\n```text\n{command.get_help(context).strip()}\n```\n")
    return "| command | what it does |\n|---|---|\n" + "\n".join(rows) + "\n\n" + "\n".join(sections)


def _commands(group: click.Group, parent: click.Context, prefix: str) -> list[tuple[str, click.Command, click.Context]]:
    found = []
    for name in sorted(group.list_commands(parent)):
        command = group.get_command(parent, name)
        if command is None or command.hidden:
            continue
        context = click.Context(command, info_name=name, parent=parent)
        found.append((f"{prefix} {name}", command, context))
        if isinstance(command, click.Group):
            found.extend(_commands(command, context, f"{prefix} {name}"))
    return found


# --- settings --------------------------------------------------------------------------------------
def settings() -> str:
    from irs.settings import Settings

    rows = [f"| `IRS_{name.upper()}` | {_default(field)} | {_cell(field.description or '')} |"
            for name, field in Settings.model_fields.items()]
    return "| variable | default | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _default(field: FieldInfo) -> str:
    """A setting's default as a reader wants it: what it depends on where the machine chooses it."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("default_doc"):
        return str(extra["default_doc"])
    if field.default in (None, ""):
        return "unset"
    return f"`{str(field.default).lower() if isinstance(field.default, bool) else field.default}`"


# --- the REST API ----------------------------------------------------------------------------------
def rest() -> str:
    from webapp.app import create_app

    schema = create_app().openapi()
    out = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            out.append(f"## {method.upper()} `{path}`\n")
            out.append(operation.get("description") or operation.get("summary", ""))
            parameters = operation.get("parameters", [])
            if parameters:
                out.append("\n| parameter | in | type | meaning |\n|---|---|---|---|")
                out.extend(f"| `{p['name']}`{'' if not p.get('required') else ' (required)'} | {p['in']} | "
                           f"{_type(p.get('schema', {}))} | {_cell(p.get('description', ''))} |" for p in parameters)
            body = operation.get("requestBody", {}).get("content", {})
            for content_type, content in body.items():
                fields = content.get("schema", {}).get("properties", {})
                out.append(f"\nBody: `{content_type}`" + (": " + ", ".join(
                    f"`{field}` ({_cell(spec.get('description', _type(spec)))})" for field, spec in fields.items())
                    if fields else ""))
            out.append("\n| status | meaning |\n|---|---|")
            out.extend(f"| {code} | {_cell(response.get('description', ''))} |"
                       for code, response in operation.get("responses", {}).items())
            out.append("")
    return "\n".join(out)


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " or ".join(f"`{value}`" for value in schema["enum"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


# --- the result document ---------------------------------------------------------------------------
def result() -> str:
    from irs.results import ResultDocument

    schema = ResultDocument.model_json_schema()
    parts = [("ResultDocument", schema), *schema.get("$defs", {}).items()]
    out = []
    for name, part in parts:
        if "enum" in part:
            out.append(f"## {name}\n\n{part.get('description', '')}\n\n" +
                       ", ".join(f"`{value}`" for value in part["enum"]) + "\n")
            continue
        out.append(f"## {name}\n\n{part.get('description', '')}\n\n| field | type | meaning |\n|---|---|---|")
        required = set(part.get("required", []))
        out.extend(f"| `{field}`{' (always)' if field in required else ''} | {_type(spec)} | "
                   f"{_cell(spec.get('description', ''))}{_limits(spec)} |"
                   for field, spec in part.get("properties", {}).items())
        out.append("")
    return "\n".join(out)


def table() -> str:
    """The columns of ``irs results --export``, a row per detection and a row per image."""
    from irs.export import ROWS

    out = []
    for per, row in ROWS.items():
        out.append(f"## A row per {per} (`--per {per}`)\n\n{row.__doc__}\n\n| column | type | meaning |\n|---|---|---|")
        schema = row.model_json_schema()["properties"]
        out.extend(f"| `{name}` | {_type(schema[name])} | {_cell(field.description or '')} |"
                   for name, field in row.model_fields.items())
        out.append("")
    return "\n".join(out)


def _limits(spec: dict[str, Any]) -> str:
    options = [spec, *spec.get("anyOf", [])]
    said = [f"{word} {option[key]:,}" for option in options for key, word in (
        ("maxLength", "at most"), ("maxItems", "at most"), ("minimum", "from"), ("maximum", "up to")) if key in option]
    return f" ({', '.join(said)})" if said else ""


# --- helpers -----------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text fit for a table cell: one line, no bare pipes."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
