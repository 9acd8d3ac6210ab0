"""Acceptance checks of ``gauntlet run`` on copies of this repository, with the real tools.

Each case copies the sample app, its features and tests and the repository's pyproject.toml into
a temporary directory, plants one defect or one bad input, and runs ``python -m gauntlet run`` in
a child process. A case runs only the stages it is about. Where a gate trips on any failing test
or scenario, the case narrows the tests or scenarios to the planted one, so it takes seconds.
The clean case runs the six code stages on the unchanged copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomlkit

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
# allurerc.mjs stays out: it imports the `allure` package, which resolves only from a
# node_modules next to it, and the Allure CLI's defaults plus the kit's flags are enough.
COPIED = ("pyproject.toml", "sample_app", "features", "tests/sample_app")
SARIF_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
# The pinned Allure CLI that `make` installs. Without it the run writes no Allure HTML report.
ALLURE_BIN = REPO_ROOT / "node_modules" / ".bin"
IGNORED_NAMES = ("__pycache__", "*.pyc", ".coverage*", "reports")
CODE_STAGES = "format,lint,sast,unit,bdd,coverage"
RUN_TIMEOUT_S = 600  # seconds a whole gauntlet run may take before the test gives up


@pytest.fixture(name="repo")
def fixture_repo(tmp_path: Path) -> Path:
    """Return a fresh copy of the parts of this repository that the code stages read."""
    root = tmp_path / "repo"
    root.mkdir()
    for relative in COPIED:
        source = REPO_ROOT / relative
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED_NAMES))
        else:
            shutil.copy2(source, target)
    return root


def gauntlet_env(path: str | None = None) -> dict[str, str]:
    """Return the environment of a gauntlet run: the kit's tools first on PATH, no overrides."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GAUNTLET_") and key != "GITHUB_STEP_SUMMARY"
    }
    if path is None:
        path = os.pathsep.join(
            [str(Path(sys.executable).parent), str(ALLURE_BIN), os.environ.get("PATH", "")]
        )
    env["PATH"] = path
    return env


