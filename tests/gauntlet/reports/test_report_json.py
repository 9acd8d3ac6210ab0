"""Tests of gauntlet.reports.json_report: the keys of summary.json."""

from __future__ import annotations

import json

from gauntlet.reports import json_report


def written(outcome) -> dict:
    return json.loads(json_report.write(outcome).read_text(encoding="utf-8"))


def test_top_level_keys(outcome):
    summary = written(outcome)
    assert list(summary) == [
        "exit_code",
        "interrupted",
        "run_id",
        "started_at",
        "duration_s",
        "gauntlet_version",
        "stages",
        "unfinished",
        "warnings",
        "findings",
    ]
    assert summary["exit_code"] == 3


def test_stage_entry(outcome):
    lint = written(outcome)["stages"][1]
    assert lint == {
        "name": "lint",
        "status": "failed",
        "findings": 2,
        "findings_total": 3,
        "by_severity": {"critical": 0, "high": 2, "medium": 0, "low": 0, "info": 0},
        "duration_s": 2.5,
        "message": "2 messages in fail_on (E, F)",
        "log": "lint/lint.log",
        "details": {},
    }


def test_stage_without_log_has_null_log(outcome):
    assert written(outcome)["stages"][0]["log"] is None


def test_findings_carry_their_stage(outcome):
    findings = written(outcome)["findings"]
    assert len(findings) == 6
    assert findings[0]["stage"] == "lint"
    assert findings[0]["severity"] == "high"
    assert findings[-1]["target"] == "http://127.0.0.1:8000/notes?q=1"


def test_interrupted_run(outcome):
    outcome.interrupted = True
    outcome.selected.append("bdd")
    summary = written(outcome)
    assert summary["exit_code"] == 130
    assert summary["interrupted"] is True
    assert summary["unfinished"] == ["bdd"]
