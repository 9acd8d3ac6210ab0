"""``gauntlet selftest``: prove that each gate trips on a planted defect and passes on clean code.

The self-test writes tiny repositories into a temporary directory. One is clean, and each of the
others carries one planted defect aimed at one gate. Every repository goes through the real
pipeline with the real tools, in this process, exactly as ``gauntlet run`` would run it:

- the clean repository runs every checked gate at once, and each gate must pass;
- a defect repository runs its gate (plus the stages that gate needs), and that gate must fail.

The code gates (format, lint, sast, unit, bdd, coverage) are always checked. The image gate needs
a container engine, a base image and trivy, so it is checked only with ``--with-image``. Its
scan uses trivy's misconfiguration and secret scanners only, which need no vulnerability DB.
The dast gate starts a service and runs sqlmap against it, so it is checked only with
``--with-dast``. The service is a standard-library HTTP server on 127.0.0.1 that looks words up
in SQLite: with a parameterized query in the clean repository, and with a query built from the
request parameter in the planted one.

The tools are the ones on PATH, as for ``gauntlet run``. The caller's ``GAUNTLET_*`` environment
variables are ignored, so they cannot change the verdicts.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from gauntlet import config, engine, process, stages as stage_registry
from gauntlet.errors import EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, GauntletError
from gauntlet.pipeline import Pipeline
from gauntlet.stage import Stage, StageResult, Status

log = logging.getLogger(__name__)

CODE_GATES = ("format", "lint", "sast", "unit", "bdd", "coverage")
STAGE_TIMEOUT_S = 300  # per stage; the tiny repositories take seconds, a loaded machine more
DEFAULT_BASE_IMAGE = "python:3.12-slim"
CLEAN = "none (clean repository)"
IMAGE_ROOT_RULE = "DS-0002"  # trivy 0.76: the image's last USER is root
DAST_RULE = "sql-injection"
SERVICE_PATH = "service/words.py"

# The clean repository. Unit tests and scenarios together cover every line and branch of the
# package, so the coverage gate can demand 100 percent.
PACKAGE = '''\
"""Word statistics for the gauntlet self-test."""


def count_words(text):
    """Return the number of whitespace-separated words in ``text``."""
    return len(text.split())


def longest_word(text):
    """Return the longest word in ``text``, or an empty string when it has no words."""
    words = text.split()
    if not words:
        return ""
    return max(words, key=len)
'''

TESTS = """\
from wordstats import count_words, longest_word


def test_count_words_ignores_repeated_spaces():
    assert count_words("one  two   three") == 3


def test_longest_word_of_blank_text():
    assert longest_word("   ") == ""
"""

FEATURE = """\
Feature: Longest word

  Scenario: the longest word of a sentence
    Given the text "a quick fox"
    When the longest word is requested
    Then the answer is "quick"
"""

STEPS = """\
from behave import given, then, when

from wordstats import longest_word


@given('the text "{text}"')
def step_text(context, text):
    context.sentence = text


@when("the longest word is requested")
def step_longest_word(context):
    context.answer = longest_word(context.sentence)


@then('the answer is "{expected}"')
def step_answer(context, expected):
    assert context.answer == expected, f"expected {expected!r}, got {context.answer!r}"
"""

PYPROJECT = f"""\
[tool.gauntlet]
paths = ["wordstats"]
timeout = {STAGE_TIMEOUT_S}

[tool.gauntlet.coverage]
fail_under = 100.0

[tool.gauntlet.image]
# Misconfigurations and secrets only: a vulnerability scan needs trivy's DB from the network.
scanners = ["misconfig", "secret"]

[tool.coverage.run]
branch = true
parallel = true
relative_files = true
"""

# A non-root user, so the image configuration has no HIGH misconfiguration. trivy reports the
# missing HEALTHCHECK (DS-0026) as LOW, below the default gate.
DOCKERFILE = """\
ARG BASE_IMAGE={base_image}
FROM ${{BASE_IMAGE}}
WORKDIR /app
COPY wordstats /app/wordstats
USER 10001
CMD ["python3", "-c", "import wordstats"]
"""

# The service the dast gate scans. It lives outside the checked source paths, so the code gates
# and the coverage total never see it.
SERVICE = """\
\"\"\"Word lookup over HTTP for the dast self-test: GET /healthz and GET /words?q=WORD.\"\"\"

