"""Tests of gauntlet.deploy: process and container deployments, readiness and leftovers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from gauntlet import deploy, engine
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import RunSettings, StageContext, StageResult, Status

# A health endpoint on PORT, and nothing else: enough to exercise readiness and teardown.
HEALTH_SERVER = textwrap.dedent("""
    import http.server, os

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
    """)
TEST_BASE_IMAGE = os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "local/python-base")


@pytest.fixture(name="run_id")
def fixture_run_id(tmp_path, monkeypatch):
    """Give the test its own run id and state directory, and check it leaves nothing behind."""
    monkeypatch.setenv(deploy.STATE_DIR_ENV, str(tmp_path / "state"))
    run_id = f"test-deploy-{uuid.uuid4().hex[:8]}"
    yield run_id

    assert deploy.live_processes(run_id) == []
    assert list((tmp_path / "state").glob("*.json")) == []
    if shutil.which("docker"):
        assert deploy.live_containers(run_id) == []


def process_deployment(tmp_path: Path, run_id: str, command: list[str], **kwargs):
    return deploy.ProcessDeployment(
        command, cwd=tmp_path, log_path=tmp_path / "service.log", run_id=run_id, **kwargs
    )


def pid_gone(pid: int) -> bool:
    """Return True when no live (non-zombie) process has this PID."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_process_deployment_yields_healthy_loopback_url(tmp_path, run_id):
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", HEALTH_SERVER])

    with deployment as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert deploy.probe(base_url + "/healthz") is None
        pid = deployment._child.pid  # pylint: disable=protected-access
        assert deploy.live_processes(run_id) == [pid]

    assert pid_gone(pid)


def test_process_deployment_sets_port_and_env(tmp_path, run_id):
    script = "import os, time; print(os.environ['PORT'], os.environ['MARK'], flush=True); " + (
        "exec(open('server.py').read())"
    )
    (tmp_path / "server.py").write_text(HEALTH_SERVER, encoding="utf-8")
    deployment = process_deployment(tmp_path, run_id, ["python", "-c", script], env={"MARK": "m1"})

    with deployment as base_url:
        port = base_url.rsplit(":", 1)[1]

    assert f"{port} m1" in (tmp_path / "service.log").read_text(encoding="utf-8")


def test_process_deployment_never_healthy_is_error(tmp_path, run_id):
    script = "print('still starting', flush=True); import time; time.sleep(60)"
    command = [sys.executable, "-c", script]
    deployment = process_deployment(tmp_path, run_id, command, ready_timeout_s=1.0)

    with pytest.raises(StageError) as raised:
        with deployment:
            pytest.fail("the block must not run when the service never becomes healthy")

    message = str(raised.value)
    assert "/healthz did not become healthy within 1 s" in message
    assert "last error: [Errno 111] Connection refused" in message
    assert "still starting" in message
    assert pid_gone(deployment._child.pid)  # pylint: disable=protected-access


def test_process_deployment_early_exit_shows_log_tail(tmp_path, run_id):
    command = [sys.executable, "-c", "import sys; print('bad setting X'); sys.exit(2)"]
    deployment = process_deployment(tmp_path, run_id, command)

    with pytest.raises(StageError) as raised:
        with deployment:
            pass

    assert "exited early with code 2" in str(raised.value)
    assert "bad setting X" in str(raised.value)


def test_process_deployment_unknown_command_is_error(tmp_path, run_id):
    deployment = process_deployment(tmp_path, run_id, ["no-such-server-command"])

    with pytest.raises(StageError, match="'no-such-server-command' is not on PATH"):
        with deployment:
            pass


def test_process_deployment_stops_on_keyboard_interrupt(tmp_path, run_id):
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", HEALTH_SERVER])

    with pytest.raises(KeyboardInterrupt):
        with deployment:
            raise KeyboardInterrupt

    assert pid_gone(deployment._child.pid)  # pylint: disable=protected-access


