"""Fake stages for the kit's own tests: each does one thing the pipeline must handle.

Every fake records when it started and ended (``time.monotonic()``) in ``details`` so tests can
check ordering and overlap without timing assertions. ``registry()`` builds a stage registry in
pipeline order from fake instances.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint


@dataclass(frozen=True)
class Target:
    """One entry of an array of tables."""

    url: str = "http://127.0.0.1:8000/"
    method: Literal["GET", "POST"] = "GET"


@dataclass(frozen=True)
class Deployment:
    """A nested table."""

    port: int = field(default=8000, metadata={"help": "port", "min": 1, "max": 65535})
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeOptions:
    """Options covering every field type the config validator supports."""

    seconds: float = field(default=0.0, metadata={"help": "how long to sleep", "min": 0})
    fail_under: float = field(default=80.0, metadata={"help": "percent", "min": 0, "max": 100})
    count: int = 1
    strict: bool = False
    level: Literal["low", "medium", "high"] = "low"
    args: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    deploy: Deployment = Deployment()
    targets: tuple[Target, ...] = ()
    needs_extra: tuple[str, ...] = field(default=(), metadata={"help": "names added to needs"})


class FakeStage(Stage):
    """Sleeps ``options.seconds`` (cancellable) and ends with ``outcome``."""

    options_class = FakeOptions
    description = "fake gate"

    def __init__(
        self,
        name: str,
        outcome: Status = Status.PASSED,
        needs: tuple[str, ...] = (),
        findings: int = 0,
    ) -> None:
        self.name = name
        self.needs = needs
        self.outcome = outcome
        self.finding_count = findings

    def required(self, options: FakeOptions) -> tuple[str, ...]:
        return (*self.needs, *options.needs_extra)

    def describe_gate(self, options: FakeOptions) -> str:
        return f"fake: fails below {options.fail_under:g}"

    def run(self, ctx: StageContext) -> StageResult:
        started = time.monotonic()
        with open(ctx.log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{self.name} log line\n")
        end = started + ctx.options.seconds
        while time.monotonic() < end:
            if ctx.cancel.wait(0.02):
                raise StageError(f"{self.name} was cancelled")
        findings = [make_finding(self.name, index) for index in range(self.finding_count)]
        message = "gate tripped" if self.outcome is Status.FAILED else ""
        if self.outcome is Status.ERROR:
            raise StageError(f"{self.name}: the tool broke")
        return self.result(
            self.outcome,
            findings,
            message,
            started=started,
            ended=time.monotonic(),
            upstream=sorted(ctx.upstream),
        )


class CrashingStage(FakeStage):
    """Raises an unexpected exception (a bug in a stage)."""

    def run(self, ctx: StageContext) -> StageResult:
        raise ZeroDivisionError("boom in a stage")


class HangingToolStage(FakeStage):
    """Runs ``sleep 600`` through run_tool, plus a second ``sleep 600`` in the same process group.

    The tool writes "<its pid> <grandchild pid>" to ``child.pid`` in the stage folder before it
    turns into ``sleep``, so tests can check that the whole group is gone afterwards.
    """

    def run(self, ctx: StageContext) -> StageResult:
        pid_file = ctx.out_dir / "child.pid"
        script = (
            "import os, subprocess\n"
            "grandchild = subprocess.Popen(['sleep', '600'])\n"
            f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{grandchild.pid}}')\n"
            "os.execvp('sleep', ['sleep', '600'])\n"
        )
        ctx.run_tool([sys.executable, "-c", script])
        return self.result(Status.PASSED)


class MissingToolStage(FakeStage):
    """Runs a tool that is not on PATH."""

    def run(self, ctx: StageContext) -> StageResult:
        ctx.run_tool(["gauntlet-no-such-tool-xyz", "--version"])
        return self.result(Status.PASSED)


class UsageErrorStage(FakeStage):
    """Finds a configuration problem only at run time."""

    def run(self, ctx: StageContext) -> StageResult:
        raise UsageError(
            f"[tool.gauntlet.{self.name}] baseline 'gone.json' does not exist; create it or remove the key"
        )


class PythonHangStage(FakeStage):
    """Ignores its cancel event for ``options.seconds`` (a stage stuck outside run_tool)."""

    def run(self, ctx: StageContext) -> StageResult:
        time.sleep(ctx.options.seconds)
        return self.result(Status.PASSED)


def make_finding(stage: str, index: int, **overrides: object) -> Finding:
    values: dict[str, object] = {
        "tool": f"{stage}-tool",
        "rule_id": f"R{index:03d}",
        "severity": Severity.HIGH,
        "message": f"problem {index} in {stage}",
        "fingerprint": fingerprint(stage, index),
        "path": f"pkg/module_{index}.py",
        "line": index + 1,
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def registry(*stages: Stage) -> dict[str, Stage]:
    return {stage.name: stage for stage in stages}


def tool_pids(pid_file: Path) -> list[int]:
    """Return the PIDs a HangingToolStage wrote: the tool and its grandchild."""
    return [int(word) for word in pid_file.read_text(encoding="utf-8").split()]


def pid_alive(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie (ended, not yet reaped by its parent) counts as ended."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
