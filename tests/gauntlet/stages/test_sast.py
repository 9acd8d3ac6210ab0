"""Tests of the sast stage: bandit's JSON report parsed from recorded runs, and bandit run for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gauntlet.errors import StageError, ToolNotFound, UsageError
from gauntlet.stage import Severity, Status
from gauntlet.stages import sast
from gauntlet.stages.sast import SastOptions

CLEAN = '"""A clean module."""\n\n\ndef add(left: int, right: int) -> int:\n    """Return the sum."""\n    return left + right\n'
SHELL = (
    '"""Runs a command from the caller."""\n\nimport subprocess  # nosec B404\n\n\n'
    "def run(cmd):\n"
    '    """Run it through a shell."""\n'
    "    return subprocess.run(cmd, shell=True, check=False)\n"
)


def recorded(fixtures_dir: Path, name: str) -> dict:
    return sast.read_report(fixtures_dir / "bandit" / f"{name}.json")


def recorded_rc(fixtures_dir: Path, name: str) -> int:
    return int((fixtures_dir / "bandit" / f"{name}.rc").read_text(encoding="utf-8"))


def recorded_findings(fixtures_dir: Path, name: str, options=SastOptions()) -> list:
    root = fixtures_dir / "bandit" / "repo"
    return sast.build_findings(recorded(fixtures_dir, name)["results"], root, options)


def by_location(findings: list) -> dict:
    return {(finding.path, finding.line): finding for finding in findings}


def test_findings_one_per_issue(fixtures_dir):
    assert len(recorded_findings(fixtures_dir, "issues")) == 8


def test_findings_shell_injection(fixtures_dir):
    finding = by_location(recorded_findings(fixtures_dir, "issues"))[("src/app/shell.py", 8)]

    assert finding.rule_id == "B602"
    assert finding.severity is Severity.HIGH
    assert finding.tool_severity == "HIGH (confidence HIGH)"
    assert finding.help_url.startswith("https://bandit.readthedocs.io/")
    assert "shell=True" in finding.message


def test_findings_severity_map(fixtures_dir):
    severity = {f.rule_id: f.severity for f in recorded_findings(fixtures_dir, "issues")}

    assert severity["B301"] is Severity.MEDIUM
    assert severity["B101"] is Severity.LOW


def test_nosec_with_id_suppresses_only_that_test(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "issues")
    in_nosec_file = sorted((f.line, f.rule_id) for f in findings if f.path == "src/app/nosec.py")

    assert in_nosec_file == [(13, "B602")]


def test_gating_default_thresholds(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "issues")

    assert all(finding.gating for finding in findings)


def test_gating_severity_threshold(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "issues", SastOptions(severity="medium"))
    gating = sorted(f.rule_id for f in findings if f.gating)

    assert gating == ["B104", "B301", "B602", "B602"]


def test_gating_confidence_threshold(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "issues", SastOptions(confidence="high"))
    not_gating = sorted(f.rule_id for f in findings if not f.gating)

    assert not_gating == ["B104", "B105"]


def test_fingerprint_ignores_line_number(fixtures_dir):
    findings = recorded_findings(fixtures_dir, "second_copy")
    shell = [f for f in findings if f.path == "src/app/shell.py" and f.rule_id == "B602"]

    assert [finding.line for finding in shell] == [8, 13]
    assert shell[0].fingerprint == shell[1].fingerprint


def test_fingerprint_same_for_relative_and_absolute(fixtures_dir):
    root = fixtures_dir / "bandit" / "repo"
    issue = recorded(fixtures_dir, "issues")["results"][0]
    absolute = {**issue, "filename": str(root / issue["filename"])}

    assert sast.issue_fingerprint(issue, root) == sast.issue_fingerprint(absolute, root)


def test_code_line_from_excerpt(fixtures_dir):
    issue = recorded(fixtures_dir, "issues")["results"][-1]

    assert sast.code_line(issue) == (
        'return subprocess.run(f"tar czf {name}.tgz {name}", shell=True, check=False)'
    )


def test_baseline_covers_known_issues(fixtures_dir):
    root = fixtures_dir / "bandit" / "repo"
    baseline = sast.load_baseline(root, "../baseline.json")

    findings, baselined = sast.apply_baseline(recorded_findings(fixtures_dir, "issues"), baseline)

    assert baselined == 8
    assert not any(finding.gating for finding in findings)


def test_baseline_second_copy_still_gates(fixtures_dir):
    root = fixtures_dir / "bandit" / "repo"
    baseline = sast.load_baseline(root, "../baseline.json")

    findings, baselined = sast.apply_baseline(
        recorded_findings(fixtures_dir, "second_copy"), baseline
    )
    gating = [(f.path, f.line, f.rule_id) for f in findings if f.gating]

    assert baselined == 8
    assert gating == [("src/app/shell.py", 13, "B602")]


def test_bandit_own_baseline_absorbs_second_copy(fixtures_dir):
    # Recorded with bandit -b: the reason the stage matches the baseline itself.
    assert recorded_rc(fixtures_dir, "second_copy_bandit_baseline") == 0
    assert recorded(fixtures_dir, "second_copy_bandit_baseline")["results"] == []


def test_baseline_missing_file_is_error(tmp_path):
    with pytest.raises(StageError, match="'nope.json' not found"):
        sast.load_baseline(tmp_path, "nope.json")


def test_syntax_error_file_is_error(fixtures_dir):
    report = recorded(fixtures_dir, "syntax_error")

    with pytest.raises(StageError, match=r"src/app/syntax_error\.py \(syntax error"):
        sast.check_errors(report, fixtures_dir / "bandit" / "repo")


def test_clean_report_has_no_errors(fixtures_dir):
    sast.check_errors(recorded(fixtures_dir, "clean"), fixtures_dir / "bandit" / "repo")


def test_exit_2_is_usage_error(fixtures_dir):
    stderr = (fixtures_dir / "bandit" / "usage.stderr").read_text(encoding="utf-8")

    assert recorded_rc(fixtures_dir, "usage") == 2
    with pytest.raises(StageError, match="no-such-option"):
        sast.check_exit_code(2, stderr)


def test_exit_unknown_code_is_error():
    with pytest.raises(StageError, match="unexpected code 9"):
        sast.check_exit_code(9, "")


def test_read_report_missing_is_error(tmp_path):
    with pytest.raises(StageError, match="no report"):
        sast.read_report(tmp_path / "bandit.json")


def test_read_report_malformed_is_error(tmp_path):
    (tmp_path / "bandit.json").write_text(json.dumps({"errors": []}), encoding="utf-8")

    with pytest.raises(StageError, match="no results list"):
        sast.read_report(tmp_path / "bandit.json")


def test_no_files_scanned_is_error():
    with pytest.raises(StageError, match="no Python files"):
        sast.check_files_scanned({"metrics": {"_totals": {}}}, ["src"])


@pytest.mark.parametrize("key", ["severity", "confidence"])
@pytest.mark.parametrize("value", ["critical", "HIGH", ["low"]])
def test_options_level_invalid(key, value):
    with pytest.raises(UsageError, match=key):
        SastOptions(**{key: value})


@pytest.mark.parametrize("key", ["skips", "tests"])
def test_options_test_id_invalid(key):
    with pytest.raises(UsageError, match="'shell'"):
        SastOptions(**{key: ("shell",)})


def test_describe_gate_names_baseline():
    gate = sast.STAGE.describe_gate(SastOptions(severity="medium", baseline="bandit-baseline.json"))

    assert gate == (
        "any bandit issue with severity >= medium and confidence >= low "
        "not in the baseline bandit-baseline.json"
    )


def test_build_argv_merges_excludes(tmp_path, make_context):
    ctx = make_context(tmp_path, SastOptions(exclude=("src/gen",)), exclude=("tests/vuln",))

    argv = sast.build_argv(ctx, ctx.options, ["src"], tmp_path / "out.json")
    excluded = argv[argv.index("--exclude") + 1].split(",")

    assert ".git" in excluded
    assert str(tmp_path / "tests/vuln") in excluded
    assert str(tmp_path / "src/gen") in excluded


def test_bandit_missing_from_path(tmp_path, make_context, write_repo, monkeypatch):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, SastOptions(), stage="sast")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(ToolNotFound, match="bandit"):
        sast.STAGE.run(ctx)


@pytest.mark.slow
def test_bandit_fails_on_shell_injection(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/runner.py": SHELL})
    ctx = make_context(root, SastOptions(), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [(f.rule_id, f.path, f.line) for f in result.gating_findings] == [
        ("B602", "src/runner.py", 8)
    ]
    assert (ctx.out_dir / "bandit.json").is_file()
    assert "bandit" in ctx.log_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_bandit_passes_clean_code(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN})
    ctx = make_context(root, SastOptions(), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.PASSED
    assert result.findings == []


@pytest.mark.slow
def test_bandit_honours_nosec_with_id(tmp_path, make_context, write_repo):
    suppressed = SHELL.replace("check=False)\n", "check=False)  # nosec B602\n")
    root = write_repo(tmp_path / "repo", {"src/runner.py": suppressed})
    ctx = make_context(root, SastOptions(), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_bandit_nosec_wrong_id_still_fails(tmp_path, make_context, write_repo):
    wrong = SHELL.replace("check=False)\n", "check=False)  # nosec B607\n")
    root = write_repo(tmp_path / "repo", {"src/runner.py": wrong})
    ctx = make_context(root, SastOptions(), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.FAILED


@pytest.mark.slow
def test_bandit_syntax_error_is_stage_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/app.py": CLEAN, "src/broken.py": "def f(:\n"})
    ctx = make_context(root, SastOptions(), stage="sast")

    with pytest.raises(StageError, match=r"src/broken\.py"):
        sast.STAGE.run(ctx)


@pytest.mark.slow
def test_bandit_skips_excluded_paths(tmp_path, make_context, write_repo):
    root = write_repo(
        tmp_path / "repo",
        {"src/app.py": CLEAN, "src/legacy/runner.py": SHELL, "src/generated/runner.py": SHELL},
    )
    ctx = make_context(
        root, SastOptions(exclude=("src/generated",)), exclude=("src/legacy",), stage="sast"
    )

    result = sast.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_bandit_root_path_skips_hidden_dirs(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"app.py": CLEAN, ".venv/lib/runner.py": SHELL})
    ctx = make_context(root, SastOptions(), paths=(".",), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_bandit_baseline_then_new_copy(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/runner.py": SHELL})
    first = make_context(root, SastOptions(), stage="sast")
    sast.STAGE.run(first)
    (root / "bandit-baseline.json").write_bytes((first.out_dir / "bandit.json").read_bytes())
    second_copy = (
        SHELL
        + '\n\ndef again(cmd):\n    """Again."""\n    return subprocess.run(cmd, shell=True, check=False)\n'
    )

    known = make_context(root, SastOptions(baseline="bandit-baseline.json"), stage="sast")
    known_result = sast.STAGE.run(known)
    write_repo(root, {"src/runner.py": second_copy})
    grown = make_context(root, SastOptions(baseline="bandit-baseline.json"), stage="sast")
    grown_result = sast.STAGE.run(grown)

    assert known_result.status is Status.PASSED
    assert known_result.details["baselined"] == 1
    assert grown_result.status is Status.FAILED
    assert [f.line for f in grown_result.gating_findings] == [13]


@pytest.mark.slow
def test_bandit_reads_repository_config(tmp_path, make_context, write_repo):
    pyproject = '[tool.bandit]\nskips = ["B602"]\n'
    root = write_repo(tmp_path / "repo", {"src/runner.py": SHELL, "pyproject.toml": pyproject})
    ctx = make_context(root, SastOptions(), stage="sast")

    result = sast.STAGE.run(ctx)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_bandit_usage_error_is_stage_error(tmp_path, make_context, write_repo):
    root = write_repo(tmp_path / "repo", {"src/runner.py": SHELL})
    ctx = make_context(root, SastOptions(tests=("B999",)), stage="sast")

    with pytest.raises(StageError, match="bandit"):
        sast.STAGE.run(ctx)
