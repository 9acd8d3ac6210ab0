"""Tests of gauntlet.merge: summaries, broken jobs, SARIF per tool, JUnit, Allure and the CLI."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree
from pathlib import Path

import jsonschema
import pytest

from gauntlet import merge
from gauntlet.errors import UsageError
from gauntlet.reports import allure

NEEDS_ALL_PASSED = {
    "plan": "success",
    "static": "success",
    "tests": "success",
    "image": "success",
    "dast": "success",
}


def stage(name: str, status: str, findings: int = 0) -> dict:
    """Return one summary.json stage entry."""
    return {"name": name, "status": status, "findings": findings, "duration_s": 1.5, "message": ""}


def sarif_run(tool: str, results: list[dict], rules: list[str]) -> dict:
    """Return a SARIF run of ``tool`` whose results refer to ``rules`` by index."""
    return {
        "tool": {"driver": {"name": tool, "rules": [{"id": rule} for rule in rules]}},
        "automationDetails": {"id": f"gauntlet/{tool}/"},
        "results": results,
    }


def sarif_result(rule: str, index: int, path: str, fingerprint: str) -> dict:
    """Return one SARIF result at line 3 of ``path``."""
    return {
        "ruleId": rule,
        "ruleIndex": index,
        "message": {"text": f"{rule} here"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": path, "index": 0},
                    "region": {"startLine": 3},
                }
            }
        ],
        "partialFingerprints": {"gauntlet/v1": fingerprint},
    }


def write_artifact(
    root: Path,
    name: str,
    stages: list[dict] | None,
    exit_code: int = 0,
    runs: list[dict] | None = None,
) -> Path:
    """Write one downloaded artifact folder as a gauntlet job leaves it."""
    folder = root / name
    folder.mkdir(parents=True)
    if stages is not None:
        summary = {"exit_code": exit_code, "stages": stages}
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    if runs is not None:
        document = {"version": "2.1.0", "runs": runs}
        (folder / "gauntlet.sarif").write_text(json.dumps(document), encoding="utf-8")
    return folder


# --- summaries and the verdict ------------------------------------------------------------------


def test_merge_all_passed(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("format", "passed")])
    write_artifact(artifacts, "gauntlet-job-image", [stage("image", "skipped")])

    result = merge.merge_reports(artifacts, tmp_path / "out", job_results=NEEDS_ALL_PASSED)

    assert result.exit_code == 0
    assert [item["name"] for item in result.summary["stages"]] == ["image", "format"]
    assert result.summary["stages"][1]["job"] == "gauntlet-job-static"


def test_merge_failed_stage_fails(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "failed", 2)], exit_code=1)
    write_artifact(artifacts, "gauntlet-job-dast", [stage("dast", "passed")])
    needs = {**NEEDS_ALL_PASSED, "static": "failure"}

    result = merge.merge_reports(artifacts, tmp_path / "out", job_results=needs)

    assert result.exit_code == 1
    assert not any(item["name"].startswith("job:") for item in result.summary["stages"])


def test_merge_error_outranks_failure(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "failed", 2)], exit_code=1)
    write_artifact(artifacts, "gauntlet-job-image", [stage("image", "error")], exit_code=3)

    result = merge.merge_reports(artifacts, tmp_path / "out")

    assert result.exit_code == 3


def test_merge_job_without_summary_is_error(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("format", "passed")])
    needs = {**NEEDS_ALL_PASSED, "image": "failure"}

    result = merge.merge_reports(artifacts, tmp_path / "out", job_results=needs)

    broken = [item for item in result.summary["stages"] if item["name"] == "job:image"]
    assert result.exit_code == 3
    assert len(broken) == 1
    assert "left no summary.json" in broken[0]["message"]


def test_merge_failed_job_with_passing_summaries_is_error(tmp_path):
    # One matrix leg of the tests job crashed before writing reports; the other leg passed.
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-tests-py3.12", [stage("unit", "passed")])
    needs = {**NEEDS_ALL_PASSED, "tests": "failure"}

    result = merge.merge_reports(artifacts, tmp_path / "out", job_results=needs)

    assert result.exit_code == 3
    assert result.summary["stages"][-1]["name"] == "job:tests"


def test_merge_skipped_job_is_fine(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "passed")])
    needs = {**NEEDS_ALL_PASSED, "tests": "skipped", "image": "skipped", "dast": "skipped"}

    result = merge.merge_reports(artifacts, tmp_path / "out", job_results=needs)

    assert result.exit_code == 0


def test_merge_usage_exit_code_kept(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [], exit_code=2)

    result = merge.merge_reports(artifacts, tmp_path / "out")

    assert result.exit_code == 2


def test_merge_writes_summary_files(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "failed", 4)], exit_code=1)
    out = tmp_path / "out"

    merge.merge_reports(artifacts, out)

    written = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert written["exit_code"] == 1
    assert "| lint | gauntlet-job-static | failed | 4 | 1.5 |" in markdown
    assert "exit code 1" in markdown


def test_merge_copies_raw_reports(tmp_path):
    artifacts = tmp_path / "artifacts"
    folder = write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "passed")])
    (folder / "lint").mkdir()
    (folder / "lint" / "pylint.json").write_text("[]", encoding="utf-8")

    merge.merge_reports(artifacts, tmp_path / "out")

    assert (tmp_path / "out" / "gauntlet-job-static" / "lint" / "pylint.json").is_file()


def test_job_of_matrix_artifact():
    jobs = ["dast", "image", "plan", "static", "tests"]

    assert merge.job_of("gauntlet-job-tests-py3.11", "gauntlet-job-", jobs) == "tests"
    assert merge.job_of("gauntlet-job-static", "gauntlet-job-", jobs) == "static"
    assert merge.job_of("gauntlet-job-other", "gauntlet-job-", jobs) == "other"


def test_missing_artifacts_dir_rejected(tmp_path):
    with pytest.raises(UsageError, match="artifacts directory not found"):
        merge.merge_reports(tmp_path / "absent", tmp_path / "out")


def test_damaged_summary_rejected(tmp_path):
    folder = tmp_path / "artifacts" / "gauntlet-job-static"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"exit_code": 0}', encoding="utf-8")

    with pytest.raises(UsageError, match="has no 'stages' list"):
        merge.merge_reports(tmp_path / "artifacts", tmp_path / "out")


# --- SARIF --------------------------------------------------------------------------------------


def test_sarif_split_per_tool(tmp_path):
    artifacts = tmp_path / "artifacts"
    runs = [
        sarif_run("black", [sarif_result("would-reformat", 0, "app.py", "a")], ["would-reformat"]),
        sarif_run("pylint", [], []),
    ]
    write_artifact(artifacts, "gauntlet-job-static", [stage("format", "failed", 1)], 1, runs)
    out = tmp_path / "out"

    result = merge.merge_reports(artifacts, out)

    black = json.loads((out / "sarif" / "black.sarif").read_text(encoding="utf-8"))
    combined = json.loads((out / "gauntlet.sarif").read_text(encoding="utf-8"))
    assert result.sarif_tools == ["black", "pylint"]
    assert len(black["runs"]) == 1
    assert "automationDetails" not in black["runs"][0]
    assert [run["tool"]["driver"]["name"] for run in combined["runs"]] == ["black", "pylint"]


def test_sarif_matrix_runs_merged(tmp_path):
    # The same finding from two Python versions appears once; rule indexes follow the new list.
    artifacts = tmp_path / "artifacts"
    first = sarif_run(
        "pytest",
        [sarif_result("failed", 0, "tests/test_a.py", "same")],
        ["failed"],
    )
    second = sarif_run(
        "pytest",
        [
            sarif_result("error", 0, "tests/test_b.py", "other"),
            sarif_result("failed", 1, "tests/test_a.py", "same"),
        ],
        ["error", "failed"],
    )
    write_artifact(artifacts, "gauntlet-job-tests-py3.11", [stage("unit", "failed")], 1, [first])
    write_artifact(artifacts, "gauntlet-job-tests-py3.12", [stage("unit", "failed")], 1, [second])
    out = tmp_path / "out"

    merge.merge_reports(artifacts, out)

    run = json.loads((out / "sarif" / "pytest.sarif").read_text(encoding="utf-8"))["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rules == ["failed", "error"]
    assert [result["ruleId"] for result in run["results"]] == ["failed", "error"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert "index" not in result["locations"][0]["physicalLocation"]["artifactLocation"]


def test_sarif_path_prefix(tmp_path):
    artifacts = tmp_path / "artifacts"
    results = [
        sarif_result("B602", 0, "app/db.py", "a"),
        sarif_result("B602", 0, "http://127.0.0.1:8000/login", "b"),
    ]
    runs = [sarif_run("bandit", results, ["B602"])]
    write_artifact(artifacts, "gauntlet-job-static", [stage("sast", "failed", 2)], 1, runs)
    out = tmp_path / "out"

    merge.merge_reports(artifacts, out, path_prefix="services/api/")

    run = json.loads((out / "sarif" / "bandit.sarif").read_text(encoding="utf-8"))["runs"][0]
    uris = [
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in run["results"]
    ]
    assert uris == ["services/api/app/db.py", "http://127.0.0.1:8000/login"]


# --- JUnit and Allure ---------------------------------------------------------------------------


def test_junit_suites_combined(tmp_path):
    artifacts = tmp_path / "artifacts"
    static = write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "passed")])
    tests = write_artifact(artifacts, "gauntlet-job-tests-py3.12", [stage("unit", "failed")], 1)
    (static / "junit.xml").write_text(
        '<testsuites><testsuite name="lint" tests="1" failures="0"/></testsuites>',
        encoding="utf-8",
    )
    (tests / "junit.xml").write_text(
        '<testsuite name="unit" tests="3" failures="1" errors="0"/>', encoding="utf-8"
    )

    merge.merge_reports(artifacts, tmp_path / "out")

    root = ElementTree.parse(tmp_path / "out" / "junit.xml").getroot()
    assert [suite.get("name") for suite in root] == [
        "gauntlet-job-static: lint",
        "gauntlet-job-tests-py3.12: unit",
    ]
    assert root.get("tests") == "4"
    assert root.get("failures") == "1"


def test_allure_results_collected(tmp_path):
    artifacts = tmp_path / "artifacts"
    for name, uuid in (("gauntlet-job-tests-py3.11", "aaa"), ("gauntlet-job-tests-py3.12", "bbb")):
        folder = write_artifact(artifacts, name, [stage("unit", "passed")])
        (folder / "allure-results").mkdir()
        (folder / "allure-results" / f"{uuid}-result.json").write_text("{}", encoding="utf-8")

    merge.merge_reports(artifacts, tmp_path / "out")

    names = sorted(path.name for path in (tmp_path / "out" / "allure-results").iterdir())
    assert names == ["aaa-result.json", "bbb-result.json"]


@pytest.mark.slow
def test_allure_report_built(tmp_path):
    if allure.find_cli(Path.cwd()) is None:
        pytest.fail("allure CLI not found; run `npm ci` at the root (make test does)")
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "0b6e4f1e-result.json").write_text(
        json.dumps(
            {
                "uuid": "0b6e4f1e",
                "historyId": "h1",
                "name": "test_ok",
                "fullName": "tests.test_x#test_ok",
                "status": "passed",
                "start": 1,
                "stop": 2,
            }
        ),
        encoding="utf-8",
    )

    built = merge.build_allure_report(results, tmp_path / "report", tmp_path / "merge.log")

    assert built is True
    assert (tmp_path / "report" / "index.html").is_file()


def test_allure_report_skipped_without_results(tmp_path):
    (tmp_path / "allure-results").mkdir()

    built = merge.build_allure_report(
        tmp_path / "allure-results", tmp_path / "report", tmp_path / "merge.log"
    )

    assert built is False


# --- command line -------------------------------------------------------------------------------


def test_main_returns_merged_exit_code(tmp_path, capsys):
    artifacts = tmp_path / "artifacts"
    write_artifact(artifacts, "gauntlet-job-static", [stage("lint", "failed", 1)], exit_code=1)
    needs = json.dumps(
        {job: {"result": result, "outputs": {}} for job, result in NEEDS_ALL_PASSED.items()}
    )

    code = merge.main([str(artifacts), "--out", str(tmp_path / "out"), "--needs-json", needs])

    assert code == 1
    assert "exit code 1" in capsys.readouterr().out


def test_main_rejects_bad_needs_json(tmp_path, capsys):
    (tmp_path / "artifacts").mkdir()

    code = merge.main(
        [str(tmp_path / "artifacts"), "--out", str(tmp_path / "out"), "--needs-json", "{"]
    )

    assert code == 2
    assert "--needs-json is not valid JSON" in capsys.readouterr().err


# --- real reports of `gauntlet run --only format,lint,sast` -------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "merge"


def copy_fixture(name: str, artifacts: Path, artifact_name: str) -> None:
    """Copy a recorded reports folder into ``artifacts`` under ``artifact_name``."""
    shutil.copytree(FIXTURES / name, artifacts / artifact_name)


def test_real_failed_run_merged(tmp_path):
    artifacts = tmp_path / "artifacts"
    copy_fixture("static-failed", artifacts, "gauntlet-job-static")
    out = tmp_path / "out"

    result = merge.merge_reports(artifacts, out, job_results={"static": "failure"})

    assert result.exit_code == 1
    assert result.sarif_tools == ["bandit", "black", "pylint"]
    for tool in result.sarif_tools:
        run = json.loads((out / "sarif" / f"{tool}.sarif").read_text(encoding="utf-8"))["runs"][0]
        assert run["results"], tool
        assert "originalUriBaseIds" not in run
        for item in run["results"]:
            location = item["locations"][0]["physicalLocation"]["artifactLocation"]
            assert location["uri"].startswith("app/")
            assert "uriBaseId" not in location


def test_real_clean_run_keeps_tool_names(tmp_path):
    # A clean stage's run is named after the stage; it must still reach the tool's category so
    # that code scanning closes the tool's earlier alerts.
    artifacts = tmp_path / "artifacts"
    copy_fixture("static-passed", artifacts, "gauntlet-job-static")
    out = tmp_path / "out"

    result = merge.merge_reports(artifacts, out, job_results={"static": "success"})

    assert result.exit_code == 0
    assert result.sarif_tools == ["bandit", "black", "pylint"]
    black = json.loads((out / "sarif" / "black.sarif").read_text(encoding="utf-8"))["runs"][0]
    assert black["tool"]["driver"]["name"] == "black"
    assert black["results"] == []


def test_real_runs_merged_across_legs(tmp_path):
    artifacts = tmp_path / "artifacts"
    copy_fixture("static-failed", artifacts, "gauntlet-job-static-a")
    copy_fixture("static-passed", artifacts, "gauntlet-job-static-b")
    out = tmp_path / "out"

    result = merge.merge_reports(
        artifacts, out, job_results={"static": "failure"}, path_prefix="services/api"
    )

    run = json.loads((out / "sarif" / "bandit.sarif").read_text(encoding="utf-8"))["runs"][0]
    uris = {
        item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for item in run["results"]
    }
    assert result.exit_code == 1
    assert uris == {"services/api/app/shell.py"}
    assert len(result.summary["stages"]) == 6


def test_merged_sarif_valid_against_schema(tmp_path):
    schema_path = (
        Path(__file__).resolve().parents[1] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
    )
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    artifacts = tmp_path / "artifacts"
    copy_fixture("static-failed", artifacts, "gauntlet-job-static-a")
    copy_fixture("static-passed", artifacts, "gauntlet-job-static-b")
    out = tmp_path / "out"

    merge.merge_reports(artifacts, out, path_prefix="services/api")

    for path in [out / "gauntlet.sarif", *sorted((out / "sarif").iterdir())]:
        document = json.loads(path.read_text(encoding="utf-8"))
        errors = list(jsonschema.Draft4Validator(schema).iter_errors(document))
        assert errors == [], path.name
