"""The unit stage: pytest with pytest-cov and allure-pytest.

pytest is the executable found on PATH, so the target's environment decides which pytest and
plugins run. The repository root is put first on ``PYTHONPATH``, as ``python -m pytest`` would
put it on ``sys.path``, so tests import the package under test from a checkout that is not
installed.

The verdict comes from the JUnit XML report, never from the exit code alone. Exit codes of
pytest 9: 0 all passed, 1 some tests failed, 2 interrupted (also collection errors), 3 internal
error, 4 usage error, 5 no tests collected.

Coverage is measured for the coverage stage, which combines and gates it once. pytest-cov's own
gate is switched off (``--cov-fail-under=0``), because it would make pytest exit 1 on passing
tests. The data file is ``<coverage data dir>/.coverage.unit``. pytest-cov 7 erases that file and
its ``.coverage.unit.*`` siblings first, so a re-run never counts stale data. When the tests end,
it combines the data files of measured subprocesses into that file.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

TOOL = "pytest"
JUNIT_FILE = "junit.xml"
DATA_FILE_NAME = ".coverage.unit"
MESSAGE_LIMIT = 300  # characters of a failure message kept in a finding

EXIT_PASSED = 0
EXIT_TESTS_FAILED = 1
EXIT_INTERRUPTED = 2
EXIT_INTERNAL_ERROR = 3
EXIT_USAGE_ERROR = 4
EXIT_NO_TESTS = 5


@dataclass(frozen=True)
class UnitOptions:
    """Options of ``[tool.gauntlet.unit]``."""

    tests: tuple[str, ...] = field(
        default=("tests",),
        metadata={"help": "test files or directories passed to pytest, relative to the root"},
    )
    markers: str = field(
        default="",
        metadata={"help": "pytest -m marker expression, for example 'not docker'; empty runs all"},
    )
    args: tuple[str, ...] = field(
        default=(),
        metadata={"help": "extra pytest arguments, appended after the kit's own"},
    )
    cov: bool = field(
        default=True,
        metadata={"help": "measure coverage of the global paths for the coverage stage"},
    )


@dataclass(frozen=True)
class TestOutcome:
    """One failed or errored test case from the JUnit XML report."""

    __test__ = False  # not a pytest test class, despite the name

    node_id: str  # file::Class::name, as pytest prints it
    rule_id: str  # "test-failed" or "test-error"
    message: str  # first line of the failure message
    path: str | None
    line: int | None  # 1-based line of the test function


@dataclass(frozen=True)
class JUnitReport:
    """The counts and the failed or errored tests of one JUnit XML report."""

    tests: int
    failures: int
    errors: int
    skipped: int
    outcomes: tuple[TestOutcome, ...]


class UnitStage(Stage):
    """Fails on any failed or errored test; no tests collected is an error."""

    name = "unit"
    tool = TOOL
    needs = ()
    options_class = UnitOptions
    description = "pytest: any failed or errored test"

    def describe_gate(self, options: UnitOptions) -> str:
        """Return the gate in one line."""
        selection = f" selected by -m {options.markers!r}" if options.markers else ""
        return f"any failed or errored test in {', '.join(options.tests)}{selection}"

    def run(self, ctx: StageContext) -> StageResult:
        """Run pytest, then build one finding per failed or errored test from the JUnit XML."""
        options: UnitOptions = ctx.options
        check_test_paths(ctx.root, options.tests)

        junit_path = ctx.out_dir / JUNIT_FILE
        junit_path.unlink(missing_ok=True)  # a report left from an earlier run is no verdict
        ctx.settings.allure_results_dir.mkdir(parents=True, exist_ok=True)
        data_file = ctx.fresh_coverage_data_file(DATA_FILE_NAME)

        argv = build_argv(ctx, options, junit_path)
        env = build_env(ctx.root, data_file)
        completed = ctx.run_tool(argv, env=env)

        report = read_junit_report(junit_path) if junit_path.is_file() else None
        check_exit_code(completed.returncode, completed.stdout, completed.stderr, report, options)
        if report is None:
            raise StageError(
                f"pytest exited {completed.returncode} but wrote no JUnit XML at {junit_path}; "
                f"see {ctx.log_path}"
            )

        findings = [outcome_finding(outcome) for outcome in report.outcomes]
        details = {
            "tests": report.tests,
            "failures": report.failures,
            "errors": report.errors,
            "skipped": report.skipped,
            "junit": str(junit_path),
        }
        if completed.returncode == EXIT_TESTS_FAILED and not findings:
            raise StageError(
                f"pytest exited 1 but its JUnit XML lists no failed test; see {ctx.log_path}"
            )
        if findings:
            message = f"{len(findings)} of {report.tests} tests failed or errored"
            return self.result(Status.FAILED, findings, message, **details)
        message = f"{report.tests - report.skipped} tests passed"
        if report.skipped:
            message += f", {report.skipped} skipped"
        return self.result(Status.PASSED, [], message, **details)


def check_test_paths(root: Path, tests: tuple[str, ...]) -> None:
    """Raise UsageError naming the first configured test path that does not exist."""
    if not tests:
        raise UsageError(
            "no test paths configured; set [tool.gauntlet.unit] tests (or GAUNTLET_UNIT_TESTS)"
        )
    for relative in tests:
        if not (root / relative).exists():
            raise UsageError(
                f"test path {relative!r} not found under {root}; fix [tool.gauntlet.unit] tests "
                f"(or GAUNTLET_UNIT_TESTS)"
            )


def build_argv(ctx: StageContext, options: UnitOptions, junit_path: Path) -> list[str]:
    """Return the pytest command line."""
    argv = ["pytest", *options.tests]

    # xunit1 is the JUnit flavour that records each test's file and line.
    argv += [f"--junitxml={junit_path}", "-o", "junit_family=xunit1"]
    argv += [f"--alluredir={ctx.settings.allure_results_dir}"]
    if options.markers:
        argv += ["-m", options.markers]

    if options.cov:
        argv += [f"--cov={coverage_source(path)}" for path in ctx.settings.paths]
        # Branch data on both unit and bdd: coverage cannot combine branch with line data.
        argv += ["--cov-branch", "--cov-report=", "--cov-fail-under=0"]

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


def build_env(root: Path, data_file: Path) -> dict[str, str]:
    """Return the environment entries pytest runs with (added to the current environment)."""
    python_path = [str(root)]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])

    return {
        "COVERAGE_FILE": str(data_file),
        "PYTHONPATH": os.pathsep.join(python_path),
    }


def check_exit_code(
    returncode: int,
    stdout: str,
    stderr: str,
    report: JUnitReport | None,
    options: UnitOptions,
) -> None:
    """Raise StageError for every pytest exit code that is not a verdict (0 or 1)."""
    if returncode in (EXIT_PASSED, EXIT_TESTS_FAILED):
        return

    if returncode == EXIT_NO_TESTS:
        selection = f" with -m {options.markers!r}" if options.markers else ""
        raise StageError(
            f"no tests collected in {', '.join(options.tests)}{selection}; add tests or fix "
            f"[tool.gauntlet.unit] tests and markers"
        )
    if returncode == EXIT_INTERRUPTED:
        raise StageError(f"pytest was interrupted: {interruption_reason(stdout, report)}")
    if returncode == EXIT_INTERNAL_ERROR:
        raise StageError(f"pytest failed internally: {last_error_line(stdout, stderr)}")
    if returncode == EXIT_USAGE_ERROR:
        line = last_error_line(stdout, stderr)
        fix = "check [tool.gauntlet.unit] and the repository's pytest configuration"
        if "unrecognized arguments" in line:
            # --cov and --alluredir come from plugins, so this pytest lacks one of them.
            fix = (
                "the pytest found on PATH lacks pytest-cov or allure-pytest; put the kit's "
                "venv first on PATH or install ci-gauntlet[tools] beside that pytest"
            )
        raise StageError(f"pytest rejected its arguments: {line}; {fix}")
    raise StageError(
        f"pytest exited with unexpected code {returncode}: {last_error_line(stdout, stderr)}"
    )


def interruption_reason(stdout: str, report: JUnitReport | None) -> str:
    """Name the collection errors behind exit code 2, or pytest's own summary line."""
    if report is not None:
        collection_errors = [
            f"{outcome.path}: {outcome.message}"
            for outcome in report.outcomes
            if outcome.rule_id == "test-error" and "::" not in outcome.node_id
        ]
        if collection_errors:
            return "cannot collect " + "; ".join(collection_errors)
    return last_error_line(stdout, "")


