"""Tests of the coverage stage: totals from recorded coverage JSON, and real combine runs."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import tiny_repos
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Severity, Status
from gauntlet.stages import bdd, coverage, unit
from gauntlet.stages.coverage import CoverageOptions


def test_read_totals_from_recorded_json(fixtures_dir):
    totals = coverage.read_totals(fixtures_dir / "coverage" / "combined.json")

    assert totals.percent == 75.0
    assert totals.percent_display == "75"
    assert totals.statements == 16
    assert totals.branches == 4


def test_read_totals_per_file(fixtures_dir):
    totals = coverage.read_totals(fixtures_dir / "coverage" / "combined.json")

    assert totals.files["calc/__main__.py"]["percent"] == 100.0
    assert totals.files["calc/__init__.py"]["missing_lines"] == [20, 21, 22]


def test_read_totals_unreadable(tmp_path):
    broken = tmp_path / "coverage.json"
    broken.write_text('{"files": {}}')

    with pytest.raises(StageError, match="unreadable coverage JSON report"):
        coverage.read_totals(broken)


def test_files_below_threshold(fixtures_dir):
    totals = coverage.read_totals(fixtures_dir / "coverage" / "combined.json")

    below = coverage.files_below(totals, 80.0)

    assert [entry["path"] for entry in below] == ["calc/__init__.py"]


def test_threshold_finding_message(fixtures_dir):
    totals = coverage.read_totals(fixtures_dir / "coverage" / "combined.json")

    finding = coverage.threshold_finding(totals, 95.0, 3)

    assert finding.rule_id == "coverage-below-threshold"
    assert finding.severity is Severity.MEDIUM
    assert finding.message == (
        "total coverage 75% is below the threshold of 95% (3 data files combined)"
    )


@pytest.mark.parametrize("value", [-1.0, 100.5, "ninety", True])
def test_options_reject_invalid_fail_under(value):
    expected = f"[tool.gauntlet.coverage] fail_under = {value!r} is invalid: expected a number"

    with pytest.raises(UsageError) as raised:
        CoverageOptions(fail_under=value)

    assert str(raised.value).startswith(expected)


def test_options_accept_bounds():
    assert CoverageOptions(fail_under=0.0).fail_under == 0.0
    assert CoverageOptions(fail_under=100.0).fail_under == 100.0


def test_describe_gate():
    gate = coverage.STAGE.describe_gate(CoverageOptions(fail_under=92.5))

    assert gate == "total coverage of unit, bdd and subprocesses below 92.5%"


def test_stage_needs_unit_and_bdd():
    assert coverage.STAGE.needs == ("unit", "bdd")


def test_no_data_is_error(make_context, tmp_path):
    ctx = make_context(tmp_path / "repo", CoverageOptions(), stage="coverage")

    with pytest.raises(
        StageError, match="no coverage data in .*; run the unit and bdd stages first"
    ):
        coverage.STAGE.run(ctx)


@pytest.fixture(scope="module")
def tools_on_path():
    """Put the running interpreter's bin directory first on PATH for the module's fixtures."""
    bin_dir = str(Path(sys.executable).parent)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
        yield


@pytest.fixture(scope="module")
def measured_repo(tmp_path_factory, tools_on_path) -> Path:
    """Return a clean tiny repository on which the real unit and bdd stages already ran."""
    root = tmp_path_factory.mktemp("measured") / "repo"
    tiny_repos.write_files(root, tiny_repos.clean_repo())

    unit_result = unit.STAGE.run(tiny_repos.stage_context(root, unit.UnitOptions(), "unit"))
    bdd_result = bdd.STAGE.run(tiny_repos.stage_context(root, bdd.BddOptions(), "bdd"))

    assert unit_result.status is Status.PASSED
    assert bdd_result.status is Status.PASSED
    return root


def run_coverage(root: Path, fail_under: float) -> tuple:
    ctx = tiny_repos.stage_context(root, CoverageOptions(fail_under=fail_under), "coverage")
    return coverage.STAGE.run(ctx), ctx


@pytest.fixture(scope="module")
def passing_run(measured_repo) -> SimpleNamespace:
    """Return the result and what it left on disk, of one coverage run at the exact total."""
    result, ctx = run_coverage(measured_repo, 75.0)
    return SimpleNamespace(
        result=result,
        totals=coverage.read_totals(ctx.out_dir / "coverage.json"),
        xml=(ctx.out_dir / "coverage.xml").is_file(),
        html=(ctx.out_dir / "html" / "index.html").is_file(),
        log=ctx.log_path.read_text(encoding="utf-8"),
        part_logs=list(ctx.out_dir.glob("*.part")),
    )


@pytest.mark.slow
def test_run_passes_at_total(passing_run):
    assert passing_run.result.status is Status.PASSED
    assert passing_run.result.details["total"] == 75.0
    assert passing_run.xml
    assert passing_run.html


@pytest.mark.slow
def test_run_counts_subprocess_lines(passing_run):
    # calc/__main__.py runs only in the subprocess that a unit test starts.
    assert passing_run.totals.files["calc/__main__.py"]["percent"] == 100.0


@pytest.mark.slow
def test_run_combines_unit_and_bdd(passing_run):
    data_files = passing_run.result.details["data_files"]

    # add() is covered by pytest, multiply() and subtract() by behave, unused() by no test.
    assert passing_run.totals.files["calc/__init__.py"]["missing_lines"] == [20, 21, 22]
    assert any(name.startswith(".coverage.unit") for name in data_files)
    assert any(name.startswith(".coverage.bdd.") for name in data_files)


@pytest.mark.slow
def test_run_logs_commands_in_order(passing_run):
    commands = [line.split()[2] for line in passing_run.log.splitlines() if line.startswith("$ ")]

    assert commands == ["combine", "report", "json", "xml", "html"]
    assert passing_run.part_logs == []


@pytest.mark.slow
def test_run_fails_above_total(measured_repo):
    result, _ = run_coverage(measured_repo, 75.5)

    assert result.status is Status.FAILED
    assert [finding.rule_id for finding in result.findings] == ["coverage-below-threshold"]
    assert result.details["files_below"][0]["path"] == "calc/__init__.py"


@pytest.mark.slow
def test_run_keeps_data_files(measured_repo, passing_run):
    first = passing_run.result

    second, _ = run_coverage(measured_repo, 75.0)

    assert second.details["data_files"] == first.details["data_files"]
    assert second.details["total"] == first.details["total"]


@pytest.mark.slow
def test_run_ignores_repository_fail_under(measured_repo, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(measured_repo, root)
    shutil.copytree(measured_repo.parent / "repo-reports", tmp_path / "repo-reports")
    with open(root / "pyproject.toml", "a", encoding="utf-8") as pyproject:
        pyproject.write("\n[tool.coverage.report]\nfail_under = 99\n")

    result, _ = run_coverage(root, 50.0)

    assert result.status is Status.PASSED


@pytest.mark.slow
def test_run_combine_failure_is_error(measured_repo, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(measured_repo, root)
    data_dir = tmp_path / "repo-reports" / "coverage-data"
    data_dir.mkdir(parents=True)
    (data_dir / ".coverage.unit").write_text("not a coverage database")

    with pytest.raises(StageError, match=r"coverage combine failed \(exit 1\)"):
        run_coverage(root, 50.0)


@pytest.mark.slow
def test_run_coverage_missing_from_path(measured_repo, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(StageError, match="tool not found on PATH: 'coverage'"):
        run_coverage(measured_repo, 50.0)


def test_options_replace_keeps_validation():
    with pytest.raises(UsageError):
        replace(CoverageOptions(), fail_under=101.0)
