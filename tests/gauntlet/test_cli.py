"""Tests of gauntlet.cli: exit codes, one-line errors, subcommands and Ctrl-C in a real process.

In-process tests replace the stage registry with fake stages (monkeypatching
``gauntlet.stages.all_stages``). Tests that need a real ``python -m gauntlet`` process install the
same replacement through a ``sitecustomize`` module on PYTHONPATH, so no test hook ships in the kit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

import fake_stages
from fake_stages import FakeStage
from gauntlet import __version__, cli, stages as stage_registry
from gauntlet.stage import Status

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with one package, as the current directory."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.gauntlet]\npaths = ['pkg']\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def use_stages(monkeypatch, *stages):
    monkeypatch.setattr(stage_registry, "all_stages", lambda: fake_stages.registry(*stages))


def append_config(repo: Path, text: str) -> None:
    with open(repo / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write(text)


def error_line(capsys) -> str:
    """Return stderr, checking that it is one line without a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    return err.strip()


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ((FakeStage("a"), FakeStage("b")), 0),
        ((FakeStage("a"), FakeStage("b", Status.SKIPPED)), 0),
        ((FakeStage("a", Status.FAILED), FakeStage("b")), 1),
        ((FakeStage("a", Status.FAILED), FakeStage("b", Status.ERROR)), 3),
        ((fake_stages.CrashingStage("a"),), 3),
        ((fake_stages.UsageErrorStage("a"), FakeStage("b", Status.FAILED)), 2),
        ((fake_stages.UsageErrorStage("a"), FakeStage("b", Status.ERROR)), 3),
    ],
)
def test_run_exit_code(repo, monkeypatch, stages, expected):
    use_stages(monkeypatch, *stages)
    assert cli.main(["run"]) == expected


def test_run_writes_every_report(repo, monkeypatch):
    use_stages(monkeypatch, FakeStage("a", findings=2), FakeStage("b"))
    cli.main(["run"])
    names = sorted(path.name for path in (repo / "reports").iterdir())
    assert names == [
        ".gauntlet-reports",
        "a",
        "b",
        "gauntlet.sarif",
        "junit.xml",
        "summary.json",
        "summary.md",
    ]


