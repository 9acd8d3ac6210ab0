"""The Stage interface and the types every stage returns: Finding and StageResult.

A stage is one class in one module under ``gauntlet.stages``; the module exposes an instance as
``STAGE``. It declares its name, the stages it needs, an options dataclass (read from
``[tool.gauntlet.<name>]``) and a ``run`` method. ``run`` returns a ``StageResult`` whose status
the stage decides from the tool's output, never from its exit code alone. A broken tool or
infrastructure is reported by raising ``StageError``; the pipeline turns that into an ``error``
result.

Options dataclasses are frozen and every field has a default. Field types are limited to those
``gauntlet.config`` validates: bool, int, float, str, ``Literal[...]`` of str, ``tuple[str, ...]``
(a TOML array), ``dict[str, str]`` (a TOML table), a nested options dataclass, and
``tuple[<dataclass>, ...]`` (an array of tables). ``field(metadata={"help": "..."})`` documents a
key for ``gauntlet list`` and the README. Two keys of every stage table are handled by the
pipeline, not the options: ``enabled`` (bool) and ``timeout`` (seconds).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from gauntlet import process


class Status(str, enum.Enum):
    """The verdict a stage ends with."""

    PASSED = "passed"
    FAILED = "failed"  # a gate tripped on findings
    ERROR = "error"  # the tool or its infrastructure broke
    SKIPPED = "skipped"  # not run; StageResult.message gives the reason


class Severity(str, enum.Enum):
    """Normalized severity, ordered from most to least severe by ``rank``."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Return 4 for critical down to 0 for info, so that ``a.rank >= b.rank`` compares."""
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Map a tool's severity word (any case; ``UNDEFINED``/``UNKNOWN`` become info)."""
        word = value.strip().lower()
        if word in ("error", "fatal"):
            return cls.HIGH
        if word == "warning":
            return cls.MEDIUM
        if word in ("note", "none", "undefined", "unknown", ""):
            return cls.INFO
        return cls(word)


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


def fingerprint(*parts: object) -> str:
    """Return a stable hex digest of the parts; pass nothing that shifts with unrelated edits.

    Stages pass the tool, rule id, path or target, and the offending code line's text (stripped)
    or message, but never the line number, so a finding keeps its fingerprint when lines move.
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode("utf-8", "replace"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Finding:
    """One problem reported by any tool, in the shape every report uses.

    ``path`` is relative to the repository root (POSIX separators). ``target`` and ``parameter``
    are set instead for findings against a running service. ``gating`` is False for findings that
    are reported but below the stage's gate (for example a LOW CVE when the gate is HIGH).
    """

    tool: str
    rule_id: str
    severity: Severity
    message: str
    fingerprint: str
    tool_severity: str = ""
    path: str | None = None
    line: int | None = None
    column: int | None = None
    target: str | None = None
    parameter: str | None = None
    help_url: str | None = None
    gating: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["severity"] = self.severity.value
        return data


@dataclass
class StageResult:
    """A stage's verdict. ``message`` gives the reason for failed, error and skipped."""

    name: str
    status: Status
    findings: list[Finding] = field(default_factory=list)
    duration_s: float = 0.0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # stage-specific figures, JSON-ready

    @property
    def gating_findings(self) -> list[Finding]:
        """Return the findings that trip the gate."""
        return [finding for finding in self.findings if finding.gating]


@dataclass
class RunSettings:
    """Settings shared by every stage of one run (the top level of ``[tool.gauntlet]``)."""

    root: Path  # repository root: the directory holding pyproject.toml
    reports_dir: Path  # absolute path of the run's reports directory
    run_id: str  # unique per run; labels containers and names temporary files
    paths: tuple[str, ...] = ("src",)  # source paths checked by format, lint, sast and coverage
    exclude: tuple[str, ...] = ()  # paths (relative to root) every tool skips
    timeout_s: float = 900.0  # default per-stage timeout

    @property
    def coverage_data_dir(self) -> Path:
        """Return the directory where unit and bdd write coverage data files for coverage."""
        return self.reports_dir / "coverage-data"

    @property
    def allure_results_dir(self) -> Path:
        """Return the one Allure results directory that unit and bdd both write into."""
        return self.reports_dir / "allure-results"


@dataclass
class StageContext:
    """The inputs the pipeline passes to a running stage."""

    settings: RunSettings
    options: Any  # the stage's own options dataclass instance
    out_dir: Path  # reports/<stage>/, emptied before the stage runs
    cancel: threading.Event  # set on Ctrl-C, --fail-fast or timeout: stop and return soon
    timeout_s: float  # this stage's budget; run_tool caps each tool at what is left
    deadline: float  # time.monotonic() value at which the stage times out
    log_path: Path  # out_dir / "<stage>.log": every tool's command line and output
    upstream: dict[str, StageResult] = field(default_factory=dict)  # results of ``needs``

    @property
    def root(self) -> Path:
        """Return the repository root."""
        return self.settings.root

    def fresh_coverage_data_file(self, base_name: str) -> Path:
        """Return the path this stage's coverage data goes to, after deleting earlier runs' files.

        Only files named ``<base_name>*`` are deleted, so another stage's data stays for coverage.
        """
        data_dir = self.settings.coverage_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        for stale in data_dir.glob(f"{base_name}*"):
            stale.unlink()
        return data_dir / base_name

    def run_tool(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout_s: float | None = None,
    ) -> process.ProcessResult:
        """Run one tool under this stage's deadline, cancel event and log file.

        Raises ``ToolNotFound`` when ``argv[0]`` is not on PATH and ``StageError`` when the tool
        outlives the deadline (its whole process group is killed first).
        """
        return process.run(
            argv,
            cwd=cwd or self.root,
            env=env,
            stdin=stdin,
            log_path=self.log_path,
            deadline=self.deadline,
            timeout_s=timeout_s,
            cancel=self.cancel,
        )


class Stage(ABC):
    """One gate of the pipeline. Subclasses are registered in ``gauntlet.stages``."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    # True when the stage can still do its work after a need ended ``error``: dast deploys the
    # image the image stage built even when the scan afterwards broke (no vulnerability DB).
    runs_after_need_error: ClassVar[bool] = False
    options_class: ClassVar[type]  # a dataclass; every field has a default
    description: ClassVar[str] = ""
    # The tool behind the stage's findings ("black"). It names the stage's SARIF run even when
    # the tool found nothing. With "", an empty run is named after the stage.
    tool: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Run the tool(s), write raw output under ``ctx.out_dir`` and return the verdict.

        The results of the stages in ``needs`` are in ``ctx.upstream``.
        """

    def required(self, options: Any) -> tuple[str, ...]:
        """Return the stages this run of the stage needs (``needs`` unless options change it)."""
        return self.needs

    def describe_gate(self, options: Any) -> str:
        """Return one line that describes what trips this stage's gate with these options."""
        return self.description

    def result(
        self,
        status: Status,
        findings: list[Finding] | None = None,
        message: str = "",
        **details: Any,
    ) -> StageResult:
        """Build a StageResult for this stage (the pipeline fills in the duration)."""
        return StageResult(self.name, status, list(findings or []), 0.0, message, dict(details))
