"""Tests of sample_app.__main__: settings errors, the gunicorn configuration, a real start."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sample_app import __main__ as main_module
from sample_app.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_main_invalid_setting_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("PORT", "99999")
    assert main_module.main() == 2
    assert capsys.readouterr().err.startswith("sample_app: PORT='99999' is invalid")


def test_main_serves_built_app(monkeypatch, tmp_path):
    served = {}
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("SAMPLE_APP_DB", str(tmp_path / "db.sqlite3"))
    monkeypatch.setattr(main_module.Server, "run", lambda self: served.update(app=self.load()))
    assert main_module.main() == 0
    assert served["app"].name == "sample_app"


def test_server_config_from_settings(app):
    settings = Settings(host="0.0.0.0", port=8123, workers=3)
    server = main_module.Server(app, settings)
    assert server.cfg.bind == ["0.0.0.0:8123"]
    assert server.cfg.workers == 3
    assert server.cfg.control_socket_disable is True
    assert server.load() is app


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_module_answers_healthz_on_port(tmp_path):
    port = free_port()
    environ = dict(os.environ, PORT=str(port), SAMPLE_APP_DB=str(tmp_path / "db.sqlite3"))
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "sample_app"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status = wait_for_health(f"http://127.0.0.1:{port}/healthz", deadline_s=20)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    assert status == 200


def wait_for_health(url, deadline_s):
    """Poll ``url`` until it responds, returning its status; fail after ``deadline_s`` seconds."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)
