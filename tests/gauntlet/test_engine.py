"""Tests of the docker CLI helpers against the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from gauntlet import engine
from gauntlet.errors import StageError
from gauntlet.stage import RunSettings, StageContext

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def make_context(root: Path, run_id: str) -> StageContext:
    """Return a StageContext with a two-minute budget and its reports next to ``root``."""
    out_dir = root.parent / "reports" / "image"
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RunSettings(root=root, reports_dir=out_dir.parent, run_id=run_id)
    return StageContext(
        settings=settings,
        options=None,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=120.0,
        deadline=time.monotonic() + 120.0,
        log_path=out_dir / "image.log",
    )


def docker_lines(*args: str) -> list[str]:
    """Run a docker CLI command and return its non-empty output lines."""
    completed = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return [line for line in completed.stdout.splitlines() if line.strip()]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StageContext]:
    """Return a context with a fresh run id; afterwards remove the run's images and containers."""
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    root = tmp_path / "repo"
    root.mkdir()
    yield make_context(root, run_id)

    label = f"label={engine.LABEL_RUN}={run_id}"
    images = docker_lines("image", "ls", "--quiet", "--filter", label)
    if images:
        subprocess.run(
            ["docker", "image", "rm", "--force", *set(images)], capture_output=True, check=False
        )
    assert docker_lines("ps", "--all", "--quiet", "--filter", label) == []


def write_dockerfile(root: Path, body: str) -> Path:
    """Write ``body`` as root/Dockerfile; the tests build FROM scratch, so no base image is needed."""
    path = root / "Dockerfile"
    path.write_text(body, encoding="utf-8")
    return path


def test_check_engine_returns_version(ctx: StageContext) -> None:
    version = engine.check_engine(ctx)

    assert version[0].isdigit()


