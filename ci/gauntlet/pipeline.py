"""The scheduler: run the selected stages as a DAG, in parallel, each under its own timeout.

A stage starts once every stage it requires has finished, as long as that need is selected for
this run and enabled (a need left out is ignored and the stage copes without its results). It is
skipped when a need ended ``error`` (unless the stage sets ``runs_after_need_error``) or
``skipped``, and runs after ``passed`` and ``failed``.
Up to ``jobs`` stages run at once, each in a thread of its own; tools run as child processes, so
the threads mostly wait.

Timeouts: each stage gets a deadline that ``StageContext.run_tool`` enforces on every tool. The
scheduler also watches it and sets the stage's cancel event once the deadline passes. A stage still
running ``ABANDON_GRACE_S`` later is recorded as ``error`` and left behind in its daemon thread, so
one stuck stage cannot hold up the run.

Cancellation: after the first ``failed`` or ``error`` result, ``--fail-fast`` sets the cancel
event of every running stage. Those stages and the ones not started yet end ``skipped``. Ctrl-C
(KeyboardInterrupt in the main thread, which the CLI also raises on SIGTERM) cancels everything,
kills every live process group and returns only the stages that had finished. Any other exception
that escapes the scheduler does the same before it propagates.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from gauntlet import process
from gauntlet.config import Config
from gauntlet.errors import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    GauntletError,
    StageError,
    UsageError,
)
from gauntlet.stage import RunSettings, Stage, StageContext, StageResult, Status

log = logging.getLogger(__name__)

POLL_S = 0.1
ABANDON_GRACE_S = (
    process.KILL_GRACE_S + 5.0
)  # seconds past the deadline before a stage is left behind
UNWIND_S = process.KILL_GRACE_S + 3.0  # seconds Ctrl-C waits for stage threads to finish teardown

# Files and directories of a previous run that a new run removes from the reports directory
# (besides one directory per registered stage). Allure's history file is kept on purpose, so
# the report can show trends across runs.
RESULT_FILES = ("summary.json", "summary.md", "gauntlet.sarif", "junit.xml", "allure.log")
RESULT_DIRS = ("allure-report",)
# Directories that several stages write into, with the stages that write them. A run removes one
# only when it selects one of its writers, so that `--only coverage` after `--only unit` combines
# the data unit left. NOTE: the writers are listed here by name; a new stage that writes into
# these directories must be added.
SHARED_RESULT_DIRS = {"allure-results": ("unit", "bdd"), "coverage-data": ("unit", "bdd")}
ALLURE_HISTORY = "allure-history.jsonl"
# A file each run writes at the top of its reports directory. A run cleans a non-empty directory
# only when it carries this marker or a summary.json, so that --reports never deletes folders of a
# directory that contains other files.
REPORTS_MARKER = ".gauntlet-reports"
MARKER_TEXT = (
    "gauntlet writes its reports here. Each `gauntlet run` deletes and rewrites the folders named\n"
    "after stages, allure-report and the summary files, and allure-results and coverage-data\n"
    "when it runs unit or bdd.\n"
)

# The message of process.run for a tool killed at the stage deadline. Its figure counts from the
# tool's start and includes the kill grace, so it differs from the stage timeout that users set.
TOOL_TIMEOUT_PATTERN = re.compile(r"\btimed out after [0-9.]+ s and was killed")

FAIL_FAST_REASON = "cancelled by --fail-fast"
USAGE_ERROR_DETAIL = "usage_error"  # set in details when a stage raised UsageError


class Listener(Protocol):
    """Receives progress events; the terminal summary implements it."""

    def stage_started(self, name: str) -> None: ...

    def stage_finished(self, result: StageResult) -> None: ...

    def tick(self, running: Mapping[str, float]) -> None:
        """Called about every POLL_S with each running stage's start time (monotonic)."""


