"""The ``irs`` command line (entry point ``irs.cli:main``)."""

from __future__ import annotations

from irs.cli.main import main

__all__ = ["main"]
