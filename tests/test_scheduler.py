"""ResourceScheduler: ranking tables, pause/resume, budget and memory, restart from the log."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

import hpprune
from hpprune.curves import StudyView, TrialCurve
from hpprune.scheduler import PeerPrediction, ResourceScheduler, expected_gain
from hpprune.types import Action, TrialState


@dataclass
class FixedModel:
    """Test model: a given (mean, std) per trial, on the canonical scale."""

    table: dict[str, tuple[float, float]]

    def predict(self, trial: TrialCurve, study: StudyView) -> PeerPrediction:
        mean, std = self.table.get(trial.trial_id, (math.inf, 0.0))
        return PeerPrediction(mean, std)


def _engine(model: FixedModel, **kwargs: object) -> hpprune.Engine:
    sched = ResourceScheduler(hpprune.NoPruning(), max_step=10, model=model, **kwargs)  # type: ignore[arg-type]
    engine = hpprune.Engine(sched)
    # One completed trial sets the incumbent at 0.5 (10 steps of 1 s each).
    for s in range(11):
        engine.report("done", s, 1.0 - s * 0.05, elapsed_s=float(s + 1))
    engine.complete("done")
    return engine


@pytest.mark.parametrize(
    ("incumbent", "mean", "std", "expected"),
    [
        (0.5, 0.5, 0.0, 0.0),
        (0.5, 0.3, 0.0, 0.2),
        (0.5, 0.7, 0.0, 0.0),
        (0.5, 0.5, 0.1, 0.1 / math.sqrt(2 * math.pi)),  # E[max(0, Z)] * sigma at z=0
        (0.5, 0.4, 0.1, 0.1 * 0.8413447460685429 + 0.1 * 0.24197072451914337),
        (math.inf, 0.4, 0.1, 0.0),
        (0.5, math.nan, 0.1, 0.0),
    ],
)
def test_expected_gain_table(incumbent: float, mean: float, std: float, expected: float) -> None:
    assert expected_gain(incumbent, mean, std) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("cheap", "pricey", "cheap_rate", "pricey_rate", "winner"),
    [
        # A cheap, mediocre trial vs an expensive, promising one.
        ((0.55, 0.05), (0.30, 0.05), 1.0, 100.0, "cheap"),  # 100x cost outweighs a 4x gain
        ((0.55, 0.05), (0.30, 0.05), 1.0, 5.0, "pricey"),  # 5x cost does not
        ((0.70, 0.01), (0.45, 0.01), 1.0, 1000.0, "pricey"),  # no chance at all for the cheap one
        ((0.49, 0.0), (0.40, 0.0), 1.0, 20.0, "cheap"),  # 0.01/1 vs 0.1/20
    ],
)
def test_ranking_by_gain_per_hour(
    cheap: tuple[float, float],
    pricey: tuple[float, float],
    cheap_rate: float,
    pricey_rate: float,
    winner: str,
) -> None:
    model = FixedModel({"cheap": cheap, "pricey": pricey})
    engine = _engine(model, allow_new=False)
    engine.report("cheap", 0, 0.9, elapsed_s=cheap_rate)
    engine.report("pricey", 0, 0.9, elapsed_s=pricey_rate)
    sched = engine.policy
    assert isinstance(sched, ResourceScheduler)
    ranking = sched.ranking(engine.study)
    assert ranking[0].trial_id == winner
    for c in ranking:
        mean, std = model.table[c.trial_id]  # type: ignore[index]
        rate = cheap_rate if c.trial_id == "cheap" else pricey_rate
        gain = expected_gain(0.5, mean, std)
        assert c.gain == pytest.approx(gain)
        assert c.cost_h == pytest.approx(10 * rate / 3600)  # 10 remaining steps
        assert c.gain_per_hour == pytest.approx(gain / (10 * rate / 3600))


def test_pause_then_resume_the_better_trial() -> None:
    model = FixedModel({"slow": (0.45, 0.02), "fast": (0.30, 0.02)})
    engine = _engine(model, allow_new=False, max_concurrent=1)
    engine.report("fast", 0, 0.9, elapsed_s=1.0)
    engine.decide_external(
        "fast", hpprune.Decision(Action.PAUSE, "low_gain_per_hour", "test")
    )  # parked earlier, say, when a worker was short
    engine.report("slow", 0, 0.9, elapsed_s=1.0)
    d = engine.report("slow", 1, 0.8, elapsed_s=2.0)
    assert (d.action, d.reason) == (Action.PAUSE, "low_gain_per_hour")
    assert d.evidence["best_alternative"] == "fast"
    assert d.evidence["best_alternative_gain_per_hour"] > 2 * d.evidence["gain_per_hour"]
    sched = engine.policy
    assert isinstance(sched, ResourceScheduler)
    answer = sched.next_trial(engine.study)
    assert (answer.action, answer.trial_id) == ("resume", "fast")
    engine.decide_external("fast", sched.resume_decision(answer))
    assert engine.state("fast") is TrialState.RUNNING
    assert engine.state("slow") is TrialState.PAUSED
    assert engine.report("fast", 1, 0.7, elapsed_s=2.0).action is Action.CONTINUE


def test_no_pause_without_a_better_alternative() -> None:
    model = FixedModel({"a": (0.30, 0.02), "b": (0.45, 0.02)})
    engine = _engine(model, allow_new=False)
    engine.report("b", 0, 0.9, elapsed_s=1.0)
    engine.decide_external("b", hpprune.Decision(Action.PAUSE, "low_gain_per_hour", "test"))
    engine.report("a", 0, 0.9, elapsed_s=1.0)
    d = engine.report("a", 1, 0.8, elapsed_s=2.0)
    assert d.action is Action.CONTINUE
    assert d.evidence["best_alternative"] == "b"


def test_budget_exhaustion_stops_and_blocks_new_work() -> None:
    model = FixedModel({"a": (0.3, 0.1)})
    engine = _engine(model, budget_hours=15 / 3600)  # the completed trial spent 11 s
    assert engine.report("a", 0, 0.9, elapsed_s=2.0).action is Action.CONTINUE
    d = engine.report("a", 1, 0.8, elapsed_s=4.0)
    assert (d.action, d.reason) == (Action.STOP, "budget_exhausted")
    assert d.evidence["spent_hours"] == pytest.approx(15 / 3600)
    assert d.evidence["budget_left_hours"] == 0.0
    sched = engine.policy
    assert isinstance(sched, ResourceScheduler)
    assert sched.next_trial(engine.study).action == "none"


def test_memory_limit_stops_a_trial() -> None:
    engine = _engine(FixedModel({}), memory_limit_mb=1000)
    assert engine.report("m", 0, 0.9, resources={"memory_mb": 900}).action is Action.CONTINUE
    d = engine.report("m", 1, 0.8, resources={"memory_mb": 1200})
    assert (d.action, d.reason) == (Action.STOP, "memory_limit")
    assert d.evidence["peak_memory_mb"] == 1200


def test_cost_without_history_comes_from_the_nearest_peers() -> None:
    engine = _engine(FixedModel({}))
    engine.add_trial("big", {"width": 1024})
    engine.add_trial("small", {"width": 16})
    engine.add_trial("new", {"width": 900})
    engine.report("big", 0, 0.9, elapsed_s=50.0)
    engine.report("small", 0, 0.9, elapsed_s=1.0)
    engine.report("new", 0, 0.9)  # no timing yet
    sched = engine.policy
    assert isinstance(sched, ResourceScheduler)
    rate = sched.seconds_per_step(engine.study.trial("new"), engine.study)
    # 5 nearest by log-width: big(50), small(1), done(1, no params) -> median of what is near.
    assert rate in (1.0, 50.0)
    only_big = hpprune.Engine(ResourceScheduler(hpprune.NoPruning(), max_step=5))
    only_big.add_trial("big", {"width": 1024})
    only_big.add_trial("new", {"width": 900})
    only_big.report("big", 0, 0.9, elapsed_s=50.0)
    only_big.report("new", 0, 0.9)
    assert isinstance(only_big.policy, ResourceScheduler)
    assert only_big.policy.seconds_per_step(only_big.study.trial("new"), only_big.study) == 50.0


def _poor_trial_among_good_ones(**kwargs: object) -> hpprune.Engine:
    """Completed trials (0.45, 0.6, 0.3) and a poor running trial with one report."""
    engine = _engine(FixedModel({"poor": (0.9, 0.01)}), **kwargs)
    for i, final in enumerate([0.45, 0.6, 0.3]):
        engine.report(f"c{i}", 0, final, elapsed_s=1.0)
        engine.complete(f"c{i}", final)
    engine.report("poor", 0, 0.95, elapsed_s=1.0)
    return engine


def test_new_configuration_competes() -> None:
    # Several completed trials, some beating the first: a fresh draw has a real chance.
    engine = _poor_trial_among_good_ones()
    d = engine.report("poor", 1, 0.94, elapsed_s=2.0)
    assert (d.action, d.reason) == (Action.PAUSE, "low_gain_per_hour")
    assert d.evidence["best_alternative"] == "new"


def test_restart_from_log_keeps_paused_trials(tmp_path: Path) -> None:
    log = tmp_path / "sched.jsonl"
    policy = ResourceScheduler(hpprune.MedianPruner(n_startup_trials=1), max_step=10)
    engine = hpprune.Engine(policy, log=log)
    for s in range(11):
        engine.report("done", s, 1.0 - s * 0.05, elapsed_s=float(s + 1))
    engine.complete("done")
    engine.report("p", 0, 0.8, elapsed_s=1.0)
    engine.decide_external("p", hpprune.Decision(Action.PAUSE, "low_gain_per_hour", RULE_TEST))
    engine.close()
    again = hpprune.Engine.from_log(log)
    assert again.policy == policy
    assert again.state("p") is TrialState.PAUSED
    assert isinstance(again.policy, ResourceScheduler)
    assert again.policy.next_trial(again.study) == policy.next_trial(engine.study)


RULE_TEST = "test"


@pytest.mark.parametrize(
    ("kwargs", "exc", "field"),
    [
        ({"budget_hours": 0}, ValueError, "budget_hours"),
        ({"budget_hours": "1"}, TypeError, "budget_hours"),
        ({"max_concurrent": 0}, ValueError, "max_concurrent"),
        ({"memory_limit_mb": -1}, ValueError, "memory_limit_mb"),
        ({"pause_margin": 0.5}, ValueError, "pause_margin"),
        ({"min_steps_before_pause": 0}, ValueError, "min_steps_before_pause"),
        ({"allow_new": 1}, TypeError, "allow_new"),
        ({"model": object()}, TypeError, "model"),
        ({"policy": "median"}, TypeError, "policy"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], exc: type[Exception], field: str) -> None:
    args: dict[str, object] = {"policy": hpprune.NoPruning(), **kwargs}
    with pytest.raises(exc, match=field):
        ResourceScheduler(**args)  # type: ignore[arg-type]


def test_pauses_are_bounded_and_new_trials_preempt_only_once() -> None:
    engine = _poor_trial_among_good_ones(max_pauses=3)
    assert engine.report("poor", 1, 0.94, elapsed_s=2.0).action is Action.PAUSE
    assert engine.study.trial("poor").n_pauses == 1
    # Resumed (say no new trial could start): a fresh configuration may not preempt it again.
    engine.decide_external("poor", hpprune.Decision(Action.RESUME, "resumed", "test"))
    for s in range(2, 8):
        assert engine.report("poor", s, 0.9, elapsed_s=float(s + 1)).action is Action.CONTINUE


def test_max_pauses_zero_never_pauses() -> None:
    engine = _poor_trial_among_good_ones(max_pauses=0)
    assert engine.report("poor", 1, 0.94, elapsed_s=2.0).action is Action.CONTINUE


def test_uses_a_wrapped_bayesian_pruner_as_its_model_on_the_canonical_scale() -> None:
    policy = ResourceScheduler(
        hpprune.AnyOf([hpprune.BayesianPruner(n_startup_trials=3, n_warmup_steps=100)]),
        max_step=9,
        max_pauses=0,
    )
    for direction, sign in (("minimize", 1.0), ("maximize", -1.0)):
        engine = hpprune.Engine(policy, direction)
        for i in range(8):
            for s in range(10):
                engine.report(f"c{i}", s, sign * (0.2 + 0.1 * i + 1.0 / (s + 1)), elapsed_s=s + 1.0)
            engine.complete(f"c{i}")
        engine.report("x", 0, sign * 1.25, elapsed_s=1.0)
        cand = policy.candidate(engine.study.trial("x"), engine.study)
        pred = hpprune.BayesianPruner(n_startup_trials=3, n_warmup_steps=100).predict(
            engine.study.trial("x"), engine.study
        )
        assert pred is not None
        # The canonical mean is the user-scale mean with the direction applied.
        model = policy.model.predict(engine.study.trial("x"), engine.study)
        assert model.mean == pytest.approx(sign * pred.mean)
        assert cand.gain >= 0.0


def test_memoised_candidates_equal_fresh_ones() -> None:
    """The scheduler's cache (study.cache) never changes an answer (checked at every report)."""
    from tests.streams import stream

    for inner in (hpprune.MedianPruner(n_startup_trials=2), hpprune.default_policy(max_step=11)):
        policy = ResourceScheduler(inner, max_concurrent=2, pause_margin=1.2)
        engine = hpprune.Engine(policy)
        halted: set[str] = set()
        for ev in stream(n_trials=20, n_steps=12, n_workers=3, seed=9):
            if ev.trial in halted:
                continue
            if ev.complete:
                engine.complete(ev.trial)
            else:
                d = engine.report(ev.trial, ev.step, ev.value, elapsed_s=ev.elapsed)
                if d.action in (Action.STOP, Action.PAUSE):
                    halted.add(ev.trial)
            live = engine.study.trials_in(TrialState.RUNNING) + engine.study.trials_in(
                TrialState.PAUSED
            )
            for c in live:
                if c.n_steps:
                    assert policy.candidate(c, engine.study) == policy._candidate(c, engine.study)
        assert len(engine.study.cache(policy)), "the cache was never used"
