"""The bdd stage: behave under ``coverage run``, with allure-behave.

behave 1.3 exits 0 or 1 only, and a ConfigError (no feature files, no steps directory) is exit 1
as well, so the verdict comes from behave's JSON report. Three formatters run at once: plain text
to stdout for the log, allure-behave into the shared Allure results directory, and JSON into
``reports/bdd/behave.json``. behave pairs each ``-o`` with the ``-f`` before it, in order, so
every formatter gets its own ``-o`` (stdout is ``-``).

Undefined steps fail the gate: behave 1.3 marks their scenario ``error`` and exits 1, and each
one becomes a ``step-undefined`` finding. behave 1.3.3's JSON formatter can write a scenario's
status onto the next element (seen with a Scenario Outline row followed by a Rule with a
Background). So scenario verdicts come from their steps, plus the "Failing scenarios" and
"Errored scenarios" lists that behave prints at the end of its output.

Coverage data goes to ``<coverage data dir>/.coverage.bdd.<host>.<pid>.<random>`` (parallel
mode), with branch data, to combine with the unit stage's data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from gauntlet import process
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

TOOL = "behave"
JSON_FILE = "behave.json"
TEXT_FILE = "behave.txt"
DATA_FILE_NAME = ".coverage.bdd"
ALLURE_FORMATTER = "allure_behave.formatter:AllureFormatter"
MESSAGE_LIMIT = 300  # characters of an error message kept in a finding

EXIT_PASSED = 0
EXIT_FAILED = 1

FAILED_STEP_STATUSES = ("failed", "error")
# behave's own error lines: "HOOK-ERROR in ...", "ConfigError: ...", "ParserError: ...", and an
# exception raised while it imports the step modules ("ModuleNotFoundError: ...").
ERROR_LINE = re.compile(r"^(HOOK-ERROR|[A-Z]\w*(Error|Exception)\b)")
SUMMARY_HEADINGS = ("Failing scenarios:", "Errored scenarios:")
STEP_ERROR_LINE = re.compile(r"^\s+\S.* \.\.\. error in [0-9.]+s$")
SUMMARY_ENTRY = re.compile(r"^\s+(?P<path>\S+\.feature):(?P<line>\d+)\s+(?P<name>.*?)\s*$")


@dataclass(frozen=True)
class BddOptions:
    """Options of ``[tool.gauntlet.bdd]``."""

    features: str = field(
        default="features",
        metadata={"help": "directory of .feature files (with steps/ inside), relative to the root"},
    )
    tags: str = field(
        default="",
        metadata={"help": "behave tag expression, for example 'not @wip'; empty runs all"},
    )
    args: tuple[str, ...] = field(
        default=(),
        metadata={"help": "extra behave arguments, appended last; give each extra -f its own -o"},
    )
    cov: bool = field(
        default=True,
        metadata={"help": "run behave under coverage, measuring the global paths"},
    )


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario run from behave's JSON report."""

    path: str
    line: int
    name: str
    status: str  # passed, failed, error, skipped or untested (as behave writes it)
    failed_step: str  # "<Keyword> <text>: <error>" of the first failed step, or ""
    undefined_steps: tuple[tuple[int, str], ...]  # (line, "<Keyword> <text>") of each


