"""The Celery application: ``celery -A irs worker`` finds it through ``irs.app``.

Building it reads nothing. Its configuration comes from one function,
:func:`irs.celeryconfig.configure`, called by Celery the first time the
configuration is needed, so settings are read then and not at import. It loads
none of the worker's code: a client that only sends requests needs none, and a
worker adds its own bootstep (:mod:`irs.tasks`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

app = Celery("irs", include=["irs.tasks"])


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    from irs import celeryconfig
    from irs.aws.clients import use_emulator_credentials
    from irs.settings import get_settings

    use_emulator_credentials()  # kombu's SQS client finds credentials where boto3 does
    sender.conf.update(celeryconfig.configure(get_settings()))
