"""The lint stage: pylint with a score gate and a fail-on list of categories and message ids.

pylint writes its ``json2`` report (messages plus the score) to ``pylint.json`` and its text
report to stdout, which goes to the stage log. pylint reads its configuration (pyproject.toml,
.pylintrc, ...) from the target repository itself; ``rcfile`` names another file.

pylint's exit code is a bitmask: 1 fatal, 2 error, 4 warning, 8 refactor, 16 convention,
32 usage error. A repository's own ``fail-under`` or ``exit-zero`` setting changes the exit code,
so the stage gates on the JSON report and takes only the usage bit from the exit code.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gauntlet.errors import StageError, UsageError
from gauntlet.sources import line_reader, python_files, relative_path, stage_paths
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "pylint"
REPORT_FILE = "pylint.json"

USAGE_ERROR_BIT = 32
CATEGORY_BITS = {"fatal": 1, "error": 2, "warning": 4, "refactor": 8, "convention": 16}
CATEGORY_SEVERITY = {
    "fatal": Severity.HIGH,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "refactor": Severity.LOW,
    "convention": Severity.LOW,
    "info": Severity.INFO,
}

MISSING_MODULE_ID = "F0001"  # pylint could not find or load a path it was given
SYNTAX_ERROR_ID = "E0001"  # pylint could not parse the file, so nothing in it was checked

# A fail_on entry: a category letter, a message id, or a message symbol.
_CATEGORY = re.compile(r"^[CRWEFI]$")
_MESSAGE_ID = re.compile(r"^[CRWEFI]\d{4}$")
_SYMBOL = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class LintOptions:
    """Options of ``[tool.gauntlet.lint]``."""

    paths: tuple[str, ...] = field(
        default=(),
        metadata={"help": "paths to lint, relative to the root; empty means the global paths"},
    )
    fail_under: float = field(
        default=9.0,
        metadata={
            "help": "minimum pylint score, from 0 to 10; a lower score fails the stage",
            "min": 0.0,
            "max": 10.0,
        },
    )
    fail_on: tuple[str, ...] = field(
        default=("E", "F"),
        metadata={
            "help": "message categories (C, R, W, E, F, I), ids (W0611) or symbols "
            "(unused-import) that fail the stage whatever the score"
        },
    )
    rcfile: str = field(
        default="",
        metadata={
            "help": "pylint configuration file relative to the root; empty lets pylint find it"
        },
    )
    jobs: int = field(
        default=1,
        metadata={"help": "pylint worker processes (-j); 0 means one per CPU", "min": 0},
    )
    args: tuple[str, ...] = field(
        default=(),
        metadata={"help": "extra pylint arguments, for example ['--disable=C0114']"},
    )

    def __post_init__(self) -> None:
        is_number = isinstance(self.fail_under, (int, float)) and not isinstance(
            self.fail_under, bool
        )
        if not is_number or not 0.0 <= self.fail_under <= 10.0:
            raise UsageError(
                f"[tool.gauntlet.lint] fail_under = {self.fail_under!r} is invalid; "
                f"use a number from 0 to 10"
            )
        for entry in self.fail_on:
            if not isinstance(entry, str) or not (
                _CATEGORY.match(entry) or _MESSAGE_ID.match(entry) or _SYMBOL.match(entry)
            ):
                raise UsageError(
                    f"[tool.gauntlet.lint] fail_on entry {entry!r} is invalid; use a category "
                    f"letter (C, R, W, E, F, I), a message id like 'W0611' or a symbol like "
                    f"'unused-import'"
                )
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 0:
            raise UsageError(
                f"[tool.gauntlet.lint] jobs = {self.jobs!r} is invalid; use 0 (one per CPU) or more"
            )


@dataclass(frozen=True)
class LintReport:
    """The messages and score of pylint's json2 report."""

    messages: list[dict[str, Any]]
    score: float | None


class LintStage(Stage):
    """Fails on a pylint score below ``fail_under`` or on any message matching ``fail_on``."""

    name = "lint"
    tool = TOOL
    needs = ()
    options_class = LintOptions
    description = "pylint: score below fail_under, or any message in fail_on"

    def describe_gate(self, options: LintOptions) -> str:
        """Return the gate in one line."""
        fail_on = ", ".join(options.fail_on) if options.fail_on else "nothing"
        return f"pylint score < {options.fail_under:.2f}, or any message matching {fail_on}"

    def run(self, ctx: StageContext) -> StageResult:
        """Run pylint once, then gate on the score and the fail_on messages of its report."""
        options: LintOptions = ctx.options
        files = python_files(
            ctx.root, stage_paths(ctx, options.paths, "lint"), ctx.settings.exclude
        )
        if not files:
            raise StageError(
                f"no Python files to lint under {', '.join(options.paths or ctx.settings.paths)}; "
                f"fix paths or exclude in [tool.gauntlet]"
            )

        report_path = ctx.out_dir / REPORT_FILE
        completed = ctx.run_tool(build_argv(ctx, options, report_path, files))
        check_exit_code(completed.returncode, completed.stderr)

        report = read_report(report_path)
        check_report_matches_exit_code(report, completed.returncode)
        check_missing_modules(report)

        findings = build_findings(report.messages, options.fail_on, ctx.root)
        log.debug("pylint scored %s with %d message(s)", report.score, len(findings))
        return self.verdict(findings, report.score, options)

    def verdict(
        self, findings: list[Finding], score: float | None, options: LintOptions
    ) -> StageResult:
        """Decide the status from the gating findings and the score."""
        if score is None:
            raise StageError("pylint's report has no score; run it by hand to see why")

        reasons = []
        gating = [finding for finding in findings if finding.gating]
        if gating:
            fail_on = ", ".join(options.fail_on)
            reasons.append(f"{len(gating)} message(s) match fail_on ({fail_on})")
        if score < options.fail_under:
            reasons.append(f"score {score:.2f} < fail_under {options.fail_under:.2f}")

        status = Status.FAILED if reasons else Status.PASSED
        return self.result(status, findings, "; ".join(reasons), score=score)


