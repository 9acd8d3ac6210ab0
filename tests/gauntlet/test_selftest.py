"""Tests of gauntlet.selftest: the verdict logic on built results, and ``gauntlet selftest`` run
end to end with the real tools (slow), with dast, and with the image gate (docker)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet import selftest
from gauntlet.stage import Finding, Severity, StageResult, Status

BASE_IMAGE = os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "local/python-base")
RUN_TIMEOUT_S = 600  # seconds the whole self-test may take before the test gives up


def finding(rule_id: str, path: str | None) -> Finding:
    return Finding(
        tool="tool",
        rule_id=rule_id,
        severity=Severity.HIGH,
        message="m",
        fingerprint="f",
        path=path,
    )


def case_for(gate: str) -> selftest.Case:
    cases = {case.gate: case for case in selftest.defect_cases(selftest.clean_files())}
    return cases[gate]


def run_selftest(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m gauntlet selftest ARGS`` with the kit's tools first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GAUNTLET_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", "selftest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def table_rows(stdout: str) -> dict[tuple[str, str], tuple[str, str]]:
    """Return {(gate, planted defect): (verdict, ok)} from the printed table."""
    rows = {}
    for line in stdout.splitlines()[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 4:
            rows[(cells[0], cells[1])] = (cells[2], cells[3])
    return rows


# Verdict logic, on results built in the test.


def test_defect_row_ok_when_planted_rule_fails():
    case = case_for("lint")
    result = StageResult(
        "lint", Status.FAILED, [finding("E0602/undefined-variable", case.path)], message="1 finding"
    )

    row = selftest.defect_row(case, {"lint": result})

    assert row.ok
    assert row.verdict == "failed"


def test_defect_row_not_ok_on_other_rule():
    case = case_for("lint")
    result = StageResult("lint", Status.FAILED, [finding("C0114/missing-docstring", case.path)])

    row = selftest.defect_row(case, {"lint": result})

    assert not row.ok
    assert "no E0602 finding" in row.message


def test_defect_row_not_ok_on_other_path():
    case = case_for("sast")
    result = StageResult("sast", Status.FAILED, [finding("B602", "wordstats/__init__.py")])

    row = selftest.defect_row(case, {"sast": result})

    assert not row.ok


def test_defect_row_not_ok_when_gate_passed():
    result = StageResult("unit", Status.PASSED, message="3 tests passed")

    row = selftest.defect_row(case_for("unit"), {"unit": result})

    assert not row.ok
    assert row.verdict == "passed"


def test_defect_row_ignores_non_gating_finding():
    case = case_for("sast")
    below_gate = Finding(
        tool="bandit",
        rule_id="B602",
        severity=Severity.HIGH,
        message="m",
        fingerprint="f",
        path=case.path,
        gating=False,
    )
    result = StageResult("sast", Status.FAILED, [below_gate])

    row = selftest.defect_row(case, {"sast": result})

    assert not row.ok


def test_defect_row_missing_result():
    row = selftest.defect_row(case_for("coverage"), {"unit": StageResult("unit", Status.PASSED)})

    assert not row.ok
    assert row.verdict == "missing"


def test_clean_rows_need_passed():
    results = {
        "format": StageResult("format", Status.PASSED),
        "lint": StageResult("lint", Status.FAILED, message="score 8.0"),
    }

    rows = selftest.clean_rows(["format", "lint", "sast"], results)

    assert [row.ok for row in rows] == [True, False, False]
    assert [row.verdict for row in rows] == ["passed", "failed", "missing"]


@pytest.mark.parametrize(
    ("verdicts_ok", "interrupted", "expected"),
    [
        ([("passed", True), ("failed", True)], False, 0),
        ([("passed", True), ("passed", False)], False, 1),
        ([("error", False), ("passed", False)], False, 3),
        ([("passed", True)], True, 130),
    ],
)
def test_report_exit_code(verdicts_ok, interrupted, expected):
    rows = [selftest.Row("g", "d", verdict, ok) for verdict, ok in verdicts_ok]

    report = selftest.Report(rows, interrupted)

    assert report.exit_code == expected


def test_render_explains_rows_not_ok():
    rows = [
        selftest.Row("format", selftest.CLEAN, "passed", True),
        selftest.Row("unit", "a failing test", "error", False, "tool not found on PATH: 'pytest'"),
    ]

    text = selftest.render(selftest.Report(rows))

    assert "--- unit (a failing test): error: tool not found on PATH: 'pytest'" in text
    assert text.splitlines()[-1] == "selftest failed (exit 3)"


def test_defect_cases_cover_code_gates():
    cases = selftest.defect_cases(selftest.clean_files())

    assert [case.gate for case in cases] == list(selftest.CODE_GATES)


def test_image_case_only_with_dockerfile():
    clean = selftest.clean_files(with_image=True, base_image="local/python-base")

    cases = selftest.defect_cases(clean)

    assert cases[-1].gate == "image"
    assert "USER" in clean["Dockerfile"]
    assert "USER" not in cases[-1].files["Dockerfile"]


def test_dast_case_only_with_service():
    clean = selftest.clean_files(with_dast=True)

    cases = selftest.defect_cases(clean)

    assert cases[-1].gate == "dast"
    assert "WHERE word = ?" in clean[selftest.SERVICE_PATH]
    assert "WHERE word = '{word}'" in cases[-1].files[selftest.SERVICE_PATH]
    assert "[tool.gauntlet.dast]" in clean["pyproject.toml"]


def test_default_cases_leave_out_image_and_dast():
    gates = [case.gate for case in selftest.defect_cases(selftest.clean_files())]

    assert "image" not in gates
    assert "dast" not in gates


def test_planted_files_differ_from_clean():
    clean = selftest.clean_files(True, "x", True)

    for case in selftest.defect_cases(clean):
        for path, text in case.files.items():
            assert clean.get(path) != text, f"{case.gate}: {path} is not changed"


# End to end, with the real tools.


# One run checks the code gates and dast: dast needs no container engine and takes seconds here.
GATES = (*selftest.CODE_GATES, "dast")
DEFECT_CASES = selftest.defect_cases(selftest.clean_files(with_dast=True))


@pytest.fixture(name="code_gates_run", scope="module")
def fixture_code_gates_run() -> subprocess.CompletedProcess:
    return run_selftest("--with-dast")


@pytest.mark.slow
def test_selftest_exits_0(code_gates_run):
    assert code_gates_run.returncode == 0, code_gates_run.stdout + code_gates_run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("gate", GATES)
def test_selftest_gate_passes_clean_code(code_gates_run, gate):
    rows = table_rows(code_gates_run.stdout)

    assert rows.get((gate, selftest.CLEAN)) == ("passed", "yes"), code_gates_run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("case", DEFECT_CASES, ids=lambda case: case.gate)
def test_selftest_gate_fails_on_defect(code_gates_run, case):
    rows = table_rows(code_gates_run.stdout)

    assert rows.get((case.gate, case.defect)) == ("failed", "yes"), code_gates_run.stdout


@pytest.mark.slow
def test_selftest_prints_only_table_rows(code_gates_run):
    rows = table_rows(code_gates_run.stdout)

    assert len(rows) == 2 * len(GATES), code_gates_run.stdout
    assert "Traceback" not in code_gates_run.stderr


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


@pytest.mark.slow
@pytest.mark.docker
def test_selftest_with_image_trips_root_user():
    if shutil.which("docker") is None or docker("version").returncode != 0:
        pytest.skip("no container engine reachable")
    if docker("image", "inspect", BASE_IMAGE).returncode != 0:
        pytest.skip(f"base image {BASE_IMAGE} is missing; set GAUNTLET_TEST_BASE_IMAGE")

    completed = run_selftest("--with-image", "--base-image", BASE_IMAGE)
    rows = table_rows(completed.stdout)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert rows.get(("image", selftest.CLEAN)) == ("passed", "yes")
    assert rows.get(("image", "a Dockerfile that runs as root")) == ("failed", "yes")