def test_process_deployment_cancelled_never_starts(tmp_path, run_id):
    cancel = threading.Event()
    cancel.set()
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    deployment = process_deployment(tmp_path, run_id, command, cancel=cancel)

    with pytest.raises(StageError, match="cancelled before starting"):
        with deployment:
            pass


def test_process_deployment_kills_grandchildren(tmp_path, run_id):
    # The server forks a helper that would outlive a plain kill of the server's PID.
    (tmp_path / "server.py").write_text(HEALTH_SERVER, encoding="utf-8")
    script = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "exec(open('server.py').read())"
    )
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", script])

    with deployment:
        pids = deploy.live_processes(run_id)
        assert len(pids) == 2

    assert all(pid_gone(pid) for pid in pids)


def test_clean_leftovers_kills_recorded_process(tmp_path, run_id):
    # A deployment whose owner died without tearing down: started, never closed.
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", HEALTH_SERVER])
    deployment._start()  # pylint: disable=protected-access
    pid = deployment._child.pid  # pylint: disable=protected-access

    leftovers = deploy.clean_leftovers(run_id)
    deployment._child.wait(timeout=10)  # pylint: disable=protected-access

    assert leftovers.pids == [pid]
    assert pid_gone(pid)


def test_clean_leftovers_spares_unrecorded_process(run_id):
    # A record whose PID now belongs to another process (PID reuse) must not hit that process.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    bystander = subprocess.Popen(sleeper)  # pylint: disable=consider-using-with
    record = {"token": f"{run_id}-000000000000", "run_id": run_id, "pid": bystander.pid}
    deploy._write_record(  # pylint: disable=protected-access
        deploy.state_dir() / "stale.json", record
    )

    try:
        leftovers = deploy.clean_leftovers(run_id)
        assert leftovers.pids == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_clean_leftovers_skips_other_runs(run_id):
    record = {"token": "other-run-000000000000", "run_id": "other-run"}
    deploy._write_record(
        deploy.state_dir() / "other.json", record
    )  # pylint: disable=protected-access

    deploy.clean_leftovers(run_id)

    assert (deploy.state_dir() / "other.json").exists()
    (deploy.state_dir() / "other.json").unlink()


def test_probe_rejects_non_loopback_url():
    with pytest.raises(ValueError, match="must be on http://127.0.0.1"):
        deploy.probe("http://localhost:80/healthz")


def test_wait_until_healthy_reports_last_error():
    port = deploy.free_port()

    failure = deploy.wait_until_healthy(f"http://127.0.0.1:{port}/healthz", 0.5)

    assert failure is not None
    assert "did not become healthy within 0.5 s" in failure
    assert "Connection refused" in failure


# --- container mode -----------------------------------------------------------------------------


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(
        ["docker", "image", "inspect", TEST_BASE_IMAGE], capture_output=True, check=False
    )
    return result.returncode == 0


needs_docker = pytest.mark.skipif(
    not docker_ready(), reason=f"needs a docker engine and the image {TEST_BASE_IMAGE}"
)


