"""Time the image and dast stages on the sample app, and dast's targets in parallel vs in turn.

The stages run directly through their stage objects, as the pipeline runs them. image builds
sample_app/Dockerfile and scans it with trivy. dast deploys that image as a container and
scans three targets with sqlmap. Each configuration runs ``--runs`` times (image first, then dast
with ``parallel = true`` and with ``parallel = false``, alternating) and the script prints the
median wall time of each and the ratio parallel / one after another.

Image options come from the repository's [tool.gauntlet.image] and GAUNTLET_IMAGE_* variables,
so pass the base image and trivy DB the way ``make ci`` does, e.g. without Docker Hub or a DB:

    GAUNTLET_IMAGE_BUILD_ARGS="BASE_IMAGE=local/python-base" \\
    GAUNTLET_IMAGE_SCANNERS="misconfig,secret" \\
    .venv/bin/python benchmarks/bench_image_dast.py --runs 5

The first image build fills docker's layer cache, so the median reflects cached builds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from gauntlet import config
from gauntlet.stage import RunSettings, StageContext, StageResult
from gauntlet.stages import all_stages
from gauntlet.stages.dast import DastOptions, LoginOptions, Target

ROOT = Path(__file__).resolve().parent.parent

DEMO_USER = "scanner"
DEMO_PASSWORD = "scan-only-password-1"
DAST_OPTIONS = DastOptions(
    deploy="container",
    env={
        "SAMPLE_APP_INSECURE_COOKIES": "1",
        "SAMPLE_APP_DEMO_USER": DEMO_USER,
        "SAMPLE_APP_DEMO_PASSWORD": DEMO_PASSWORD,
    },
    login=LoginOptions(path="/api/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}),
    dbms="SQLite",
    targets=(
        Target(name="notes-search", path="/api/notes", query={"q": "welcome"}, params=("q",)),
        Target(
            name="notes-create",
            method="POST",
            path="/api/notes",
            json={"title": "scan", "body": "scan body"},
            params=("title", "body"),
        ),
        Target(
            name="login-form",
            method="POST",
            path="/login",
            form={"username": DEMO_USER, "password": "wrong-password", "csrf_token": "unset"},
            params=("username",),
            csrf_token="csrf_token",
        ),
    ),
)
TIMEOUT_S = 900.0


def run_stage(name: str, options, work: Path, upstream: dict[str, StageResult]) -> StageResult:
    """Run one stage once with a fresh output folder; return its result with the duration."""
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    out_dir = work / run_id / name
    out_dir.mkdir(parents=True)
    ctx = StageContext(
        settings=RunSettings(root=ROOT, reports_dir=work / run_id, run_id=run_id),
        options=options,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=TIMEOUT_S,
        deadline=time.monotonic() + TIMEOUT_S,
        log_path=out_dir / f"{name}.log",
        upstream=upstream,
    )
    started = time.monotonic()
    result = all_stages()[name].run(ctx)
    result.duration_s = time.monotonic() - started
    return result


def image_options():
    """Return the image options for sample_app/Dockerfile, with GAUNTLET_IMAGE_* applied."""
    loaded = config.load(ROOT, all_stages()).stages["image"].options
    return dataclasses.replace(loaded, dockerfile="sample_app/Dockerfile", context="sample_app")


def describe(result: StageResult) -> str:
    return f"{result.status.value}, {len(result.findings)} finding(s), {result.duration_s:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration (default 5)")
    args = parser.parse_args()

    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    times: dict[str, list[float]] = {"image": [], "dast parallel": [], "dast in turn": []}
    images: list[str] = []

    with tempfile.TemporaryDirectory(prefix="gauntlet-bench-") as scratch:
        work = Path(scratch)
        for number in range(1, args.runs + 1):
            image = run_stage("image", image_options(), work, {})
            print(f"run {number} image: {describe(image)} ({image.message})", flush=True)
            if "image" not in image.details:
                return 1
            images.append(image.details["image"])
            times["image"].append(image.duration_s)

            for label, parallel in (("dast parallel", True), ("dast in turn", False)):
                options = dataclasses.replace(DAST_OPTIONS, parallel=parallel)
                dast = run_stage("dast", options, work, {"image": image})
                print(f"run {number} {label}: {describe(dast)}", flush=True)
                times[label].append(dast.duration_s)

    for tag in images:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)

    medians = {label: statistics.median(values) for label, values in times.items()}
    print()
    print(f"image stage, median of {args.runs}: {medians['image']:.1f} s")
    for label, wording in (("dast parallel", "in parallel"), ("dast in turn", "one after another")):
        print(f"dast stage (targets {wording}), median of {args.runs}: {medians[label]:.1f} s")
    ratio = medians["dast parallel"] / medians["dast in turn"]
    print(f"ratio parallel / one after another: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
