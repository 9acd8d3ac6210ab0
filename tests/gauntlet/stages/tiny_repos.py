"""Tiny target repositories for the unit, bdd and coverage stage tests, and a fixture recorder.

``clean_repo()`` returns the files of a repository on which the three stages pass: a package
``calc``, pytest tests, behave features and a coverage configuration that measures subprocesses.
The other functions return it with one planted defect each.

Coverage of the clean repository is split on purpose. pytest covers ``add``, and
``calc/__main__.py`` only through a subprocess. behave covers ``multiply`` and ``subtract``. No
test calls ``unused``, so the combined total is 75 percent.

Run as a script to re-record the real tool output in tests/fixtures/{pytest,behave,coverage}/
with the tools on PATH: ``.venv/bin/python tests/gauntlet/stages/tiny_repos.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

STAGE_TIMEOUT_S = 120.0

PACKAGE = '''\
"""Arithmetic for the stage tests."""


def add(a, b):
    return a + b


def subtract(a, b):
    return a - b


def multiply(a, b):
    result = 0
    for _ in range(b):
        result = add(result, a)
    return result


def unused(a):
    if a:
        return a
    return 0
'''

# Runs only as ``python -m calc A B``, so only subprocess measurement covers it.
MAIN = """\
import sys

from calc import add

print(add(int(sys.argv[1]), int(sys.argv[2])))
"""

TESTS = """\
import subprocess
import sys

from calc import add


def test_add():
    assert add(2, 3) == 5


