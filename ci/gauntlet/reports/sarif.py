"""gauntlet.sarif: SARIF 2.1.0 with one run per stage and tool, for code scanning.

Each run carries ``automationDetails.id`` = ``gauntlet/<stage>/<tool>/`` so that code scanning
keeps one category per tool. A stage's declared tool (``Stage.tool``, recorded in
``RunOutcome.tools``) always gets a run, empty when it found nothing, from which code scanning
marks that tool's earlier alerts as fixed. A stage that declares no tool gets an empty run named
after the stage when it has no findings.

Every result has a physical location relative to ``%SRCROOT%`` with at least ``startLine``,
because code scanning rejects a whole upload when one result lacks
``locations[].physicalLocation.artifactLocation.uri``. A finding with a path points at that file.
A finding without one (a URL that dast probed, a package or file inside an image, a coverage
total) points at its stage's fallback artifact from ``fallback_artifact``, line 1. A finding with a
target also gets a logical location, and the target and parameter go into the result's properties.
``partialFingerprints`` contains the finding's own fingerprint. It ignores line numbers, so
alerts survive code moving.

Levels: critical and high are ``error``, medium is ``warning``, low and info are ``note``.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from gauntlet import __version__
from gauntlet.config import PYPROJECT
from gauntlet.pipeline import RunOutcome
from gauntlet.stage import Finding, Severity, StageResult, Status

FILE_NAME = "gauntlet.sarif"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "gauntlet/v1"
SRCROOT = "%SRCROOT%"
# A StageResult.details key naming the Dockerfile (relative to the root) an image stage built.
DOCKERFILE_DETAIL = "dockerfile"

LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def write(outcome: RunOutcome) -> Path:
    """Write gauntlet.sarif and return its path."""
    path = outcome.settings.reports_dir / FILE_NAME
    path.write_text(json.dumps(build(outcome), indent=2) + "\n", encoding="utf-8")
    return path


def build(outcome: RunOutcome) -> dict[str, Any]:
    """Return the SARIF log of a run as JSON-ready data."""
    runs = []
    for result in outcome.results:
        if result.status is Status.SKIPPED:
            continue
        declared = outcome.tools.get(result.name, "")
        for tool, findings in group_by_tool(result, declared).items():
            runs.append(build_run(outcome, result, tool, findings))
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": runs}


def group_by_tool(result: StageResult, declared: str = "") -> dict[str, list[Finding]]:
    """Return the stage's findings per tool, with ``declared`` (the stage's tool) always present.

    Without a declared tool, a stage without findings maps its own name to [].
    """
    groups: dict[str, list[Finding]] = {declared: []} if declared else {}
    for finding in result.findings:
        groups.setdefault(finding.tool, []).append(finding)
    return groups or {result.name: []}


def build_run(
    outcome: RunOutcome, result: StageResult, tool: str, findings: list[Finding]
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    for finding in findings:
        if finding.rule_id not in rule_index:
            rule_index[finding.rule_id] = len(rules)
            rules.append(build_rule(finding))

    invocation: dict[str, Any] = {"executionSuccessful": result.status is not Status.ERROR}
    if result.status is Status.ERROR:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": result.message or "the stage broke"}}
        ]

    return {
        "tool": {
            "driver": {
                "name": tool,
                "semanticVersion": __version__,
                "rules": rules,
                "properties": {"stage": result.name},
            }
        },
        "automationDetails": {"id": f"gauntlet/{result.name}/{tool}/"},
        "originalUriBaseIds": {SRCROOT: {"uri": outcome.settings.root.resolve().as_uri() + "/"}},
        "invocations": [invocation],
        "results": [
            build_result(finding, rule_index[finding.rule_id], fallback_artifact(result))
            for finding in findings
        ],
    }


def fallback_artifact(result: StageResult) -> str:
    """Return the file that a finding of ``result`` without a path is reported against.

    That is the Dockerfile the stage recorded in its details, else pyproject.toml, where
    [tool.gauntlet] declares the stage's targets and thresholds.
    """
    dockerfile = result.details.get(DOCKERFILE_DETAIL)
    if isinstance(dockerfile, str) and dockerfile:
        return dockerfile
    return PYPROJECT


def build_rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "shortDescription": {"text": finding.rule_id},
        "defaultConfiguration": {"level": LEVELS[finding.severity]},
    }
    if finding.help_url:
        rule["helpUri"] = finding.help_url
        rule["help"] = {"text": f"See {finding.help_url}"}
    return rule


def build_result(finding: Finding, index: int, fallback: str) -> dict[str, Any]:
    """Return the SARIF result of one finding, placed in ``fallback`` when it has no path."""
    properties: dict[str, Any] = {"severity": finding.severity.value, "gating": finding.gating}
    if finding.tool_severity:
        properties["toolSeverity"] = finding.tool_severity

    location: dict[str, Any] = {"physicalLocation": physical_location(finding, fallback)}
    if finding.target:
        location["logicalLocations"] = [logical_location(finding)]
        properties["target"] = finding.target
        if finding.parameter:
            properties["parameter"] = finding.parameter
    if not finding.path and finding.line:
        # The line belongs to the target (a file inside an image), not to the fallback file.
        properties["targetLine"] = finding.line

    return {
        "ruleId": finding.rule_id,
        "ruleIndex": index,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message or finding.rule_id},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": properties,
    }


def physical_location(finding: Finding, fallback: str) -> dict[str, Any]:
    """Return the finding's file and line, else ``fallback`` at line 1.

    Code scanning needs ``region.startLine`` to place an alert (rule GH1003 of the GitHub checks in
    the SARIF SDK), so a finding without a line points at line 1.
    """
    if not finding.path:
        return {
            "artifactLocation": {"uri": urllib.parse.quote(fallback), "uriBaseId": SRCROOT},
            "region": {"startLine": 1},
        }

    region: dict[str, Any] = {"startLine": 1}
    if finding.line and finding.line >= 1:
        region["startLine"] = finding.line
        # NOTE: Finding.column is taken as 1-based, as SARIF counts; a stage that passes a
        # tool's 0-based column shifts the marker by one character.
        if finding.column and finding.column >= 1:
            region["startColumn"] = finding.column
    return {
        "artifactLocation": {"uri": urllib.parse.quote(finding.path), "uriBaseId": SRCROOT},
        "region": region,
    }


def logical_location(finding: Finding) -> dict[str, Any]:
    """Return the target (a URL, or an image and a path in it) and parameter as a location."""
    name = finding.parameter or finding.target or ""
    qualified = f"{finding.target} {finding.parameter}" if finding.parameter else finding.target
    return {
        "name": name,
        "fullyQualifiedName": qualified,
        "kind": "parameter" if finding.parameter else "resource",
    }
