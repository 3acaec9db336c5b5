"""The calibration picture of a study's own log (hpprune.audit.calibration_view)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hpprune import BayesianPruner, Engine, MedianPruner
from hpprune.audit.calibration_view import calibration_view, reliability_bins
from hpprune.audit.facts import load_records
from hpprune.audit.log import LogFormatError
from hpprune.pruners.base import Policy


def _study(policy: Policy, log: Path, n: int = 40) -> Engine:
    rng = np.random.default_rng(0)
    engine = Engine(policy, direction="maximize", log=log)
    for i in range(n):
        final = rng.uniform(0.5, 0.9)
        for step in range(1, 11):
            value = final - 0.4 * np.exp(-step / 3) + rng.normal(0, 0.01)
            if engine.report(f"t{i}", step, float(value)).stops:
                break
        else:
            engine.complete(f"t{i}")
    engine.close()
    return engine


def test_view_agrees_with_the_live_pruner(tmp_path: Path) -> None:
    log = tmp_path / "study.jsonl"
    live = BayesianPruner(n_startup_trials=3, n_keep=0, n_warmup_steps=2)
    engine = _study(live, log)
    view = calibration_view(load_records(log))
    recs = live.prequential_records(engine.study)
    assert view.model == "the study's BayesianPruner"
    assert view.n == len(recs) > 20
    assert view.n_trials == len({r["trial_id"] for r in recs})
    assert 3 < view.n_trials <= engine.study.n_completed
    bins, ece, _ = reliability_bins(
        [r["p_improve_raw"] for r in recs], [r["outcome"] for r in recs]
    )
    assert view.ece == pytest.approx(ece) and view.bins == bins
    m = live.recalibration(engine.study)
    assert view.recalibration == (m.a, m.b, m.n_trials)
    assert view.to_dict()["n"] == view.n


def test_view_of_a_study_without_a_posterior(tmp_path: Path) -> None:
    log = tmp_path / "median.jsonl"
    _study(MedianPruner(n_startup_trials=3, n_warmup_steps=3), log)
    view = calibration_view(load_records(log))
    assert view.model == "BayesianPruner()"
    assert view.n > 0 and 0.0 <= view.ece <= 1.0


def test_empty_study_gives_an_empty_view(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    Engine(BayesianPruner(), log=log).close()
    view = calibration_view(load_records(log))
    assert (view.n, view.n_trials) == (0, 0)
    assert math.isnan(view.ece) and view.to_dict()["ece"] is None


def test_bad_input_is_refused() -> None:
    with pytest.raises(LogFormatError, match="study record"):
        calibration_view([{"kind": "report", "trial": "t", "step": 1, "value": 1.0}])
    with pytest.raises(ValueError, match="length"):
        reliability_bins([0.1], [])
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins([0.1], [1.0], 0)


def test_large_studies_are_capped(tmp_path: Path) -> None:
    log = tmp_path / "study.jsonl"
    engine = _study(BayesianPruner(n_startup_trials=3, n_keep=0, n_warmup_steps=2), log)
    assert engine.study.n_completed > 6
    view = calibration_view(load_records(log), max_trials=6)
    assert 0 < view.n_trials <= 6
    assert view.recalibration is None and view.to_dict()["recalibration"] is None
    with pytest.raises(ValueError, match="max_trials"):
        calibration_view(load_records(log), max_trials=0)


# ------------------------------------------------------------- in the report
def test_report_carries_the_calibration_picture(tmp_path: Path) -> None:
    from hpprune.audit.facts import fold_log
    from hpprune.audit.report import build_report

    log = tmp_path / "study.jsonl"
    _study(BayesianPruner(n_startup_trials=3, n_keep=0, n_warmup_steps=2), log)
    html = build_report(log)
    data = _data_block(html)
    assert data["calibration"] == calibration_view(load_records(log)).to_dict()
    assert data["calibration"]["n"] > 20
    assert 'id="hp-calibration"' in html
    # Built from already folded facts there are no records to recompute from.
    folded = _data_block(build_report(fold_log(log)))
    assert folded["calibration"] is None


def _data_block(html: str) -> dict[str, object]:
    import json
    import re

    m = re.search(r'<script type="application/json" id="hp-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


@pytest.mark.browser
def test_calibration_section_renders_in_headless_chromium(tmp_path: Path) -> None:
    from hpprune.audit.report import write_report
    from tests.audit.test_report import _check_page, _need_chromium

    binary = _need_chromium()
    log = tmp_path / "study.jsonl"
    _study(BayesianPruner(n_startup_trials=3, n_keep=0, n_warmup_steps=2), log)
    page = write_report(log, tmp_path / "report.html")
    dom, _ = _check_page(binary, tmp_path, page)
    assert "ECE " in dom and "completed trials (model: the study's BayesianPruner)" in dom
