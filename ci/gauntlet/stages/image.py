"""The image stage: build the repository's Dockerfile and scan the image with trivy.

The image is built with the docker CLI against whatever engine ``DOCKER_HOST`` (or the default
socket) points to, tagged ``gauntlet-<project>:<run id>`` and labelled with the run, so the dast
stage can run it and ``gauntlet clean`` can remove it. trivy scans it for vulnerabilities,
misconfigurations of the image configuration (such as running as root) and secrets. trivy writes
every finding at every severity to ``trivy.json``, and the stage applies the gate itself.

With the misconfig scanner, ``trivy config`` also checks the Dockerfile source
(``trivy-config.json``). trivy 0.76 checks the image configuration on a Dockerfile that it rebuilds
from the image history, and that rebuilt file fails to parse whenever the image has a HEALTHCHECK.
Without the source scan, such an image would pass the misconfiguration gate unchecked. A finding
that both scans report is kept once.

trivy exits 1 both on findings (with ``--exit-code 1``) and on fatal errors, so the verdict comes
from the JSON report only: no report means the scan broke. A vulnerability scan needs trivy's DB,
from the default repository, a ``db_repository`` mirror or a pre-seeded ``cache_dir``. A missing
DB makes the stage an error whose message explains how to provide one, never a pass.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet import engine
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Finding, Severity, Stage, StageContext, StageResult, Status, fingerprint

log = logging.getLogger(__name__)

TOOL = "trivy"
REPORT_FILE = "trivy.json"
DEFAULT_DOCKERFILE = "Dockerfile"  # missing at this default path, the stage is skipped
CONFIG_REPORT_FILE = "trivy-config.json"  # trivy config on the Dockerfile source
DB_ERROR_PREFIX = "trivy vulnerability DB not available"
TRIVY_TIMEOUT_MARGIN_S = 5.0  # trivy's --timeout ends this long before the stage's deadline

TRIVY_SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
TRIVY_SCANNERS = ("vuln", "misconfig", "secret")
# Scanners that also apply to the image configuration (its history, ENV, USER, HEALTHCHECK):
# without --image-config-scanners trivy checks only files inside the image, so a Dockerfile that
# runs as root would pass.
IMAGE_CONFIG_SCANNERS = ("misconfig", "secret")

# Flags that stop trivy from reaching the network for anything but the vulnerability DB.
OFFLINE_FLAGS = (
    "--skip-check-update",
    "--skip-java-db-update",
    "--skip-vex-repo-update",
    "--skip-version-check",
    "--disable-telemetry",
)

# The offline flags that trivy config accepts: it has no DB, Java DB or VEX repository.
CONFIG_OFFLINE_FLAGS = ("--skip-check-update", "--skip-version-check", "--disable-telemetry")

# trivy 0.76 log text that means the vulnerability DB was missing or failed to download.
_DB_ERROR = re.compile(
    r"DB error|vulnerability DB|--skip-db-update cannot be specified|first run cannot skip", re.I
)
_TAG_CHARACTERS = re.compile(r"[^a-z0-9_.-]+")
# The repository trivy 0.76 logs before it downloads the DB: `Downloading artifact... repo="..."`.
_DB_REPOSITORY = re.compile(r'Downloading artifact\.\.\.\s+repo="([^"]+)"')
# A file that trivy 0.76's misconfiguration scanner could not parse, logged on stderr as
#   ERROR [dockerfile scanner] Failed to parse file file_path="Dockerfile" err="..."
_PARSE_FAILURE = re.compile(
    r'\[(?P<scanner>[^\]]+)\] Failed to parse file\s+file_path="(?P<path>[^"]*)"'
    r'(?:\s+err="(?P<error>(?:[^"\\]|\\.)*)")?'
)

IMAGE_CONFIG = "image config"  # the location of findings in the image's configuration
CONFIG_SECRET_PLACES = "ENV or build history"  # where a secret of the image configuration is
# A variable assigned a masked secret in trivy's match of a secret: `AWS_ACCESS_KEY_ID=*****`.
_MASKED_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\*+)")
# Labels that start a Dockerfile misconfiguration finding's message and name the scan behind it.
FROM_IMAGE_CONFIG = "image configuration"
FROM_DOCKERFILE = "Dockerfile source"
FROM_BOTH = "image configuration and Dockerfile source"
# The file_path trivy gives the Dockerfile it rebuilds from the image history.
# NOTE: an image that has a Dockerfile at / is logged with the same path, so a parse failure of
# that file is counted as one of the image configuration.
REBUILT_DOCKERFILE = "Dockerfile"


@dataclass(frozen=True)
class ImageOptions:  # pylint: disable=too-many-instance-attributes
    """Options of ``[tool.gauntlet.image]``."""

    dockerfile: str = field(
        default=DEFAULT_DOCKERFILE,
        metadata={
            "help": "Dockerfile relative to the root; the stage is skipped when the default "
            "Dockerfile is missing, and a missing one set here is a configuration error"
        },
    )
    context: str = field(
        default=".",
        metadata={"help": "build context directory relative to the root"},
    )
    tag: str = field(
        default="",
        metadata={"help": "image tag; empty means gauntlet-<project>:<run id>"},
    )
    build_args: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "docker build --build-arg values, "
            "for example { BASE_IMAGE = 'python:3.12-slim' }"
        },
    )
    severities: tuple[str, ...] = field(
        default=("HIGH", "CRITICAL"),
        metadata={"help": "severities that fail the stage (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)"},
    )
    ignore_unfixed: bool = field(
        default=False,
        metadata={
            "help": "vulnerabilities without a fixed version are reported but do not fail the stage"
        },
    )
    trivyignore: str = field(
        default=".trivyignore",
        metadata={"help": "trivy ignore file relative to the root, passed when it exists"},
    )
    scanners: tuple[str, ...] = field(
        default=TRIVY_SCANNERS,
        metadata={"help": "trivy scanners to run: vuln, misconfig, secret"},
    )
    db_repository: str = field(
        default="",
        metadata={
            "help": "OCI reference of a trivy DB mirror (host/repo:tag); "
            "empty means trivy's default"
        },
    )
    cache_dir: str = field(
        default="",
        metadata={
            "help": "trivy cache directory relative to the root (the DB is in <cache_dir>/db); "
            "empty means trivy's default"
        },
    )
    offline: bool = field(
        default=False,
        metadata={"help": "use the DB already in the cache and never download or update it"},
    )
    trivy: str = field(
        default="trivy",
        metadata={"help": "trivy executable: a name on PATH or a path"},
    )

    def __post_init__(self) -> None:
        for severity in self.severities:
            if severity.upper() not in TRIVY_SEVERITIES:
                raise UsageError(
                    f"[tool.gauntlet.image] severities entry {severity!r} is invalid; use any of "
                    f"{', '.join(TRIVY_SEVERITIES)}"
                )
        if not self.scanners:
            raise UsageError(
                f"[tool.gauntlet.image] scanners is empty; use one or more of "
                f"{', '.join(TRIVY_SCANNERS)}, or set enabled = false to skip the stage"
            )
        for scanner in self.scanners:
            if scanner not in TRIVY_SCANNERS:
                raise UsageError(
                    f"[tool.gauntlet.image] scanners entry {scanner!r} is invalid; use any of "
                    f"{', '.join(TRIVY_SCANNERS)}"
                )


@dataclass(frozen=True)
class TrivyScan:
    """One trivy run that wrote a report: the parsed JSON and trivy's log on stderr."""

    report: dict[str, Any]
    stderr: str


