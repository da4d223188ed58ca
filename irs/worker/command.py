"""The worker's command line, written once.

The local stack, the local provider's hosts, the tests and ``irs worker``
(which EC2 hosts and Raspberry Pis run from their systemd units) all start a
worker with :func:`argv`; those units confine it with :data:`SANDBOX`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from irs.pools import served_by
from irs.settings import Settings

#: What a worker's systemd unit allows it (``systemd-analyze security`` rates it 1.4, "OK"): it writes only
#: under its home (the model cache) and its private /tmp (metrics), sees no devices, no other users'
#: processes and no kernel knobs, and cannot gain privileges. A forbidden system call fails with EPERM
#: instead of killing the worker. (The EC2 user data and the Pi installer, via ``irs worker --print-sandbox``.)
SANDBOX = """NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/lib/irs
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0077
RemoveIPC=yes
KeyringMode=private
MemoryMax=90%"""


def argv(queues: Sequence[str], concurrency: int, name: str, extra: Sequence[str] = ()) -> list[str]:
    """``celery -A irs worker`` for ``queues``, run by this Python."""
    return [sys.executable, "-m", "celery", "-A", "irs", "worker", "-Q", ",".join(queues), "-c", str(concurrency),
            "-n", f"{name}@%h", "-l", "INFO", *extra]


def queues_of(settings: Settings) -> list[str]:
    """What a worker with these settings consumes: its pool's queues, and on an edge device the device's own."""
    own = settings.device_queue
    return [*served_by(settings.pool_name), *([own] if own else [])]


def from_settings(settings: Settings, extra: Sequence[str] = ()) -> list[str]:
    """The worker these settings describe (``irs worker``)."""
    return argv(queues_of(settings), settings.concurrency, settings.instance_id or settings.pool_name, extra)