class BddStage(Stage):
    """Fails on any failed scenario or undefined step."""

    name = "bdd"
    tool = TOOL
    needs = ()
    options_class = BddOptions
    description = "behave: any failed scenario or undefined step"

    def describe_gate(self, options: BddOptions) -> str:
        """Return the gate in one line."""
        selection = f" tagged {options.tags!r}" if options.tags else ""
        return f"any failed scenario or undefined step in {options.features}{selection}"

    def run(self, ctx: StageContext) -> StageResult:
        """Run behave, then build findings from its JSON report and its failure summary."""
        options: BddOptions = ctx.options
        check_features_dir(ctx.root, options.features)

        json_path = ctx.out_dir / JSON_FILE
        json_path.unlink(missing_ok=True)  # a report left from an earlier run is no verdict
        ctx.settings.allure_results_dir.mkdir(parents=True, exist_ok=True)
        data_file = ctx.fresh_coverage_data_file(DATA_FILE_NAME)

        argv = build_argv(ctx, options, json_path)
        env = {"COVERAGE_FILE": str(data_file)}
        completed = ctx.run_tool(argv, env=env)
        (ctx.out_dir / TEXT_FILE).write_text(completed.stdout, encoding="utf-8")
        check_completed(completed, json_path)

        scenarios = parse_json_report(read_json(json_path), parse_step_errors(completed.stdout))
        findings = build_findings(scenarios, parse_failure_summary(completed.stdout))
        return self.verdict(options, completed, scenarios, findings, json_path)

    def verdict(
        self,
        options: BddOptions,
        completed: process.ProcessResult,
        scenarios: list[ScenarioOutcome],
        findings: list[Finding],
        json_path: Path,
    ) -> StageResult:
        """Decide the result; a run without findings that exited 1 or ran nothing is an error."""
        counts = count_statuses(scenarios)
        ran = len(scenarios) - counts.get("skipped", 0) - counts.get("untested", 0)
        if completed.returncode == EXIT_FAILED and not findings:
            raise StageError(
                f"behave exited 1 without a failed scenario or undefined step: "
                f"{behave_error_line(completed.stdout, completed.stderr)}"
            )
        if ran == 0 and not findings:
            selection = f" with tags {options.tags!r}" if options.tags else ""
            raise StageError(
                f"no scenarios ran in {options.features}{selection}; add scenarios or fix "
                f"[tool.gauntlet.bdd] features and tags"
            )

        details = {"scenarios": len(scenarios), "statuses": counts, "json": str(json_path)}
        if findings:
            message = f"{describe_findings(findings)} in {ran} scenarios"
            return self.result(Status.FAILED, findings, message, **details)
        return self.result(Status.PASSED, [], f"{ran} scenarios passed", **details)


def check_completed(completed: process.ProcessResult, json_path: Path) -> None:
    """Raise StageError for an exit code other than 0 or 1, or a missing JSON report."""
    if completed.returncode not in (EXIT_PASSED, EXIT_FAILED):
        raise StageError(
            f"behave exited with unexpected code {completed.returncode}: "
            f"{behave_error_line(completed.stdout, completed.stderr)}"
        )
    if not json_path.is_file() or json_path.stat().st_size == 0:
        raise StageError(
            f"behave wrote no JSON report: {behave_error_line(completed.stdout, completed.stderr)}"
        )


def check_features_dir(root: Path, features: str) -> None:
    """Raise UsageError when the features directory is missing."""
    if not (root / features).is_dir():
        raise UsageError(
            f"features directory {features!r} not found under {root}; create it or fix "
            f"[tool.gauntlet.bdd] features (or GAUNTLET_BDD_FEATURES)"
        )


def build_argv(ctx: StageContext, options: BddOptions, json_path: Path) -> list[str]:
    """Return the command line: ``coverage run ... -m behave ...``, or behave alone."""
    argv: list[str] = []
    if options.cov:
        # Branch data on both unit and bdd: coverage cannot combine branch with line data.
        argv += ["coverage", "run", "--parallel-mode", "--branch"]
        sources = [coverage_source(path) for path in ctx.settings.paths]
        argv += [f"--source={','.join(sources)}", "-m", "behave"]
    else:
        argv += ["behave"]

    argv += [options.features, "--no-color"]
    argv += ["-f", "plain", "-o", "-"]
    argv += ["-f", ALLURE_FORMATTER, "-o", str(ctx.settings.allure_results_dir)]
    argv += ["-f", "json", "-o", str(json_path)]
    if options.tags:
        argv += ["--tags", options.tags]

    argv += list(options.args)
    return argv