def test_check_engine_unreachable_daemon(
    ctx: StageContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")

    with pytest.raises(StageError, match="container engine not reachable at unix://") as caught:
        engine.check_engine(ctx)

    assert "ensure-engine.sh" in str(caught.value)


def test_check_engine_missing_cli(
    ctx: StageContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(StageError, match="'docker' is not on PATH") as caught:
        engine.check_engine(ctx)

    assert "apt-get install docker.io" in str(caught.value)


def test_build_image_labels_and_tag(ctx: StageContext) -> None:
    dockerfile = write_dockerfile(
        ctx.root, "FROM scratch\nARG GREETING\nLABEL greeting=${GREETING}\nCOPY Dockerfile /\n"
    )
    tag = f"gauntlet-engine-test:{ctx.settings.run_id}"

    image_id = engine.build_image(
        ctx,
        dockerfile,
        ctx.root,
        tag,
        {"GREETING": "hello"},
        engine.kit_labels(ctx.settings.run_id),
    )

    [inspected] = json.loads(
        subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=True).stdout
    )
    labels = inspected["Config"]["Labels"]
    assert image_id == inspected["Id"]
    assert labels[engine.LABEL_KIT] == engine.KIT_LABEL_VALUE
    assert labels[engine.LABEL_RUN] == ctx.settings.run_id
    assert labels["greeting"] == "hello"


def test_build_image_failure_shows_log_tail(ctx: StageContext) -> None:
    dockerfile = write_dockerfile(ctx.root, "FROM scratch\nCOPY no-such-file /\n")

    with pytest.raises(StageError, match="docker build of .* failed") as caught:
        engine.build_image(ctx, dockerfile, ctx.root, f"gauntlet-engine-test:{ctx.settings.run_id}")

    assert "no-such-file" in str(caught.value)


def test_remove_image(ctx: StageContext) -> None:
    dockerfile = write_dockerfile(ctx.root, "FROM scratch\nCOPY Dockerfile /\n")
    tag = f"gauntlet-engine-test:{ctx.settings.run_id}"
    engine.build_image(
        ctx, dockerfile, ctx.root, tag, labels=engine.kit_labels(ctx.settings.run_id)
    )

    removed = engine.remove_image(ctx, tag)

    assert removed
    assert docker_lines("image", "ls", "--quiet", tag) == []


def test_remove_image_already_gone(ctx: StageContext) -> None:
    removed = engine.remove_image(ctx, f"gauntlet-engine-test:absent-{ctx.settings.run_id}")

    assert removed


def test_remove_image_invalid_reference(ctx: StageContext) -> None:
    removed = engine.remove_image(ctx, "Not/A::Reference")

    assert not removed


# --- base image pull failures -------------------------------------------------------------------

DOCKER_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docker"
BASE_ARG_DOCKERFILE = "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\nRUN true\n"
# A registry on a closed loopback port: the pull fails at once and never leaves the machine.
UNREACHABLE_BASE = "127.0.0.1:9/ci-gauntlet-test/none:1"


@pytest.mark.parametrize(
    "build_args, expected",
    [({}, "python:3.12-slim"), ({"BASE_IMAGE": "local/other"}, "local/other")],
)
def test_failed_base_image_resolves_build_arg(tmp_path, build_args, expected):
    output = (DOCKER_FIXTURES / "build-base-pull-no-dns.txt").read_text(encoding="utf-8")
    dockerfile = write_dockerfile(tmp_path, BASE_ARG_DOCKERFILE)

    assert engine.failed_base_image(output, dockerfile, build_args) == expected


def test_failed_base_image_ignores_failed_run_step(tmp_path):
    output = (DOCKER_FIXTURES / "build-run-failed.txt").read_text(encoding="utf-8")
    dockerfile = write_dockerfile(tmp_path, "FROM local/python-base\nRUN false\n")

    assert engine.failed_base_image(output, dockerfile, {}) is None


def test_base_image_error_suggests_build_arg(tmp_path):
    dockerfile = write_dockerfile(tmp_path, "FROM python:3.12-slim\n")

    message = engine.base_image_error("python:3.12-slim", "no such host", "image", dockerfile)

    assert "must first declare ARG BASE_IMAGE" in message


def test_build_image_unpullable_base_names_fix(ctx: StageContext) -> None:
    dockerfile = write_dockerfile(ctx.root, BASE_ARG_DOCKERFILE)
    tag = f"ci-gauntlet-test/pull:{ctx.settings.run_id}"

    with pytest.raises(StageError) as raised:
        engine.build_image(ctx, dockerfile, ctx.root, tag, {"BASE_IMAGE": UNREACHABLE_BASE})

    message = str(raised.value)
    assert f"could not pull the base image {UNREACHABLE_BASE}" in message
    assert "connection refused" in message
    assert "run `gauntlet setup`" in message
    assert "GAUNTLET_IMAGE_BUILD_ARGS=BASE_IMAGE=local/python-base" in message


def test_build_image_unpullable_base_names_dast_variable(ctx: StageContext) -> None:
    dockerfile = write_dockerfile(ctx.root, BASE_ARG_DOCKERFILE)
    tag = f"ci-gauntlet-test/pull:{ctx.settings.run_id}"

    with pytest.raises(StageError) as raised:
        engine.build_image(
            ctx, dockerfile, ctx.root, tag, {"BASE_IMAGE": UNREACHABLE_BASE}, stage="dast"
        )

    assert "GAUNTLET_DAST_BUILD_ARGS=BASE_IMAGE=local/python-base" in str(raised.value)


# --- owner labels ------------------------------------------------------------------------------


def test_owner_alive_for_this_process() -> None:
    pid, start = engine.owner()

    assert engine.owner_alive(str(pid), start)


def test_owner_alive_rejects_other_start_time() -> None:
    pid, start = engine.owner()

    assert not engine.owner_alive(pid, str(int(start) + 1))


def test_owner_alive_rejects_exited_process() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert not engine.owner_alive(child.stdout.strip(), "1")


@pytest.mark.parametrize("pid, start", [("<no value>", "5"), ("", ""), ("0", "5"), ("12", "")])
def test_owner_alive_rejects_unreadable_labels(pid: str, start: str) -> None:
    assert not engine.owner_alive(pid, start)


def test_kit_labels_name_this_process() -> None:
    labels = engine.kit_labels("run-1")

    assert labels[engine.LABEL_OWNER_PID] == str(os.getpid())
    assert engine.owner_alive(labels[engine.LABEL_OWNER_PID], labels[engine.LABEL_OWNER_START])
