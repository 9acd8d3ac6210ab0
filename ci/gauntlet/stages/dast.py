"""dast: sqlmap against an ephemeral deployment of the service, one sqlmap process per target.

The service runs as a container (the image stage's image) or as a local process, on a random
loopback port. After a health check and an optional login, every configured target gets its
own sqlmap process, with its own output directory and HOME, run concurrently. sqlmap 1.10.10
exits 0 whatever the outcome, so each target's verdict comes from its JSON report and output:

- injectable: the report lists a ``TECHNIQUES`` entry;
- clean: no such entry, the output contains "all tested parameters do not appear to be
  injectable", and it has no ``[ERROR]`` line and no ``[CRITICAL]`` line except those in
  ``RECOVERED_PROBLEMS``;
- error: anything else (connection refused, time limit reached, no parameter to test, ...).

Every injectable parameter is a finding. The payloads stay in ``<target>/report.json`` and in
sqlmap's log, never in findings.

In container mode the stage needs the image stage's image. Run without it (``--only dast``), it
uses ``image`` when set, else builds ``dockerfile`` itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gauntlet import deploy, process
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "sqlmap"
RULE_ID = "sql-injection"
Verdict = Literal["injectable", "clean", "error"]

CLEAN_MARKER = "all tested parameters do not appear to be injectable"
# [CRITICAL] lines after which sqlmap goes on testing and its verdict still holds.
RECOVERED_PROBLEMS = (
    CLEAN_MARKER,
    # Pages that change with every request (a POST that creates a record): sqlmap retries,
    # then compares text only.
    "target URL content appears to be heavily dynamic",
)
PROBLEM_LINE = re.compile(r"^\[[\d:]+\] \[(CRITICAL|ERROR)\] (.*)$", re.MULTILINE)
TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KILL_MARGIN_S = 30.0  # sqlmap checks its --time-limit only between requests
LOGIN_TIMEOUT_S = 10.0
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class LoginOptions:
    """A request sent once before scanning; its Set-Cookie values go to every sqlmap run."""

    path: str = field(default="", metadata=_help("login path, e.g. /api/login; empty: no login"))
    method: HttpMethod = field(default="POST", metadata=_help("HTTP method of the login request"))
    json: dict[str, str] = field(default_factory=dict, metadata=_help("JSON body (string values)"))
    form: dict[str, str] = field(default_factory=dict, metadata=_help("form-encoded body"))
    expected_status: int = field(default=200, metadata=_help("HTTP status of a successful login"))

    def __post_init__(self) -> None:
        if self.path:
            _check_path("dast.login.path", self.path)
        if self.json and self.form:
            raise UsageError("dast.login sets both json and form; a request has one body, keep one")


@dataclass(frozen=True)
class Target:  # pylint: disable=too-many-instance-attributes
    """One endpoint that one sqlmap process tests."""

    name: str = field(default="", metadata=_help("names the output folder; default: method-path"))
    method: HttpMethod = field(default="GET", metadata=_help("HTTP method"))
    path: str = field(default="/", metadata=_help("path on the deployment, e.g. /api/notes"))
    query: dict[str, str] = field(default_factory=dict, metadata=_help("query string parameters"))
    form: dict[str, str] = field(default_factory=dict, metadata=_help("form-encoded body"))
    json: dict[str, str] = field(default_factory=dict, metadata=_help("JSON body (string values)"))
    headers: dict[str, str] = field(default_factory=dict, metadata=_help("extra request headers"))
    cookies: dict[str, str] = field(default_factory=dict, metadata=_help("extra cookies"))
    params: tuple[str, ...] = field(
        default=(), metadata=_help("parameters to test (sqlmap -p); empty: all at the level")
    )
    csrf_token: str = field(
        default="", metadata=_help("name of the anti-CSRF token field sqlmap refreshes")
    )
    csrf_url: str = field(
        default="",
        metadata=_help("path of the page (fetched with GET) that carries the token; default: path"),
    )
    level: int = field(default=2, metadata={"help": "sqlmap --level, 1-5", "min": 1, "max": 5})
    risk: int = field(default=1, metadata={"help": "sqlmap --risk, 1-3", "min": 1, "max": 3})
    technique: str = field(default="BEUST", metadata=_help("sqlmap --technique letters (BEUSTQ)"))
    time_limit: float = field(
        default=120.0, metadata={"help": "sqlmap --time-limit in seconds", "gt": 0}
    )

    def __post_init__(self) -> None:
        key = f"dast.targets[{self.name or self.path}]"
        _check_path(f"{key}.path", self.path)
        if self.csrf_url:
            _check_path(f"{key}.csrf_url", self.csrf_url)
        if self.name and not TARGET_NAME.match(self.name):
            raise UsageError(
                f"{key}.name {self.name!r} is invalid; use letters, digits, '.', '_' and '-'"
            )
        if self.json and self.form:
            raise UsageError(f"{key} sets both json and form; a request has one body, keep one")
        _check_range(f"{key}.level", self.level, 1, 5)
        _check_range(f"{key}.risk", self.risk, 1, 3)
        if not self.technique or set(self.technique) - set("BEUSTQ"):
            raise UsageError(
                f"{key}.technique {self.technique!r} is invalid; use letters from BEUSTQ"
            )
        if self.time_limit <= 0:
            raise UsageError(f"{key}.time_limit {self.time_limit!r} is invalid; use seconds > 0")

    @property
    def label(self) -> str:
        """Return the target's name, or one made from its method and path."""
        if self.name:
            return self.name
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.path).strip("-") or "root"
        return f"{self.method.lower()}-{slug}"

    @property
    def endpoint(self) -> str:
        """Return "METHOD /path", the target's identity in findings (no host or port)."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class DastOptions:  # pylint: disable=too-many-instance-attributes
    """Options of ``[tool.gauntlet.dast]``."""

    deploy: Literal["container", "process"] = field(
        default="container", metadata=_help("run the service as a container or a local process")
    )
    image: str = field(
        default="",
        metadata=_help("container mode without the image stage: image to run; empty: build one"),
    )
    dockerfile: str = field(
        default="Dockerfile", metadata=_help("container mode build: Dockerfile, from the root")
    )
    context: str = field(default=".", metadata=_help("container mode build: build context"))
    build_args: dict[str, str] = field(
        default_factory=dict, metadata=_help("container mode build: --build-arg values")
    )
    command: tuple[str, ...] = field(
        default=(), metadata=_help("process mode: the server command; it reads PORT")
    )
    env: dict[str, str] = field(
        default_factory=dict,
        metadata=_help("environment of the service; {out_dir} expands to the stage's folder"),
    )
    container_port: int = field(
        default=8000, metadata={"help": "port the container listens on", "min": 1, "max": 65535}
    )
    health_path: str = field(default="/healthz", metadata=_help("path that returns 2xx when up"))
    ready_timeout: float = field(
        default=60.0, metadata={"help": "seconds to wait for the health path", "gt": 0}
    )
    login: LoginOptions = field(default_factory=LoginOptions)
    targets: tuple[Target, ...] = ()
    parallel: bool = field(default=True, metadata=_help("run the targets' sqlmap concurrently"))
    dbms: str = field(default="", metadata=_help("sqlmap --dbms, e.g. SQLite; empty: detect"))
    sqlmap: str = field(default="sqlmap", metadata=_help("sqlmap executable"))

    def __post_init__(self) -> None:
        _check_path("dast.health_path", self.health_path)
        _check_range("dast.container_port", self.container_port, 1, 65535)
        if self.ready_timeout <= 0:
            raise UsageError(
                f"dast.ready_timeout {self.ready_timeout!r} is invalid; use seconds > 0"
            )
        labels = [target.label for target in self.targets]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise UsageError(
                f"dast.targets has duplicate names {duplicates}; give each target its own name"
            )


@dataclass
class TargetOutcome:
    """The verdict on one target and what led to it."""

    target: Target
    verdict: Verdict
    findings: list[Finding] = field(default_factory=list)
    message: str = ""
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary for the stage's details."""
        return {
            "name": self.target.label,
            "endpoint": self.target.endpoint,
            "verdict": self.verdict,
            "findings": len(self.findings),
            "message": self.message,
            "duration_s": round(self.duration_s, 2),
        }


