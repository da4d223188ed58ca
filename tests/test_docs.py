"""The documentation site documents every setting, command, endpoint, result field and table column, generated from
the code."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

from irs.cli import main
from irs.results import ResultDocument
from irs.settings import Settings
from tests.conftest import ROOT


def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_in_the_configuration_table() -> None:
    table = hooks().render("reference", "settings")
    missing = [f"IRS_{name.upper()}" for name in Settings.model_fields if f"`IRS_{name.upper()}`" not in table]
    assert not missing, f"the settings reference lacks {missing}"
    assert all(field.description for field in Settings.model_fields.values()), "every setting needs a description"


def test_every_command_is_in_the_command_table() -> None:
    table = hooks().render("reference", "cli")
    assert all(f"`irs {name}" in table for name in main.commands)
    assert "`irs web token create`" in table  # subcommands too


def test_every_endpoint_is_in_the_rest_reference() -> None:
    from webapp.app import create_app

    reference = hooks().render("reference", "rest")
    for path, methods in create_app().openapi()["paths"].items():
        assert all(f"## {method.upper()} `{path}`" in reference for method in methods)


def test_every_result_field_is_in_the_result_reference() -> None:
    reference = hooks().render("reference", "result")
    assert all(f"| `{name}`" in reference for name in ResultDocument.model_fields)


def test_every_column_of_an_exported_table_is_in_the_table_reference() -> None:
    from irs.export import ROWS

    reference = hooks().render("reference", "table")
    assert all(f"| `{name}` |" in reference and f"`--per {per}`" in reference
               for per, row in ROWS.items() for name in row.model_fields)
    assert all(row.model_fields[name].description for row in ROWS.values() for name in row.model_fields)


def test_each_reference_page_asks_for_its_part() -> None:
    for page, part in (("cli", "cli"), ("settings", "settings"), ("rest", "rest"), ("result-document", "result"),
                       ("table", "table")):
        assert f"<!-- reference: {part} -->" in (ROOT / "docs" / "reference" / f"{page}.md").read_text()


def test_the_readme_is_short_and_links_to_pages_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\((?!https?:)([^)#]+)", readme):
        assert (ROOT / target).exists(), f"README links to {target}, which is not there"
