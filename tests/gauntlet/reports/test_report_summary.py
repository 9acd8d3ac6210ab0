"""Tests of gauntlet.reports.summary: progress lines, the table and failure details."""

from __future__ import annotations

import io

from gauntlet.reports import summary
from gauntlet.stage import StageResult, Status


def test_plain_progress_lines():
    stream = io.StringIO()
    progress = summary.Progress(stream, live=False)
    progress.stage_started("lint")
    progress.tick({"lint": 0.0})
    progress.stage_finished(StageResult("lint", Status.PASSED, duration_s=1.234))
    assert stream.getvalue() == "lint: started\nlint: passed (1.2 s)\n"


def test_live_progress_redraws_status_line():
    stream = io.StringIO()
    progress = summary.Progress(stream, live=True)
    progress.stage_started("unit")
    progress.tick({"unit": 0.0})
    progress.stage_finished(
        StageResult("unit", Status.FAILED, duration_s=2.0, message="1 test failed")
    )
    text = stream.getvalue()
    assert text.startswith("running: unit ")
    assert text.endswith("\r\x1b[2Kunit: failed (2.0 s)\n")


class ClosedPipe(io.StringIO):
    """A stdout whose reader went away, as after ``gauntlet run | head -1``."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def write(self, text: str) -> int:
        self.attempts += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_progress_survives_closed_stdout():
    stream = ClosedPipe()
    progress = summary.Progress(stream, live=False)
    progress.stage_started("lint")
    progress.stage_finished(StageResult("lint", Status.PASSED, duration_s=1.0))
    progress.terminal.write("the table\n")
    assert progress.terminal.closed is True
    assert stream.attempts == 1


def test_live_progress_survives_closed_stdout():
    stream = ClosedPipe()
    progress = summary.Progress(stream, live=True)
    progress.tick({"unit": 0.0})
    progress.stage_finished(StageResult("unit", Status.PASSED, duration_s=1.0))
    assert progress.terminal.closed is True
    assert stream.attempts == 1


def test_skipped_stage_line_gives_reason():
    result = StageResult("coverage", Status.SKIPPED, message="needs unit, which ended error")
    assert summary.describe(result) == "skipped: needs unit, which ended error"


def test_line_counts_findings_below_gate(outcome):
    assert summary.describe(outcome.results[1]) == "failed (2 findings, 1 below the gate, 2.5 s)"


def test_table_rows(outcome):
    rows = [line.split() for line in summary.render_table(outcome).splitlines()]
    assert rows[0] == ["stage", "verdict", "findings", "duration"]
    assert ["lint", "failed", "2", "2.5", "s"] in rows
    assert ["coverage", "skipped", "-", "-"] in rows


def test_details_show_log_tail(outcome):
    details = summary.render_details(outcome)
    assert "--- lint failed, last 20 lines of " in details
    assert "    line 29" in details
    assert "    line 9\n" not in details


def test_details_leave_out_message(outcome):
    details = summary.render_details(outcome)
    assert "2 messages in fail_on" not in details
    assert "pytest collected no tests" not in details


def test_details_name_missing_log(outcome):
    log_path = outcome.log_path("unit")
    assert f"--- unit error, no log at {log_path}\n" in summary.render_details(outcome)


def test_render_ends_with_verdict(outcome):
    outcome.warnings.append("Allure report not generated: the Allure CLI was not found")
    text = summary.render(outcome)
    assert "warning: Allure report not generated" in text
    assert text.splitlines()[-1].startswith("gauntlet error in 12.0 s (exit 3); reports in ")