@pytest.fixture(name="health_image", scope="module")
def fixture_health_image(tmp_path_factory):
    """Build a tiny image serving the health server on port 8000 (no package installs)."""
    context = tmp_path_factory.mktemp("health-image")
    (context / "server.py").write_text(HEALTH_SERVER.replace("127.0.0.1", "0.0.0.0"), "utf-8")
    (context / "Dockerfile").write_text(
        f"FROM {TEST_BASE_IMAGE}\nCOPY server.py /server.py\nENV PORT=8000\n"
        'CMD ["python3", "/server.py"]\n',
        encoding="utf-8",
    )
    tag = f"ci-gauntlet-test/health:{uuid.uuid4().hex[:8]}"
    # Owned by this test process, so that a concurrent `gauntlet clean` leaves it alone.
    labels = [f"--label={key}={value}" for key, value in engine.kit_labels("test-health").items()]
    subprocess.run(["docker", "build", "-q", "-t", tag, *labels, str(context)], check=True)
    yield tag
    subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_container_deployment_serves_and_removes(tmp_path, run_id, health_image):
    deployment = deploy.ContainerDeployment(
        health_image,
        log_path=tmp_path / "dast.log",
        run_id=run_id,
        service_log_path=tmp_path / "service.log",
    )

    with deployment as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert deploy.probe(base_url + "/healthz") is None
        assert len(deploy.live_containers(run_id)) == 1

    assert deploy.live_containers(run_id) == []
    assert "serving" in (tmp_path / "service.log").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_container_deployment_never_healthy_is_error(tmp_path, run_id, health_image):
    deployment = deploy.ContainerDeployment(
        health_image,
        log_path=tmp_path / "dast.log",
        run_id=run_id,
        health_path="/not-there",
        ready_timeout_s=1.5,
    )

    with pytest.raises(StageError) as raised:
        with deployment:
            pass

    assert "/not-there did not become healthy within 1.5 s" in str(raised.value)
    assert "last error: HTTP 404" in str(raised.value)
    assert "serving" in str(raised.value)


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_container_deployment_early_exit_is_error(tmp_path, run_id, health_image):
    # PORT=invalid makes the server crash at start, so the container exits.
    deployment = deploy.ContainerDeployment(
        health_image,
        log_path=tmp_path / "dast.log",
        run_id=run_id,
        env={"PORT": "invalid"},
        ready_timeout_s=30.0,
    )

    with pytest.raises(StageError) as raised:
        with deployment:
            pass

    assert "stopped (exited, exit code 1) before" in str(raised.value)
    assert "ValueError" in str(raised.value)


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_clean_leftovers_removes_labelled_container(run_id):
    labels = [f"--label={key}={value}" for key, value in engine.kit_labels(run_id).items()]
    argv = ["docker", "create", *labels, TEST_BASE_IMAGE, "true"]
    container_id = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    leftovers = deploy.clean_leftovers(run_id)

    assert leftovers.containers == [container_id[:12]]
    assert deploy.live_containers(run_id) == []


