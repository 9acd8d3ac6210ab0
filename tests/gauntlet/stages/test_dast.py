"""Tests of the dast stage: sqlmap verdicts from recorded output, and real scans end to end.

The end-to-end tests deploy the vulnerable twin (three planted injections) and the sample app
(none) as local processes, because that is faster than containers. One test runs the container
mode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from gauntlet import deploy, engine
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import RunSettings, StageContext, StageResult, Status
from gauntlet.stages.dast import (
    STAGE,
    DastOptions,
    LoginOptions,
    ScanPlan,
    Target,
    TargetOutcome,
    decide_verdict,
    parse_findings,
    sqlmap_argv,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SQLMAP_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "sqlmap"
TEST_BASE_IMAGE = os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "local/python-base")

DEMO_ENV = {
    "SAMPLE_APP_DB": "{out_dir}/app.sqlite3",
    "SAMPLE_APP_INSECURE_COOKIES": "1",
    "SAMPLE_APP_DEMO_USER": "scanner",
    "SAMPLE_APP_DEMO_PASSWORD": "scan-only-password-1",
}
LOGIN = LoginOptions(
    path="/api/login",
    json={"username": "scanner", "password": "scan-only-password-1"},
)
TARGETS = (
    Target(name="notes-search", path="/api/notes", query={"q": "welcome"}, params=("q",)),
    Target(
        name="notes-create",
        method="POST",
        path="/api/notes",
        json={"title": "scan", "body": "scan body"},
        params=("title", "body"),
    ),
    Target(
        name="login-form",
        method="POST",
        path="/login",
        form={"username": "scanner", "password": "wrong-password", "csrf_token": "unset"},
        params=("username",),
        csrf_token="csrf_token",
        csrf_url="/login",
    ),
)

# Responds to /healthz at once and to every other request after SLOW_S seconds, so that sqlmap's
# --time-limit (checked between requests) ends a scan before any verdict.
SLOW_S = 3
SLOW_SERVER = textwrap.dedent(f"""
    import http.server, os, time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/healthz":
                time.sleep({SLOW_S})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
    """)


def recorded(case: str) -> tuple[str, dict | None]:
    """Return the stdout and parsed report.json of one recorded sqlmap run."""
    folder = SQLMAP_FIXTURES / case
    stdout = (folder / "stdout.txt").read_bytes().decode("utf-8")  # keeps sqlmap's "\r"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return stdout, report


# --- verdicts on recorded sqlmap 1.10.10 output ------------------------------------------------


@pytest.mark.parametrize("case", ["get-injectable", "json-injectable", "form-injectable"])
def test_verdict_injectable_from_techniques_entry(case):
    stdout, report = recorded(case)

    assert decide_verdict(stdout, report) == ("injectable", "")


@pytest.mark.parametrize(
    "case", ["get-clean", "json-clean", "json-clean-unstable-page", "json-clean-dynamic-page"]
)
def test_verdict_clean_despite_critical_marker_line(case):
    stdout, report = recorded(case)

    assert "[CRITICAL] all tested parameters do not appear to be injectable" in stdout
    assert decide_verdict(stdout, report) == ("clean", "")


def test_verdict_connection_refused_is_error():
    stdout, report = recorded("connection-refused")

    verdict, reason = decide_verdict(stdout, report)

    assert verdict == "error"
    assert "unable to connect to the target URL" in reason


def test_verdict_missing_csrf_field_is_error():
    stdout, report = recorded("csrf-token-missing")

    verdict, reason = decide_verdict(stdout, report)

    assert verdict == "error"
    assert "anti-CSRF token parameter 'token_not_on_page' not found" in reason


def test_verdict_time_limit_is_error():
    stdout, report = recorded("time-limit")

    verdict, reason = decide_verdict(stdout, report)

    assert verdict == "error"
    assert reason == "sqlmap ended without a verdict"


def test_verdict_missing_report_is_error():
    assert decide_verdict("", None) == ("error", "sqlmap wrote no report.json")


def test_verdict_error_line_beats_clean_marker():
    stdout, report = recorded("get-clean")
    stdout += "[12:00:00] [ERROR] invalid target URL\n"

    assert decide_verdict(stdout, report) == ("error", "sqlmap reported: invalid target URL")


def test_findings_get_parameter():
    _, report = recorded("get-injectable")
    target = Target(path="/api/notes", query={"q": "hello"})

    (finding,) = parse_findings(report, target)

    assert finding.target == "GET /api/notes"
    assert finding.parameter == "GET:q"
    assert "boolean-based blind" in finding.message
    assert "UNION query" in finding.message


def test_findings_json_field():
    _, report = recorded("json-injectable")
    target = Target(method="POST", path="/api/notes", json={"title": "a", "body": "b"})

    (finding,) = parse_findings(report, target)

    assert finding.parameter == "JSON:title"
    assert finding.message.startswith("POST /api/notes: JSON parameter 'title' is injectable")


def test_findings_form_field():
    _, report = recorded("form-injectable")
    target = Target(method="POST", path="/login", form={"username": "a", "password": "b"})

    (finding,) = parse_findings(report, target)

    assert finding.parameter == "POST:username"


def test_findings_leave_payload_out():
    _, report = recorded("get-injectable")
    payload = report["data"][1]["value"][0]["data"][0]["payload"]

    (finding,) = parse_findings(report, Target(path="/api/notes"))

    assert payload not in json.dumps(finding.to_dict())


def test_findings_fingerprint_ignores_port_and_payload():
    _, first = recorded("get-injectable")
    second = json.loads(json.dumps(first))
    second["data"][0]["value"]["url"] = "http://127.0.0.1:1/api/notes"
    second["data"][1]["value"][0]["data"][0]["payload"] = "q=other"
    target = Target(path="/api/notes")

    assert (
        parse_findings(first, target)[0].fingerprint
        == parse_findings(second, target)[0].fingerprint
    )


# --- options and command line ------------------------------------------------------------------


def test_argv_carries_batch_and_verdict_flags(tmp_path):
    plan = ScanPlan("sqlmap", "http://127.0.0.1:5000", {"s": "1"}, "SQLite")

    argv = sqlmap_argv(plan, TARGETS[2], tmp_path)

    for flag in ("--batch", "--flush-session", "--ignore-code=401", "--disable-coloring"):
        assert flag in argv
    assert "--method" not in argv
    assert "--answers=keep testing=Y" in argv
    assert "--dbms=SQLite" in argv
    assert argv[argv.index("-u") + 1] == "http://127.0.0.1:5000/login"
    assert argv[argv.index("--data") + 1] == (
        "username=scanner&password=wrong-password&csrf_token=unset"
    )
    assert argv[argv.index("--csrf-url") + 1] == "http://127.0.0.1:5000/login"
    assert argv[argv.index("--cookie") + 1] == "s=1"
    assert argv[argv.index("--report-json") + 1] == str(tmp_path / "report.json")


def test_argv_json_body_and_query(tmp_path):
    plan = ScanPlan("sqlmap", "http://127.0.0.1:5000", {})

    create = sqlmap_argv(plan, TARGETS[1], tmp_path)
    search = sqlmap_argv(plan, TARGETS[0], tmp_path)

    assert json.loads(create[create.index("--data") + 1]) == {"title": "scan", "body": "scan body"}
    assert "--cookie" not in create
    assert "--dbms=SQLite" not in create
    assert "--method" not in create
    assert search[search.index("-u") + 1] == "http://127.0.0.1:5000/api/notes?q=welcome"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "http://example.org/"}, "path 'http://example.org/' is invalid"),
        ({"path": "//host/x"}, "is invalid"),
        ({"technique": "BX"}, "technique 'BX' is invalid"),
        ({"level": 6}, "level 6 is out of range"),
        ({"name": "a b"}, "name 'a b' is invalid"),
        ({"form": {"a": "1"}, "json": {"b": "2"}}, "sets both json and form"),
    ],
)
def test_target_rejects_bad_value(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Target(**kwargs)


def test_options_reject_duplicate_target_names():
    with pytest.raises(UsageError, match="duplicate names"):
        DastOptions(targets=(Target(path="/a"), Target(path="/a")))


def test_argv_names_method_when_not_implied(tmp_path):
    plan = ScanPlan("sqlmap", "http://127.0.0.1:5000", {})
    target = Target(method="PUT", path="/api/notes/1", json={"title": "x"})

    argv = sqlmap_argv(plan, target, tmp_path)

    assert argv[argv.index("--method") + 1] == "PUT"


def test_required_depends_on_deploy_mode():
    assert STAGE.required(DastOptions(deploy="container")) == ("image",)
    assert STAGE.required(DastOptions(deploy="process")) == ()


def test_no_targets_is_skipped(tmp_path):
    ctx = dast_context(tmp_path, DastOptions(deploy="process"), "test-dast-skip")

    result = STAGE.run(ctx)

    assert result.status == Status.SKIPPED
    assert "no targets" in result.message


# --- end to end with real sqlmap ---------------------------------------------------------------


def dast_context(tmp_path: Path, options: DastOptions, run_id: str, timeout_s: float = 180.0):
    """Return a StageContext rooted at the repository, with reports under ``tmp_path``."""
    out_dir = tmp_path / "reports" / "dast"
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RunSettings(root=REPO_ROOT, reports_dir=tmp_path / "reports", run_id=run_id)
    return StageContext(
        settings=settings,
        options=options,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=timeout_s,
        deadline=time.monotonic() + timeout_s,
        log_path=out_dir / "dast.log",
    )


def processes_mentioning(marker: str) -> list[int]:
    """Return PIDs of live processes whose environment or command line contains ``marker``."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in text:
            found.append(int(entry.name))
    return found