@dataclass
class Coverage:
    """Files that trivy's misconfiguration scans could not parse, and what that means for the gate.

    ``unchecked`` gives the reason when no scan checked the Dockerfile, and is empty otherwise.
    """

    warnings: list[str] = field(default_factory=list)
    parse_failures: list[dict[str, str]] = field(default_factory=list)
    unchecked: str = ""

    def warning_text(self) -> str:
        """Return the warnings as the text that follows the stage's message."""
        return "".join(f"; warning: {warning}" for warning in self.warnings)


class ImageStage(Stage):
    """Fails on any vulnerability, misconfiguration or secret with a severity in ``severities``."""

    name = "image"
    tool = TOOL
    needs = ()
    options_class = ImageOptions
    description = (
        "docker build + trivy image, and trivy config on the Dockerfile: any vulnerability, "
        "misconfiguration or secret at a gating severity"
    )

    def describe_gate(self, options: ImageOptions) -> str:
        """Return the gate in one line."""
        unfixed = ", fixable vulnerabilities only" if options.ignore_unfixed else ""
        source = " and trivy config on the Dockerfile" if "misconfig" in options.scanners else ""
        return (
            f"trivy image ({', '.join(options.scanners)}){source}: any finding of severity "
            f"{', '.join(s.upper() for s in options.severities)}{unfixed}"
        )

    def run(self, ctx: StageContext) -> StageResult:
        """Build the image, scan it and its Dockerfile with trivy and gate on the JSON reports."""
        options: ImageOptions = ctx.options
        dockerfile = ctx.root / options.dockerfile
        if not dockerfile.is_file() and options.dockerfile == DEFAULT_DOCKERFILE:
            return self.result(Status.SKIPPED, message=f"no Dockerfile at {dockerfile}")
        if not dockerfile.is_file():
            # A path someone set by hand is a typo, not a repository without a Dockerfile.
            raise UsageError(
                f"dockerfile {options.dockerfile!r} not found under {ctx.root}; fix "
                f"[tool.gauntlet.image] dockerfile (or GAUNTLET_IMAGE_DOCKERFILE), or set "
                f"enabled = false"
            )

        engine.check_engine(ctx)
        tag = options.tag or default_tag(ctx.root, ctx.settings.run_id)
        image_id = engine.build_image(
            ctx,
            dockerfile,
            ctx.root / options.context,
            tag,
            options.build_args,
            engine.kit_labels(ctx.settings.run_id),
        )

        built = {"image": tag, "image_id": image_id, "dockerfile": options.dockerfile}
        try:
            source = self.scan_dockerfile(ctx, options)
        except StageError as error:
            return self.result(Status.ERROR, message=str(error), **built)

        try:
            scan = self.scan(ctx, options, tag)
        except StageError as error:
            return self.scan_failed(ctx, options, built, error, source)

        details: dict[str, Any] = {
            **built,
            "scanners": list(options.scanners),
            "db": describe_db(options, ctx.root),
        }
        findings, coverage = self.collect(scan, source, options, details)
        return self.verdict(findings, options, details, coverage)

    def scan(self, ctx: StageContext, options: ImageOptions, tag: str) -> TrivyScan:
        """Run trivy on the built image and return its JSON report, or raise StageError."""
        report_path = ctx.out_dir / REPORT_FILE
        report_path.unlink(missing_ok=True)
        remaining_s = ctx.deadline - time.monotonic() - TRIVY_TIMEOUT_MARGIN_S
        completed = ctx.run_tool(build_argv(ctx.root, options, tag, report_path, remaining_s))
        if completed.returncode != 0 or not report_path.is_file():
            raise scan_error(completed.returncode, completed.stderr, options)
        return TrivyScan(read_report(report_path), completed.stderr)

    def scan_dockerfile(self, ctx: StageContext, options: ImageOptions) -> TrivyScan | None:
        """Run trivy config on the Dockerfile source and return its report.

        Returns None when the misconfig scanner is off, and raises StageError when trivy config
        writes no report.
        """
        if "misconfig" not in options.scanners:
            return None

        report_path = ctx.out_dir / CONFIG_REPORT_FILE
        report_path.unlink(missing_ok=True)
        remaining_s = ctx.deadline - time.monotonic() - TRIVY_TIMEOUT_MARGIN_S
        completed = ctx.run_tool(build_config_argv(ctx.root, options, report_path, remaining_s))
        if completed.returncode != 0 or not report_path.is_file():
            fatal = fatal_line(completed.stderr) or f"no {CONFIG_REPORT_FILE} written"
            raise StageError(
                f"trivy config on {options.dockerfile} failed (exit {completed.returncode}): "
                f"{fatal}"
            )
        return TrivyScan(read_report(report_path), completed.stderr)

    def collect(
        self,
        scan: TrivyScan,
        source: TrivyScan | None,
        options: ImageOptions,
        details: dict[str, Any],
    ) -> tuple[list[Finding], Coverage]:
        """Parse both reports into one list of findings and record what each report covered.

        ``details`` gets the report names, the counts of trivy's entries and the files that
        trivy could not parse.
        """
        image = details["image"]
        findings = parse_report(scan.report, options, image)
        details["report_counts"] = count_by_kind(scan.report)
        details["report"] = REPORT_FILE
        if source is None:
            return findings, Coverage()

        source_findings = parse_config_report(source.report, options)
        findings = merge_dockerfile_findings(findings, source_findings)
        details["dockerfile_report"] = CONFIG_REPORT_FILE
        details["dockerfile_counts"] = count_by_kind(source.report)
        coverage = check_coverage(scan, source, options)
        details["parse_failures"] = coverage.parse_failures
        details["warnings"] = coverage.warnings
        return findings, coverage

    def scan_failed(
        self,
        ctx: StageContext,
        options: ImageOptions,
        built: dict[str, Any],
        error: StageError,
        source: TrivyScan | None,
    ) -> StageResult:
        """End as error, keeping the built image for dast.

        When only the vulnerability DB is missing, the other scanners still run and their
        findings are reported. The stage stays ``error`` because the vulnerability scan did not run.
        """
        message = str(error)
        others = tuple(scanner for scanner in options.scanners if scanner != "vuln")
        if not message.startswith(DB_ERROR_PREFIX) or not others:
            return self.result(Status.ERROR, message=message, **built)

        without_db = dataclasses.replace(options, scanners=others)
        try:
            scan = self.scan(ctx, without_db, built["image"])
        except StageError as second:
            return self.result(Status.ERROR, message=f"{message}; {second}", **built)

        details: dict[str, Any] = {
            **built,
            "scanners": list(others),
            "db": "no DB: vuln scanner could not run",
        }
        findings, coverage = self.collect(scan, source, without_db, details)
        summary = f"{' and '.join(others)} scanned: {count_gating(findings)} gating finding(s)"
        if coverage.unchecked:
            summary = f"{summary}; {coverage.unchecked}"
        message = f"{message}. {summary}{coverage.warning_text()}"
        return self.result(Status.ERROR, findings, message, **details)

    def verdict(
        self,
        findings: list[Finding],
        options: ImageOptions,
        details: dict[str, Any],
        coverage: Coverage,
    ) -> StageResult:
        """Decide the status from the gating findings; the message names the scanners and the DB.

        A Dockerfile that neither scan could check makes the stage an error even without
        findings, because the misconfiguration gate then checked nothing.
        """
        gating = [finding for finding in findings if finding.gating]
        tag = details["image"]
        scanned = f"scanners {', '.join(options.scanners)}; {details['db']}"
        warnings = coverage.warning_text()
        if coverage.unchecked:
            message = f"{coverage.unchecked} ({len(gating)} gating finding(s) in {tag}){warnings}"
            return self.result(Status.ERROR, findings, message, **details)
        if gating:
            message = (
                f"{len(gating)} finding(s) at {', '.join(s.upper() for s in options.severities)} "
                f"in {tag} ({scanned}){warnings}"
            )
            return self.result(Status.FAILED, findings, message, **details)
        message = f"no gating findings in {tag} ({scanned}){warnings}"
        return self.result(Status.PASSED, findings, message, **details)


