"""Engine rules: validation tables, stickiness, idempotency, life cycle, log header checks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune.types import Action, TrialState


def _state(engine: hpprune.Engine) -> Any:
    return (
        [
            (c.trial_id, c.state, list(c.steps), list(c.scores), c.last_step)
            for c in engine.study.trials()
        ],
        {t: engine.decisions(t) for t in engine.trial_ids()},
        engine.study.n_completed,
    )


def _seeded(log: Path | None = None) -> hpprune.Engine:
    e = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), log=log)
    e.report("a", 0, 1.0)
    e.report("a", 1, 0.5)
    e.complete("a")
    e.report("b", 0, 0.8)
    e.report("b", 1, 0.4)
    return e


# (description, callable on the seeded engine, expected exception, text the message must contain)
BAD_REPORTS: list[tuple[str, Any, type[Exception], str]] = [
    ("negative step", lambda e: e.report("b", -1, 1.0), ValueError, "step"),
    ("float step", lambda e: e.report("b", 1.0, 1.0), TypeError, "step"),
    ("str step", lambda e: e.report("b", "1", 1.0), TypeError, "step"),
    ("bool step", lambda e: e.report("b", True, 1.0), TypeError, "step"),
    ("huge step", lambda e: e.report("b", 2**60, 1.0), ValueError, "step"),
    ("decreasing step", lambda e: e.report("b", 0, 3.0), ValueError, "must increase"),
    ("str value", lambda e: e.report("b", 1, "0.5"), TypeError, "value"),
    ("bool value", lambda e: e.report("b", 1, True), TypeError, "value"),
    ("list value", lambda e: e.report("b", 1, [0.5]), TypeError, "value"),
    ("1-d array value", lambda e: e.report("b", 1, np.array([0.5])), TypeError, "value"),
    ("empty id", lambda e: e.report("", 0, 1.0), ValueError, "trial_id"),
    ("blank id", lambda e: e.report("   ", 0, 1.0), ValueError, "trial_id"),
    ("huge id", lambda e: e.report("x" * 10_000, 0, 1.0), ValueError, "trial_id"),
    ("float id", lambda e: e.report(1.5, 0, 1.0), TypeError, "trial_id"),
    ("None id", lambda e: e.report(None, 0, 1.0), TypeError, "trial_id"),
    ("newline id", lambda e: e.report("a\nb", 0, 1.0), ValueError, "trial_id"),
    ("negative elapsed", lambda e: e.report("b", 1, 1.0, elapsed_s=-1), ValueError, "elapsed_s"),
    ("nan elapsed", lambda e: e.report("b", 1, 1.0, elapsed_s=math.nan), ValueError, "elapsed_s"),
    ("str elapsed", lambda e: e.report("b", 1, 1.0, elapsed_s="3"), TypeError, "elapsed_s"),
    ("bad resources", lambda e: e.report("b", 1, 1.0, resources=[1]), TypeError, "resources"),
    (
        "negative memory",
        lambda e: e.report("b", 1, 1.0, resources={"memory_mb": -5}),
        ValueError,
        "memory_mb",
    ),
    ("report after complete", lambda e: e.report("a", 5, 1.0), ValueError, "completed"),
    ("repeated step, other value", lambda e: e.report("b", 1, 9.0), ValueError, "already reported"),
    ("complete unknown", lambda e: e.complete("zzz"), ValueError, "unknown"),
    ("complete twice", lambda e: e.complete("a"), ValueError, "already"),
    ("complete str value", lambda e: e.complete("b", "1"), TypeError, "value"),
    ("fail unknown", lambda e: e.fail("zzz"), ValueError, "unknown"),
    ("decisions unknown", lambda e: e.decisions("zzz"), ValueError, "unknown"),
    ("state unknown", lambda e: e.state("nope"), ValueError, "unknown"),
    ("add existing", lambda e: e.add_trial("a"), ValueError, "already exists"),
    ("add bad params", lambda e: e.add_trial("c", params=[1, 2]), TypeError, "params"),
    (
        "add unserialisable params",
        lambda e: e.add_trial("c", params={"f": object()}),
        TypeError,
        "params",
    ),
]


@pytest.mark.parametrize(
    ("what", "call", "exc", "text"), BAD_REPORTS, ids=[b[0] for b in BAD_REPORTS]
)
def test_bad_input_names_the_field_and_changes_nothing(
    what: str, call: Any, exc: type[Exception], text: str, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    engine = _seeded(log)
    before = _state(engine)
    log_before = log.read_bytes()
    with pytest.raises(exc, match=text):
        call(engine)
    assert _state(engine) == before, what
    assert log.read_bytes() == log_before, what


BAD_ENGINE_ARGS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"policy": "median"}, TypeError, "policy"),
    ({"policy": None}, TypeError, "policy"),
    ({"direction": "up"}, ValueError, "direction"),
    ({"direction": 1}, TypeError, "direction"),
    ({"non_finite": "explode"}, ValueError, "non_finite"),
    ({"log": 3}, TypeError, "log"),
]


@pytest.mark.parametrize(("kwargs", "exc", "text"), BAD_ENGINE_ARGS)
def test_bad_engine_arguments(kwargs: dict[str, Any], exc: type[Exception], text: str) -> None:
    args = {"policy": hpprune.NoPruning(), **kwargs}
    with pytest.raises(exc, match=text):
        hpprune.Engine(**args)


BAD_POLICY_ARGS: list[tuple[Any, type[Exception], str]] = [
    (lambda: hpprune.PercentilePruner(101.0), ValueError, "percentile"),
    (lambda: hpprune.PercentilePruner(-1), ValueError, "percentile"),
    (lambda: hpprune.PercentilePruner(math.nan), ValueError, "percentile"),
    (lambda: hpprune.PercentilePruner("50"), TypeError, "percentile"),
    (lambda: hpprune.MedianPruner(n_startup_trials=-1), ValueError, "n_startup_trials"),
    (lambda: hpprune.MedianPruner(n_startup_trials=1.5), TypeError, "n_startup_trials"),
    (lambda: hpprune.MedianPruner(n_warmup_steps=True), TypeError, "n_warmup_steps"),
    (lambda: hpprune.MedianPruner(interval_steps=0), ValueError, "interval_steps"),
    (lambda: hpprune.MedianPruner(n_min_trials=0), ValueError, "n_min_trials"),
    (lambda: hpprune.AnyOf([]), ValueError, "policies"),
    (lambda: hpprune.AnyOf(hpprune.NoPruning()), TypeError, "policies"),
    (lambda: hpprune.AllOf(["median"]), TypeError, "policies"),
]


@pytest.mark.parametrize(("make", "exc", "text"), BAD_POLICY_ARGS)
def test_bad_policy_arguments(make: Any, exc: type[Exception], text: str) -> None:
    with pytest.raises(exc, match=text):
        make()


@pytest.mark.parametrize(
    "value",
    [np.float32(0.5), np.float64(0.5), np.int64(1), np.array(0.5), 1, 0.5],
    ids=["f32", "f64", "i64", "0d-array", "int", "float"],
)
def test_numeric_types_are_accepted(value: Any) -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    d = engine.report("t", np.int64(0), value)
    assert d.action is Action.CONTINUE
    assert engine.study.trial("t").scores == [float(value)]


def test_int_ids_become_strings() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    engine.report(7, 0, 1.0)
    assert engine.trial_ids() == ["7"]
    assert engine.state("7") is TrialState.RUNNING


def test_non_finite_stop_is_recorded_and_sticky() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    d = engine.report("t", 0, math.nan)
    assert (d.action, d.reason, d.rule) == (Action.STOP, "non_finite", "engine")
    assert engine.report("t", 1, 0.3) == d
    assert engine.study.trial("t").scores == []
    assert engine.study.sorted_scores(0, "all") == []


def test_non_finite_ignore_mode_keeps_trial_running() -> None:
    engine = hpprune.Engine(hpprune.NoPruning(), non_finite="ignore")
    assert engine.report("t", 0, math.inf).reason == "non_finite_ignored"
    assert engine.report("t", 1, 0.3).action is Action.CONTINUE
    assert engine.study.trial("t").steps == [1]


def test_direction_is_applied_once() -> None:
    engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), "maximize")
    engine.report("good", 0, 0.9)
    engine.complete("good")
    d = engine.report("bad", 0, 0.1)
    assert d.action is Action.STOP
    # Evidence is on the user's scale.
    assert d.evidence["cutoff"] == pytest.approx(0.9)
    assert d.evidence["best_so_far"] == pytest.approx(0.1)
    assert engine.study.incumbent() == pytest.approx(-0.9)


def test_complete_with_value_sets_incumbent_and_nonfinite_final_does_not() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    engine.report("a", 0, 5.0)
    engine.complete("a", 0.25)
    engine.report("b", 0, 3.0)
    engine.complete("b", math.nan)
    assert engine.study.incumbent() == 0.25
    assert engine.study.incumbent_id == "a"
    assert engine.study.trial("b").final_score is None


def test_fail_and_stale_life_cycle() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    engine.report("a", 0, 1.0)
    engine.report("b", 0, 2.0)
    engine.fail("a")
    assert engine.state("a") is TrialState.FAILED
    with pytest.raises(ValueError, match="failed"):
        engine.report("a", 1, 1.0)
    engine.mark_stale("b")
    assert engine.state("b") is TrialState.STALE
    assert engine.study.sorted_scores(0, "all") == [1.0]  # the stale trial left the pool
    engine.report("b", 1, 1.5)
    assert engine.state("b") is TrialState.RUNNING
    assert engine.study.sorted_scores(0, "all") == [1.0, 2.0]


def test_mark_stale_trials_uses_silence() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    engine.report("a", 0, 1.0)
    assert engine.mark_stale_trials(60.0) == []
    assert engine.mark_stale_trials(60.0, now=1e12) == ["a"]


def test_log_header_and_records(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    engine = _seeded(log)
    engine.report("c", 0, 5.0)
    engine.close()
    records = [json.loads(x) for x in log.read_text().splitlines()]
    head = records[0]
    assert head["kind"] == "study"
    assert head["policy"]["type"] == "hpprune.pruners.percentile.MedianPruner"
    assert head["policy_hash"] == hpprune.policy_hash(hpprune.MedianPruner(n_startup_trials=1))
    assert set(head["versions"]) >= {"hpprune", "python", "numpy"}
    kinds = [r["kind"] for r in records]
    assert kinds == ["study", "report", "report", "complete", "report", "report", "report"]
    stop = records[-1]["decision"]
    assert stop["action"] == "stop" and stop["reason"] == "below_percentile"
    assert stop["evidence"]["n_peers"] == 1
    assert "evidence" not in records[1]["decision"]  # continue decisions stay compact


def test_log_of_another_policy_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    _seeded(log).close()
    with pytest.raises(ValueError, match="policy"):
        hpprune.Engine(hpprune.MedianPruner(n_startup_trials=9), log=log)
    with pytest.raises(ValueError, match="direction"):
        hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), "maximize", log=log)
    # Same policy: a second writer (another process, say) shares the log.
    hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), log=log).close()
    with pytest.raises(ValueError, match="policy"):
        hpprune.Engine.from_log(log, policy=hpprune.NoPruning())


def test_decide_external_pause_resume_and_restore(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    engine = hpprune.Engine(hpprune.NoPruning(), log=log)
    engine.report("a", 0, 1.0)
    pause = hpprune.Decision(Action.PAUSE, "low_gain_per_hour", "scheduler", evidence={"rank": 3})
    bound = engine.decide_external("a", pause)
    assert (bound.trial_id, bound.step) == ("a", 0)
    assert engine.state("a") is TrialState.PAUSED
    engine.close()
    again = hpprune.Engine.from_log(log)
    assert again.state("a") is TrialState.PAUSED
    assert again.last_decision("a") == bound
    again.decide_external("a", hpprune.Decision(Action.RESUME, "resumed", "scheduler"))
    assert again.state("a") is TrialState.RUNNING
    assert again.report("a", 1, 0.5).action is Action.CONTINUE
