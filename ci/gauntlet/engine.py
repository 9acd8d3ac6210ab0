"""Docker CLI helpers shared by the image stage and ephemeral deployments.

Every call goes through ``StageContext.run_tool``, so it runs without a shell, under the stage's
deadline and cancel event, and lands in the stage's log file. Any engine that the ``docker`` CLI
can talk to works: the CLI reads ``DOCKER_HOST`` (or uses the default socket) itself.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Mapping

from gauntlet.errors import StageError, ToolNotFound
from gauntlet.stage import StageContext

log = logging.getLogger(__name__)

DOCKER = "docker"
LABEL_KIT = "io.ci-gauntlet.kit"  # set on every image and container the kit creates
LABEL_RUN = "io.ci-gauntlet.run"  # the run id, so a run removes only what it created
# The gauntlet process that created the image or container: its PID, and its start time in clock
# ticks since boot (/proc/<pid>/stat field 22), which distinguishes a reused PID. `gauntlet clean`
# leaves what a live owner created alone.
LABEL_OWNER_PID = "io.ci-gauntlet.owner-pid"
LABEL_OWNER_START = "io.ci-gauntlet.owner-start"
KIT_LABEL_VALUE = "ci-gauntlet"

ENGINE_FIX = (
    "start a container engine (run ci/gauntlet/scripts/ensure-engine.sh, or start dockerd) "
    "or point DOCKER_HOST at a running one"
)
BUILD_LOG_TAIL_LINES = 25
ENGINE_CHECK_TIMEOUT_S = 30.0
LOCAL_BASE_IMAGE = "local/python-base"  # what ensure-base-image.sh builds when it cannot pull

# The step that failed in the legacy builder's output: `Step 2/3 : FROM ${BASE_IMAGE}`.
_STEP = re.compile(r"^Step \d+/\d+ : (?P<instruction>\S+)\s*(?P<arguments>.*)$", re.MULTILINE)
# BuildKit's message when it cannot fetch a base image's manifest.
_BUILDKIT_PULL = re.compile(
    r"failed to resolve source metadata for (?P<image>[^\s:]+(?::[^\s:]+)?)"
)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>\S*))?", re.I | re.M)
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def kit_labels(run_id: str) -> dict[str, str]:
    """Return the labels that mark an image or container as created by this run of the kit."""
    pid, start = owner()
    return {
        LABEL_KIT: KIT_LABEL_VALUE,
        LABEL_RUN: run_id,
        LABEL_OWNER_PID: str(pid),
        LABEL_OWNER_START: start,
    }


def owner() -> tuple[int, str]:
    """Return this process's PID and start time, which together name it while it lives."""
    pid = os.getpid()
    return pid, process_start(pid) or ""


def process_start(pid: int) -> str | None:
    """Return the start time of process ``pid`` in clock ticks since boot, None when it is gone.

    A zombie counts as gone: it has exited and only waits to be reaped.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name in parentheses may contain spaces; the fields after it are fixed.
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return fields[19]


def owner_alive(pid: object, start: object) -> bool:
    """Return True when the owner recorded as ``pid`` and ``start`` still runs.

    Anything unreadable (no owner recorded, a malformed PID) counts as not alive, so that what
    runs of older versions of the kit left behind can be removed.
    """
    try:
        number = int(str(pid))
    except ValueError:
        return False
    if number <= 0 or not start:
        return False
    return process_start(number) == str(start)


def check_engine(ctx: StageContext) -> str:
    """Return the engine's server version, or raise StageError when the CLI or daemon is missing."""
    try:
        result = ctx.run_tool(
            [DOCKER, "version", "--format", "{{.Server.Version}}"],
            timeout_s=ENGINE_CHECK_TIMEOUT_S,
        )
    except ToolNotFound as exc:
        raise StageError(
            f"container engine CLI not found: {DOCKER!r} is not on PATH; install the docker CLI "
            f"(Debian/Ubuntu: apt-get install docker.io) and {ENGINE_FIX}"
        ) from exc

    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        reason = _last_line(result.stderr) or f"docker version exited {result.returncode}"
        raise StageError(f"container engine not reachable at {where}: {reason}; {ENGINE_FIX}")
    return version


