"""Tests of ``gauntlet init`` on fixture repositories built in a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from gauntlet import config, detect, init, stages
from gauntlet.errors import UsageError

FLASK_SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "flask_shop"


def write_files(root: Path, files: dict[str, str]) -> None:
    """Create each file under ``root`` with its dedented text."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def snapshot(root: Path) -> dict[str, bytes]:
    """Return the bytes of every file under ``root``, outside .git."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def run_init(root: Path, *extra: str) -> int:
    """Run ``gauntlet init`` on ``root`` in-process."""
    return init.main([str(root), *extra])


def gauntlet_table(root: Path) -> dict:
    """Return the parsed ``[tool.gauntlet]`` of the repository at ``root``."""
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["gauntlet"]


def copy_flask_shop(root: Path) -> Path:
    """Copy the Flask fixture app to ``root`` and add a tests directory."""
    shutil.copytree(FLASK_SHOP, root, dirs_exist_ok=True)
    write_files(root, {"tests/test_shop.py": "def test_nothing():\n    assert True\n"})
    return root


@pytest.fixture(name="flask_repo")
def fixture_flask_repo(tmp_path: Path) -> Path:
    """A git repository (branch trunk) with the Flask fixture app and a [project] table."""
    copy_flask_shop(tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    return tmp_path


# --- empty repository ---------------------------------------------------------------------------


def test_empty_repo_gets_every_file(tmp_path: Path) -> None:
    assert run_init(tmp_path) == 0

    for relative in ("pyproject.toml", "Makefile", ".pre-commit-config.yaml"):
        assert (tmp_path / relative).is_file(), relative
    assert (tmp_path / ".github" / "workflows" / "gauntlet.yml").is_file()


def test_empty_repo_turns_off_stages_without_input(tmp_path: Path) -> None:
    run_init(tmp_path)
    table = gauntlet_table(tmp_path)

    assert table["paths"] == ["."]
    assert ".venv" in table["exclude"]
    assert table["unit"]["enabled"] is False
    assert table["bdd"]["enabled"] is False
    assert table["coverage"]["enabled"] is False
    assert table["dast"]["enabled"] is False
    assert "enabled" not in table["image"]


def test_empty_repo_turns_off_code_checks(tmp_path: Path) -> None:
    run_init(tmp_path)
    table = gauntlet_table(tmp_path)

    for stage in ("format", "lint", "sast"):
        assert table[stage]["enabled"] is False, stage


def test_loose_scripts_keep_code_checks(tmp_path: Path) -> None:
    write_files(tmp_path, {"scripts/backup.py": "print('backup')\n"})
    run_init(tmp_path)
    table = gauntlet_table(tmp_path)

    assert table["paths"] == ["."]
    assert "lint" not in table


def test_disabled_stages_state_their_reason(tmp_path: Path) -> None:
    run_init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")

    assert "# No tests/ or test/ directory" in text
    assert "# No features/ directory with .feature files" in text
    assert "# No Dockerfile at the root: the image stage skips itself" in text
    assert "# No Flask app found" in text


def test_empty_repo_without_git_gets_no_gitignore(tmp_path: Path) -> None:
    run_init(tmp_path)

    assert not (tmp_path / ".gitignore").exists()


@pytest.mark.parametrize("layout", ["empty", "src", "flask"])
def test_generated_config_loads(tmp_path: Path, layout: str) -> None:
    if layout == "src":
        write_files(tmp_path, {"src/pkg/__init__.py": "", "test/test_pkg.py": ""})
    if layout == "flask":
        copy_flask_shop(tmp_path)
    run_init(tmp_path)

    loaded = config.load(tmp_path, stages.all_stages(), env={})

    assert loaded.paths
    assert set(loaded.stages) == set(stages.all_stages())


# --- stage tables from the layout -------------------------------------------------------------


def test_src_layout_paths_and_test_dir(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/core.py": "VALUE = 1\n",
            "test/test_core.py": "",
            "tests_helpers.py": "",
            "setup.py": "",
            ".venv/lib/__init__.py": "",
            "docs/conf/__init__.py": "",
        },
    )
    run_init(tmp_path)
    table = gauntlet_table(tmp_path)

    assert table["paths"] == ["src/pkg", "tests_helpers.py"]
    assert table["unit"]["tests"] == ["test"]


def test_features_dir_enables_bdd(tmp_path: Path) -> None:
    write_files(tmp_path, {"pkg/__init__.py": "", "features/notes.feature": "Feature: notes\n"})
    run_init(tmp_path)
    table = gauntlet_table(tmp_path)

    assert table["bdd"] == {"features": "features"}
    assert "coverage" not in table


def test_dockerfile_is_configured_without_reason(tmp_path: Path) -> None:
    write_files(tmp_path, {"pkg/__init__.py": "", "Dockerfile": "FROM scratch\n"})
    run_init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")

    assert gauntlet_table(tmp_path)["image"] == {"dockerfile": "Dockerfile"}
    assert "No Dockerfile" not in text


def test_flask_dast_table(flask_repo: Path) -> None:
    run_init(flask_repo)
    dast = gauntlet_table(flask_repo)["dast"]

    assert dast["deploy"] == "process"
    assert dast["command"][:2] == ["sh", "-c"]
    assert dast["command"][2].startswith("python -m flask --app shop init-db && exec ")
    assert '--host 127.0.0.1 --port "$PORT"' in dast["command"][2]
    assert dast["dbms"] == "SQLite"
    assert dast["parallel"] is False  # POST targets write to the database the others read
    assert {"method": "GET", "path": "/search", "query": {"q": "gauntlet"}} in dast["targets"]


# --- merging into existing files ----------------------------------------------------------------

PYPROJECT_WITH_COMMENTS = """\
# Project settings; keep this comment.
[project]
name = "demo"  # the distribution name
version = "1.0"

