"""The sast stage: bandit over the source paths, gated on severity, confidence and a baseline.

bandit runs once, without its own severity and confidence filters, and writes JSON to
``bandit.json``. Every issue becomes a finding, and the stage decides which ones gate. The kit's
SARIF report is built from the findings, so bandit's own SARIF formatter is not needed.

Exit codes of bandit 1.9: 0 no issue, 1 issues (or an unhandled crash), 2 invalid option. A file
bandit cannot parse or read does not change the exit code: it is only listed under ``errors`` in
the report, so the stage turns that list into an error.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from gauntlet.errors import StageError, UsageError
from gauntlet.sources import line_reader, relative_path, stage_paths
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "bandit"
REPORT_FILE = "bandit.json"

EXIT_CLEAN = 0
EXIT_ISSUES = 1
EXIT_USAGE = 2

# bandit replaces its default excluded directories when -x is given, so they are passed again.
BANDIT_DEFAULT_EXCLUDE = (
    ".svn",
    "CVS",
    ".bzr",
    ".hg",
    ".git",
    "__pycache__",
    ".tox",
    ".eggs",
    "*.egg",
)

LEVELS = {"low": 1, "medium": 2, "high": 3}
_TEST_ID = re.compile(r"^B\d{3}$")

Level = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class SastOptions:
    """Options of ``[tool.gauntlet.sast]``."""

    paths: tuple[str, ...] = field(
        default=(),
        metadata={"help": "paths to scan, relative to the root; empty means the global paths"},
    )
    severity: Level = field(
        default="low",
        metadata={"help": "lowest issue severity that fails the stage: low, medium or high"},
    )
    confidence: Level = field(
        default="low",
        metadata={"help": "lowest issue confidence that fails the stage: low, medium or high"},
    )
    baseline: str = field(
        default="",
        metadata={
            "help": "bandit JSON report, relative to the root, whose issues are reported but do "
            "not fail the stage; empty means no baseline"
        },
    )
    skips: tuple[str, ...] = field(
        default=(),
        metadata={"help": "bandit test ids not to run, for example ['B101']"},
    )
    tests: tuple[str, ...] = field(
        default=(),
        metadata={"help": "bandit test ids to run; empty runs them all"},
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata={"help": "paths relative to the root not to scan, added to the global exclude"},
    )

    def __post_init__(self) -> None:
        for key in ("severity", "confidence"):
            value = getattr(self, key)
            if not isinstance(value, str) or value not in LEVELS:
                raise UsageError(
                    f"[tool.gauntlet.sast] {key} = {value!r} is invalid; use low, medium or high"
                )
        for key in ("skips", "tests"):
            for test_id in getattr(self, key):
                if not isinstance(test_id, str) or not _TEST_ID.match(test_id):
                    raise UsageError(
                        f"[tool.gauntlet.sast] {key} entry {test_id!r} is invalid; use a bandit "
                        f"test id like 'B602'"
                    )


class SastStage(Stage):
    """Fails on any bandit issue at or above both thresholds that the baseline does not cover."""

    name = "sast"
    tool = TOOL
    needs = ()
    options_class = SastOptions
    description = "bandit: any issue at or above the severity and confidence thresholds"

    def describe_gate(self, options: SastOptions) -> str:
        """Return the gate in one line."""
        gate = (
            f"any bandit issue with severity >= {options.severity} "
            f"and confidence >= {options.confidence}"
        )
        if options.baseline:
            gate += f" not in the baseline {options.baseline}"
        return gate

    def run(self, ctx: StageContext) -> StageResult:
        """Run bandit once, then gate on its JSON report."""
        options: SastOptions = ctx.options
        paths = stage_paths(ctx, options.paths, "scan")
        baseline = load_baseline(ctx.root, options.baseline)

        report_path = ctx.out_dir / REPORT_FILE
        completed = ctx.run_tool(build_argv(ctx, options, paths, report_path))
        check_exit_code(completed.returncode, completed.stderr)

        report = read_report(report_path)
        check_errors(report, ctx.root)
        check_files_scanned(report, paths)
        if completed.returncode == EXIT_ISSUES and not report["results"]:
            raise StageError("bandit exited 1 but its report lists no issue; see the stage log")

        findings = build_findings(report["results"], ctx.root, options)
        findings, baselined = apply_baseline(findings, baseline)
        log.debug("bandit reported %d issue(s), %d in the baseline", len(findings), baselined)
        return self.verdict(findings, baselined)

    def verdict(self, findings: list[Finding], baselined: int) -> StageResult:
        """Decide the status from the gating findings."""
        gating = [finding for finding in findings if finding.gating]
        if gating:
            message = f"{len(gating)} bandit issue(s) at or above the thresholds"
            return self.result(Status.FAILED, findings, message, baselined=baselined)
        return self.result(Status.PASSED, findings, "", baselined=baselined)


def build_argv(
    ctx: StageContext, options: SastOptions, paths: list[str], report_path: Path
) -> list[str]:
    """Return bandit's command line; absolute targets and excludes keep excludes exact."""
    excluded = [str(ctx.root / entry) for entry in (*ctx.settings.exclude, *options.exclude)]
    # Top-level hidden directories such as .venv, in case a path is the root itself.
    excluded.append(f"{ctx.root}/.*")
    argv = [
        "bandit",
        "--recursive",
        "--format",
        "json",
        "--output",
        str(report_path),
        "--exclude",
        ",".join([*BANDIT_DEFAULT_EXCLUDE, *excluded]),
    ]
    if has_bandit_config(ctx.root):
        argv += ["--configfile", str(ctx.root / "pyproject.toml")]
    if options.skips:
        argv += ["--skip", ",".join(options.skips)]
    if options.tests:
        argv += ["--tests", ",".join(options.tests)]
    argv += ["--", *(str(ctx.root / path) for path in paths)]
    return argv