import json
import os
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DATABASE = sqlite3.connect(":memory:", check_same_thread=False)
DATABASE.executescript(
    "CREATE TABLE words (word TEXT NOT NULL, length INTEGER NOT NULL);"
    "INSERT INTO words VALUES ('quick', 5), ('fox', 3);"
)
DATABASE_LOCK = threading.Lock()


def find_words(word):
    with DATABASE_LOCK:
        return DATABASE.execute({query}).fetchall()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self.reply(200, {{"status": "ok"}})
        elif url.path == "/words":
            word = parse_qs(url.query).get("q", [""])[0]
            try:
                rows = find_words(word)
            except (sqlite3.Error, sqlite3.Warning):
                self.reply(500, {{"error": "internal error"}})
                return
            self.reply(200, {{"words": [{{"word": w, "length": n}} for w, n in rows]}})
        else:
            self.reply(404, {{"error": "not found"}})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # quiet: sqlmap sends thousands of requests
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
PARAMETERIZED_QUERY = '"SELECT word, length FROM words WHERE word = ?", (word,)'
INJECTABLE_QUERY = "f\"SELECT word, length FROM words WHERE word = '{word}'\""

DAST_CONFIG = """
[tool.gauntlet.dast]
deploy = "process"
command = [{python}, "service/words.py"]
health_path = "/healthz"
dbms = "SQLite"

[[tool.gauntlet.dast.targets]]
name = "words"
path = "/words"
query = {{ q = "quick" }}
params = ["q"]
time_limit = 120
"""

# Planted defects, each added to the clean files.
MISFORMATTED = PACKAGE + "\n\nSEPARATORS = [ ' ','\\t' ]\n"

UNDEFINED_NAME = PACKAGE + '''

def mean_word_length(text):
    """Return the mean length of the words in ``text``."""
    return sum(len(word) for word in text.split()) / count_words(txt)
'''

SHELL_MODULE = '''\
"""Export word counts through a shell command."""

import subprocess


def export_counts(destination):
    """Copy the counts file to ``destination``, a path the user typed."""
    return subprocess.run(f"cp counts.txt {destination}", shell=True, check=False)
'''

FAILING_TEST = TESTS + """

def test_count_words_of_two_words():
    assert count_words("one two") == 3
"""

UNCOVERED_FUNCTION = PACKAGE + '''

def shortest_word(text):
    """Return the shortest word in ``text``; no test calls it."""
    return min(text.split(), key=len)
'''


@dataclass(frozen=True)
class Case:
    """One planted defect: the gate it targets, the stages to run and the files it changes.

    The gate counts as tripped by the defect only when it failed with a gating finding whose rule
    id starts with ``rule`` and, when ``path`` is set, whose path is ``path``. So a gate that fails
    for another reason does not pass the self-test.
    """

    gate: str
    defect: str
    stages: tuple[str, ...]
    files: Mapping[str, str]
    rule: str
    path: str | None = None


@dataclass(frozen=True)
class Row:
    """One line of the self-test table: the verdict a gate gave and whether it was expected."""

    gate: str
    defect: str
    verdict: str
    ok: bool
    message: str = ""


