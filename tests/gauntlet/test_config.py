"""Tests of gauntlet.config: defaults, precedence, validation messages, paths and reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fake_stages
from gauntlet import config
from gauntlet.errors import UsageError


def make_repo(root: Path, toml: str = "", package: str = "pkg") -> Path:
    """Create a repository with one package directory and the given [tool.gauntlet] text."""
    if package:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("", encoding="utf-8")
    if toml is not None:
        (root / "pyproject.toml").write_text(toml, encoding="utf-8")
    return root


def stages() -> dict:
    return fake_stages.registry(fake_stages.FakeStage("lint"), fake_stages.FakeStage("coverage"))


def load(root: Path, env: dict | None = None, cli: dict | None = None) -> config.Config:
    return config.load(root, stages(), env=env or {}, cli=cli)


def usage_message(root: Path, env: dict | None = None, cli: dict | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        load(root, env, cli)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_without_pyproject(tmp_path):
    make_repo(tmp_path, toml=None)
    loaded = load(tmp_path)
    assert loaded.pyproject is None
    assert loaded.paths == ("pkg",)
    assert loaded.reports_dir == tmp_path.resolve() / "reports"
    assert loaded.jobs == (os.cpu_count() or 1)
    assert loaded.fail_fast is False
    assert loaded.timeout_s == 900.0
    assert loaded.stages["lint"].enabled is True
    assert loaded.stages["lint"].timeout_s == 900.0
    assert loaded.stages["lint"].options == fake_stages.FakeOptions()


def test_defaults_prefer_src(tmp_path):
    make_repo(tmp_path, "")
    (tmp_path / "src").mkdir()
    assert load(tmp_path).paths == ("src",)


def test_defaults_skip_tests_dir(tmp_path):
    make_repo(tmp_path, "", package="tests")
    make_repo(tmp_path, "", package="app")
    assert load(tmp_path).paths == ("app",)


def test_no_source_found_is_usage_error(tmp_path):
    make_repo(tmp_path, "", package="")
    message = usage_message(tmp_path)
    assert message.startswith("no source paths:")
    assert 'paths = ["your_package"]' in message


def test_file_values_are_read(tmp_path):
    make_repo(
        tmp_path,
        """
[tool.gauntlet]
paths = ["pkg"]
exclude = ["./pkg/vendored/"]
reports = "out/reports"
jobs = 3
fail_fast = true
timeout = 60

[tool.gauntlet.coverage]
fail_under = 90
enabled = false
timeout = 30
args = ["-x"]
labels = { team = "core" }
level = "high"

[tool.gauntlet.coverage.deploy]
port = 9000

