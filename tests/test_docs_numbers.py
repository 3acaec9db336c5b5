"""One source for every number: the files under docs/results/ are what the commands wrote.

``sh docs/results/regenerate.sh`` writes them; README and docs cite them instead
of copying figures by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hpprune.audit.facts import fold_log
from hpprune.bench.cli import summary_markdown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def _commands() -> list[str]:
    lines = (RESULTS / "regenerate.sh").read_text().splitlines()
    return [ln for ln in lines if ln.startswith("hpprune ")]


def test_each_generated_file_records_the_documented_command() -> None:
    commands = _commands()
    demo = next(c for c in commands if c.startswith("hpprune demo"))
    bench = next(c for c in commands if "docs/results/bench-quick" in c)
    assert json.loads((RESULTS / "demo.json").read_text())["command"] == demo
    results = json.loads((RESULTS / "bench-quick" / "results.json").read_text())
    assert sorted(results["protocol"]["command"].split()) == sorted(bench.split())


def test_demo_numbers_agree_with_the_demo_log() -> None:
    numbers = json.loads((RESULTS / "demo.json").read_text())
    facts = fold_log(RESULTS / "demo.jsonl")
    assert numbers["trials"] == len(facts.trials)
    assert numbers["fates"] == {k: v for k, v in facts.counts().items() if v}
    assert numbers["steps_run"] == facts.n_reports
    assert numbers["steps_full"] == numbers["trials"] * numbers["epochs"]
    assert numbers["deterministic"] and numbers["workers"] == 1


def test_bench_summary_is_the_generated_one_and_compares_rows() -> None:
    folder = RESULTS / "bench-quick"
    doc = json.loads((folder / "results.json").read_text())
    text = (folder / "summary.md").read_text()
    assert text == summary_markdown(doc)
    assert "NOT met" not in text and "Targets" not in text
    assert "How the methods compare" in text


def test_readme_and_cli_docs_cite_the_files_instead_of_copying() -> None:
    for path in (ROOT / "README.md", ROOT / "docs" / "cli.md"):
        text = path.read_text()
        assert "docs/results/" in text or "results/demo.json" in text, path
        assert "regenerate.sh" in text, path
        # Hand-copied demo figures such as "31 of 40 trials stopped" are gone.
        assert not re.search(r"\d+ of 40 trials", text), path
