"""Tests of the unit stage: the JUnit parser on recorded pytest output, and real pytest runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tiny_repos
from gauntlet.errors import StageError, ToolNotFound, UsageError
from gauntlet.stage import Severity, Status
from gauntlet.stages import unit
from gauntlet.stages.unit import UnitOptions


def load_junit(fixtures_dir: Path, name: str) -> unit.JUnitReport:
    return unit.parse_junit(ET.parse(fixtures_dir / "pytest" / name).getroot())


def test_parse_junit_failing_counts(fixtures_dir):
    report = load_junit(fixtures_dir, "failing.junit.xml")

    assert report.tests == 5
    assert report.failures == 1
    assert report.errors == 2


def test_parse_junit_failing_outcomes(fixtures_dir):
    outcomes = load_junit(fixtures_dir, "failing.junit.xml").outcomes

    assert [outcome.rule_id for outcome in outcomes] == ["test-failed", "test-error", "test-error"]
    assert outcomes[0].node_id == "tests/test_broken.py::TestSubtract::test_subtract_wrong"
    assert outcomes[1].node_id == "tests/test_broken.py::TestSubtract::test_uses_broken_fixture[1]"


def test_parse_junit_failure_location(fixtures_dir):
    failed = load_junit(fixtures_dir, "failing.junit.xml").outcomes[0]

    assert failed.path == "tests/test_broken.py"
    assert failed.line == 12  # the def line; pytest writes it 0-based
    assert failed.message == "assert 2 == 3"


def test_parse_junit_setup_error_message(fixtures_dir):
    errored = load_junit(fixtures_dir, "failing.junit.xml").outcomes[1]

    assert errored.message == 'failed on setup with "RuntimeError: fixture setup failed"'


def test_parse_junit_passing_has_no_outcomes(fixtures_dir):
    report = load_junit(fixtures_dir, "passing.junit.xml")

    assert report.tests == 2
    assert report.outcomes == ()


def test_parse_junit_collection_error(fixtures_dir):
    outcomes = load_junit(fixtures_dir, "collection_error.junit.xml").outcomes

    assert len(outcomes) == 1
    assert outcomes[0].node_id == "tests/test_import.py"
    assert outcomes[0].line is None
    assert outcomes[0].message.startswith("ImportError: cannot import name 'no_such_name'")


def test_interruption_reason_names_collection_error(fixtures_dir):
    report = load_junit(fixtures_dir, "collection_error.junit.xml")

    reason = unit.interruption_reason("", report)

    assert reason.startswith("cannot collect tests/test_import.py: ImportError")


def test_outcome_finding_fields(fixtures_dir):
    outcome = load_junit(fixtures_dir, "failing.junit.xml").outcomes[0]

    finding = unit.outcome_finding(outcome)

    assert finding.tool == "pytest"
    assert finding.severity is Severity.HIGH
    assert finding.message.endswith("test_subtract_wrong failed: assert 2 == 3")
    assert (finding.path, finding.line) == ("tests/test_broken.py", 12)


def test_outcome_finding_fingerprint_ignores_line(fixtures_dir):
    outcome = load_junit(fixtures_dir, "failing.junit.xml").outcomes[0]
    moved = unit.TestOutcome(outcome.node_id, outcome.rule_id, "other", outcome.path, 99)

    assert unit.outcome_finding(outcome).fingerprint == unit.outcome_finding(moved).fingerprint


def test_build_node_id_without_file():
    assert unit.build_node_id(None, "tests.test_a.TestB", "test_c") == "tests.test_a.TestB::test_c"


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        (5, "no tests collected in tests with -m 'fast'"),
        (3, "pytest failed internally: INTERNALERROR> boom"),
        (4, "pytest rejected its arguments: ERROR: file or directory not found: nope"),
        (137, "pytest exited with unexpected code 137"),
    ],
)
def test_check_exit_code_errors(returncode, expected):
    stdout = {3: "INTERNALERROR> boom\n", 4: "", 5: "", 137: ""}[returncode]
    stderr = "ERROR: file or directory not found: nope\n" if returncode == 4 else ""

    with pytest.raises(StageError) as raised:
        unit.check_exit_code(returncode, stdout, stderr, None, UnitOptions(markers="fast"))

    assert str(raised.value).startswith(expected)


def test_check_exit_code_missing_plugin_hint():
    stderr = "pytest: error: unrecognized arguments: --alluredir=/r --cov=app\n"

    with pytest.raises(StageError) as raised:
        unit.check_exit_code(4, "", stderr, None, UnitOptions())

    assert "lacks pytest-cov or allure-pytest" in str(raised.value)


@pytest.mark.parametrize("returncode", [0, 1])
def test_check_exit_code_verdicts(returncode):
    unit.check_exit_code(returncode, "", "", None, UnitOptions())


def test_build_argv_with_coverage(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", UnitOptions(markers="not slow"), paths=("calc", "lib"))

    argv = unit.build_argv(ctx, UnitOptions(markers="not slow"), ctx.out_dir / "junit.xml")

    assert argv[:2] == ["pytest", "tests"]
    assert ["-m", "not slow"] == argv[argv.index("-m") : argv.index("-m") + 2]
    assert "--cov=calc" in argv
    assert "--cov=lib" in argv
    assert "--cov-fail-under=0" in argv
    assert f"--alluredir={ctx.settings.allure_results_dir}" in argv


def test_build_argv_without_coverage(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", UnitOptions(cov=False))

    argv = unit.build_argv(ctx, UnitOptions(cov=False, args=("-x",)), ctx.out_dir / "junit.xml")

    assert not [arg for arg in argv if arg.startswith("--cov")]
    assert argv[-1] == "-x"


@pytest.mark.parametrize(
    ("path", "expected"), [("calc", "calc"), ("app.py", "app"), ("lib/tool.py", "lib.tool")]
)
def test_coverage_source_forms(path, expected):
    assert unit.coverage_source(path) == expected


def test_build_env_puts_root_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")

    env = unit.build_env(tmp_path, tmp_path / ".coverage.unit")

    assert env["PYTHONPATH"] == f"{tmp_path}:/elsewhere"
    assert env["COVERAGE_FILE"] == str(tmp_path / ".coverage.unit")


def test_missing_test_path_is_usage_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", {"calc/__init__.py": ""})
    ctx = make_context(root, UnitOptions(tests=("spec",)), stage="unit")

    with pytest.raises(UsageError, match="^test path 'spec' not found"):
        unit.STAGE.run(ctx)


def test_pytest_missing_from_path(make_context, write_repo, tmp_path, monkeypatch):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, UnitOptions(), stage="unit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(ToolNotFound, match="'pytest'"):
        unit.STAGE.run(ctx)


def test_options_defaults():
    options = UnitOptions()

    assert options.tests == ("tests",)
    assert options.cov is True


@pytest.mark.slow
def test_run_passes_on_clean_repo(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, UnitOptions(), paths=("calc",), stage="unit")

    result = unit.STAGE.run(ctx)

    assert result.status is Status.PASSED
    assert result.details["tests"] == 2
    assert (ctx.settings.coverage_data_dir / ".coverage.unit").is_file()
    assert list(ctx.settings.allure_results_dir.glob("*-result.json"))


@pytest.mark.slow
def test_run_fails_on_failing_test(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.with_failing_test())
    ctx = make_context(root, UnitOptions(), paths=("calc",), stage="unit")

    result = unit.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [finding.rule_id for finding in result.findings] == [
        "test-failed",
        "test-error",
        "test-error",
    ]
    assert result.findings[0].path == "tests/test_broken.py"


@pytest.mark.slow
def test_run_no_tests_collected_is_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.without_tests())
    ctx = make_context(root, UnitOptions(), paths=("calc",), stage="unit")

    with pytest.raises(StageError, match="no tests collected in tests"):
        unit.STAGE.run(ctx)


@pytest.mark.slow
def test_run_marker_selecting_nothing_is_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, UnitOptions(markers="nothing", cov=False), stage="unit")

    with pytest.raises(StageError, match="no tests collected in tests with -m 'nothing'"):
        unit.STAGE.run(ctx)


@pytest.mark.slow
def test_run_collection_error_is_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.with_collection_error())
    ctx = make_context(root, UnitOptions(), paths=("calc",), stage="unit")

    with pytest.raises(StageError, match="cannot collect tests/test_import.py: ImportError"):
        unit.STAGE.run(ctx)


@pytest.mark.slow
def test_run_replaces_stale_coverage_data(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, UnitOptions(cov=False), paths=("calc",), stage="unit")
    stale = ctx.settings.coverage_data_dir / ".coverage.unit.old-run"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    other_stage = ctx.settings.coverage_data_dir / ".coverage.bdd.host.1.abc"
    other_stage.write_text("kept")

    unit.STAGE.run(ctx)

    assert not stale.exists()
    assert other_stage.exists()


@pytest.mark.slow
def test_run_without_junit_report_is_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    # A later --junitxml wins in pytest, so the stage's own report path stays empty.
    options = UnitOptions(cov=False, args=(f"--junitxml={tmp_path / 'elsewhere.xml'}",))
    ctx = make_context(root, options, stage="unit")

    with pytest.raises(StageError, match="pytest exited 0 but wrote no JUnit XML at"):
        unit.STAGE.run(ctx)
