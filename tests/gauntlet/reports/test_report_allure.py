"""Tests of gauntlet.reports.allure with the pinned Allure 3 CLI from the repository's node_modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.reports import allure

REPO_ROOT = Path(__file__).resolve().parents[3]


def record_allure_results(results_dir: Path, tmp_path: Path) -> None:
    """Run a passing and a failing test under allure-pytest, writing real Allure results."""
    test_file = tmp_path / "test_sample.py"
    test_file.write_text(
        "def test_passes():\n    assert True\n\n\ndef test_fails():\n    assert 1 == 2\n",
        encoding="utf-8",
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--alluredir={results_dir}",
            str(test_file),
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
def test_single_file_report_from_real_results(outcome, tmp_path):
    cli_path = REPO_ROOT / "node_modules" / ".bin" / "allure"
    assert (
        cli_path.is_file()
    ), "the pinned Allure CLI is missing: run `npm ci` in the repository root"
    (outcome.settings.root / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    record_allure_results(outcome.settings.allure_results_dir, tmp_path)

    index = allure.write(outcome)
    report_dir = outcome.settings.reports_dir / "allure-report"
    assert outcome.warnings == []
    assert index == report_dir / "index.html"
    assert index.stat().st_size > 100_000
    assert (
        sorted(path.name for path in report_dir.iterdir() if path.suffix in (".js", ".css")) == []
    )
    assert (outcome.settings.reports_dir / "allure-history.jsonl").is_file()


@pytest.mark.slow
def test_report_ignores_target_repo_allurerc(outcome, tmp_path, monkeypatch):
    # Another repository using the kit: an allurerc.mjs that imports the `allure` package, no
    # node_modules to resolve it from, and the CLI found on PATH.
    root = outcome.settings.root
    (root / "allurerc.mjs").write_text(
        'import { defineConfig } from "allure";\n'
        'export default defineConfig({ name: "from the repo", output: "./elsewhere" });\n',
        encoding="utf-8",
    )
    cli_dir = REPO_ROOT / "node_modules" / ".bin"
    assert (cli_dir / "allure").is_file(), "the pinned Allure CLI is missing: run `npm ci`"
    monkeypatch.setenv("PATH", f"{cli_dir}{os.pathsep}{os.environ['PATH']}")
    record_allure_results(outcome.settings.allure_results_dir, tmp_path)

    index = allure.write(outcome)
    assert outcome.warnings == []
    assert index == outcome.settings.reports_dir / "allure-report" / "index.html"
    assert f"<title> {root.name}" in index.read_text(encoding="utf-8")
    assert not (root / "node_modules").exists()
    assert not (root / "elsewhere").exists()


def test_report_name_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tidy-service"\n', encoding="utf-8")
    assert allure.report_name(tmp_path) == "tidy-service"


@pytest.mark.parametrize("text", [None, "[tool.other]\n", "[project\n", "[project]\nname = 3\n"])
def test_report_name_falls_back_to_directory(tmp_path, text):
    root = tmp_path / "some-repo"
    root.mkdir()
    if text is not None:
        (root / "pyproject.toml").write_text(text, encoding="utf-8")
    assert allure.report_name(root) == "some-repo"


def test_missing_cli_is_a_warning(outcome, tmp_path, monkeypatch):
    results = outcome.settings.allure_results_dir
    results.mkdir()
    (results / "x-result.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert allure.write(outcome) is None
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith(
        "Allure report not generated: the Allure CLI was not found; run `npm ci`"
    )


def test_no_results_means_no_report(outcome):
    assert allure.write(outcome) is None
    assert outcome.warnings == []


def test_failing_cli_is_a_warning(outcome, tmp_path):
    results = outcome.settings.allure_results_dir
    results.mkdir()
    (results / "x-result.json").write_text("{}", encoding="utf-8")
    fake_cli = outcome.settings.root / "node_modules" / ".bin" / "allure"
    fake_cli.parent.mkdir(parents=True)
    fake_cli.write_text("#!/bin/sh\necho broken >&2\nexit 4\n", encoding="utf-8")
    os.chmod(fake_cli, 0o755)
    assert allure.write(outcome) is None
    assert outcome.warnings == [
        f"Allure report not generated: allure exited 4; see {outcome.settings.reports_dir / 'allure.log'}"
    ]
