"""Recalibration of BayesianPruner's probabilities from the study's own completed trials."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpprune import BayesianPruner, Engine
from hpprune.pruners import _recalibration as rc


def _records(p: float, rate: float, trials: int, per_trial: int = 4) -> tuple[np.ndarray, ...]:
    """``trials`` trials with ``per_trial`` records at probability ``p``; a ``rate`` share win."""
    wins = round(rate * trials)
    y = np.repeat([1.0] * wins + [0.0] * (trials - wins), per_trial)
    w = np.full(y.size, 1.0 / per_trial)
    return np.full(y.size, p), y, w


@pytest.mark.parametrize(
    ("p", "rate", "trials", "expect"),
    [
        (0.5, 0.5, 40, "same"),  # calibrated records: map stays near identity
        (0.5, 0.1, 40, "lower"),  # overconfident model: p is pulled down
        (0.1, 0.5, 40, "higher"),  # underconfident model: p is pushed up
        (0.5, 0.0, rc.MIN_TRIALS - 1, "identity"),  # too few trials: no recalibration
    ],
)
def test_map_moves_towards_observed_frequency(
    p: float, rate: float, trials: int, expect: str
) -> None:
    recal = rc.fit_recalibration(*_records(p, rate, trials), n_trials=trials)
    got = recal.apply(p)
    if expect == "identity":
        assert recal.is_identity and got == p
    elif expect == "same":
        assert abs(got - p) < 0.05
    elif expect == "lower":
        assert got < p and abs(got - rate) < abs(p - rate)
    else:
        assert got > p and abs(got - rate) < abs(p - rate)


@given(
    a=st.floats(-5, 5),
    b=st.floats(0.1, 5),
    p=st.floats(0.001, 0.999),
    q=st.floats(0.001, 0.999),
)
def test_map_is_monotone_and_invertible(a: float, b: float, p: float, q: float) -> None:
    m = rc.Recalibration(a, b, 10, 10)
    if p < q:
        assert m.apply(p) <= m.apply(q)
    assert m.inverse(m.apply(p)) == pytest.approx(p, rel=1e-6, abs=1e-9)
    assert math.isnan(m.apply(math.nan))


def _study(pruner: BayesianPruner, n: int, seed: int = 0) -> Engine:
    """``n`` completed trials whose early scores say little about their finals (overconfident)."""
    rng = np.random.default_rng(seed)
    engine = Engine(pruner)
    for i in range(n):
        final = rng.uniform(0.0, 1.0)
        for step in range(1, 11):
            noise = rng.normal(0.0, 0.3) if step < 10 else 0.0
            engine.report(f"t{i}", step, final + noise * (10 - step) / 10)
        engine.complete(f"t{i}")
    return engine


def test_pruner_off_switch_reports_raw_probability() -> None:
    engine = _study(BayesianPruner(recalibrate=False, n_startup_trials=100), 30)
    engine.report("q", 1, 0.5)
    pred = BayesianPruner(recalibrate=False).predict(engine.study.trial("q"), engine.study)
    assert pred is not None
    assert pred.p_improve == pred.p_improve_raw
    assert (pred.recal_a, pred.recal_b) == (0.0, 1.0)


def test_pruner_learns_a_map_and_applies_it_everywhere() -> None:
    engine = _study(BayesianPruner(n_startup_trials=100), 30)
    engine.report("q", 1, 0.5)
    pred = BayesianPruner().predict(engine.study.trial("q"), engine.study)
    assert pred is not None
    m = pred.recalibration
    assert not m.is_identity
    assert pred.p_improve == pytest.approx(m.apply(pred.p_improve_raw))
    # cdf, prob_better and quantile use the same map
    x = pred.quantile(0.3)
    assert pred.cdf(x) == pytest.approx(0.3, abs=1e-6)
    assert pred.prob_better(x) == pytest.approx(0.3, abs=1e-6)  # minimise: better = below
    assert BayesianPruner().to_dict()["params"]["recalibrate"] is True


def test_bad_recalibrate_parameter_is_named() -> None:
    with pytest.raises(TypeError, match="recalibrate"):
        BayesianPruner(recalibrate=1)  # type: ignore[arg-type]


def test_logs_of_earlier_versions_keep_their_meaning() -> None:
    from hpprune import policy_from_dict

    old = {"type": "hpprune.pruners.posterior.BayesianPruner", "params": {"alpha": 0.1}}
    rebuilt = policy_from_dict(old)
    assert isinstance(rebuilt, BayesianPruner)
    assert rebuilt.recalibrate is False and rebuilt.warm_check is None
    new = BayesianPruner(alpha=0.1)
    assert policy_from_dict(new.to_dict()).to_dict() == new.to_dict()
