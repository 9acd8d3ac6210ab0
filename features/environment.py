"""Start sample_app as a real server for the scenarios, and stop it afterwards.

The app runs as ``python -m sample_app`` in its own process group on a free loopback port, with a
temporary database, so the scenarios talk real HTTP to gunicorn. Under ``coverage run`` with
coverage's subprocess patch, the server's code is measured too.
"""

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 15.0


def before_all(context):
    context.workdir = Path(tempfile.mkdtemp(prefix="sample-app-bdd-"))
    context.port = free_loopback_port()
    context.base_url = f"http://127.0.0.1:{context.port}"
    context.server_log = context.workdir / "server.log"
    # Scenario-level attributes are dropped after each scenario, so the counter is an iterator.
    context.account_numbers = itertools.count(1)
    # Logged-in sessions kept for the whole run, so scenarios that only need some logged-in user
    # skip the slow scrypt hashing of registering and logging in again.
    context.shared_logins = {}

    environ = dict(os.environ)
    environ.update(
        PORT=str(context.port),
        SAMPLE_APP_HOST="127.0.0.1",
        SAMPLE_APP_DB=str(context.workdir / "notes.sqlite3"),
        # Plain HTTP on loopback: with the Secure flag a client would not send the cookie back.
        SAMPLE_APP_INSECURE_COOKIES="1",
    )
    with open(context.server_log, "wb") as log:
        context.server = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "sample_app"],
            cwd=REPO_ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_healthy(context)


def after_all(context):
    server = getattr(context, "server", None)
    if server is not None:
        stop_process_group(server)
    shutil.rmtree(context.workdir, ignore_errors=True)


def before_scenario(context, _scenario):
    context.accounts = {}
    context.sessions = {}
    context.notes = {}
    context.response = None


def free_loopback_port():
    """Return a port that was free on 127.0.0.1 a moment ago (the server binds it next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(context):
    """Poll /healthz until it returns 200; raise with the server's log if it never does."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if context.server.poll() is not None:
            break
        try:
            if requests.get(f"{context.base_url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)

    stop_process_group(context.server)
    log_tail = context.server_log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(
        f"sample_app did not respond at {context.base_url}/healthz within {STARTUP_TIMEOUT_S:.0f} s "
        f"(exit code {context.server.returncode}); server log:\n{log_tail}"
    )


def stop_process_group(process):
    """Send SIGTERM to the server's process group, then SIGKILL if it outlives the timeout."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
