"""Settings translated from Optuna and Ray Tune (docs/optuna.md, docs/ray_tune.md)."""

from __future__ import annotations

import pytest

from hpprune import Engine, HyperbandPruner, MedianPruner, policy_hash


def test_max_t_is_an_alias_of_max_resource() -> None:
    alias = HyperbandPruner(min_resource=1, max_t=27, reduction_factor=3)
    named = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
    assert alias.max_resource == 27 and alias.params() == named.params()
    assert policy_hash(alias) == policy_hash(named)  # one log, whichever name was used
    assert alias.n_brackets == named.n_brackets
    assert HyperbandPruner(max_resource=27, max_t=27).max_resource == 27


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_resource": 9, "max_t": 27}, ValueError, "max_t"),
        ({"max_t": 0}, ValueError, "max_t"),
        ({"max_t": "27"}, TypeError, "max_t"),
        ({"min_resource": 3, "max_t": 2}, ValueError, "max_resource"),
    ],
)
def test_max_t_bad_values(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        HyperbandPruner(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first_step", "n_warmup_steps", "first_stop_after_reports"),
    [
        (0, 3, 4),  # LightGBM/XGBoost callbacks: rounds from 0
        (1, 3, 3),  # Ray Tune: training_iteration from 1
        (0, 2, 3),  # a Ray grace_period of 3 with a 0-based callback: n_warmup_steps = 3 - 1
    ],
)
def test_step_counting(first_step: int, n_warmup_steps: int, first_stop_after_reports: int) -> None:
    engine = Engine(MedianPruner(n_startup_trials=1, n_warmup_steps=n_warmup_steps))
    for k in range(6):
        engine.report("good", first_step + k, 0.1)
    engine.complete("good")
    for n in range(1, 7):
        if engine.report("bad", first_step + n - 1, 1.0).stops:
            break
    assert n == first_stop_after_reports