def create_container(labels: dict[str, str]) -> str:
    """Create (not start) a container with ``labels`` and return its short id."""
    argv = ["docker", "create", *[f"--label={key}={value}" for key, value in labels.items()]]
    argv += [TEST_BASE_IMAGE, "true"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()[:12]


def build_labelled_image(tmp_path: Path, tag: str, labels: dict[str, str]) -> str:
    """Build a one-layer image tagged ``tag`` with ``labels`` and return its id."""
    (tmp_path / "Dockerfile").write_text(f"FROM {TEST_BASE_IMAGE}\nENV MARK={tag}\n", "utf-8")
    argv = ["docker", "build", "-q", "-t", tag]
    argv += [f"--label={key}={value}" for key, value in labels.items()]
    argv.append(str(tmp_path))
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def image_exists(reference: str) -> bool:
    inspect = ["docker", "image", "inspect", reference]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


def finished_owner_labels(run_id: str) -> dict[str, str]:
    """Return kit labels whose owner is a process that has already exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {
        **engine.kit_labels(run_id),
        engine.LABEL_OWNER_PID: child.stdout.strip(),
        engine.LABEL_OWNER_START: "1",
    }


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_clean_leftovers_skips_live_owner_container(run_id):
    live_id = create_container(engine.kit_labels(run_id))
    finished_id = create_container(finished_owner_labels(run_id))
    try:
        leftovers = deploy.clean_leftovers(run_id, skip_live=True)
        remaining = deploy.live_containers(run_id)
    finally:
        subprocess.run(["docker", "rm", "-f", live_id, finished_id], capture_output=True)

    assert finished_id in leftovers.containers
    assert live_id not in leftovers.containers
    assert remaining == [live_id]
    assert leftovers.live == 1


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_clean_leftovers_removes_finished_run_image(tmp_path, run_id):
    finished_tag = f"ci-gauntlet-test/finished:{run_id}"
    live_tag = f"ci-gauntlet-test/live:{run_id}"
    (tmp_path / "finished").mkdir()
    (tmp_path / "live").mkdir()
    build_labelled_image(tmp_path / "finished", finished_tag, finished_owner_labels(run_id))
    build_labelled_image(tmp_path / "live", live_tag, engine.kit_labels(run_id))
    try:
        leftovers = deploy.clean_leftovers(run_id, skip_live=True)
        finished_left = image_exists(finished_tag)
        live_left = image_exists(live_tag)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", finished_tag, live_tag], capture_output=True)

    assert leftovers.images == [finished_tag]
    assert not finished_left
    assert live_left
    assert leftovers.summary().endswith("removed 1 image(s); left 1 item(s) of runs still going")


@pytest.mark.slow
@pytest.mark.docker
@needs_docker
def test_clean_leftovers_by_run_id_removes_live_owner_image(tmp_path, run_id):
    tag = f"ci-gauntlet-test/by-run:{run_id}"
    build_labelled_image(tmp_path, tag, engine.kit_labels(run_id))
    try:
        leftovers = deploy.clean_leftovers(run_id)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)

    assert leftovers.images == [tag]


def test_clean_leftovers_empty_run_id_is_usage_error():
    with pytest.raises(UsageError, match="--run-id is empty"):
        deploy.clean_leftovers("")


def test_clean_leftovers_unreachable_engine_is_error(tmp_path, monkeypatch):
    if shutil.which("docker") is None:
        pytest.skip("needs the docker CLI")
    monkeypatch.setenv(deploy.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    with pytest.raises(StageError, match="containers and images were not checked"):
        deploy.clean_leftovers()


def test_clean_leftovers_skips_live_owner_process(tmp_path, run_id):
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", HEALTH_SERVER])

    with deployment:
        leftovers = deploy.clean_leftovers(run_id, skip_live=True)
        alive = deploy.live_processes(run_id)

    assert leftovers.pids == []
    assert len(alive) == 1


def test_clean_leftovers_kills_finished_owner_process(tmp_path, run_id):
    deployment = process_deployment(tmp_path, run_id, [sys.executable, "-c", HEALTH_SERVER])

    with deployment:
        record = json.loads(deployment.record_path.read_text(encoding="utf-8"))
        record["owner_start"] = "1"  # as if the gauntlet process that started it had exited
        deployment.record_path.write_text(json.dumps(record), encoding="utf-8")
        leftovers = deploy.clean_leftovers(run_id, skip_live=True)
        alive = deploy.live_processes(run_id)

    assert leftovers.pids == [record["pid"]]
    assert alive == []


def test_shielded_teardown_survives_interrupt():
    calls = []

    def teardown():
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy._shielded(teardown)  # pylint: disable=protected-access

    assert len(calls) == 2


# --- image resolution ---------------------------------------------------------------------------


def image_context(tmp_path: Path, upstream: dict) -> StageContext:
    settings = RunSettings(root=tmp_path, reports_dir=tmp_path / "reports", run_id="test-image")
    return StageContext(
        settings=settings,
        options=None,
        out_dir=tmp_path,
        cancel=threading.Event(),
        timeout_s=60.0,
        deadline=time.monotonic() + 60.0,
        log_path=tmp_path / "dast.log",
        upstream=upstream,
    )


def test_resolve_image_prefers_image_stage(tmp_path):
    built = StageResult("image", Status.FAILED, details={"image": "gauntlet-app:run1"})
    ctx = image_context(tmp_path, {"image": built})

    assert deploy.resolve_image(ctx, image="other:tag") == "gauntlet-app:run1"


def test_resolve_image_without_built_image_is_error(tmp_path):
    broken = StageResult("image", Status.ERROR, message="docker build failed")
    ctx = image_context(tmp_path, {"image": broken})

    with pytest.raises(StageError, match="image stage ended error without an image"):
        deploy.resolve_image(ctx)


def test_resolve_image_uses_configured_image(tmp_path):
    ctx = image_context(tmp_path, {})

    assert deploy.resolve_image(ctx, image="prebuilt:1") == "prebuilt:1"
