"""FreezeThawPruner: rung judgements, what runs next, the learned first rung, the horizon.

Conformance (determinism, stickiness, log round trip, ...) is in
tests/policy_cases.py ("freeze-thaw", "freeze-thaw-stop-only", "default").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpprune
from hpprune import Engine, FreezeThawPruner, choose_next, default_policy
from hpprune.next_trial import resume_decision
from hpprune.pruners.freeze_thaw import spearman
from hpprune.types import Action, Reason, TrialState


def _report(engine: Engine, tid: str, values: list[float], start: int = 1) -> list[str]:
    """Report ``values`` at steps ``start, start+1, ...``; return each decision's reason."""
    return [engine.report(tid, start + i, v).reason for i, v in enumerate(values)]


# ------------------------------------------------------------------ judgements
# minimize; fixed first rung 1, eta 3: rungs at steps 1, 3, 9 (horizon 27)
@pytest.mark.parametrize(
    ("first_values", "expected"),
    [
        # trial values at step 1 in arrival order -> action of each arrival at the rung
        ([5.0], ["pause"]),  # alone at the rung: 1 // 3 = 0 promoted
        ([5.0, 4.0], ["pause", "pause"]),
        ([5.0, 4.0, 3.0], ["pause", "pause", "continue"]),  # best of 3 goes on
        ([3.0, 4.0, 5.0], ["pause", "pause", "pause"]),  # third is worst: waits
        ([3.0, 4.0, 5.0, 6.0, 7.0, 2.0], ["pause"] * 5 + ["continue"]),
    ],
)
def test_rung_zero_pauses_all_but_the_best_third(
    first_values: list[float], expected: list[str]
) -> None:
    engine = Engine(FreezeThawPruner(min_resource=1, max_resource=27), direction="minimize")
    actions = [engine.report(f"t{i}", 1, v).action.value for i, v in enumerate(first_values)]
    assert actions == expected


def test_stop_only_variant_stops_what_it_would_pause_and_promotes_a_young_rungs_best() -> None:
    policy = FreezeThawPruner(min_resource=1, max_resource=27).stop_only()
    assert isinstance(policy, FreezeThawPruner) and policy.pause is False
    engine = Engine(policy, direction="minimize")
    got = [(engine.report(f"t{i}", 1, v).action.value) for i, v in enumerate([3.0, 4.0, 2.0])]
    assert got == ["continue", "stop", "continue"]  # n_promoted is at least 1, as in ASHA
    last = engine.last_decision("t1")
    assert last is not None and last.reason == Reason.HALVING_RUNG_CUT
    assert last.evidence["rung_resource"] == 1 and last.evidence["rank"] == 2


def test_pause_evidence_names_rung_rank_cutoff_and_first_rung() -> None:
    engine = Engine(FreezeThawPruner(min_resource=1, max_resource=27), direction="maximize")
    for i, v in enumerate([0.5, 0.6, 0.7, 0.1]):
        d = engine.report(f"t{i}", 1, v)
    assert d.action is Action.PAUSE and d.reason == Reason.RUNG_PAUSED
    ev = d.evidence
    assert (ev["rung"], ev["rung_resource"], ev["rank"], ev["n_competitors"]) == (0, 1, 4, 4)
    assert ev["n_promoted"] == 1 and ev["cutoff"] == 0.7 and ev["value"] == 0.1
    assert ev["first_rung"] == 1 and ev["first_rung_source"] == "fixed"


def test_a_report_at_the_horizon_is_never_judged() -> None:
    engine = Engine(FreezeThawPruner(min_resource=1, max_resource=3), direction="minimize")
    for i in range(3):
        engine.report(f"t{i}", 1, float(i))  # t1, t2 paused; t0 best
    # t0 at the horizon (step 3 is also a rung by arithmetic): continue, it completes
    d = engine.report("t0", 2, 0.0)
    assert engine.report("t0", 3, 0.0).action is Action.CONTINUE
    assert d.action is Action.CONTINUE


