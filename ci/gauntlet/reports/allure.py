"""The single-file Allure HTML report, built from reports/allure-results by the Allure 3 CLI.

The CLI is the npm package ``allure`` pinned in the repository's package.json; it is looked up in
``<root>/node_modules/.bin`` first, then on PATH. The kit runs ``allure awesome --single-file``
with explicit results, output and history paths and the report name (``[project] name`` of
pyproject.toml, else the root directory's name), in an empty temporary working directory.
Allure 3 (checked with 3.18.0) reads its config file only from the working directory, so the
target repository's ``allurerc.mjs`` is never loaded. That file may import the ``allure``
package, which a repository without node_modules cannot resolve.

A missing CLI or a failed generation is a warning in the summary, never a stage failure: the
verdicts come from the stages, and the Allure report is a view of the unit and bdd results.
The history file (``allure-history.jsonl``) stays in the reports directory across runs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import tomllib
from pathlib import Path

from gauntlet import process
from gauntlet.errors import StageError
from gauntlet.pipeline import ALLURE_HISTORY, RunOutcome

log = logging.getLogger(__name__)

REPORT_DIR = "allure-report"
LOG_FILE = "allure.log"
TIMEOUT_S = 300.0
INSTALL_HINT = "run `npm ci` in the repository root (make ci does) or put `allure` 3 on PATH"


def write(outcome: RunOutcome) -> Path | None:
    """Generate reports/allure-report/index.html; return it, or None with a warning added."""
    settings = outcome.settings
    results_dir = settings.allure_results_dir
    if not results_dir.is_dir() or not any(results_dir.iterdir()):
        log.debug("no Allure results in %s: no Allure report", results_dir)
        return None

    executable = find_cli(settings.root)
    if executable is None:
        outcome.warnings.append(
            f"Allure report not generated: the Allure CLI was not found; {INSTALL_HINT}"
        )
        return None

    output = settings.reports_dir / REPORT_DIR
    argv = [
        executable,
        "awesome",
        str(results_dir),
        "--single-file",
        "--output",
        str(output),
        "--history-path",
        str(settings.reports_dir / ALLURE_HISTORY),
        "--report-name",
        report_name(settings.root),
    ]
    log_path = settings.reports_dir / LOG_FILE
    try:
        with tempfile.TemporaryDirectory(prefix="gauntlet-allure-") as empty_dir:
            completed = process.run(
                argv,
                cwd=Path(empty_dir),
                log_path=log_path,
                timeout_s=TIMEOUT_S,
                cancel=threading.Event(),
            )
    except StageError as exc:
        outcome.warnings.append(f"Allure report not generated: {exc}; see {log_path}")
        return None

    index = output / "index.html"
    if completed.returncode != 0 or not index.is_file():
        outcome.warnings.append(
            f"Allure report not generated: allure exited {completed.returncode}; see {log_path}"
        )
        return None
    return index


def find_cli(root: Path) -> str | None:
    """Return the Allure CLI of the repository's node_modules, else the one on PATH, else None."""
    local = root / "node_modules" / ".bin" / "allure"
    if local.is_file():
        return str(local)
    return shutil.which("allure")


def report_name(root: Path) -> str:
    """Return the project name from ``root``'s pyproject.toml, else the root directory's name."""
    try:
        with open(root / "pyproject.toml", "rb") as handle:
            name = tomllib.load(handle).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        name = None
    if isinstance(name, str) and name.strip():
        return name.strip()
    return root.resolve().name
