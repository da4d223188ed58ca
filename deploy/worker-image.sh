#!/bin/bash
# Turns a fresh Ubuntu 24.04 or Debian 12 host into an IRS worker image: run it as root on a
# builder instance (or as its user data), then create an AMI from that instance, and pass the
# AMI to `irs deploy --image-id`. Workers launched from it are configured at boot by the user
# data of the launch template; nothing here holds a secret or an account-specific setting.
#
#   IRS_SOURCE         the IRS wheel or sdist to install: a URL or a path (required)
#   IRS_SOURCE_SHA256  its sha256 (required): the image installs exactly that file or nothing
#   IRS_MODEL          the model baked into the image (default: yolo-fastest-1.1-xl); its files are
#                      checked against the sha256 in IRS's model registry as they are downloaded
#   IRS_MODEL_URL_BASE where to download the model's files from instead (a mirror)
# IRS's dependencies are installed from deploy/requirements.lock, each file checked by its sha256
# (IRS_LOCK names another lock file). Test tools (moto, pytest, playwright) are not in it.
set -euo pipefail
: "${IRS_SOURCE:?set IRS_SOURCE to the IRS wheel or sdist to install}"
: "${IRS_SOURCE_SHA256:?set IRS_SOURCE_SHA256 to the sha256 of that file}"
IRS_MODEL="${IRS_MODEL:-yolo-fastest-1.1-xl}"
# shellcheck source=deploy/install-irs.sh
source "$(dirname "$0")/install-irs.sh"

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv curl ca-certificates sudo

id irs >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/irs --shell /usr/sbin/nologin irs
python3 -m venv /opt/irs/.venv
install_irs /opt/irs/.venv

# The model, fetched and checked once, where every worker looks first.
install -d -o irs -g irs /opt/irs/models /opt/irs/cache  # user irs fetches into the cache
sudo -u irs env IRS_CACHE_DIR=/opt/irs/cache /opt/irs/.venv/bin/irs model fetch "$IRS_MODEL" ${IRS_MODEL_URL_BASE:+--url-base "$IRS_MODEL_URL_BASE"}
cp -r /opt/irs/cache/models/. /opt/irs/models/
chown -R irs:irs /opt/irs/models
install -d /etc/irs
echo "IRS_MODEL_DIR=/opt/irs/models" > /etc/irs/image.env

echo "IRS worker image ready: IRS in /opt/irs/.venv, model $IRS_MODEL in /opt/irs/models"
