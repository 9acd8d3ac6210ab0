"""Fixtures for the report tests: a finished run with every kind of stage result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The fake stages live one folder up; pytest's default import mode only adds this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fake_stages  # noqa: E402 - needs the path above

from gauntlet.pipeline import RunOutcome  # noqa: E402
from gauntlet.stage import RunSettings, Severity, StageResult, Status  # noqa: E402


@pytest.fixture
def outcome(tmp_path, monkeypatch) -> RunOutcome:
    """A run with passed, failed (file and URL findings), error and skipped stages."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    settings = RunSettings(
        root=tmp_path, reports_dir=reports, run_id="20261204T000000-abcdef12", paths=("pkg",)
    )

    lint_findings = [
        fake_stages.make_finding(
            "lint",
            0,
            tool="pylint",
            rule_id="E0602",
            column=5,
            help_url="https://pylint.readthedocs.io/",
        ),
        fake_stages.make_finding(
            "lint", 1, tool="pylint", rule_id="C0114", severity=Severity.LOW, gating=False
        ),
        fake_stages.make_finding(
            "lint", 2, tool="pylint", rule_id="E0602", path="dir with space/m.py"
        ),
    ]
    dast_findings = [
        fake_stages.make_finding(
            "dast",
            0,
            tool="sqlmap",
            rule_id="sqli-boolean",
            severity=Severity.CRITICAL,
            path=None,
            line=None,
            target="http://127.0.0.1:8000/notes?q=1",
            parameter="q",
            message="q is injectable | boolean-based",
        ),
    ]
    image_findings = [
        fake_stages.make_finding(
            "image",
            0,
            tool="trivy",
            rule_id="CVE-2026-0001",
            path="Dockerfile",
            line=None,
            tool_severity="HIGH",
        ),
        fake_stages.make_finding(
            "image",
            1,
            tool="hadolint",
            rule_id="DL3008",
            severity=Severity.MEDIUM,
            path="Dockerfile",
            line=3,
        ),
    ]
    results = [
        StageResult("format", Status.PASSED, duration_s=1.25),
        StageResult("lint", Status.FAILED, lint_findings, 2.5, "2 messages in fail_on (E, F)"),
        StageResult("unit", Status.ERROR, duration_s=0.5, message="pytest collected no tests"),
        StageResult("coverage", Status.SKIPPED, message="needs unit, which ended error"),
        StageResult("image", Status.FAILED, image_findings, 9.0, "1 finding at or above HIGH"),
        StageResult("dast", Status.FAILED, dast_findings, 4.0, "1 injectable parameter"),
    ]
    (reports / "lint").mkdir()
    (reports / "lint" / "lint.log").write_text(
        "".join(f"line {index}\n" for index in range(30)), encoding="utf-8"
    )
    selected = [result.name for result in results]
    tools = {"format": "black", "lint": "pylint", "unit": "pytest", "image": "trivy"}
    return RunOutcome(settings, results, selected, duration_s=12.0, tools=tools)
