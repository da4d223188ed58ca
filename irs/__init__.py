"""IRS, Image Recognition as a Service: Darknet models behind Celery on SQS and S3."""

from irs.celery import app

__all__ = ["app"]
__version__ = "0.1.0"
