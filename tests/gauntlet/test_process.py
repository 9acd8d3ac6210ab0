"""Tests of gauntlet.process: the registry of live process groups that kill_all stops."""

from __future__ import annotations

import subprocess

import pytest

from gauntlet import process


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
