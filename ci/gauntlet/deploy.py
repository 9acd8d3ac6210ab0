"""Ephemeral deployments of the service under test: a container or a local process.

Both are context managers that yield a base URL on 127.0.0.1 once the service returns 2xx on its
health path, and always tear the service down on exit: after success, failure, timeout and Ctrl-C
(``KeyboardInterrupt``). Up to two more interrupts during teardown do not stop the teardown.

What survives a hard kill of gauntlet itself is removed by ``clean_leftovers``:
- containers and built images carry the labels ``io.ci-gauntlet.kit=ci-gauntlet``,
  ``io.ci-gauntlet.run=<run id>`` and the owner labels of ``engine.kit_labels``;
- processes carry a unique token in their environment (``GAUNTLET_DEPLOYMENT``), recorded in a
  state file under ``state_dir()`` before the process starts. Only processes whose environment
  contains a recorded token are ever signalled, so a reused PID is never hit.
Without a run id, what belongs to a gauntlet process that is still running is left alone.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from gauntlet import engine, process
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import StageContext

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STATE_DIR_ENV = "GAUNTLET_STATE_DIR"  # overrides where process records are kept
DEPLOYMENT_ENV = "GAUNTLET_DEPLOYMENT"  # set in every deployed process's environment
TOKEN_HEX_CHARS = 12  # random part of a deployment token, after "<run id>-"
LABEL_DEPLOYMENT = "io.ci-gauntlet.deployment"  # the container's own token

LOG_TAIL_LINES = 20
POLL_INTERVAL_S = 0.2
PROBE_TIMEOUT_S = 2.0  # one health request
CONTAINER_CHECK_EVERY = 5  # polls between two `docker inspect` liveness checks
DOCKER_TIMEOUT_S = 120.0  # one docker CLI call (run, port, rm, logs)
TERM_GRACE_S = 2.0  # seconds between SIGTERM and SIGKILL for stray token holders
TEARDOWN_ATTEMPTS = 3  # a teardown interrupted by Ctrl-C is restarted this often
BUILT_IMAGE_TAG = "ci-gauntlet/deploy-target:latest"  # used when no image stage ran


def state_dir() -> Path:
    """Return the directory holding one record per live process deployment."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"ci-gauntlet-{os.getuid()}" / "deployments"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    NOTE: another process may take the port before the server binds it. The deployment then
    fails its health wait, and the server's bind error shows in the log tail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """GET ``url`` once; return None on a 2xx response, else the reason in a few words.

    Only loopback URLs are accepted, and proxies from the environment are bypassed.
    """
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"health URL must be on http://{LOOPBACK}, got {url!r}")

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except OSError as exc:
        return str(exc) or type(exc).__name__

    if 200 <= status < 300:
        return None
    return f"HTTP {status}"


@dataclass
class Leftovers:
    """The result of ``clean_leftovers``: what it removed, what it left to live runs, problems."""

    containers: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    live: int = 0  # containers, images and process records of runs still going, left alone
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return one line with the counts, for the terminal."""
        line = (
            f"removed {len(self.containers)} container(s), stopped {len(self.pids)} "
            f"process(es), removed {len(self.images)} image(s)"
        )
        if self.live:
            line += f"; left {self.live} item(s) of runs still going"
        return line


def clean_leftovers(run_id: str | None = None, *, skip_live: bool | None = None) -> Leftovers:
    """Remove kit-labelled containers and images, and kill recorded deployment processes.

    With ``run_id``, only what that run created is touched. Without it, everything the kit
    labelled or recorded on this machine for this user. ``skip_live`` (by default: when no
    ``run_id`` is given) leaves alone what belongs to a gauntlet process that is still running.
    Raises UsageError for an empty ``run_id``, and StageError when the container engine cannot be
    reached (after the processes were cleaned).
    """
    if run_id is not None and not run_id.strip():
        raise UsageError(
            "--run-id is empty; give the id of a run, or leave --run-id out to clean "
            "every finished run"
        )

    if skip_live is None:
        skip_live = run_id is None

    leftovers = Leftovers()
    _clean_processes(run_id, skip_live, leftovers)
    try:
        _clean_containers(run_id, skip_live, leftovers)
        _clean_images(run_id, skip_live, leftovers)
    except EngineUnreachable as exc:
        raise StageError(
            f"{exc}; containers and images were not checked, {len(leftovers.pids)} process(es) "
            f"stopped; start the container engine or point DOCKER_HOST at it, then run "
            f"gauntlet clean again"
        ) from exc
    return leftovers