def build_image(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    ctx: StageContext,
    dockerfile: Path,
    context: Path,
    tag: str,
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    stage: str = "image",
) -> str:
    """Build ``dockerfile`` with ``context`` as the build context and return the image id.

    The image is tagged ``tag``. Intermediate containers are removed even when the build fails.
    Raises StageError with the tail of the build output when the build fails. When the base image
    could not be pulled, the message names it and how to use a local one instead, through the
    ``build_args`` option of ``stage``.
    """
    iid_file = ctx.out_dir / "image.iid"
    iid_file.unlink(missing_ok=True)

    argv = [DOCKER, "build", "--force-rm", "--file", str(dockerfile), "--tag", tag]
    argv += ["--iidfile", str(iid_file)]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    argv.append(str(context))

    log.info("building image %s from %s", tag, dockerfile)
    result = ctx.run_tool(argv)
    if result.returncode != 0 or not iid_file.is_file():
        output = result.stdout + result.stderr
        base_image = failed_base_image(output, dockerfile, build_args or {})
        if base_image is not None:
            reason = _last_line(result.stderr)
            raise StageError(base_image_error(base_image, reason, stage, dockerfile))
        raise StageError(
            f"docker build of {dockerfile} failed (exit {result.returncode}); "
            f"last lines of the build output:\n{_tail(output, BUILD_LOG_TAIL_LINES)}"
        )
    return iid_file.read_text(encoding="utf-8").strip()


def failed_base_image(output: str, dockerfile: Path, build_args: Mapping[str, str]) -> str | None:
    """Return the base image whose pull failed the build, or None when the build failed otherwise.

    The legacy builder stops with a `FROM` step as its last step. BuildKit names the image in its
    error. A `FROM` that uses build arguments is resolved with ``build_args`` and the Dockerfile's
    ARG defaults.
    """
    buildkit = _BUILDKIT_PULL.search(output)
    if buildkit is not None:
        return buildkit.group("image")

    steps = list(_STEP.finditer(output))
    if not steps or steps[-1].group("instruction").upper() != "FROM":
        return None
    words = steps[-1].group("arguments").split()
    if not words:
        return None
    image = words[-1] if words[0].startswith("--platform") and len(words) > 1 else words[0]
    return _substitute(image, _arguments(dockerfile, build_args))


def base_image_error(image: str, reason: str, stage: str, dockerfile: Path) -> str:
    """Return the message for a build whose base image ``image`` could not be pulled."""
    variable = f"GAUNTLET_{stage.upper()}_BUILD_ARGS"
    message = (
        f"docker build could not pull the base image {image} ({reason or 'no reason given'}); "
        f"to build on a local base image offline, run `gauntlet setup` (or "
        f"ci/gauntlet/scripts/ensure-base-image.sh), then pass "
        f"{variable}=BASE_IMAGE={LOCAL_BASE_IMAGE} or set build_args = "
        f"{{ BASE_IMAGE = '{LOCAL_BASE_IMAGE}' }} in [tool.gauntlet.{stage}]"
    )
    if "BASE_IMAGE" not in _arguments(dockerfile, {}):
        message += (
            f"; {dockerfile.name} must first declare ARG BASE_IMAGE and use FROM ${{BASE_IMAGE}}"
        )
    return message


def _arguments(dockerfile: Path, build_args: Mapping[str, str]) -> dict[str, str]:
    """Return the ARG defaults of ``dockerfile`` overridden by ``build_args``."""
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    values = {match["name"]: match["default"] or "" for match in _ARG.finditer(text)}
    values.update(build_args)
    return values


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match["braced"] or match["bare"]
        return values.get(name, match.group(0))

    return _VARIABLE.sub(value, text)


def remove_image(ctx: StageContext, image: str) -> bool:
    """Remove ``image`` (a tag or id); return False when the engine reported an error.

    An image that is already gone counts as removed: ``docker image rm --force`` exits 0 then.
    """
    result = ctx.run_tool([DOCKER, "image", "rm", "--force", image], timeout_s=60.0)
    if result.returncode != 0:
        log.warning("could not remove image %s: %s", image, _last_line(result.stderr))
        return False
    return True


def _tail(text: str, count: int) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
