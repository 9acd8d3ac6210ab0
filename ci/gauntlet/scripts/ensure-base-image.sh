#!/usr/bin/env bash
# Usage: ensure-base-image.sh [IMAGE]   (default IMAGE: python:3.12-slim)
# Print, on the last line of stdout, the base image that `docker build --build-arg BASE_IMAGE=...`
# should use, after making sure the engine has it:
#   1. IMAGE when the engine already has it;
#   2. IMAGE when `docker pull` gets it within $PULL_TIMEOUT_S seconds;
#   3. otherwise local/python-base ($LOCAL_BASE_IMAGE), reused when present, else built from
#      Debian packages with mmdebstrap (bookworm minbase + python3 + python3-venv). mmdebstrap is
#      installed with apt-get when it is missing and this runs as root on Debian or Ubuntu.
# The local image carries the host's CA bundle at $CA_PATH with PIP_CERT pointing at it, so pip
# inside a build trusts the same CAs as the host (needed behind a TLS-inspecting proxy). The path
# is its own because installing Debian's ca-certificates in a build rewrites the standard bundle.
set -euo pipefail

IMAGE="${1:-python:3.12-slim}"
PULL_TIMEOUT_S="${PULL_TIMEOUT_S:-60}"
LOCAL_BASE_IMAGE="${LOCAL_BASE_IMAGE:-local/python-base}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
CA_PATH=/usr/local/share/ca-bundle/host-ca.crt

say() {
  echo "ensure-base-image: $*" >&2
}

have_image() {
  docker image inspect "$1" >/dev/null 2>&1
}

# Print the chosen image on stdout, for scripts, and on stderr how gauntlet uses it.
choose() {
  echo "$1"
  say "use it with: GAUNTLET_IMAGE_BUILD_ARGS=BASE_IMAGE=$1 GAUNTLET_DAST_BUILD_ARGS=BASE_IMAGE=$1" \
    "gauntlet run, or build_args = { BASE_IMAGE = '$1' } in [tool.gauntlet.image] and" \
    "[tool.gauntlet.dast] of pyproject.toml"
}

ensure_mmdebstrap() {
  if command -v mmdebstrap >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "cannot pull $IMAGE and mmdebstrap is missing; either make a registry with $IMAGE" \
      "reachable, or install mmdebstrap (Debian/Ubuntu: apt-get install mmdebstrap) and run this again"
    exit 1
  fi
  say "installing mmdebstrap with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
}

build_local_base() {
  local hook
  ensure_mmdebstrap
  say "building $LOCAL_BASE_IMAGE from Debian $DEBIAN_SUITE packages with mmdebstrap"

  hook="mkdir -p \"\$1$(dirname "$CA_PATH")\""
  if [ -f "$HOST_CA_BUNDLE" ]; then
    hook="$hook && cp '$HOST_CA_BUNDLE' \"\$1$CA_PATH\""
  else
    say "no CA bundle at $HOST_CA_BUNDLE; pip in builds uses its own CA list"
  fi

  # mmdebstrap writes the root file system as a tar stream, and docker import turns it into a
  # one-layer image. --change sets what a Dockerfile's ENV and CMD would set.
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv \
    --customize-hook="$hook" "$DEBIAN_SUITE" - |
    docker import \
      --change "ENV PIP_CERT=$CA_PATH" \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["python3"]' \
      - "$LOCAL_BASE_IMAGE" >/dev/null
}

if have_image "$IMAGE"; then
  choose "$IMAGE"
  exit 0
fi

say "pulling $IMAGE (at most ${PULL_TIMEOUT_S} s)"
if timeout "$PULL_TIMEOUT_S" docker pull --quiet "$IMAGE" >/dev/null 2>&1; then
  choose "$IMAGE"
  exit 0
fi

say "could not pull $IMAGE; using $LOCAL_BASE_IMAGE instead"
if ! have_image "$LOCAL_BASE_IMAGE"; then
  build_local_base
fi
choose "$LOCAL_BASE_IMAGE"
