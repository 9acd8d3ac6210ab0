"""Interrupt ``gauntlet run --only dast`` at random moments and count what it leaves behind.

Each run starts ``python -m gauntlet run --only dast`` on a scratch repository whose dast stage
deploys the sample app and scans it with sqlmap. The app runs as a local process, or as a
container with ``--deploy container``. After a random delay the script sends SIGINT, as Ctrl-C
in a terminal would.
Once gauntlet has exited, the script counts and removes what the run left. That is sample-app and
sqlmap processes whose environment or command line mentions the scratch directory. It is also
containers whose owner labels name the run's gauntlet process (its PID and start time).
Containers of other runs and tests on the machine are neither counted nor touched. The script
prints one line per run and the totals, and exits 1 when anything was left behind.

Run from the repository root:

    .venv/bin/python benchmarks/dast_interrupts.py --runs 20
    .venv/bin/python benchmarks/dast_interrupts.py --runs 20 --deploy container
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from gauntlet import engine

ROOT = Path(__file__).resolve().parent.parent
EXIT_WAIT_S = 60.0  # gauntlet must be gone this long after SIGINT, else the run counts as hung
DEMO_USER = "scanner"
DEMO_PASSWORD = "scan-only-password-1"
TARGETS = [
    {"name": "notes-search", "path": "/api/notes", "query": {"q": "welcome"}, "params": ["q"]},
    {
        "name": "notes-create",
        "method": "POST",
        "path": "/api/notes",
        "json": {"title": "scan", "body": "scan body"},
        "params": ["title", "body"],
    },
    {
        "name": "login-form",
        "method": "POST",
        "path": "/login",
        "form": {"username": DEMO_USER, "password": "wrong-password", "csrf_token": "unset"},
        "params": ["username"],
        "csrf_token": "csrf_token",
    },
]


def write_repository(work: Path, deploy: str, image: str) -> Path:
    """Write a scratch repository whose dast stage scans the sample app; return its root."""
    root = work / "repo"
    root.mkdir()
    env = {
        "SAMPLE_APP_INSECURE_COOKIES": "1",
        "SAMPLE_APP_DEMO_USER": DEMO_USER,
        "SAMPLE_APP_DEMO_PASSWORD": DEMO_PASSWORD,
    }
    if deploy == "process":
        # The sample app is imported from this checkout; its database goes to the stage's folder.
        env.update({"PYTHONPATH": str(ROOT), "SAMPLE_APP_DB": "{out_dir}/app.sqlite3"})

    dast = {
        "deploy": deploy,
        "image": image,
        "command": ["python", "-m", "sample_app"],
        "dbms": "SQLite",
        "env": env,
        "login": {
            "path": "/api/login",
            "json": {"username": DEMO_USER, "password": DEMO_PASSWORD},
        },
        "targets": TARGETS,
    }
    config = {"tool": {"gauntlet": {"paths": ["."], "dast": dast}}}
    (root / "pyproject.toml").write_text(tomlkit.dumps(config), encoding="utf-8")
    return root


def build_image(base_image: str) -> str:
    """Build the sample app's image once and return its tag."""
    tag = "ci-gauntlet-bench/sample-app:interrupts"
    argv = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag]
    subprocess.run([*argv, str(ROOT / "sample_app")], check=True, capture_output=True)
    return tag


def owned_containers(owner_pid: int, owner_start: str) -> set[str]:
    """Return the ids of the containers that one gauntlet process created (empty without docker).

    Both owner labels must match, so a later process that reuses the PID does not count.
    """
    argv = ["docker", "ps", "-aq"]
    argv += ["--filter", f"label={engine.LABEL_OWNER_PID}={owner_pid}"]
    argv += ["--filter", f"label={engine.LABEL_OWNER_START}={owner_start}"]
    try:
        listing = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return set()
    return set(listing.stdout.split())


def processes_mentioning(marker: str) -> list[int]:
    """Return PIDs of live processes whose environment or command line contains ``marker``."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in text:
            found.append(int(entry.name))
    return found


@dataclass
class RunResult:
    """One interrupted run: gauntlet's exit code (None: hung), its duration and its identity."""

    code: int | None
    duration_s: float
    owner_pid: int
    owner_start: str


def interrupted_run(root: Path, reports: Path, delay_s: float) -> RunResult:
    """Start gauntlet, SIGINT it after ``delay_s`` and wait for it to exit."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "gauntlet", "run", "-C", str(root), "--only", "dast"]
    argv += ["--reports", str(reports)]
    started = time.monotonic()
    child = subprocess.Popen(  # pylint: disable=consider-using-with  # noqa: S603
        argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Read before the child is reaped, while its PID still names it.
    owner_start = engine.process_start(child.pid) or ""
    time.sleep(delay_s)
    child.send_signal(signal.SIGINT)
    try:
        code = child.wait(timeout=EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        code = None
    return RunResult(code, time.monotonic() - started, child.pid, owner_start)


def interrupt_runs(
    runs: int, max_delay: float, deploy: str, image: str, rng: random.Random
) -> tuple[int, int, int]:
    """Run and interrupt gauntlet ``runs`` times; return leftover processes, containers, hangs."""
    leftover_processes = leftover_containers = hung = 0

    with tempfile.TemporaryDirectory(prefix="gauntlet-interrupts-") as scratch:
        work = Path(scratch)
        root = write_repository(work, deploy, image)
        for number in range(1, runs + 1):
            delay = rng.uniform(0.05, max_delay)
            run = interrupted_run(root, work / f"reports-{number}", delay)

            processes = processes_mentioning(scratch)
            containers = owned_containers(run.owner_pid, run.owner_start)
            leftover_processes += len(processes)
            leftover_containers += len(containers)
            hung += run.code is None
            print(
                f"run {number:2d}: SIGINT after {delay:4.2f} s, exit {run.code}, "
                f"{run.duration_s:4.1f} s, leftover processes {len(processes)}, "
                f"leftover containers {len(containers)}",
                flush=True,
            )
            # Clean up this run's leftovers, so that none is counted again by the next run.
            for pid in processes:
                os.kill(pid, signal.SIGKILL)
            for container in containers:
                subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return leftover_processes, leftover_containers, hung


def main() -> int:
    """Parse the options, run the interrupted runs and print the totals."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20, help="interrupted runs (default 20)")
    parser.add_argument(
        "--max-delay", type=float, default=3.0, help="latest SIGINT, in seconds after start"
    )
    parser.add_argument("--deploy", choices=("process", "container"), default="process")
    parser.add_argument(
        "--base-image",
        default=os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "python:3.12-slim"),
        help="BASE_IMAGE for the sample app's image (container mode)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for the delays")
    args = parser.parse_args()

    image = build_image(args.base_image) if args.deploy == "container" else ""
    totals = interrupt_runs(args.runs, args.max_delay, args.deploy, image, random.Random(args.seed))
    leftover_processes, leftover_containers, hung = totals

    print(f"leftover processes: {leftover_processes}")
    print(f"leftover containers: {leftover_containers}")
    print(f"hung runs: {hung}")
    return 1 if leftover_processes or leftover_containers or hung else 0


if __name__ == "__main__":
    sys.exit(main())