@dataclass
class RunOutcome:
    """The record of one run: the results of the stages that finished, in pipeline order.

    ``tools`` maps each selected stage that declares ``Stage.tool`` to that tool.
    """

    settings: RunSettings
    results: list[StageResult]
    selected: list[str]
    interrupted: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """Return 130 when interrupted, else 3 if any stage errored, 2 if the only errors were
        configuration errors a stage raised as UsageError, 1 if any failed, else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        errors = [result for result in self.results if result.status is Status.ERROR]
        if errors and all(result.details.get(USAGE_ERROR_DETAIL) for result in errors):
            return EXIT_USAGE
        if errors:
            return EXIT_ERROR
        if any(result.status is Status.FAILED for result in self.results):
            return EXIT_FAILED
        return EXIT_PASSED

    @property
    def unfinished(self) -> list[str]:
        """Return the selected stages that have no result (only after an interrupt)."""
        finished = {result.name for result in self.results}
        return [name for name in self.selected if name not in finished]

    def log_path(self, name: str) -> Path:
        """Return the log file of stage ``name``."""
        return stage_log_path(self.settings.reports_dir, name)


def stage_log_path(reports_dir: Path, name: str) -> Path:
    return reports_dir / name / f"{name}.log"


def new_run_id() -> str:
    """Return a unique, sortable run id such as ``20261204T204512-3f2a9c1e``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def select_stages(
    stages: Mapping[str, Stage], only: Sequence[str] = (), skip: Sequence[str] = ()
) -> list[str]:
    """Return the stage names to run, in pipeline order; raise UsageError for an unknown name."""
    for flag, names in (("--only", only), ("--skip", skip)):
        for name in names:
            if name not in stages:
                raise UsageError(
                    f"unknown stage {name!r} in {flag}; valid stages: {', '.join(stages)}"
                )

    chosen = [name for name in stages if not only or name in only]
    return [name for name in chosen if name not in skip]


def check_reports_dir(reports_dir: Path) -> None:
    """Raise UsageError when ``reports_dir`` is not empty and no gauntlet run wrote it."""
    if not reports_dir.is_dir():
        return
    if (reports_dir / REPORTS_MARKER).exists() or (reports_dir / "summary.json").is_file():
        return
    if not any(reports_dir.iterdir()):
        return

    raise UsageError(
        f"reports directory {reports_dir} is not empty and has no {REPORTS_MARKER} file from an "
        f"earlier gauntlet run; each run deletes folders in it, so give an empty or new "
        f"directory with --reports or [tool.gauntlet] reports"
    )


def prepare_reports_dir(
    reports_dir: Path, stage_names: Sequence[str], selected: Sequence[str]
) -> None:
    """Check ``reports_dir``, remove the previous run's results and write the marker file."""
    check_reports_dir(reports_dir)
    clean_previous_results(reports_dir, stage_names, selected)
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / REPORTS_MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def clean_previous_results(
    reports_dir: Path, stage_names: Sequence[str], selected: Sequence[str]
) -> None:
    """Remove the previous run's results from ``reports_dir``.

    A shared directory goes only when one of its writers is in ``selected``. Allure's history
    and files that no run writes stay.
    """
    shared = [
        name
        for name, writers in SHARED_RESULT_DIRS.items()
        if any(writer in selected for writer in writers)
    ]
    for name in [*stage_names, *RESULT_DIRS, *shared]:
        path = reports_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
    for name in RESULT_FILES:
        path = reports_dir / name
        if path.is_file() or path.is_symlink():
            path.unlink()


@dataclass
class _Job:
    """One running stage."""

    name: str
    context: StageContext
    started: float
    thread: threading.Thread | None = None
    result: StageResult | None = None
    timed_out: bool = False
    cancelled_by_fail_fast: bool = False