class EngineUnreachable(StageError):
    """The docker CLI is installed but could not reach the container engine."""


def live_processes(run_id: str | None = None) -> list[int]:
    """Return the PIDs of live processes deployed by the kit (by ``run_id`` when given)."""
    run_part = re.escape(_safe_run_id(run_id)) if run_id else ".+"
    token = re.compile(f"{DEPLOYMENT_ENV}={run_part}-[0-9a-f]{{{TOKEN_HEX_CHARS}}}".encode())
    return _environ_matches(lambda variable: token.fullmatch(variable) is not None)


def live_containers(run_id: str | None = None) -> list[str]:
    """Return the ids of kit-labelled containers (by ``run_id`` when given), running or not.

    Raises EngineUnreachable when ``docker ps`` fails.
    """
    argv = ["docker", "ps", "-aq", "--filter", f"label={_label_filter(run_id)}"]
    listing = _docker(argv, Path(os.devnull))
    if listing.returncode != 0:
        raise EngineUnreachable(f"docker ps failed: {_tail(listing.stderr, 1)}")
    return listing.stdout.split()


class Deployment(ABC):
    """A service reachable at ``base_url`` for the duration of a ``with`` block.

    ``__enter__`` starts the service and waits for its health path; it returns the base URL. Any
    failure or interrupt on the way in tears the deployment down before it propagates, and
    ``close`` is safe to call more than once and from any thread (the stage thread and atexit).
    """

    log_source = "the service log"  # where _log_tail reads, for error messages

    def __init__(
        self, health_path: str, ready_timeout_s: float, cancel: threading.Event | None
    ) -> None:
        self.health_path = health_path
        self.ready_timeout_s = ready_timeout_s
        self.cancel = cancel
        self.base_url = ""
        self._torn_down = False
        self._teardown_lock = threading.RLock()

    def __enter__(self) -> str:
        _register_active(self)
        try:
            # Starting holds the teardown lock, so a close from another thread (atexit after
            # Ctrl-C) either runs first and the start is refused, or waits until the container
            # or process exists and can be removed.
            with self._teardown_lock:
                if self._torn_down:
                    raise StageError("the deployment was closed before it started (interrupted)")
                self._start()
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self.base_url

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear the deployment down; safe to call more than once, and from any thread."""
        with self._teardown_lock:
            _shielded(self._teardown)

    def _wait_ready(self) -> None:
        url = self.base_url + self.health_path
        failure = wait_until_healthy(
            url, self.ready_timeout_s, cancel=self.cancel, exited=self._exit_reason
        )
        if failure is not None:
            raise StageError(f"{failure}; last lines of {self.log_source}:\n{self._log_tail()}")

    @abstractmethod
    def _start(self) -> None:
        """Start the service and set ``base_url``."""

    @abstractmethod
    def _exit_reason(self) -> str | None:
        """Return why the service has stopped, or None while it may still become ready."""

    @abstractmethod
    def _log_tail(self) -> str:
        """Return the last lines of the service's output."""

    @abstractmethod
    def _teardown(self) -> None:
        """Stop the service and forget it; called under the teardown lock."""


