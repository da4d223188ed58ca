#!/bin/bash
# Make this Raspberry Pi an IRS edge worker: a venv, one env file, and a systemd service that
# starts at boot and restarts on failure. Run as root on Raspberry Pi OS (Bookworm, 64-bit):
#
#   sudo IRS_SOURCE=/path/to/irs-0.1.0-py3-none-any.whl IRS_SOURCE_SHA256=<sha256> ./install.sh
#
# then put the deployment's settings and the edge user's keys in /etc/irs/irs.env (see README.md
# beside this script) and `sudo systemctl restart irs-edge`. Running it again upgrades in place.
set -euo pipefail
: "${IRS_SOURCE:?set IRS_SOURCE to the IRS wheel or sdist to install}"
: "${IRS_SOURCE_SHA256:?set IRS_SOURCE_SHA256 to the sha256 of that file}"
IRS_MODEL="${IRS_MODEL:-yolo-fastest-1.1}"    # the fastest model suits the Pi
CONCURRENCY="${CONCURRENCY:-1}"                # one image at a time, using all four cores
THREADS="${THREADS:-4}"                        # OpenCV threads for that image
PREFIX=/opt/irs
ENV_FILE=/etc/irs/irs.env

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
id irs >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/irs --shell /usr/sbin/nologin irs

python3 -m venv "$PREFIX/.venv"
# piwheels serves ARM builds of opencv-python-headless, numpy and the rest.
grep -q piwheels /etc/pip.conf 2>/dev/null || printf '[global]\nextra-index-url=https://www.piwheels.org/simple\n' >> /etc/pip.conf
"$PREFIX/.venv/bin/pip" install --upgrade pip
package="/tmp/$(basename "$IRS_SOURCE")"
case "$IRS_SOURCE" in
  http://*|https://*) curl -fsSL -o "$package" "$IRS_SOURCE" ;;
  *) cp "$IRS_SOURCE" "$package" ;;
esac
echo "$IRS_SOURCE_SHA256  $package" | sha256sum --check --strict
"$PREFIX/.venv/bin/pip" install "$package"

install -d -o irs -g irs "$PREFIX/models"
sudo -u irs env IRS_CACHE_DIR="$PREFIX/cache" "$PREFIX/.venv/bin/irs" model fetch "$IRS_MODEL"
cp -r "$PREFIX/cache/models/." "$PREFIX/models/"
chown -R irs:irs "$PREFIX/models"

install -d -m 750 -g irs /etc/irs
if [ ! -f "$ENV_FILE" ]; then
  cat > "$ENV_FILE" <<ENV
# IRS edge worker settings. Fill in the deployment's values (irs deploy writes them to irs.env)
# and the keys of the edge user, then: sudo systemctl restart irs-edge
IRS_REGION=
IRS_QUEUE_PREFIX=irs-
IRS_INPUT_BUCKET=
IRS_RESULTS_BUCKET=
AWS_ACCESS_KEY_ID=
AWS_SECRET_ACCESS_KEY=
ENV
  chmod 640 "$ENV_FILE"
  chgrp irs "$ENV_FILE"
fi

cat > /etc/systemd/system/irs-edge.service <<UNIT
[Unit]
Description=IRS edge worker
After=network-online.target
Wants=network-online.target

[Service]
User=irs
Environment=IRS_POOL_NAME=edge IRS_MODEL=$IRS_MODEL IRS_MODEL_DIR=$PREFIX/models IRS_CV_THREADS=$THREADS IRS_ALWAYS_ON=true
EnvironmentFile=$ENV_FILE
ExecStart=$PREFIX/.venv/bin/celery -A irs worker -Q edge -c $CONCURRENCY -n edge-%H -l INFO
Restart=on-failure
RestartSec=5
# SIGTERM drains: the worker stops taking work and finishes its image first.
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable irs-edge.service
if grep -q '^AWS_ACCESS_KEY_ID=.\+' "$ENV_FILE"; then
  systemctl restart irs-edge.service
  echo "irs-edge is running: journalctl -u irs-edge -f"
else
  echo "Installed. Fill in $ENV_FILE, then: sudo systemctl restart irs-edge"
fi