def run_gauntlet(root: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m gauntlet run ARGS`` in ``root`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", "run", *args],
        cwd=root,
        env=gauntlet_env(path),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def stage_summary(root: Path, name: str) -> dict[str, Any]:
    """Return the entry of stage ``name`` in reports/summary.json."""
    summary = json.loads((root / "reports" / "summary.json").read_text(encoding="utf-8"))
    entries = {entry["name"]: entry for entry in summary["stages"]}
    return entries[name]


def stage_status(root: Path, name: str) -> str:
    return stage_summary(root, name)["status"]


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def configure(root: Path, stage: str | None, **values: Any) -> None:
    """Set keys of ``[tool.gauntlet]`` or ``[tool.gauntlet.<stage>]`` in the copy's pyproject."""
    pyproject = root / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
    table = document["tool"]["gauntlet"]
    if stage is not None:
        if stage not in table:
            table[stage] = tomlkit.table()
        table = table[stage]
    for key, value in values.items():
        table[key] = value
    pyproject.write_text(tomlkit.dumps(document), encoding="utf-8")


def process_running(pid: int) -> bool:
    """Return whether ``pid`` is a live process; a zombie waiting to be reaped counts as ended."""
    if Path("/proc/self/stat").is_file():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        state = stat.rsplit(")", 1)[1].split()[0]
        return state != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def error_lines(completed: subprocess.CompletedProcess) -> list[str]:
    return completed.stderr.strip().splitlines()


# Planted defects, one gate each.


def test_format_fails_on_misformatted_file(repo):
    write(
        repo,
        "sample_app/planted_format.py",
        '''\
        """A module that black would reformat."""

        LIMITS = {  'title':80,'body' :2000 }
        ''',
    )

    completed = run_gauntlet(repo, "--only", "format")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "format") == "failed"


def test_lint_fails_on_undefined_name(repo):
    write(
        repo,
        "sample_app/planted_lint.py",
        '''\
        """A module that uses a name it never defines."""


        def note_limit():
            """Return the maximum note length."""
            return MAX_NOTE_LENGTH
        ''',
    )

    completed = run_gauntlet(repo, "--only", "lint")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "lint") == "failed"


def test_sast_fails_on_shell_true(repo):
    write(
        repo,
        "sample_app/planted_shell.py",
        '''\
        """A module that hands user input to a shell."""

        import subprocess


        def archive_notes(user_path):
            """Pack the user's notes into a tarball named by the user."""
            return subprocess.run(f"tar czf {user_path} notes", shell=True, check=False)
        ''',
    )

    completed = run_gauntlet(repo, "--only", "sast")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "sast") == "failed"


def test_unit_fails_on_failing_test(repo):
    write(
        repo,
        "tests/sample_app/test_app_planted.py",
        """\
        from sample_app.validation import ValidationError


        def test_planted_failure():
            assert ValidationError.__name__ == "SomethingElse"
        """,
    )
    # One real test file next to the planted one keeps the run short; any failed test trips.
    configure(
        repo,
        "unit",
        tests=["tests/sample_app/test_app_validation.py", "tests/sample_app/test_app_planted.py"],
    )

    completed = run_gauntlet(repo, "--only", "unit")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "unit") == "failed"


def test_bdd_fails_on_failing_step(repo):
    write(
        repo,
        "features/planted.feature",
        """\
        @planted
        Feature: Planted failure

          Scenario: A health check is expected to fail
            Given "alice" is logged in
            When "alice" makes a health check
            Then the response has status 500
        """,
    )
    configure(repo, "bdd", tags="@planted")

    completed = run_gauntlet(repo, "--only", "bdd")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "bdd") == "failed"


def test_coverage_fails_below_threshold(repo):
    # The full unit and bdd runs cover the sample app completely, so a planted function that no
    # test calls is what puts the total below 100. One test file and one tagged scenario keep the
    # run short and lower the total further.
    write(
        repo,
        "sample_app/planted_unused.py",
        '''\
        """A module that no test imports."""


        def unused_helper(value):
            """Return ``value`` doubled."""
            return value * 2
        ''',
    )
    configure(repo, "coverage", fail_under=100.0)
    configure(repo, "unit", tests=["tests/sample_app/test_app_validation.py"])
    configure(repo, "bdd", tags="@planted")
    write(
        repo,
        "features/planted.feature",
        """\
        @planted
        Feature: Planted health check

          Scenario: A health check returns 200
            Given "alice" is logged in
            When "alice" makes a health check
            Then the response has status 200
        """,
    )

    completed = run_gauntlet(repo, "--only", "unit,bdd,coverage")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert stage_status(repo, "unit") == "passed"
    assert stage_status(repo, "bdd") == "passed"
    assert stage_status(repo, "coverage") == "failed"
    assert stage_summary(repo, "coverage")["details"]["total"] < 100.0


def test_coverage_alone_after_unit_run(repo):
    # Two runs, as split CI jobs or a developer do: the second combines the data of the first.
    configure(repo, "unit", tests=["tests/sample_app/test_app_validation.py"])
    configure(repo, "coverage", fail_under=0.0)

    unit = run_gauntlet(repo, "--only", "unit")
    completed = run_gauntlet(repo, "--only", "coverage")

    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert stage_status(repo, "coverage") == "passed"
    assert stage_summary(repo, "coverage")["details"]["total"] > 0.0


def test_clean_copy_passes_code_stages(repo):
    completed = run_gauntlet(repo, "--only", CODE_STAGES)
    reports = repo / "reports"

    assert completed.returncode == 0, completed.stdout + completed.stderr
    for name in CODE_STAGES.split(","):
        assert stage_status(repo, name) == "passed", name
    summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 0
    for entry in summary["stages"]:
        assert {"name", "status", "findings", "duration_s"} <= set(entry), entry
    assert (reports / "summary.md").is_file()
    assert (reports / "junit.xml").is_file()
    sarif = json.loads((reports / "gauntlet.sarif").read_text(encoding="utf-8"))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    if shutil.which("allure", path=gauntlet_env()["PATH"]):
        assert (reports / "allure-report" / "index.html").is_file()


# Bad input: exit 2 or 3, one line on stderr that names the value, no traceback.


def test_malformed_toml_exits_2(repo):
    with open(repo / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write('\n[tool.gauntlet.lint\nfail_on = ["E"]\n')

    completed = run_gauntlet(repo, "--only", "format")

    assert completed.returncode == 2
    assert len(error_lines(completed)) == 1, completed.stderr
    assert "pyproject.toml: invalid TOML at line" in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


def test_unknown_stage_in_only_exits_2(repo):
    completed = run_gauntlet(repo, "--only", "format,lnt")

    assert completed.returncode == 2
    assert len(error_lines(completed)) == 1, completed.stderr
    assert "'lnt'" in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


def test_fail_under_text_exits_2(repo):
    configure(repo, "coverage", fail_under="ninety")

    completed = run_gauntlet(repo, "--only", "format")

    assert completed.returncode == 2
    assert len(error_lines(completed)) == 1, completed.stderr
    assert "fail_under = 'ninety'" in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


def test_tool_missing_from_path_exits_3(repo, tmp_path):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()

    completed = run_gauntlet(repo, "--only", "format", path=str(empty_bin))
    output = completed.stdout + completed.stderr

    assert completed.returncode == 3
    # The message is one line on stderr, and the details on stdout show only the log tail.
    assert len([line for line in output.splitlines() if "'black'" in line]) == 1, output
    assert "Traceback" not in output
    assert stage_status(repo, "format") == "error"


def test_missing_source_path_exits_2(repo):
    configure(repo, None, paths=["sample_app", "no_such_package"])

    completed = run_gauntlet(repo, "--only", "format")

    assert completed.returncode == 2
    assert len(error_lines(completed)) == 1, completed.stderr
    assert "'no_such_package'" in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


# A hanging stage.


def test_hanging_stage_ends_as_error(repo, tmp_path):
    pid_file = tmp_path / "child.pid"
    write(
        repo,
        "tests/sample_app/test_app_hangs.py",
        f"""\
        import subprocess
        import time
        from pathlib import Path


        def test_hangs_with_a_child():
            child = subprocess.Popen(["sleep", "600"])
            Path({str(pid_file)!r}).write_text(str(child.pid), encoding="utf-8")
            time.sleep(600)
        """,
    )
    # 10 s leaves pytest time to start the planted test on a loaded machine before the deadline.
    configure(repo, "unit", tests=["tests/sample_app/test_app_hangs.py"], timeout=10)

    completed = run_gauntlet(repo, "--only", "format,unit")

    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert stage_status(repo, "unit") == "error"
    assert stage_summary(repo, "unit")["message"].startswith("timed out after 10 s: ")
    assert re.findall(r"[0-9.]+ s\b", stage_summary(repo, "unit")["message"]) == ["10 s"]
    assert stage_status(repo, "format") == "passed"
    assert (repo / "reports" / "format" / "format.log").is_file()
    assert pid_file.is_file(), "the planted test did not start within the unit timeout"
    assert not process_running(int(pid_file.read_text(encoding="utf-8")))