# A deployment is used through `with`, so close is its only public method.
class ProcessDeployment(
    Deployment
):  # pylint: disable=too-many-instance-attributes,too-few-public-methods
    """Run ``command`` as a local server on a free loopback port until the block exits.

    The command gets ``PORT`` and ``env`` in its environment, runs in its own process group
    (and session, so a terminal's Ctrl-C does not reach it) and writes stdout and stderr to
    ``log_path``. The directory of the running interpreter comes first on its PATH, so
    ``python`` means the interpreter that runs gauntlet. On exit the group gets SIGTERM, then
    SIGKILL after ``process.KILL_GRACE_S``.
    """

    def __init__(  # pylint: disable=too-many-arguments
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        run_id: str,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
        ready_timeout_s: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> None:
        if not command:
            raise StageError("process deployment has no command; set dast.command")
        super().__init__(health_path, ready_timeout_s, cancel)
        self.command = list(command)
        self.cwd = cwd
        self.log_path = log_path
        self.log_source = str(log_path)
        self.env = dict(env or {})
        self.token = _new_token(run_id)
        self.record_path = state_dir() / f"{self.token}.json"
        self._run_id = run_id
        self._child: subprocess.Popen | None = None

    def _start(self) -> None:
        _raise_if_cancelled(self.cancel, " ".join(self.command))
        port = free_port()
        self.base_url = f"http://{LOOPBACK}:{port}"
        argv, env = self._child_argv_env(port)

        record = {"token": self.token, "run_id": self._run_id, "argv": argv, **_owner_record()}
        _write_record(self.record_path, record)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting %s on port %d", " ".join(argv), port)
        with open(self.log_path, "ab") as log_file:
            # The server outlives this block; _teardown stops and reaps it.
            self._child = subprocess.Popen(  # pylint: disable=consider-using-with  # noqa: S603
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _write_record(self.record_path, {**record, "pid": self._child.pid})
        process.register_group(self._child.pid)  # so that kill_all stops it on Ctrl-C

    def _child_argv_env(self, port: int) -> tuple[list[str], dict[str, str]]:
        interpreter_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join([interpreter_dir, os.environ.get("PATH", "")])
        env = {
            **os.environ,
            **self.env,
            "PORT": str(port),
            "PATH": path,
            DEPLOYMENT_ENV: self.token,
        }

        executable = self.command[0]
        if os.sep not in executable:
            found = shutil.which(executable, path=path)
            if found is None:
                raise StageError(
                    f"deployment command not found: {executable!r} is not on PATH; fix "
                    f"dast.command or install the program"
                )
            executable = found
        return [executable, *self.command[1:]], env

    def _exit_reason(self) -> str | None:
        code = self._child.poll() if self._child is not None else None
        if code is None:
            return None
        return f"deployment command {' '.join(self.command)!r} exited early with code {code}"

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return _tail(text) or "(empty log)"

    def _teardown(self) -> None:
        if self._torn_down:
            return
        if self._child is not None:
            _stop_group(self._child)
            process.unregister_group(self._child.pid)
        # Members that outlived their group leader, or left the group, still carry the token.
        _kill_token_holders(self.token)
        self.record_path.unlink(missing_ok=True)
        self._torn_down = True
        _unregister_active(self)
        log.info("stopped %s", " ".join(self.command))


class ContainerDeployment(
    Deployment
):  # pylint: disable=too-many-instance-attributes,too-few-public-methods
    """Run ``image`` with the container engine on a random loopback port until the block exits.

    ``docker run -d --init -p 127.0.0.1::<container_port>`` with the kit and run labels; the host
    port comes from ``docker port``; ``docker rm -f`` removes the container on exit. ``--init``
    makes a process that ignores SIGTERM as PID 1 stop promptly.
    """

    def __init__(  # pylint: disable=too-many-arguments
        self,
        image: str,
        *,
        log_path: Path,
        run_id: str,
        service_log_path: Path | None = None,
        container_port: int = 8000,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
        ready_timeout_s: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(health_path, ready_timeout_s, cancel)
        self.image = image
        self.log_path = log_path
        self.log_source = "the container log"
        self.service_log_path = service_log_path
        self.run_id = run_id
        self.container_port = container_port
        self.env = dict(env or {})
        self.name = "gauntlet-" + _new_token(run_id)
        self._started = False
        # Set once `docker run` has returned: a teardown from another thread (atexit) waits for
        # it, because a container still being created cannot be removed yet.
        self._run_returned = threading.Event()
        self._polls = 0

    def _start(self) -> None:
        argv = ["docker", "run", "-d", "--init", "--name", self.name]
        argv += ["-p", f"{LOOPBACK}::{self.container_port}"]
        labels = {**engine.kit_labels(self.run_id), LABEL_DEPLOYMENT: self.name}
        for key, value in labels.items():
            argv += ["--label", f"{key}={value}"]
        for key, value in self.env.items():
            argv += ["-e", f"{key}={value}"]
        argv.append(self.image)

        _raise_if_cancelled(self.cancel, self.image)
        self._started = True
        try:
            result = _docker(argv, self.log_path)
        finally:
            self._run_returned.set()
        if result.returncode != 0:
            raise StageError(
                f"docker run of image {self.image} failed (exit {result.returncode}): "
                f"{_tail(result.stderr, 3)}"
            )
        self.base_url = f"http://{LOOPBACK}:{self._host_port()}"
        log.info("container %s of %s listens on %s", self.name, self.image, self.base_url)

    def _host_port(self) -> int:
        port_spec = f"{self.container_port}/tcp"
        result = _docker(["docker", "port", self.name, port_spec], self.log_path)
        match = re.search(rf"^{re.escape(LOOPBACK)}:(\d+)$", result.stdout, re.MULTILINE)
        if result.returncode != 0 or match is None:
            raise StageError(
                f"docker port {self.name} {port_spec} returned no loopback port "
                f"(exit {result.returncode}): {_tail(result.stdout + result.stderr, 3)}"
            )
        return int(match.group(1))

    def _exit_reason(self) -> str | None:
        # `docker inspect` costs a CLI round trip, so check every few polls only.
        self._polls += 1
        if self._polls % CONTAINER_CHECK_EVERY:
            return None
        inspect = [
            "docker",
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            self.name,
        ]
        result = _docker(inspect, self.log_path)
        status, _, code = result.stdout.strip().partition(" ")
        if result.returncode != 0 or status in ("running", "created", "restarting"):
            return None
        return f"container {self.name} of image {self.image} stopped ({status}, exit code {code})"

    def _log_tail(self) -> str:
        result = _docker(
            ["docker", "logs", "--tail", str(LOG_TAIL_LINES), self.name], self.log_path
        )
        return _tail(result.stdout + result.stderr) or "(empty log)"

    def _save_service_log(self) -> None:
        """Copy the container's output to ``service_log_path`` before the container goes."""
        if self.service_log_path is None:
            return
        result = _docker(["docker", "logs", self.name], Path(os.devnull))
        if result.returncode == 0:
            self.service_log_path.parent.mkdir(parents=True, exist_ok=True)
            self.service_log_path.write_text(result.stdout + result.stderr, encoding="utf-8")

    def _teardown(self) -> None:
        if self._torn_down:
            return
        if self._started:
            self._run_returned.wait(DOCKER_TIMEOUT_S)
            self._save_service_log()
            result = _docker(["docker", "rm", "-f", self.name], self.log_path)
            if result.returncode != 0 and "No such container" not in result.stderr:
                log.warning("could not remove container %s: %s", self.name, _tail(result.stderr, 1))
        self._torn_down = True
        _unregister_active(self)


def resolve_image(
    ctx: StageContext,
    *,
    image: str = "",
    dockerfile: str = "Dockerfile",
    context: str = ".",
    build_args: Mapping[str, str] | None = None,
) -> str:
    """Return the image to deploy: the image stage's, else ``image``, else one built now.

    The image stage's result is in ``ctx.upstream`` when it ran in this pipeline; its details
    carry the built tag under ``"image"``. ``dockerfile`` and ``context`` are relative to the
    repository root.
    """
    upstream = ctx.upstream.get("image")
    if upstream is not None:
        built = upstream.details.get("image")
        if not built:
            raise StageError(
                f"the image stage ended {upstream.status.value} without an image to deploy: "
                f"{upstream.message or 'no reason given'}"
            )
        return str(built)
    if image:
        return image

    engine.check_engine(ctx)
    return engine.build_image(
        ctx,
        ctx.root / dockerfile,
        ctx.root / context,
        BUILT_IMAGE_TAG,
        build_args,
        engine.kit_labels(ctx.settings.run_id),
        stage="dast",
    )


def wait_until_healthy(
    url: str,
    timeout_s: float,
    *,
    cancel: threading.Event | None = None,
    exited: Callable[[], str | None] | None = None,
) -> str | None:
    """Poll ``url`` until it returns 2xx; return None then, else why it never became healthy.

    ``exited`` returns a reason once the service has died, which ends the wait early.
    """
    started = time.monotonic()
    last_error = "no answer yet"
    while True:
        if cancel is not None and cancel.is_set():
            return f"cancelled while waiting for {url}"
        if exited is not None:
            reason = exited()
            if reason is not None:
                return f"{reason} before {url} became healthy"

        error = probe(url)
        if error is None:
            return None
        last_error = error

        waited = time.monotonic() - started
        if waited >= timeout_s:
            return (
                f"{url} did not become healthy within {timeout_s:g} s "
                f"(waited {waited:.1f} s); last error: {last_error}"
            )
        time.sleep(POLL_INTERVAL_S)


# --- docker CLI calls that finish even when interrupted --------------------------------------


@dataclass
class _DockerResult:
    returncode: int
    stdout: str
    stderr: str


def _docker(argv: list[str], log_path: Path, timeout_s: float = DOCKER_TIMEOUT_S) -> _DockerResult:
    """Run one short docker CLI call and append it to ``log_path``.

    A Ctrl-C while the call runs lets the call finish before re-raising, so that a container
    that `docker run` was creating exists by name and teardown can remove it.
    """
    try:
        # Not a with block: on Ctrl-C the call must finish, not be killed (see above).
        child = subprocess.Popen(  # pylint: disable=consider-using-with  # noqa: S603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise StageError(
            "container engine CLI not found: 'docker' is not on PATH; install the docker CLI"
        ) from exc

    try:
        stdout, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        child.kill()
        child.communicate()
        raise StageError(f"{' '.join(argv[:2])} timed out after {timeout_s:g} s") from exc
    except KeyboardInterrupt:
        _finish_after_interrupt(child, timeout_s)
        raise

    result = _DockerResult(
        child.returncode,
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
    )
    _append_log(log_path, argv, result)
    return result


def _finish_after_interrupt(child: subprocess.Popen, timeout_s: float) -> None:
    try:
        child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()


def _append_log(log_path: Path, argv: list[str], result: _DockerResult) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write(f"$ {shlex.join(argv)}\n# exit {result.returncode}\n")
        for text in (result.stdout, result.stderr):
            if text:
                handle.write(text if text.endswith("\n") else text + "\n")


# --- leftovers --------------------------------------------------------------------------------


def _clean_containers(run_id: str | None, skip_live: bool, leftovers: Leftovers) -> None:
    try:
        ids = live_containers(run_id)
    except EngineUnreachable:
        raise
    except StageError as exc:  # no docker CLI on PATH, so no container of the kit either
        leftovers.problems.append(f"containers and images not checked: {exc}")
        return

    removable = _removable("container", ids, skip_live, leftovers)
    if not removable:
        return
    removal = _docker(["docker", "rm", "-f", *removable], Path(os.devnull))
    if removal.returncode != 0:
        leftovers.problems.append(f"docker rm -f failed: {_tail(removal.stderr, 1)}")
    leftovers.containers.extend(removable)


def _clean_images(run_id: str | None, skip_live: bool, leftovers: Leftovers) -> None:
    """Remove the kit-labelled images of finished runs, by tag, never by force.

    An image that a container still uses stays, and the engine's refusal becomes a problem.
    """
    if shutil.which("docker") is None:
        return
    argv = ["docker", "image", "ls", "-q", "--no-trunc"]
    argv += ["--filter", f"label={_label_filter(run_id)}"]
    listing = _docker(argv, Path(os.devnull))
    if listing.returncode != 0:
        raise EngineUnreachable(f"docker image ls failed: {_tail(listing.stderr, 1)}")

    ids = sorted(set(listing.stdout.split()))
    tags: dict[str, list[str]] = {}
    for image_id in _removable("image", ids, skip_live, leftovers, tags):
        # By tag, because removing an id that has several tags needs --force.
        references = tags.get(image_id) or [image_id]
        removal = _docker(["docker", "image", "rm", *references], Path(os.devnull))
        if removal.returncode != 0:
            leftovers.problems.append(
                f"image {', '.join(references)} not removed: {_tail(removal.stderr, 1)}"
            )
            continue
        leftovers.images.extend(references)


def _removable(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    kind: str,
    ids: list[str],
    skip_live: bool,
    leftovers: Leftovers,
    tags: dict[str, list[str]] | None = None,
) -> list[str]:
    """Return the ids among ``ids`` that may be removed; fill ``tags`` with each image's tags.

    With ``skip_live``, what a running gauntlet process owns stays. So does anything whose
    labels could not be read, because its owner is then unknown.
    """
    if not ids:
        return []
    template = (
        f'{{{{.Id}}}}|{{{{index .Config.Labels "{engine.LABEL_OWNER_PID}"}}}}'
        f'|{{{{index .Config.Labels "{engine.LABEL_OWNER_START}"}}}}'
        "|{{range .RepoTags}}{{.}} {{end}}"
    )
    if kind != "image":
        template = template.rsplit("|", 1)[0]
    result = _docker(["docker", kind, "inspect", "--format", template, *ids], Path(os.devnull))

    removable = []
    live = 0
    for line in result.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 3:  # blank lines between the entries
            continue
        item = _matching_id(parts[0], ids)
        if item is None:
            continue
        if skip_live and engine.owner_alive(parts[1], parts[2]):
            live += 1
            continue
        removable.append(item)
        if tags is not None and len(parts) > 3:
            tags[item] = parts[3].split()

    leftovers.live += live
    if len(removable) + live < len(ids):
        leftovers.problems.append(
            f"docker {kind} inspect failed, so some {kind}s were left: {_tail(result.stderr, 1)}"
        )
    return removable


def _matching_id(full_id: str, ids: list[str]) -> str | None:
    """Return the entry of ``ids`` (short, or long with sha256:) that names ``full_id``."""
    bare = full_id.removeprefix("sha256:")
    for item in ids:
        if item and bare.startswith(item.removeprefix("sha256:")):
            return item
    return None


def _clean_processes(run_id: str | None, skip_live: bool, leftovers: Leftovers) -> None:
    directory = state_dir()
    if not directory.is_dir():
        return
    for record_path in sorted(directory.glob("*.json")):
        record = _read_record(record_path)
        if record is None:
            leftovers.problems.append(f"unreadable deployment record {record_path}; removed it")
            record_path.unlink(missing_ok=True)
            continue
        if run_id is not None and record.get("run_id") != run_id:
            continue
        if skip_live and engine.owner_alive(record.get("owner_pid"), record.get("owner_start")):
            leftovers.live += 1
            continue
        leftovers.pids.extend(_kill_token_holders(str(record["token"])))
        record_path.unlink(missing_ok=True)


def _kill_token_holders(token: str) -> list[int]:
    """Kill every process whose environment contains ``DEPLOYMENT_ENV=token``; return the PIDs."""
    pids = _token_holders(token)
    for pid in pids:
        _signal(pid, signal.SIGTERM)

    end = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < end and _token_holders(token):
        time.sleep(0.05)
    # Checking the token again before SIGKILL keeps a PID reused meanwhile out of harm's way.
    for pid in _token_holders(token):
        _signal(pid, signal.SIGKILL)
    return pids


def _token_holders(token: str) -> list[int]:
    variable = f"{DEPLOYMENT_ENV}={token}".encode()
    return _environ_matches(lambda candidate: candidate == variable)


def _environ_matches(matches: Callable[[bytes], bool]) -> list[int]:
    """Return the PIDs of live processes with an environment variable for which ``matches``.

    Zombies have an empty environment, so they never match.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's process
            continue
        if any(matches(variable) for variable in environ.split(b"\0")):
            pids.append(int(entry.name))
    return pids


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("no permission to signal process %d", pid)


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM the child's process group, SIGKILL it after the grace period, reap the child.

    Waiting on the child itself rather than polling the group matters: an exited but unreaped
    child still counts as a group member, so polling the group would always use the full grace.
    """
    _signal_group(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=process.KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("no permission to signal process group %d", pgid)


def _write_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.replace(path)


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not record.get("token"):
        return None
    return record


# --- helpers ----------------------------------------------------------------------------------

_active: set = set()
_active_lock = threading.Lock()


def _register_active(deployment: object) -> None:
    with _active_lock:
        _active.add(deployment)


def _unregister_active(deployment: object) -> None:
    with _active_lock:
        _active.discard(deployment)


@atexit.register
def _close_active() -> None:
    """Tear down deployments still open at interpreter exit (a worker thread cut short)."""
    with _active_lock:
        open_deployments = list(_active)
    for deployment in open_deployments:
        deployment.close()


def _raise_if_cancelled(cancel: threading.Event | None, target: str) -> None:
    if cancel is not None and cancel.is_set():
        raise StageError(f"cancelled before starting {target}")


def _shielded(teardown: Callable[[], None]) -> None:
    """Run an idempotent teardown to its end even if Ctrl-C interrupts it, then re-raise."""
    interrupt: KeyboardInterrupt | None = None
    for _ in range(TEARDOWN_ATTEMPTS):
        try:
            teardown()
            break
        except KeyboardInterrupt as exc:
            interrupt = exc
    if interrupt is not None:
        raise interrupt


def _owner_record() -> dict[str, object]:
    pid, start = engine.owner()
    return {"owner_pid": pid, "owner_start": start}


def _new_token(run_id: str) -> str:
    return f"{_safe_run_id(run_id)}-{secrets.token_hex(TOKEN_HEX_CHARS // 2)}"


def _safe_run_id(run_id: str) -> str:
    """Return the run id in characters valid in container names and environment values."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)[:40] or "run"


def _label_filter(run_id: str | None) -> str:
    if run_id:
        return f"{engine.LABEL_RUN}={run_id}"
    return f"{engine.LABEL_KIT}={engine.KIT_LABEL_VALUE}"


def _tail(text: str, count: int = LOG_TAIL_LINES) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])
