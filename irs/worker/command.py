"""The worker's command line, written once.

The local stack, the local provider's hosts, the tests and ``irs worker``
(which EC2 hosts and Raspberry Pis run from their systemd units) all start a
worker with :func:`argv`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from irs.settings import Settings


def argv(queues: Sequence[str], concurrency: int, name: str, extra: Sequence[str] = ()) -> list[str]:
    """``celery -A irs worker`` for ``queues``, run by this Python."""
    return [sys.executable, "-m", "celery", "-A", "irs", "worker", "-Q", ",".join(queues), "-c", str(concurrency),
            "-n", f"{name}@%h", "-l", "INFO", *extra]


def queues_of(settings: Settings) -> list[str]:
    """What a worker with these settings consumes: its pool, and on an edge device the device's own queue."""
    own = settings.device_queue
    return [settings.pool_name, own] if own else [settings.pool_name]


def from_settings(settings: Settings, extra: Sequence[str] = ()) -> list[str]:
    """The worker these settings describe (``irs worker``)."""
    return argv(queues_of(settings), settings.concurrency, settings.instance_id or settings.pool_name, extra)
