"""Tests of gauntlet.hooks: each hook stage run for real on planted defects and clean files."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from gauntlet import hooks
from gauntlet.errors import UsageError

CLEAN = textwrap.dedent('''\
    """A module every hook accepts."""


    def double(value: int) -> int:
        """Return twice the value."""
        return value * 2
    ''')
DEFECTS = {
    "lint": textwrap.dedent('''\
        """A module that reads an undefined name."""


        def total() -> int:
            """Return the total."""
            return undefined_total + 1
        '''),
    "format": '"""Badly formatted."""\nVALUES = [ 1,2 ,3 ]\n',
    "sast": textwrap.dedent('''\
        """Runs a command through the shell."""

        import subprocess


        def run(command: str) -> int:
            """Run the command."""
            return subprocess.call(command, shell=True)
        '''),
}
RULES = {"lint": "E0602/undefined-variable", "format": "would-reformat", "sast": "B602"}


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """Return a repository root with [tool.gauntlet], a clean file and one defect per stage."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gauntlet]\npaths = ["."]\nexclude = ["generated"]\n', encoding="utf-8"
    )
    (tmp_path / "clean.py").write_text(CLEAN, encoding="utf-8")
    for stage, text in DEFECTS.items():
        (tmp_path / f"{stage}_defect.py").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # main() puts the interpreter's directory first on PATH; monkeypatch restores it afterwards.
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    return tmp_path


@pytest.mark.slow
@pytest.mark.usefixtures("repo")
@pytest.mark.parametrize("stage", hooks.HOOK_STAGES)
def test_hook_trips_on_defect(capsys, stage):
    code = hooks.main([stage, f"{stage}_defect.py"])
    output = capsys.readouterr().out

    assert code == 1
    assert f"{stage}_defect.py" in output
    assert RULES[stage] in output
    assert f"{stage}: failed" in output


@pytest.mark.slow
@pytest.mark.usefixtures("repo")
@pytest.mark.parametrize("stage", hooks.HOOK_STAGES)
def test_hook_passes_clean_file(capsys, stage):
    code = hooks.main([stage, "clean.py"])

    assert code == 0
    assert f"{stage}: passed" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.usefixtures("repo")
def test_hook_checks_only_given_files(capsys):
    # The defect sits under the configured paths but is not staged, so lint must not see it.
    code = hooks.main(["lint", "clean.py"])

    assert code == 0
    assert "lint_defect.py" not in capsys.readouterr().out


def test_hook_skips_excluded_file(repo, capsys):
    (repo / "generated").mkdir()
    (repo / "generated" / "bad.py").write_text(DEFECTS["lint"], encoding="utf-8")

    code = hooks.main(["lint", "generated/bad.py"])

    assert code == 0
    assert "no Python files to check" in capsys.readouterr().out


def test_hook_ignores_non_python_files(repo, capsys):
    (repo / "notes.txt").write_text("not python\n", encoding="utf-8")

    code = hooks.main(["lint", "notes.txt"])

    assert code == 0
    assert "no Python files to check" in capsys.readouterr().out


def test_hook_missing_file_exits_2(repo, capsys):
    code = hooks.main(["lint", "clean.py", "nonexist.py"])

    captured = capsys.readouterr()
    assert code == 2
    assert "file 'nonexist.py' not found" in captured.err
    assert "no Python files to check" not in captured.out


def test_hook_disabled_stage_skipped(repo, capsys):
    (repo / "pyproject.toml").write_text(
        '[tool.gauntlet]\npaths = ["."]\n\n[tool.gauntlet.sast]\nenabled = false\n',
        encoding="utf-8",
    )

    code = hooks.main(["sast", "sast_defect.py"])

    assert code == 0
    assert "skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_hook_overrides_stage_paths(repo, capsys):
    # [tool.gauntlet.lint] paths would point pylint at clean.py only; the staged file must win.
    (repo / "pyproject.toml").write_text(
        '[tool.gauntlet]\npaths = ["."]\n\n[tool.gauntlet.lint]\npaths = ["clean.py"]\n',
        encoding="utf-8",
    )

    code = hooks.main(["lint", "lint_defect.py"])

    assert code == 1
    assert "E0602" in capsys.readouterr().out


def test_hook_invalid_stage_rejected(repo):
    with pytest.raises(UsageError, match="invalid hook stage 'unit'"):
        hooks.run_hook("unit", ["clean.py"], repo)


def test_hook_bad_config_exits_2(repo, capsys):
    (repo / "pyproject.toml").write_text(
        '[tool.gauntlet]\npaths = ["."]\n\n[tool.gauntlet.sast]\nseverity = "extreme"\n',
        encoding="utf-8",
    )

    code = hooks.main(["sast", "sast_defect.py"])

    assert code == 2
    assert "severity" in capsys.readouterr().err


def test_select_files_relative_and_filtered(repo):
    (repo / "notes.txt").write_text("not python\n", encoding="utf-8")

    selected = hooks.select_files(["./clean.py", "lint_defect.py", "notes.txt"], repo, ())

    assert selected == ("clean.py", "lint_defect.py")


def test_select_files_missing_file_rejected(repo):
    with pytest.raises(UsageError, match="file 'missing.py' not found"):
        hooks.select_files(["clean.py", "missing.py"], repo, ())
