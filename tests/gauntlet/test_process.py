"""Tests of gauntlet.process: tool lookup and the registry of live groups that kill_all stops."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gauntlet import process
from gauntlet.errors import ToolNotFound


@pytest.fixture(name="sleeper")
def fixture_sleeper():
    """A ``sleep`` in a session (and process group) of its own, killed after the test."""
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield child
    process.unregister_group(child.pid)
    if child.poll() is None:
        child.kill()
    child.wait()


def test_kill_all_stops_registered_group(sleeper, monkeypatch):
    # No process reaps the sleeper while kill_all waits, so its zombie outlives any grace period.
    monkeypatch.setattr(process, "KILL_GRACE_S", 0.2)
    process.register_group(sleeper.pid)
    process.kill_all()
    assert sleeper.wait(timeout=10) == -15


def test_kill_all_spares_unregistered_group(sleeper):
    process.register_group(sleeper.pid)
    process.unregister_group(sleeper.pid)
    process.kill_all()
    assert sleeper.poll() is None


@pytest.fixture(name="scripts_dir")
def fixture_scripts_dir(tmp_path, monkeypatch):
    """An empty PATH and a fake interpreter whose directory contains an executable ``black``."""
    scripts = tmp_path / "venv-bin"
    scripts.mkdir()
    black = scripts / "black"
    black.write_text("#!/bin/sh\n", encoding="utf-8")
    black.chmod(0o755)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(scripts / "python"))
    return scripts


def test_resolve_finds_tool_on_path(scripts_dir, monkeypatch):
    monkeypatch.setenv("PATH", str(scripts_dir))

    assert process.resolve("black") == str(scripts_dir / "black")


def test_resolve_names_venv_beside_interpreter(scripts_dir):
    with pytest.raises(ToolNotFound) as raised:
        process.resolve("black")

    assert str(scripts_dir) in str(raised.value)
    assert "activate the venv" in str(raised.value)


def test_resolve_missing_tool_suggests_install(scripts_dir):
    with pytest.raises(ToolNotFound) as raised:
        process.resolve("pylint")

    assert "'pylint'" in str(raised.value)
    assert "install it" in str(raised.value)


def test_run_logs_command_shell_quoted(tmp_path):
    log_path = tmp_path / "stage.log"

    process.run(["true", "a b", ""], cwd=tmp_path, log_path=log_path)

    first_line = log_path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.endswith("true 'a b' ''")