[tool.black]
line-length = 88   # house style

# The build backend comes after the tool tables.
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
"""


def test_pyproject_keeps_existing_text(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": PYPROJECT_WITH_COMMENTS, "demo/__init__.py": ""})
    run_init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")

    assert text.startswith(PYPROJECT_WITH_COMMENTS + "\n[tool.gauntlet]\n")


def test_pyproject_keeps_other_tables(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": PYPROJECT_WITH_COMMENTS, "demo/__init__.py": ""})
    before = tomllib.loads(PYPROJECT_WITH_COMMENTS)
    run_init(tmp_path)
    after = tomllib.loads((tmp_path / "pyproject.toml").read_text(encoding="utf-8"))

    assert after["project"] == before["project"]
    assert after["build-system"] == before["build-system"]
    assert after["tool"]["black"] == before["tool"]["black"]
    assert after["tool"]["gauntlet"]["paths"] == ["demo"]


def test_existing_gauntlet_table_left_alone(tmp_path: Path, capsys) -> None:
    original = '[tool.gauntlet]\npaths = ["lib"]\n'
    write_files(tmp_path, {"pyproject.toml": original, "lib/__init__.py": ""})
    run_init(tmp_path)

    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8") == original
    assert "[tool.gauntlet] exists; left alone" in capsys.readouterr().out


def test_makefile_ci_target_left_alone(tmp_path: Path, capsys) -> None:
    original = "ci: lint\n\tpytest\n"
    write_files(tmp_path, {"Makefile": original})
    run_init(tmp_path)

    assert (tmp_path / "Makefile").read_text(encoding="utf-8") == original
    assert "Makefile: has its own `ci` target; left alone" in capsys.readouterr().out


def test_makefile_other_targets_kept(tmp_path: Path) -> None:
    original = ".PHONY: test ci\n\ntest:\n\tpytest\n"
    write_files(tmp_path, {"Makefile": original})
    run_init(tmp_path)
    text = (tmp_path / "Makefile").read_text(encoding="utf-8")

    assert text.startswith(original + "\n# ci-gauntlet (written by `gauntlet init`)")
    assert init.has_make_target(text, "ci")


@pytest.mark.parametrize(
    ("makefile", "expected"),
    [
        ("ci:\n", True),
        ("lint ci test: deps\n", True),
        ("ci:: one\n", True),
        ("ci := value\n", False),
        ("ci ?= value\n", False),
        (".PHONY: ci\n", False),
        ("build:\n\tci: not a rule\n", False),
        ("# ci: commented out\n", False),
        ("cis:\n", False),
    ],
)
def test_has_make_target_cases(makefile: str, expected: bool) -> None:
    assert init.has_make_target(makefile, "ci") is expected


def test_gitignore_gets_missing_entries_once(flask_repo: Path) -> None:
    write_files(flask_repo, {".gitignore": ".venv/\n*.pyc\n"})
    run_init(flask_repo)
    lines = (flask_repo / ".gitignore").read_text(encoding="utf-8").splitlines()

    assert lines[:2] == [".venv/", "*.pyc"]
    assert "/.venv/" not in lines
    assert lines.count("/reports/") == 1
    assert lines.count("/node_modules/") == 1


def test_other_precommit_config_left_alone(tmp_path: Path, capsys) -> None:
    write_files(tmp_path, {".pre-commit-config.yaml": "repos: []\n"})
    run_init(tmp_path)

    assert (tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8") == "repos: []\n"
    assert ".pre-commit-config.yaml: exists with other content" in capsys.readouterr().out


# --- idempotence and dry run --------------------------------------------------------------------


def test_second_run_is_byte_identical(flask_repo: Path, capsys) -> None:
    write_files(flask_repo, {"Makefile": "test:\n\tpytest\n", ".gitignore": "*.pyc\n"})
    run_init(flask_repo)
    first = snapshot(flask_repo)
    capsys.readouterr()

    run_init(flask_repo)

    assert snapshot(flask_repo) == first
    assert "nothing to change" in capsys.readouterr().out


def test_dry_run_writes_nothing(flask_repo: Path, capsys) -> None:
    before = snapshot(flask_repo)

    assert run_init(flask_repo, "--dry-run") == 0

    assert snapshot(flask_repo) == before
    output = capsys.readouterr().out
    assert "+++ b/pyproject.toml" in output
    assert "would write Makefile (create)" in output


def test_dry_run_diff_matches_real_run(flask_repo: Path, tmp_path_factory, capsys) -> None:
    copy = tmp_path_factory.mktemp("copy") / "repo"
    shutil.copytree(flask_repo, copy)
    run_init(flask_repo, "--dry-run")
    diff = capsys.readouterr().out.split("gauntlet init: would write")[0]

    subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=copy, check=True)
    run_init(flask_repo)

    assert snapshot(copy) == snapshot(flask_repo)


def test_dry_run_after_init_prints_no_diff(flask_repo: Path, capsys) -> None:
    run_init(flask_repo)
    capsys.readouterr()

    run_init(flask_repo, "--dry-run")

    assert "+++" not in capsys.readouterr().out


# --- bad input ----------------------------------------------------------------------------------


def test_path_not_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(UsageError, match=r"'.*nowhere' is not a directory; give the repository"):
        run_init(missing)


def test_invalid_pyproject_names_file(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": "[project\nname = 'x'\n"})

    with pytest.raises(UsageError, match=r"pyproject.toml is not valid TOML .*fix the file"):
        run_init(tmp_path)
    assert "Makefile" not in [path.name for path in tmp_path.iterdir()]


def test_inline_tool_table_rejected(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": "tool = {black = {line-length = 100}}\n"})

    with pytest.raises(UsageError, match=r"write `tool` as \[tool.<name>\] tables"):
        run_init(tmp_path)


# --- generated files ----------------------------------------------------------------------------


def test_kit_source_from_github_install() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    kit = init.kit_source_from_direct_url(
        {"url": "https://github.com/acme/ci-gauntlet.git", "vcs_info": {"commit_id": commit}}
    )

    assert (
        kit.pip_spec == f"ci-gauntlet[tools] @ git+https://github.com/acme/ci-gauntlet.git@{commit}"
    )
    assert kit.workflow_repo == "acme/ci-gauntlet"
    assert kit.workflow_ref == commit
    assert kit.precommit_rev == commit
    assert kit.placeholder is False


def test_kit_source_from_index_install() -> None:
    kit = init.kit_source_from_direct_url({})

    assert kit.pip_spec == f"ci-gauntlet[tools]=={init.__version__}"
    assert kit.workflow_requirement == kit.pip_spec
    assert kit.placeholder is True


def test_kit_source_of_this_checkout() -> None:
    kit_root = Path(init.__file__).resolve().parents[2]
    if metadata.distribution(init.DIST_NAME).read_text("direct_url.json") is None:
        pytest.skip("the kit is installed from an index here, not from this checkout")

    kit = init.detect_kit_source()

    assert kit.pip_spec == f"ci-gauntlet[tools] @ {kit_root.as_uri()}"


def test_precommit_config_lists_kit_hooks(flask_repo: Path) -> None:
    run_init(flask_repo)
    loaded = yaml.safe_load((flask_repo / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = loaded["repos"][0]["hooks"]

    assert [hook["id"] for hook in hooks] == ["gauntlet-format", "gauntlet-lint", "gauntlet-sast"]
    assert [hook["files"] for hook in hooks] == ["^(?:shop/)"] * 3
    assert hooks[1]["additional_dependencies"] == [init.kit_pylint_pin(), "flask"]


def test_kit_pylint_pin_is_exact() -> None:
    assert init.kit_pylint_pin().startswith("pylint==")


def test_hook_files_cover_packages_and_modules(tmp_path: Path) -> None:
    write_files(tmp_path, {"src/pkg/__init__.py": "", "manage.py": ""})
    pattern = init.hook_files_pattern(detect.detect_layout(tmp_path))

    assert pattern == r"^(?:src/pkg/|manage\.py$)"


def test_hooks_without_packages_see_every_file(tmp_path: Path) -> None:
    run_init(tmp_path)
    loaded = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8"))

    assert all("files" not in hook for hook in loaded["repos"][0]["hooks"])


def test_workflow_calls_reusable_workflow(flask_repo: Path) -> None:
    run_init(flask_repo)
    workflow = yaml.safe_load((flask_repo / ".github/workflows/gauntlet.yml").read_text("utf-8"))
    job = workflow["jobs"]["gauntlet"]

    assert workflow["permissions"] == {}
    assert workflow[True]["push"]["branches"] == ["trunk"]  # YAML 1.1 reads the key `on` as True
    assert job["uses"].startswith("OWNER/ci-gauntlet/.github/workflows/gauntlet.yml@")
    assert job["permissions"] == {"contents": "read", "security-events": "write", "actions": "read"}


@pytest.mark.slow
def test_workflow_passes_linters_and_schema(flask_repo: Path) -> None:
    run_init(flask_repo)
    workflow = flask_repo / ".github" / "workflows" / "gauntlet.yml"
    bin_dir = Path(sys.executable).parent

    actionlint = subprocess.run(
        [str(bin_dir / "actionlint"), str(workflow)], capture_output=True, text=True, check=False
    )
    zizmor = subprocess.run(
        [str(bin_dir / "zizmor"), "--offline", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )

    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
        + [str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    assert schema.returncode == 0, schema.stdout + schema.stderr


@pytest.mark.slow
def test_generated_makefile_is_valid(flask_repo: Path) -> None:
    run_init(flask_repo)

    dry = subprocess.run(
        ["make", "-n", "ci"], cwd=flask_repo, capture_output=True, text=True, check=False
    )

    assert dry.returncode == 0, dry.stderr
    assert "gauntlet run" in dry.stdout
    assert "pip install --quiet -e ." in dry.stdout


def test_cli_runs_init(flask_repo: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gauntlet", "init", str(flask_repo), "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "+++ b/pyproject.toml" in completed.stdout


def test_flask_command_without_init_db() -> None:
    app = detect.FlaskApp("app", "app.py", None, (), (), "/")

    assert init.flask_command(app) == (
        'exec python -m flask --app app run --host 127.0.0.1 --port "$PORT"'
    )


def test_password_hashing_target_gets_time_limit(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                from flask import Flask, request
                from werkzeug.security import check_password_hash

                app = Flask(__name__)


                @app.post("/login")
                def login():
                    return str(check_password_hash("x", request.form["password"]))
                """,
        },
    )
    run_init(tmp_path)
    target = gauntlet_table(tmp_path)["dast"]["targets"][0]

    assert target["time_limit"] == init.SLOW_TARGET_TIME_LIMIT_S


