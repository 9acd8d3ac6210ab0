"""Tests of the bdd stage: the JSON and summary parsers on recorded behave output, real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tiny_repos
from gauntlet.errors import StageError, ToolNotFound, UsageError
from gauntlet.stage import Severity, Status
from gauntlet.stages import bdd
from gauntlet.stages.bdd import BddOptions


def load_case(fixtures_dir: Path, case: str) -> tuple[list[bdd.ScenarioOutcome], str]:
    features = json.loads((fixtures_dir / "behave" / f"{case}.json").read_text(encoding="utf-8"))
    stdout = (fixtures_dir / "behave" / f"{case}.txt").read_text(encoding="utf-8")
    return bdd.parse_json_report(features, bdd.parse_step_errors(stdout)), stdout


def mixed_findings(fixtures_dir: Path) -> list:
    scenarios, stdout = load_case(fixtures_dir, "mixed")
    return bdd.build_findings(scenarios, bdd.parse_failure_summary(stdout))


def test_parse_json_report_counts_scenarios(fixtures_dir):
    scenarios, _ = load_case(fixtures_dir, "mixed")

    assert len(scenarios) == 9  # background elements are not scenarios


def test_parse_json_report_derives_outline_status(fixtures_dir):
    scenarios, _ = load_case(fixtures_dir, "mixed")
    row = next(scenario for scenario in scenarios if scenario.line == 40)

    assert row.status == "failed"  # behave 1.3.3 writes no status on this row
    assert row.failed_step == "Then the result is 5: ASSERT FAILED: expected 5, got 4"


def test_parse_json_report_undefined_step(fixtures_dir):
    scenarios, _ = load_case(fixtures_dir, "mixed")
    divide = next(scenario for scenario in scenarios if scenario.name == "divide two numbers")

    assert divide.undefined_steps == ((20, "When I divide them"),)


def test_parse_step_errors_reads_exception_line(fixtures_dir):
    _, stdout = load_case(fixtures_dir, "mixed")

    assert bdd.parse_step_errors(stdout) == ["ZeroDivisionError: division by zero in a step"]


def test_parse_json_report_error_without_text(fixtures_dir):
    features = json.loads((fixtures_dir / "behave" / "mixed.json").read_text(encoding="utf-8"))

    crash = bdd.parse_json_report(features)[4]

    assert crash.failed_step == "When I crash: raised an exception"


def test_parse_failure_summary_entries(fixtures_dir):
    _, stdout = load_case(fixtures_dir, "mixed")

    entries = bdd.parse_failure_summary(stdout)

    assert [(path, line) for path, line, _ in entries] == [
        ("features/calc.feature", 13),
        ("features/calc.feature", 40),
        ("features/calc.feature", 18),
        ("features/calc.feature", 23),
        ("features/calc.feature", 27),
    ]
    assert entries[1][2] == "multiply by 2 -- @1.2"


def test_build_findings_rules_and_lines(fixtures_dir):
    findings = mixed_findings(fixtures_dir)

    assert [(finding.rule_id, finding.line) for finding in findings] == [
        ("scenario-failed", 13),
        ("step-undefined", 20),
        ("scenario-failed", 23),
        ("scenario-failed", 40),
        ("scenario-failed", 27),
    ]


def test_build_findings_step_exception_message(fixtures_dir):
    crash = mixed_findings(fixtures_dir)[2]

    assert crash.message == (
        "scenario 'crash in a step' failed: When I crash: "
        "ZeroDivisionError: division by zero in a step"
    )


def test_build_findings_hook_error_from_summary(fixtures_dir):
    hook = mixed_findings(fixtures_dir)[4]

    assert hook.message == (
        "scenario 'hook fails afterwards' failed: status hook_error with no failed step"
    )


def test_build_findings_ignores_misplaced_status(fixtures_dir):
    lines = [finding.line for finding in mixed_findings(fixtures_dir)]

    assert 43 not in lines  # the Rule's Background, which carries the outline row's status
    assert 46 not in lines


def test_build_findings_fields(fixtures_dir):
    undefined = mixed_findings(fixtures_dir)[1]

    assert undefined.tool == "behave"
    assert undefined.severity is Severity.HIGH
    assert undefined.path == "features/calc.feature"
    assert undefined.message == (
        "undefined step 'When I divide them' in scenario 'divide two numbers'; implement it"
    )


def test_describe_findings_counts(fixtures_dir):
    text = bdd.describe_findings(mixed_findings(fixtures_dir))

    assert text == "4 failed scenarios and 1 undefined step"


def test_build_findings_passing_is_empty(fixtures_dir):
    scenarios, stdout = load_case(fixtures_dir, "passing")

    findings = bdd.build_findings(scenarios, bdd.parse_failure_summary(stdout))

    assert findings == []
    assert bdd.count_statuses(scenarios) == {"passed": 2}


def test_build_argv_pairs_each_formatter_with_output(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", BddOptions(), paths=("calc",))
    argv = bdd.build_argv(ctx, BddOptions(tags="not @wip"), ctx.out_dir / "behave.json")

    formats = [argv[index + 1] for index, arg in enumerate(argv) if arg == "-f"]
    outputs = [argv[index + 1] for index, arg in enumerate(argv) if arg == "-o"]

    assert formats == ["plain", bdd.ALLURE_FORMATTER, "json"]
    assert outputs == ["-", str(ctx.settings.allure_results_dir), str(ctx.out_dir / "behave.json")]
    for index, arg in enumerate(argv):
        if arg == "-f":
            assert argv[index + 2] == "-o"


def test_build_argv_under_coverage(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", BddOptions(), paths=("calc", "lib"))

    argv = bdd.build_argv(ctx, BddOptions(), ctx.out_dir / "behave.json")

    assert argv[:7] == [
        "coverage",
        "run",
        "--parallel-mode",
        "--branch",
        "--source=calc,lib",
        "-m",
        "behave",
    ]


def test_build_argv_file_source_as_module(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", BddOptions(), paths=("app.py",))

    argv = bdd.build_argv(ctx, BddOptions(), ctx.out_dir / "behave.json")

    assert "--source=app" in argv


def test_build_argv_without_coverage(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", BddOptions(cov=False))

    argv = bdd.build_argv(ctx, BddOptions(cov=False, args=("--stop",)), ctx.out_dir / "behave.json")

    assert argv[:2] == ["behave", "features"]
    assert argv[-1] == "--stop"


def test_split_location_without_line():
    assert bdd.split_location("features/a.feature") == ("features/a.feature", 0)


def test_missing_features_dir_is_usage_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", {"calc/__init__.py": ""})
    ctx = make_context(root, BddOptions(features="specs"), stage="bdd")

    with pytest.raises(UsageError, match="^features directory 'specs' not found"):
        bdd.STAGE.run(ctx)


def test_coverage_missing_from_path(make_context, write_repo, tmp_path, monkeypatch):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, BddOptions(), stage="bdd")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(ToolNotFound, match="'coverage'"):
        bdd.STAGE.run(ctx)


@pytest.mark.slow
def test_run_passes_on_clean_repo(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.clean_repo())
    ctx = make_context(root, BddOptions(), paths=("calc",), stage="bdd")

    result = bdd.STAGE.run(ctx)

    assert result.status is Status.PASSED
    assert result.details["statuses"] == {"passed": 2}
    assert list(ctx.settings.coverage_data_dir.glob(".coverage.bdd.*"))
    assert list(ctx.settings.allure_results_dir.glob("*-result.json"))


@pytest.mark.slow
def test_run_fails_on_failing_step(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.with_failing_step())
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    result = bdd.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [(finding.rule_id, finding.line) for finding in result.findings] == [
        ("scenario-failed", 8)
    ]


@pytest.mark.slow
def test_run_fails_on_undefined_step(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.with_undefined_step())
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    result = bdd.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [(finding.rule_id, finding.line) for finding in result.findings] == [
        ("step-undefined", 15)
    ]


@pytest.mark.slow
def test_run_no_scenarios_is_error(make_context, write_repo, tmp_path):
    root = write_repo(tmp_path / "repo", tiny_repos.without_scenarios())
    ctx = make_context(root, BddOptions(tags="not @wip", cov=False), stage="bdd")

    with pytest.raises(StageError, match="no scenarios ran in features with tags 'not @wip'"):
        bdd.STAGE.run(ctx)


@pytest.mark.slow
def test_run_features_without_steps_is_error(make_context, write_repo, tmp_path):
    files = tiny_repos.clean_repo()
    del files["features/steps/calc_steps.py"]
    root = write_repo(tmp_path / "repo", files)
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    with pytest.raises(StageError, match="behave wrote no JSON report: ConfigError: No steps"):
        bdd.STAGE.run(ctx)


@pytest.mark.slow
def test_run_before_all_hook_error_is_error(make_context, write_repo, tmp_path):
    files = tiny_repos.clean_repo()
    files["features/environment.py"] = (
        "def before_all(context):\n    raise RuntimeError('before_all failed')\n"
    )
    root = write_repo(tmp_path / "repo", files)
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    expected = (
        "behave exited 1 without a failed scenario or undefined step: HOOK-ERROR in before_all"
    )
    with pytest.raises(StageError, match=expected):
        bdd.STAGE.run(ctx)


@pytest.mark.slow
def test_run_feature_syntax_error_is_error(make_context, write_repo, tmp_path):
    files = tiny_repos.clean_repo()
    files["features/broken.feature"] = (
        "Feature: Broken\n  Scenario: x\n    Given the numbers 1 and 2\nFeature: Second\n"
    )
    root = write_repo(tmp_path / "repo", files)
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    with pytest.raises(
        StageError, match="behave wrote no JSON report: ParserError: Failed to parse"
    ):
        bdd.STAGE.run(ctx)


@pytest.mark.slow
def test_run_step_import_error_is_error(make_context, write_repo, tmp_path):
    files = tiny_repos.clean_repo()
    files["features/steps/broken_steps.py"] = "import no_such_module\n"
    root = write_repo(tmp_path / "repo", files)
    ctx = make_context(root, BddOptions(cov=False), stage="bdd")

    expected = "behave wrote no JSON report: ModuleNotFoundError: No module named 'no_such_module'"
    with pytest.raises(StageError, match=expected):
        bdd.STAGE.run(ctx)


@pytest.mark.parametrize(
    ("stdout", "stderr", "expected"),
    [
        (
            "USING RUNNER: x\nHOOK-ERROR in before_all: E\n",
            "ABORTED",
            "HOOK-ERROR in before_all: E",
        ),
        ("ConfigError: No feature files in 'x'\n", "", "ConfigError: No feature files in 'x'"),
        ("", "some\nlast words\n", "last words"),
    ],
)
def test_behave_error_line_picks_error(stdout, stderr, expected):
    assert bdd.behave_error_line(stdout, stderr) == expected
