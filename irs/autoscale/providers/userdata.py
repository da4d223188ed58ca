"""The boot script that turns a fresh EC2 instance (from an image with IRS installed) into a worker.

The unit runs ``irs worker``, which builds the worker's command line from the
settings in ``/etc/irs`` (:mod:`irs.worker.command`).
"""

from __future__ import annotations

import shlex

from irs.pools import CLOUD
from irs.settings import default_visibility_timeout
from irs.worker.command import SANDBOX

TEMPLATE = """#!/bin/bash
# IRS worker host: written by the autoscaler's ec2 provider. Credentials come from the instance profile.
set -euo pipefail
IMDS=http://169.254.169.254
TOKEN=$(curl -sfX PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
INSTANCE_ID=$(curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/instance-id")
mkdir -p /etc/irs
cat > /etc/irs/irs.env <<ENV
{env}
IRS_CONCURRENCY={concurrency}
IRS_INSTANCE_ID=$INSTANCE_ID
IRS_IMDS_URL=$IMDS
ENV
cat > /etc/systemd/system/irs-worker.service <<UNIT
[Unit]
Description=IRS worker ({role})
After=network-online.target
Wants=network-online.target
# Restarted after a crash or a kill, 5 s apart; a worker that fails 10 times in 10 minutes is left stopped.
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
User={user}
EnvironmentFile=-/etc/irs/image.env
EnvironmentFile=/etc/irs/irs.env
ExecStart={irs} worker
Restart=on-failure
RestartSec=5
TimeoutStopSec={stop_timeout}
{sandbox}
{stop_post}
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now irs-worker.service
"""

# An ephemeral worker that stopped cleanly (drained, or idle) powers its host off; the instance's
# shutdown behaviour is "terminate", so that ends it. "+": as root, outside the sandbox (user irs may not power off);
# "\$": the variable is systemd's, so bash, writing the unit at boot, must leave it alone.
POWER_OFF = "ExecStopPost=+/bin/sh -c 'if [ \"\\$SERVICE_RESULT\" = success ]; then systemctl poweroff; fi'\n"


def render(env: dict[str, str], pool: str = CLOUD, concurrency: int | None = None, always_on: bool = False,
           irs: str = "/opt/irs/.venv/bin/irs", user: str = "irs") -> str:
    """The boot script; a worker process per vCPU of the host (``nproc`` at boot) unless ``concurrency`` says.

    systemd waits for a drain as long as a message may stay in a worker (the visibility timeout), then kills it.
    """
    values = {**env, "IRS_POOL_NAME": pool}
    lines = "\n".join(f"{key}={shlex.quote(value)}" for key, value in sorted(values.items()))
    role = "always-on" if always_on else "ephemeral"
    return TEMPLATE.format(env=lines, concurrency="$(nproc)" if concurrency is None else concurrency, role=role,
                           user=user, irs=irs, stop_timeout=default_visibility_timeout(), sandbox=SANDBOX,
                           stop_post="" if always_on else POWER_OFF)
