"""Run one code stage on the files pre-commit passes: the kit's pre-commit hooks.

``python -m gauntlet.hooks <stage> FILE...`` loads the repository's ``[tool.gauntlet]`` (so the
gate, severity, baseline and exclude settings are the same as in ``gauntlet run``), narrows the
stage's paths to the given files and runs the stage module itself. It prints one line per finding
and exits 0 when the gate passes, 1 when it trips, 2 on a usage or configuration error and 3 when
the tool broke. Reports go to a temporary directory, so a commit leaves no files behind.

pre-commit runs hooks from the repository root, which is where ``pyproject.toml`` is looked up.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from gauntlet import config as config_module
from gauntlet.errors import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, GauntletError, UsageError
from gauntlet.stage import Finding, StageContext, StageResult, Status
from gauntlet.stages import all_stages

log = logging.getLogger(__name__)

# The stages whose tools check source files one by one; the others need the whole repository.
HOOK_STAGES = ("format", "lint", "sast")

# Lines of the stage log shown when a tool breaks, since the log itself is deleted afterwards.
LOG_TAIL_LINES = 30


def run_hook(stage_name: str, files: list[str], root: Path, out: TextIO | None = None) -> int:
    """Run ``stage_name`` on ``files`` (paths relative to ``root``) and return the exit code.

    Findings and the verdict line go to ``out``, by default the current ``sys.stdout``.
    """
    out = out or sys.stdout
    if stage_name not in HOOK_STAGES:
        raise UsageError(
            f"invalid hook stage {stage_name!r}: expected one of {', '.join(HOOK_STAGES)}"
        )

    stages = all_stages()
    config = config_module.load(root, stages)
    stage_config = config.stages[stage_name]
    if not stage_config.enabled:
        print(f"{stage_name}: skipped: enabled = false in [tool.gauntlet.{stage_name}]", file=out)
        return EXIT_PASSED

    selected = select_files(files, config.root, config.exclude)
    if not selected:
        print(f"{stage_name}: no Python files to check", file=out)
        return EXIT_PASSED

    with tempfile.TemporaryDirectory(prefix=f"gauntlet-hook-{stage_name}-") as reports:
        ctx = build_context(config, stage_name, selected, Path(reports))
        try:
            result = stages[stage_name].run(ctx)
        except GauntletError as error:
            print(f"{stage_name}: error: {error}", file=out)
            print(log_tail(ctx.log_path), file=out)
            return EXIT_ERROR

    return report_result(result, out)


def select_files(files: list[str], root: Path, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """Return the ``.py`` files among ``files``, relative to ``root``, minus ``exclude``.

    pre-commit passes only staged files that exist (not deleted ones), so a name that does not
    exist is a typo or a wrong working directory and raises UsageError. Other files and
    directories are skipped, and the repository's exclude list wins over the named files.
    """
    excluded = [(root / entry).resolve() for entry in exclude]
    selected = []
    for name in files:
        path = (root / name).resolve()
        if not path.exists():
            raise UsageError(
                f"file {name!r} not found in {root}; name existing files, relative to the "
                f"repository root"
            )
        if path.suffix != ".py" or not path.is_file():
            continue
        if any(path == entry or entry in path.parents for entry in excluded):
            continue
        try:
            selected.append(path.relative_to(root).as_posix())
        except ValueError:
            raise UsageError(
                f"file {name!r} is outside the repository root {root}; run the hook from the root"
            ) from None
    return tuple(selected)


def build_context(
    config: Any, stage_name: str, files: tuple[str, ...], reports: Path
) -> StageContext:
    """Build the context of one stage run whose source paths are exactly ``files``."""
    settings = config.run_settings(run_id=f"hook-{uuid.uuid4().hex[:12]}")
    settings = dataclasses.replace(settings, reports_dir=reports, paths=files)

    stage_config = config.stages[stage_name]
    options = stage_config.options
    # A stage's own ``paths`` option would override the global paths, and with them the files.
    if any(item.name == "paths" for item in dataclasses.fields(options)):
        options = dataclasses.replace(options, paths=())

    out_dir = reports / stage_name
    out_dir.mkdir(parents=True)
    return StageContext(
        settings=settings,
        options=options,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=stage_config.timeout_s,
        deadline=time.monotonic() + stage_config.timeout_s,
        log_path=out_dir / f"{stage_name}.log",
    )


def report_result(result: StageResult, out: TextIO) -> int:
    """Print the findings and the verdict line; return the hook's exit code."""
    for finding in result.findings:
        print(format_finding(finding), file=out)

    gating = len(result.gating_findings)
    reason = f": {result.message}" if result.message else ""
    print(f"{result.name}: {result.status.value}{reason} ({gating} gating findings)", file=out)

    if result.status == Status.FAILED:
        return EXIT_FAILED
    if result.status == Status.ERROR:
        return EXIT_ERROR
    return EXIT_PASSED


def format_finding(finding: Finding) -> str:
    """Return ``path:line: rule [severity] message``, the form editors turn into links."""
    where = finding.path or finding.target or "?"
    if finding.line is not None:
        where += f":{finding.line}"
        if finding.column is not None:
            where += f":{finding.column}"
    below_gate = "" if finding.gating else " (below the gate)"
    return f"{where}: {finding.rule_id} [{finding.severity.value}] {finding.message}{below_gate}"


def log_tail(log_path: Path) -> str:
    """Return the last lines of the stage log, or a note that there is none."""
    if not log_path.is_file():
        return "(the stage wrote no log)"
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the hook command's arguments to ``parser``."""
    parser.add_argument("stage", choices=HOOK_STAGES, help="the stage to run on the files")
    parser.add_argument("files", nargs="*", help="files to check, relative to the repository root")


def run_command(args: argparse.Namespace) -> int:
    """Run the hook with the parsed arguments, from the current directory."""
    prefer_interpreter_tools()
    return run_hook(args.stage, list(args.files), Path.cwd())


def prefer_interpreter_tools() -> None:
    """Put the running interpreter's script directory first on PATH.

    The tools are installed next to the kit (pre-commit's hook environment, or .venv), and
    ``python -m gauntlet.hooks`` may run without that environment being activated.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + path if path else scripts


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m gauntlet.hooks``; the same as ``gauntlet hook``."""
    parser = argparse.ArgumentParser(
        prog="python -m gauntlet.hooks",
        description="Run one gauntlet stage on the given files (the pre-commit hooks).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except GauntletError as error:
        print(f"gauntlet hook: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
