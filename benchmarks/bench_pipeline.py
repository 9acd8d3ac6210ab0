"""Compare the six code stages run by hand, one after another, with ``gauntlet run``.

(a) is the chain of plain tool commands a user would write for this repository (black, pylint,
bandit, pytest with coverage, behave under coverage, coverage combine and report, Allure
generate). (b) is ``gauntlet run --only format,lint,sast,unit,bdd,coverage``. The two alternate,
``--runs`` times each, and the script prints both medians and the ratio b/a.

Run from the repository root after ``make ci`` has set up .venv and node_modules:

    .venv/bin/python benchmarks/bench_pipeline.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CODE_STAGES = "format,lint,sast,unit,bdd,coverage"


def tool(name: str) -> str:
    """Return the path of a tool in the running interpreter's venv, else on PATH."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"{name} not found; run `make ci` once to set up .venv and node_modules")
    return found


def manual_chain(work: Path) -> list[list[str]]:
    """Return the commands of the hand-written sequential chain, writing under ``work``."""
    data = work / "coverage-data"
    allure = work / "allure-results"
    return [
        [tool("black"), "--check", "--diff", "sample_app"],
        [tool("pylint"), "sample_app", "--fail-under=9", "--fail-on=E,F"],
        [tool("bandit"), "-r", "sample_app", "-f", "json", "-o", str(work / "bandit.json")],
        [
            tool("pytest"),
            "tests/sample_app",
            "--cov=sample_app",
            "--cov-branch",
            "--cov-report=",
            f"--alluredir={allure}",
            f"--junitxml={work / 'junit.xml'}",
        ],
        [
            tool("coverage"),
            "run",
            f"--data-file={data / '.coverage.bdd'}",
            "-m",
            "behave",
            "features",
            "-f",
            "allure_behave.formatter:AllureFormatter",
            "-o",
            str(allure),
            "-f",
            "progress",
            "-o",
            str(work / "behave.txt"),
        ],
        [tool("coverage"), "combine", f"--data-file={data / '.coverage'}", str(data)],
        [tool("coverage"), "report", f"--data-file={data / '.coverage'}", "--fail-under=90"],
        [
            tool("coverage"),
            "xml",
            f"--data-file={data / '.coverage'}",
            "-o",
            str(work / "coverage.xml"),
        ],
        [tool("coverage"), "html", f"--data-file={data / '.coverage'}", "-d", str(work / "html")],
        [tool("allure"), "generate", str(allure), "-o", str(work / "allure-report")],
    ]


def run_manual() -> float:
    """Run the hand-written chain once and return its wall time in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-manual-") as tmp:
        work = Path(tmp)
        (work / "coverage-data").mkdir()
        env = {**os.environ, "COVERAGE_FILE": str(work / "coverage-data" / ".coverage.unit")}
        started = time.monotonic()
        for argv in manual_chain(work):
            completed = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
            if completed.returncode not in (0,):
                print(
                    f"warning: {Path(argv[0]).name} exited {completed.returncode}", file=sys.stderr
                )
        return time.monotonic() - started


def run_gauntlet() -> float:
    """Run ``gauntlet run`` on the six code stages once and return its wall time in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-gauntlet-") as tmp:
        argv = [tool("gauntlet"), "run", "--only", CODE_STAGES, "--reports", tmp]
        started = time.monotonic()
        completed = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
        elapsed = time.monotonic() - started
        if completed.returncode != 0:
            print(f"warning: gauntlet run exited {completed.returncode}", file=sys.stderr)
        return elapsed


def main() -> int:
    """Alternate both ways of running the stages and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each variant (default 5)")
    args = parser.parse_args()

    manual_times: list[float] = []
    gauntlet_times: list[float] = []
    for index in range(args.runs):
        manual_times.append(run_manual())
        gauntlet_times.append(run_gauntlet())
        print(
            f"run {index + 1}: manual {manual_times[-1]:.2f} s, gauntlet {gauntlet_times[-1]:.2f} s"
        )

    manual_median = statistics.median(manual_times)
    gauntlet_median = statistics.median(gauntlet_times)
    print(f"cores: {os.cpu_count()}, runs per variant: {args.runs}")
    print(f"(a) sequential plain commands, median: {manual_median:.2f} s")
    print(f"(b) gauntlet run, median:              {gauntlet_median:.2f} s")
    print(f"ratio b/a: {gauntlet_median / manual_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