class Pipeline:
    """Run ``selected`` stages of ``stages`` with ``config``; call ``run`` once."""

    def __init__(
        self,
        stages: Mapping[str, Stage],
        config: Config,
        selected: Sequence[str],
        *,
        listener: Listener | None = None,
        run_id: str | None = None,
    ) -> None:
        self.stages = stages
        self.config = config
        self.selected = [name for name in stages if name in selected]
        self.listener = listener
        self.settings = config.run_settings(run_id or new_run_id())
        self._wake = threading.Event()
        self._results: dict[str, StageResult] = {}
        self._running: dict[str, _Job] = {}
        self._fail_fast_tripped = False
        self._needs: dict[str, list[str]] = {}

    def run(self) -> RunOutcome:
        """Run the stages and return their results; Ctrl-C returns the finished ones only."""
        tools = {name: self.stages[name].tool for name in self.selected if self.stages[name].tool}
        outcome = RunOutcome(self.settings, [], list(self.selected), tools=tools)
        started = time.monotonic()
        self._check_for_cycles()
        try:
            prepare_reports_dir(self.settings.reports_dir, list(self.stages), self.selected)
        except OSError as exc:
            raise GauntletError(
                f"cannot prepare the reports directory {self.settings.reports_dir}: "
                f"{exc.strerror}; check its permissions or set another one with --reports"
            ) from None
        log.debug(
            "run %s: stages %s, %d jobs",
            self.settings.run_id,
            ", ".join(self.selected),
            self.config.jobs,
        )

        try:
            self._schedule_until_done()
        except KeyboardInterrupt:
            outcome.interrupted = True
            finished = dict(self._results)
            self._stop_running("interrupted")
            self._results = finished
        except BaseException as exc:
            # A bug here or in the listener must not leave stages and their tools running.
            self._stop_running(f"run aborted by {type(exc).__name__}: {exc}")
            raise

        outcome.results = [self._results[name] for name in self.selected if name in self._results]
        outcome.duration_s = time.monotonic() - started
        return outcome

    def _schedule_until_done(self) -> None:
        # Stages that others wait for start first, since they sit on the longest chain of needs.
        order = {name: index for index, name in enumerate(self.selected)}
        pending = sorted(
            self.selected, key=lambda name: (-self._dependent_count(name), order[name])
        )
        while pending or self._running:
            self._wake.clear()
            self._collect_finished()
            self._watch_deadlines()
            if self._fail_fast_tripped:
                self._skip_all(pending, FAIL_FAST_REASON)
            pending = self._start_ready(pending)
            if self.listener is not None and self._running:
                self.listener.tick({name: job.started for name, job in self._running.items()})
            if pending or self._running:
                self._wake.wait(POLL_S)

    def _start_ready(self, pending: list[str]) -> list[str]:
        """Start or skip every pending stage whose needs are settled; return those left waiting."""
        waiting = []
        for name in pending:
            verdict = self._readiness(name)
            if verdict == "wait" or (verdict == "run" and len(self._running) >= self.config.jobs):
                waiting.append(name)
            elif verdict == "run":
                self._start(name)
            else:
                self._finish(StageResult(name, Status.SKIPPED, message=verdict))
        return waiting

    def _readiness(self, name: str) -> str:
        """Return "run", "wait" or the reason to skip stage ``name``."""
        stage_config = self.config.stages[name]
        if not stage_config.enabled:
            return f"disabled (enabled = false in [tool.gauntlet.{name}])"

        for need in self._active_needs(name):
            result = self._results.get(need)
            if result is None:
                return "wait"
            if result.status is Status.ERROR and self.stages[name].runs_after_need_error:
                continue
            if result.status in (Status.ERROR, Status.SKIPPED):
                return f"needs {need}, which ended {result.status.value}"
        return "run"

    def _active_needs(self, name: str) -> list[str]:
        """Return the needs of ``name`` that are selected and enabled in this run."""
        if name not in self._needs:
            options = self.config.stages[name].options
            needs = []
            for need in self.stages[name].required(options):
                if need in self.selected and self.config.stages[need].enabled:
                    needs.append(need)
                else:
                    log.debug("%s: need %s is not part of this run; it runs without it", name, need)
            self._needs[name] = needs
        return self._needs[name]

    def _dependent_count(self, name: str) -> int:
        """Return how many selected stages need ``name``, directly or through other stages."""
        dependents = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other in self.selected:
                if current in self._active_needs(other) and other not in dependents:
                    dependents.add(other)
                    frontier.append(other)
        return len(dependents)

    def _start(self, name: str) -> None:
        stage_config = self.config.stages[name]
        out_dir = self.settings.reports_dir / name
        try:
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True)
        except OSError as exc:
            message = f"cannot prepare {out_dir}: {exc.strerror}"
            self._finish(StageResult(name, Status.ERROR, message=message))
            return

        started = time.monotonic()
        context = StageContext(
            settings=self.settings,
            options=stage_config.options,
            out_dir=out_dir,
            cancel=threading.Event(),
            timeout_s=stage_config.timeout_s,
            deadline=started + stage_config.timeout_s,
            log_path=stage_log_path(self.settings.reports_dir, name),
            upstream={need: self._results[need] for need in self._active_needs(name)},
        )
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        header = f"stage {name} of run {self.settings.run_id} started at {started_at}"
        append_log_line(context.log_path, f"{header}, timeout {stage_config.timeout_s:g} s")
        job = _Job(name, context, started)
        job.thread = threading.Thread(
            target=self._work, args=(job,), name=f"stage-{name}", daemon=True
        )
        self._running[name] = job
        log.debug("%s: started (timeout %g s)", name, stage_config.timeout_s)
        if self.listener is not None:
            self.listener.stage_started(name)
        job.thread.start()

    def _work(self, job: _Job) -> None:
        """Run one stage in its thread and store its result; any Exception becomes an error."""
        stage = self.stages[job.name]
        try:
            result = stage.run(job.context)
            check_result(job.name, result)
        except StageError as exc:
            result = StageResult(job.name, Status.ERROR, message=str(exc))
        except UsageError as exc:
            # A configuration problem only the stage can see (a missing baseline file, say).
            result = StageResult(
                job.name, Status.ERROR, message=str(exc), details={USAGE_ERROR_DETAIL: True}
            )
        except GauntletError as exc:
            result = StageResult(job.name, Status.ERROR, message=str(exc))
        # Any other exception is a bug in the stage: it becomes that stage's error result.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            result = StageResult(
                job.name,
                Status.ERROR,
                message=f"internal error: {type(exc).__name__}: {exc} "
                f"(traceback in {job.context.log_path})",
            )
            write_traceback(job.context.log_path)
        result.duration_s = time.monotonic() - job.started
        job.result = result
        self._wake.set()

    def _collect_finished(self) -> None:
        for name, job in list(self._running.items()):
            if job.result is None:
                continue
            del self._running[name]
            self._finish(self._settle(job, job.result))

    def _settle(self, job: _Job, result: StageResult) -> StageResult:
        """Apply the timeout and --fail-fast rules to a finished stage's own verdict."""
        finished_late = time.monotonic() > job.context.deadline
        if job.timed_out or (finished_late and result.status is not Status.SKIPPED):
            # One figure only: "timed out after 8 s: pytest was killed".
            message = TOOL_TIMEOUT_PATTERN.sub("was killed", result.message)
            detail = f": {message}" if message else ""
            result.status = Status.ERROR
            result.message = f"timed out after {job.context.timeout_s:g} s{detail}"
        elif job.cancelled_by_fail_fast and result.status is Status.ERROR:
            result.status = Status.SKIPPED
            result.message = FAIL_FAST_REASON
        return result

    def _watch_deadlines(self) -> None:
        now = time.monotonic()
        for name, job in list(self._running.items()):
            if now >= job.context.deadline and not job.timed_out:
                log.debug("%s: past its %g s timeout, cancelling", name, job.context.timeout_s)
                append_log_line(
                    job.context.log_path,
                    f"timed out after {job.context.timeout_s:g} s: cancelling the stage",
                )
                job.timed_out = True
                job.context.cancel.set()
            elif job.timed_out and now >= job.context.deadline + ABANDON_GRACE_S:
                del self._running[name]
                message = (
                    f"timed out after {job.context.timeout_s:g} s and did not stop within "
                    f"{ABANDON_GRACE_S:g} s of cancellation"
                )
                self._finish(
                    StageResult(name, Status.ERROR, duration_s=now - job.started, message=message)
                )

    def _finish(self, result: StageResult) -> None:
        self._results[result.name] = result
        log.debug("%s: %s %s", result.name, result.status.value, result.message)
        if self.listener is not None:
            self.listener.stage_finished(result)
        if (
            self.config.fail_fast
            and result.status in (Status.FAILED, Status.ERROR)
            and not self._fail_fast_tripped
        ):
            self._fail_fast_tripped = True
            for job in self._running.values():
                job.cancelled_by_fail_fast = True
                job.context.cancel.set()

    def _skip_all(self, pending: list[str], reason: str) -> None:
        for name in pending:
            self._finish(StageResult(name, Status.SKIPPED, message=reason))
        pending.clear()

    def _stop_running(self, reason: str) -> None:
        """Cancel every stage, kill every tool and give stage threads a moment to tear down."""
        log.warning(
            "%s: stopping %s",
            reason,
            ", ".join(self._running) or "nothing (no stage was running)",
        )
        for job in self._running.values():
            job.context.cancel.set()
        try:
            process.kill_all()
            end = time.monotonic() + UNWIND_S
            for job in self._running.values():
                if job.thread is not None:
                    job.thread.join(max(0.0, end - time.monotonic()))
        except KeyboardInterrupt:
            log.warning("interrupted again: not waiting for stages to tear down")

    def _check_for_cycles(self) -> None:
        """Raise GauntletError when the selected stages' needs form a cycle."""
        state: dict[str, str] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "active":
                cycle = " -> ".join([*trail[trail.index(name) :], name])
                raise GauntletError(f"stage needs form a cycle: {cycle}; fix the stages' needs")
            state[name] = "active"
            for need in self._active_needs(name):
                visit(need, [*trail, name])
            state[name] = "done"

        for name in self.selected:
            visit(name, [])


def check_result(name: str, result: object) -> None:
    """Raise StageError when a stage returned something other than its own StageResult."""
    if not isinstance(result, StageResult):
        raise StageError(f"stage {name} returned {type(result).__name__}, not a StageResult")
    if result.name != name:
        raise StageError(f"stage {name} returned the result of {result.name!r}")


def append_log_line(log_path: Path, text: str) -> None:
    """Append one ``# gauntlet: ...`` line to a stage log."""
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write(f"# gauntlet: {text}\n")


def write_traceback(log_path: Path) -> None:
    """Append the current exception's traceback to a stage log (never to the terminal)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write("# internal error in the stage\n")
        handle.write(traceback.format_exc())
