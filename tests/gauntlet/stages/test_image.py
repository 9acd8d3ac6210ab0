"""Tests of the image stage: the trivy report parser on recorded output, and the real gates.

The end-to-end tests build small images FROM the base image that ensure-base-image.sh provides
(``GAUNTLET_TEST_BASE_IMAGE``, else whatever the script prints), scan them with the real trivy
binary, and use a fixture vulnerability DB in trivy's own format. The vulnerability gate gets
that DB the way users do: trivy downloads it from ``db_repository``, here a docker-registry on
127.0.0.1 started by the ``registry`` fixture.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import string
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import pytest
import trivy_fixtures

from gauntlet import engine
from gauntlet.errors import StageError, UsageError
from gauntlet.stage import Severity, StageContext, Status, fingerprint
from gauntlet.stages import image
from gauntlet.stages.image import ImageOptions

REPO_ROOT = Path(__file__).resolve().parents[3]
ENSURE_BASE_IMAGE = REPO_ROOT / "ci" / "gauntlet" / "scripts" / "ensure-base-image.sh"
RECORDED_IMAGE = "gauntlet-record-root:1"
STAGE_TIMEOUT_S = 300.0


# --- parser and command line, on recorded trivy 0.76.0 output -------------------------------


@pytest.fixture
def findings_report(fixtures_dir: Path) -> dict:
    """Return the recorded report: 4 vulnerabilities, 8 misconfigurations and 3 secrets.

    Each misconfiguration is there twice: once for the image configuration and once for the
    Dockerfile that the image copied into /app. Two of the secrets are one token set with ENV:
    trivy reports it in the image's Env list and in the build history.
    """
    return json.loads((fixtures_dir / "trivy" / "findings.json").read_text(encoding="utf-8"))


def by_rule(findings: list, rule_id: str, parameter: str | None = None) -> list:
    """Return the findings with ``rule_id`` (and package ``parameter`` when given)."""
    return [
        f
        for f in findings
        if f.rule_id == rule_id and (parameter is None or f.parameter == parameter)
    ]


def test_parse_report_counts_each_kind(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    counts = image.count_by_kind(findings_report)

    assert counts == {"vulnerabilities": 4, "misconfigurations": 8, "secrets": 3}
    assert len(findings) == sum(counts.values()) - 1  # the ENV token's two places are one


def test_unique_drops_repeated_fingerprints(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    unique_findings = image.unique(findings + findings[:2])

    assert unique_findings == findings


def test_parse_report_fixable_high_gates(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    [zlib] = by_rule(findings, "CVE-2099-0001")

    assert zlib.gating
    assert zlib.severity is Severity.HIGH
    assert zlib.tool_severity == "HIGH"
    assert zlib.parameter == "zlib1g"
    assert "fixed in 1:1.2.13.dfsg-99" in zlib.message
    assert zlib.target == f"{RECORDED_IMAGE} (debian 12.15)"


def test_parse_report_low_is_reported_not_gating(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    [bash] = by_rule(findings, "CVE-2099-0003")

    assert not bash.gating
    assert bash.severity is Severity.LOW


def test_parse_report_unfixed_gates_by_default(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    glibc = by_rule(findings, "CVE-2099-0002")

    assert {f.parameter for f in glibc} == {"libc6", "libc-bin"}
    assert all(f.gating for f in glibc)
    assert all("no fixed version" in f.message for f in glibc)


def test_parse_report_ignore_unfixed(findings_report: dict) -> None:
    options = ImageOptions(ignore_unfixed=True)

    findings = image.parse_report(findings_report, options, RECORDED_IMAGE)

    assert not any(f.gating for f in by_rule(findings, "CVE-2099-0002"))
    assert by_rule(findings, "CVE-2099-0001")[0].gating


def test_parse_report_severities_option(findings_report: dict) -> None:
    options = ImageOptions(severities=("critical",))

    findings = image.parse_report(findings_report, options, RECORDED_IMAGE)

    assert not by_rule(findings, "CVE-2099-0001")[0].gating
    assert not by_rule(findings, "DS-0002")[0].gating
    assert by_rule(findings, "github-pat")[0].gating


def test_parse_report_image_config_misconfiguration(findings_report: dict) -> None:
    options = ImageOptions(dockerfile="docker/Dockerfile")

    findings = image.parse_report(findings_report, options, RECORDED_IMAGE)

    [root_user] = [f for f in by_rule(findings, "DS-0002") if f.path is not None]
    [healthcheck] = [f for f in by_rule(findings, "DS-0026") if f.path is not None]
    assert root_user.path == "docker/Dockerfile"
    assert root_user.target is None
    assert root_user.gating
    assert "USER" in root_user.message
    assert root_user.help_url == "https://avd.aquasec.com/misconfig/ds-0002"
    assert not healthcheck.gating
    assert healthcheck.severity is Severity.LOW


def test_parse_report_in_image_misconfiguration(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    [root_user] = [f for f in by_rule(findings, "DS-0002") if f.path is None]

    assert root_user.target == f"{RECORDED_IMAGE}:/app/Dockerfile"
    assert root_user.message.startswith("/app/Dockerfile in the image: ")
    assert root_user.gating


def test_parse_report_env_secret_misconfiguration(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    exposures = by_rule(findings, "DS-0031")

    assert len(exposures) == 4
    assert all(f.severity is Severity.CRITICAL for f in exposures)
    assert any('"GITHUB_TOKEN" in ENV' in f.message for f in exposures)


def test_parse_report_file_secret(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    [secret] = [f for f in by_rule(findings, "github-pat") if f.target != RECORDED_IMAGE]

    assert secret.severity is Severity.CRITICAL
    assert secret.gating
    assert secret.target == f"{RECORDED_IMAGE}:/app/main.py"
    assert secret.line == 1
    assert secret.message == "GitHub Personal Access Token in /app/main.py of the image"


def test_parse_report_image_config_secret(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    [in_config] = [f for f in by_rule(findings, "github-pat") if f.target == RECORDED_IMAGE]

    assert in_config.line is None
    assert "image configuration" in in_config.message


def config_secret_entries(report: dict) -> list[dict]:
    """Return the secrets of the image configuration result: ENV, then the ENV history entry."""
    [result] = [
        r for r in report["Results"] if r["Target"] == RECORDED_IMAGE and r["Class"] == "secret"
    ]
    return result["Secrets"]


def test_parse_report_merges_env_and_history_secret(findings_report: dict) -> None:
    # The token set with ENV is in the Env list and in the history entry of the ENV instruction.
    [env_entry, history_entry] = config_secret_entries(findings_report)
    first = image.secret_finding(env_entry, RECORDED_IMAGE, image.IMAGE_CONFIG, {"CRITICAL"})
    second = image.secret_finding(history_entry, RECORDED_IMAGE, image.IMAGE_CONFIG, {"CRITICAL"})

    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    [merged] = [f for f in by_rule(findings, "github-pat") if f.target == RECORDED_IMAGE]

    assert merged.fingerprint == first.fingerprint
    assert second.fingerprint not in {f.fingerprint for f in findings}
    assert merged.message == (
        "GitHub Personal Access Token in the image configuration (ENV or build history, 2 places)"
    )


def test_parse_report_keeps_secrets_of_two_variables(findings_report: dict) -> None:
    history_entry = config_secret_entries(findings_report)[1]
    history_entry["Match"] = history_entry["Match"].replace("GITHUB_TOKEN=", "OTHER_TOKEN=")

    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    in_config = [f for f in by_rule(findings, "github-pat") if f.target == RECORDED_IMAGE]

    assert len(in_config) == 2
    assert all(f.message.endswith("(ENV or build history)") for f in in_config)


def test_parse_report_keeps_secrets_of_other_length(findings_report: dict) -> None:
    history_entry = config_secret_entries(findings_report)[1]
    history_entry["Match"] = history_entry["Match"].replace("=**", "=*", 1)

    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    in_config = [f for f in by_rule(findings, "github-pat") if f.target == RECORDED_IMAGE]

    assert len(in_config) == 2


def test_parse_report_keeps_secrets_masked(findings_report: dict) -> None:
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)

    text = json.dumps([f.to_dict() for f in findings])

    assert re.search(r"ghp_[A-Za-z0-9]{36}", text) is None


def test_parse_report_fingerprints_ignore_tag(findings_report: dict) -> None:
    first = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    renamed = json.loads(json.dumps(findings_report).replace(RECORDED_IMAGE, "other:2"))

    second = image.parse_report(renamed, ImageOptions(), "other:2")

    assert [f.fingerprint for f in first] == [f.fingerprint for f in second]
    assert len({f.fingerprint for f in first}) == len(first)


def test_parse_report_misconfiguration_fingerprints(findings_report: dict) -> None:
    # Baselines store these fingerprints: the source label in the message must not change them.
    findings = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    text = (
        "Specify at least 1 USER command in Dockerfile with non-root user as argument "
        "(Add 'USER <non root user name>' line to the Dockerfile)"
    )

    [in_config] = [f for f in by_rule(findings, "DS-0002") if f.path is not None]
    [in_image] = [f for f in by_rule(findings, "DS-0002") if f.path is None]

    assert in_config.fingerprint == fingerprint(
        "trivy", "DS-0002", image.IMAGE_CONFIG, "Dockerfile", text
    )
    assert in_image.fingerprint == fingerprint(
        "trivy", "DS-0002", "/app/Dockerfile", "Dockerfile", f"/app/Dockerfile in the image: {text}"
    )


def test_parse_report_clean_has_no_findings(fixtures_dir: Path) -> None:
    report = image.read_report(fixtures_dir / "trivy" / "clean.json")

    assert image.parse_report(report, ImageOptions(), "gauntlet-record-nonroot:1") == []


def test_read_report_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "trivy.json"
    path.write_text('{"results": []}', encoding="utf-8")

    with pytest.raises(StageError, match="not a trivy JSON report"):
        image.read_report(path)


def test_scan_error_missing_db_says_how(fixtures_dir: Path) -> None:
    stderr = (fixtures_dir / "trivy" / "missing_db.stderr").read_text(encoding="utf-8")
    returncode = int((fixtures_dir / "trivy" / "missing_db.rc").read_text(encoding="utf-8"))

    error = image.scan_error(returncode, stderr, ImageOptions(offline=True, cache_dir="/c"))

    assert "vulnerability DB not available" in str(error)
    assert "cannot be specified on the first run" in str(error)
    assert "/c/db" in str(error)
    assert "db_repository" in str(error)


def test_scan_error_other_failure() -> None:
    stderr = "2026-12-04T20:00:00Z\tFATAL\tFatal error\timage scan error: unable to find the specified image\n"

    error = image.scan_error(1, stderr, ImageOptions())

    assert str(error).startswith("trivy scan failed (exit 1): Fatal error")


@pytest.mark.parametrize(
    ("recording", "cause"),
    [
        ("db_no_such_host", "lookup mirror.gcr.io: no such host"),
        ("db_manifest_unknown", "MANIFEST_UNKNOWN: manifest unknown"),
        ("db_connection_refused", "dial tcp 127.0.0.1:9: connect: connection refused"),
        ("missing_db", "--skip-db-update cannot be specified on the first run"),
    ],
)
def test_root_cause_of_recorded_db_errors(fixtures_dir: Path, recording: str, cause: str) -> None:
    stderr = (fixtures_dir / "trivy" / f"{recording}.stderr").read_text(encoding="utf-8")

    assert image.root_cause(image.fatal_line(stderr)) == cause


def test_scan_error_missing_db_is_concise(fixtures_dir: Path) -> None:
    stderr = (fixtures_dir / "trivy" / "db_no_such_host.stderr").read_text(encoding="utf-8")

    message = str(image.scan_error(1, stderr, ImageOptions()))

    assert message.startswith(
        f"{image.DB_ERROR_PREFIX} (repository mirror.gcr.io/aquasec/trivy-db:2): "
        "lookup mirror.gcr.io: no such host. Fix: set [tool.gauntlet.image] db_repository"
    )
    assert "pre-seed the cache" in message
    assert "remove 'vuln' from scanners" in message
    for wrapper in ("Fatal error", "init error", "OCI artifact error", "10.255.255.53", "\n"):
        assert wrapper not in message


def test_scan_error_offline_names_cache(fixtures_dir: Path) -> None:
    stderr = (fixtures_dir / "trivy" / "missing_db.stderr").read_text(encoding="utf-8")

    message = str(image.scan_error(1, stderr, ImageOptions(offline=True, cache_dir="/c")))

    assert message.startswith(f"{image.DB_ERROR_PREFIX} (offline cache /c/db): --skip-db-update")


@pytest.fixture
def config_reports(fixtures_dir: Path) -> dict[str, dict]:
    """Return trivy config's recorded reports on the fixture Dockerfiles, by recording name.

    config_findings checks images/record/Dockerfile, the Dockerfile of findings.json's image;
    config_clean checks images/nonroot/Dockerfile; config_unparsed is the empty report on a
    Dockerfile trivy cannot parse.
    """
    names = ("config_findings", "config_clean", "config_unparsed")
    folder = fixtures_dir / "trivy"
    return {name: image.read_report(folder / f"{name}.json") for name in names}


def recorded_stderr(fixtures_dir: Path, name: str) -> str:
    """Return a recorded trivy stderr from tests/fixtures/trivy."""
    return (fixtures_dir / "trivy" / f"{name}.stderr").read_text(encoding="utf-8")


def test_parse_config_report_failed_checks(config_reports: dict) -> None:
    options = ImageOptions(dockerfile="docker/Dockerfile")

    findings = image.parse_config_report(config_reports["config_findings"], options)

    assert sorted(f.rule_id for f in findings) == ["DS-0002", "DS-0026", "DS-0031", "DS-0031"]
    assert all(f.path == "docker/Dockerfile" for f in findings)
    assert all(f.target is None for f in findings)
    assert all(f.message.startswith("Dockerfile source: ") for f in findings)
    assert {f.line for f in by_rule(findings, "DS-0031")} == {6, 7}
    assert by_rule(findings, "DS-0002")[0].gating
    assert not by_rule(findings, "DS-0026")[0].gating


def test_parse_config_report_clean(config_reports: dict) -> None:
    report = config_reports["config_clean"]

    assert image.parse_config_report(report, ImageOptions()) == []
    assert image.dockerfile_checked(report)


def test_parse_config_report_unparsed(config_reports: dict) -> None:
    report = config_reports["config_unparsed"]

    assert image.parse_config_report(report, ImageOptions()) == []
    assert not image.dockerfile_checked(report)


def test_config_fingerprints_match_image_config(
    findings_report: dict, config_reports: dict
) -> None:
    from_image = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    from_source = image.parse_config_report(config_reports["config_findings"], ImageOptions())

    image_config = {f.fingerprint for f in from_image if f.path is not None}

    assert {f.fingerprint for f in from_source} == image_config


def test_merge_dockerfile_findings_keeps_one_each(
    findings_report: dict, config_reports: dict
) -> None:
    from_image = image.parse_report(findings_report, ImageOptions(), RECORDED_IMAGE)
    from_source = image.parse_config_report(config_reports["config_findings"], ImageOptions())

    merged = image.merge_dockerfile_findings(from_image, from_source)

    assert len(merged) == len(from_image)
    assert [f.fingerprint for f in merged] == [f.fingerprint for f in from_image]
    [root_user] = [f for f in by_rule(merged, "DS-0002") if f.path is not None]
    assert root_user.message.startswith("image configuration and Dockerfile source: ")
    in_config = [f for f in by_rule(merged, "DS-0031") if f.path is not None]
    assert {f.line for f in in_config} == {6, 7}


def test_merge_dockerfile_findings_adds_source_only(config_reports: dict) -> None:
    from_source = image.parse_config_report(config_reports["config_findings"], ImageOptions())

    merged = image.merge_dockerfile_findings([], from_source)

    assert merged == from_source


def test_parse_failures_reads_trivy_error(fixtures_dir: Path) -> None:
    failures = image.parse_failures(recorded_stderr(fixtures_dir, "rebuilt_unparsed"))

    assert len(failures) == 1
    failure = failures[0]
    assert failure["scanner"] == "dockerfile scanner"
    assert failure["path"] == "Dockerfile"
    assert failure["error"].endswith('Unknown type "&{[\\"CMD\\"" in HEALTHCHECK (try CMD)')


def test_coverage_warns_when_rebuilt_unparsed(fixtures_dir: Path, config_reports: dict) -> None:
    scan = image.TrivyScan({}, recorded_stderr(fixtures_dir, "rebuilt_unparsed"))
    source = image.TrivyScan(config_reports["config_clean"], "")

    coverage = image.check_coverage(scan, source, ImageOptions())

    assert coverage.unchecked == ""
    assert len(coverage.warnings) == 1
    assert "rebuilt from the image configuration" in coverage.warnings[0]
    assert [f["scan"] for f in coverage.parse_failures] == ["image"]


def test_coverage_warns_when_source_unparsed(fixtures_dir: Path, config_reports: dict) -> None:
    scan = image.TrivyScan({}, "")
    source = image.TrivyScan(
        config_reports["config_unparsed"], recorded_stderr(fixtures_dir, "config_unparsed")
    )

    coverage = image.check_coverage(scan, source, ImageOptions())

    assert coverage.unchecked == ""
    assert coverage.warnings == [
        "trivy config could not parse Dockerfile, "
        "so only the image configuration was checked for misconfigurations"
    ]
    assert "BOGUS" in coverage.parse_failures[0]["error"]


def test_coverage_unchecked_when_both_unparsed(fixtures_dir: Path, config_reports: dict) -> None:
    scan = image.TrivyScan({}, recorded_stderr(fixtures_dir, "rebuilt_unparsed"))
    source = image.TrivyScan(
        config_reports["config_unparsed"], recorded_stderr(fixtures_dir, "config_unparsed")
    )

    coverage = image.check_coverage(scan, source, ImageOptions())

    assert "no misconfiguration check ran" in coverage.unchecked
    assert [f["scan"] for f in coverage.parse_failures] == ["image", "dockerfile"]


def test_coverage_warns_on_file_in_image(fixtures_dir: Path, config_reports: dict) -> None:
    # The recorded line with the path of a Dockerfile copied into the image instead.
    stderr = recorded_stderr(fixtures_dir, "rebuilt_unparsed").replace(
        'file_path="Dockerfile"', 'file_path="app/Dockerfile"'
    )
    source = image.TrivyScan(config_reports["config_clean"], "")

    coverage = image.check_coverage(image.TrivyScan({}, stderr), source, ImageOptions())

    assert coverage.unchecked == ""
    assert coverage.warnings == [
        "trivy could not parse /app/Dockerfile in the image, "
        "so its misconfiguration checks did not run"
    ]


def test_verdict_unchecked_dockerfile_is_error() -> None:
    coverage = image.Coverage(unchecked="trivy could parse neither")
    details = {"image": "app:1", "db": "no DB: vuln scanner not run"}

    result = image.STAGE.verdict([], ImageOptions(scanners=("misconfig",)), details, coverage)

    assert result.status is Status.ERROR
    assert result.message.startswith("trivy could parse neither")


def test_verdict_pass_names_warnings() -> None:
    coverage = image.Coverage(warnings=["trivy could not parse the Dockerfile rebuilt"])
    details = {"image": "app:1", "db": "no DB: vuln scanner not run"}

    result = image.STAGE.verdict([], ImageOptions(scanners=("misconfig",)), details, coverage)

    assert result.status is Status.PASSED
    assert result.message.endswith("; warning: trivy could not parse the Dockerfile rebuilt")


def test_build_config_argv_scans_dockerfile_only(tmp_path: Path) -> None:
    (tmp_path / ".trivyignore").write_text("DS-0026\n", encoding="utf-8")
    options = ImageOptions(dockerfile="docker/app.dockerfile", cache_dir="cache")

    argv = image.build_config_argv(tmp_path, options, tmp_path / "config.json", 30.0)

    assert argv[:2] == ["trivy", "config"]
    assert argv[argv.index("--misconfig-scanners") + 1] == "dockerfile"
    assert argv[argv.index("--file-patterns") + 1] == r"dockerfile:(^|/)app\.dockerfile$"
    assert argv[argv.index("--severity") + 1] == "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    assert argv[argv.index("--ignorefile") + 1] == str(tmp_path / ".trivyignore")
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path / "cache")
    assert argv[argv.index("--timeout") + 1] == "30s"
    assert "--skip-java-db-update" not in argv  # trivy config rejects the image-only flags
    assert argv[-1] == str(tmp_path / "docker" / "app.dockerfile")


def test_build_argv_gates_nothing_itself(tmp_path: Path) -> None:
    argv = image.build_argv(tmp_path, ImageOptions(), "app:1", tmp_path / "trivy.json")

    assert argv[argv.index("--severity") + 1] == "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    assert "--exit-code" not in argv
    assert "--ignore-unfixed" not in argv
    assert argv[argv.index("--image-src") + 1] == "docker"
    assert argv[argv.index("--image-config-scanners") + 1] == "misconfig,secret"
    assert argv[-1] == "app:1"


def test_build_argv_offline_mirror_and_ignorefile(tmp_path: Path) -> None:
    (tmp_path / ".trivyignore").write_text("CVE-2099-0001\n", encoding="utf-8")
    options = ImageOptions(offline=True, db_repository="127.0.0.1:5000/db:2", cache_dir="cache")

    argv = image.build_argv(tmp_path, options, "app:1", tmp_path / "trivy.json", 90.7)

    assert argv[argv.index("--timeout") + 1] == "90s"
    assert "--skip-db-update" in argv
    assert "--skip-check-update" in argv
    assert argv[argv.index("--db-repository") + 1] == "127.0.0.1:5000/db:2"
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path / "cache")
    assert argv[argv.index("--ignorefile") + 1] == str(tmp_path / ".trivyignore")


def test_build_argv_without_ignorefile(tmp_path: Path) -> None:
    argv = image.build_argv(tmp_path, ImageOptions(), "app:1", tmp_path / "trivy.json")

    assert argv[argv.index("--ignorefile") + 1] == ""
    assert "--skip-db-update" not in argv


@pytest.mark.parametrize(
    "field_values",
    [{"severities": ("SEVERE",)}, {"scanners": ("license",)}, {"scanners": ()}],
)
def test_options_reject_invalid(field_values: dict) -> None:
    with pytest.raises(UsageError, match=r"\[tool.gauntlet.image\]"):
        ImageOptions(**field_values)


def test_default_tag_is_valid_reference(tmp_path: Path) -> None:
    root = tmp_path / "My Project_1"
    root.mkdir()

    assert (
        image.default_tag(root, "2026-12-04T20:00:00+Run")
        == "gauntlet-my-project_1:2026-12-04t20-00-00-run"
    )


def test_describe_db_reads_metadata(tmp_path: Path) -> None:
    trivy_fixtures.seed_cache(tmp_path / "cache")
    options = ImageOptions(cache_dir="cache", db_repository="127.0.0.1:5000/trivy-db:2")

    text = image.describe_db(options, tmp_path)

    assert text.startswith("trivy DB v2 from 127.0.0.1:5000/trivy-db:2, updated 20")


def test_describe_db_without_vuln_scanner() -> None:
    options = ImageOptions(scanners=("misconfig", "secret"))

    assert image.describe_db(options) == "no DB: vuln scanner not run"


def test_missing_dockerfile_is_skipped(
    tmp_path: Path, make_context: Callable[..., StageContext]
) -> None:
    ctx = make_context(tmp_path / "repo", ImageOptions(), stage="image")

    result = image.STAGE.run(ctx)

    assert result.status is Status.SKIPPED
    assert "no Dockerfile at" in result.message


def test_missing_configured_dockerfile_is_usage_error(
    tmp_path: Path, make_context: Callable[..., StageContext]
) -> None:
    options = ImageOptions(dockerfile="docker/Dockerfile.prod")
    ctx = make_context(tmp_path / "repo", options, stage="image")

    with pytest.raises(UsageError) as raised:
        image.STAGE.run(ctx)

    assert "'docker/Dockerfile.prod' not found" in str(raised.value)
    assert "[tool.gauntlet.image] dockerfile" in str(raised.value)


# --- end to end: docker build + the real trivy ---------------------------------------------


def docker_lines(*args: str) -> list[str]:
    """Run a docker CLI command and return its non-empty output lines."""
    completed = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return [line for line in completed.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def base_image() -> str:
    """Return the base image the test Dockerfiles build FROM, making it when it is missing."""
    requested = os.environ.get("GAUNTLET_TEST_BASE_IMAGE", "")
    if (
        requested
        and subprocess.run(
            ["docker", "image", "inspect", requested], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return requested
    completed = subprocess.run(
        ["bash", str(ENSURE_BASE_IMAGE), requested or "python:3.12-slim"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PULL_TIMEOUT_S": "20"},
    )
    return completed.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[trivy_fixtures.LoopbackRegistry]:
    """Start a docker-registry on 127.0.0.1 for this module and stop it (by PID) afterwards."""
    started = trivy_fixtures.start_registry(tmp_path_factory.mktemp("registry"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def mirror(
    registry: trivy_fixtures.LoopbackRegistry, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Push the one-CVE fixture DB to the loopback registry; return its --db-repository value."""
    db_dir = trivy_fixtures.write_db(tmp_path_factory.mktemp("db"))
    return trivy_fixtures.push_db(registry, db_dir)