class DastStage(Stage):
    """Deploy the service, then test each target for SQL injection with sqlmap."""

    name = "dast"
    tool = TOOL
    needs = ("image",)
    options_class = DastOptions
    description = "any injectable parameter"

    # A missing vulnerability DB ends the image stage in error after the image was built;
    # the deployment can still use that image.
    runs_after_need_error = True

    def required(self, options: DastOptions) -> tuple[str, ...]:
        """Return ("image",) in container mode; process mode needs no other stage."""
        if options.deploy == "container":
            return ("image",)
        return ()

    def describe_gate(self, options: DastOptions) -> str:
        """Return what trips the gate."""
        if not options.targets:
            return "skipped: no targets in dast.targets"
        return f"any parameter sqlmap finds injectable in {len(options.targets)} target(s)"

    def run(self, ctx: StageContext) -> StageResult:
        options: DastOptions = ctx.options
        if not options.targets:
            return self.result(Status.SKIPPED, message="no targets configured in dast.targets")

        sqlmap = _find_sqlmap(options.sqlmap)
        with _deployment(ctx, options) as base_url:
            _check_health(base_url + options.health_path)
            cookies = _login(base_url, options.login)
            plan = ScanPlan(sqlmap, base_url, cookies, options.dbms)
            outcomes = _scan_all(ctx, options, plan)

        return self._verdict(outcomes, options.deploy)

    def _verdict(self, outcomes: list[TargetOutcome], mode: str) -> StageResult:
        findings = [finding for outcome in outcomes for finding in outcome.findings]
        details = {"deploy": mode, "targets": [outcome.to_dict() for outcome in outcomes]}

        errors = [outcome for outcome in outcomes if outcome.verdict == "error"]
        if errors:
            reasons = "; ".join(f"{o.target.label}: {o.message}" for o in errors)
            message = f"{len(errors)} of {len(outcomes)} target(s) could not be scanned: {reasons}"
            return self.result(Status.ERROR, findings, message, **details)

        if findings:
            injectable = sorted({o.target.label for o in outcomes if o.verdict == "injectable"})
            message = f"{len(findings)} injectable parameter(s) in {', '.join(injectable)}"
            return self.result(Status.FAILED, findings, message, **details)
        return self.result(Status.PASSED, message="no injectable parameter found", **details)