@pytest.fixture(name="run_id")
def fixture_run_id(tmp_path, monkeypatch):
    """Give the test its own run id, and check that no service, sqlmap or container remains."""
    monkeypatch.setenv(deploy.STATE_DIR_ENV, str(tmp_path / "state"))
    run_id = f"test-dast-{uuid.uuid4().hex[:8]}"
    yield run_id

    assert deploy.live_processes(run_id) == []
    assert processes_mentioning(str(tmp_path)) == []
    assert list((tmp_path / "state").glob("*.json")) == []
    if shutil.which("docker"):
        assert deploy.live_containers(run_id) == []


def scan(tmp_path: Path, run_id: str, command: tuple[str, ...], **overrides) -> StageResult:
    settings = {"env": DEMO_ENV, "login": LOGIN, "dbms": "SQLite", "targets": TARGETS}
    settings.update(overrides)
    options = DastOptions(deploy="process", command=command, **settings)
    return STAGE.run(dast_context(tmp_path, options, run_id))


def verdicts(result: StageResult) -> dict[str, str]:
    return {target["name"]: target["verdict"] for target in result.details["targets"]}


@pytest.mark.slow
def test_twin_reports_each_planted_injection(tmp_path, run_id):
    result = scan(tmp_path, run_id, ("python", "-m", "tests.vulnerable_app"))

    found = {(finding.target, finding.parameter) for finding in result.findings}
    assert result.status == Status.FAILED
    assert ("GET /api/notes", "GET:q") in found
    assert ("POST /api/notes", "JSON:title") in found
    assert ("POST /login", "POST:username") in found
    assert verdicts(result) == {name: "injectable" for name in verdicts(result)}


