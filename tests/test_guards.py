"""Guards: patience, thresholds, minimum floor, and the keep-top-k / keep-diverse safeguards."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.types import Decision, Reason, stop


class StopAlways(Policy):
    """Proposes STOP at every report (to exercise wrappers)."""

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        del trial, study
        return stop(self.name, "test_stop", note="always")

    def params(self) -> dict[str, Any]:
        return {}


def _run(policy: Policy, values: list[float], direction: str = "minimize") -> list[tuple[str, str]]:
    """Report one curve (steps 0..n-1) and return (action, reason) until the first stop."""
    engine = hpprune.Engine(policy, direction)
    out = []
    for step, v in enumerate(values):
        d = engine.report("t", step, v)
        out.append((d.action.value, d.reason))
        if d.stops:
            break
    return out


# ------------------------------------------------------------------ patience
# (patience, min_delta, values (minimize), index of the stop or None)
PATIENCE_ROWS: list[tuple[int, float, list[float], int | None]] = [
    # before [5, 4, 3] best 3 < window [3.5, 3.2, 3.1] best 3.1 -> stagnant at index 5
    (2, 0.0, [5, 4, 3, 3.5, 3.2, 3.1], 5),
    (2, 0.0, [5, 4, 3, 3.5, 3.2, 2.9], None),  # improved inside the window
    (2, 0.2, [5, 4, 3, 3.5, 3.2, 3.1], None),  # 3 + 0.2 < 3.1 is false
    (2, 0.05, [5, 4, 3, 3.5, 3.2, 3.1], 5),  # 3.05 < 3.1
    (0, 0.0, [1.0, 1.0], None),  # equal is not worse
    (0, 0.0, [1.0, 1.1], 1),  # patience 0: the latest must improve on the best before
    (3, 0.0, [1, 2, 3, 4], None),  # needs more than patience + 1 reports
    (3, 0.0, [1, 2, 3, 4, 5], 4),
]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize(("patience", "min_delta", "values", "stop_at"), PATIENCE_ROWS)
def test_patience_table(
    patience: int, min_delta: float, values: list[float], stop_at: int | None, direction: str
) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    got = _run(
        hpprune.PatientPruner(None, patience, min_delta), [sign * v for v in values], direction
    )
    stops = [i for i, (a, _) in enumerate(got) if a == "stop"]
    assert stops == ([] if stop_at is None else [stop_at])
    if stop_at is not None:
        assert got[-1] == ("stop", Reason.PATIENCE)


def test_patience_evidence_and_wrapping() -> None:
    engine = hpprune.Engine(hpprune.PatientPruner(None, 1), "maximize")
    for s, v in enumerate([0.5, 0.7, 0.6, 0.65]):
        d = engine.report("t", s, v)
    assert d.reason == Reason.PATIENCE
    assert dict(d.evidence) == {
        "best_before_window": 0.7,
        "best_in_window": 0.65,
        "window_steps": [2, 3],
        "window_values": [0.6, 0.65],
        "patience": 1,
        "min_delta": 0.0,
    }
    # Wrapped: only stagnant trials are handed to the wrapped policy, which then decides.
    wrapped = hpprune.Engine(hpprune.PatientPruner(StopAlways(), 1))
    assert wrapped.report("t", 0, 3.0).reason == Reason.WARMUP
    assert wrapped.report("t", 1, 2.0).reason == Reason.WARMUP
    assert wrapped.report("t", 2, 1.0).reason == Reason.OK  # improving: StopAlways not asked
    d = wrapped.report("t", 3, 1.5)  # best before window 2.0 ... window [1.0, 1.5]: improving
    assert d.reason == Reason.OK
    d = wrapped.report("t", 4, 1.2)  # before [3, 2, 1] best 1.0 < window best 1.2
    assert (d.rule, d.reason) == ("StopAlways", "test_stop")
    assert d.evidence["note"] == "always"
    assert d.evidence["patience_window"]["window_values"] == [1.5, 1.2]


# ----------------------------------------------------------------- threshold
# (kwargs, values on the user's scale, expected (action, reason) per report)
THRESHOLD_ROWS: list[tuple[dict[str, Any], list[float], list[str]]] = [
    ({"upper": 1.0}, [0.0, 0.1, 0.5, 1.2], ["ok", "ok", "ok", "threshold"]),
    ({"lower": 0.0}, [100.0, 90.0, 0.1, 0.0, -1.0], ["ok", "ok", "ok", "ok", "threshold"]),
    ({"lower": 0.0, "upper": 1.0}, [-0.5], ["threshold"]),
    ({"upper": 1.0, "n_warmup_steps": 2}, [5.0, 5.0, 5.0], ["warmup", "warmup", "threshold"]),
    (
        {"upper": 1.0, "n_warmup_steps": 1, "interval_steps": 2},
        [5.0, 0.5, 5.0, 5.0],
        ["warmup", "ok", "interval", "threshold"],
    ),
]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize(("kwargs", "values", "reasons"), THRESHOLD_ROWS)
def test_threshold_table(
    kwargs: dict[str, Any], values: list[float], reasons: list[str], direction: str
) -> None:
    # Bounds are on the user's scale, so the direction does not change anything.
    got = _run(hpprune.ThresholdPruner(**kwargs), values, direction)
    assert [r for _, r in got] == reasons
    assert [a for a, _ in got] == ["stop" if r == "threshold" else "continue" for r in reasons]


def test_threshold_evidence() -> None:
    engine = hpprune.Engine(hpprune.ThresholdPruner(lower=0.2), "maximize")
    d = engine.report("t", 0, 0.1)
    assert dict(d.evidence) == {"value": 0.1, "lower": 0.2, "upper": None, "bound": "lower"}


# ------------------------------------------------------------ minimum floor
# (direction, threshold, by_step, values, index of the stop or None)
FLOOR_ROWS: list[tuple[str, float, int, list[float], int | None]] = [
    ("maximize", 0.3, 3, [0.1, 0.2, 0.25, 0.28, 0.5], 3),  # accuracy >= 0.3 by step 3
    ("maximize", 0.3, 3, [0.1, 0.35, 0.25, 0.28, 0.5], None),  # best so far counts
    ("maximize", 0.3, 3, [0.1, 0.2, 0.25, 0.3], None),  # equal is enough
    ("maximize", 0.3, 0, [0.1], 0),
    ("minimize", 2.0, 2, [5.0, 3.0, 2.5, 1.0], 2),  # loss <= 2.0 by step 2
    ("minimize", 2.0, 2, [5.0, 3.0, 1.9, 2.5], None),
]


@pytest.mark.parametrize(("direction", "threshold", "by_step", "values", "stop_at"), FLOOR_ROWS)
def test_minimum_floor_table(
    direction: str, threshold: float, by_step: int, values: list[float], stop_at: int | None
) -> None:
    got = _run(hpprune.MinimumAccuracyPruner(threshold, by_step), values, direction)
    stops = [i for i, (a, _) in enumerate(got) if a == "stop"]
    assert stops == ([] if stop_at is None else [stop_at])
    if stop_at is not None:
        assert got[-1][1] == Reason.MIN_ACCURACY
    assert all(r == Reason.WARMUP for _, r in got[:by_step])


def test_minimum_floor_evidence() -> None:
    engine = hpprune.Engine(hpprune.MinimumAccuracyPruner(0.3, 1), "maximize")
    engine.report("t", 0, 0.2)
    d = engine.report("t", 1, 0.1)
    assert dict(d.evidence) == {"best_so_far": 0.2, "threshold": 0.3, "by_step": 1, "must_be": ">="}


# ---------------------------------------------------------------- keep top k
def test_keep_top_k_table() -> None:
    engine = hpprune.Engine(hpprune.KeepTopK(StopAlways(), n_keep=2), "maximize")
    rows = [  # (trial, step, accuracy, kept?, rank at the step)
        ("a", 0, 0.5, True, 1),
        ("b", 0, 0.4, True, 2),
        ("c", 0, 0.6, True, 1),  # the pool at step 0 is now [0.6, 0.5, 0.4]
        ("d", 0, 0.45, False, 3),
        ("a", 1, 0.7, True, 1),
        ("b", 1, 0.7, True, 1),  # ties share the best rank
        ("c", 1, 0.65, False, 3),
        ("e", 0, 0.6, True, 1),  # tie with c at step 0
    ]
    for trial, step, value, kept, rank in rows:
        d = engine.report(trial, step, value)
        if kept:
            assert (d.action.value, d.reason) == ("continue", Reason.KEPT_TOP_K), trial
            assert d.evidence["rank"] == rank
            assert d.evidence["vetoed"] == "StopAlways:test_stop"
            assert d.evidence["value"] == value
        else:
            assert (d.action.value, d.reason, d.rule) == ("stop", "test_stop", "StopAlways")


def test_keep_top_k_passes_other_decisions_through() -> None:
    engine = hpprune.Engine(hpprune.KeepTopK(hpprune.MedianPruner(n_startup_trials=1), 1))
    d = engine.report("a", 0, 1.0)
    assert (d.rule, d.reason) == ("MedianPruner", Reason.STARTUP)


# -------------------------------------------------------------- keep diverse
def test_keep_diverse_keeps_the_best_of_each_region() -> None:
    policy = hpprune.KeepDiverse(StopAlways(), by=["opt", "depth"], n_keep_per_group=1)
    engine = hpprune.Engine(policy)
    trials: dict[str, tuple[dict[str, Any], float]] = {  # id: (params, loss at step 0)
        "a": ({"opt": "sgd", "depth": 2}, 1.0),
        "b": ({"opt": "sgd", "depth": 2}, 0.9),  # better than a in the same region
        "c": ({"opt": "sgd", "depth": 2}, 1.5),
        "d": ({"opt": "adam", "depth": 2}, 5.0),  # alone in its region: kept, however bad
        "e": ({"opt": "sgd", "depth": 3}, 2.0),
        "f": ({"opt": "sgd"}, 3.0),  # a missing param is its own value (None)
    }
    for tid, (params, _) in trials.items():
        engine.add_trial(tid, params)
    got = {tid: engine.report(tid, 0, loss) for tid, (_, loss) in trials.items()}
    assert {t: d.reason for t, d in got.items()} == {
        "a": Reason.KEPT_DIVERSE,  # first in its region when it reported
        "b": Reason.KEPT_DIVERSE,
        "c": "test_stop",
        "d": Reason.KEPT_DIVERSE,
        "e": Reason.KEPT_DIVERSE,
        "f": Reason.KEPT_DIVERSE,
    }
    assert dict(got["b"].evidence["region"]) == {"opt": "sgd", "depth": 2}
    assert (got["b"].evidence["rank"], got["b"].evidence["n_in_region"]) == (1, 2)
    assert dict(got["f"].evidence["region"]) == {"opt": "sgd", "depth": None}
    # At step 1 a is now behind b in its region: it is stopped.
    engine.report("b", 1, 0.5)
    assert engine.report("a", 1, 0.8).reason == "test_stop"


def test_keep_diverse_with_two_per_group_and_stale_peers() -> None:
    engine = hpprune.Engine(hpprune.KeepDiverse(StopAlways(), ["opt"], n_keep_per_group=2))
    for tid, v in [("a", 1.0), ("b", 2.0)]:
        engine.add_trial(tid, {"opt": "sgd"})
        engine.report(tid, 0, v)
    engine.add_trial("c", {"opt": "sgd"})
    engine.mark_stale("a")  # a stale trial's values leave the pools
    d = engine.report("c", 0, 3.0)
    assert (d.reason, d.evidence["rank"], d.evidence["n_in_region"]) == (Reason.KEPT_DIVERSE, 2, 2)


H: Any = hpprune  # the table below passes wrong types on purpose


# ------------------------------------------------------------- composition
def test_nested_policies_round_trip() -> None:
    policy = hpprune.KeepDiverse(
        hpprune.PatientPruner(
            hpprune.AnyOf([hpprune.MedianPruner(3), hpprune.ThresholdPruner(upper=2.0)]), 2, 0.1
        ),
        by=["opt"],
        n_keep_per_group=2,
    )
    data = json.loads(json.dumps(policy.to_dict()))
    again = hpprune.policy_from_dict(data)
    assert again == policy
    assert repr(again) == repr(policy)
    top = hpprune.KeepTopK(hpprune.PatientPruner(None, 3), 4)
    assert hpprune.policy_from_dict(top.to_dict()) == top
    hb = hpprune.KeepTopK(hpprune.HyperbandPruner(1, 27), 2)
    assert hb.groups("t1") == hpprune.HyperbandPruner(1, 27).groups("t1")  # partitions forwarded


BAD_PARAMS: list[tuple[Any, type[Exception], str]] = [
    (lambda: H.PatientPruner(None, -1), ValueError, "patience"),
    (lambda: H.PatientPruner(None, 1.5), TypeError, "patience"),
    (lambda: H.PatientPruner(None, 1, -0.1), ValueError, "min_delta"),
    (lambda: H.PatientPruner(None, 1, float("nan")), ValueError, "min_delta"),
    (lambda: H.PatientPruner("median", 1), TypeError, "wrapped"),
    (lambda: H.ThresholdPruner(), TypeError, "lower"),
    (lambda: H.ThresholdPruner(lower=2.0, upper=1.0), ValueError, "lower"),
    (lambda: H.ThresholdPruner(lower="0"), TypeError, "lower"),
    (lambda: H.ThresholdPruner(upper=float("inf")), ValueError, "upper"),
    (lambda: H.ThresholdPruner(upper=1.0, n_warmup_steps=-1), ValueError, "n_warmup_steps"),
    (lambda: H.ThresholdPruner(upper=1.0, interval_steps=0), ValueError, "interval_steps"),
    (lambda: H.MinimumAccuracyPruner(float("nan"), 1), ValueError, "threshold"),
    (lambda: H.MinimumAccuracyPruner(None, 1), TypeError, "threshold"),
    (lambda: H.MinimumAccuracyPruner(0.3, -1), ValueError, "by_step"),
    (lambda: H.MinimumAccuracyPruner(0.3, 2.0), TypeError, "by_step"),
    (lambda: H.KeepTopK(StopAlways(), 0), ValueError, "n_keep"),
    (lambda: H.KeepTopK(None, 1), TypeError, "wrapped"),
    (lambda: H.KeepDiverse(StopAlways(), []), ValueError, "by"),
    (lambda: H.KeepDiverse(StopAlways(), "opt"), TypeError, "by"),
    (lambda: H.KeepDiverse(StopAlways(), [1]), TypeError, "by"),
    (lambda: H.KeepDiverse(StopAlways(), ["a"], 0), ValueError, "n_keep_per_group"),
]


@pytest.mark.parametrize(("make", "exc", "field"), BAD_PARAMS)
def test_invalid_parameters(make: Any, exc: type[Exception], field: str) -> None:
    with pytest.raises(exc, match=field):
        make()


# -------------------------------------------------------------- properties
_GUARDS: list[Callable[[], Policy]] = [
    lambda: hpprune.PatientPruner(None, 2, 0.01),
    lambda: hpprune.ThresholdPruner(-1.0, 1.0, n_warmup_steps=1),
    lambda: hpprune.MinimumAccuracyPruner(0.0, 2),
    lambda: hpprune.KeepTopK(hpprune.PatientPruner(None, 1), 2),
    lambda: hpprune.KeepTopK(hpprune.SuccessiveHalvingPruner(1, 2), 2),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    curves=st.lists(
        st.lists(
            st.floats(-3, 3, allow_nan=False).map(lambda x: round(x, 2)), min_size=1, max_size=8
        ),
        min_size=1,
        max_size=6,
    ),
    which=st.integers(0, len(_GUARDS) - 1),
)
def test_guards_deterministic_and_direction_symmetric(
    curves: list[list[float]], which: int
) -> None:
    def run(direction: str) -> list[tuple[str, int, str, str]]:
        sign = 1.0 if direction == "minimize" else -1.0
        engine = hpprune.Engine(_GUARDS[which](), direction)
        out = []
        for i, curve in enumerate(curves):  # one trial at a time, stopped ones halt
            for step, v in enumerate(curve):
                d = engine.report(f"t{i}", step, sign * v)
                out.append((f"t{i}", step, d.action.value, d.reason))
                if d.stops:
                    break
        return out

    first = run("minimize")
    assert run("minimize") == first
    assert run("maximize") == first
