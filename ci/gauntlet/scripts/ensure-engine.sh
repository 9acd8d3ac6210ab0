#!/usr/bin/env bash
# Make sure the docker CLI reaches a running container engine, trying in this order:
#   1. an engine that already runs (DOCKER_HOST or the default socket);
#   2. an installed dockerd, started in the background with its log in $DOCKERD_LOG;
#   3. as root on Debian or Ubuntu: apt-get install docker.io, then start it as in 2.
# Otherwise exit 1 with a message that names what to install.
# Environment: DOCKERD_LOG (default /tmp/gauntlet-dockerd.log), ENGINE_WAIT_S (default 60).
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/gauntlet-dockerd.log}"
ENGINE_WAIT_S="${ENGINE_WAIT_S:-60}"

say() {
  echo "ensure-engine: $*" >&2
}

engine_answers() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

wait_for_engine() {
  local waited=0
  while [ "$waited" -lt "$ENGINE_WAIT_S" ]; do
    if engine_answers; then
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
  done
  return 1
}

start_dockerd() {
  if [ "$(id -u)" -ne 0 ]; then
    say "dockerd is installed but not running, and starting it needs root;" \
      "start it (sudo systemctl start docker, or sudo dockerd) or set DOCKER_HOST"
    exit 1
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    say "DOCKER_HOST=$DOCKER_HOST does not answer; a local dockerd would not serve it." \
      "Start the engine at that address or unset DOCKER_HOST"
    exit 1
  fi

  say "starting dockerd in the background (log: $DOCKERD_LOG)"
  # setsid detaches dockerd from this shell's session, so it outlives make and CI steps.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  if ! wait_for_engine; then
    say "dockerd did not answer within ${ENGINE_WAIT_S} s; last lines of $DOCKERD_LOG:"
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
}

install_docker() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no container engine found; install Docker (Debian/Ubuntu: apt-get install docker.io)" \
      "or another engine with the docker CLI, start it, and run this again"
    exit 1
  fi
  say "installing docker.io with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

if engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  install_docker
  # On hosts with systemd the package starts the service itself.
  if engine_answers; then
    exit 0
  fi
fi
start_dockerd
say "engine ready: $(docker version --format '{{.Server.Version}}')"