@pytest.mark.slow
def test_sample_app_reports_no_injection(tmp_path, run_id):
    result = scan(tmp_path, run_id, ("python", "-m", "sample_app"))

    assert result.status == Status.PASSED, result.message
    assert result.findings == []
    assert verdicts(result) == {
        "notes-search": "clean",
        "notes-create": "clean",
        "login-form": "clean",
    }


@pytest.mark.slow
def test_targets_run_one_after_another(tmp_path, run_id):
    result = scan(tmp_path, run_id, ("python", "-m", "tests.vulnerable_app"), parallel=False)

    assert result.status == Status.FAILED
    assert len(result.findings) >= 3


@pytest.mark.slow
def test_target_never_healthy_is_error(tmp_path, run_id):
    command = ("python", "-c", "import time; time.sleep(60)")

    with pytest.raises(StageError, match="did not become healthy within 1 s"):
        scan(tmp_path, run_id, command, ready_timeout=1.0)


@pytest.mark.slow
def test_wrong_login_is_error(tmp_path, run_id):
    wrong = LoginOptions(path="/api/login", json={"username": "scanner", "password": "nope-nope"})

    with pytest.raises(StageError, match="returned HTTP 401, expected 200"):
        scan(tmp_path, run_id, ("python", "-m", "tests.vulnerable_app"), login=wrong)


def slow_scan(tmp_path: Path, run_id: str, time_limit: float, timeout_s: float) -> StageResult:
    (tmp_path / "slow_server.py").write_text(SLOW_SERVER, encoding="utf-8")
    options = DastOptions(
        deploy="process",
        command=("python", str(tmp_path / "slow_server.py")),
        targets=(Target(name="slow", path="/search", query={"q": "1"}, time_limit=time_limit),),
    )
    return STAGE.run(dast_context(tmp_path, options, run_id, timeout_s=timeout_s))


@pytest.mark.slow
def test_sqlmap_time_limit_is_error(tmp_path, run_id):
    result = slow_scan(tmp_path, run_id, time_limit=1.0, timeout_s=120.0)

    assert result.status == Status.ERROR
    assert verdicts(result) == {"slow": "error"}
    assert "time limit of 1 s" in result.message


