"""The overhead benchmark (python -m hpprune.bench.overhead) on tiny studies."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from hpprune.bench import overhead


def test_sqlite_bulk_fill_equals_the_in_memory_fill(tmp_path: Path) -> None:
    mem = optuna.load_study(study_name="bench", storage=overhead._populate_memory(25, 10, seed=3))
    url = overhead._populate_sqlite(tmp_path / "b.db", 25, 10, seed=3)
    storage = optuna.storages.RDBStorage(url)
    sql = optuna.load_study(study_name="bench", storage=storage)
    a, b = mem.get_trials(deepcopy=False), sql.get_trials(deepcopy=False)
    assert len(a) == len(b) == 25
    for x, y in zip(a, b, strict=True):
        assert (x.number, x.state, x.params) == (y.number, y.state, y.params)
        assert x.values == pytest.approx(y.values)
        assert x.intermediate_values == pytest.approx(y.intermediate_values)
        assert x.system_attrs == pytest.approx(y.system_attrs)
    assert set(a[0].system_attrs) == {"completed_rung_0", "completed_rung_1", "completed_rung_2"}
    storage.engine.dispose()


def test_run_measures_every_cell() -> None:
    cells = overhead.run(sizes=[30], storages=["memory"], steps=4, budget_s=0.2)
    cells += overhead.run(
        sizes=[30], storages=["sqlite"], steps=4, budget_s=0.2, pruners=["hpprune", "Median"]
    )
    assert [(c.storage, c.pruner) for c in cells] == [
        *(("memory", p) for p in overhead.PRUNERS if not p.startswith("hpprune+db")),
        ("sqlite", "hpprune"),
        ("sqlite", "Median"),
    ]
    for c in cells:
        assert c.n_finished == 30
        assert c.n_calls == 3
        for x in (c.report_us, c.should_prune_us, c.first_call_ms):
            assert math.isfinite(x) and x > 0
    text = overhead.table(cells)
    assert text.count("\n") == 1 + len(cells)
    assert "| memory | 30 | hpprune | " in text and "1.0x" in text


def test_database_log_row_and_results_page(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    code = overhead.main(
        [
            "--sizes", "20", "--steps", "4", "--budget-s", "0.1", "--storages", "sqlite",
            "--pruners", "hpprune+log", "hpprune+db", "Median", "--markdown", str(page),
        ]
    )  # fmt: skip
    assert code == 0
    text = page.read_text()
    assert "| sqlite | 20 | hpprune+db |" in text
    assert "- sqlite: " in text  # the commit floor measured in the same run


def test_main_prints_a_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_json = tmp_path / "cells.json"
    code = overhead.main(
        [
            "--sizes",
            "20",
            "--steps",
            "4",
            "--budget-s",
            "0.1",
            "--storages",
            "memory",
            "--pruners",
            "hpprune",
            "Median",
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| memory | 20 | Median |" in out
    assert out_json.exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"storages": ["redis"]}, "storages"), ({"pruners": ["Wilcoxon"]}, "pruners")],
)
def test_run_rejects_unknown_names(kwargs: dict[str, list[str]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        overhead.run(sizes=[5], steps=4, **kwargs)  # type: ignore[arg-type]


def test_main_rejects_bad_sizes() -> None:
    with pytest.raises(SystemExit) as info:
        overhead.main(["--sizes", "0"])
    assert info.value.code == 2