STAGE = DastStage()


# --- deployment, health and login -------------------------------------------------------------


def _deployment(ctx: StageContext, options: DastOptions):
    env = {key: value.replace("{out_dir}", str(ctx.out_dir)) for key, value in options.env.items()}
    if options.deploy == "process":
        return deploy.ProcessDeployment(
            options.command,
            cwd=ctx.root,
            log_path=ctx.out_dir / "service.log",
            run_id=ctx.settings.run_id,
            env=env,
            health_path=options.health_path,
            ready_timeout_s=options.ready_timeout,
            cancel=ctx.cancel,
        )

    image = deploy.resolve_image(
        ctx,
        image=options.image,
        dockerfile=options.dockerfile,
        context=options.context,
        build_args=options.build_args,
    )
    return deploy.ContainerDeployment(
        image,
        log_path=ctx.log_path,
        run_id=ctx.settings.run_id,
        service_log_path=ctx.out_dir / "service.log",
        container_port=options.container_port,
        env=env,
        health_path=options.health_path,
        ready_timeout_s=options.ready_timeout,
        cancel=ctx.cancel,
    )


def _check_health(url: str) -> None:
    error = deploy.probe(url)
    if error is not None:
        raise StageError(f"target {url} failed its health check before scanning: {error}")


def _login(base_url: str, login: LoginOptions) -> dict[str, str]:
    """Send the login request once; return the cookies it sets (name to value)."""
    if not login.path:
        return {}

    url = base_url + login.path
    request = urllib.request.Request(url, data=_body(login.json, login.form), method=login.method)
    if login.json:
        request.add_header("Content-Type", "application/json")
    elif login.form:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=LOGIN_TIMEOUT_S) as response:
            status, set_cookies = response.status, response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        status, set_cookies = exc.code, []
    except (urllib.error.URLError, OSError) as exc:
        raise StageError(f"login request {login.method} {url} failed: {exc}") from exc

    if status != login.expected_status:
        raise StageError(
            f"login {login.method} {url} returned HTTP {status}, expected "
            f"{login.expected_status}; check dast.login and the service's credentials"
        )
    cookies = _parse_set_cookies(set_cookies)
    if not cookies:
        raise StageError(f"login {login.method} {url} set no cookie; check dast.login")
    return cookies


