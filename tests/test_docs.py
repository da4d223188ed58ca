"""The README documents every setting and every command."""

from __future__ import annotations

from irs.cli import main
from irs.settings import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [f"IRS_{name.upper()}" for name in Settings.model_fields if f"`IRS_{name.upper()}`" not in README]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_every_command_is_in_the_command_table() -> None:
    assert all(f"`irs {name}" in README for name in main.commands)
