"""The pre-commit surface, run for real: the hooks other repositories use, and this repo's own.

pre-commit builds each hook environment from PyPI on first use, so the first run of this module
takes a few minutes; PRE_COMMIT_HOME points into a temporary directory so that ~/.cache is left
alone. The hooks are tried from a clone of this repository's HEAD because pre-commit installs a
hook repository from its commits, not from the working tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = str(Path(sys.executable).parent / "pre-commit")

UNDEFINED_NAME = textwrap.dedent('''\
    """A module that reads an undefined name."""


    def total() -> int:
        """Return the total."""
        return undefined_total + 1
    ''')
CLEAN = textwrap.dedent('''\
    """A module every hook accepts."""


    def double(value: int) -> int:
        """Return twice the value."""
        return value * 2
    ''')
UNFORMATTED = '"""Badly formatted."""\nVALUES = [ 1,2 ,3 ]\n'
SHELL_INJECTION = textwrap.dedent('''\
    """Runs a command through the shell."""

    import subprocess


    def run(command: str) -> int:
        """Run the command."""
        return subprocess.call(command, shell=True)
    ''')


def git(*args: str, cwd: Path) -> None:
    """Run git quietly in ``cwd`` with a fixed identity."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pre_commit_env(tmp_path_factory) -> dict[str, str]:
    """Return an environment whose PRE_COMMIT_HOME is a fresh temporary directory."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    return {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    """Return a clone of this repository at HEAD, the hook repository pre-commit installs."""
    clone = tmp_path_factory.mktemp("hook-repo") / "ci-gauntlet"
    git("clone", "--quiet", str(ROOT), str(clone), cwd=clone.parent)
    return clone


@pytest.fixture(scope="module")
def target_repo(tmp_path_factory) -> Path:
    """Return a small git repository with one planted defect per hook and one clean file."""
    repo = tmp_path_factory.mktemp("target-repo")
    (repo / "pyproject.toml").write_text('[tool.gauntlet]\npaths = ["."]\n', encoding="utf-8")
    (repo / "undefined_name.py").write_text(UNDEFINED_NAME, encoding="utf-8")
    (repo / "clean.py").write_text(CLEAN, encoding="utf-8")
    (repo / "unformatted.py").write_text(UNFORMATTED, encoding="utf-8")
    (repo / "shell_injection.py").write_text(SHELL_INJECTION, encoding="utf-8")
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "initial", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def try_repo(hook_repo, target_repo, pre_commit_env):
    """Return a function that runs ``pre-commit try-repo`` with one hook on one target file."""

    def run(hook: str, file: str) -> subprocess.CompletedProcess:
        argv = [PRE_COMMIT, "try-repo", str(hook_repo), hook, "--files", file, "--verbose"]
        return subprocess.run(
            argv, cwd=target_repo, env=pre_commit_env, capture_output=True, text=True, check=False
        )

    return run


@pytest.mark.slow
@pytest.mark.parametrize(
    "hook, defect, rule",
    [
        ("gauntlet-lint", "undefined_name.py", "E0602"),
        ("gauntlet-format", "unformatted.py", "would-reformat"),
        ("gauntlet-sast", "shell_injection.py", "B602"),
    ],
)
def test_hook_trips_on_defect(try_repo, hook, defect, rule):
    completed = try_repo(hook, defect)
    output = completed.stdout + completed.stderr

    assert completed.returncode == 1, output
    assert rule in output
    assert "failed" in output


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["gauntlet-lint", "gauntlet-format", "gauntlet-sast"])
def test_hook_passes_clean_file(try_repo, hook):
    completed = try_repo(hook, "clean.py")
    output = completed.stdout + completed.stderr

    assert completed.returncode == 0, output
    assert "Passed" in output


@pytest.mark.slow
def test_own_hooks_pass_on_repo(hook_repo, pre_commit_env):
    argv = [PRE_COMMIT, "run", "--all-files", "--show-diff-on-failure"]

    completed = subprocess.run(
        argv, cwd=hook_repo, env=pre_commit_env, capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
