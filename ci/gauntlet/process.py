"""Run external tools: no shell, own process group, deadline, cancellation and a log file.

Every child runs in a new session, so a Ctrl-C in the terminal reaches only gauntlet, which then
kills each live group with ``kill_all``. A timeout or cancel kills the whole group (SIGTERM, then
SIGKILL after a grace period), so grandchildren such as a server started by a test go too.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from gauntlet.errors import StageError, ToolNotFound

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0  # seconds between SIGTERM and SIGKILL of a process group
POLL_S = 0.1

_live_groups: set[int] = set()
_live_lock = threading.Lock()


@dataclass
class ProcessResult:
    """Outcome of one tool run. ``stdout`` and ``stderr`` are decoded text (UTF-8, replace)."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


def resolve(executable: str) -> str:
    """Return the full path of ``executable`` on PATH, or raise ToolNotFound naming the fix."""
    if os.sep in executable:
        if os.access(executable, os.X_OK):
            return executable
        raise ToolNotFound(f"tool not found: {executable!r} is not an executable file")
    found = shutil.which(executable)
    if found is not None:
        return found

    # gauntlet run from a venv that is not activated: the tool sits beside the interpreter.
    scripts = Path(sys.executable).parent
    if (scripts / executable).is_file():
        raise ToolNotFound(
            f"tool not found on PATH: {executable!r}, but it is in {scripts}; put that "
            f"directory first on PATH (for example, activate the venv) and run again"
        )
    raise ToolNotFound(
        f"tool not found on PATH: {executable!r}; install it (make ci installs the kit's "
        f"pinned tools into .venv) or put the directory that holds it on PATH"
    )


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    deadline: float | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion and return its exit code and output.

    ``env`` entries are added to the current environment. The command line and output are
    appended to ``log_path``. Raises StageError on timeout (``deadline`` is a
    ``time.monotonic()`` value; ``timeout_s`` caps this one call) or when ``cancel`` is set.
    """
    argv = [resolve(argv[0]), *argv[1:]]
    limit = _effective_deadline(deadline, timeout_s)
    full_env = {**os.environ, **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stdout_path = log_path.with_name(log_path.name + ".stdout.tmp")
    stderr_path = log_path.with_name(log_path.name + ".stderr.tmp")

    started = time.monotonic()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        child = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        register_group(child.pid)
        try:
            _feed_stdin(child, stdin)
            reason = _wait(child, limit, cancel)
        finally:
            if child.poll() is None:
                kill_group(child.pid, child)
                child.wait()
            # A tool may leave grandchildren (a server a test started) in its group: end them too.
            if _group_alive(child.pid):
                kill_group(child.pid)
            unregister_group(child.pid)
    duration = time.monotonic() - started

    stdout = stdout_path.read_bytes().decode("utf-8", "replace")
    stderr = stderr_path.read_bytes().decode("utf-8", "replace")
    stdout_path.unlink()
    stderr_path.unlink()
    _append_log(log_path, argv, child.returncode, duration, stdout, stderr, reason)

    if reason == "timeout":
        raise StageError(f"{Path(argv[0]).name} timed out after {duration:.0f} s and was killed")
    if reason == "cancelled":
        raise StageError(f"{Path(argv[0]).name} was cancelled and killed")
    return ProcessResult(argv, child.returncode, stdout, stderr, duration)


def kill_group(pgid: int, leader: subprocess.Popen | None = None) -> None:
    """Send SIGTERM to a process group, then SIGKILL if it outlives the grace period.

    Pass the group leader's ``Popen`` when this process started it: the loop then reaps it, since
    an unreaped (zombie) leader keeps the group alive for the whole grace period.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return
    end = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < end:
        if leader is not None:
            leader.poll()
        if not _group_alive(pgid):
            return
        time.sleep(POLL_S)
    _signal_group(pgid, signal.SIGKILL)


def register_group(pgid: int) -> None:
    """Add a process group that ``kill_all`` stops; ``run`` registers each tool it starts.

    Code that starts a long-lived child in a session of its own (a deployed server) registers
    it too, and calls ``unregister_group`` once it has stopped the group.
    """
    with _live_lock:
        _live_groups.add(pgid)


def unregister_group(pgid: int) -> None:
    """Remove a process group from those ``kill_all`` stops; unknown ids are ignored."""
    with _live_lock:
        _live_groups.discard(pgid)


def kill_all() -> None:
    """Kill every registered process group that is still alive (used on Ctrl-C and errors)."""
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    for pgid in groups:
        kill_group(pgid)


def _effective_deadline(deadline: float | None, timeout_s: float | None) -> float | None:
    limits = []
    if deadline is not None:
        limits.append(deadline)
    if timeout_s is not None:
        limits.append(time.monotonic() + timeout_s)
    return min(limits) if limits else None


def _feed_stdin(child: subprocess.Popen, text: str | None) -> None:
    if text is None or child.stdin is None:
        return
    try:
        child.stdin.write(text.encode("utf-8"))
        child.stdin.close()
    except BrokenPipeError:
        log.debug("%s closed its stdin early", child.args[0])


def _wait(child: subprocess.Popen, limit: float | None, cancel: threading.Event | None) -> str:
    """Poll until the child exits; return "", "timeout" or "cancelled"."""
    while child.poll() is None:
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if limit is not None and time.monotonic() >= limit:
            return "timeout"
        time.sleep(POLL_S)
    return ""


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("no permission to signal process group %d", pgid)
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _append_log(
    log_path: Path,
    argv: list[str],
    code: int,
    duration: float,
    stdout: str,
    stderr: str,
    reason: str,
) -> None:
    ending = f" ({reason})" if reason else ""
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.write(f"# exit {code} after {duration:.2f} s{ending}\n")
        if stdout:
            handle.write(stdout if stdout.endswith("\n") else stdout + "\n")
        if stderr:
            handle.write("# stderr\n")
            handle.write(stderr if stderr.endswith("\n") else stderr + "\n")
