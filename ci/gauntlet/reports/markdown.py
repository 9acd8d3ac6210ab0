"""summary.md: the run as a Markdown table, also appended to ``$GITHUB_STEP_SUMMARY`` when set.

The findings list is capped at ``MAX_FINDINGS`` rows because GitHub limits a job summary to 1 MiB.
"""

from __future__ import annotations

import os
from pathlib import Path

from gauntlet.pipeline import RunOutcome
from gauntlet.stage import Finding, StageResult, Status

FILE_NAME = "summary.md"
MAX_FINDINGS = 100
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

VERDICT_WORDS = {0: "passed", 1: "failed", 2: "usage error", 3: "error", 130: "interrupted"}
STATUS_ICONS = {
    Status.PASSED: "✅",
    Status.FAILED: "❌",
    Status.ERROR: "💥",
    Status.SKIPPED: "⏭️",
}


def write(outcome: RunOutcome) -> Path:
    """Write summary.md and return its path."""
    path = outcome.settings.reports_dir / FILE_NAME
    path.write_text(render(outcome), encoding="utf-8")
    return path


def append_step_summary(outcome: RunOutcome) -> Path | None:
    """Append the summary to the file in ``$GITHUB_STEP_SUMMARY`` and return its path.

    Returns None when the variable is unset or empty, as outside GitHub Actions.
    """
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if not step_summary:
        return None

    with open(step_summary, "a", encoding="utf-8") as handle:
        handle.write(render(outcome))
    return Path(step_summary)


def render(outcome: RunOutcome) -> str:
    """Return the Markdown text of the summary."""
    verdict = VERDICT_WORDS.get(outcome.exit_code, str(outcome.exit_code))
    lines = [
        f"## gauntlet: {verdict} (exit {outcome.exit_code})",
        "",
        "| stage | verdict | findings | duration |",
        "|---|---|---:|---:|",
    ]
    for result in outcome.results:
        icon = STATUS_ICONS[result.status]
        lines.append(
            f"| {result.name} | {icon} {result.status.value} | {len(result.gating_findings)} | "
            f"{result.duration_s:.1f} s |"
        )
    for name in outcome.unfinished:
        lines.append(f"| {name} | not finished (interrupted) | | |")
    lines.append("")

    lines.extend(render_messages(outcome.results))
    lines.extend(render_findings(outcome.results))
    if outcome.warnings:
        lines.append("**Warnings**")
        lines.append("")
        lines.extend(f"- {escape(warning)}" for warning in outcome.warnings)
        lines.append("")
    return "\n".join(lines) + "\n"


def render_messages(results: list[StageResult]) -> list[str]:
    lines = []
    for result in results:
        if result.message and result.status is not Status.PASSED:
            lines.append(f"- **{result.name}** ({result.status.value}): {escape(result.message)}")
    return [*lines, ""] if lines else []


def render_findings(results: list[StageResult]) -> list[str]:
    findings = [(result.name, finding) for result in results for finding in result.gating_findings]
    if not findings:
        return []

    lines = [
        "| stage | severity | rule | where | message |",
        "|---|---|---|---|---|",
    ]
    for stage, finding in findings[:MAX_FINDINGS]:
        lines.append(
            f"| {stage} | {finding.severity.value} | {escape(finding.rule_id)} | "
            f"{escape(where(finding))} | {escape(finding.message)} |"
        )
    if len(findings) > MAX_FINDINGS:
        lines.append(f"| … | | | | {len(findings) - MAX_FINDINGS} more in summary.json |")
    return [*lines, ""]


def where(finding: Finding) -> str:
    """Return ``path:line`` or the target and parameter of a finding."""
    if finding.path:
        return f"{finding.path}:{finding.line}" if finding.line else finding.path
    if finding.target:
        return f"{finding.target} ({finding.parameter})" if finding.parameter else finding.target
    return ""


def escape(text: str) -> str:
    """Return ``text`` on one line, safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
