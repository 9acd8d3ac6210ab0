"""Fixtures shared by the stage tests: a small repository on disk and a StageContext for it."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from gauntlet.stage import RunSettings, StageContext

FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """Return tests/fixtures, which contains real tool output recorded per tool."""
    return FIXTURES_DIR


@pytest.fixture
def write_repo() -> Callable[[Path, dict[str, str]], Path]:
    """Return a function that writes ``{relative path: text}`` under a root and returns the root."""

    def write(root: Path, files: dict[str, str]) -> Path:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return write


@pytest.fixture
def make_context() -> Callable[..., StageContext]:
    """Return a function that builds the StageContext a pipeline would give a stage.

    ``make_context(root, options, paths=("src",), exclude=(), stage="lint", timeout_s=120)``:
    reports go to a sibling directory of ``root`` (``<root>-reports``), so tools that scan the
    root never see them.
    """

    def build(
        root: Path,
        options: Any,
        *,
        paths: tuple[str, ...] = ("src",),
        exclude: tuple[str, ...] = (),
        stage: str = "stage",
        timeout_s: float = 120.0,
        run_id: str = "test-run",
    ) -> StageContext:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        reports_dir = root.parent / f"{root.name}-reports"
        out_dir = reports_dir / stage
        out_dir.mkdir(parents=True, exist_ok=True)
        settings = RunSettings(
            root=root,
            reports_dir=reports_dir,
            run_id=run_id,
            paths=tuple(paths),
            exclude=tuple(exclude),
            timeout_s=timeout_s,
        )
        return StageContext(
            settings=settings,
            options=options,
            out_dir=out_dir,
            cancel=threading.Event(),
            timeout_s=timeout_s,
            deadline=time.monotonic() + timeout_s,
            log_path=out_dir / f"{stage}.log",
        )

    return build


@pytest.fixture(autouse=True)
def interpreter_bin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the running interpreter's bin directory first on PATH.

    Stages find their tools on PATH, and ``.venv/bin/python -m pytest`` does not put .venv/bin
    there by itself.
    """
    bin_dir = str(Path(sys.executable).parent)
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if entries[0] != bin_dir:
        monkeypatch.setenv("PATH", os.pathsep.join([bin_dir, *entries]))
