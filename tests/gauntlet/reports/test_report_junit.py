"""Tests of gauntlet.reports.junit: one suite per stage, failures carry findings."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from gauntlet.reports import junit


def parsed(outcome) -> ElementTree.Element:
    return ElementTree.parse(junit.write(outcome)).getroot()


def suite(root: ElementTree.Element, name: str) -> ElementTree.Element:
    return next(item for item in root.iter("testsuite") if item.get("name") == name)


def test_one_suite_per_stage(outcome):
    names = [item.get("name") for item in parsed(outcome).iter("testsuite")]
    assert names == ["format", "lint", "unit", "coverage", "image", "dast"]


def test_passed_stage_is_one_passing_case(outcome):
    cases = list(suite(parsed(outcome), "format").iter("testcase"))
    assert [case.get("name") for case in cases] == ["format"]
    assert list(cases[0]) == []


def test_gating_findings_are_failures(outcome):
    lint = suite(parsed(outcome), "lint")
    failures = [case.find("failure") for case in lint.iter("testcase")]
    assert lint.get("tests") == "2"
    assert lint.get("failures") == "2"
    assert failures[0].get("message") == "problem 0 in lint"
    assert "pylint E0602 at pkg/module_0.py:1" in failures[0].text
    assert "https://pylint.readthedocs.io/" in failures[0].text


def test_non_gating_findings_go_to_system_out(outcome):
    output = suite(parsed(outcome), "lint").find("system-out").text
    assert "C0114" in output


def test_error_and_skipped_stages(outcome):
    root = parsed(outcome)
    unit_error = suite(root, "unit").find("testcase/error")
    coverage_skip = suite(root, "coverage").find("testcase/skipped")
    assert unit_error.get("message") == "pytest collected no tests"
    assert coverage_skip.get("message") == "needs unit, which ended error"


def test_totals_on_root(outcome):
    root = parsed(outcome)
    assert root.get("tests") == "8"
    assert root.get("failures") == "5"
    assert root.get("errors") == "1"
    assert root.get("skipped") == "1"