def build_argv(
    ctx: StageContext, options: LintOptions, report_path: Path, files: list[str]
) -> list[str]:
    """Return pylint's command line: json2 to the report file, text to stdout."""
    argv = [
        "pylint",
        f"--output-format=json2:{report_path},text",
        "--persistent=n",  # no score history under the user's home
        f"--jobs={options.jobs}",
    ]
    if options.rcfile:
        rcfile = ctx.root / options.rcfile
        if not rcfile.is_file():
            raise StageError(
                f"pylint rcfile {options.rcfile!r} not found under {ctx.root}; "
                f"fix rcfile in [tool.gauntlet.lint]"
            )
        argv.append(f"--rcfile={rcfile}")
    argv += [*options.args, "--", *files]
    return argv


def check_exit_code(returncode: int, stderr: str) -> None:
    """Raise StageError when pylint reports a usage error (bit 32) or died from a signal."""
    if returncode < 0:
        raise StageError(f"pylint was killed by signal {-returncode}")
    if returncode & USAGE_ERROR_BIT:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else "no message"
        raise StageError(
            f"pylint rejected its arguments or configuration ({detail}); "
            f"check [tool.gauntlet.lint] and the pylint configuration"
        )


def read_report(report_path: Path) -> LintReport:
    """Load pylint's json2 report, raising StageError when it is missing or malformed."""
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise StageError(f"pylint wrote no report to {report_path}") from error
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"pylint report {report_path} is unreadable: {error}") from error

    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        raise StageError(f"pylint report {report_path} has no messages list")
    score = data.get("statistics", {}).get("score")
    return LintReport(messages, float(score) if isinstance(score, (int, float)) else None)


def check_report_matches_exit_code(report: LintReport, returncode: int) -> None:
    """Raise StageError when the exit code claims a category the report has no message for.

    pylint exits ``msg_status or 1`` when its own fail-under or fail-on trips, so a lone 1 bit
    without a fatal message is accepted.
    """
    expected = 0
    for message in report.messages:
        expected |= CATEGORY_BITS.get(str(message.get("type")), 0)

    unexplained = returncode & 31 & ~expected
    if unexplained and not (unexplained == 1 and expected == 0):
        raise StageError(
            f"pylint exited {returncode}, but its report contains no message of those categories; "
            f"see the stage log"
        )


def check_missing_modules(report: LintReport) -> None:
    """Raise StageError when pylint could not find a path it was given (F0001)."""
    for message in report.messages:
        if message.get("messageId") == MISSING_MODULE_ID:
            raise StageError(
                f"pylint could not load {message.get('path')!r}: {message.get('message')}; "
                f"fix paths in [tool.gauntlet]"
            )


def build_findings(
    messages: list[dict[str, Any]], fail_on: tuple[str, ...], root: Path
) -> list[Finding]:
    """Turn every pylint message into a finding; gating only for those matching ``fail_on``."""
    read_line = line_reader(root)
    findings = []
    for message in messages:
        findings.append(make_finding(message, fail_on, root, read_line))
    return findings


def make_finding(
    message: dict[str, Any],
    fail_on: tuple[str, ...],
    root: Path,
    read_line: Callable[[str, object], str],
) -> Finding:
    """Build the finding for one json2 message."""
    message_id = str(message.get("messageId", ""))
    symbol = str(message.get("symbol", ""))
    category = str(message.get("type", ""))
    path = relative_path(str(message.get("path", "")), root)
    line = message.get("line")
    column = message.get("column")

    code = read_line(path, line)
    return Finding(
        tool=TOOL,
        rule_id=f"{message_id}/{symbol}",
        severity=CATEGORY_SEVERITY.get(category, Severity.INFO),
        message=str(message.get("message", "")),
        # The stripped code line replaces the line number, so moved lines keep their fingerprint.
        fingerprint=fingerprint(TOOL, symbol, path, code or message.get("message", "")),
        tool_severity=category,
        path=path,
        line=line if isinstance(line, int) else None,
        column=column if isinstance(column, int) else None,
        gating=message_id == SYNTAX_ERROR_ID or matches_fail_on(message_id, symbol, fail_on),
    )


def matches_fail_on(message_id: str, symbol: str, fail_on: tuple[str, ...]) -> bool:
    """Return True when a category letter, the message id or the symbol is in ``fail_on``."""
    for entry in fail_on:
        if len(entry) == 1 and message_id.startswith(entry):
            return True
        if entry in (message_id, symbol):
            return True
    return False


STAGE = LintStage()
