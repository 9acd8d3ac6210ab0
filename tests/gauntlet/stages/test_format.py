"""Tests of the format stage: black's output parsed from recorded runs, and black run for real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gauntlet.errors import StageError, ToolNotFound
from gauntlet.stage import Severity, Status
from gauntlet.stages import format as format_stage
from gauntlet.stages.format import FormatOptions

RECORDED_ROOT = Path("/tmp/gauntlet-fixture-repo")  # where record.sh ran black

CLEAN = '"""A clean module."""\n\n\ndef add(left: int, right: int) -> int:\n    """Return the sum."""\n    return left + right\n'
MESSY = "def add( left,right ):\n    return {  'sum':left+right }\n"


def recorded(fixtures_dir: Path, name: str) -> str:
    return (fixtures_dir / "black" / name).read_text(encoding="utf-8")


def test_parse_output_one_finding_per_file(fixtures_dir):
    findings = format_stage.parse_output(
        recorded(fixtures_dir, "would_reformat.stdout"),
        recorded(fixtures_dir, "would_reformat.stderr"),
        RECORDED_ROOT,
    )

    assert [finding.path for finding in findings] == ["src/app/quotes.py", "src/app/messy.py"]
    assert {finding.rule_id for finding in findings} == {"would-reformat"}
    assert {finding.severity for finding in findings} == {Severity.LOW}
    assert all(finding.gating for finding in findings)


def test_parse_output_first_changed_line(fixtures_dir):
    findings = format_stage.parse_output(
        recorded(fixtures_dir, "would_reformat.stdout"),
        recorded(fixtures_dir, "would_reformat.stderr"),
        RECORDED_ROOT,
    )
    lines = {finding.path: finding.line for finding in findings}

    assert lines["src/app/quotes.py"] == 3
    assert lines["src/app/messy.py"] == 6


def test_parse_output_counts_changed_lines(fixtures_dir):
    findings = format_stage.parse_output(
        recorded(fixtures_dir, "would_reformat.stdout"),
        recorded(fixtures_dir, "would_reformat.stderr"),
        RECORDED_ROOT,
    )
    messages = {finding.path: finding.message for finding in findings}

    assert "+2 -2 lines" in messages["src/app/messy.py"]
    assert "+1 -1 lines" in messages["src/app/quotes.py"]


def test_fingerprint_ignores_diff_and_line(fixtures_dir):
    findings = format_stage.parse_output(
        recorded(fixtures_dir, "would_reformat.stdout"),
        recorded(fixtures_dir, "would_reformat.stderr"),
        RECORDED_ROOT,
    )
    without_diff = format_stage.parse_output(
        "", recorded(fixtures_dir, "would_reformat.stderr"), RECORDED_ROOT
    )

    assert [f.fingerprint for f in findings] == [f.fingerprint for f in without_diff]
    assert len({f.fingerprint for f in findings}) == 2


def test_split_diff_skips_fake_header():
    diff = "--- a.py\t2026-01-01\n+++ a.py\t2026-01-01\n@@ -1,2 +1,2 @@\n" "--- b.py\n+++ b.py\n"

    parts = format_stage.split_diff(diff, {"a.py"})

    assert [part.path for part in parts] == ["a.py"]
    assert parts[0].removed == 1
    assert parts[0].added == 1


def test_exit_123_names_unparsable_file(fixtures_dir):
    assert recorded(fixtures_dir, "syntax_error.rc").strip() == "123"

    with pytest.raises(StageError, match=r"syntax_error\.py"):
        format_stage.check_exit_code(123, recorded(fixtures_dir, "syntax_error.stderr"))


def test_exit_2_is_usage_error(fixtures_dir):
    assert recorded(fixtures_dir, "usage.rc").strip() == "2"

    with pytest.raises(StageError, match="no-such-option"):
        format_stage.check_exit_code(2, recorded(fixtures_dir, "usage.stderr"))


def test_exit_unknown_code_is_error():
    with pytest.raises(StageError, match="unexpected code 7"):
        format_stage.check_exit_code(7, "")


@pytest.mark.parametrize("code", [0, 1])
def test_exit_verdict_codes_accepted(code):
    format_stage.check_exit_code(code, "")


def test_force_exclude_matches_excluded_dir(tmp_path):
    pattern = re.compile(format_stage.merged_force_exclude(tmp_path, ("tests/vulnerable_app",)))

    assert pattern.search("/tests/vulnerable_app/views.py")
    assert pattern.search("/tests/vulnerable_app/")
    assert pattern.search("/" + (tmp_path / "tests/vulnerable_app/views.py").as_posix().lstrip("/"))
    assert not pattern.search("/tests/vulnerable_application.py")
    assert not pattern.search("/src/tests/vulnerable_app/views.py")


def test_force_exclude_keeps_repository_pattern(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.black]\nforce-exclude = "generated/"\n', encoding="utf-8"
    )

    merged = format_stage.merged_force_exclude(tmp_path, ("vendor",))

    assert re.search(merged, "/src/generated/x.py")
    assert re.search(merged, "/vendor/x.py")


def test_force_exclude_empty_without_exclude(tmp_path):
    assert format_stage.merged_force_exclude(tmp_path, ()) == ""


def test_describe_gate_names_paths():
    assert "src" in format_stage.STAGE.describe_gate(FormatOptions(paths=("src",)))


def test_missing_source_path_is_error(tmp_path, make_context):
    ctx = make_context(tmp_path / "repo", FormatOptions(), paths=("missing",), stage="format")

    with pytest.raises(StageError, match="'missing' does not exist"):
        format_stage.STAGE.run(ctx)


def test_black_missing_from_path(tmp_path, make_context, write_repo, monkeypatch):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, FormatOptions(), stage="format")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(ToolNotFound, match="black"):
        format_stage.STAGE.run(ctx)


@pytest.mark.slow
def test_black_fails_on_misformatted_file(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/pkg/messy.py": MESSY})
    ctx = make_context(root, FormatOptions(), stage="format")

    result = format_stage.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [finding.path for finding in result.findings] == ["src/pkg/messy.py"]
    assert result.findings[0].line == 1
    assert "+2 -2" in result.findings[0].message
    assert "'sum'" in (ctx.out_dir / "black.diff").read_text(encoding="utf-8")
    assert "would reformat" in ctx.log_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_black_passes_clean_code(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, FormatOptions(), stage="format")

    result = format_stage.STAGE.run(ctx)

    assert result.status is Status.PASSED
    assert result.findings == []


@pytest.mark.slow
def test_black_syntax_error_is_stage_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/broken.py": "def f(:\n"})
    ctx = make_context(root, FormatOptions(), stage="format")

    with pytest.raises(StageError, match=r"broken\.py"):
        format_stage.STAGE.run(ctx)


@pytest.mark.slow
def test_black_skips_global_exclude(tmp_path, make_context, write_repo):
    root = write_repo(
        tmp_path / "repo",
        {"src/app.py": CLEAN, "src/vendored/messy.py": MESSY, "pyproject.toml": "[tool.black]\n"},
    )
    ctx = make_context(root, FormatOptions(), exclude=("src/vendored",), stage="format")

    result = format_stage.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_black_reads_repository_config(tmp_path, make_context, write_repo):
    long_line = "VALUE = [" + ", ".join(str(number) for number in range(30)) + "]\n"
    root = write_repo(
        tmp_path / "repo",
        {"src/app.py": long_line, "pyproject.toml": "[tool.black]\nline-length = 200\n"},
    )
    ctx = make_context(root, FormatOptions(), stage="format")

    result = format_stage.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_options_paths_override_global(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "other/messy.py": MESSY})
    ctx = make_context(root, FormatOptions(paths=("other",)), stage="format")

    result = format_stage.STAGE.run(ctx)

    assert [finding.path for finding in result.findings] == ["other/messy.py"]