def count_gating(findings: list[Finding]) -> int:
    """Return how many of the findings trip the gate."""
    return sum(1 for finding in findings if finding.gating)


def default_tag(root: Path, run_id: str) -> str:
    """Return ``gauntlet-<project>:<run id>``, lower-cased into a valid image reference."""
    project = _TAG_CHARACTERS.sub("-", root.resolve().name.lower()).strip("-.") or "project"
    version = _TAG_CHARACTERS.sub("-", run_id.lower()).strip("-.")[:128] or "latest"
    return f"gauntlet-{project}:{version}"


def build_argv(
    root: Path, options: ImageOptions, image: str, report_path: Path, timeout_s: float | None = None
) -> list[str]:
    """Return trivy's command line: JSON at every severity, so every finding can be reported.

    ``timeout_s`` becomes trivy's own --timeout (its default is 5 minutes), so a slow scan ends
    with trivy's message before the stage's deadline kills it.
    """
    argv = [options.trivy, "image", "--format", "json", "--output", str(report_path)]
    argv += ["--image-src", "docker"]  # never fall back to pulling the image from a registry
    argv += ["--scanners", ",".join(options.scanners)]
    config_scanners = [scanner for scanner in options.scanners if scanner in IMAGE_CONFIG_SCANNERS]
    if config_scanners:
        argv += ["--image-config-scanners", ",".join(config_scanners)]
    argv += ["--severity", ",".join(TRIVY_SEVERITIES)]
    argv += ["--list-all-pkgs=false"]  # the package list makes the report about 400 times larger
    argv += list(OFFLINE_FLAGS)

    if options.db_repository:
        argv += ["--db-repository", options.db_repository]
    if options.offline:
        argv += ["--skip-db-update"]
    argv += common_flags(root, options, timeout_s)

    argv.append(image)
    return argv


