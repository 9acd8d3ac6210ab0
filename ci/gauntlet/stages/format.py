"""The format stage: ``black --check --diff`` over the source paths.

black reads ``[tool.black]`` from the target repository's pyproject.toml itself. The run's global
``exclude`` list is passed as ``--force-exclude``, merged with the repository's own
``force-exclude``, because that is the one black option that also drops files named explicitly
and that a repository rarely sets.

Exit codes of black 26: 0 clean, 1 some file would be reformatted, 123 a file could not be parsed
or black failed internally, 2 an invalid option or path.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gauntlet.errors import StageError
from gauntlet.sources import relative_path, stage_paths
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "black"
RULE_ID = "would-reformat"
DIFF_FILE = "black.diff"

EXIT_CLEAN = 0
EXIT_WOULD_REFORMAT = 1
EXIT_USAGE = 2
EXIT_CANNOT_FORMAT = 123


@dataclass(frozen=True)
class FormatOptions:
    """Options of ``[tool.gauntlet.format]``."""

    paths: tuple[str, ...] = field(
        default=(),
        metadata={"help": "paths to check, relative to the root; empty means the global paths"},
    )
    args: tuple[str, ...] = field(
        default=(),
        metadata={"help": "extra black arguments, for example ['--target-version', 'py311']"},
    )


@dataclass(frozen=True)
class FileDiff:
    """The part of black's ``--diff`` output for one file."""

    path: str  # as black printed it
    text: str  # header and hunks
    first_changed_line: int | None  # line in the original file of the first changed line
    added: int
    removed: int


class FormatStage(Stage):
    """Fails when black would reformat any source file."""

    name = "format"
    tool = TOOL
    needs = ()
    options_class = FormatOptions
    description = "black --check: any file black would reformat"

    def describe_gate(self, options: FormatOptions) -> str:
        """Return the gate in one line."""
        where = ", ".join(options.paths) if options.paths else "the global paths"
        return f"any file under {where} that black would reformat"

    def run(self, ctx: StageContext) -> StageResult:
        """Run black in check mode and turn each file it would reformat into a finding."""
        options: FormatOptions = ctx.options
        paths = stage_paths(ctx, options.paths)

        argv = ["black", "--check", "--diff", *options.args]
        force_exclude = merged_force_exclude(ctx.root, ctx.settings.exclude)
        if force_exclude:
            argv += ["--force-exclude", force_exclude]
        argv += ["--", *paths]

        completed = ctx.run_tool(argv)
        (ctx.out_dir / DIFF_FILE).write_text(completed.stdout, encoding="utf-8")

        check_exit_code(completed.returncode, completed.stderr)
        findings = parse_output(completed.stdout, completed.stderr, ctx.root)
        log.debug("black would reformat %d file(s)", len(findings))

        if completed.returncode == EXIT_WOULD_REFORMAT and not findings:
            raise StageError(
                f"black exited 1 but named no file it would reformat; see {ctx.log_path}"
            )
        if findings:
            count = len(findings)
            return self.result(
                Status.FAILED,
                findings,
                f"black would reformat {count} file{'s' if count != 1 else ''}",
                diff=str(ctx.out_dir / DIFF_FILE),
            )
        return self.result(Status.PASSED, [], "", diff=str(ctx.out_dir / DIFF_FILE))


def check_exit_code(returncode: int, stderr: str) -> None:
    """Raise StageError for every black exit code that is not a verdict (0 or 1)."""
    if returncode in (EXIT_CLEAN, EXIT_WOULD_REFORMAT):
        return

    errors = [line.strip() for line in stderr.splitlines() if line.lower().startswith("error")]
    detail = errors[0] if errors else last_line(stderr)
    if returncode == EXIT_CANNOT_FORMAT:
        raise StageError(
            f"black failed to parse or format a file ({detail}); fix the file or exclude it"
        )
    if returncode == EXIT_USAGE:
        raise StageError(f"black rejected its arguments ({detail}); check [tool.gauntlet.format]")
    raise StageError(f"black exited with unexpected code {returncode} ({detail})")