def test_older_generated_file_left_alone(flask_repo: Path, capsys) -> None:
    run_init(flask_repo)
    hooks = flask_repo / ".pre-commit-config.yaml"
    older = hooks.read_text(encoding="utf-8").replace("rev: ", "rev: old-")
    hooks.write_text(older, encoding="utf-8")
    capsys.readouterr()

    run_init(flask_repo)

    assert hooks.read_text(encoding="utf-8") == older
    assert ".pre-commit-config.yaml: differs from what this kit would write now" in (
        capsys.readouterr().out
    )


def test_allure_version_matches_package_json() -> None:
    package_json = Path(init.__file__).resolve().parents[2] / "package.json"
    pinned = json.loads(package_json.read_text(encoding="utf-8"))["devDependencies"]["allure"]

    assert init.ALLURE_VERSION == pinned


def test_crlf_pyproject_keeps_line_endings(tmp_path: Path) -> None:
    original = b'[project]\r\nname = "demo"\r\n'
    (tmp_path / "pyproject.toml").write_bytes(original)
    run_init(tmp_path)
    written = (tmp_path / "pyproject.toml").read_bytes()

    assert written.startswith(original + b"\r\n[tool.gauntlet]\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")


def test_lowercase_makefile_is_used(tmp_path: Path) -> None:
    write_files(tmp_path, {"makefile": "test:\n\tpytest\n"})
    run_init(tmp_path)

    assert "Makefile" not in [path.name for path in tmp_path.iterdir()]
    assert init.has_make_target((tmp_path / "makefile").read_text(encoding="utf-8"), "ci")