def build_config_argv(
    root: Path, options: ImageOptions, report_path: Path, timeout_s: float | None = None
) -> list[str]:
    """Return the command line of trivy config on the Dockerfile source, JSON at every severity.

    trivy config finds Dockerfiles by name (Dockerfile, Containerfile and similar), so a file
    pattern for the configured file's name makes it check a Dockerfile named otherwise too.
    """
    dockerfile = root / options.dockerfile
    argv = [options.trivy, "config", "--format", "json", "--output", str(report_path)]
    argv += ["--misconfig-scanners", "dockerfile"]
    argv += ["--file-patterns", f"dockerfile:(^|/){re.escape(dockerfile.name)}$"]
    argv += ["--severity", ",".join(TRIVY_SEVERITIES)]
    argv += list(CONFIG_OFFLINE_FLAGS)
    argv += common_flags(root, options, timeout_s)

    argv.append(str(dockerfile))
    return argv


def common_flags(root: Path, options: ImageOptions, timeout_s: float | None) -> list[str]:
    """Return the cache, ignore file and timeout flags that trivy image and trivy config share."""
    argv = []
    if options.cache_dir:
        argv += ["--cache-dir", str(root / options.cache_dir)]
    # By default trivy reads .trivyignore from its working directory. An empty --ignorefile
    # turns that off, so only the configured file is ever used.
    ignore_file = root / options.trivyignore
    if options.trivyignore and ignore_file.is_file():
        argv += ["--ignorefile", str(ignore_file)]
    else:
        argv += ["--ignorefile", ""]
    if timeout_s is not None:
        argv += ["--timeout", f"{max(1, int(timeout_s))}s"]
    return argv


