"""The kit's error types and the exit codes of a run.

Every fatal problem is raised as a ``GauntletError`` subclass; ``cli.main`` is the one place that
turns them into a message and an exit code.
"""

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130


class GauntletError(Exception):
    """A fatal problem with a one-line message that names the value and the fix."""

    exit_code = EXIT_ERROR


class UsageError(GauntletError):
    """Invalid command line or configuration (exit 2)."""

    exit_code = EXIT_USAGE


class StageError(GauntletError):
    """A tool or its infrastructure broke inside a stage, so the stage ends as ``error``.

    Raised from ``Stage.run``; the pipeline records the message and goes on with other stages.
    """


class ToolNotFound(StageError):
    """An executable a stage needs is not on PATH."""