def test_cli_prints_sum():
    completed = subprocess.run(
        [sys.executable, "-m", "calc", "2", "3"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "5"
"""

FEATURE = """\
Feature: Calculator

  Scenario: multiply two numbers
    Given the numbers 3 and 4
    When I multiply them
    Then the result is 12

  Scenario: subtract two numbers
    Given the numbers 5 and 3
    When I subtract them
    Then the result is 2
"""

STEPS = """\
from behave import given, then, when

from calc import multiply, subtract


@given("the numbers {a:d} and {b:d}")
def step_numbers(context, a, b):
    context.a = a
    context.b = b


@when("I multiply them")
def step_multiply(context):
    context.result = multiply(context.a, context.b)


@when("I subtract them")
def step_subtract(context):
    context.result = subtract(context.a, context.b)


@then("the result is {expected:d}")
def step_result(context, expected):
    assert context.result == expected, f"expected {expected}, got {context.result}"
"""

PYPROJECT = """\
[tool.coverage.run]
branch = true
parallel = true
relative_files = true
patch = ["subprocess"]
"""


def clean_repo() -> dict[str, str]:
    """Return the files of the repository on which unit, bdd and coverage pass."""
    return {
        "pyproject.toml": PYPROJECT,
        "calc/__init__.py": PACKAGE,
        "calc/__main__.py": MAIN,
        "tests/test_calc.py": TESTS,
        "features/calc.feature": FEATURE,
        "features/steps/calc_steps.py": STEPS,
    }


def with_failing_test() -> dict[str, str]:
    """Return the clean repository plus a test class with a failing and an erroring test."""
    files = clean_repo()
    files["tests/test_broken.py"] = """\
import pytest

from calc import subtract


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture setup failed")


class TestSubtract:
    def test_subtract_wrong(self):
        assert subtract(5, 3) == 3

    @pytest.mark.parametrize("a", [1, 2])
    def test_uses_broken_fixture(self, broken_fixture, a):
        assert a
"""
    return files


def with_collection_error() -> dict[str, str]:
    """Return the clean repository plus a test file that cannot be imported."""
    files = clean_repo()
    files["tests/test_import.py"] = "from calc import no_such_name\n\n\ndef test_x():\n    pass\n"
    return files


def without_tests() -> dict[str, str]:
    """Return the clean repository whose tests directory contains no test."""
    files = clean_repo()
    del files["tests/test_calc.py"]
    files["tests/helpers.py"] = "VALUE = 1\n"
    return files


def with_failing_step() -> dict[str, str]:
    """Return the clean repository with a scenario whose Then step fails."""
    files = clean_repo()
    files["features/calc.feature"] = FEATURE.replace("Then the result is 2", "Then the result is 3")
    return files


def with_undefined_step() -> dict[str, str]:
    """Return the clean repository plus a scenario with a step that has no definition."""
    files = clean_repo()
    files["features/calc.feature"] = FEATURE + """
  Scenario: divide two numbers
    Given the numbers 6 and 3
    When I divide them
    Then the result is 2
"""
    return files


def with_mixed_scenarios() -> dict[str, str]:
    """Return a repository whose behave run has every verdict the stage decodes.

    A failed step, an undefined step, a failing Scenario Outline row, a hook error, an exception
    in a step, and a Rule with a Background (where behave 1.3.3 misplaces a scenario status).
    """
    files = clean_repo()
    files["features/calc.feature"] = FEATURE + """
  Scenario: subtract wrongly
    Given the numbers 5 and 3
    When I subtract them
    Then the result is 3

  Scenario: divide two numbers
    Given the numbers 6 and 3
    When I divide them
    Then the result is 2

  Scenario: crash in a step
    Given the numbers 1 and 0
    When I crash

  Scenario: hook fails afterwards
    Given the numbers 1 and 1
    When I multiply them
    Then the result is 1

  Scenario Outline: multiply by <b>
    Given the numbers 2 and <b>
    When I multiply them
    Then the result is <product>

    Examples:
      | b | product |
      | 1 | 2       |
      | 2 | 5       |

  Rule: with a background
    Background:
      Given the numbers 2 and 2

    Scenario: multiply in a rule
      When I multiply them
      Then the result is 4
"""
    files["features/steps/crash_steps.py"] = """\
from behave import when


@when("I crash")
def step_crash(context):
    raise ZeroDivisionError("division by zero in a step")
"""
    files["features/environment.py"] = """\
def after_scenario(context, scenario):
    if scenario.name == "hook fails afterwards":
        raise RuntimeError("after_scenario hook failed")
"""
    return files


def without_scenarios() -> dict[str, str]:
    """Return the clean repository whose only feature is tagged @wip (to select nothing)."""
    files = clean_repo()
    files["features/calc.feature"] = "@wip\n" + FEATURE
    return files


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def stage_context(root: Path, options: object, stage_name: str, paths: tuple[str, ...] = ("calc",)):
    """Return a StageContext for ``root`` with reports in ``<root>-reports`` (emptied out_dir)."""
    from gauntlet.stage import RunSettings, StageContext

    reports_dir = root.parent / f"{root.name}-reports"
    settings = RunSettings(root=root, reports_dir=reports_dir, run_id="tiny", paths=paths)
    out_dir = reports_dir / stage_name
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    return StageContext(
        settings=settings,
        options=options,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=STAGE_TIMEOUT_S,
        deadline=time.monotonic() + STAGE_TIMEOUT_S,
        log_path=out_dir / f"{stage_name}.log",
    )


def record_fixtures(fixtures_dir: Path) -> None:
    """Run the stages on the tiny repositories and copy the tools' raw output into fixtures."""
    from gauntlet.errors import StageError
    from gauntlet.stages import bdd, coverage, unit

    def run_stage(module, root: Path, options, stage_name: str) -> Path:
        ctx = stage_context(root, options, stage_name)
        try:
            module.STAGE.run(ctx)
        except StageError as error:
            print(f"{stage_name}: {error}")
        return ctx.out_dir

    pytest_dir = fixtures_dir / "pytest"
    behave_dir = fixtures_dir / "behave"
    coverage_dir = fixtures_dir / "coverage"
    for folder in (pytest_dir, behave_dir, coverage_dir):
        folder.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        cases = {
            "passing": clean_repo(),
            "failing": with_failing_test(),
            "collection_error": with_collection_error(),
        }
        for case, files in cases.items():
            root = write_files(Path(scratch) / case / "repo", files)
            out_dir = run_stage(unit, root, unit.UnitOptions(), "unit")
            shutil.copy(out_dir / "junit.xml", pytest_dir / f"{case}.junit.xml")

        cases = {"passing": clean_repo(), "mixed": with_mixed_scenarios()}
        for case, files in cases.items():
            root = write_files(Path(scratch) / f"bdd-{case}" / "repo", files)
            out_dir = run_stage(bdd, root, bdd.BddOptions(), "bdd")
            shutil.copy(out_dir / "behave.json", behave_dir / f"{case}.json")
            shutil.copy(out_dir / "behave.txt", behave_dir / f"{case}.txt")

        root = write_files(Path(scratch) / "combined" / "repo", clean_repo())
        run_stage(unit, root, unit.UnitOptions(), "unit")
        run_stage(bdd, root, bdd.BddOptions(), "bdd")
        options = replace(coverage.CoverageOptions(), fail_under=95.0)
        out_dir = run_stage(coverage, root, options, "coverage")
        shutil.copy(out_dir / "coverage.json", coverage_dir / "combined.json")
        shutil.copy(out_dir / "coverage.txt", coverage_dir / "below_threshold.txt")


if __name__ == "__main__":
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    record_fixtures(Path(__file__).resolve().parents[2] / "fixtures")