@dataclass
class Report:
    """The rows of a self-test run; ``interrupted`` is set when Ctrl-C stopped it."""

    rows: list[Row] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """Return 130 when interrupted, 3 when a gate errored, 1 when one misjudged, else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if any(row.verdict == Status.ERROR.value for row in self.rows):
            return EXIT_ERROR
        if not all(row.ok for row in self.rows):
            return EXIT_FAILED
        return EXIT_PASSED


def clean_files(
    with_image: bool = False, base_image: str = DEFAULT_BASE_IMAGE, with_dast: bool = False
) -> dict[str, str]:
    """Return the files of the clean repository, ``{relative path: text}``."""
    files = {
        "pyproject.toml": PYPROJECT,
        "wordstats/__init__.py": PACKAGE,
        "tests/test_wordstats.py": TESTS,
        "features/longest_word.feature": FEATURE,
        "features/steps/wordstats_steps.py": STEPS,
    }
    if with_image:
        files["Dockerfile"] = DOCKERFILE.format(base_image=base_image)
    if with_dast:
        # A JSON string is a valid TOML basic string, quotes and escapes included.
        files["pyproject.toml"] += DAST_CONFIG.format(python=json.dumps(sys.executable))
        files[SERVICE_PATH] = SERVICE.format(query=PARAMETERIZED_QUERY)
    return files


def defect_cases(clean: Mapping[str, str]) -> list[Case]:
    """Return one case per checked gate, in pipeline order: image only when ``clean`` has a
    Dockerfile, dast only when it has the service."""
    package = "wordstats/__init__.py"
    tests = "tests/test_wordstats.py"
    feature = "features/longest_word.feature"
    cases = [
        Case(
            "format",
            "a file black would reformat",
            ("format",),
            {package: MISFORMATTED},
            "would-reformat",
            package,
        ),
        Case(
            "lint",
            "an undefined name (E0602)",
            ("lint",),
            {package: UNDEFINED_NAME},
            "E0602",
            package,
        ),
        Case(
            "sast",
            "subprocess with shell=True on input",
            ("sast",),
            {"wordstats/export.py": SHELL_MODULE},
            "B602",
            "wordstats/export.py",
        ),
        Case("unit", "a failing test", ("unit",), {tests: FAILING_TEST}, "test-failed", tests),
        Case(
            "bdd",
            "a scenario step that fails",
            ("bdd",),
            {feature: FEATURE.replace('"quick"', '"fox"')},
            "scenario-failed",
            feature,
        ),
        Case(
            "coverage",
            "a function no test calls, fail_under 100",
            ("unit", "bdd", "coverage"),
            {package: UNCOVERED_FUNCTION},
            "coverage-below-threshold",
        ),
    ]
    if "Dockerfile" in clean:
        root_dockerfile = clean["Dockerfile"].replace("USER 10001\n", "")
        cases.append(
            Case(
                "image",
                "a Dockerfile that runs as root",
                ("image",),
                {"Dockerfile": root_dockerfile},
                IMAGE_ROOT_RULE,
            )
        )
    if SERVICE_PATH in clean:
        injectable = SERVICE.format(query=INJECTABLE_QUERY)
        cases.append(
            Case(
                "dast",
                "a query built from the request parameter",
                ("dast",),
                {SERVICE_PATH: injectable},
                DAST_RULE,
            )
        )
    return cases


def run(
    *,
    with_image: bool = False,
    base_image: str = DEFAULT_BASE_IMAGE,
    with_dast: bool = False,
    keep: bool = False,
    progress: TextIO | None = None,
) -> Report:
    """Build the tiny repositories under a new temporary directory and run the gates on them.

    The directory is removed afterwards unless ``keep`` is set; its path is logged either way.
    """
    progress = progress or sys.stderr
    stages = stage_registry.all_stages()
    clean = clean_files(with_image, base_image, with_dast)
    gates = [*CODE_GATES, *(["image"] if with_image else []), *(["dast"] if with_dast else [])]
    workdir = Path(tempfile.mkdtemp(prefix="gauntlet-selftest-"))
    report = Report()
    try:
        progress.write(f"selftest: clean repository, gates {', '.join(gates)}\n")
        root = write_repository(workdir / "clean", clean)
        results = run_pipeline(root, stages, gates)
        if results is None:
            report.interrupted = True
            return report
        report.rows.extend(clean_rows(gates, results))

        for case in defect_cases(clean):
            progress.write(f"selftest: {case.gate} on {case.defect}\n")
            root = write_repository(workdir / case.gate, {**clean, **case.files})
            results = run_pipeline(root, stages, list(case.stages))
            if results is None:
                report.interrupted = True
                return report
            report.rows.append(defect_row(case, results))
        return report
    finally:
        if keep:
            progress.write(f"selftest: repositories and their reports kept in {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def write_repository(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_pipeline(
    root: Path, stages: Mapping[str, Stage], selected: Sequence[str]
) -> dict[str, StageResult] | None:
    """Run ``selected`` on the repository at ``root``; return results by stage, or None on Ctrl-C.

    The repository's own pyproject.toml is the whole configuration: an empty environment
    replaces ``os.environ`` for the ``GAUNTLET_*`` overrides.
    """
    settings = config.load(root, stages, env={})
    outcome = Pipeline(stages, settings, selected).run()
    results = {result.name: result for result in outcome.results}
    if "image" in results:
        remove_built_image(root, results["image"])
    if outcome.interrupted:
        return None
    return results


def remove_built_image(root: Path, result: StageResult) -> None:
    """Remove the image the image stage built, so repeated self-tests leave no images behind."""
    tag = result.details.get("image")
    if not tag:
        return
    try:
        removed = process.run(
            [engine.DOCKER, "image", "rm", "--force", tag],
            cwd=root,
            log_path=root / "reports" / "selftest-cleanup.log",
            timeout_s=60.0,
        )
    except GauntletError as exc:
        log.warning("could not remove the self-test image %s: %s", tag, exc)
        return
    if removed.returncode != 0:
        log.warning("could not remove the self-test image %s: exit %d", tag, removed.returncode)


def clean_rows(gates: Sequence[str], results: Mapping[str, StageResult]) -> list[Row]:
    """Return one row per gate of the clean run; each gate must have passed."""
    rows = []
    for gate in gates:
        result = results.get(gate)
        verdict = result.status.value if result else "missing"
        message = result.message if result else "the pipeline returned no result"
        rows.append(Row(gate, CLEAN, verdict, verdict == Status.PASSED.value, message))
    return rows


def defect_row(case: Case, results: Mapping[str, StageResult]) -> Row:
    """Return the row of a defect run; its gate must have failed."""
    result = results.get(case.gate)
    if result is None:
        return Row(case.gate, case.defect, "missing", False, "the pipeline returned no result")
    if result.status is not Status.FAILED:
        return Row(case.gate, case.defect, result.status.value, False, result.message)

    for finding in result.gating_findings:
        if finding.rule_id.startswith(case.rule) and case.path in (None, finding.path):
            return Row(case.gate, case.defect, result.status.value, True, result.message)
    where = f" in {case.path}" if case.path else ""
    message = f"failed, but with no {case.rule} finding{where}: {result.message}"
    return Row(case.gate, case.defect, result.status.value, False, message)


def render(report: Report) -> str:
    """Return the table of rows, then the message of every row that is not ok."""
    table = [("gate", "planted defect", "verdict", "ok")]
    table += [(row.gate, row.defect, row.verdict, "yes" if row.ok else "NO") for row in report.rows]
    widths = [max(len(line[column]) for line in table) for column in range(4)]

    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for row in report.rows:
        if not row.ok:
            lines.append(f"--- {row.gate} ({row.defect}): {row.verdict}: {row.message}")

    if report.interrupted:
        lines.append("selftest interrupted")
    elif report.exit_code == EXIT_PASSED:
        lines.append("selftest passed: every gate passed on clean code and failed on its defect")
    else:
        lines.append(f"selftest failed (exit {report.exit_code})")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    """Run the self-test with the parsed ``gauntlet selftest`` options; print the table."""
    base_image = args.base_image or DEFAULT_BASE_IMAGE
    report = run(
        with_image=args.with_image,
        base_image=base_image,
        with_dast=args.with_dast,
        keep=args.keep,
    )
    sys.stdout.write(render(report))
    return report.exit_code
