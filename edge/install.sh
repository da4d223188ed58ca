#!/bin/bash
# Make this Raspberry Pi an IRS edge worker: a venv, one env file, and a systemd service that
# starts at boot and restarts on failure. Run as root on Raspberry Pi OS (Bookworm, 64-bit):
#
#   sudo IRS_SOURCE=/path/to/irs-0.1.0-py3-none-any.whl IRS_SOURCE_SHA256=<sha256> ./install.sh
#
# Add CAMERA_EVERY=5 to take a still with the Pi camera every 5 s. Then put the lines that
# `irs edge add-device NAME` printed (this Pi's own identity and queue) in /etc/irs/irs.env, and
# `sudo systemctl restart irs-edge irs-edge-watch`. Running it again upgrades in place.
# Dependencies come from deploy/requirements.lock, each file checked by its sha256. IRS_MODEL_URL_BASE
# fetches the model from a mirror. It also installs into an image being built (a chroot).
set -euo pipefail
: "${IRS_SOURCE:?set IRS_SOURCE to the IRS wheel or sdist to install}"
: "${IRS_SOURCE_SHA256:?set IRS_SOURCE_SHA256 to the sha256 of that file}"
IRS_MODEL="${IRS_MODEL:-yolo-fastest-1.1}"    # the fastest model suits the Pi
IMAGE_DIR="${IMAGE_DIR:-/var/lib/irs/camera}"  # images here are served on the Pi without upload
CAMERA_EVERY="${CAMERA_EVERY:-}"               # seconds between stills from the Pi camera; empty: no camera
CONCURRENCY="${CONCURRENCY:-1}"                # one image at a time, using all four cores
THREADS="${THREADS:-4}"                        # OpenCV threads for that image
PREFIX=/opt/irs
ENV_FILE=/etc/irs/irs.env
# shellcheck source=deploy/install-irs.sh
source "$(dirname "$0")/../deploy/install-irs.sh"

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv curl ca-certificates sudo
id irs >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/irs --shell /usr/sbin/nologin irs
install -d -o irs -g irs "$IMAGE_DIR"

if [ -n "$CAMERA_EVERY" ]; then
  # picamera2 is a Raspberry Pi OS package, not a wheel: the venv sees the system's site-packages.
  apt-get install -y --no-install-recommends python3-picamera2
  usermod -a -G video irs
  python3 -m venv --system-site-packages "$PREFIX/.venv"
else
  python3 -m venv "$PREFIX/.venv"
fi
install_irs "$PREFIX/.venv"

install -d -o irs -g irs "$PREFIX/models" "$PREFIX/cache"  # user irs fetches into the cache
sudo -u irs env IRS_CACHE_DIR="$PREFIX/cache" "$PREFIX/.venv/bin/irs" model fetch "$IRS_MODEL" ${IRS_MODEL_URL_BASE:+--url-base "$IRS_MODEL_URL_BASE"}
cp -r "$PREFIX/cache/models/." "$PREFIX/models/"
chown -R irs:irs "$PREFIX/models"

install -d -m 750 -g irs /etc/irs
if [ ! -f "$ENV_FILE" ]; then
  cat > "$ENV_FILE" <<ENV
# IRS edge worker settings. Add the lines that "irs edge add-device NAME" printed for this Pi
# (its region, queue prefix, buckets, device name and keys), then: sudo systemctl restart irs-edge
IRS_LOCAL_IMAGE_DIR=$IMAGE_DIR
# IRS_UPLINK_MBPS=5   # this Pi's upload speed until it has measured its own uploads
ENV
  chmod 640 "$ENV_FILE"
  chgrp irs "$ENV_FILE"
fi

cat > /etc/systemd/system/irs-edge.service <<UNIT
[Unit]
Description=IRS edge worker
After=network-online.target
Wants=network-online.target
# Restarted after a crash or a kill, 5 s apart; a worker that fails 10 times in 10 minutes is left stopped.
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
User=irs
Environment=IRS_POOL_NAME=edge IRS_CONCURRENCY=$CONCURRENCY IRS_MODEL=$IRS_MODEL IRS_MODEL_DIR=$PREFIX/models IRS_CV_THREADS=$THREADS IRS_ALWAYS_ON=true
EnvironmentFile=$ENV_FILE
# IRS builds the worker's command line: the edge queue and this Pi's own (irs worker --print shows it).
ExecStart=$PREFIX/.venv/bin/irs worker
Restart=on-failure
RestartSec=5
# SIGTERM drains: the worker stops taking work and finishes its image first.
TimeoutStopSec=60
# Confined as on EC2 (irs worker --print-sandbox).
$("$PREFIX/.venv/bin/irs" worker --print-sandbox)

[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/irs-edge-watch.service <<UNIT
[Unit]
Description=IRS edge watcher: every new image in $IMAGE_DIR becomes a routed request
After=irs-edge.service
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
User=irs
# The Pi's photos name the Pi's own model: the worker beside it holds it, wherever the router sends them.
Environment=IRS_MODEL=$IRS_MODEL
EnvironmentFile=$ENV_FILE
ExecStart=$PREFIX/.venv/bin/irs edge watch $IMAGE_DIR --json ${CAMERA_EVERY:+--camera $CAMERA_EVERY}
Restart=on-failure
RestartSec=5
# Confined as the worker is; with the camera, its devices too (irs edge watch DIR --print-sandbox [--camera N]).
$("$PREFIX/.venv/bin/irs" edge watch "$IMAGE_DIR" --print-sandbox ${CAMERA_EVERY:+--camera $CAMERA_EVERY})

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable irs-edge.service irs-edge-watch.service
if [ ! -d /run/systemd/system ]; then
  # Installed into an image being built (a chroot): the services start when it boots.
  echo "Installed; systemd is not running here, so irs-edge starts at the next boot."
  exit 0
fi
systemctl daemon-reload
if grep -q '^AWS_ACCESS_KEY_ID=.\+' "$ENV_FILE"; then
  systemctl restart irs-edge.service irs-edge-watch.service
  echo "irs-edge is running: journalctl -u irs-edge -u irs-edge-watch -f"
else
  echo "Installed. Fill in $ENV_FILE, then: sudo systemctl restart irs-edge irs-edge-watch"
fi
