"""summary.json: the machine-readable verdict of a run.

Top-level keys are ``exit_code``, ``interrupted``, ``run_id``, ``started_at`` (ISO 8601, UTC),
``duration_s`` and ``gauntlet_version``. ``stages`` has one object per finished stage, in
pipeline order. ``unfinished`` lists the selected stages without a result after Ctrl-C. Last
come ``warnings`` and ``findings`` (every finding of every stage, each with its ``stage`` and
``gating`` flag).

A stage object has ``name``, ``status``, ``findings`` (the count of gating findings, as in the
terminal table), ``findings_total`` (also those below the gate), ``by_severity`` (gating
findings per severity), ``duration_s``, ``message``, ``log`` (relative to the reports
directory) and ``details`` (the stage's own figures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gauntlet import __version__
from gauntlet.pipeline import RunOutcome
from gauntlet.stage import Severity, StageResult

FILE_NAME = "summary.json"


def write(outcome: RunOutcome) -> Path:
    """Write summary.json and return its path."""
    path = outcome.settings.reports_dir / FILE_NAME
    text = json.dumps(build(outcome), indent=2, sort_keys=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def build(outcome: RunOutcome) -> dict[str, Any]:
    """Return the summary as JSON-ready data."""
    findings = []
    for result in outcome.results:
        for finding in result.findings:
            findings.append({"stage": result.name, **finding.to_dict()})

    return {
        "exit_code": outcome.exit_code,
        "interrupted": outcome.interrupted,
        "run_id": outcome.settings.run_id,
        "started_at": outcome.started_at.isoformat(timespec="seconds"),
        "duration_s": round(outcome.duration_s, 3),
        "gauntlet_version": __version__,
        "stages": [stage_entry(outcome, result) for result in outcome.results],
        "unfinished": outcome.unfinished,
        "warnings": list(outcome.warnings),
        "findings": findings,
    }


def stage_entry(outcome: RunOutcome, result: StageResult) -> dict[str, Any]:
    gating = result.gating_findings
    by_severity = {severity.value: 0 for severity in Severity}
    for finding in gating:
        by_severity[finding.severity.value] += 1

    log_path = outcome.log_path(result.name)
    return {
        "name": result.name,
        "status": result.status.value,
        "findings": len(gating),
        "findings_total": len(result.findings),
        "by_severity": by_severity,
        "duration_s": round(result.duration_s, 3),
        "message": result.message,
        "log": (
            log_path.relative_to(outcome.settings.reports_dir).as_posix()
            if log_path.exists()
            else None
        ),
        "details": result.details,
    }