def coverage_source(path: str) -> str:
    """Return a source path as coverage's ``source`` accepts it: a directory or a module name.

    coverage 7.17 measures nothing for a source given as a file (``app.py``), so a Python file
    becomes its dotted module name (``app``), importable from the repository root.
    """
    if not path.endswith(".py"):
        return path
    return path[: -len(".py")].replace("/", ".")


def read_json(path: Path) -> list[dict[str, Any]]:
    """Load behave's JSON report: a list of features."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StageError(f"behave wrote an unreadable JSON report at {path}: {error}") from error
    if not isinstance(data, list):
        raise StageError(f"behave's JSON report at {path} is not a list of features")
    return data


def parse_json_report(
    features: list[dict[str, Any]], step_errors: Sequence[str] = ()
) -> list[ScenarioOutcome]:
    """Return one outcome per scenario (outline rows included) of every feature.

    behave's JSON report has the error message of a failed assertion but not of an exception
    (status ``error``). ``step_errors`` gives those, one per such step in run order, as
    ``parse_step_errors`` reads them from the plain output.
    """
    errors = iter(step_errors)
    outcomes = []
    for feature in features:
        for element in feature.get("elements", []):
            if element.get("type") == "scenario":
                outcomes.append(scenario_outcome(element, errors))
    return outcomes


def scenario_outcome(element: dict[str, Any], step_errors: Iterator[str]) -> ScenarioOutcome:
    """Derive a scenario's verdict from its steps, or take its own status when no step failed."""
    path, line = split_location(element.get("location", ""))
    failed_step = ""
    undefined: list[tuple[int, str]] = []

    for step in element.get("steps", []):
        result = step.get("result", {})
        step_status = result.get("status", "untested")
        text = f"{step.get('keyword', '')} {step.get('name', '')}".strip()
        if step_status == "undefined":
            undefined.append((split_location(step.get("location", ""))[1], text))
        elif step_status in FAILED_STEP_STATUSES and not failed_step:
            error = error_summary(result.get("error_message", ""))
            if step_status == "error":
                error = next(step_errors, "") or "raised an exception"
            failed_step = f"{text}: {error}" if error else text

    status = element.get("status") or "untested"
    if failed_step:
        status = "failed"
    elif undefined:
        status = "error"

    return ScenarioOutcome(
        path, line, element.get("name", ""), status, failed_step, tuple(undefined)
    )


def parse_step_errors(stdout: str) -> list[str]:
    """Return the exception line of each step that ended ``error`` in the plain output, in order.

    The plain formatter prints ``<step> ... error in <seconds>s``, then the traceback, then a
    blank line; the traceback's last line is ``<ExceptionType>: <message>``.
    """
    # NOTE: steps are matched to these lines by order only. An extra formatter that the args
    # option sends to stdout prints each step twice and shifts the messages (not the verdicts).
    errors = []
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        if not STEP_ERROR_LINE.match(line):
            continue
        block = []
        for following in lines[index + 1 :]:
            if not following.strip():
                break
            block.append(following.strip())
        errors.append(block[-1] if block else "")
    return errors


def parse_failure_summary(stdout: str) -> list[tuple[str, int, str]]:
    """Return (path, line, name) of each entry under "Failing/Errored scenarios:" in the output."""
    entries = []
    in_list = False
    for line in stdout.splitlines():
        if line.strip() in SUMMARY_HEADINGS:
            in_list = True
            continue
        match = SUMMARY_ENTRY.match(line) if in_list else None
        if match:
            entries.append((match["path"], int(match["line"]), match["name"]))
        else:
            in_list = False
    return entries