def scan_error(returncode: int, stderr: str, options: ImageOptions) -> StageError:
    """Return the StageError for a scan that wrote no report, with the fix for a missing DB."""
    fatal = fatal_line(stderr) or f"trivy exited {returncode} without writing {REPORT_FILE}"
    if "vuln" in options.scanners and _DB_ERROR.search(stderr):
        return StageError(
            f"{DB_ERROR_PREFIX} ({db_source(stderr, options)}): {root_cause(fatal)}. "
            f"Fix: {db_fix(options)}"
        )
    return StageError(f"trivy scan failed (exit {returncode}): {fatal}")


def db_source(stderr: str, options: ImageOptions) -> str:
    """Return where trivy looked for its DB: the repository it logged, or the cache when offline."""
    downloading = _DB_REPOSITORY.search(stderr)
    if downloading:
        return f"repository {downloading.group(1)}"
    if options.offline:
        cache = Path(options.cache_dir or default_cache_dir()) / "db"
        return f"offline cache {cache}"
    return f"repository {options.db_repository or 'of trivy'}"


def root_cause(fatal: str) -> str:
    """Return the innermost error of trivy's FATAL chain, without the wrappers around it.

    trivy 0.76 wraps a failed DB download as "run error: init error: DB error: failed to
    download vulnerability DB: ...: 1 error occurred: * Get "URL": dial tcp: lookup HOST on
    RESOLVER:53: no such host"; this returns "lookup HOST: no such host".
    """
    if "* " in fatal:
        cause = fatal.rsplit("* ", 1)[1]
    else:
        cause = fatal.rsplit("error: ", 1)[-1]

    parts = []
    for part in cause.split("; "):
        part = re.sub(r'^(Get|GET) "?[^" ]+"?: ', "", part.strip())  # the request's URL
        part = re.sub(r"^dial tcp: (lookup \S+) on \S+?:\d+:", r"\1:", part)  # the resolver
        if part and not part.startswith("map[") and part not in parts:
            parts.append(part)
    return "; ".join(parts) or fatal


def db_fix(options: ImageOptions) -> str:
    """Return the ways to provide a vulnerability DB, the likeliest fix for these options first."""
    cache = Path(options.cache_dir or default_cache_dir()) / "db"
    mirror = (
        "set [tool.gauntlet.image] db_repository to a reachable mirror of trivy's DB "
        "(host/repo:tag) with offline = false"
    )
    seed = f"pre-seed the cache with trivy.db and metadata.json in {cache} and set offline = true"
    without = "remove 'vuln' from scanners to scan without a DB"
    if options.offline:
        return f"{seed}, or {mirror}, or {without}"
    return f"{mirror}, or {seed}, or {without}"


def fatal_line(stderr: str) -> str:
    """Return trivy's FATAL log line without its timestamp, joined with what follows it."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if "FATAL" in line:
            text = " ".join(part.strip() for part in lines[index:] if part.strip())
            return text.split("FATAL", 1)[1].strip()
    errors = [line.strip() for line in lines if "ERROR" in line]
    return errors[-1] if errors else ""


def read_report(path: Path) -> dict[str, Any]:
    """Load trivy's JSON report, or raise StageError when it is not a trivy report."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StageError(f"could not read trivy's report {path}: {exc}") from exc
    if not isinstance(report, dict) or "SchemaVersion" not in report:
        raise StageError(f"{path} is not a trivy JSON report (no SchemaVersion)")
    return report


def parse_report(report: dict[str, Any], options: ImageOptions, image: str) -> list[Finding]:
    """Turn every vulnerability, failed misconfiguration and secret of the report into a Finding."""
    gate = {severity.upper() for severity in options.severities}
    artifact = str(report.get("ArtifactName") or image)
    findings: list[Finding] = []
    for result in report.get("Results") or []:
        target = str(result.get("Target", ""))
        location = result_location(target, str(result.get("Class", "")), artifact)
        for item in result.get("Vulnerabilities") or []:
            findings.append(
                vulnerability_finding(item, target, location, gate, options.ignore_unfixed)
            )
        for item in result.get("Misconfigurations") or []:
            if _failed(item):
                findings.append(misconfiguration_finding(item, image, location, gate, options))
        secrets = [
            (item, secret_finding(item, image, location, gate))
            for item in result.get("Secrets") or []
        ]
        if location == IMAGE_CONFIG:
            findings += merge_config_secrets(secrets)
        else:
            findings += [finding for _, finding in secrets]
    return unique(findings)


