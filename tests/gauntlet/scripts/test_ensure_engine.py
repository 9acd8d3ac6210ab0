"""Tests of ensure-engine.sh in a sandbox of stub docker, dockerd and apt-get commands."""

from __future__ import annotations

from script_sandbox import Sandbox

SCRIPT = "ensure-engine.sh"


def test_running_engine_is_used(sandbox: Sandbox) -> None:
    sandbox.install("docker", "dockerd")
    sandbox.flag("running")

    completed = sandbox.run(SCRIPT)

    assert completed.returncode == 0, completed.stderr
    assert not any(call.startswith("dockerd") for call in sandbox.calls())


def test_installed_dockerd_is_started(sandbox: Sandbox) -> None:
    sandbox.install("docker", "dockerd")
    log = sandbox.state / "dockerd.log"

    completed = sandbox.run(SCRIPT, DOCKERD_LOG=str(log), ENGINE_WAIT_S="5")

    assert completed.returncode == 0, completed.stderr
    assert "dockerd " in sandbox.calls()
    assert "stub dockerd starting" in log.read_text(encoding="utf-8")
    assert "engine ready: 99.0.0" in completed.stderr


def test_dockerd_that_never_answers_fails(sandbox: Sandbox) -> None:
    sandbox.install("docker", "dockerd")
    sandbox.flag("dockerd-broken")
    log = sandbox.state / "dockerd.log"

    completed = sandbox.run(SCRIPT, DOCKERD_LOG=str(log), ENGINE_WAIT_S="2")

    assert completed.returncode == 1
    assert "dockerd did not answer within 2 s" in completed.stderr
    assert "stub dockerd failed to start" in completed.stderr


def test_dockerd_not_started_without_root(sandbox: Sandbox) -> None:
    sandbox.install("docker", "dockerd")

    completed = sandbox.run(SCRIPT, uid=1000)

    assert completed.returncode == 1
    assert "starting it needs root" in completed.stderr
    assert "dockerd " not in sandbox.calls()


def test_unreachable_docker_host_is_not_replaced(sandbox: Sandbox) -> None:
    sandbox.install("docker", "dockerd")

    completed = sandbox.run(SCRIPT, DOCKER_HOST="tcp://127.0.0.1:1")

    assert completed.returncode == 1
    assert "DOCKER_HOST=tcp://127.0.0.1:1 does not answer" in completed.stderr
    assert "dockerd " not in sandbox.calls()


def test_docker_io_installed_as_root(sandbox: Sandbox) -> None:
    sandbox.install("apt-get")
    log = sandbox.state / "dockerd.log"

    completed = sandbox.run(SCRIPT, DOCKERD_LOG=str(log), ENGINE_WAIT_S="5")

    assert completed.returncode == 0, completed.stderr
    assert "apt-get install -y -qq --no-install-recommends docker.io" in sandbox.calls()
    assert "dockerd " in sandbox.calls()


def test_no_engine_without_root_names_package(sandbox: Sandbox) -> None:
    sandbox.install("apt-get")

    completed = sandbox.run(SCRIPT, uid=1000)

    assert completed.returncode == 1
    assert "apt-get install docker.io" in completed.stderr
    assert sandbox.calls() == []


def test_no_engine_without_apt_names_package(sandbox: Sandbox) -> None:
    completed = sandbox.run(SCRIPT)

    assert completed.returncode == 1
    assert "install Docker (Debian/Ubuntu: apt-get install docker.io)" in completed.stderr
