"""Stale workers: a trial whose worker vanished stops counting in rungs and peer pools."""

from __future__ import annotations

from pathlib import Path

import hpprune
from hpprune.types import Action, TrialState


def _halving_engine() -> hpprune.Engine:
    return hpprune.Engine(
        hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2, bootstrap_count=0)
    )


def test_stale_trial_no_longer_holds_a_rung_place() -> None:
    engine = _halving_engine()
    # A strong trial reaches rung 1 (step 1) and its worker then vanishes.
    engine.report("ghost", 0, 0.10)
    assert engine.report("ghost", 1, 0.10).action is Action.CONTINUE
    engine.report("a", 0, 0.50)
    # With the ghost in the rung, "a" is not in the top half: stopped.
    assert engine.report("a", 1, 0.50).action is Action.STOP

    fresh = _halving_engine()
    fresh.report("ghost", 0, 0.10)
    fresh.report("ghost", 1, 0.10)
    fresh.mark_stale("ghost")
    assert fresh.state("ghost") is TrialState.STALE
    fresh.report("b", 0, 0.50)
    # Without it, "b" is alone at the rung and is promoted.
    assert fresh.report("b", 1, 0.50).action is Action.CONTINUE
    assert fresh.study.scores_from(1, "all") == [0.50]


def test_stale_by_silence_then_back() -> None:
    engine = _halving_engine()
    engine.report("ghost", 0, 0.10)
    engine.report("ghost", 1, 0.10)
    assert engine.mark_stale_trials(stale_after_s=30.0, now=10**12) == ["ghost"]
    engine.report("b", 0, 0.50)
    assert engine.report("b", 1, 0.50).action is Action.CONTINUE
    # The worker comes back: the ghost reports again and counts again.
    engine.report("ghost", 2, 0.09)
    assert engine.state("ghost") is TrialState.RUNNING
    assert sorted(engine.study.scores_from(1, "all")) == [0.10, 0.50]


def test_stale_trials_do_not_enter_percentile_pools_and_survive_restart(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), log=log)
    engine.report("done", 0, 0.3)
    engine.complete("done")
    engine.report("ghost", 0, 0.2)
    engine.mark_stale("ghost")
    assert engine.study.sorted_scores(0, "all") == [0.3]
    engine.close()
    again = hpprune.Engine.from_log(log)
    assert again.state("ghost") is TrialState.STALE
    assert again.study.sorted_scores(0, "all") == [0.3]
