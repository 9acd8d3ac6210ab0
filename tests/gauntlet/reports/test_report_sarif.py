"""Tests of gauntlet.reports.sarif: schema validity, runs per tool, locations, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import fake_stages
import jsonschema
import pytest

from gauntlet.reports import sarif
from gauntlet.stage import StageResult, Status

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"


def written(outcome) -> dict:
    path = sarif.write(outcome)
    return json.loads(path.read_text(encoding="utf-8"))


def runs_by_id(log: dict) -> dict:
    return {run["automationDetails"]["id"]: run for run in log["runs"]}


def test_sarif_is_valid_against_official_schema(outcome):
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(written(outcome)), key=str)
    assert [error.message for error in errors] == []


def test_sarif_version(outcome):
    assert written(outcome)["version"] == "2.1.0"


def test_one_run_per_stage_and_tool(outcome):
    ids = list(runs_by_id(written(outcome)))
    assert ids == [
        "gauntlet/format/black/",
        "gauntlet/lint/pylint/",
        "gauntlet/unit/pytest/",
        "gauntlet/image/trivy/",
        "gauntlet/image/hadolint/",
        "gauntlet/dast/sqlmap/",
    ]


def test_passed_stage_without_findings_has_empty_run(outcome):
    run = runs_by_id(written(outcome))["gauntlet/format/black/"]
    assert run["tool"]["driver"]["name"] == "black"
    assert run["results"] == []
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_clean_tool_keeps_run_beside_other_tool(outcome):
    image = outcome.results[4]
    outcome.results[4] = type(image)(
        image.name, image.status, [image.findings[1]], image.duration_s, image.message
    )
    run = runs_by_id(written(outcome))["gauntlet/image/trivy/"]
    assert run["results"] == []


def test_stage_without_declared_tool_is_named_after_stage(outcome):
    outcome.tools.clear()
    ids = list(runs_by_id(written(outcome)))
    assert "gauntlet/format/format/" in ids
    assert "gauntlet/lint/lint/" not in ids


def test_error_stage_reports_failed_execution(outcome):
    invocation = runs_by_id(written(outcome))["gauntlet/unit/pytest/"]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert (
        invocation["toolExecutionNotifications"][0]["message"]["text"]
        == "pytest collected no tests"
    )


def test_file_finding_location_and_level(outcome):
    run = runs_by_id(written(outcome))["gauntlet/lint/pylint/"]
    first = run["results"][0]
    assert first["ruleId"] == "E0602"
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "pkg/module_0.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 5},
    }
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_path_is_uri_encoded(outcome):
    run = runs_by_id(written(outcome))["gauntlet/lint/pylint/"]
    assert (
        run["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "dir%20with%20space/m.py"
    )


def test_rules_are_unique_with_help_uri(outcome):
    run = runs_by_id(written(outcome))["gauntlet/lint/pylint/"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["E0602", "C0114"]
    assert rules[0]["helpUri"] == "https://pylint.readthedocs.io/"
    assert [result["ruleIndex"] for result in run["results"]] == [0, 1, 0]


def test_non_gating_finding_is_note_with_property(outcome):
    result = runs_by_id(written(outcome))["gauntlet/lint/pylint/"]["results"][1]
    assert result["level"] == "note"
    assert result["properties"]["gating"] is False


def test_fingerprint_is_the_findings_own(outcome):
    finding = outcome.results[1].findings[0]
    result = runs_by_id(written(outcome))["gauntlet/lint/pylint/"]["results"][0]
    assert result["partialFingerprints"] == {"gauntlet/v1": finding.fingerprint}


def test_url_finding_keeps_logical_location(outcome):
    result = runs_by_id(written(outcome))["gauntlet/dast/sqlmap/"]["results"][0]
    assert result["level"] == "error"
    assert result["locations"][0]["logicalLocations"] == [
        {
            "name": "q",
            "fullyQualifiedName": "http://127.0.0.1:8000/notes?q=1 q",
            "kind": "parameter",
        }
    ]
    assert result["properties"]["target"] == "http://127.0.0.1:8000/notes?q=1"
    assert result["properties"]["parameter"] == "q"


def test_url_finding_points_at_pyproject(outcome):
    result = runs_by_id(written(outcome))["gauntlet/dast/sqlmap/"]["results"][0]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "pyproject.toml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1},
    }


def test_finding_without_line_starts_at_line_1(outcome):
    result = runs_by_id(written(outcome))["gauntlet/image/trivy/"]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert result["properties"]["toolSeverity"] == "HIGH"


def image_and_coverage_outcome(outcome, dockerfile: str | None):
    """Replace the fixture's image stage with findings inside an image, and add coverage."""
    image_findings = [
        fake_stages.make_finding(
            "image",
            index,
            tool="trivy",
            rule_id=rule_id,
            path=None,
            line=line,
            target=target,
            parameter=parameter,
        )
        for index, (rule_id, target, parameter, line) in enumerate(
            [
                ("CVE-2026-0002", "app:1 (debian 12.8)", "openssl", None),
                ("aws-access-key-id", "app:1:/app/settings.py", None, 12),
                ("DS-0001", "app:1:/etc/app.yaml", None, None),
            ]
        )
    ]
    details = {"dockerfile": dockerfile} if dockerfile else {}
    coverage_finding = fake_stages.make_finding(
        "coverage", 0, tool="coverage", rule_id="fail-under", path=None, line=None
    )
    outcome.results[4] = StageResult(
        "image", Status.FAILED, image_findings, 9.0, "3 findings", details
    )
    outcome.results[3] = StageResult("coverage", Status.FAILED, [coverage_finding], 1.0, "low")
    return outcome


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", None])
def test_every_result_has_physical_location(outcome, dockerfile):
    log = written(image_and_coverage_outcome(outcome, dockerfile))
    results = [result for run in log["runs"] for result in run["results"]]
    assert len(results) == 8
    for result in results:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"], result
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%", result
        assert physical["region"]["startLine"] >= 1, result


def test_locationless_sarif_is_schema_valid(outcome):
    log = written(image_and_coverage_outcome(outcome, "docker/Dockerfile"))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=str)
    assert [error.message for error in errors] == []


def test_image_finding_points_at_recorded_dockerfile(outcome):
    log = written(image_and_coverage_outcome(outcome, "docker/Dockerfile"))
    results = runs_by_id(log)["gauntlet/image/trivy/"]["results"]
    uris = {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for result in results
    }
    assert uris == {"docker/Dockerfile"}


def test_image_finding_without_dockerfile_detail(outcome):
    log = written(image_and_coverage_outcome(outcome, None))
    result = runs_by_id(log)["gauntlet/image/trivy/"]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pyproject.toml"


def test_line_inside_image_goes_to_properties(outcome):
    log = written(image_and_coverage_outcome(outcome, "docker/Dockerfile"))
    secret = runs_by_id(log)["gauntlet/image/trivy/"]["results"][1]
    assert secret["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert secret["properties"]["targetLine"] == 12
    assert secret["properties"]["target"] == "app:1:/app/settings.py"


def test_coverage_finding_points_at_pyproject(outcome):
    log = written(image_and_coverage_outcome(outcome, None))
    result = runs_by_id(log)["gauntlet/coverage/coverage/"]["results"][0]
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "pyproject.toml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 1},
            }
        }
    ]


def test_skipped_stage_has_no_run(outcome):
    assert not any("/coverage/" in run_id for run_id in runs_by_id(written(outcome)))