@pytest.fixture
def run_id() -> Iterator[str]:
    """Return a fresh run id; afterwards remove this run's images and check no container is left."""
    value = f"test-{uuid.uuid4().hex[:12]}"
    yield value
    label = f"label={engine.LABEL_RUN}={value}"
    images = docker_lines("image", "ls", "--quiet", "--filter", label)
    if images:
        subprocess.run(
            ["docker", "image", "rm", "--force", *set(images)], capture_output=True, check=False
        )
    assert docker_lines("ps", "--all", "--quiet", "--filter", label) == []
    assert docker_lines("image", "ls", "--quiet", "--filter", label) == []


@pytest.fixture
def image_repo(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes a repository with one of the fixture Dockerfiles."""
    sources = Path(__file__).resolve().parents[2] / "fixtures" / "trivy" / "images"

    def write(kind: str, main_py: str = 'print("hello")\n') -> Path:
        root = tmp_path / "repo"
        (root / "app").mkdir(parents=True)
        shutil.copy(sources / kind / "Dockerfile", root / "Dockerfile")
        (root / "app" / "main.py").write_text(main_py, encoding="utf-8")
        return root

    return write


@pytest.fixture(scope="module")
def layer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a directory shared as trivy's layer cache (``<cache>/fanal``) by this module's tests.

    Each test has its own DB in its own cache directory, but re-analysing the base image's layers
    in every test would cost about 5 s each.
    """
    return tmp_path_factory.mktemp("fanal")


@pytest.fixture
def cache_dir(tmp_path: Path, layer_cache: Path) -> Path:
    """Return an empty trivy cache directory whose layer cache is the shared one."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "fanal").symlink_to(layer_cache, target_is_directory=True)
    return cache


def image_options(base_image: str, cache_dir: Path, **values: object) -> ImageOptions:
    """Return ImageOptions for a test build FROM ``base_image`` with its own trivy cache."""
    options = ImageOptions(build_args={"BASE_IMAGE": base_image}, cache_dir=str(cache_dir))
    return replace(options, **values)


@pytest.mark.slow
@pytest.mark.docker
def test_vulnerability_gate_trips_via_mirror(
    image_repo, make_context, base_image: str, mirror: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("nonroot")
    options = image_options(base_image, cache_dir, db_repository=mirror)
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [f.rule_id for f in result.gating_findings] == ["CVE-2099-0001"]
    assert result.gating_findings[0].parameter == "zlib1g"
    assert result.details["image"] == image.default_tag(root, run_id)
    assert result.details["db"].startswith(f"trivy DB v2 from {mirror}, updated ")
    assert (cache_dir / "db" / "trivy.db").is_file()


@pytest.mark.slow
@pytest.mark.docker
def test_misconfiguration_gate_trips_on_root(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("root")
    options = image_options(base_image, cache_dir, scanners=("misconfig",))
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [f.rule_id for f in result.gating_findings] == ["DS-0002"]
    assert [f.rule_id for f in result.findings if not f.gating] == ["DS-0026"]
    assert result.details["dockerfile"] == "Dockerfile"
    assert result.details["db"] == "no DB: vuln scanner not run"


@pytest.mark.slow
@pytest.mark.docker
def test_secret_gate_trips_on_planted_token(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    token = "ghp_" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(36)
    )
    root = image_repo("nonroot", f'GITHUB_TOKEN = "{token}"\n')
    options = image_options(base_image, cache_dir, scanners=("secret",))
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.FAILED
    assert [f.rule_id for f in result.gating_findings] == ["github-pat"]
    assert result.gating_findings[0].target.endswith(":/home/app/main.py")
    assert token not in json.dumps([f.to_dict() for f in result.findings])


@pytest.mark.slow
@pytest.mark.docker
def test_clean_image_passes_offline(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    trivy_fixtures.seed_cache(cache_dir, (trivy_fixtures.ABSENT_PACKAGE_CVE,))
    root = image_repo("nonroot")
    options = image_options(base_image, cache_dir, offline=True)
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.PASSED, result.message
    assert result.findings == []
    assert result.details["scanners"] == ["vuln", "misconfig", "secret"]
    assert result.details["db"].startswith("trivy DB v2 from offline cache, updated ")
    assert "vuln, misconfig, secret" in result.message


@pytest.mark.slow
@pytest.mark.docker
def test_offline_without_db_is_error(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("nonroot")
    options = image_options(base_image, cache_dir, offline=True)
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.ERROR
    assert "vulnerability DB not available" in result.message
    assert "pre-seed the cache" in result.message
    assert "db_repository" in result.message
    assert result.details["image"].startswith("gauntlet-")
    assert result.details["scanners"] == ["misconfig", "secret"]


@pytest.mark.slow
@pytest.mark.docker
def test_mirror_without_db_is_error(
    image_repo, make_context, base_image: str, registry, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("nonroot")
    empty_repository = f"{registry.address}/no-such-db:2"
    options = image_options(base_image, cache_dir, db_repository=empty_repository)
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.ERROR
    assert empty_repository in result.message
    assert "db_repository" in result.message
    assert result.details["image"].startswith("gauntlet-")


@pytest.mark.slow
@pytest.mark.docker
def test_missing_db_still_reports_misconfiguration(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("root")
    options = image_options(base_image, cache_dir, offline=True)
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.ERROR
    assert [f.rule_id for f in result.gating_findings] == ["DS-0002"]
    assert result.details["db"] == "no DB: vuln scanner could not run"


@pytest.mark.slow
@pytest.mark.docker
def test_vuln_only_without_db_is_error(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("nonroot")
    options = image_options(base_image, cache_dir, offline=True, scanners=("vuln",))
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.ERROR
    assert result.findings == []
    assert result.details["image"].startswith("gauntlet-")


@pytest.mark.slow
@pytest.mark.docker
def test_trivyignore_suppresses_cve(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    trivy_fixtures.seed_cache(cache_dir)
    root = image_repo("nonroot")
    (root / ".trivyignore").write_text(f"{trivy_fixtures.ZLIB_CVE.cve}\n", encoding="utf-8")
    options = image_options(base_image, cache_dir, offline=True, scanners=("vuln",))
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.PASSED, result.message
    assert result.findings == []


@pytest.mark.slow
@pytest.mark.docker
def test_misconfiguration_gate_trips_on_root_with_healthcheck(
    image_repo, make_context, base_image: str, run_id: str, cache_dir: Path
) -> None:
    root = image_repo("root_healthcheck")
    options = image_options(base_image, cache_dir, scanners=("misconfig",))
    ctx = make_context(root, options, stage="image", run_id=run_id, timeout_s=STAGE_TIMEOUT_S)

    result = image.STAGE.run(ctx)

    assert result.status is Status.FAILED, result.message
    assert [f.rule_id for f in result.gating_findings] == ["DS-0002"]
    assert result.gating_findings[0].message.startswith("Dockerfile source: ")
    assert result.gating_findings[0].path == "Dockerfile"
    assert "warning: trivy could not parse the Dockerfile rebuilt" in result.message
    assert [f["scan"] for f in result.details["parse_failures"]] == ["image"]
    assert result.details["dockerfile_report"] == "trivy-config.json"


def scan_dockerfile(
    source: Path, make_context: Callable[..., StageContext], root: Path, cache: Path
) -> image.TrivyScan:
    """Copy ``source`` into ``root`` as its Dockerfile and run the stage's trivy config on it."""
    root.mkdir(parents=True)
    shutil.copy(source, root / "Dockerfile")
    options = ImageOptions(cache_dir=str(cache))
    ctx = make_context(root, options, stage="image", timeout_s=STAGE_TIMEOUT_S)
    scan = image.STAGE.scan_dockerfile(ctx, options)
    assert scan is not None
    return scan


@pytest.mark.slow
def test_config_scan_passes_sample_app(make_context, tmp_path: Path) -> None:
    dockerfile = REPO_ROOT / "sample_app" / "Dockerfile"

    scan = scan_dockerfile(dockerfile, make_context, tmp_path / "repo", tmp_path / "cache")
    findings = image.parse_config_report(scan.report, ImageOptions())

    assert "HEALTHCHECK" in dockerfile.read_text(encoding="utf-8")
    assert image.dockerfile_checked(scan.report)
    assert image.parse_failures(scan.stderr) == []
    assert [f.rule_id for f in findings if f.gating] == []


@pytest.mark.slow
def test_config_scan_trips_on_vulnerable_app(make_context, tmp_path: Path) -> None:
    dockerfile = REPO_ROOT / "tests" / "vulnerable_app" / "Dockerfile"

    scan = scan_dockerfile(dockerfile, make_context, tmp_path / "repo", tmp_path / "cache")
    findings = image.parse_config_report(scan.report, ImageOptions())

    assert "DS-0002" in {f.rule_id for f in findings if f.gating}


@pytest.mark.slow
def test_config_scan_failure_is_stage_error(make_context, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO_ROOT / "sample_app" / "Dockerfile", root / "Dockerfile")
    (root / ".trivyignore.yaml").write_text("vulnerabilities: [\n", encoding="utf-8")
    options = ImageOptions(trivyignore=".trivyignore.yaml", cache_dir=str(tmp_path / "cache"))
    ctx = make_context(root, options, stage="image", timeout_s=STAGE_TIMEOUT_S)

    with pytest.raises(StageError) as raised:
        image.STAGE.scan_dockerfile(ctx, options)

    assert str(raised.value).startswith("trivy config on Dockerfile failed (exit 1): ")
    assert "yaml decode error" in str(raised.value)
