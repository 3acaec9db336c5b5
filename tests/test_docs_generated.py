"""Numbers in docs/ come from files the benchmarks wrote: generated blocks match their files."""

from __future__ import annotations

from pathlib import Path

from hpprune.bench import docs

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_generated_block_in_docs_matches_its_file() -> None:
    assert docs.stale_pages(DOCS) == [], "run: python -m hpprune.bench.docs"


def test_render_replaces_a_block_and_check_reports_a_stale_page(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.md").write_text("# Title\n| a | b |\n")
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- generated: results/t.md -->\nold\n<!-- end generated -->\nend\n")
    assert docs.main([str(tmp_path), "--check"]) == 1
    assert docs.main([str(tmp_path)]) == 0
    assert page.read_text() == (
        "intro\n<!-- generated: results/t.md -->\n#### Title\n| a | b |\n"
        "<!-- end generated -->\nend\n"
    )
    assert docs.main([str(tmp_path), "--check"]) == 0


def test_a_missing_source_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text("<!-- generated: nope.md -->\n<!-- end generated -->\n")
    assert docs.main([str(tmp_path), "--check"]) == 2
