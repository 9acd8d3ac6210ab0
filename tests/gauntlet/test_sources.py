"""Tests of the source path helpers shared by the format, lint and sast stages."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gauntlet import sources
from gauntlet.errors import StageError
from gauntlet.stage import RunSettings, StageContext


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def context(root: Path, paths: tuple[str, ...]) -> StageContext:
    settings = RunSettings(root=root, reports_dir=root / "reports", run_id="test", paths=paths)
    return StageContext(
        settings=settings,
        options=None,
        out_dir=root / "reports",
        cancel=threading.Event(),
        timeout_s=10.0,
        deadline=time.monotonic() + 10.0,
        log_path=root / "reports" / "stage.log",
    )


def test_stage_paths_override_wins(tmp_path):
    write(tmp_path, {"src/a.py": "", "lib/b.py": ""})

    assert sources.stage_paths(context(tmp_path, ("src",)), ("lib",)) == ["lib"]


def test_stage_paths_global_when_empty(tmp_path):
    write(tmp_path, {"src/a.py": ""})

    assert sources.stage_paths(context(tmp_path, ("src",)), ()) == ["src"]


def test_stage_paths_missing_path(tmp_path):
    with pytest.raises(StageError, match="'gone' does not exist"):
        sources.stage_paths(context(tmp_path, ("gone",)), ())


def test_stage_paths_none_configured(tmp_path):
    with pytest.raises(StageError, match="no source paths to scan"):
        sources.stage_paths(context(tmp_path, ()), (), "scan")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("src/a.py", "src/a.py"), ("./src/a.py", "src/a.py"), ("/elsewhere/a.py", "/elsewhere/a.py")],
)
def test_relative_path_forms(tmp_path, name, expected):
    assert sources.relative_path(name, tmp_path) == expected


def test_relative_path_absolute_under_root(tmp_path):
    assert sources.relative_path(str(tmp_path / "src" / "a.py"), tmp_path) == "src/a.py"


def test_python_files_skip_exclude(tmp_path):
    root = write(
        tmp_path,
        {
            "src/a.py": "",
            "src/vendor/b.py": "",
            "src/.hidden/c.py": "",
            "src/__pycache__/d.py": "",
            "src/notes.txt": "",
            "src/vendors.py": "",
        },
    )

    files = sources.python_files(root, ["src"], ("src/vendor",))

    assert files == ["src/a.py", "src/vendors.py"]


def test_python_files_single_file_path(tmp_path):
    root = write(tmp_path, {"tool.py": ""})

    assert sources.python_files(root, ["tool.py"], ()) == ["tool.py"]


def test_python_files_excluded_file_path(tmp_path):
    root = write(tmp_path, {"tool.py": ""})

    assert sources.python_files(root, ["tool.py"], ("tool.py",)) == []


def test_line_reader_strips_text(tmp_path):
    write(tmp_path, {"a.py": "x = 1\n    return x  \n"})
    read_line = sources.line_reader(tmp_path)

    assert read_line("a.py", 2) == "return x"


@pytest.mark.parametrize("line", [0, 3, None, "2"])
def test_line_reader_out_of_range(tmp_path, line):
    write(tmp_path, {"a.py": "x = 1\ny = 2\n"})

    assert sources.line_reader(tmp_path)("a.py", line) == ""


def test_line_reader_missing_file(tmp_path):
    assert sources.line_reader(tmp_path)("absent.py", 1) == ""