def _body(json_body: dict[str, str], form: dict[str, str]) -> bytes | None:
    if json_body:
        return json.dumps(json_body).encode("utf-8")
    if form:
        return urllib.parse.urlencode(form).encode("utf-8")
    return None


def _parse_set_cookies(headers: list[str]) -> dict[str, str]:
    """Map each Set-Cookie header's cookie name to its value, with or without the Secure flag."""
    cookies = {}
    for header in headers:
        pair = header.split(";", 1)[0]
        name, separator, value = pair.partition("=")
        if separator and name.strip():
            cookies[name.strip()] = value.strip()
    return cookies


# --- sqlmap -----------------------------------------------------------------------------------


def _find_sqlmap(executable: str) -> str:
    """Return sqlmap's path: beside the running interpreter (the kit's venv) first, else PATH."""
    if os.sep not in executable:
        beside = Path(sys.executable).parent / executable
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    return process.resolve(executable)


@dataclass(frozen=True)
class ScanPlan:
    """Settings shared by every sqlmap run of one stage run."""

    sqlmap: str  # path of the executable
    base_url: str  # http://127.0.0.1:<port> of the deployment
    cookies: dict[str, str]  # session cookies from the login step
    dbms: str = ""


def _scan_all(ctx: StageContext, options: DastOptions, plan: ScanPlan) -> list[TargetOutcome]:
    workers = len(options.targets) if options.parallel else 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dast") as pool:
        futures = [pool.submit(_scan, ctx, plan, target) for target in options.targets]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # A Ctrl-C in this thread: stop the other sqlmap runs before the pool waits for them.
            ctx.cancel.set()
            raise


def _scan(ctx: StageContext, plan: ScanPlan, target: Target) -> TargetOutcome:
    """Run one sqlmap process against one target and decide its verdict."""
    target_dir = (ctx.out_dir / target.label).resolve()
    target_dir.mkdir(parents=True, exist_ok=True)
    report_path = target_dir / "report.json"
    report_path.unlink(missing_ok=True)
    env = {"HOME": str(target_dir), "TERM": "dumb", "NO_PROXY": deploy.LOOPBACK}

    started = time.monotonic()
    try:
        result = process.run(
            sqlmap_argv(plan, target, target_dir),
            cwd=target_dir,
            log_path=target_dir / "sqlmap.log",
            deadline=ctx.deadline,
            timeout_s=target.time_limit + KILL_MARGIN_S,
            cancel=ctx.cancel,
            env=env,
        )
    except StageError as exc:
        duration = time.monotonic() - started
        return TargetOutcome(target, "error", message=str(exc), duration_s=duration)

    report = _load_report(report_path)
    verdict, reason = decide_verdict(result.stdout, report)
    if verdict == "error" and result.duration_s >= target.time_limit:
        reason = f"sqlmap stopped at its time limit of {target.time_limit:g} s before a verdict"
    findings = parse_findings(report, target) if verdict == "injectable" else []
    log.info("target %s: %s", target.label, verdict)
    return TargetOutcome(target, verdict, findings, reason, result.duration_s)


def sqlmap_argv(plan: ScanPlan, target: Target, target_dir: Path) -> list[str]:
    """Return the sqlmap command line for one target: batch mode, no prompt, own output dir."""
    argv = [plan.sqlmap, *_request_arguments(plan, target)]
    if target.params:
        argv += ["-p", ",".join(target.params)]
    if target.csrf_token:
        argv += ["--csrf-token", target.csrf_token]
        argv += ["--csrf-url", plan.base_url + (target.csrf_url or target.path)]
        # Without it sqlmap fetches a csrf_url equal to the target URL with the target's method.
        argv += ["--csrf-method", "GET"]
    if plan.dbms:
        argv += [f"--dbms={plan.dbms}"]

    argv += [f"--level={target.level}", f"--risk={target.risk}", f"--technique={target.technique}"]
    argv += [f"--time-limit={target.time_limit:g}"]
    # --ignore-code=401: a login endpoint that rejects the probe values must not end the scan.
    # --answers: after one injectable parameter, go on testing the others.
    argv += ["--batch", "--flush-session", "--ignore-code=401", "--answers=keep testing=Y"]
    # --skip-waf: no WAF sits in front of the deployment. Without the flag, input validation
    # that rejects sqlmap's WAF probe makes sqlmap switch to a random User-Agent and tampering.
    # --disable-precon: sqlmap opens idle sockets ahead of use. A threaded server such as
    # gunicorn 27's gthread worker keeps a thread busy up to 5 s on each socket, which stalls
    # the other targets.
    argv += ["--disable-coloring", "--ignore-proxy", "--skip-waf", "--disable-precon"]
    argv += ["--output-dir", str(target_dir / "output")]
    argv += ["--report-json", str(target_dir / "report.json")]
    return argv


