"""The boot script that turns a fresh EC2 instance (from an image with IRS installed) into a worker."""

from __future__ import annotations

import shlex

TEMPLATE = """#!/bin/bash
# IRS worker host: written by the autoscaler's ec2 provider. Credentials come from the instance profile.
set -euo pipefail
IMDS=http://169.254.169.254
TOKEN=$(curl -sfX PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
INSTANCE_ID=$(curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/instance-id")
mkdir -p /etc/irs
cat > /etc/irs/irs.env <<ENV
{env}
IRS_INSTANCE_ID=$INSTANCE_ID
IRS_IMDS_URL=$IMDS
ENV
cat > /etc/systemd/system/irs-worker.service <<UNIT
[Unit]
Description=IRS worker ({role})
After=network-online.target
Wants=network-online.target

[Service]
User={user}
EnvironmentFile=-/etc/irs/image.env
EnvironmentFile=/etc/irs/irs.env
ExecStart={celery} -A irs worker -Q {pool} -c {concurrency} -n %H -l INFO
Restart=on-failure
RestartSec=5
TimeoutStopSec={stop_timeout}
{stop_post}
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now irs-worker.service
"""

# An ephemeral worker that stopped cleanly (drained, or idle) powers its host off; the instance's
# shutdown behaviour is "terminate", so that ends it.
POWER_OFF = "ExecStopPost=/bin/sh -c 'if [ \"$SERVICE_RESULT\" = success ]; then systemctl poweroff; fi'\n"


def render(env: dict[str, str], pool: str = "cloud", concurrency: int = 2, always_on: bool = False,
           celery: str = "/opt/irs/.venv/bin/celery", user: str = "irs", stop_timeout: int = 120) -> str:
    lines = "\n".join(f"{key}={shlex.quote(value)}" for key, value in sorted(env.items()))
    role = "always-on" if always_on else "ephemeral"
    return TEMPLATE.format(env=lines, role=role, user=user, celery=celery, pool=pool, concurrency=concurrency,
                           stop_timeout=stop_timeout, stop_post="" if always_on else POWER_OFF)