def parse_output(diff: str, stderr: str, root: Path) -> list[Finding]:
    """Build one finding per file that black reports as ``would reformat``.

    ``diff`` is black's stdout under ``--diff``. ``stderr`` contains its ``would reformat PATH``
    lines, which decide which files fail. A removed line in the diff that starts with ``--``
    therefore cannot be taken for a file header.
    """
    reformat = []
    for line in stderr.splitlines():
        if line.startswith("would reformat "):
            reformat.append(line.removeprefix("would reformat ").strip())

    diffs = {item.path: item for item in split_diff(diff, set(reformat))}
    findings = []
    for raw_path in reformat:
        path = relative_path(raw_path, root)
        file_diff = diffs.get(raw_path)
        findings.append(make_finding(path, file_diff))
    return findings


def make_finding(path: str, file_diff: FileDiff | None) -> Finding:
    """Build the finding for one file black would reformat."""
    message = "black would reformat this file"
    line = None
    if file_diff is not None:
        message += f" (+{file_diff.added} -{file_diff.removed} lines; see {DIFF_FILE})"
        line = file_diff.first_changed_line

    return Finding(
        tool=TOOL,
        rule_id=RULE_ID,
        severity=Severity.LOW,
        message=message,
        # One finding per file, so the path alone identifies it across runs.
        fingerprint=fingerprint(TOOL, RULE_ID, path),
        tool_severity="would reformat",
        path=path,
        line=line,
    )


def split_diff(diff: str, paths: set[str]) -> list[FileDiff]:
    """Split a unified diff into per-file parts; a part starts at ``--- P`` then ``+++ P``."""
    lines = diff.splitlines(keepends=True)
    starts = []
    for index in range(len(lines) - 1):
        old_path = header_path(lines[index], "--- ")
        new_path = header_path(lines[index + 1], "+++ ")
        if old_path is not None and old_path == new_path and old_path in paths:
            starts.append((index, old_path))

    parts = []
    for number, (start, path) in enumerate(starts):
        end = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
        parts.append(summarize_diff(path, lines[start:end]))
    return parts


def header_path(line: str, prefix: str) -> str | None:
    """Return the path of a ``--- PATH<TAB>TIMESTAMP`` header line, or None."""
    if not line.startswith(prefix):
        return None
    return line[len(prefix) :].split("\t", 1)[0].rstrip("\n")


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def summarize_diff(path: str, lines: list[str]) -> FileDiff:
    """Count added and removed lines and find the first changed line of the original file."""
    added = 0
    removed = 0
    first_changed = None
    old_line = None
    for line in lines[2:]:
        hunk = _HUNK.match(line)
        if hunk:
            old_line = int(hunk.group(1))
            continue
        if old_line is None:
            continue

        if line.startswith("+"):
            added += 1
            first_changed = first_changed or old_line
        elif line.startswith("-"):
            removed += 1
            first_changed = first_changed or old_line
            old_line += 1
        elif line.startswith(" "):
            old_line += 1
    return FileDiff(path, "".join(lines), first_changed, added, removed)


def merged_force_exclude(root: Path, exclude: tuple[str, ...]) -> str:
    """Return a ``--force-exclude`` regex for ``exclude`` joined with the repository's own.

    black matches the regex against ``/`` plus the path relative to its project root, which is
    the nearest directory with .git, .hg or a pyproject.toml containing ``[tool.black]``. That may
    be an ancestor of ``root``, so the pattern accepts the excluded path relative to ``root`` or
    to any of its ancestors.
    """
    if not exclude:
        return ""

    anchors = [root, *root.parents]
    alternatives = []
    for entry in exclude:
        target = (root / entry).resolve()
        for anchor in anchors:
            alternatives.append(re.escape("/" + target.relative_to(anchor.resolve()).as_posix()))
    ours = "^(?:" + "|".join(alternatives) + ")(?:/|$)"

    theirs = repository_force_exclude(root)
    if theirs:
        return f"(?:{theirs})|(?:{ours})"
    return ours


def repository_force_exclude(root: Path) -> str:
    """Return ``[tool.black] force-exclude`` from ``root/pyproject.toml``, or ""."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return ""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise StageError(f"cannot read {pyproject}: {error}; fix the file") from error

    black_config = data.get("tool", {}).get("black", {})
    value = black_config.get("force-exclude", black_config.get("force_exclude", ""))
    return value if isinstance(value, str) else ""


def last_line(text: str) -> str:
    """Return the last non-blank line of ``text``, or "no output"."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


STAGE = FormatStage()