# ------------------------------------------------------------------ what runs next
def test_next_trial_resumes_a_paused_trial_once_it_ranks_in_the_best_third() -> None:
    policy = FreezeThawPruner(min_resource=1, max_resource=27)
    engine = Engine(policy, direction="minimize")
    engine.report("a", 1, 1.0)  # paused (alone)
    engine.report("b", 1, 2.0)  # paused
    assert choose_next(policy, engine.study).action == "start"  # nothing promotable yet
    engine.report("c", 1, 3.0)  # paused: worst of 3; a is now the best third
    answer = choose_next(policy, engine.study)
    assert (answer.action, answer.trial_id, answer.reason) == ("resume", "a", Reason.PROMOTED)
    engine.decide_external("a", resume_decision(policy, answer))
    assert engine.state("a") is TrialState.RUNNING
    assert choose_next(policy, engine.study).action == "start"  # b is not in the best third


def test_next_trial_prefers_the_highest_rung_then_the_best_score() -> None:
    policy = FreezeThawPruner(min_resource=1, max_resource=27)
    engine = Engine(policy, direction="minimize")
    for i, v in enumerate([1.0, 5.0, 6.0, 7.0, 8.0, 9.0]):
        engine.report(f"r{i}", 1, v)  # r0 promoted at once? no: alone at first -> paused
    # two trials at rung 3 (step 3): make them and three more so one is promotable there
    for tid, vals in {"x": [0.5, 0.4, 0.3], "y": [0.6, 0.5, 0.2], "z": [0.7, 0.6, 0.9]}.items():
        _report(engine, tid, vals)
    paused = set(engine.study.trials_in(TrialState.PAUSED)[i].trial_id for i in range(3))
    assert {"r0", "r1"} <= paused
    answer = choose_next(policy, engine.study)
    assert answer.action == "resume" and answer.evidence["rung"] == 1  # rung at step 3 first


def test_a_closed_rung_promotes_its_best_even_when_young() -> None:
    policy = FreezeThawPruner(min_resource=1, max_resource=27)
    engine = Engine(policy, direction="minimize")
    engine.report("a", 1, 2.0)
    engine.report("b", 1, 1.0)  # two trials: 2 // 3 = 0 promoted while new ones may come
    assert choose_next(policy, engine.study).action == "start"
    answer = choose_next(policy, engine.study, can_start=False)  # none left: rung closed
    assert (answer.action, answer.trial_id) == ("resume", "b")


def test_without_new_configurations_low_ranked_trials_stay_paused() -> None:
    policy = FreezeThawPruner(min_resource=1, max_resource=27)
    engine = Engine(policy, direction="minimize")
    for i, v in enumerate([1.0, 2.0, 3.0]):
        engine.report(f"t{i}", 1, v)
    answer = choose_next(policy, engine.study, can_start=False)
    assert answer.trial_id == "t0"
    engine.decide_external("t0", resume_decision(policy, answer))
    nothing = choose_next(policy, engine.study, can_start=False)
    assert (nothing.action, nothing.reason) == ("none", Reason.NOTHING_PROMOTABLE)


# ------------------------------------------------------------------ learned first rung
def _study_with_signal(corr_at_1: bool, n: int = 12) -> Engine:
    """Trials trained to step 6 whose step-1 ranking does (or does not) predict step 3.

    The store is filled through a NoPruning engine; the tests ask a
    FreezeThawPruner what it learns from that store.
    """
    engine = Engine(hpprune.NoPruning(), direction="minimize")
    for i in range(n):
        quality = float(i)
        first = quality if corr_at_1 else float((i * 5) % n)  # rank correlation 0.22 with i
        _report(engine, f"t{i}", [first] + [quality + 0.5 - 0.1 * k for k in range(5)])
    return engine


@pytest.mark.parametrize(("informative", "first"), [(True, 1), (False, 2)])
def test_first_rung_is_the_earliest_informative_step(informative: bool, first: int) -> None:
    engine = _study_with_signal(informative)
    got = FreezeThawPruner().first_rung(engine.study)
    assert got.source == "learned" and got.step == first
    assert got.correlations[1] == pytest.approx(spearman(*_pairs(engine, 1, 3)))
    if not informative:
        assert got.correlations[1] < 0.3 <= got.correlations[2]