def has_bandit_config(root: Path) -> bool:
    """Return True when ``root/pyproject.toml`` has a ``[tool.bandit]`` table.

    bandit reads pyproject.toml only when given ``-c``, so the stage passes it when the
    repository configures bandit there.
    """
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise StageError(f"cannot read {pyproject}: {error}; fix the file") from error
    return "bandit" in data.get("tool", {})


def check_exit_code(returncode: int, stderr: str) -> None:
    """Raise StageError for every bandit exit code that is not a verdict (0 or 1)."""
    if returncode in (EXIT_CLEAN, EXIT_ISSUES):
        return

    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else "no message"
    if returncode == EXIT_USAGE:
        raise StageError(f"bandit rejected its arguments ({detail}); check [tool.gauntlet.sast]")
    raise StageError(f"bandit exited with unexpected code {returncode} ({detail})")


def read_report(report_path: Path) -> dict[str, Any]:
    """Load bandit's JSON report, raising StageError when it is missing or malformed."""
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise StageError(f"bandit wrote no report to {report_path}; see the stage log") from error
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"bandit report {report_path} is unreadable: {error}") from error

    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise StageError(f"bandit report {report_path} has no results list")
    return data


def check_errors(report: dict[str, Any], root: Path) -> None:
    """Raise StageError naming each file bandit skipped (syntax error, unreadable)."""
    errors = report.get("errors") or []
    if not errors:
        return

    described = []
    for error in errors:
        path = relative_path(str(error.get("filename", "?")), root)
        described.append(f"{path} ({error.get('reason', 'no reason given')})")
    raise StageError(
        f"bandit could not scan {len(errors)} file(s): {'; '.join(described)}; "
        f"fix the file(s) or exclude them"
    )


