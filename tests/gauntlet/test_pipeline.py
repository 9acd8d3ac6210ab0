"""Tests of gauntlet.pipeline with fake stages: order, parallelism, skips, timeouts, cancel."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

import fake_stages
from fake_stages import FakeStage
from gauntlet import config, pipeline
from gauntlet.errors import GauntletError, UsageError
from gauntlet.pipeline import Pipeline, RunOutcome
from gauntlet.stage import StageContext, StageResult, Status


def run(
    tmp_path: Path, stages: dict, toml: str = "", selected: list[str] | None = None, **kwargs
) -> RunOutcome:
    (tmp_path / "pkg").mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.gauntlet]\npaths = ['pkg']\n" + toml, encoding="utf-8"
    )
    loaded = config.load(tmp_path, stages, env={})
    return Pipeline(stages, loaded, selected or list(stages), **kwargs).run()


def by_name(outcome: RunOutcome) -> dict[str, StageResult]:
    return {result.name: result for result in outcome.results}


def test_needs_finish_before_dependent_starts(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"), FakeStage("c", needs=("a", "b")))
    results = by_name(run(tmp_path, stages, "[tool.gauntlet.a]\nseconds = 0.3\n"))
    assert results["c"].details["started"] >= results["a"].details["ended"]
    assert results["c"].details["started"] >= results["b"].details["ended"]
    assert results["c"].details["upstream"] == ["a", "b"]


def test_independent_stages_overlap(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"))
    toml = "jobs = 2\n[tool.gauntlet.a]\nseconds = 0.5\n[tool.gauntlet.b]\nseconds = 0.5\n"
    results = by_name(run(tmp_path, stages, toml))
    a, b = results["a"].details, results["b"].details
    assert a["started"] < b["ended"]
    assert b["started"] < a["ended"]


def test_one_job_runs_stages_one_at_a_time(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"))
    toml = "jobs = 1\n[tool.gauntlet.a]\nseconds = 0.2\n[tool.gauntlet.b]\nseconds = 0.2\n"
    results = by_name(run(tmp_path, stages, toml))
    assert results["b"].details["started"] >= results["a"].details["ended"]


def test_stage_with_dependents_starts_first(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"), FakeStage("c", needs=("b",)))
    results = by_name(run(tmp_path, stages, "jobs = 1\n"))
    assert results["a"].details["started"] >= results["b"].details["ended"]
    assert results["c"].details["started"] >= results["b"].details["ended"]


def test_unselected_need_is_ignored(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("c", needs=("a",)))
    outcome = run(tmp_path, stages, selected=["c"])
    assert [result.name for result in outcome.results] == ["c"]
    assert outcome.results[0].status is Status.PASSED
    assert outcome.results[0].details["upstream"] == []


def test_required_uses_options(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("c"))
    toml = "[tool.gauntlet.a]\nseconds = 0.2\n[tool.gauntlet.c]\nneeds_extra = ['a']\n"
    results = by_name(run(tmp_path, stages, toml))
    assert results["c"].details["started"] >= results["a"].details["ended"]


@pytest.mark.parametrize("need_status", [Status.ERROR])
def test_need_error_skips_dependent(tmp_path, need_status):
    stages = fake_stages.registry(
        FakeStage("a", need_status), FakeStage("b", needs=("a",)), FakeStage("c", needs=("b",))
    )
    results = by_name(run(tmp_path, stages))
    assert results["b"].status is Status.SKIPPED
    assert results["b"].message == "needs a, which ended error"
    assert results["c"].message == "needs b, which ended skipped"


def test_need_error_runs_tolerant_dependent(tmp_path):
    tolerant = FakeStage("b", needs=("a",))
    tolerant.runs_after_need_error = True
    stages = fake_stages.registry(FakeStage("a", Status.ERROR), tolerant)
    results = by_name(run(tmp_path, stages))
    assert results["b"].status is Status.PASSED
    assert results["b"].details["upstream"] == ["a"]


def test_need_skipped_skips_tolerant_dependent(tmp_path):
    tolerant = FakeStage("b", needs=("a",))
    tolerant.runs_after_need_error = True
    stages = fake_stages.registry(FakeStage("a", Status.SKIPPED), tolerant)
    results = by_name(run(tmp_path, stages))
    assert results["b"].status is Status.SKIPPED
    assert results["b"].message == "needs a, which ended skipped"


def test_need_failed_still_runs_dependent(tmp_path):
    stages = fake_stages.registry(FakeStage("a", Status.FAILED), FakeStage("b", needs=("a",)))
    outcome = run(tmp_path, stages)
    assert by_name(outcome)["b"].status is Status.PASSED
    assert outcome.exit_code == 1


def test_disabled_stage_is_skipped_and_ignored_as_need(tmp_path):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b", needs=("a",)))
    results = by_name(run(tmp_path, stages, "[tool.gauntlet.a]\nenabled = false\n"))
    assert results["a"].status is Status.SKIPPED
    assert results["a"].message == "disabled (enabled = false in [tool.gauntlet.a])"
    assert results["b"].status is Status.PASSED


def test_fail_fast_cancels_running_and_pending(tmp_path):
    stages = fake_stages.registry(
        FakeStage("bad", Status.FAILED), FakeStage("slow"), FakeStage("later", needs=("slow",))
    )
    toml = "jobs = 2\nfail_fast = true\n[tool.gauntlet.slow]\nseconds = 30\n"
    outcome = run(tmp_path, stages, toml)
    results = by_name(outcome)
    assert results["bad"].status is Status.FAILED
    assert results["slow"].status is Status.SKIPPED
    assert results["slow"].message == "cancelled by --fail-fast"
    assert results["slow"].duration_s < 30
    assert results["later"].message == "cancelled by --fail-fast"
    assert outcome.exit_code == 1


def test_without_fail_fast_every_stage_runs(tmp_path):
    stages = fake_stages.registry(FakeStage("bad", Status.FAILED), FakeStage("good"))
    outcome = run(tmp_path, stages)
    assert [result.status for result in outcome.results] == [Status.FAILED, Status.PASSED]


def test_timeout_kills_tool_process_group(tmp_path):
    stages = fake_stages.registry(fake_stages.HangingToolStage("hang"), FakeStage("other"))
    outcome = run(tmp_path, stages, "[tool.gauntlet.hang]\ntimeout = 1\n")
    result = by_name(outcome)["hang"]
    pids = fake_stages.tool_pids(tmp_path / "reports" / "hang" / "child.pid")
    assert result.status is Status.ERROR
    assert result.message.startswith("timed out after 1 s: ")
    assert re.findall(r"[0-9.]+ s\b", result.message) == ["1 s"]
    # The pipeline's cancel and the tool's own deadline race: either one kills the tool.
    assert result.message.endswith("killed")
    assert len(pids) == 2
    assert [pid for pid in pids if fake_stages.pid_alive(pid)] == []
    assert by_name(outcome)["other"].status is Status.PASSED
    assert outcome.log_path("other").read_text(encoding="utf-8").endswith("\nother log line\n")
    assert "# gauntlet: timed out after 1 s" in outcome.log_path("hang").read_text(encoding="utf-8")
    assert outcome.exit_code == 3


def test_stage_ignoring_cancel_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "ABANDON_GRACE_S", 0.2)
    stages = fake_stages.registry(fake_stages.PythonHangStage("stuck"))
    outcome = run(tmp_path, stages, "[tool.gauntlet.stuck]\ntimeout = 0.2\nseconds = 20\n")
    result = outcome.results[0]
    assert result.status is Status.ERROR
    assert result.message == "timed out after 0.2 s and did not stop within 0.2 s of cancellation"


def test_stage_log_starts_with_header(tmp_path):
    outcome = run(
        tmp_path, fake_stages.registry(FakeStage("a")), "[tool.gauntlet.a]\ntimeout = 30\n"
    )
    first_line = outcome.log_path("a").read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith(
        f"# gauntlet: stage a of run {outcome.settings.run_id} started at "
    )
    assert first_line.endswith(", timeout 30 s")


def test_unexpected_exception_is_error_with_traceback_in_log(tmp_path):
    stages = fake_stages.registry(fake_stages.CrashingStage("crash"))
    outcome = run(tmp_path, stages)
    result = outcome.results[0]
    log_text = outcome.log_path("crash").read_text(encoding="utf-8")
    assert result.status is Status.ERROR
    assert result.message.startswith("internal error: ZeroDivisionError: boom in a stage")
    assert "Traceback (most recent call last)" in log_text
    assert "Traceback" not in result.message


def test_missing_tool_is_error(tmp_path):
    stages = fake_stages.registry(fake_stages.MissingToolStage("tool"))
    outcome = run(tmp_path, stages)
    assert outcome.results[0].status is Status.ERROR
    assert outcome.results[0].message.startswith(
        "tool not found on PATH: 'gauntlet-no-such-tool-xyz'"
    )
    assert outcome.exit_code == 3


def test_interrupt_keeps_finished_and_kills_tools(tmp_path):
    class InterruptAfterFirst:
        def stage_started(self, name):
            pass

        def stage_finished(self, result):
            self.finished = result.name

        def tick(self, running):
            pid_file = tmp_path / "reports" / "hang" / "child.pid"
            if getattr(self, "finished", None) and pid_file.exists() and pid_file.read_text():
                raise KeyboardInterrupt

    stages = fake_stages.registry(FakeStage("quick"), fake_stages.HangingToolStage("hang"))
    outcome = run(tmp_path, stages, "jobs = 2\n", listener=InterruptAfterFirst())
    pids = fake_stages.tool_pids(tmp_path / "reports" / "hang" / "child.pid")
    assert outcome.interrupted is True
    assert [result.name for result in outcome.results] == ["quick"]
    assert outcome.unfinished == ["hang"]
    assert [pid for pid in pids if fake_stages.pid_alive(pid)] == []
    assert outcome.exit_code == 130


def test_listener_error_kills_tools_and_cancels_stages(tmp_path):
    class BrokenListener:
        def stage_started(self, name):
            pass

        def stage_finished(self, result):
            raise RuntimeError("listener broke")

        def tick(self, running):
            pass

    stages = fake_stages.registry(fake_stages.HangingToolStage("hang"), FakeStage("wait"))
    toml = "jobs = 2\n[tool.gauntlet.wait]\nseconds = 1\n"
    with pytest.raises(RuntimeError, match="listener broke"):
        run(tmp_path, stages, toml, listener=BrokenListener())
    pids = fake_stages.tool_pids(tmp_path / "reports" / "hang" / "child.pid")
    alive = [pid for pid in pids if fake_stages.pid_alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)  # so that a failing test leaves no sleep behind
    assert alive == []


def test_run_cleans_previous_results_but_keeps_history(tmp_path):
    reports = tmp_path / "reports"
    for name in [
        "unit/old.txt",
        "gone/old.txt",
        "allure-results/x.json",
        "coverage-data/.coverage.1",
        "allure-report/index.html",
    ]:
        (reports / name).parent.mkdir(parents=True, exist_ok=True)
        (reports / name).write_text("old", encoding="utf-8")
    for name in [
        "summary.json",
        "summary.md",
        "gauntlet.sarif",
        "junit.xml",
        "allure-history.jsonl",
        "notes.txt",
    ]:
        (reports / name).write_text("old", encoding="utf-8")

    stages = fake_stages.registry(FakeStage("unit"), FakeStage("gone"))
    run(tmp_path, stages, selected=["unit"])
    remaining = sorted(path.relative_to(reports).as_posix() for path in reports.rglob("*"))
    assert remaining == [
        ".gauntlet-reports",
        "allure-history.jsonl",
        "notes.txt",
        "unit",
        "unit/unit.log",
    ]


class DataWriterStage(FakeStage):
    """Writes a coverage data file and an Allure result, as unit and bdd do."""

    def run(self, ctx: StageContext) -> StageResult:
        for directory, name in [
            (ctx.settings.coverage_data_dir, f".coverage.{self.name}"),
            (ctx.settings.allure_results_dir, f"{self.name}-result.json"),
        ]:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text("{}", encoding="utf-8")
        return self.result(Status.PASSED)


class DataReaderStage(FakeStage):
    """Records the coverage data files it finds, as coverage combines them."""

    def run(self, ctx: StageContext) -> StageResult:
        data_dir = ctx.settings.coverage_data_dir
        found = sorted(path.name for path in data_dir.glob(".coverage.*"))
        return self.result(Status.PASSED, data_files=found)


def data_stages() -> dict:
    return fake_stages.registry(
        DataWriterStage("unit"),
        DataWriterStage("bdd"),
        FakeStage("lint"),
        DataReaderStage("coverage", needs=("unit", "bdd")),
    )


def test_only_coverage_keeps_unit_data(tmp_path):
    run(tmp_path, data_stages(), selected=["unit"])
    outcome = run(tmp_path, data_stages(), selected=["coverage"])
    assert by_name(outcome)["coverage"].details["data_files"] == [".coverage.unit"]
    assert (tmp_path / "reports" / "allure-results" / "unit-result.json").is_file()


def test_rerun_of_writer_clears_shared_data(tmp_path):
    run(tmp_path, data_stages(), selected=["unit", "bdd"])
    outcome = run(tmp_path, data_stages(), selected=["bdd", "coverage"])
    assert by_name(outcome)["coverage"].details["data_files"] == [".coverage.bdd"]
    assert not (tmp_path / "reports" / "allure-results" / "unit-result.json").exists()


def test_unrelated_stage_keeps_shared_data(tmp_path):
    run(tmp_path, data_stages(), selected=["unit"])
    run(tmp_path, data_stages(), selected=["lint"])
    assert (tmp_path / "reports" / "coverage-data" / ".coverage.unit").is_file()


def test_run_rejects_unmarked_reports_dir(tmp_path):
    reports = tmp_path / "reports"
    (reports / "a").mkdir(parents=True)
    (reports / "a" / "thesis.tex").write_text("mine", encoding="utf-8")
    (reports / "notes.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        run(tmp_path, fake_stages.registry(FakeStage("a")))

    assert str(caught.value).startswith(f"reports directory {reports} is not empty")
    assert "--reports" in str(caught.value)
    assert (reports / "a" / "thesis.tex").read_text(encoding="utf-8") == "mine"
    assert not (reports / ".gauntlet-reports").exists()


def test_run_cleans_marked_reports_dir(tmp_path):
    reports = tmp_path / "reports"
    (reports / "a").mkdir(parents=True)
    (reports / "a" / "old.txt").write_text("old", encoding="utf-8")
    (reports / ".gauntlet-reports").write_text("", encoding="utf-8")

    run(tmp_path, fake_stages.registry(FakeStage("a")))

    assert not (reports / "a" / "old.txt").exists()


def test_run_accepts_empty_reports_dir(tmp_path):
    (tmp_path / "reports").mkdir()
    outcome = run(tmp_path, fake_stages.registry(FakeStage("a")))
    assert outcome.exit_code == 0


def test_run_writes_reports_marker(tmp_path):
    run(tmp_path, fake_stages.registry(FakeStage("a")))
    marker = tmp_path / "reports" / ".gauntlet-reports"
    assert "gauntlet run" in marker.read_text(encoding="utf-8")


def test_reports_path_that_is_a_file(tmp_path):
    (tmp_path / "reports").write_text("not a directory", encoding="utf-8")
    with pytest.raises(GauntletError) as caught:
        run(tmp_path, fake_stages.registry(FakeStage("a")))
    assert str(caught.value).startswith(
        f"cannot prepare the reports directory {tmp_path / 'reports'}:"
    )


def test_select_stages_keeps_pipeline_order():
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"), FakeStage("c"))
    assert pipeline.select_stages(stages, only=["c", "a"]) == ["a", "c"]
    assert pipeline.select_stages(stages, skip=["b"]) == ["a", "c"]


@pytest.mark.parametrize("flag", ["only", "skip"])
def test_select_unknown_stage_is_usage_error(flag):
    stages = fake_stages.registry(FakeStage("a"), FakeStage("b"))
    with pytest.raises(UsageError) as caught:
        pipeline.select_stages(stages, **{flag: ["a", "nope"]})
    assert str(caught.value) == f"unknown stage 'nope' in --{flag}; valid stages: a, b"


def test_cycle_is_reported(tmp_path):
    stages = fake_stages.registry(FakeStage("a", needs=("b",)), FakeStage("b", needs=("a",)))
    with pytest.raises(GauntletError) as caught:
        run(tmp_path, stages)
    assert str(caught.value) == "stage needs form a cycle: a -> b -> a; fix the stages' needs"


@pytest.mark.parametrize(
    ("statuses", "interrupted", "expected"),
    [
        ([Status.PASSED, Status.SKIPPED], False, 0),
        ([Status.PASSED, Status.FAILED], False, 1),
        ([Status.FAILED, Status.ERROR], False, 3),
        ([Status.PASSED], True, 130),
        ([], False, 0),
    ],
)
def test_exit_code_mapping(tmp_path, statuses, interrupted, expected):
    results = [StageResult(f"s{index}", status) for index, status in enumerate(statuses)]
    settings = config.RunSettings(root=tmp_path, reports_dir=tmp_path / "reports", run_id="r")
    outcome = RunOutcome(
        settings, results, [result.name for result in results], interrupted=interrupted
    )
    assert outcome.exit_code == expected


def test_outcome_records_each_stage_tool(tmp_path):
    class BlackStage(FakeStage):
        tool = "black"

    stages = fake_stages.registry(BlackStage("format"), FakeStage("plain"))
    outcome = run(tmp_path, stages)
    assert outcome.tools == {"format": "black"}


def test_run_id_is_unique():
    assert pipeline.new_run_id() != pipeline.new_run_id()
