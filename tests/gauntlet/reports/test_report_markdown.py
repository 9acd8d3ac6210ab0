"""Tests of gauntlet.reports.markdown: the table and the GitHub step summary."""

from __future__ import annotations

from gauntlet.reports import markdown, write_reports


def test_markdown_table_rows(outcome):
    text = markdown.write(outcome).read_text(encoding="utf-8")
    assert text.startswith("## gauntlet: error (exit 3)\n")
    assert "| lint | ❌ failed | 2 | 2.5 s |" in text
    assert "| coverage | ⏭️ skipped | 0 | 0.0 s |" in text


def test_markdown_escapes_pipes(outcome):
    text = markdown.render(outcome)
    assert "q is injectable \\| boolean-based" in text


def test_markdown_lists_messages(outcome):
    assert "- **unit** (error): pytest collected no tests" in markdown.render(outcome)


def test_step_summary_is_appended(outcome, tmp_path, monkeypatch):
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    assert markdown.append_step_summary(outcome) == step_summary
    text = step_summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## gauntlet: error (exit 3)")


def test_step_summary_unset_writes_nothing(outcome):
    assert markdown.append_step_summary(outcome) is None


def test_unwritable_step_summary_warning(outcome, tmp_path, monkeypatch):
    # Opening a directory for appending fails even for root.
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))
    write_reports(outcome)
    assert (outcome.settings.reports_dir / "summary.md").is_file()
    assert len(outcome.warnings) == 1, outcome.warnings
    assert outcome.warnings[0].startswith("job summary $GITHUB_STEP_SUMMARY was not written: ")
    assert str(tmp_path) in outcome.warnings[0]


def test_findings_are_capped(outcome, monkeypatch):
    monkeypatch.setattr(markdown, "MAX_FINDINGS", 2)
    assert "| … | | | | 3 more in summary.json |" in markdown.render(outcome)
