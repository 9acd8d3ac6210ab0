#!/usr/bin/env bash
# Install the Debian packages that only the kit's own test suite needs, when they are missing:
# docker-registry (a loopback OCI registry that serves the Trivy DB fixture) and mmdebstrap (the
# local base image). Installing needs root on Debian or Ubuntu; elsewhere the script names the
# packages and exits 1.
set -euo pipefail

packages=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || packages+=(docker-registry)
command -v mmdebstrap >/dev/null 2>&1 || packages+=(mmdebstrap)

if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing test dependencies: ${packages[*]}; install them with your package manager (Debian: apt-get install ${packages[*]})" >&2
  exit 1
fi

echo "installing ${packages[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
