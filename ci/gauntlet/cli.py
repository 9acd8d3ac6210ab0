"""The ``gauntlet`` command line.

``main`` returns every exit code of the command: a run's own comes from ``RunOutcome.exit_code``,
and a ``GauntletError`` raised anywhere becomes its ``exit_code`` here:

    0 every selected stage passed (skipped ones allowed)
    1 at least one gate failed and no stage errored
    2 usage or configuration error
    3 at least one stage errored (tool missing, crash, timeout, broken infrastructure)
  130 interrupted (Ctrl-C or SIGTERM)

A ``GauntletError`` is printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.resources
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from gauntlet import __version__, config, stages as stage_registry
from gauntlet.errors import (
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    GauntletError,
    UsageError,
)
from gauntlet import hooks, merge
from gauntlet.pipeline import Pipeline, RunOutcome, select_stages
from gauntlet.reports import summary, write_reports
from gauntlet.stage import Stage, Status

log = logging.getLogger("gauntlet")

SETUP_SCRIPTS = ("ensure-engine.sh", "ensure-base-image.sh")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["init"]:
        # init has options of its own, which argparse would take for gauntlet's.
        configure_logging(verbose=False)
        return guarded(command_init, argv[1:])

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE

    return guarded(args.handler, args)


def guarded(handler: Callable[[Any], int], args: Any) -> int:
    """Call a subcommand and map a GauntletError or an interrupt to its exit code."""
    try:
        return handler(args)
    except GauntletError as exc:
        print(f"gauntlet: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gauntlet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-C",
        "--root",
        type=Path,
        metavar="DIR",
        help="repository root (default: the nearest directory upwards holding pyproject.toml, "
        "else the current one)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")

    parser = argparse.ArgumentParser(
        prog="gauntlet",
        description="Run a Python repository through one pipeline of quality and security gates, "
        "configured by [tool.gauntlet] in pyproject.toml.",
        epilog="exit codes: 0 passed, 1 a gate failed, 2 usage or configuration error, "
        "3 a stage errored, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="run the stages and write the reports")
    run.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="S,..",
        help="run only these stages (comma-separated, repeatable)",
    )
    run.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="S,..",
        help="do not run these stages (comma-separated, repeatable)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="stages run at once (default: [tool.gauntlet] jobs, else the CPU count)",
    )
    run.add_argument(
        "--fail-fast",
        action="store_true",
        default=None,
        help="cancel the remaining stages after the first failed or errored one",
    )
    run.add_argument(
        "--reports",
        metavar="DIR",
        help="reports directory, absolute or relative to the root "
        "(default: [tool.gauntlet] reports, else reports)",
    )
    run.set_defaults(handler=command_run)

    listing = commands.add_parser(
        "list", parents=[common], help="list the stages, their needs and their configured gates"
    )
    listing.set_defaults(handler=command_list)

    clean = commands.add_parser(
        "clean",
        parents=[common],
        help="remove the containers, processes and images that ended runs left on this machine",
    )
    clean.add_argument("--run-id", metavar="ID", help="only what the run with this id left behind")
    clean.set_defaults(handler=command_clean)

    setup = commands.add_parser(
        "setup",
        parents=[common],
        help="make sure a container engine and the base image are available",
    )
    setup.set_defaults(handler=command_setup)

    selftest = commands.add_parser(
        "selftest",
        help="prove that each gate passes on clean code and fails on a planted defect",
    )
    selftest.add_argument(
        "-v", "--verbose", action="store_true", help="log debug details to stderr"
    )
    selftest.add_argument(
        "--with-image",
        action="store_true",
        help="also check the image gate (needs a container engine, a base image and trivy)",
    )
    selftest.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="base image of the self-test Dockerfile with --with-image (default: python:3.12-slim)",
    )
    selftest.add_argument(
        "--with-dast",
        action="store_true",
        help="also check the dast gate (runs sqlmap against a service it starts on 127.0.0.1)",
    )
    selftest.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary repositories and their reports, and print where they are",
    )
    selftest.set_defaults(handler=command_selftest)

    hook = commands.add_parser(
        "hook", help="run format, lint or sast on the given files (for pre-commit)"
    )
    hooks.add_arguments(hook)
    hook.set_defaults(handler=hooks.run_command)

    merging = commands.add_parser(
        "merge", help="merge the reports directories of several runs into one"
    )
    merge.add_arguments(merging)
    merging.set_defaults(handler=merge.run_command)

    # main passes `init` and its arguments to gauntlet.init; this entry is for --help only.
    commands.add_parser(
        "init",
        help="scaffold the gauntlet set-up into a repository (see gauntlet init --help)",
        add_help=False,
    )
    return parser


class LowercaseLevelFormatter(logging.Formatter):
    """A formatter that writes the level in lower case: ``gauntlet: error: ...``.

    The one-line errors of ``guarded`` read the same way, as argparse's do.
    """

    def format(self, record: logging.LogRecord) -> str:
        copy = logging.makeLogRecord(record.__dict__)
        copy.levelname = record.levelname.lower()
        return super().format(copy)


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(
            LowercaseLevelFormatter("gauntlet: %(levelname)s %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(LowercaseLevelFormatter("gauntlet: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def command_run(args: argparse.Namespace) -> int:
    stages = load_stages()
    overrides = {"jobs": args.jobs, "fail_fast": args.fail_fast, "reports": args.reports}
    settings = config.load(find_root(args.root), stages, cli=overrides)
    only = split_names(args.only, "--only", stages)
    skip = split_names(args.skip, "--skip", stages)
    selected = select_stages(stages, only, skip)
    if not selected:
        raise UsageError(
            "no stage left to run after --only and --skip; `gauntlet list` shows the stages"
        )

    progress = summary.Progress()
    pipeline = Pipeline(stages, settings, selected, listener=progress)
    with terminate_as_interrupt():
        outcome = pipeline.run()
        write_reports(outcome)
    log_stage_problems(outcome)
    progress.terminal.write("\n" + summary.render(outcome))
    return outcome.exit_code


def log_stage_problems(outcome: RunOutcome) -> None:
    """Log one line per failed or errored stage to stderr, where CI logs show errors.

    This line is the only place the terminal shows a stage's message: the details under the
    summary table on stdout give the log tail only. A failed gate is logged as a warning,
    because it is the verdict the run exists for (exit 1), not a broken stage (exit 3).
    """
    for result in outcome.results:
        message = " ".join(result.message.splitlines())
        if result.status is Status.ERROR:
            log.error("stage %s: %s", result.name, message or "see its log")
        elif result.status is Status.FAILED:
            log.warning("stage %s failed: %s", result.name, message or "its gate tripped")


def command_list(args: argparse.Namespace) -> int:
    stages = load_stages()
    settings = config.load(find_root(args.root), stages)
    rows = [("stage", "needs", "timeout", "gate")]
    for name, stage in stages.items():
        stage_config = settings.stages[name]
        needs = ", ".join(stage.required(stage_config.options)) or "-"
        gate = (
            stage.describe_gate(stage_config.options)
            if stage_config.enabled
            else "disabled (enabled = false)"
        )
        rows.append((name, needs, f"{stage_config.timeout_s:g} s", gate))

    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print(
            "  ".join(
                [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3]]
            )
        )
    print(
        f"\nsource paths: {', '.join(settings.paths)}; reports: {settings.reports_dir}; "
        f"jobs: {settings.jobs}"
    )
    return EXIT_PASSED


def command_clean(args: argparse.Namespace) -> int:
    deploy = import_optional("gauntlet.deploy", "gauntlet clean")
    leftovers = deploy.clean_leftovers(args.run_id)
    print(leftovers.summary())
    for problem in leftovers.problems:
        log.warning("%s", problem)
    return EXIT_PASSED


def command_setup(args: argparse.Namespace) -> int:
    scripts = importlib.resources.files("gauntlet") / "scripts"
    root = find_root(args.root)
    for name in SETUP_SCRIPTS:
        script = scripts / name
        if not script.is_file():
            log.warning("skipping %s: this installation of the kit does not include it", name)
            continue
        print(f"gauntlet setup: running {name}", file=sys.stderr)
        completed = subprocess.run(["bash", str(script)], cwd=root, check=False)
        if completed.returncode != 0:
            raise GauntletError(
                f"{name} failed with exit code {completed.returncode}; "
                f"the output above shows the cause"
            )
    return EXIT_PASSED


def command_selftest(args: argparse.Namespace) -> int:
    selftest = import_optional("gauntlet.selftest", "gauntlet selftest")
    with terminate_as_interrupt():
        return selftest.main(args)


def command_init(argv: list[str]) -> int:
    init = import_optional("gauntlet.init", "gauntlet init")
    return int(init.main(argv) or 0)


def load_stages() -> dict[str, Stage]:
    """Return the registered stages; a stage module that fails to import is an error (exit 3)."""
    try:
        return stage_registry.all_stages()
    except ImportError as exc:
        raise GauntletError(
            f"cannot load the stages: {exc}; reinstall the kit (pip install -e .)"
        ) from None


def import_optional(module: str, command: str) -> Any:
    """Import a module that a subcommand needs, or raise GauntletError when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise GauntletError(
            f"{command} is not available: this installation of the kit has no {module}"
        ) from None


def split_names(values: Sequence[str], flag: str, stages: Mapping[str, Stage]) -> list[str]:
    """Return stage names from repeated, comma-separated values of ``flag``.

    Raises UsageError for a value that names no stage (``--only ""``, ``--only ,``), which would
    otherwise read as no filter at all.
    """
    names = []
    for value in values:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts:
            raise UsageError(
                f"{flag} {value!r} names no stage; give stage names separated by commas "
                f"or leave out {flag} (valid stages: {', '.join(stages)})"
            )
        names.extend(parts)
    return names


def find_root(explicit: Path | None) -> Path:
    """Return ``explicit`` (a directory), else the nearest directory upwards with pyproject.toml."""
    if explicit is not None:
        if not explicit.is_dir():
            raise UsageError(
                f"-C/--root {str(explicit)!r} is not a directory; give the repository root"
            )
        return explicit.resolve()

    current = Path.cwd().resolve()
    for candidate in (current, *current.parents):
        if (candidate / config.PYPROJECT).is_file():
            return candidate
    return current


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within this block, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread.

    SIGINT is set explicitly because a shell starts background commands with SIGINT ignored, and
    Python then installs no handler of its own. A run must stay interruptible there too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    previous = {
        signum: signal.signal(signum, raise_interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