def _pairs(engine: Engine, s: int, later: int) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for c in engine.study.trials():
        a, b = c.first_at_or_after(s), c.first_at_or_after(later)
        if a is not None and b is not None and a[0] < b[0]:
            xs.append(a[1])
            ys.append(b[1])
    return xs, ys


def test_first_rung_probes_step_one_until_enough_trials_went_further() -> None:
    engine = Engine(FreezeThawPruner(), direction="minimize")
    for i in range(5):
        _report(engine, f"t{i}", [float(i), float(i), float(i)])
    got = FreezeThawPruner().first_rung(engine.study)
    assert (got.step, got.source, dict(got.correlations)) == (1, "probing", {})


@pytest.mark.parametrize(
    ("x", "y", "rho"),
    [
        ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 1, 1, 1], [1, 2, 3, 4], 0.0),
        ([1, 2, 2, 3], [1, 2, 3, 4], 0.9486832980505138),
    ],
)
def test_spearman_table(x: list[float], y: list[float], rho: float) -> None:
    assert spearman(x, y) == pytest.approx(rho)


# ------------------------------------------------------------------ horizon
def test_without_max_step_the_horizon_is_learned_from_completed_trials() -> None:
    """Five-step curves and no max_step: hopeless trials are paused, none assumed 50 steps."""
    policy = default_policy()
    engine = Engine(policy, direction="maximize")
    rng = np.random.default_rng(1)
    finals = [0.9, 0.85, 0.8] + [0.1] * 17
    order = rng.permutation(len(finals))
    started = 0
    while True:
        answer = choose_next(policy, engine.study, can_start=started < len(finals))
        if answer.action == "none":
            break
        if answer.action == "start":
            tid, start = f"t{order[started]}", 1
            started += 1
        else:
            assert answer.trial_id is not None
            tid = answer.trial_id
            engine.decide_external(tid, resume_decision(policy, answer))
            start = engine.study.trial(tid).last_step + 1
        final = finals[int(tid[1:])]
        for step in range(start, 6):
            d = engine.report(tid, step, final * step / 5)
            if d.action is not Action.CONTINUE:
                break
        else:
            engine.complete(tid)
    hopeless = [f"t{i}" for i in range(3, 20)]
    not_finished = [t for t in hopeless if engine.state(t) is not TrialState.COMPLETED]
    assert len(not_finished) >= 12
    assert all(engine.state(f"t{i}") is TrialState.COMPLETED for i in range(1))
    assert policy.horizon(engine.study) == 5  # type: ignore[attr-defined]


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"reduction_factor": 1}, ValueError, "reduction_factor"),
        ({"reduction_factor": 2.5}, TypeError, "reduction_factor"),
        ({"min_resource": 0}, ValueError, "min_resource"),
        ({"min_resource": "soon"}, ValueError, "min_resource"),
        ({"max_resource": -1}, ValueError, "max_resource"),
        ({"pause": 1}, TypeError, "pause"),
        ({"min_rank_correlation": 1.5}, ValueError, "min_rank_correlation"),
        ({"min_rank_correlation": math.nan}, ValueError, "min_rank_correlation"),
        ({"n_rank_trials": 2}, ValueError, "n_rank_trials"),
    ],
)
def test_bad_parameters_name_the_field(
    kwargs: dict[str, object], error: type[Exception], field: str
) -> None:
    with pytest.raises(error, match=field):
        FreezeThawPruner(**kwargs)  # type: ignore[arg-type]


def test_round_trip_and_stop_only_through_compositions() -> None:
    policy = hpprune.AnyOf([default_policy(max_step=52), hpprune.MedianPruner()])
    rebuilt = hpprune.policy_from_dict(policy.to_dict())
    assert rebuilt == policy
    stop_only = policy.stop_only()
    assert isinstance(stop_only, hpprune.AnyOf)
    inner = stop_only.policies[0]
    assert isinstance(inner, FreezeThawPruner) and inner.pause is False
    assert hpprune.MedianPruner().stop_only() == hpprune.MedianPruner()
