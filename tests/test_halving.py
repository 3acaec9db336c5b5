"""SuccessiveHalvingPruner: hand-computed rung tables, rung arithmetic, pools, properties."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.pruners.halving import (
    next_rung_resource,
    promotion_index,
    rung_resource,
    rungs_crossed,
)
from hpprune.types import Action, Reason
from tests.asha_reference import run_reference

SH = hpprune.SuccessiveHalvingPruner

# SH(min_resource=1, reduction_factor=3): rungs at steps 1, 3, 9.
# (trial, step, value, action, reason, rung, rung_resource, cutoff, rank, n_competitors)
ROWS: list[tuple[str, int, float, str, str, int | None, int | None, float | None, int, int]] = [
    ("a", 0, 5.0, "continue", "ok", None, None, None, 0, 0),
    ("a", 1, 4.0, "continue", "promoted", 0, 1, 4.0, 1, 1),  # alone: the best
    ("b", 0, 5.0, "continue", "ok", None, None, None, 0, 0),
    ("b", 1, 6.0, "stop", "halving_rung_cut", 0, 1, 4.0, 2, 2),  # [4, 6]: only the best
    ("c", 1, 3.5, "continue", "promoted", 0, 1, 3.5, 1, 3),  # [3.5, 4, 6]: 3 // 3 - 1 = 0
    ("d", 1, 3.8, "stop", "halving_rung_cut", 0, 1, 3.5, 2, 4),
    ("e", 1, 3.9, "stop", "halving_rung_cut", 0, 1, 3.5, 3, 5),
    ("f", 1, 3.6, "continue", "promoted", 0, 1, 3.6, 2, 6),  # 6 // 3 - 1 = 1: top two
    ("a", 3, 2.0, "continue", "promoted", 1, 3, 2.0, 1, 1),
    ("c", 2, 3.0, "continue", "ok", None, None, None, 0, 0),  # between rungs
    ("c", 3, 2.5, "stop", "halving_rung_cut", 1, 3, 2.0, 2, 2),
    # f jumps from step 1 to 9: judged at rungs 1 and 2 with its step-9 value.
    ("f", 9, 1.0, "continue", "promoted", 2, 9, 1.0, 1, 1),
    # g's first report is at step 4: passes rung 0 (7 competitors, top 2 -> cutoff 3.5),
    # fails rung 1 where f counts with its first report past step 3 (1.0).
    ("g", 4, 2.2, "stop", "halving_rung_cut", 1, 3, 1.0, 3, 4),
    # h jumps to step 5 and fails rung 0 (8 competitors, top 2): it never reached rung 1.
    ("h", 5, 9.0, "stop", "halving_rung_cut", 0, 1, 3.5, 8, 8),
    # i passes rung 0 (9 competitors, top 3 -> cutoff 3.5) and meets rung 1 with 5 competitors
    # ([1.0, 1.5, 2.0, 2.2, 2.5]; h is not among them): only the best is promoted.
    ("i", 3, 1.5, "stop", "halving_rung_cut", 1, 3, 1.0, 2, 5),
]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rung_table(direction: str) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    engine = hpprune.Engine(SH(1, 3), direction)
    for trial, step, value, action, reason, rung, resource, cutoff, rank, n in ROWS:
        d = engine.report(trial, step, sign * value)
        assert (d.action.value, d.reason) == (action, reason), (trial, step)
        if rung is None or cutoff is None:
            continue
        ev = d.evidence
        assert (ev["rung"], ev["rung_resource"]) == (rung, resource), (trial, step)
        assert ev["cutoff"] == sign * cutoff
        assert ev["value"] == sign * value
        assert (ev["rank"], ev["n_competitors"]) == (rank, n), (trial, step)
        assert ev["n_promoted"] == promotion_index(n, 3) + 1
        assert (ev["min_resource"], ev["reduction_factor"]) == (1, 3)


def test_bootstrap_table() -> None:
    engine = hpprune.Engine(SH(1, 2, bootstrap_count=2))
    rows = [  # (trial, value, reason): the first two arrivals at a rung are stopped (Optuna)
        ("a", 1.0, Reason.HALVING_BOOTSTRAP),
        ("b", 2.0, Reason.HALVING_BOOTSTRAP),
        ("c", 3.0, Reason.HALVING_RUNG_CUT),  # [1, 2, 3]: 3 // 2 - 1 = 0 -> cutoff 1
        ("d", 0.5, Reason.PROMOTED),  # [0.5, 1, 2, 3]: top two -> cutoff 1
        ("e", 1.5, Reason.HALVING_RUNG_CUT),  # [0.5, 1, 1.5, 2, 3]: top two -> cutoff 1
    ]
    for trial, value, reason in rows:
        d = engine.report(trial, 1, value)
        assert d.reason == reason, trial
    assert engine.last_decision("a").evidence["bootstrap_count"] == 2  # type: ignore[union-attr]


def test_min_early_stopping_rate_shifts_rungs() -> None:
    engine = hpprune.Engine(SH(2, 2, min_early_stopping_rate=1))  # rungs at 4, 8, 16
    reasons = [engine.report("a", s, 1.0 / (s + 1)).reason for s in range(17)]
    judged = [s for s, r in enumerate(reasons) if r == Reason.PROMOTED]
    assert judged == [4, 8, 16]


# (previous_step, step, min_resource, reduction_factor, rate, expected)
CROSSED: list[tuple[int, int, int, int, int, list[tuple[int, int]]]] = [
    (-1, 0, 1, 3, 0, []),
    (-1, 1, 1, 3, 0, [(0, 1)]),
    (0, 2, 1, 3, 0, [(0, 1)]),
    (1, 2, 1, 3, 0, []),
    (2, 3, 1, 3, 0, [(1, 3)]),
    (-1, 243, 3, 3, 0, [(0, 3), (1, 9), (2, 27), (3, 81), (4, 243)]),
    (243, 728, 3, 3, 0, []),
    (-1, 80, 3, 3, 1, [(0, 9), (1, 27)]),
    (0, 100, 5, 4, 0, [(0, 5), (1, 20), (2, 80)]),
    (2**53 - 2, 2**53, 1, 2, 0, [(53, 2**53)]),
    (2**53 - 1, 2**53 - 1, 1, 2, 0, []),
]


@pytest.mark.parametrize(("previous", "step", "min_r", "rf", "rate", "expected"), CROSSED)
def test_rungs_crossed(
    previous: int, step: int, min_r: int, rf: int, rate: int, expected: list[tuple[int, int]]
) -> None:
    assert rungs_crossed(previous, step, min_r, rf, rate) == expected


def test_rung_arithmetic_is_exact_integers() -> None:
    assert rung_resource(3, 3, 0, 4) == 243
    assert rung_resource(1, 2, 0, 53) == 2**53
    assert rung_resource(1, 10, 2, 1) == 1000
    assert isinstance(rung_resource(3, 3, 2, 3), int)
    assert next_rung_resource(243, 3, 3, 0) == (5, 729)
    assert next_rung_resource(0, 1, 3, 0) == (0, 1)
    # float arithmetic would say 3 ** 5 / 3 ** 4 is not an exact rung; integers agree exactly
    assert [r for _, r in rungs_crossed(-1, 3**20, 1, 3, 0)] == [3**k for k in range(21)]


@pytest.mark.parametrize(
    ("n", "rf", "index"),
    [(1, 3, 0), (2, 3, 0), (3, 3, 0), (5, 3, 0), (6, 3, 1), (9, 3, 2), (4, 4, 0), (8, 4, 1)],
)
def test_promotion_index(n: int, rf: int, index: int) -> None:
    assert promotion_index(n, rf) == index


def test_auto_min_resource_from_first_completed_trial() -> None:
    engine = hpprune.Engine(SH("auto", 2))
    assert engine.report("a", 1, 1.0).reason == Reason.STARTUP
    assert engine.report("a", 3, 1.0).reason == Reason.STARTUP
    engine.add_trial("empty")
    engine.complete("empty")  # completed without reports: not an anchor
    for s in range(251):
        engine.report("first", s, 1.0)
    engine.complete("first")  # last step 250 -> min_resource = 250 // 100 = 2
    for s in range(900):
        engine.report("second", s, 0.5)
    engine.complete("second")  # a later, longer trial does not change it
    policy = engine.policy
    assert isinstance(policy, SH)
    assert policy.resolved_min_resource(engine.study) == 2
    # "a" passed rung 0 (step 2) before resolution: it is judged at the next rung it crosses.
    d = engine.report("a", 4, 5.0)
    assert (d.reason, d.evidence["rung"], d.evidence["rung_resource"]) == ("halving_rung_cut", 1, 4)


BAD_PARAMS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"min_resource": 0}, ValueError, "min_resource"),
    ({"min_resource": -3}, ValueError, "min_resource"),
    ({"min_resource": "automatic"}, ValueError, "min_resource"),
    ({"min_resource": 1.5}, TypeError, "min_resource"),
    ({"min_resource": True}, TypeError, "min_resource"),
    ({"min_resource": None}, TypeError, "min_resource"),
    ({"reduction_factor": 1}, ValueError, "reduction_factor"),
    ({"reduction_factor": 2.5}, TypeError, "reduction_factor"),
    ({"min_early_stopping_rate": -1}, ValueError, "min_early_stopping_rate"),
    ({"min_early_stopping_rate": "0"}, TypeError, "min_early_stopping_rate"),
    ({"bootstrap_count": -1}, ValueError, "bootstrap_count"),
    ({"bootstrap_count": 1.0}, TypeError, "bootstrap_count"),
]


@pytest.mark.parametrize(("kwargs", "exc", "field"), BAD_PARAMS)
def test_invalid_parameters(kwargs: dict[str, Any], exc: type[Exception], field: str) -> None:
    with pytest.raises(exc, match=field):
        SH(**kwargs)


def test_params_round_trip() -> None:
    p = SH(4, 2, min_early_stopping_rate=1, bootstrap_count=3)
    assert hpprune.policy_from_dict(p.to_dict()) == p
    assert hpprune.policy_from_dict(SH().to_dict()).params()["min_resource"] == "auto"


def test_decide_is_pure() -> None:
    """Deciding again on the same views gives the same decision and changes nothing."""
    engine = hpprune.Engine(SH(1, 2))
    for i, v in enumerate([3.0, 1.0, 2.0, 0.5]):
        engine.report(f"t{i}", 0, v)
        d = engine.report(f"t{i}", 2, v)
        curve = engine.study.trial(f"t{i}")
        pools = [list(engine.study.scores_from(r)) for r in (1, 2)]
        assert engine.policy.decide(curve, engine.study).bind(f"t{i}", 2) == d
        assert [list(engine.study.scores_from(r)) for r in (1, 2)] == pools


# ------------------------------------------------------------ milestone pools
def test_scores_from_counts_first_report_past_milestone() -> None:
    engine = hpprune.Engine(hpprune.NoPruning())
    engine.report("a", 0, 1.0)
    engine.report("a", 5, 2.0)
    engine.report("b", 3, 3.0)
    study = engine.study
    assert study.scores_from(1) == [2.0, 3.0]  # indexed lazily on first query
    assert study.scores_from(4) == [2.0]
    engine.report("b", 7, 0.5)  # maintained incrementally afterwards
    assert study.scores_from(4) == [0.5, 2.0]
    assert study.scores_from(1) == [2.0, 3.0]
    assert study.scores_from(6, "completed") == []
    engine.complete("b")
    assert study.scores_from(6, "completed") == [0.5]
    assert study.scores_from(8) == []
    engine.mark_stale("a")
    assert study.scores_from(1) == [3.0]
    engine.report("a", 9, 0.1)  # reporting again brings it back
    assert study.scores_from(1) == [2.0, 3.0]
    assert study.scores_from(8) == [0.1]


def test_a_trial_failing_a_lower_rung_never_reached_higher_ones() -> None:
    engine = hpprune.Engine(SH(1, 3))
    engine.report("good", 1, 1.0)
    engine.report("good", 3, 1.0)
    d = engine.report("bad", 4, 5.0)  # crosses rungs at 1 and 3, fails the first
    assert (d.reason, d.evidence["rung"]) == ("halving_rung_cut", 0)
    assert engine.study.scores_from(1) == [1.0, 5.0]
    assert engine.study.scores_from(3) == [1.0]
    assert engine.study.scores_from(4) == []  # indexed after the stop: still capped


@st.composite
def _skipping_streams(draw: st.DrawFn) -> list[tuple[str, int, float]]:
    n_trials = draw(st.integers(2, 14))
    n_steps = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**31))
    coarse = draw(st.booleans())
    rng = np.random.default_rng(seed)
    queues: list[list[tuple[str, int, float]]] = []
    for i in range(n_trials):
        k = int(rng.integers(1, n_steps + 1))
        steps = sorted(int(s) for s in rng.choice(n_steps, size=k, replace=False))
        level = rng.uniform(0.0, 1.0)
        vals = [level + math.exp(-0.2 * s) + rng.normal(0, 0.05) for s in steps]
        if coarse:
            vals = [round(v, 1) for v in vals]
        queues.append([(f"t{i}", s, float(v)) for s, v in zip(steps, vals, strict=True)])
    events: list[tuple[str, int, float]] = []
    live = [q for q in queues if q]
    while live:
        q = live[int(rng.integers(0, min(len(live), 3)))]  # ~3 trials running at once
        events.append(q.pop(0))
        live = [q for q in live if q]
    return events


def _engine_decisions(
    policy: hpprune.Policy, events: list[tuple[str, int, float]], direction: str
) -> dict[str, list[tuple[int, str, str]]]:
    sign = 1.0 if direction == "minimize" else -1.0
    engine = hpprune.Engine(policy, direction)
    out: dict[str, list[tuple[int, str, str]]] = {}
    for trial, step, value in events:
        if trial in engine.study and engine.state(trial).is_finished:
            continue
        d = engine.report(trial, step, sign * value)
        out.setdefault(trial, []).append((step, d.action.value, d.reason))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=_skipping_streams(),
    min_r=st.integers(1, 3),
    rf=st.integers(2, 4),
    rate=st.integers(0, 1),
    bootstrap=st.integers(0, 2),
    direction=st.sampled_from(["minimize", "maximize"]),
)
def test_matches_naive_reference_on_async_skipping_streams(
    events: list[tuple[str, int, float]],
    min_r: int,
    rf: int,
    rate: int,
    bootstrap: int,
    direction: str,
) -> None:
    policy = SH(min_r, rf, min_early_stopping_rate=rate, bootstrap_count=bootstrap)
    ours = _engine_decisions(policy, events, direction)
    ref = run_reference(
        events,
        min_resource=min_r,
        reduction_factor=rf,
        rate_of=lambda _t: rate,
        bootstrap_count=bootstrap,
    )
    assert ours == ref
    # Determinism and direction symmetry (the reference is always run minimising).
    assert _engine_decisions(policy, events, direction) == ours
    other = "maximize" if direction == "minimize" else "minimize"
    assert _engine_decisions(policy, events, other) == ours


def test_stop_is_sticky_with_original_evidence() -> None:
    engine = hpprune.Engine(SH(1, 2))
    engine.report("a", 1, 0.0)
    d = engine.report("b", 1, 1.0)
    assert d.action is Action.STOP
    assert engine.report("b", 8, -100.0) == d