def build_findings(
    scenarios: list[ScenarioOutcome], summary: list[tuple[str, int, str]]
) -> list[Finding]:
    """Build findings from failed and undefined steps, then from behave's failure summary.

    A scenario whose steps all passed but that behave lists as failing or errored (a hook error,
    for example) gets its finding from the summary. The scenario status in the JSON report is
    not used for that, because behave 1.3.3 can write it onto the wrong element.
    """
    findings: list[Finding] = []
    reported: set[tuple[str, int]] = set()

    for scenario in scenarios:
        for step_line, step_text in scenario.undefined_steps:
            findings.append(undefined_step_finding(scenario, step_line, step_text))
        if scenario.failed_step:
            findings.append(
                scenario_finding(scenario.path, scenario.line, scenario.name, scenario.failed_step)
            )
        if scenario.failed_step or scenario.undefined_steps:
            reported.add((scenario.path, scenario.line))

    statuses = {(scenario.path, scenario.line): scenario.status for scenario in scenarios}
    for path, line, name in summary:
        if (path, line) in reported:
            continue
        reason = f"status {statuses.get((path, line), 'failed')} with no failed step"
        findings.append(scenario_finding(path, line, name, reason))
        reported.add((path, line))
    return findings


def scenario_finding(path: str, line: int, name: str, reason: str) -> Finding:
    """Return a scenario-failed finding at the scenario's line."""
    return Finding(
        tool=TOOL,
        rule_id="scenario-failed",
        severity=Severity.HIGH,
        tool_severity="failed",
        message=f"scenario {name!r} failed: {reason[:MESSAGE_LIMIT]}",
        fingerprint=fingerprint(TOOL, "scenario-failed", path, name),
        path=path,
        line=line,
    )


def undefined_step_finding(scenario: ScenarioOutcome, step_line: int, step_text: str) -> Finding:
    """Return a step-undefined finding at the step's line."""
    return Finding(
        tool=TOOL,
        rule_id="step-undefined",
        severity=Severity.HIGH,
        tool_severity="undefined",
        message=f"undefined step {step_text!r} in scenario {scenario.name!r}; implement it",
        fingerprint=fingerprint(TOOL, "step-undefined", scenario.path, scenario.name, step_text),
        path=scenario.path,
        line=step_line or scenario.line,
    )


def describe_findings(findings: list[Finding]) -> str:
    """Return "2 failed scenarios and 1 undefined step" style text for the stage message."""
    parts = []
    for rule_id, noun in (
        ("scenario-failed", "failed scenario"),
        ("step-undefined", "undefined step"),
    ):
        count = sum(1 for finding in findings if finding.rule_id == rule_id)
        if count:
            parts.append(f"{count} {noun}{'s' if count != 1 else ''}")
    return " and ".join(parts)


def count_statuses(scenarios: list[ScenarioOutcome]) -> dict[str, int]:
    """Return how many scenarios ended with each status."""
    counts: dict[str, int] = {}
    for scenario in scenarios:
        counts[scenario.status] = counts.get(scenario.status, 0) + 1
    return counts


def split_location(location: str) -> tuple[str, int]:
    """Split behave's ``path:line`` into its parts (line 0 when there is none)."""
    path, _, line = location.rpartition(":")
    if not path or not line.isdigit():
        return location, 0
    return path, int(line)


def error_summary(text: str | list[str]) -> str:
    """Return the line of a step's error message that names the error.

    An assertion gives one line ("ASSERT FAILED: ..."); any other exception gives a traceback
    whose last line is "<ExceptionType>: <message>".
    """
    if isinstance(text, list):  # behave splits a multi-line message into lines in some modes
        text = "\n".join(str(line) for line in text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def behave_error_line(stdout: str, stderr: str) -> str:
    """Return behave's own error line (hook, configuration or parser error), else its last line."""
    for line in (stdout + "\n" + stderr).splitlines():
        if ERROR_LINE.match(line):
            return line.strip()
    return last_line(stderr or stdout)


def last_line(text: str) -> str:
    """Return the last non-empty line of a text, stripped, or "no output"."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return "no output"


STAGE = BddStage()