def last_error_line(stdout: str, stderr: str) -> str:
    """Return the last ERROR, INTERNALERROR or ``E`` line of pytest's output, else its last line."""
    for text in (stderr, stdout):
        for line in reversed(text.splitlines()):
            stripped = line.strip(" =!")
            if stripped.startswith(("ERROR", "INTERNALERROR", "Interrupted", "E ")):
                return stripped
    for text in (stderr, stdout):
        lines = [line.strip(" =!") for line in text.splitlines() if line.strip(" =!")]
        if lines:
            return lines[-1]
    return "no output"


def read_junit_report(path: Path) -> JUnitReport:
    """Parse pytest's JUnit XML (xunit1 or xunit2) into counts and failed or errored tests."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as error:
        raise StageError(f"pytest wrote an unreadable JUnit XML at {path}: {error}") from error
    return parse_junit(tree.getroot())


def parse_junit(root: ET.Element) -> JUnitReport:
    """Build a JUnitReport from a ``<testsuites>`` or ``<testsuite>`` element."""
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    outcomes: list[TestOutcome] = []

    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, "0"))
        for case in suite.iter("testcase"):
            outcomes += case_outcomes(case)

    return JUnitReport(outcomes=tuple(outcomes), **counts)


def case_outcomes(case: ET.Element) -> list[TestOutcome]:
    """Return one outcome per ``<failure>`` and ``<error>`` of a test case (none if it passed).

    A test that fails and then errors in teardown has both elements, so it gives two outcomes.
    """
    path = case.get("file") or module_path(case.get("classname", ""))
    line = int(case.get("line")) + 1 if case.get("line", "").isdigit() else None  # 0-based
    node_id = build_node_id(path, case.get("classname", ""), case.get("name", ""))

    outcomes = []
    for element in case:
        if element.tag == "failure":
            rule_id = "test-failed"
        elif element.tag == "error":
            rule_id = "test-error"
        else:
            continue
        message = failure_message(element)
        outcomes.append(TestOutcome(node_id, rule_id, message, path, line))
    return outcomes


def module_path(classname: str) -> str | None:
    """Guess a test file from a dotted classname when the report has no ``file`` attribute."""
    if not classname:
        return None
    parts = [part for part in classname.split(".") if not part[:1].isupper()]
    return "/".join(parts) + ".py" if parts else None


def build_node_id(path: str | None, classname: str, name: str) -> str:
    """Return ``file::Class::name`` for a test case, or the module name for a collection error."""
    if not classname:
        return path or name  # a collection error: pytest names the module, not a test

    if path is None:
        return f"{classname}::{name}"

    module = str(PurePosixPath(path).with_suffix("")).replace("/", ".")
    parts = [path]
    if classname.startswith(module + "."):
        parts += classname[len(module) + 1 :].split(".")  # the test's class, nested classes too
    parts.append(name)
    return "::".join(parts)


def failure_message(element: ET.Element) -> str:
    """Return the first line of a ``<failure>`` or ``<error>`` message, at most MESSAGE_LIMIT long.

    pytest's message attribute for a collection error is only "collection failure", so the last
    ``E   `` line of the traceback text names the real cause there.
    """
    message = (element.get("message") or "").strip()
    text = element.text or ""
    error_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]

    if message in ("", "collection failure") and error_lines:
        message = error_lines[-1]
    first_line = message.splitlines()[0] if message else element.tag
    return first_line[:MESSAGE_LIMIT]


def outcome_finding(outcome: TestOutcome) -> Finding:
    """Turn a failed or errored test into a gating finding."""
    verb = "failed" if outcome.rule_id == "test-failed" else "errored"
    return Finding(
        tool=TOOL,
        rule_id=outcome.rule_id,
        severity=Severity.HIGH,
        tool_severity="failure" if outcome.rule_id == "test-failed" else "error",
        message=f"{outcome.node_id} {verb}: {outcome.message}",
        fingerprint=fingerprint(TOOL, outcome.rule_id, outcome.node_id),
        path=outcome.path,
        line=outcome.line,
    )


STAGE = UnitStage()
