"""Tests of ensure-base-image.sh in a sandbox of stub docker, mmdebstrap and apt-get commands."""

from __future__ import annotations

from pathlib import Path

from script_sandbox import Sandbox

SCRIPT = "ensure-base-image.sh"
IMAGE = "python:3.12-slim"
LOCAL = "local/python-base"
CA_IN_IMAGE = "usr/local/share/ca-bundle/host-ca.crt"


def host_ca(sandbox: Sandbox) -> Path:
    """Write a stand-in for the host's CA bundle and return its path."""
    path = sandbox.state / "host-ca.crt"
    path.write_text(
        "-----BEGIN CERTIFICATE-----\nstub\n-----END CERTIFICATE-----\n", encoding="utf-8"
    )
    return path


def test_present_image_is_used(sandbox: Sandbox) -> None:
    sandbox.install("docker")
    sandbox.flag("image-python_3.12-slim")

    completed = sandbox.run(SCRIPT, IMAGE)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{IMAGE}\n"
    assert not any(call.startswith("docker pull") for call in sandbox.calls())


def test_chosen_image_comes_with_usage_hint(sandbox: Sandbox) -> None:
    sandbox.install("docker")
    sandbox.flag("pull-hangs")
    sandbox.flag("image-local_python-base")

    completed = sandbox.run(SCRIPT, IMAGE, PULL_TIMEOUT_S="1")

    assert f"GAUNTLET_IMAGE_BUILD_ARGS=BASE_IMAGE={LOCAL}" in completed.stderr
    assert f"GAUNTLET_DAST_BUILD_ARGS=BASE_IMAGE={LOCAL}" in completed.stderr
    assert completed.stdout == f"{LOCAL}\n"


def test_pullable_image_is_pulled(sandbox: Sandbox) -> None:
    sandbox.install("docker")
    sandbox.flag("pullable")

    completed = sandbox.run(SCRIPT, IMAGE)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{IMAGE}\n"
    assert f"docker pull --quiet {IMAGE}" in sandbox.calls()


def test_hanging_pull_times_out(sandbox: Sandbox) -> None:
    sandbox.install("docker")
    sandbox.flag("pull-hangs")
    sandbox.flag("image-local_python-base")

    completed = sandbox.run(SCRIPT, IMAGE, PULL_TIMEOUT_S="1")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{LOCAL}\n"
    assert "could not pull python:3.12-slim" in completed.stderr


def test_existing_local_base_is_reused(sandbox: Sandbox) -> None:
    sandbox.install("docker", "mmdebstrap")
    sandbox.flag("image-local_python-base")

    completed = sandbox.run(SCRIPT, IMAGE)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{LOCAL}\n"
    assert not any(call.startswith("mmdebstrap") for call in sandbox.calls())


def test_local_base_is_built_with_host_ca(sandbox: Sandbox) -> None:
    sandbox.install("docker", "mmdebstrap")
    ca = host_ca(sandbox)

    completed = sandbox.run(SCRIPT, IMAGE, HOST_CA_BUNDLE=str(ca))

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{LOCAL}\n"
    [debootstrap] = [call for call in sandbox.calls() if call.startswith("mmdebstrap")]
    assert "--variant=minbase --include=python3,python3-venv" in debootstrap
    assert debootstrap.endswith(" bookworm -")
    assert (sandbox.state / "rootfs" / CA_IN_IMAGE).read_text(encoding="utf-8") == ca.read_text(
        encoding="utf-8"
    )
    [imported] = [call for call in sandbox.calls() if call.startswith("docker import")]
    assert f"ENV PIP_CERT=/{CA_IN_IMAGE}" in imported
    assert imported.endswith(f" - {LOCAL}")
    assert (sandbox.state / "import.tar").read_text(encoding="utf-8") == "rootfs tar stream\n"


def test_mmdebstrap_installed_as_root(sandbox: Sandbox) -> None:
    sandbox.install("docker", "apt-get")

    completed = sandbox.run(SCRIPT, IMAGE, HOST_CA_BUNDLE=str(host_ca(sandbox)))

    assert completed.returncode == 0, completed.stderr
    assert "apt-get install -y -qq --no-install-recommends mmdebstrap" in sandbox.calls()
    assert completed.stdout == f"{LOCAL}\n"


def test_no_mmdebstrap_without_root_names_package(sandbox: Sandbox) -> None:
    sandbox.install("docker", "apt-get")

    completed = sandbox.run(SCRIPT, IMAGE, uid=1000)

    assert completed.returncode == 1
    assert "apt-get install mmdebstrap" in completed.stderr
    assert completed.stdout == ""


def test_local_image_name_is_configurable(sandbox: Sandbox) -> None:
    sandbox.install("docker", "mmdebstrap")

    completed = sandbox.run(
        SCRIPT, IMAGE, LOCAL_BASE_IMAGE="local/other", HOST_CA_BUNDLE=str(host_ca(sandbox))
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "local/other\n"
