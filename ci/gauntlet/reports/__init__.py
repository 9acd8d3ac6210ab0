"""Reports of a run, written under the reports directory after the stages end (also after Ctrl-C).

``write_reports`` writes, in this order: the Allure HTML report (when Allure results exist),
gauntlet.sarif, junit.xml, summary.json, summary.md, and the job summary in
``$GITHUB_STEP_SUMMARY`` when that is set. A report that cannot be written becomes a warning in
the summary, and it never changes the run's exit code.
"""

from __future__ import annotations

import logging
from typing import Callable

from gauntlet.pipeline import RunOutcome
from gauntlet.reports import allure, json_report, junit, markdown, sarif

log = logging.getLogger(__name__)


def write_reports(outcome: RunOutcome) -> None:
    """Write every report of ``outcome``; failures are appended to ``outcome.warnings``."""
    writers: list[tuple[str, Callable[[RunOutcome], object]]] = [
        ("Allure report", allure.write),
        ("SARIF report", sarif.write),
        ("JUnit report", junit.write),
        ("summary.json", json_report.write),
        ("summary.md", markdown.write),
        (f"job summary ${markdown.STEP_SUMMARY_ENV}", markdown.append_step_summary),
    ]
    for title, writer in writers:
        try:
            writer(outcome)
        except OSError as exc:
            message = f"{title} was not written: {exc}"
            log.warning("%s", message)
            outcome.warnings.append(message)
