"""IRS, Image Recognition as a Service: Darknet models behind Celery on SQS and S3.

Importing ``irs`` loads nothing else. ``irs.app`` (what ``celery -A irs`` finds)
is the Celery application, built on first access (see :mod:`irs.broker.app`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    app: Celery

__all__ = ["app"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "app":
        from irs.broker.app import app

        return app
    raise AttributeError(f"module 'irs' has no attribute {name!r}")
