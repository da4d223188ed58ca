# Sourced by deploy/worker-image.sh and edge/install.sh: install IRS into a venv, exactly as tested.
#
#   install_irs VENV
#
# IRS_SOURCE (a wheel or sdist: URL or path) is downloaded into a fresh temporary directory and
# checked against IRS_SOURCE_SHA256. Its dependencies come from deploy/requirements.lock, every file
# pinned by its sha256 (pip --require-hashes), from PyPI: piwheels builds differ from PyPI's files, so
# their hashes would not match (PyPI has aarch64 wheels of every locked package for the Pi's 64-bit OS).
# No global pip configuration is read or written: what is installed depends on these files alone.
IRS_LOCK="${IRS_LOCK:-$(dirname "${BASH_SOURCE[0]}")/requirements.lock}"

install_irs() {
  local venv="$1" download package
  [ -f "$IRS_LOCK" ] || { echo "no lock file at $IRS_LOCK (set IRS_LOCK)" >&2; return 1; }
  download="$(mktemp -d)"
  package="$download/$(basename "$IRS_SOURCE")"
  case "$IRS_SOURCE" in
    http://*|https://*) curl -fsSL -o "$package" "$IRS_SOURCE" ;;
    *) cp "$IRS_SOURCE" "$package" ;;
  esac
  echo "$IRS_SOURCE_SHA256  $package" | sha256sum --check --strict
  export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
  "$venv/bin/pip" install --require-hashes -r "$IRS_LOCK"
  "$venv/bin/pip" install --no-deps "$package"
  rm -rf "$download"
  unset PIP_CONFIG_FILE
}