@pytest.mark.slow
def test_sqlmap_killed_at_stage_deadline_is_error(tmp_path, run_id):
    result = slow_scan(tmp_path, run_id, time_limit=600.0, timeout_s=2.0 * SLOW_S)

    assert result.status == Status.ERROR
    assert verdicts(result) == {"slow": "error"}
    assert "timed out" in result.message


def test_findings_kept_when_another_target_errors():
    outcome_targets = (Target(name="a", path="/a"), Target(name="b", path="/b"))
    _, report = recorded("get-injectable")
    findings = parse_findings(report, outcome_targets[0])
    outcomes = [
        TargetOutcome(outcome_targets[0], "injectable", findings),
        TargetOutcome(outcome_targets[1], "error", message="sqlmap reported: refused"),
    ]

    result = STAGE._verdict(outcomes, "process")  # pylint: disable=protected-access

    assert result.status == Status.ERROR
    assert result.findings == findings
    assert "b: sqlmap reported: refused" in result.message


# --- container mode ----------------------------------------------------------------------------


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    inspect = ["docker", "image", "inspect", TEST_BASE_IMAGE]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


@pytest.fixture(name="twin_image", scope="module")
def fixture_twin_image():
    """Build the vulnerable twin's image once for this module."""
    tag = f"ci-gauntlet-test/twin:{uuid.uuid4().hex[:8]}"
    context = REPO_ROOT / "tests" / "vulnerable_app"
    argv = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={TEST_BASE_IMAGE}", "-t", tag]
    subprocess.run([*argv, str(context)], check=True, capture_output=True)
    yield tag
    subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason=f"needs docker and the image {TEST_BASE_IMAGE}")
def test_container_mode_scans_twin_image(tmp_path, run_id, twin_image):
    options = DastOptions(
        deploy="container",
        image=twin_image,
        env={key: value for key, value in DEMO_ENV.items() if key != "SAMPLE_APP_DB"},
        login=LOGIN,
        dbms="SQLite",
        targets=TARGETS[:1],
    )

    result = STAGE.run(dast_context(tmp_path, options, run_id))

    assert result.status == Status.FAILED
    assert [finding.parameter for finding in result.findings] == ["GET:q"]


# --- interrupts --------------------------------------------------------------------------------


@pytest.mark.slow
def test_interrupted_runs_leave_nothing_behind():
    # 20 runs of `gauntlet run --only dast`, each sent SIGINT within 4 s of its start: during
    # start-up, the deployment's health wait, the login or the sqlmap scans (a whole run takes
    # about 6 s on a quiet 2-core machine).
    script = REPO_ROOT / "benchmarks" / "dast_interrupts.py"
    argv = [sys.executable, str(script), "--runs", "20", "--max-delay", "4", "--seed", "4"]

    completed = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)

    assert "leftover processes: 0" in completed.stdout, completed.stdout
    assert "leftover containers: 0" in completed.stdout, completed.stdout
    assert "hung runs: 0" in completed.stdout, completed.stdout
    assert completed.returncode == 0, completed.stderr


def load_interrupts_benchmark():
    """Import benchmarks/dast_interrupts.py, which is a script rather than a package module."""
    path = REPO_ROOT / "benchmarks" / "dast_interrupts.py"
    spec = importlib.util.spec_from_file_location("dast_interrupts", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def create_labelled_container(labels: dict[str, str]) -> str:
    """Create (not start) a container with ``labels``; return its full id."""
    argv = ["docker", "create", *[f"--label={key}={value}" for key, value in labels.items()]]
    argv += [TEST_BASE_IMAGE, "true"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_interrupts_benchmark_counts_only_its_own_runs_containers():
    # A container of another run still going on this machine (this test's own process as owner)
    # must be neither counted nor removed by the benchmark.
    benchmark = load_interrupts_benchmark()
    run_id = f"test-dast-{uuid.uuid4().hex[:8]}"
    others = engine.kit_labels(run_id)
    mine = {**others, engine.LABEL_OWNER_PID: "999999999", engine.LABEL_OWNER_START: "12345"}
    other_id = create_labelled_container(others)
    own_id = create_labelled_container(mine)
    try:
        owned = benchmark.owned_containers(999999999, "12345")
    finally:
        subprocess.run(["docker", "rm", "-f", other_id, own_id], capture_output=True, check=False)

    assert owned == {own_id[:12]}
