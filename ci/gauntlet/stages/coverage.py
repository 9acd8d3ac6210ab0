"""The coverage stage: combine the unit, bdd and subprocess data, gate on the total, write reports.

The unit and bdd stages write coverage data files into the run's coverage data directory. The
subprocesses that their tests start add files there too, because coverage 7.10 and newer measure
subprocesses when the repository's coverage configuration has ``[run] patch = ["subprocess"]``.
This stage combines every ``.coverage.*`` file of that directory into
``reports/coverage/.coverage`` with ``--keep``, so the inputs survive and a re-run of this stage
alone gives the same result.

The gate is ``coverage report --fail-under``, which exits 2 below the threshold (coverage 7.17:
0 at or above it, 1 on errors such as "No data to report"). Its threshold rounds the total to the
report's precision, as the text report shows it. The JSON, XML and HTML reports run with
``--fail-under=0``, so a ``fail_under`` in the repository's own configuration cannot turn a
written report into an exit code 2.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gauntlet import process
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "coverage"
RULE_ID = "coverage-below-threshold"
COMBINED_FILE = ".coverage"
TEXT_REPORT = "coverage.txt"
JSON_REPORT = "coverage.json"
XML_REPORT = "coverage.xml"
HTML_DIR = "html"

EXIT_OK = 0
EXIT_BELOW_THRESHOLD = 2


@dataclass(frozen=True)
class CoverageOptions:
    """Options of ``[tool.gauntlet.coverage]``."""

    fail_under: float = field(
        default=80.0,
        metadata={
            "help": "minimum total coverage in percent (0 to 100), lines and branches",
            "min": 0,
            "max": 100,
        },
    )
    show_missing: bool = field(
        default=True,
        metadata={"help": "list the missing line numbers in the text report"},
    )
    skip_covered: bool = field(
        default=False,
        metadata={"help": "leave fully covered files out of the text report"},
    )

    def __post_init__(self) -> None:
        value = self.fail_under
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not 0.0 <= value <= 100.0:
            raise UsageError(
                f"[tool.gauntlet.coverage] fail_under = {value!r} is invalid: "
                f"expected a number from 0 to 100"
            )


@dataclass(frozen=True)
class CoverageTotals:
    """The figures read from coverage's JSON report."""

    percent: float
    percent_display: str  # rounded to the report's precision, as coverage prints it
    statements: int
    branches: int
    files: dict[str, dict[str, Any]]  # path -> {"percent": float, "missing_lines": [int, ...]}


class CoverageStage(Stage):
    """Fails when the combined total is below ``fail_under``."""

    name = "coverage"
    tool = TOOL
    needs = ("unit", "bdd")
    options_class = CoverageOptions
    description = "coverage: combined total below fail_under"

    def describe_gate(self, options: CoverageOptions) -> str:
        """Return the gate in one line."""
        return f"total coverage of unit, bdd and subprocesses below {options.fail_under:g}%"

    def run(self, ctx: StageContext) -> StageResult:
        """Combine the data files, write the reports and gate on the total."""
        options: CoverageOptions = ctx.options
        data_dir = ctx.settings.coverage_data_dir
        data_files = find_data_files(data_dir)
        if not data_files:
            raise StageError(
                f"no coverage data in {data_dir}; run the unit and bdd stages first, with cov on"
            )

        combined = ctx.out_dir / COMBINED_FILE
        combine(ctx, combined, data_files)
        below = write_reports(ctx, combined, options)
        totals = read_totals(ctx.out_dir / JSON_REPORT)

        details = {
            "total": totals.percent,
            "fail_under": options.fail_under,
            "statements": totals.statements,
            "branches": totals.branches,
            "data_files": [path.name for path in data_files],
            "files_below": files_below(totals, options.fail_under),
            "xml": str(ctx.out_dir / XML_REPORT),
            "html": str(ctx.out_dir / HTML_DIR / "index.html"),
        }
        if below:
            finding = threshold_finding(totals, options.fail_under, len(data_files))
            return self.result(Status.FAILED, [finding], finding.message, **details)
        summary = f"total coverage {totals.percent_display}% (threshold {options.fail_under:g}%)"
        return self.result(Status.PASSED, [], summary, **details)


def find_data_files(data_dir: Path) -> list[Path]:
    """Return the coverage data files (``.coverage.*``) in the data directory, sorted."""
    if not data_dir.is_dir():
        return []
    return sorted(path for path in data_dir.glob(".coverage.*") if path.is_file())


def combine(ctx: StageContext, combined: Path, data_files: list[Path]) -> None:
    """Combine the data files into ``combined``, keeping the inputs."""
    argv = ["coverage", "combine", "--keep", f"--data-file={combined}"]
    argv += [str(path) for path in data_files]
    completed = ctx.run_tool(argv)
    if completed.returncode != EXIT_OK or not combined.is_file():
        raise StageError(
            f"coverage combine failed (exit {completed.returncode}): "
            f"{last_line(completed.stderr or completed.stdout)}"
        )