def _request_arguments(plan: ScanPlan, target: Target) -> list[str]:
    """Return the sqlmap options that describe the target's request."""
    url = plan.base_url + target.path
    if target.query:
        url += "?" + urllib.parse.urlencode(target.query)

    arguments = ["-u", url]
    body = _body(target.json, target.form)
    if body is not None:
        arguments += ["--data", body.decode("utf-8")]
    # sqlmap sends an explicit --method on every request to the target URL, the anti-CSRF page
    # fetch included, so give it only where GET (no body) or POST (with --data) is not implied.
    if target.method != ("GET" if body is None else "POST"):
        arguments += ["--method", target.method]
    if target.headers:
        arguments += ["--headers", "\n".join(f"{k}: {v}" for k, v in target.headers.items())]
    cookies = {**plan.cookies, **target.cookies}
    if cookies:
        arguments += ["--cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())]
    return arguments


def _load_report(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def decide_verdict(output: str, report: dict[str, Any] | None) -> tuple[Verdict, str]:
    """Decide a target's verdict from sqlmap's stdout and JSON report (not its exit code).

    Returns the verdict and, for an error, the reason (sqlmap's last problem line).
    """
    if _technique_entries(report):
        return "injectable", ""

    # sqlmap starts progress lines with a carriage return, so lines split on both.
    output = output.replace("\r", "\n")
    problems = [
        match.group(2)
        for match in PROBLEM_LINE.finditer(output)
        if not match.group(2).startswith(RECOVERED_PROBLEMS)
    ]
    if CLEAN_MARKER in output and not problems:
        return "clean", ""
    if problems:
        return "error", f"sqlmap reported: {problems[-1]}"
    if report is None:
        return "error", "sqlmap wrote no report.json"
    return "error", "sqlmap ended without a verdict"


def parse_findings(report: dict[str, Any] | None, target: Target) -> list[Finding]:
    """Return one finding per injectable parameter in the report (payloads left out)."""
    findings = []
    for entry in _technique_entries(report):
        place, parameter = _place_and_parameter(
            str(entry.get("place", "")), str(entry.get("parameter", ""))
        )
        techniques = sorted(
            {str(item.get("technique", "")) for item in entry.get("data") or []} - {""}
        )
        message = (
            f"{target.endpoint}: {place} parameter {parameter!r} is injectable "
            f"({', '.join(techniques) or 'technique not named'})"
        )
        findings.append(
            Finding(
                tool=TOOL,
                rule_id=RULE_ID,
                severity=Severity.HIGH,
                message=message,
                fingerprint=fingerprint(TOOL, RULE_ID, target.endpoint, place, parameter),
                tool_severity="injectable",
                target=target.endpoint,
                parameter=f"{place}:{parameter}",
            )
        )
    return findings


def _technique_entries(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not report:
        return []
    entries = []
    for item in report.get("data") or []:
        if isinstance(item, dict) and item.get("type_name") == "TECHNIQUES":
            entries.extend(value for value in item.get("value") or [] if isinstance(value, dict))
    return entries


def _place_and_parameter(place: str, parameter: str) -> tuple[str, str]:
    """Map sqlmap's place and parameter names to GET, POST, JSON, COOKIE, ... and the name.

    sqlmap names a JSON body field place "(custom) POST", parameter "JSON title".
    """
    place = place.replace("(custom)", "").strip() or "?"
    kind, _, name = parameter.partition(" ")
    if kind in ("JSON", "XML", "SOAP/XML", "MULTIPART") and name:
        return kind.split("/")[-1], name
    return place, parameter


def _check_path(key: str, value: str) -> None:
    """Reject anything but an absolute path, so that a target can only be the deployment."""
    if not value.startswith("/") or value.startswith("//") or "://" in value:
        raise UsageError(
            f"{key} {value!r} is invalid; use a path on the deployment like /api/notes"
        )


def _check_range(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UsageError(f"{key} {value!r} is out of range; use {low} to {high}")