def merge_config_secrets(secrets: list[tuple[dict[str, Any], Finding]]) -> list[Finding]:
    """Keep one finding per secret of the image configuration, with the number of its places.

    trivy reports a secret set with ENV twice: in the image's Env list and in the history entry
    of the ENV instruction, with different masked matches and so different fingerprints. Two
    entries are one secret when their rule is the same and both matches show the same variable
    with a masked value of the same length. The first entry in the report's order is kept, so
    its fingerprint stays as it was.
    NOTE: a variable set twice to different secrets of the same length counts once, because
    trivy masks the values.
    """
    distinct: list[Finding] = []
    places: list[int] = []
    index_of: dict[tuple[str, str, int], int] = {}
    for item, finding in secrets:
        variable = _masked_variable(item)
        if variable is not None:
            key = (finding.rule_id, *variable)
            if key in index_of:
                places[index_of[key]] += 1
                continue
            index_of[key] = len(distinct)
        distinct.append(finding)
        places.append(1)

    merged = []
    for finding, count in zip(distinct, places):
        if count > 1:
            where = f"({CONFIG_SECRET_PLACES}, {count} places)"
            finding = dataclasses.replace(
                finding, message=finding.message.replace(f"({CONFIG_SECRET_PLACES})", where)
            )
        merged.append(finding)
    return merged


def _masked_variable(item: dict[str, Any]) -> tuple[str, int] | None:
    """Return the variable and masked value length in a secret's match, None unless exactly one.

    trivy masks every secret on the matched line, for example
    ``#(nop)  ENV AWS_ACCESS_KEY_ID=******************** AWS_SECRET_ACCESS_K``.
    """
    pairs = _MASKED_ASSIGNMENT.findall(str(item.get("Match") or ""))
    if len(pairs) != 1:
        return None
    name, stars = pairs[0]
    return name, len(stars)


def unique(findings: list[Finding]) -> list[Finding]:
    """Drop repeated findings (same fingerprint), keeping the first of each.

    trivy reports a secret in the image configuration once per place it occurs there, for
    example in ENV and again in the history line that set it, with the same masked match.
    """
    seen: set[str] = set()
    unique_findings = []
    for finding in findings:
        if finding.fingerprint not in seen:
            seen.add(finding.fingerprint)
            unique_findings.append(finding)
    return unique_findings


def result_location(target: str, result_class: str, artifact: str) -> str:
    """Return where a result's findings are, without the image tag, which changes every run.

    trivy names the image configuration (ENV, USER, history) by the image reference itself, OS
    packages as "<image> (debian 12.15)", and files inside the image by their path, with or
    without a leading slash.
    """
    if target == artifact:
        return IMAGE_CONFIG
    if target.startswith(f"{artifact} (") and target.endswith(")"):
        return target[len(artifact) + 2 : -1]
    if result_class in ("config", "secret"):
        return "/" + target.lstrip("/")
    return target


def vulnerability_finding(
    item: dict[str, Any], target: str, location: str, gate: set[str], ignore_unfixed: bool
) -> Finding:
    """Return the Finding for one entry of a result's ``Vulnerabilities``."""
    tool_severity = str(item.get("Severity", "UNKNOWN"))
    fixed_version = str(item.get("FixedVersion", ""))
    package = str(item.get("PkgName", ""))
    installed = str(item.get("InstalledVersion", ""))
    fix = f"fixed in {fixed_version}" if fixed_version else "no fixed version"
    title = item.get("Title") or item.get("Description") or ""
    gating = tool_severity.upper() in gate and (not ignore_unfixed or bool(fixed_version))
    return Finding(
        tool=TOOL,
        rule_id=str(item.get("VulnerabilityID", "")),
        severity=Severity.parse(tool_severity),
        tool_severity=tool_severity,
        message=f"{package} {installed} ({fix}): {title}".rstrip(": "),
        fingerprint=fingerprint(TOOL, item.get("VulnerabilityID"), package, location),
        target=target,
        parameter=package,
        help_url=item.get("PrimaryURL"),
        gating=gating,
    )


