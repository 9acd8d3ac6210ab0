"""A sandbox for the set-up scripts: stub docker, dockerd, apt-get, mmdebstrap and id on PATH.

The scripts decide from what ``docker``, ``dockerd`` and friends do, so the tests replace those
with small shell stubs whose behaviour is driven by files in a state directory. The scripts run
with a PATH that contains only the stubs and the few real utilities they use. No engine is
started, no package is installed and no image is built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPTS_DIR = Path(__file__).resolve().parents[3] / "ci" / "gauntlet" / "scripts"
REAL_UTILITIES = (
    "bash",
    "sh",
    "sleep",
    "setsid",
    "tail",
    "timeout",
    "dirname",
    "mkdir",
    "cp",
    "cat",
    "touch",
    "tr",
)

DOCKER_STUB = r"""#!/bin/sh
# docker: "info" works once $STATE/running exists; images exist as $STATE/image-<name>.
echo "docker $*" >>"$STATE/calls"
image_file() { echo "$STATE/image-$(echo "$1" | tr '/:' '__')"; }
case "$1" in
  info) [ -e "$STATE/running" ] ;;
  version) echo "99.0.0" ;;
  image) [ -e "$(image_file "$3")" ] ;;
  pull)
    name=$3
    [ -e "$STATE/pull-hangs" ] && exec sleep 30
    [ -e "$STATE/pullable" ] && touch "$(image_file "$name")" ;;
  import)
    for last; do :; done
    cat >"$STATE/import.tar"
    touch "$(image_file "$last")"
    echo "sha256:stub" ;;
  *) exit 2 ;;
esac
"""

DOCKERD_STUB = r"""#!/bin/sh
# dockerd: comes up (creates $STATE/running) unless $STATE/dockerd-broken exists.
echo "dockerd $*" >>"$STATE/calls"
echo "stub dockerd starting"
[ -e "$STATE/dockerd-broken" ] && { echo "stub dockerd failed to start"; exit 1; }
touch "$STATE/running"
"""

APT_GET_STUB = r"""#!/bin/sh
# apt-get: "install" puts the requested stub (dockerd or mmdebstrap) on PATH.
echo "apt-get $*" >>"$STATE/calls"
case "$*" in
  *docker.io*) cp "$STATE/dockerd.stub" "$STUB_BIN/dockerd"; cp "$STATE/docker.stub" "$STUB_BIN/docker" ;;
  *mmdebstrap*) cp "$STATE/mmdebstrap.stub" "$STUB_BIN/mmdebstrap" ;;
esac
"""

MMDEBSTRAP_STUB = r"""#!/bin/sh
# mmdebstrap: runs the customize hook on $STATE/rootfs and writes a fake tar stream.
echo "mmdebstrap $*" >>"$STATE/calls"
for arg; do
  case "$arg" in
    --customize-hook=*) hook=${arg#--customize-hook=} ;;
  esac
done
mkdir -p "$STATE/rootfs"
sh -c "$hook" hook "$STATE/rootfs" || exit 1
echo "rootfs tar stream"
"""

ID_STUB = r"""#!/bin/sh
echo "${STUB_UID:-0}"
"""


@dataclass
class Sandbox:
    """A stub PATH plus the state directory that drives the stubs."""

    bin_dir: Path
    state: Path

    def install(self, *names: str) -> None:
        """Put the named stubs (docker, dockerd, apt-get, mmdebstrap) on PATH."""
        for name in names:
            shutil.copy(self.state / f"{name}.stub", self.bin_dir / name)

    def flag(self, name: str) -> None:
        """Create the state file ``name``: running, pullable, pull-hangs, dockerd-broken, image-*."""
        (self.state / name).touch()

    def calls(self) -> list[str]:
        """Return the stub command lines run so far, in order."""
        path = self.state / "calls"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def run(self, script: str, *args: str, uid: int = 0, **env: str) -> subprocess.CompletedProcess:
        """Run a script from ci/gauntlet/scripts with only the sandbox on PATH."""
        full_env = {
            "PATH": str(self.bin_dir),
            "HOME": str(self.state),
            "STATE": str(self.state),
            "STUB_BIN": str(self.bin_dir),
            "STUB_UID": str(uid),
            **env,
        }
        return subprocess.run(
            [str(self.bin_dir / "bash"), str(SCRIPTS_DIR / script), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
            check=False,
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    """Return a sandbox with the real utilities and the id stub on PATH, and no docker at all."""
    bin_dir = tmp_path / "bin"
    state = tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for utility in REAL_UTILITIES:
        real = shutil.which(utility)
        assert real is not None, f"{utility} is needed to run the set-up scripts"
        os.symlink(real, bin_dir / utility)

    stubs = {
        "docker": DOCKER_STUB,
        "dockerd": DOCKERD_STUB,
        "apt-get": APT_GET_STUB,
        "mmdebstrap": MMDEBSTRAP_STUB,
        "id": ID_STUB,
    }
    for name, text in stubs.items():
        stub = state / f"{name}.stub"
        stub.write_text(text, encoding="utf-8")
        stub.chmod(0o755)
    shutil.copy(state / "id.stub", bin_dir / "id")
    return Sandbox(bin_dir, state)
