"""Source paths for the stages that check code: which paths to pass and how to name files.

Stages never import each other, so the helpers that format, lint and sast share live here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from gauntlet.errors import StageError
from gauntlet.stage import StageContext

SKIPPED_DIRS = {"__pycache__", "node_modules"}  # besides every directory whose name starts with "."


def stage_paths(ctx: StageContext, override: tuple[str, ...], verb: str = "check") -> list[str]:
    """Return a stage's source paths: its own ``paths`` option, else the global ``paths``.

    Raises StageError when there is no path or a path does not exist under the root.
    """
    paths = list(override or ctx.settings.paths)
    if not paths:
        raise StageError(f"no source paths to {verb}; set paths in [tool.gauntlet]")

    for path in paths:
        if not (ctx.root / path).exists():
            raise StageError(
                f"source path {path!r} does not exist under {ctx.root}; "
                f"fix paths in [tool.gauntlet]"
            )
    return paths


def relative_path(path: str, root: Path) -> str:
    """Return a tool's file name relative to ``root``, with POSIX separators and no ``./``.

    A relative name is taken as relative to ``root`` already, because stages run tools there. A
    name outside ``root`` is returned unchanged.
    """
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(root.resolve())
        except ValueError:
            return candidate.as_posix()
    return candidate.as_posix().removeprefix("./")


def python_files(root: Path, paths: list[str], exclude: tuple[str, ...]) -> list[str]:
    """Return the .py files under ``paths``, relative to ``root`` and sorted per path.

    Skipped: anything under an ``exclude`` entry (relative to ``root``), hidden directories and
    ``__pycache__``. A path that is a file is kept whatever its suffix.
    """
    excluded = [(root / entry).resolve() for entry in exclude]
    files = []
    for path in paths:
        start = root / path
        if start.is_file():
            if not is_excluded(start.resolve(), excluded):
                files.append(Path(path).as_posix())
            continue

        for directory, subdirs, names in os.walk(start):
            current = Path(directory)
            subdirs[:] = sorted(
                name
                for name in subdirs
                if not name.startswith(".")
                and name not in SKIPPED_DIRS
                and not is_excluded((current / name).resolve(), excluded)
            )
            for name in sorted(names):
                candidate = current / name
                if name.endswith(".py") and not is_excluded(candidate.resolve(), excluded):
                    files.append(candidate.relative_to(root).as_posix())
    return files


def is_excluded(path: Path, excluded: list[Path]) -> bool:
    """Return True when ``path`` is one of ``excluded`` or lies under one."""
    return any(path == entry or entry in path.parents for entry in excluded)


def line_reader(root: Path) -> Callable[[str, object], str]:
    """Return a function that gives the stripped text of a line of a file under ``root``.

    The function takes a path relative to ``root`` and a 1-based line number and returns "" when
    the file or line does not exist. Each file is read once per reader.
    """
    cache: dict[str, list[str]] = {}

    def read(path: str, line: object) -> str:
        if not isinstance(line, int) or line < 1:
            return ""
        if path not in cache:
            try:
                text = (root / path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            cache[path] = text.splitlines()
        lines = cache[path]
        return lines[line - 1].strip() if line <= len(lines) else ""

    return read