def misconfiguration_finding(
    item: dict[str, Any], image: str, location: str, gate: set[str], options: ImageOptions
) -> Finding:
    """Return the Finding for one failed check of a result's ``Misconfigurations``.

    A check of the image configuration points at the Dockerfile that built the image, without a
    line, because trivy rebuilds that configuration from the image history. A check of a config
    file copied into the image points at that file inside the image.
    """
    tool_severity = str(item.get("Severity", "UNKNOWN"))
    check_message = _check_message(item)

    path = None
    target = None
    if location == IMAGE_CONFIG:
        path = options.dockerfile
        message = f"{FROM_IMAGE_CONFIG}: {check_message}"
        identity = check_message  # dockerfile_finding gives the same check this fingerprint
    else:
        target = f"{image}:{location}"
        message = f"{location} in the image: {check_message}"
        identity = message
    return Finding(
        tool=TOOL,
        rule_id=str(item.get("ID", "")),
        severity=Severity.parse(tool_severity),
        tool_severity=tool_severity,
        message=message,
        fingerprint=fingerprint(TOOL, item.get("ID"), location, options.dockerfile, identity),
        path=path,
        target=target,
        help_url=item.get("PrimaryURL"),
        gating=tool_severity.upper() in gate,
    )


def dockerfile_finding(item: dict[str, Any], gate: set[str], options: ImageOptions) -> Finding:
    """Return the Finding for one failed check of trivy config on the Dockerfile source.

    Its fingerprint is the one the same check of the image configuration gets, so a check that
    both scans report is one finding, and a baseline entry matches it from either scan.
    """
    tool_severity = str(item.get("Severity", "UNKNOWN"))
    check_message = _check_message(item)
    line = (item.get("CauseMetadata") or {}).get("StartLine")
    return Finding(
        tool=TOOL,
        rule_id=str(item.get("ID", "")),
        severity=Severity.parse(tool_severity),
        tool_severity=tool_severity,
        message=f"{FROM_DOCKERFILE}: {check_message}",
        fingerprint=fingerprint(
            TOOL, item.get("ID"), IMAGE_CONFIG, options.dockerfile, check_message
        ),
        path=options.dockerfile,
        line=line if isinstance(line, int) and line > 0 else None,
        help_url=item.get("PrimaryURL"),
        gating=tool_severity.upper() in gate,
    )


def _check_message(item: dict[str, Any]) -> str:
    """Return a failed check's message with trivy's resolution in brackets."""
    message = str(item.get("Message") or item.get("Title") or "")
    resolution = item.get("Resolution")
    if resolution:
        message = f"{message} ({resolution})"
    return message


def parse_config_report(report: dict[str, Any], options: ImageOptions) -> list[Finding]:
    """Turn every failed check in trivy config's report on the Dockerfile into a Finding."""
    gate = {severity.upper() for severity in options.severities}
    findings = []
    for result in report.get("Results") or []:
        for item in result.get("Misconfigurations") or []:
            if _failed(item):
                findings.append(dockerfile_finding(item, gate, options))
    return unique(findings)


def merge_dockerfile_findings(
    image_findings: list[Finding], source_findings: list[Finding]
) -> list[Finding]:
    """Add the Dockerfile source's findings to the image's, keeping one per fingerprint.

    A check that both scans report keeps the source's finding, which has the line, and its
    message names both sources.
    """
    from_source = {finding.fingerprint: finding for finding in source_findings}
    merged = []
    for finding in image_findings:
        twin = from_source.pop(finding.fingerprint, None)
        if twin is None:
            merged.append(finding)
            continue
        both = twin.message.replace(FROM_DOCKERFILE, FROM_BOTH, 1)
        merged.append(dataclasses.replace(twin, message=both))
    merged += [finding for finding in source_findings if finding.fingerprint in from_source]
    return merged


def dockerfile_checked(report: dict[str, Any]) -> bool:
    """Return whether trivy config parsed the Dockerfile.

    A parsed file has a result of class config in the report, even when every check passed.
    """
    return any(result.get("Class") == "config" for result in report.get("Results") or [])


def parse_failures(stderr: str) -> list[dict[str, str]]:
    """Return the files that trivy logged as "Failed to parse file", with trivy's error."""
    failures = []
    for match in _PARSE_FAILURE.finditer(stderr):
        error = match.group("error") or ""
        try:
            error = json.loads(f'"{error}"')  # trivy quotes the error as a Go string
        except json.JSONDecodeError:
            pass
        failures.append(
            {"scanner": match.group("scanner"), "path": match.group("path"), "error": error}
        )
    return failures