def test_run_prints_table_and_failure_tail(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("good"), FakeStage("bad", Status.FAILED, findings=1))
    cli.main(["run"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert "good: passed" in out
    assert ["bad", "failed", "1", "0.0", "s"] in rows
    assert "--- bad failed, last 2 lines of " in out
    assert "    bad log line" in out
    assert "gauntlet failed in" in out


def test_run_fail_fast_flag(repo, monkeypatch):
    use_stages(monkeypatch, FakeStage("bad", Status.FAILED), FakeStage("slow"))
    append_config(repo, "jobs = 2\n[tool.gauntlet.slow]\nseconds = 30\n")
    assert cli.main(["run", "--fail-fast"]) == 1
    summary = json.loads((repo / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert summary["stages"][1]["status"] == "skipped"
    assert summary["stages"][1]["message"] == "cancelled by --fail-fast"


def test_run_only_and_skip(repo, monkeypatch):
    use_stages(monkeypatch, FakeStage("a"), FakeStage("b"), FakeStage("c"))
    cli.main(["run", "--only", "a,b", "--only", "c", "--skip", "b"])
    summary = json.loads((repo / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert [stage["name"] for stage in summary["stages"]] == ["a", "c"]


def test_run_reports_flag_overrides_file(repo, monkeypatch):
    use_stages(monkeypatch, FakeStage("a"))
    append_config(repo, "reports = 'from-file'\n")
    cli.main(["run", "--reports", "from-flag"])
    assert (repo / "from-flag" / "summary.json").is_file()
    assert not (repo / "from-file").exists()


def test_run_rejects_home_as_reports_dir(repo, monkeypatch, capsys, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / ".bashrc").write_text("# mine\n", encoding="utf-8")
    (home / "a").mkdir()
    (home / "a" / "photo.jpg").write_text("mine", encoding="utf-8")
    use_stages(monkeypatch, FakeStage("a"))

    assert cli.main(["run", "--reports", str(home)]) == 2

    assert error_line(capsys).startswith(f"gauntlet: error: reports directory {home} is not empty")
    assert (home / "a" / "photo.jpg").is_file()
    assert (home / ".bashrc").is_file()


def test_run_rejects_ancestor_as_reports_dir(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"))
    assert cli.main(["run", "--reports", str(repo.parent)]) == 2
    assert error_line(capsys).startswith(f"gauntlet: error: --reports = {str(repo.parent)!r}")


def test_run_with_root_flag(repo, monkeypatch, tmp_path_factory):
    use_stages(monkeypatch, FakeStage("a"))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert cli.main(["run", "-C", str(repo)]) == 0
    assert (repo / "reports" / "summary.json").is_file()


def test_run_finds_root_upwards(repo, monkeypatch):
    use_stages(monkeypatch, FakeStage("a"))
    monkeypatch.chdir(repo / "pkg")
    assert cli.main(["run"]) == 0
    assert (repo / "reports" / "summary.json").is_file()


def test_unknown_stage_in_only(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"), FakeStage("b"))
    assert cli.main(["run", "--only", "a,nope"]) == 2
    assert (
        error_line(capsys) == "gauntlet: error: unknown stage 'nope' in --only; valid stages: a, b"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--only", ""], "--only ''"),
        (["--only", ","], "--only ','"),
        (["--only", "a", "--only", " , "], "--only ' , '"),
        (["--skip", ""], "--skip ''"),
    ],
)
def test_empty_stage_list_is_usage_error(repo, monkeypatch, capsys, args, expected):
    use_stages(monkeypatch, FakeStage("a"), FakeStage("b"))
    assert cli.main(["run", *args]) == 2
    line = error_line(capsys)
    assert line.startswith(f"gauntlet: error: {expected} names no stage; ")
    assert "valid stages: a, b" in line
    assert not (repo / "reports").exists()


def test_skipping_everything_is_usage_error(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"))
    assert cli.main(["run", "--skip", "a"]) == 2
    assert "no stage left to run" in error_line(capsys)


def test_malformed_toml(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"))
    append_config(repo, "jobs = \n")
    assert cli.main(["run"]) == 2
    assert "pyproject.toml: invalid TOML at line 3, column 8" in error_line(capsys)


def test_bad_value(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("coverage"))
    append_config(repo, "[tool.gauntlet.coverage]\nfail_under = 'ninety'\n")
    assert cli.main(["run"]) == 2
    expected = "gauntlet: error: [tool.gauntlet.coverage] fail_under = 'ninety' is invalid: expected a number from 0 to 100"
    assert error_line(capsys) == expected


def test_missing_source_path(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"))
    (repo / "pyproject.toml").write_text("[tool.gauntlet]\npaths = ['nowhere']\n", encoding="utf-8")
    assert cli.main(["run"]) == 2
    assert "source path 'nowhere' does not exist" in error_line(capsys)


def test_bad_jobs_flag(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"))
    assert cli.main(["run", "--jobs", "-1"]) == 2
    assert error_line(capsys) == "gauntlet: error: --jobs = -1 is invalid: expected an integer >= 1"


def test_missing_tool_exits_3(repo, monkeypatch, capsys):
    use_stages(monkeypatch, fake_stages.MissingToolStage("tool"))
    assert cli.main(["run"]) == 3
    captured = capsys.readouterr()
    assert "--- tool error, last line of " in captured.out
    assert "gauntlet: error: stage tool: tool not found on PATH: 'gauntlet-no-such-tool-xyz'" in (
        captured.err
    )


def test_stage_message_printed_once(repo, monkeypatch, capsys):
    use_stages(
        monkeypatch,
        FakeStage("bad", Status.FAILED, findings=1),
        fake_stages.MissingToolStage("tool"),
    )
    cli.main(["run"])
    captured = capsys.readouterr()
    output = (captured.out + captured.err).splitlines()
    assert len([line for line in output if "gate tripped" in line]) == 1, output
    assert len([line for line in output if "gauntlet-no-such-tool-xyz" in line]) == 1, output


def test_stage_problems_are_logged_to_stderr(repo, monkeypatch, capsys):
    use_stages(
        monkeypatch,
        FakeStage("good"),
        FakeStage("bad", Status.FAILED, findings=1),
        fake_stages.MissingToolStage("tool"),
        FakeStage("later", needs=("tool",)),
    )
    assert cli.main(["run"]) == 3
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "gauntlet: warning: stage bad failed: gate tripped"
    assert lines[1].startswith(
        "gauntlet: error: stage tool: tool not found on PATH: 'gauntlet-no-such-tool-xyz'; "
    )
    assert len(lines) == 2
    assert "--- tool error" in captured.out
    assert ["bad", "failed", "1", "0.0", "s"] in [
        line.split() for line in captured.out.splitlines()
    ]


def test_stage_import_failure_exits_3(repo, monkeypatch, capsys):
    def broken():
        raise ModuleNotFoundError("No module named 'gauntlet.stages.nope'")

    monkeypatch.setattr(stage_registry, "all_stages", broken)
    assert cli.main(["list"]) == 3
    assert error_line(capsys).startswith("gauntlet: error: cannot load the stages: No module named")


def test_list_shows_needs_and_gates(repo, monkeypatch, capsys):
    use_stages(monkeypatch, FakeStage("a"), FakeStage("b", needs=("a",)))
    append_config(
        repo,
        "[tool.gauntlet.b]\nfail_under = 42\ntimeout = 30\n[tool.gauntlet.a]\nenabled = false\n",
    )
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["a", "-", "900", "s", "disabled", "(enabled", "=", "false)"]
    assert lines[2].split() == ["b", "a", "30", "s", "fake:", "fails", "below", "42"]


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"gauntlet {__version__}"


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "usage: gauntlet" in capsys.readouterr().out


def test_clean_reports_what_it_removed(repo, monkeypatch, capsys):
    calls = []

    def clean_leftovers(run_id=None):
        calls.append(run_id)
        return types.SimpleNamespace(
            summary=lambda: "removed 1 container(s), stopped 2 process(es), removed 3 image(s)",
            problems=["docker is not running"],
        )

    monkeypatch.setitem(
        sys.modules, "gauntlet.deploy", types.SimpleNamespace(clean_leftovers=clean_leftovers)
    )
    assert cli.main(["clean", "--run-id", "r1"]) == 0
    captured = capsys.readouterr()
    assert calls == ["r1"]
    assert captured.out.strip() == (
        "removed 1 container(s), stopped 2 process(es), removed 3 image(s)"
    )
    assert "docker is not running" in captured.err


def test_init_passes_arguments(monkeypatch):
    received = []
    module = types.SimpleNamespace(main=lambda argv: received.append(argv) or 0)
    monkeypatch.setitem(sys.modules, "gauntlet.init", module)
    assert cli.main(["init", "--force", "some/dir"]) == 0
    assert received == [["--force", "some/dir"]]


def test_missing_optional_module_is_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gauntlet.init", None)
    real_import = cli.importlib.import_module

    def fake_import(name):
        if name == "gauntlet.init":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name)

    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["init"]) == 3
    assert (
        error_line(capsys)
        == "gauntlet: error: gauntlet init is not available: this installation of the kit has no gauntlet.init"
    )


def test_setup_skips_absent_scripts(repo, monkeypatch, capsys):
    monkeypatch.setattr(cli, "SETUP_SCRIPTS", ("no-such-script.sh",))
    assert cli.main(["setup"]) == 0
    assert "skipping no-such-script.sh" in capsys.readouterr().err


# --- real processes -------------------------------------------------------------------------


def gauntlet_process(repo: Path, stages_code: str, *args: str, **popen) -> subprocess.Popen:
    """Start ``python -m gauntlet`` in ``repo`` with the registry that ``stages_code`` builds."""
    hook_dir = repo / ".hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(TESTS_DIR)!r})
            import fake_stages
            from fake_stages import *
            import gauntlet.stages
            gauntlet.stages.all_stages = lambda: fake_stages.registry({stages_code})
            """),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(hook_dir)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet", *args],
        cwd=repo,
        env=env,
        # Start with SIGINT ignored, as a shell starts a background command.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=popen.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def wait_for(condition, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_tools_and_writes_reports(repo, signum):
    out_path = repo / "stdout.txt"
    with open(out_path, "w", encoding="utf-8") as out:
        child = gauntlet_process(
            repo, 'FakeStage("quick"), HangingToolStage("hang")', "run", "--jobs", "2", stdout=out
        )
        pid_file = repo / "reports" / "hang" / "child.pid"
        wait_for(
            lambda: pid_file.is_file()
            and pid_file.read_text()
            and "quick: passed" in out_path.read_text()
        )
        tool_pids = fake_stages.tool_pids(pid_file)
        child.send_signal(signum)
        _, err = child.communicate(timeout=30)

    summary = json.loads((repo / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert child.returncode == 130
    assert "Traceback" not in err
    assert [pid for pid in tool_pids if fake_stages.pid_alive(pid)] == []
    assert [stage["name"] for stage in summary["stages"]] == ["quick"]
    assert summary["unfinished"] == ["hang"]
    assert summary["exit_code"] == 130
    assert (repo / "reports" / "junit.xml").is_file()
    assert ["hang", "interrupted", "-", "-"] in [
        line.split() for line in out_path.read_text().splitlines()
    ]


def test_closed_stdout_finishes_run_quietly(repo):
    append_config(repo, "jobs = 3\n[tool.gauntlet.slow]\nseconds = 1\n")
    append_config(repo, "[tool.gauntlet.hang]\ntimeout = 2\n")
    child = gauntlet_process(
        repo, 'FakeStage("quick"), FakeStage("slow"), HangingToolStage("hang")', "run"
    )
    pid_file = repo / "reports" / "hang" / "child.pid"
    assert child.stdout is not None
    child.stdout.readline()
    wait_for(lambda: pid_file.is_file() and pid_file.read_text())
    child.stdout.close()  # as `head -1` does after its first line
    _, err = child.communicate(timeout=60)

    alive = [pid for pid in fake_stages.tool_pids(pid_file) if fake_stages.pid_alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)  # so that a failing test leaves no sleep behind
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert child.returncode == 3
    assert alive == []
    summary = json.loads((repo / "reports" / "summary.json").read_text(encoding="utf-8"))
    assert [stage["name"] for stage in summary["stages"]] == ["quick", "slow", "hang"]


@pytest.mark.parametrize(
    ("config_text", "args", "expected"),
    [
        ("[tool.gauntlet\n", ["run"], "invalid TOML at line 4"),
        (
            "",
            ["run", "--only", "quick,nope"],
            "unknown stage 'nope' in --only; valid stages: quick",
        ),
        (
            "[tool.gauntlet.quick]\nfail_under = 'ninety'\n",
            ["run"],
            "fail_under = 'ninety' is invalid: expected a number from 0 to 100",
        ),
    ],
)
def test_bad_input_in_real_process(repo, config_text, args, expected):
    (repo / "pyproject.toml").write_text(
        "[tool.gauntlet]\npaths = ['pkg']\n\n" + config_text, encoding="utf-8"
    )
    child = gauntlet_process(repo, 'FakeStage("quick")', *args)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 2
    assert err.count("\n") == 1
    assert expected in err
    assert "Traceback" not in err


def real_gauntlet(repo: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m gauntlet`` with the kit's real stage registry."""
    env = {**os.environ}
    env.pop("GITHUB_STEP_SUMMARY", None)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        (
            "[tool.gauntlet.coverage]\nfail_under = 'ninety'\n",
            "[tool.gauntlet.coverage] fail_under = 'ninety' is invalid: expected a number from 0 to 100",
        ),
        ("[tool.gauntlet]\npaths = ['nowhere']\n", "source path 'nowhere' does not exist"),
        ("[tool.gauntlet]\npaths = [\n", "invalid TOML at line 2 (end of file)"),
    ],
)
def test_bad_input_with_real_stages(repo, config_text, expected):
    (repo / "pyproject.toml").write_text(config_text, encoding="utf-8")
    completed = real_gauntlet(repo, "run")
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert expected in completed.stderr


def test_tool_missing_from_path_with_real_stages(repo):
    completed = real_gauntlet(repo, "run", "--only", "format", path="/nonexistent")
    assert completed.returncode == 3
    assert "Traceback" not in completed.stderr
    assert "--- format error, last line of " in completed.stdout
    assert "'black'" not in completed.stdout
    assert "gauntlet: error: stage format: tool not found on PATH: 'black'" in completed.stderr
