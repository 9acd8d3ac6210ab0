"""The terminal view of a run: progress while stages run, then a table and failure details.

On a TTY, finished stages are printed as they end and one status line below them shows the
running stages with their elapsed time, redrawn in place. Elsewhere (CI logs, pipes) each start
and end is one plain line. Tool output stays in the stage logs. For a failed or errored stage, the
summary prints the last ``TAIL_LINES`` lines of its log. Its message goes to stderr (see
``gauntlet.cli.log_stage_problems``), to summary.json and to summary.md, not to this text.

Terminal output never ends a run: once stdout breaks (its reader went away, as in
``gauntlet run | head -1``), later output is dropped and the run goes on to write its reports.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Mapping, TextIO

from gauntlet.pipeline import RunOutcome
from gauntlet.stage import StageResult, Status

log = logging.getLogger(__name__)

TAIL_LINES = 20
REDRAW_S = 0.5


class Terminal:
    """A text stream that stops writing, without raising, after its first write error."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def write(self, text: str) -> None:
        """Write and flush ``text``; drop it once the stream has failed."""
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as exc:
            # ValueError: the stream object itself was closed.
            self.closed = True
            log.debug("terminal output stopped: %s", exc)
            silence(self.stream)


def silence(stream: TextIO) -> None:
    """Point the file descriptor behind ``stream`` at /dev/null.

    Python flushes stdout once more at exit. With the reader gone, that flush would print
    "Exception ignored ... BrokenPipeError" to stderr. Python's documentation of SIGPIPE
    gives this remedy. A stream without a file descriptor is left as it is.
    """
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class Progress:
    """A pipeline listener that prints progress to ``stream``, through ``terminal``."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.terminal = Terminal(self.stream)
        self.live = self.stream.isatty() if live is None else live
        self._status_shown = False
        self._last_redraw = 0.0

    def stage_started(self, name: str) -> None:
        if not self.live:
            self._print(f"{name}: started")

    def stage_finished(self, result: StageResult) -> None:
        line = f"{result.name}: {describe(result)}"
        self._clear_status()
        self._print(line)

    def tick(self, running: Mapping[str, float]) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if now - self._last_redraw < REDRAW_S:
            return
        self._last_redraw = now
        parts = [f"{name} {now - started:.0f}s" for name, started in running.items()]
        self._clear_status()
        self.terminal.write("running: " + ", ".join(parts))
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.terminal.write("\r\x1b[2K")
            self._status_shown = False

    def _print(self, line: str) -> None:
        self.terminal.write(line + "\n")


def describe(result: StageResult) -> str:
    """Return "failed (3 findings, 2.1 s)" style text for one stage."""
    parts = []
    gating = len(result.gating_findings)
    below = len(result.findings) - gating
    if result.status in (Status.PASSED, Status.FAILED) and result.findings:
        parts.append(f"{gating} finding{'s' if gating != 1 else ''}")
    if below:
        parts.append(f"{below} below the gate")
    if result.status is not Status.SKIPPED:
        parts.append(f"{result.duration_s:.1f} s")
    text = result.status.value
    if parts:
        text += f" ({', '.join(parts)})"
    if result.message and result.status is Status.SKIPPED:
        text += f": {result.message}"
    return text


def render_table(outcome: RunOutcome) -> str:
    """Return the stage | verdict | findings | duration table of a run."""
    rows = [("stage", "verdict", "findings", "duration")]
    for result in outcome.results:
        findings = str(len(result.gating_findings)) if result.status is not Status.SKIPPED else "-"
        duration = f"{result.duration_s:.1f} s" if result.status is not Status.SKIPPED else "-"
        rows.append((result.name, result.status.value, findings, duration))
    for name in outcome.unfinished:
        rows.append((name, "interrupted", "-", "-"))

    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_details(outcome: RunOutcome) -> str:
    """Return the log tail of every failed or errored stage, then the warnings.

    The stage's message is not repeated here: the CLI prints it to stderr once per stage.
    """
    blocks = []
    for result in outcome.results:
        if result.status not in (Status.FAILED, Status.ERROR):
            continue
        log_path = outcome.log_path(result.name)
        header = f"--- {result.name} {result.status.value}"
        tail = tail_lines(log_path, TAIL_LINES)
        if tail:
            lines = "line" if len(tail) == 1 else f"{len(tail)} lines"
            blocks.append(
                f"{header}, last {lines} of {log_path}:\n"
                + "\n".join(f"    {line}" for line in tail)
            )
        else:
            blocks.append(f"{header}, no log at {log_path}")
    for warning in outcome.warnings:
        blocks.append(f"warning: {warning}")
    return "\n".join(blocks)


def render(outcome: RunOutcome) -> str:
    """Return the full end-of-run text: table, details, and the verdict line."""
    verdict = {0: "passed", 1: "failed", 3: "error", 130: "interrupted"}.get(outcome.exit_code, "")
    parts = [render_table(outcome)]
    details = render_details(outcome)
    if details:
        parts.append(details)
    parts.append(
        f"gauntlet {verdict} in {outcome.duration_s:.1f} s (exit {outcome.exit_code}); "
        f"reports in {outcome.settings.reports_dir}"
    )
    return "\n\n".join(parts) + "\n"


def tail_lines(path: Path, count: int) -> list[str]:
    """Return the last ``count`` lines of a text file ([] when it is missing)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=count)]
    except FileNotFoundError:
        return []