def write_reports(ctx: StageContext, combined: Path, options: CoverageOptions) -> bool:
    """Write the text, JSON, XML and HTML reports and return whether the gate tripped.

    The four commands only read the combined data file, so they run at once. Each one logs to a
    file of its own, and those logs are appended to the stage log in command order afterwards.
    """
    commands = {
        "report": text_report_argv(combined, options),
        "json": report_argv("json", combined, "-o", ctx.out_dir / JSON_REPORT),
        "xml": report_argv("xml", combined, "-o", ctx.out_dir / XML_REPORT),
        "html": report_argv("html", combined, "-d", ctx.out_dir / HTML_DIR),
    }
    completed = run_concurrently(ctx, commands)

    report = completed["report"]
    (ctx.out_dir / TEXT_REPORT).write_text(report.stdout, encoding="utf-8")
    if report.returncode not in (EXIT_OK, EXIT_BELOW_THRESHOLD):
        raise StageError(
            f"coverage report failed (exit {report.returncode}): "
            f"{last_line(report.stderr or report.stdout)}"
        )

    outputs = {"json": JSON_REPORT, "xml": XML_REPORT, "html": HTML_DIR}
    for kind, output in outputs.items():
        result = completed[kind]
        if result.returncode != EXIT_OK or not (ctx.out_dir / output).exists():
            raise StageError(
                f"coverage {kind} failed (exit {result.returncode}): "
                f"{last_line(result.stderr or result.stdout)}"
            )
    return report.returncode == EXIT_BELOW_THRESHOLD


def text_report_argv(combined: Path, options: CoverageOptions) -> list[str]:
    """Return the ``coverage report`` command line, which carries the gate."""
    argv = ["coverage", "report", f"--data-file={combined}", f"--fail-under={options.fail_under:g}"]
    if options.show_missing:
        argv.append("--show-missing")
    if options.skip_covered:
        argv.append("--skip-covered")
    return argv


def report_argv(kind: str, combined: Path, output_flag: str, output: Path) -> list[str]:
    """Return the command line of ``coverage json``, ``xml`` or ``html`` into ``output``."""
    return ["coverage", kind, f"--data-file={combined}", "--fail-under=0", output_flag, str(output)]


def run_concurrently(
    ctx: StageContext, commands: dict[str, list[str]]
) -> dict[str, process.ProcessResult]:
    """Run the commands at once under the stage's deadline and return their results by key.

    Raises the first command's StageError (tool not found, timeout, cancel) after all ended.
    """
    part_logs = {key: ctx.out_dir / f".{key}.log.part" for key in commands}
    try:
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            futures = {
                key: pool.submit(replace(ctx, log_path=part_logs[key]).run_tool, argv)
                for key, argv in commands.items()
            }
        return {key: future.result() for key, future in futures.items()}
    finally:
        append_logs(ctx.log_path, list(part_logs.values()))


def append_logs(log_path: Path, part_logs: list[Path]) -> None:
    """Append each part log to the stage log and delete it."""
    with open(log_path, "a", encoding="utf-8") as log_file:
        for part in part_logs:
            if part.is_file():
                log_file.write(part.read_text(encoding="utf-8"))
                part.unlink()


def read_totals(json_path: Path) -> CoverageTotals:
    """Read the totals and per-file figures from coverage's JSON report."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        totals = data["totals"]
        files = {
            path: {
                "percent": float(entry["summary"]["percent_covered"]),
                "missing_lines": list(entry.get("missing_lines", [])),
            }
            for path, entry in data["files"].items()
        }
        return CoverageTotals(
            percent=float(totals["percent_covered"]),
            percent_display=str(totals["percent_covered_display"]),
            statements=int(totals["num_statements"]),
            branches=int(totals.get("num_branches", 0)),
            files=files,
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StageError(f"unreadable coverage JSON report at {json_path}: {error!r}") from error


def files_below(totals: CoverageTotals, fail_under: float) -> list[dict[str, Any]]:
    """Return the files whose own coverage is below the threshold, least covered first."""
    below = [
        {"path": path, **figures}
        for path, figures in totals.files.items()
        if figures["percent"] < fail_under
    ]
    return sorted(below, key=lambda entry: (entry["percent"], entry["path"]))


def threshold_finding(totals: CoverageTotals, fail_under: float, data_file_count: int) -> Finding:
    """Return the one finding of a tripped gate."""
    return Finding(
        tool=TOOL,
        rule_id=RULE_ID,
        severity=Severity.MEDIUM,
        tool_severity="fail-under",
        message=(
            f"total coverage {totals.percent_display}% is below the threshold of "
            f"{fail_under:g}% ({data_file_count} data files combined)"
        ),
        fingerprint=fingerprint(TOOL, RULE_ID),
    )


def last_line(text: str) -> str:
    """Return the last non-empty line of a text, stripped, or "no output"."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return "no output"


STAGE = CoverageStage()