@pytest.mark.slow
def test_generated_dast_finds_planted_injection(tmp_path: Path) -> None:
    repo = copy_flask_shop(tmp_path / "shop")
    run_init(repo)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GAUNTLET_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    completed = subprocess.run(
        [sys.executable, "-m", "gauntlet", "run", "--only", "dast"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = json.loads((repo / "reports" / "summary.json").read_text(encoding="utf-8"))
    dast = summary["stages"][0]
    verdicts = {target["endpoint"]: target["verdict"] for target in dast["details"]["targets"]}

    assert completed.returncode == 1, completed.stdout[-2000:]
    assert dast["status"] == "failed"
    assert verdicts == {
        "GET /search": "injectable",
        "POST /auth/register": "clean",
        "POST /api/items": "clean",
    }


def test_single_target_keeps_parallel_default(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                from flask import Flask, request

                app = Flask(__name__)


                @app.post("/items")
                def items():
                    return request.form["name"]
                """,
        },
    )
    run_init(tmp_path)

    assert "parallel" not in gauntlet_table(tmp_path)["dast"]


def test_non_utf8_makefile_names_file(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_bytes(b"# caf\xe9\nall:\n")

    with pytest.raises(UsageError, match=r"Makefile is not UTF-8 text .*convert it to UTF-8"):
        run_init(tmp_path)


def test_directory_named_pyproject_names_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").mkdir()

    with pytest.raises(UsageError, match=r"cannot read .*pyproject.toml: Is a directory"):
        run_init(tmp_path)
