"""Tests of gauntlet.stage: the StageContext helpers that stages share."""

from __future__ import annotations

import threading
import time

from gauntlet.stage import RunSettings, StageContext


def make_context(tmp_path) -> StageContext:
    """Return a context for a stage named ``unit`` under ``tmp_path``."""
    settings = RunSettings(root=tmp_path, reports_dir=tmp_path / "reports", run_id="run-1")
    out_dir = settings.reports_dir / "unit"
    return StageContext(
        settings=settings,
        options=None,
        out_dir=out_dir,
        cancel=threading.Event(),
        timeout_s=60.0,
        deadline=time.monotonic() + 60.0,
        log_path=out_dir / "unit.log",
    )


def test_fresh_coverage_data_file_path(tmp_path):
    ctx = make_context(tmp_path)

    data_file = ctx.fresh_coverage_data_file(".coverage.unit")

    assert data_file == tmp_path / "reports" / "coverage-data" / ".coverage.unit"
    assert data_file.parent.is_dir()


def test_fresh_coverage_data_file_keeps_other_stages(tmp_path):
    ctx = make_context(tmp_path)
    data_dir = ctx.settings.coverage_data_dir
    data_dir.mkdir(parents=True)
    stale = data_dir / ".coverage.unit.host.1.abc"
    stale.write_text("stale", encoding="utf-8")
    other_stage = data_dir / ".coverage.bdd.host.2.def"
    other_stage.write_text("kept", encoding="utf-8")

    ctx.fresh_coverage_data_file(".coverage.unit")

    assert not stale.exists()
    assert other_stage.exists()
