"""junit.xml: one ``testsuite`` per stage, so CI test views show each gate.

A stage with gating findings gets one failed ``testcase`` per finding. Any other stage gets one
``testcase`` named after the stage, carrying its verdict: ``failure`` (a gate tripped without
findings, such as a coverage total), ``error`` or ``skipped`` with the message.
"""

from __future__ import annotations

from xml.etree import ElementTree
from pathlib import Path

from gauntlet.pipeline import RunOutcome
from gauntlet.reports.markdown import where
from gauntlet.stage import Finding, StageResult, Status

FILE_NAME = "junit.xml"


def write(outcome: RunOutcome) -> Path:
    """Write junit.xml and return its path."""
    root = build(outcome)
    ElementTree.indent(root)
    path = outcome.settings.reports_dir / FILE_NAME
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def build(outcome: RunOutcome) -> ElementTree.Element:
    """Return the ``testsuites`` element of a run."""
    suites = ElementTree.Element("testsuites", name="gauntlet", time=f"{outcome.duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in outcome.results:
        suite = build_suite(result)
        suites.append(suite)
        for key in counts:
            counts[key] += int(suite.get(key, "0"))
    for key, value in counts.items():
        suites.set(key, str(value))
    return suites


def build_suite(result: StageResult) -> ElementTree.Element:
    suite = ElementTree.Element("testsuite", name=result.name, time=f"{result.duration_s:.3f}")
    gating = result.gating_findings
    if gating:
        for finding in gating:
            suite.append(finding_case(result.name, finding))
    else:
        suite.append(verdict_case(result))

    cases = list(suite)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    suite.set("errors", str(sum(1 for case in cases if case.find("error") is not None)))
    suite.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))

    others = [finding for finding in result.findings if not finding.gating]
    if others:
        output = ElementTree.SubElement(suite, "system-out")
        output.text = "findings below the gate:\n" + "\n".join(
            describe(finding) for finding in others
        )
    return suite


def finding_case(stage: str, finding: Finding) -> ElementTree.Element:
    name = f"{finding.rule_id} {where(finding)}".strip()
    case = ElementTree.Element("testcase", classname=f"{stage}.{finding.tool}", name=name, time="0")
    if finding.path:
        case.set("file", finding.path)
    if finding.line:
        case.set("line", str(finding.line))
    failure = ElementTree.SubElement(
        case, "failure", message=finding.message, type=finding.severity.value
    )
    failure.text = describe(finding)
    return case


def verdict_case(result: StageResult) -> ElementTree.Element:
    case = ElementTree.Element(
        "testcase", classname=result.name, name=result.name, time=f"{result.duration_s:.3f}"
    )
    if result.status is Status.FAILED:
        ElementTree.SubElement(case, "failure", message=result.message or "gate failed")
    elif result.status is Status.ERROR:
        ElementTree.SubElement(case, "error", message=result.message or "stage error")
    elif result.status is Status.SKIPPED:
        ElementTree.SubElement(case, "skipped", message=result.message)
    return case


def describe(finding: Finding) -> str:
    severity = finding.severity.value
    if finding.tool_severity and finding.tool_severity.lower() != severity:
        severity += f" ({finding.tool_severity})"
    location = where(finding) or "unknown location"
    text = f"[{severity}] {finding.tool} {finding.rule_id} at {location}: {finding.message}"
    if finding.help_url:
        text += f" ({finding.help_url})"
    return text