def check_coverage(scan: TrivyScan, source: TrivyScan, options: ImageOptions) -> Coverage:
    """Return what trivy could not parse in either scan, as warnings or as an unchecked gate.

    The Dockerfile's checks (root user, secrets in ENV or ARG, HEALTHCHECK) run twice: on the
    Dockerfile that trivy rebuilds from the image configuration, and on the source. When one of
    the two could not be parsed, the other covers the same checks, so the stage goes on with a
    warning. When neither was parsed, the misconfiguration gate checked nothing about the
    Dockerfile, and ``unchecked`` makes the stage an error instead of a silent pass. A file
    inside the image that failed to parse is only a warning: no other scan checks it, but such
    files mostly come from the base image or installed packages, which the project cannot fix.
    """
    coverage = Coverage()
    rebuilt_parsed = True
    for failure in parse_failures(scan.stderr):
        coverage.parse_failures.append({"scan": "image", **failure})
        if failure["path"] == REBUILT_DOCKERFILE:
            rebuilt_parsed = False
        else:
            coverage.warnings.append(
                f"trivy could not parse /{failure['path']} in the image, "
                "so its misconfiguration checks did not run"
            )

    for failure in parse_failures(source.stderr):
        coverage.parse_failures.append({"scan": "dockerfile", **failure})
    source_parsed = dockerfile_checked(source.report)

    if not source_parsed and not rebuilt_parsed:
        coverage.unchecked = (
            f"trivy could parse neither {options.dockerfile} nor the Dockerfile rebuilt from "
            "the image configuration, so no misconfiguration check ran on them "
            "(errors in details: parse_failures)"
        )
    elif not source_parsed:
        coverage.warnings.append(
            f"trivy config could not parse {options.dockerfile}, "
            "so only the image configuration was checked for misconfigurations"
        )
    elif not rebuilt_parsed:
        coverage.warnings.append(
            "trivy could not parse the Dockerfile rebuilt from the image configuration, "
            f"so only the source {options.dockerfile} was checked for misconfigurations"
        )
    return coverage


def secret_finding(item: dict[str, Any], image: str, location: str, gate: set[str]) -> Finding:
    """Return the Finding for one entry of a result's ``Secrets``; trivy masks the secret itself.

    In the image configuration the line number counts lines of trivy's rendering of the config
    JSON, which no user file has, so such a finding has no line.
    """
    tool_severity = str(item.get("Severity", "UNKNOWN"))
    title = item.get("Title") or item.get("Category") or "secret"
    line = item.get("StartLine")
    if location == IMAGE_CONFIG:
        target = image
        message = f"{title} in the image configuration ({CONFIG_SECRET_PLACES})"
        line = None
    else:
        target = f"{image}:{location}"
        message = f"{title} in {location} of the image"
    return Finding(
        tool=TOOL,
        rule_id=str(item.get("RuleID", "")),
        severity=Severity.parse(tool_severity),
        tool_severity=tool_severity,
        message=message,
        fingerprint=fingerprint(TOOL, item.get("RuleID"), location, item.get("Match")),
        target=target,
        line=line if isinstance(line, int) and line > 0 else None,
        gating=tool_severity.upper() in gate,
    )


def count_by_kind(report: dict[str, Any]) -> dict[str, int]:
    """Return how many vulnerabilities, failed misconfigurations and secrets the report lists.

    These are trivy's entries, counted before ``unique`` merges repeated ones.
    """
    counts = {"vulnerabilities": 0, "misconfigurations": 0, "secrets": 0}
    for result in report.get("Results") or []:
        counts["vulnerabilities"] += len(result.get("Vulnerabilities") or [])
        failed = [item for item in result.get("Misconfigurations") or [] if _failed(item)]
        counts["misconfigurations"] += len(failed)
        counts["secrets"] += len(result.get("Secrets") or [])
    return counts


def _failed(misconfiguration: dict[str, Any]) -> bool:
    # trivy lists only failed checks unless --include-non-failures is set; a PASS is no finding.
    return misconfiguration.get("Status", "FAIL") == "FAIL"


def default_cache_dir() -> str:
    """Return the cache directory trivy uses without --cache-dir (its os.UserCacheDir()/trivy)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return str(base / "trivy")


def describe_db(options: ImageOptions, root: Path | None = None) -> str:
    """Return which vulnerability DB the scan used, from ``metadata.json`` in the cache."""
    if "vuln" not in options.scanners:
        return "no DB: vuln scanner not run"

    cache = Path(options.cache_dir or default_cache_dir())
    if root is not None:
        cache = root / cache  # an absolute cache_dir stays as it is
    metadata_path = cache / "db" / "metadata.json"
    if options.offline:
        source = "offline cache"
    else:
        source = options.db_repository or "trivy's default repository"
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"trivy DB from {source} (no metadata at {metadata_path})"
    return (
        f"trivy DB v{metadata.get('Version', '?')} from {source}, "
        f"updated {metadata.get('UpdatedAt', '?')}"
    )


STAGE = ImageStage()