def check_files_scanned(report: dict[str, Any], paths: list[str]) -> None:
    """Raise StageError when bandit found no Python file to scan under the paths."""
    metrics = report.get("metrics") or {}
    scanned = [name for name in metrics if name != "_totals"]
    if not scanned:
        raise StageError(
            f"bandit found no Python files under {', '.join(paths)}; "
            f"fix paths or exclude in [tool.gauntlet]"
        )


def build_findings(
    results: list[dict[str, Any]], root: Path, options: SastOptions
) -> list[Finding]:
    """Turn every bandit issue into a finding; gating when at or above both thresholds."""
    findings = []
    for issue in results:
        findings.append(make_finding(issue, root, options))
    return findings


def make_finding(issue: dict[str, Any], root: Path, options: SastOptions) -> Finding:
    """Build the finding for one bandit issue."""
    test_id = str(issue.get("test_id", ""))
    severity_word = str(issue.get("issue_severity", "UNDEFINED"))
    confidence_word = str(issue.get("issue_confidence", "UNDEFINED"))
    path = relative_path(str(issue.get("filename", "")), root)
    line = issue.get("line_number")
    column = issue.get("col_offset")

    return Finding(
        tool=TOOL,
        rule_id=test_id,
        severity=Severity.parse(severity_word),
        message=f"{issue.get('issue_text', '')} ({issue.get('test_name', test_id)})",
        fingerprint=issue_fingerprint(issue, root),
        tool_severity=f"{severity_word} (confidence {confidence_word})",
        path=path,
        line=line if isinstance(line, int) else None,
        column=column if isinstance(column, int) else None,
        help_url=issue.get("more_info") or None,
        gating=at_or_above(severity_word, options.severity)
        and at_or_above(confidence_word, options.confidence),
    )


def at_or_above(word: str, threshold: str) -> bool:
    """Return True when bandit's level ``word`` is at least ``threshold`` (UNDEFINED never is)."""
    return LEVELS.get(word.lower(), 0) >= LEVELS[threshold]


def issue_fingerprint(issue: dict[str, Any], root: Path) -> str:
    """Return the fingerprint of a bandit issue from its test id, path and stripped code line."""
    path = relative_path(str(issue.get("filename", "")), root)
    code = code_line(issue) or line_reader(root)(path, issue.get("line_number"))
    return fingerprint(TOOL, issue.get("test_id", ""), path, code or issue.get("issue_text", ""))


def code_line(issue: dict[str, Any]) -> str:
    """Return the stripped text of the issue's line from bandit's ``code`` excerpt, or "".

    bandit writes each excerpt line as the line number, one space, then the source line.
    """
    prefix = f"{issue.get('line_number')} "
    for line in str(issue.get("code") or "").splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return ""


def load_baseline(root: Path, baseline: str) -> Counter[str]:
    """Return how many times each fingerprint occurs in the baseline report (empty without one)."""
    if not baseline:
        return Counter()

    baseline_path = root / baseline
    if not baseline_path.is_file():
        raise StageError(
            f"bandit baseline {baseline!r} not found under {root}; create it with "
            f"'bandit -r <paths> -f json -o {baseline}' or fix baseline in [tool.gauntlet.sast]"
        )
    report = read_report(baseline_path)
    return Counter(issue_fingerprint(issue, root) for issue in report["results"])


def apply_baseline(findings: list[Finding], baseline: Counter[str]) -> tuple[list[Finding], int]:
    """Mark findings the baseline covers as not gating and return them with their count.

    Matching counts copies: a baseline with one issue of a fingerprint covers one finding, so a
    second copy of a known issue still gates (``bandit -b`` would absorb it).
    """
    remaining = Counter(baseline)
    marked = []
    baselined = 0
    for finding in findings:
        if remaining[finding.fingerprint] > 0:
            remaining[finding.fingerprint] -= 1
            baselined += 1
            finding = replace(finding, gating=False, message=finding.message + " [baseline]")
        marked.append(finding)
    return marked, baselined


STAGE = SastStage()