[[tool.gauntlet.coverage.targets]]
url = "http://127.0.0.1:9000/login"
method = "POST"
""",
    )
    loaded = load(tmp_path)
    coverage = loaded.stages["coverage"]
    assert loaded.paths == ("pkg",)
    assert loaded.exclude == ("pkg/vendored",)
    assert loaded.reports_dir == tmp_path.resolve() / "out" / "reports"
    assert loaded.jobs == 3
    assert loaded.fail_fast is True
    assert loaded.timeout_s == 60.0
    assert coverage.enabled is False
    assert coverage.timeout_s == 30.0
    assert coverage.options.fail_under == 90.0
    assert isinstance(coverage.options.fail_under, float)
    assert coverage.options.args == ("-x",)
    assert coverage.options.labels == {"team": "core"}
    assert coverage.options.level == "high"
    assert coverage.options.deploy == fake_stages.Deployment(port=9000)
    assert coverage.options.targets == (fake_stages.Target("http://127.0.0.1:9000/login", "POST"),)
    assert loaded.stages["lint"].timeout_s == 60.0


def test_precedence_default_file_env_cli(tmp_path):
    make_repo(tmp_path, "[tool.gauntlet]\njobs = 2\nreports = 'from-file'\nfail_fast = false\n")
    env = {"GAUNTLET_JOBS": "3", "GAUNTLET_REPORTS": "from-env"}
    loaded = load(tmp_path, env=env, cli={"jobs": 4, "fail_fast": None, "reports": None})
    assert loaded.jobs == 4
    assert loaded.reports_dir.name == "from-env"
    assert loaded.fail_fast is False
    assert loaded.sources["jobs"] == "--jobs"
    assert loaded.sources["reports"] == "environment variable GAUNTLET_REPORTS"
    assert loaded.sources["fail_fast"] == "pyproject.toml [tool.gauntlet]"


def test_environment_sets_stage_options(tmp_path):
    make_repo(tmp_path, "[tool.gauntlet.coverage]\nfail_under = 50\n")
    env = {
        "GAUNTLET_COVERAGE_FAIL_UNDER": "75.5",
        "GAUNTLET_COVERAGE_STRICT": "true",
        "GAUNTLET_COVERAGE_ARGS": "-x, --quiet",
        "GAUNTLET_COVERAGE_LABELS": "BASE_IMAGE=local/python-base,TAG=1",
        "GAUNTLET_COVERAGE_DEPLOY_PORT": "9001",
        "GAUNTLET_COVERAGE_ENABLED": "0",
        "GAUNTLET_COVERAGE_TIMEOUT": "12",
        "GAUNTLET_FAIL_FAST": "yes",
    }
    loaded = load(tmp_path, env=env)
    coverage = loaded.stages["coverage"]
    assert coverage.options.fail_under == 75.5
    assert coverage.options.strict is True
    assert coverage.options.args == ("-x", "--quiet")
    assert coverage.options.labels == {"BASE_IMAGE": "local/python-base", "TAG": "1"}
    assert coverage.options.deploy.port == 9001
    assert coverage.enabled is False
    assert coverage.timeout_s == 12.0
    assert loaded.fail_fast is True


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[tool.gauntlet.coverage]\nfail_under = "ninety"\n',
            "[tool.gauntlet.coverage] fail_under = 'ninety' is invalid: expected a number from 0 to 100",
        ),
        (
            "[tool.gauntlet.coverage]\nfail_under = 101\n",
            "[tool.gauntlet.coverage] fail_under = 101 is invalid: expected a number from 0 to 100",
        ),
        (
            "[tool.gauntlet.coverage]\nstrict = 1\n",
            "[tool.gauntlet.coverage] strict = 1 is invalid: expected true or false",
        ),
        (
            "[tool.gauntlet.coverage]\ncount = 1.5\n",
            "[tool.gauntlet.coverage] count = 1.5 is invalid: expected an integer",
        ),
        (
            "[tool.gauntlet.coverage]\ncount = true\n",
            "[tool.gauntlet.coverage] count = True is invalid: expected an integer",
        ),
        (
            '[tool.gauntlet.coverage]\nlevel = "severe"\n',
            "[tool.gauntlet.coverage] level = 'severe' is invalid: expected one of 'low', 'medium', 'high'",
        ),
        (
            '[tool.gauntlet.coverage]\nargs = "-x"\n',
            "[tool.gauntlet.coverage] args = '-x' is invalid: expected an array of strings",
        ),
        (
            '[tool.gauntlet.coverage]\nargs = ["-x", 2]\n',
            "[tool.gauntlet.coverage] args[1] = 2 is invalid: expected a string",
        ),
        (
            "[tool.gauntlet.coverage]\nlabels = { team = 1 }\n",
            "[tool.gauntlet.coverage] labels = {'team': 1} is invalid: expected a table of string values",
        ),
        (
            "[tool.gauntlet.coverage.deploy]\nport = 0\n",
            "[tool.gauntlet.coverage] deploy.port = 0 is invalid: expected an integer from 1 to 65535",
        ),
        (
            '[[tool.gauntlet.coverage.targets]]\nmethod = "PUT"\n',
            "[tool.gauntlet.coverage] targets[0].method = 'PUT' is invalid: expected one of 'GET', 'POST'",
        ),
        (
            "[tool.gauntlet.coverage]\ntargets = 3\n",
            "[tool.gauntlet.coverage] targets = 3 is invalid: expected an array of tables ([[...]])",
        ),
        (
            "[tool.gauntlet.coverage]\nenabled = 'no'\n",
            "[tool.gauntlet.coverage] enabled = 'no' is invalid: expected true or false",
        ),
        (
            "[tool.gauntlet.coverage]\ntimeout = 0\n",
            "[tool.gauntlet.coverage] timeout = 0 is invalid: expected a number > 0",
        ),
        (
            "[tool.gauntlet]\njobs = 0\n",
            "[tool.gauntlet] jobs = 0 is invalid: expected an integer >= 1",
        ),
        (
            "[tool.gauntlet]\ntimeout = 'long'\n",
            "[tool.gauntlet] timeout = 'long' is invalid: expected a number > 0",
        ),
        (
            "[tool.gauntlet]\ncoverage = 3\n",
            "[tool.gauntlet] coverage = 3 is invalid: expected a table [tool.gauntlet.coverage]",
        ),
    ],
)
def test_bad_value_message(tmp_path, toml, expected):
    make_repo(tmp_path, toml)
    assert usage_message(tmp_path) == expected


@pytest.mark.parametrize(
    ("toml", "expected_start"),
    [
        (
            "[tool.gauntlet]\njbos = 2\n",
            "[tool.gauntlet] jbos is not a known key (did you mean 'jobs'?): expected one of paths,",
        ),
        ("[tool.gauntlet.unknown]\nx = 1\n", "[tool.gauntlet] unknown is not a known key"),
        (
            "[tool.gauntlet.coverage]\nfail_undr = 2\n",
            "[tool.gauntlet.coverage] fail_undr is not a known key (did you mean 'fail_under'?)",
        ),
        (
            "[tool.gauntlet.coverage.deploy]\nprot = 2\n",
            "[tool.gauntlet.coverage] deploy.prot is not a known key (did you mean 'port'?)",
        ),
    ],
)
def test_unknown_key_message(tmp_path, toml, expected_start):
    make_repo(tmp_path, toml)
    assert usage_message(tmp_path).startswith(expected_start)


def test_unknown_stage_key_lists_reserved_keys(tmp_path):
    make_repo(tmp_path, "[tool.gauntlet.coverage]\nnope = 2\n")
    assert usage_message(tmp_path).endswith("needs_extra, enabled, timeout")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"GAUNTLET_JOBS": "many"},
            "environment variable GAUNTLET_JOBS = 'many' is invalid: expected an integer",
        ),
        (
            {"GAUNTLET_JOBS": "-2"},
            "environment variable GAUNTLET_JOBS = '-2' is invalid: expected an integer >= 1",
        ),
        (
            {"GAUNTLET_FAIL_FAST": "maybe"},
            "environment variable GAUNTLET_FAIL_FAST = 'maybe' is invalid: expected 1, 0, true or false",
        ),
        (
            {"GAUNTLET_COVERAGE_FAIL_UNDER": "ninety"},
            "environment variable GAUNTLET_COVERAGE_FAIL_UNDER = 'ninety' is invalid: expected a number",
        ),
        (
            {"GAUNTLET_COVERAGE_FAIL_UNDER": "120"},
            "environment variable GAUNTLET_COVERAGE_FAIL_UNDER = '120' is invalid: expected a number from 0 to 100",
        ),
        (
            {"GAUNTLET_COVERAGE_LABELS": "novalue"},
            "environment variable GAUNTLET_COVERAGE_LABELS = 'novalue' is invalid: expected KEY=VALUE pairs separated by commas",
        ),
        (
            {"GAUNTLET_COVERAGE_TARGETS": "x"},
            "environment variable GAUNTLET_COVERAGE_TARGETS = 'x' is invalid: expected nothing: arrays of tables are set in pyproject.toml only",
        ),
    ],
)
def test_bad_environment_message(tmp_path, env, expected):
    make_repo(tmp_path, "")
    assert usage_message(tmp_path, env=env) == expected


def test_bad_cli_value_names_flag(tmp_path):
    make_repo(tmp_path, "")
    assert (
        usage_message(tmp_path, cli={"jobs": -3})
        == "--jobs = -3 is invalid: expected an integer >= 1"
    )


def test_misspelt_environment_variable_warns(tmp_path, caplog):
    make_repo(tmp_path, "")
    load(tmp_path, env={"GAUNTLET_COVERAGE_FAIL_UNDR": "3", "GAUNTLET_STATE_DIR": "/tmp/x"})
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        "ignoring environment variable GAUNTLET_COVERAGE_FAIL_UNDR: no such option; did you mean GAUNTLET_COVERAGE_FAIL_UNDER?"
    ]


def test_malformed_toml_names_line_and_column(tmp_path):
    make_repo(tmp_path, '[tool.gauntlet]\npaths = ["pkg"\njobs = 2\n')
    message = usage_message(tmp_path)
    assert message.startswith(
        f"{tmp_path.resolve() / 'pyproject.toml'}: invalid TOML at line 3, column 1:"
    )
    assert message.endswith("; fix the syntax there")


def test_malformed_toml_at_end_of_file(tmp_path):
    make_repo(tmp_path, '[tool.gauntlet]\nreports = "unterminated')
    assert "invalid TOML at line 2" in usage_message(tmp_path)


def test_missing_source_path_is_named(tmp_path):
    make_repo(tmp_path, '[tool.gauntlet]\npaths = ["pkg", "nowhere"]\n')
    message = usage_message(tmp_path)
    assert (
        message
        == f"[tool.gauntlet] paths: source path 'nowhere' does not exist under {tmp_path.resolve()}; fix or remove it"
    )


def test_source_path_outside_root_rejected(tmp_path):
    make_repo(tmp_path / "repo", '[tool.gauntlet]\npaths = ["../other"]\n')
    (tmp_path / "other").mkdir()
    assert "is outside the repository root" in usage_message(tmp_path / "repo")


def test_environment_source_path_names_variable(tmp_path):
    make_repo(tmp_path, "")
    message = usage_message(tmp_path, env={"GAUNTLET_PATHS": "pkg,gone"})
    assert message.startswith(
        "environment variable GAUNTLET_PATHS: source path 'gone' does not exist"
    )


@pytest.mark.parametrize("reports", [".", "..", "", "../..", "/", "pkg/../.", "  "])
def test_reports_dir_must_not_be_root(tmp_path, reports):
    make_repo(tmp_path / "repo", f"[tool.gauntlet]\nreports = {reports!r}\n")
    assert usage_message(tmp_path / "repo").startswith(
        f"[tool.gauntlet] reports = {reports!r} is invalid"
    )


def test_reports_dir_must_not_be_absolute_ancestor(tmp_path):
    make_repo(tmp_path / "home" / "repo", "")
    message = usage_message(tmp_path / "home" / "repo", cli={"reports": str(tmp_path / "home")})
    assert message.startswith(f"--reports = {str(tmp_path / 'home')!r} is invalid")


def test_reports_dir_beside_root_is_allowed(tmp_path):
    make_repo(tmp_path / "repo", "[tool.gauntlet]\nreports = '../repo-reports'\n")
    assert load(tmp_path / "repo").reports_dir == tmp_path.resolve() / "repo-reports"


def test_jobs_from_environment(tmp_path):
    make_repo(tmp_path, "[tool.gauntlet]\njobs = 2\n")
    assert load(tmp_path, env={"GAUNTLET_JOBS": "1"}).jobs == 1


def test_post_init_value_error_names_table(tmp_path):
    class Strict(fake_stages.FakeStage):
        options_class = PickyOptions

    make_repo(tmp_path, "[tool.gauntlet.picky]\nlow = 5\nhigh = 1\n")
    with pytest.raises(UsageError) as caught:
        config.load(tmp_path, {"picky": Strict("picky")}, env={})
    assert str(caught.value) == "[tool.gauntlet.picky] is invalid: low must not exceed high"


def test_reserved_key_in_options_is_a_bug(tmp_path):
    class Clashing(fake_stages.FakeStage):
        options_class = ClashingOptions

    make_repo(tmp_path, "")
    with pytest.raises(TypeError):
        config.load(tmp_path, {"clash": Clashing("clash")}, env={})


def test_run_settings_carry_config(tmp_path):
    make_repo(tmp_path, "[tool.gauntlet]\nexclude = ['pkg/gen']\ntimeout = 5\n")
    settings = load(tmp_path).run_settings("run-1")
    assert settings.root == tmp_path.resolve()
    assert settings.run_id == "run-1"
    assert settings.paths == ("pkg",)
    assert settings.exclude == ("pkg/gen",)
    assert settings.timeout_s == 5.0


def test_describe_options_lists_help():
    rows = config.describe_options(fake_stages.FakeOptions)
    assert ("fail_under", "80.0", "percent") in rows


from dataclasses import dataclass  # noqa: E402 - test-only option classes below


@dataclass(frozen=True)
class PickyOptions:
    low: int = 0
    high: int = 10

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


@dataclass(frozen=True)
class ClashingOptions:
    timeout: int = 3
