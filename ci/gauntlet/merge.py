"""Merge the reports of several ``gauntlet run`` invocations into one reports directory.

The reusable GitHub workflow runs the stages in parallel jobs, each with ``--only`` and its own
reports directory, and uploads each directory as an artifact. The final job downloads them all
into one folder (one subfolder per artifact) and calls ``merge_reports`` to get:

- summary.json: every stage of every job, each entry tagged with its ``job`` (the artifact name),
  and the run's ``exit_code`` recomputed from the stage statuses;
- summary.md: the same as a Markdown table, for ``$GITHUB_STEP_SUMMARY``;
- gauntlet.sarif: one run per tool, and sarif/<tool>.sarif, one file per tool, because code
  scanning takes one category per upload and rejects two runs of one tool in one category;
- junit.xml: the test suites of every job under one ``<testsuites>`` root;
- allure-results/: the result files of every job, for one Allure report;
- allure-report/index.html: one single-file Allure report over all jobs, when asked for;
- <artifact>/: each artifact's raw files, unchanged.

A job that failed or was cancelled without leaving a summary counts as a stage in ``error``, so a
crash before ``gauntlet run`` wrote its reports never reads as a pass.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet import process
from gauntlet.reports import allure
from gauntlet.stages import all_stages
from gauntlet.errors import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_PASSED,
    EXIT_USAGE,
    GauntletError,
    StageError,
    ToolNotFound,
    UsageError,
)

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
SARIF_FILE = "gauntlet.sarif"
SARIF_DIR = "sarif"
JUNIT_FILE = "junit.xml"
ALLURE_RESULTS = "allure-results"
ALLURE_REPORT = "allure-report"
MERGE_LOG = "merge.log"
ALLURE_TIMEOUT_S = 300.0


# Most severe first: an error anywhere outranks a usage error, which outranks a failed gate.
_EXIT_PRIORITY = (EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_PASSED)

# GitHub's ``needs.<job>.result`` values that mean the job did not finish its steps.
_BROKEN_JOB_RESULTS = ("failure", "cancelled")


@dataclass
class Artifact:
    """One downloaded reports directory; ``name`` is the artifact name, ``job`` its job id."""

    name: str
    job: str
    path: Path
    summary: dict[str, Any] | None = None


@dataclass
class MergeResult:
    """The merged verdict, the merged summary and the tools that got a SARIF file."""

    exit_code: int
    summary: dict[str, Any]
    sarif_tools: list[str] = field(default_factory=list)


def merge_reports(
    artifacts_dir: Path,
    out_dir: Path,
    *,
    job_results: dict[str, str] | None = None,
    artifact_prefix: str = "gauntlet-job-",
    path_prefix: str = "",
) -> MergeResult:
    """Merge every artifact folder under ``artifacts_dir`` into ``out_dir`` and return the verdict.

    ``job_results`` maps a job id to its result (GitHub's ``needs.<job>.result``). An artifact
    named ``<artifact_prefix><job>`` or ``<artifact_prefix><job>-<variant>`` belongs to ``job``.
    ``path_prefix`` is prepended to relative SARIF locations, for runs whose working directory is
    below the repository root (code scanning resolves paths from the root).
    """
    if not artifacts_dir.is_dir():
        raise UsageError(
            f"artifacts directory not found: {artifacts_dir}; pass the folder the artifacts were "
            "downloaded into"
        )

    job_ids = sorted((job_results or {}).keys(), key=len, reverse=True)
    artifacts = find_artifacts(artifacts_dir, artifact_prefix, job_ids)
    out_dir.mkdir(parents=True, exist_ok=True)

    summary = merge_summaries(artifacts, job_results or {})
    write_json(out_dir / SUMMARY_JSON, summary)
    (out_dir / SUMMARY_MD).write_text(render_markdown(summary), encoding="utf-8")

    sarif_tools = merge_sarif_files(artifacts, out_dir, path_prefix)
    merge_junit_files(artifacts, out_dir / JUNIT_FILE)
    copy_allure_results(artifacts, out_dir / ALLURE_RESULTS)
    copy_raw_reports(artifacts, out_dir)

    return MergeResult(summary["exit_code"], summary, sarif_tools)


def find_artifacts(artifacts_dir: Path, prefix: str, job_ids: list[str]) -> list[Artifact]:
    """List the artifact folders in name order and read each one's summary.json if present."""
    artifacts = []
    for path in sorted(artifacts_dir.iterdir()):
        if not path.is_dir():
            continue
        artifact = Artifact(path.name, job_of(path.name, prefix, job_ids), path)
        artifact.summary = read_summary(path / SUMMARY_JSON)
        artifacts.append(artifact)
    return artifacts


def job_of(artifact_name: str, prefix: str, job_ids: list[str]) -> str:
    """Return the job id an artifact name belongs to (the name without prefix if none matches).

    ``job_ids`` is sorted longest first, so ``tests-py`` wins over ``tests`` when both exist.
    """
    name = artifact_name.removeprefix(prefix)
    for job in job_ids:
        if name == job or name.startswith(job + "-"):
            return job
    return name


def read_summary(path: Path) -> dict[str, Any] | None:
    """Return the parsed summary.json, None when the file is missing."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}; the artifact is damaged") from error
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        raise UsageError(f"{path} has no 'stages' list; it is not a gauntlet summary.json")
    return data


def merge_summaries(artifacts: list[Artifact], job_results: dict[str, str]) -> dict[str, Any]:
    """Build the merged summary: all stages tagged with their job, plus broken jobs as errors."""
    stages: list[dict[str, Any]] = []
    exit_codes = []
    for artifact in artifacts:
        if artifact.summary is None:
            continue
        exit_codes.append(int(artifact.summary.get("exit_code", EXIT_ERROR)))
        for stage in artifact.summary["stages"]:
            stages.append({**stage, "job": artifact.name})

    for job, result in sorted(job_results.items()):
        problem = job_problem(job, result, artifacts)
        if problem:
            stages.append(broken_job_stage(job, problem))

    exit_codes.append(exit_code_of(stages))
    return {
        "exit_code": most_severe(exit_codes),
        "stages": stages,
        "jobs": dict(sorted(job_results.items())),
    }


def job_problem(job: str, result: str, artifacts: list[Artifact]) -> str:
    """Return why a job's outcome is not covered by its summaries, or "" when it is."""
    if result not in _BROKEN_JOB_RESULTS:
        return ""

    summaries = [item.summary for item in artifacts if item.job == job and item.summary]
    if not summaries:
        return f"job {job} ended with result {result!r} and left no summary.json"

    # A failed job whose summaries all passed had a leg or a step break outside gauntlet.
    statuses = {stage.get("status") for summary in summaries for stage in summary["stages"]}
    codes = {int(summary.get("exit_code", EXIT_ERROR)) for summary in summaries}
    if codes == {EXIT_PASSED} and statuses <= {"passed", "skipped"}:
        return f"job {job} ended with result {result!r} although its summaries show no failure"
    return ""


def broken_job_stage(job: str, message: str) -> dict[str, Any]:
    """Return a stage entry in ``error`` that stands for a job that broke outside gauntlet."""
    return {
        "name": f"job:{job}",
        "status": "error",
        "findings": 0,
        "duration_s": 0.0,
        "message": message + "; see the job's log",
        "job": job,
    }


def exit_code_of(stages: list[dict[str, Any]]) -> int:
    """Return the run's exit code implied by the stage statuses."""
    statuses = {stage.get("status") for stage in stages}
    if "error" in statuses:
        return EXIT_ERROR
    if "failed" in statuses:
        return EXIT_FAILED
    return EXIT_PASSED


def most_severe(exit_codes: list[int]) -> int:
    """Return the most severe exit code; an unknown code counts as an error."""
    for code in _EXIT_PRIORITY:
        if code in exit_codes:
            return code
    return EXIT_ERROR if exit_codes else EXIT_PASSED


def render_markdown(summary: dict[str, Any]) -> str:
    """Render the merged summary as a Markdown table with the verdict on top."""
    verdict = {
        EXIT_PASSED: "passed",
        EXIT_FAILED: "failed: at least one gate tripped",
        EXIT_USAGE: "usage or configuration error",
        EXIT_ERROR: "error: at least one stage or job broke",
    }.get(summary["exit_code"], "error")

    lines = [
        "## gauntlet",
        "",
        f"Verdict: **{verdict}** (exit code {summary['exit_code']})",
        "",
        "| stage | job | status | findings | duration (s) | message |",
        "|---|---|---|---:|---:|---|",
    ]
    for stage in summary["stages"]:
        message = str(stage.get("message", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {stage.get('name', '?')} | {stage.get('job', '')} | {stage.get('status', '?')} "
            f"| {stage.get('findings', 0)} | {float(stage.get('duration_s', 0.0)):.1f} "
            f"| {message} |"
        )
    if not summary["stages"]:
        lines.append("| (none) | | | | | no job left a summary |")
    return "\n".join(lines) + "\n"


def merge_sarif_files(artifacts: list[Artifact], out_dir: Path, path_prefix: str) -> list[str]:
    """Write gauntlet.sarif and sarif/<tool>.sarif with one run per tool; return the tools."""
    runs_by_tool: dict[str, list[dict[str, Any]]] = {}
    for artifact in artifacts:
        sarif_path = artifact.path / SARIF_FILE
        if not sarif_path.is_file():
            continue
        for run in read_sarif_runs(sarif_path):
            runs_by_tool.setdefault(tool_name(run), []).append(run)

    merged_runs = []
    per_tool_dir = out_dir / SARIF_DIR
    per_tool_dir.mkdir(parents=True, exist_ok=True)
    for tool, runs in sorted(runs_by_tool.items()):
        run = merge_runs(runs)
        relocate_paths(run, path_prefix)
        run.setdefault("tool", {}).setdefault("driver", {})["name"] = tool
        # The upload step sets the category, so a category inside the file must not compete.
        run.pop("automationDetails", None)
        merged_runs.append(run)
        write_json(per_tool_dir / f"{tool}.sarif", sarif_document([run]))

    write_json(out_dir / SARIF_FILE, sarif_document(merged_runs))
    return sorted(runs_by_tool)


def read_sarif_runs(path: Path) -> list[dict[str, Any]]:
    """Return the runs of a SARIF file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}; the artifact is damaged") from error
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, list):
        raise UsageError(f"{path} has no 'runs' list; it is not a SARIF 2.1.0 file")
    return runs


def stage_tools() -> dict[str, str]:
    """Return the tool behind each registered stage, by stage name."""
    return {name: stage.tool or name for name, stage in all_stages().items()}


def tool_name(run: dict[str, Any]) -> str:
    """Return the lower-case tool of a SARIF run, usable as a file name.

    Reports of kit versions before stages declared their tool name a run without findings after
    its stage (``format``). Both map to the tool, so a clean run closes the tool's earlier alerts
    in the same code scanning category.
    """
    name = str(run.get("tool", {}).get("driver", {}).get("name", "unknown")).lower()
    name = stage_tools().get(name, name)
    return "".join(char if char.isalnum() or char in "-_." else "-" for char in name) or "unknown"


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge runs of one tool into one: rules by id, results deduplicated by identity.

    ``ruleIndex`` points into the merged rule list afterwards. Artifact indexes are dropped
    because each run numbers its own ``artifacts`` list; the URI stays.
    """
    merged = json.loads(json.dumps(runs[0]))
    if len(runs) == 1:
        return merged

    driver = merged.setdefault("tool", {}).setdefault("driver", {})
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    seen: set[str] = set()

    for run in runs:
        run_rules = run.get("tool", {}).get("driver", {}).get("rules", [])
        for rule in run_rules:
            if rule.get("id") not in rule_index:
                rule_index[rule.get("id")] = len(rules)
                rules.append(rule)
        for result in run.get("results", []):
            key = result_identity(result)
            if key in seen:
                continue
            seen.add(key)
            results.append(reindex_result(result, run_rules, rule_index))

    driver["rules"] = rules
    merged["results"] = results
    merged.pop("artifacts", None)
    return merged


def result_identity(result: dict[str, Any]) -> str:
    """Return a key that is equal for the same finding reported by two jobs."""
    fingerprints = result.get("partialFingerprints") or result.get("fingerprints")
    if fingerprints:
        return json.dumps([result.get("ruleId"), fingerprints], sort_keys=True)
    return json.dumps(
        [result.get("ruleId"), result.get("message"), result.get("locations")], sort_keys=True
    )


def reindex_result(
    result: dict[str, Any], run_rules: list[dict[str, Any]], rule_index: dict[str, int]
) -> dict[str, Any]:
    """Return a copy of ``result`` whose rule and artifact references fit the merged run."""
    copy = json.loads(json.dumps(result))
    old_index = copy.get("ruleIndex")
    if isinstance(old_index, int) and 0 <= old_index < len(run_rules):
        copy["ruleIndex"] = rule_index[run_rules[old_index].get("id")]
    else:
        copy.pop("ruleIndex", None)

    for location in copy.get("locations", []):
        physical = location.get("physicalLocation", {})
        physical.get("artifactLocation", {}).pop("index", None)
    return copy


def relocate_paths(run: dict[str, Any], path_prefix: str) -> None:
    """Make every file location of the run relative to the repository root, in place.

    ``gauntlet run`` writes paths relative to ``%SRCROOT%``, the job's absolute working directory.
    Code scanning reads a relative URI without a base as relative to the repository root, so the
    base goes and ``path_prefix`` (the working directory below the root) is prepended instead.
    URIs with a scheme (a dast target) stay as they are.
    """
    prefix = path_prefix.strip("/")
    if prefix == ".":
        prefix = ""
    run.pop("originalUriBaseIds", None)

    for result in run.get("results", []):
        for location in result.get("locations", []):
            artifact = location.get("physicalLocation", {}).get("artifactLocation", {})
            uri = artifact.get("uri")
            artifact.pop("uriBaseId", None)
            if not isinstance(uri, str) or ":" in uri or uri.startswith("/"):
                continue
            if prefix:
                artifact["uri"] = f"{prefix}/{uri}"


def sarif_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap runs in a SARIF 2.1.0 log object."""
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    }


def merge_junit_files(artifacts: list[Artifact], out_path: Path) -> None:
    """Write one ``<testsuites>`` document holding the test suites of every artifact's junit.xml."""
    root = ElementTree.Element("testsuites")
    for artifact in artifacts:
        junit_path = artifact.path / JUNIT_FILE
        if not junit_path.is_file():
            continue
        try:
            document = ElementTree.parse(junit_path).getroot()
        except ElementTree.ParseError as error:
            raise UsageError(
                f"cannot parse {junit_path}: {error}; the artifact is damaged"
            ) from error
        suites = [document] if document.tag == "testsuite" else list(document.iter("testsuite"))
        for suite in suites:
            suite.set("name", f"{artifact.name}: {suite.get('name', '')}")
            root.append(suite)

    for counter in ("tests", "failures", "errors", "skipped"):
        total = sum(int(suite.get(counter, "0") or 0) for suite in root)
        root.set(counter, str(total))
    ElementTree.ElementTree(root).write(out_path, encoding="utf-8", xml_declaration=True)


def copy_allure_results(artifacts: list[Artifact], out_dir: Path) -> None:
    """Copy every artifact's Allure result files into one folder.

    Allure names result files by UUID, so files of different jobs do not collide. A file whose
    name exists already (such as categories.json) is kept from the first artifact.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts:
        results = artifact.path / ALLURE_RESULTS
        if not results.is_dir():
            continue
        for source in sorted(results.iterdir()):
            target = out_dir / source.name
            if source.is_file() and not target.exists():
                shutil.copy2(source, target)


def copy_raw_reports(artifacts: list[Artifact], out_dir: Path) -> None:
    """Copy each artifact folder unchanged to ``out_dir/<artifact name>``."""
    for artifact in artifacts:
        target = out_dir / artifact.name
        if target.resolve() == artifact.path.resolve():
            continue
        shutil.copytree(artifact.path, target, dirs_exist_ok=True)


def build_allure_report(results_dir: Path, report_dir: Path, log_path: Path) -> bool:
    """Generate a single-file Allure report from ``results_dir``; return False when it is empty.

    Uses the Allure 3 CLI the way ``gauntlet run`` does (``allure awesome --single-file``), found
    in ``./node_modules/.bin`` or on PATH. Raises ``ToolNotFound`` when it is missing and
    ``StageError`` when it fails or outlives ``ALLURE_TIMEOUT_S`` seconds.
    """
    if not results_dir.is_dir() or not any(results_dir.iterdir()):
        return False

    executable = allure.find_cli(Path.cwd())
    if executable is None:
        raise ToolNotFound(f"Allure CLI not found: {allure.INSTALL_HINT}")

    argv = [executable, "awesome", str(results_dir), "--single-file", "--output", str(report_dir)]
    completed = process.run(
        argv, cwd=results_dir.parent, log_path=log_path, timeout_s=ALLURE_TIMEOUT_S
    )
    if completed.returncode != 0 or not (report_dir / "index.html").is_file():
        raise StageError(
            f"allure awesome exited {completed.returncode} without writing "
            f"{report_dir / 'index.html'}; see {log_path}"
        )
    return True


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def parse_job_results(text: str) -> dict[str, str]:
    """Parse GitHub's ``toJSON(needs)`` into ``{job id: result}``; "" gives an empty map."""
    if not text.strip():
        return {}
    try:
        needs = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--needs-json is not valid JSON ({error}); pass toJSON(needs)") from error
    if not isinstance(needs, dict):
        raise UsageError("--needs-json must be a JSON object of jobs; pass toJSON(needs)")

    results = {}
    for job, value in needs.items():
        result = value.get("result") if isinstance(value, dict) else None
        if not isinstance(result, str):
            raise UsageError(f"--needs-json entry {job!r} has no 'result'; pass toJSON(needs)")
        results[job] = result
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``merge`` command's arguments to ``parser``."""
    parser.add_argument("artifacts_dir", type=Path, help="folder with one subfolder per artifact")
    parser.add_argument("--out", type=Path, required=True, help="reports folder to write")
    parser.add_argument(
        "--needs-json",
        default="",
        help="GitHub's toJSON(needs): a job that failed without a summary counts as an error",
    )
    parser.add_argument(
        "--artifact-prefix",
        default="gauntlet-job-",
        help="artifact name prefix before the job id (default: gauntlet-job-)",
    )
    parser.add_argument(
        "--path-prefix",
        default="",
        help="prepended to relative SARIF paths: the working directory below the repository root",
    )
    parser.add_argument(
        "--allure-report",
        action="store_true",
        help="also build <out>/allure-report/index.html with the Allure CLI (npm package allure)",
    )


def run_command(args: argparse.Namespace) -> int:
    """Merge with the parsed arguments, print the verdict line and return the merged exit code."""
    result = merge_reports(
        args.artifacts_dir,
        args.out,
        job_results=parse_job_results(args.needs_json),
        artifact_prefix=args.artifact_prefix,
        path_prefix=args.path_prefix,
    )
    stages = result.summary["stages"]
    if args.allure_report:
        built = build_allure_report(
            args.out / ALLURE_RESULTS, args.out / ALLURE_REPORT, args.out / MERGE_LOG
        )
        print(
            "Allure report: "
            + (str(args.out / ALLURE_REPORT / "index.html") if built else "no results")
        )
    print(
        f"merged {len(stages)} stage results into {args.out}: exit code {result.exit_code}; "
        f"SARIF tools: {', '.join(result.sarif_tools) or 'none'}"
    )
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m gauntlet.merge``; the same as ``gauntlet merge``."""
    parser = argparse.ArgumentParser(
        prog="python -m gauntlet.merge",
        description="Merge the reports folders of several gauntlet runs into one.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except GauntletError as error:
        print(f"gauntlet merge: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
