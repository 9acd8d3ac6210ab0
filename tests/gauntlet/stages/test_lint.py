"""Tests of the lint stage: pylint's json2 report parsed from recorded runs, and pylint run for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet.errors import StageError, ToolNotFound, UsageError
from gauntlet.stage import Severity, Status
from gauntlet.stages import lint
from gauntlet.stages.lint import LintOptions

CLEAN = '"""A clean module."""\n\n\ndef add(left: int, right: int) -> int:\n    """Return the sum."""\n    return left + right\n'
UNDEFINED = '"""A module with a typo."""\n\n\ndef total(values):\n    """Return the sum."""\n    return sum(values) + offsett\n'


def recorded_report(fixtures_dir: Path, name: str) -> lint.LintReport:
    return lint.read_report(fixtures_dir / "pylint" / f"{name}.json")


def recorded_rc(fixtures_dir: Path, name: str) -> int:
    return int((fixtures_dir / "pylint" / f"{name}.rc").read_text(encoding="utf-8"))


def recorded_findings(fixtures_dir: Path, name: str, fail_on=("E", "F")) -> list:
    report = recorded_report(fixtures_dir, name)
    return lint.build_findings(report.messages, fail_on, fixtures_dir / "pylint" / "repo")


def test_read_report_messages_and_score(fixtures_dir):
    report = recorded_report(fixtures_dir, "defects")

    assert len(report.messages) == 4
    assert report.score == 0.0


def test_read_report_fractional_score(fixtures_dir):
    assert recorded_report(fixtures_dir, "low_score").score == pytest.approx(8.89, abs=0.01)


def test_read_report_clean_score(fixtures_dir):
    assert recorded_report(fixtures_dir, "clean").score == 10.0


def test_read_report_empty_file_is_error(fixtures_dir):
    with pytest.raises(StageError, match="unreadable"):
        recorded_report(fixtures_dir, "usage")


def test_read_report_missing_file_is_error(tmp_path):
    with pytest.raises(StageError, match="no report"):
        lint.read_report(tmp_path / "pylint.json")


def test_findings_rule_ids(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects")

    assert [finding.rule_id for finding in findings] == [
        "E0602/undefined-variable",
        "W0612/unused-variable",
        "C0116/missing-function-docstring",
        "W0611/unused-import",
    ]


def test_findings_severity_map(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects")
    severity = {finding.rule_id: finding.severity for finding in findings}

    assert severity["E0602/undefined-variable"] is Severity.HIGH
    assert severity["W0611/unused-import"] is Severity.MEDIUM
    assert severity["C0116/missing-function-docstring"] is Severity.LOW


def test_findings_location(fixtures_dir):
    finding = recorded_findings(fixtures_dir, "defects")[0]

    assert finding.path == "src/app/defects.py"
    assert finding.line == 9
    assert finding.column == 25
    assert finding.tool_severity == "error"


def test_findings_gating_default_fail_on(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects")
    gating = [finding.rule_id for finding in findings if finding.gating]

    assert gating == ["E0602/undefined-variable"]


def test_findings_gating_by_message_id(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects", fail_on=("W0611",))
    gating = [finding.rule_id for finding in findings if finding.gating]

    assert gating == ["W0611/unused-import"]


def test_findings_gating_by_symbol(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects", fail_on=("unused-variable",))
    gating = [finding.rule_id for finding in findings if finding.gating]

    assert gating == ["W0612/unused-variable"]


def test_syntax_error_always_gates(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "syntax_error", fail_on=())

    assert findings[0].rule_id == "E0001/syntax-error"
    assert findings[0].gating


def test_fingerprint_survives_line_shift(fixtures_dir, tmp_path):
    source = fixtures_dir / "pylint" / "repo" / "src" / "app" / "defects.py"
    shifted = tmp_path / "src" / "app" / "defects.py"
    shifted.parent.mkdir(parents=True)
    shifted.write_text("# one more line\n" + source.read_text(encoding="utf-8"), encoding="utf-8")
    messages = recorded_report(fixtures_dir, "defects").messages
    moved = [{**message, "line": message["line"] + 1} for message in messages]

    original = lint.build_findings(messages, ("E",), fixtures_dir / "pylint" / "repo")
    after_shift = lint.build_findings(moved, ("E",), tmp_path)

    assert [f.fingerprint for f in original] == [f.fingerprint for f in after_shift]


def test_fingerprint_differs_per_message(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects")

    assert len({finding.fingerprint for finding in findings}) == len(findings)


def test_exit_usage_bit_is_error(fixtures_dir):
    stderr = (fixtures_dir / "pylint" / "usage.stderr").read_text(encoding="utf-8")
    returncode = recorded_rc(fixtures_dir, "usage")

    assert returncode == 32
    with pytest.raises(StageError, match="no-such-option"):
        lint.check_exit_code(returncode, stderr)


@pytest.mark.parametrize(
    "name", ["defects", "clean", "low_score", "syntax_error", "missing_module"]
)
def test_exit_bits_match_recorded_reports(fixtures_dir, name):
    returncode = recorded_rc(fixtures_dir, name)
    report = recorded_report(fixtures_dir, name)

    lint.check_exit_code(returncode, "")
    lint.check_report_matches_exit_code(report, returncode)


def test_exit_bits_without_messages_is_error(fixtures_dir):
    report = recorded_report(fixtures_dir, "clean")

    with pytest.raises(StageError, match="exited 2"):
        lint.check_report_matches_exit_code(report, 2)


def test_exit_one_from_own_fail_under_accepted(fixtures_dir):
    lint.check_report_matches_exit_code(recorded_report(fixtures_dir, "clean"), 1)


def test_missing_module_is_error(fixtures_dir):
    report = recorded_report(fixtures_dir, "missing_module")

    with pytest.raises(StageError, match="absent.py"):
        lint.check_missing_modules(report)


def test_verdict_score_only_failure(fixtures_dir):
    report = recorded_report(fixtures_dir, "low_score")
    findings = recorded_findings(fixtures_dir, "low_score")

    result = lint.STAGE.verdict(findings, report.score, LintOptions())

    assert result.status is Status.FAILED
    assert result.message == "score 8.89 < fail_under 9.00"
    assert result.gating_findings == []


def test_verdict_score_met_passes(fixtures_dir):
    report = recorded_report(fixtures_dir, "low_score")
    findings = recorded_findings(fixtures_dir, "low_score")

    result = lint.STAGE.verdict(findings, report.score, LintOptions(fail_under=8.5))

    assert result.status is Status.PASSED
    assert len(result.findings) == 2


def test_verdict_fail_on_beats_score(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "defects")

    result = lint.STAGE.verdict(findings, 10.0, LintOptions(fail_under=0.0))

    assert result.status is Status.FAILED
    assert result.message == "1 message(s) match fail_on (E, F)"


def test_verdict_without_score_is_error():
    with pytest.raises(StageError, match="no score"):
        lint.STAGE.verdict([], None, LintOptions())


@pytest.mark.parametrize("value", [-0.5, 10.5, "ninety", True])
def test_options_fail_under_invalid(value):
    with pytest.raises(UsageError, match="fail_under"):
        LintOptions(fail_under=value)


@pytest.mark.parametrize("entry", ["X", "W06", "Unused Import", "", 5])
def test_options_fail_on_invalid(entry):
    with pytest.raises(UsageError, match="fail_on"):
        LintOptions(fail_on=(entry,))


@pytest.mark.parametrize("value", [-1, 1.5, "2"])
def test_options_jobs_invalid(value):
    with pytest.raises(UsageError, match="jobs"):
        LintOptions(jobs=value)


def test_options_fail_on_accepted_forms():
    options = LintOptions(fail_on=("E", "W0611", "unused-import"))

    assert options.fail_on == ("E", "W0611", "unused-import")


def test_describe_gate_names_threshold():
    assert (
        lint.STAGE.describe_gate(LintOptions())
        == "pylint score < 9.00, or any message matching E, F"
    )


def test_missing_rcfile_is_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, LintOptions(rcfile="nope.rc"), stage="lint")

    with pytest.raises(StageError, match="'nope.rc' not found"):
        lint.STAGE.run(ctx)


def test_no_python_files_is_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/readme.txt": "text"})
    ctx = make_context(root, LintOptions(), stage="lint")

    with pytest.raises(StageError, match="no Python files"):
        lint.STAGE.run(ctx)


def test_pylint_missing_from_path(tmp_path, make_context, write_repo, monkeypatch):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, LintOptions(), stage="lint")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(ToolNotFound, match="pylint"):
        lint.STAGE.run(ctx)


@pytest.mark.slow
def test_pylint_fails_on_undefined_name(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/typo.py": UNDEFINED})
    ctx = make_context(root, LintOptions(fail_under=0.0), stage="lint")

    result = lint.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [finding.rule_id for finding in result.gating_findings] == ["E0602/undefined-variable"]
    assert result.gating_findings[0].path == "src/typo.py"
    assert (ctx.out_dir / "pylint.json").is_file()
    assert "undefined-variable" in ctx.log_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_pylint_passes_clean_code(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, LintOptions(), stage="lint")

    result = lint.STAGE.run(ctx)

    assert result.status is Status.PASSED
    assert result.details["score"] == 10.0


@pytest.mark.slow
def test_pylint_score_gate_trips(tmp_path, make_context, write_repo, fixtures_dir):
    mostly = (fixtures_dir / "pylint" / "repo" / "src" / "app" / "mostly.py").read_text(
        encoding="utf-8"
    )
    root = write_repo(tmp_path / "repo", {"src/mostly.py": mostly})
    ctx = make_context(root, LintOptions(), stage="lint")

    result = lint.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert result.message == "score 8.89 < fail_under 9.00"


@pytest.mark.slow
def test_pylint_usage_error_is_stage_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, LintOptions(args=("--no-such-option",)), stage="lint")

    with pytest.raises(StageError, match="rejected its arguments"):
        lint.STAGE.run(ctx)


@pytest.mark.slow
def test_pylint_reads_repository_config(tmp_path, make_context, write_repo):
    pyproject = '[tool.pylint."messages control"]\ndisable = ["undefined-variable"]\n'
    root = write_repo(tmp_path / "repo", {"src/typo.py": UNDEFINED, "pyproject.toml": pyproject})
    ctx = make_context(root, LintOptions(), stage="lint")

    result = lint.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_pylint_skips_global_exclude(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/legacy/typo.py": UNDEFINED})
    ctx = make_context(root, LintOptions(), exclude=("src/legacy",), stage="lint")

    result = lint.STAGE.run(ctx)

    assert result.status is Status.PASSED
