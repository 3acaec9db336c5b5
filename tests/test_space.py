"""Search-space description: validation, seeded sampling, Optuna conversion."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpprune import space as sp

# ----------------------------------------------------------------------------- validation
BAD = [
    # (factory, exception, text that must appear in the message)
    (lambda: sp.Uniform(1.0, 1.0), ValueError, "high"),
    (lambda: sp.Uniform(2.0, 1.0), ValueError, "high"),
    (lambda: sp.Uniform("a", 2.0), TypeError, "low"),
    (lambda: sp.Uniform(0.0, math.inf), ValueError, "high"),
    (lambda: sp.Uniform(math.nan, 1.0), ValueError, "low"),
    (lambda: sp.Uniform(True, 2.0), TypeError, "low"),
    (lambda: sp.LogUniform(0.0, 1.0), ValueError, "low"),
    (lambda: sp.LogUniform(-1.0, 1.0), ValueError, "low"),
    (lambda: sp.LogUniform(1e-3, 1e-3), ValueError, "high"),
    (lambda: sp.IntUniform(1.5, 3), TypeError, "low"),  # type: ignore[arg-type]
    (lambda: sp.IntUniform(1, 3.0), TypeError, "high"),  # type: ignore[arg-type]
    (lambda: sp.IntUniform(3, 1), ValueError, "high"),
    (lambda: sp.IntUniform(0, 5, log=True), ValueError, "low"),
    (lambda: sp.IntUniform(1, 5, log="yes"), TypeError, "log"),  # type: ignore[arg-type]
    (lambda: sp.Categorical([]), ValueError, "choices"),
    (lambda: sp.Categorical("abc"), TypeError, "choices"),
    (lambda: sp.Categorical([object()]), TypeError, "choices[0]"),
    (lambda: sp.Categorical(["a", "a"]), ValueError, "repeated"),
    (lambda: sp.Categorical([1.0, math.nan]), ValueError, "choices[1]"),
]


@pytest.mark.parametrize(("factory", "exc", "text"), BAD)
def test_bad_distributions_raise_naming_the_field(factory: Any, exc: type, text: str) -> None:
    with pytest.raises(exc, match=text.replace("[", r"\[").replace("]", r"\]")):
        factory()


def test_distributions_are_frozen_and_normalised() -> None:
    u = sp.Uniform(0, 2)
    assert u.low == 0.0 and isinstance(u.low, float)
    c = sp.Categorical(["l2", "l1"])
    assert c.choices == ("l2", "l1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.low = 1.0  # type: ignore[misc]
    # 1, True and 1.0 are different choices (different types), so this is allowed
    assert sp.Categorical([1, True, 1.0]).choices == (1, True, 1.0)
    assert sp.Categorical([1, True]).contains(True) and not sp.Categorical([1]).contains(True)


@pytest.mark.parametrize(
    ("space", "exc", "text"),
    [
        ([("a", sp.Uniform(0, 1))], TypeError, "mapping"),
        ({1: sp.Uniform(0, 1)}, TypeError, "keys"),
        ({"": sp.Uniform(0, 1)}, ValueError, "non-empty"),
        ({"a": [1, 2]}, TypeError, "space\\['a'\\]"),
    ],
)
def test_bad_spaces(space: Any, exc: type, text: str) -> None:
    with pytest.raises(exc, match=text):
        sp.check_space(space)


# ----------------------------------------------------------------------------- sampling
SPACE = {
    "alpha": sp.LogUniform(1e-6, 1e-1),
    "penalty": sp.Categorical(["l2", "l1", "elasticnet"]),
    "layers": sp.IntUniform(1, 4),
    "width": sp.IntUniform(8, 512, log=True),
    "momentum": sp.Uniform(0.5, 0.99),
}


def test_sample_is_deterministic_per_trial_number() -> None:
    first = [sp.sample(SPACE, 0, n) for n in range(20)]
    # same numbers drawn in another order give the same parameters
    again = {n: sp.sample(SPACE, 0, n) for n in reversed(range(20))}
    assert first == [again[n] for n in range(20)]
    assert len({repr(p) for p in first}) == 20  # trials differ
    assert sp.sample(SPACE, 1, 3) != sp.sample(SPACE, 0, 3)  # seeds differ
    for p in first:
        assert list(p) == list(SPACE)
        assert all(SPACE[k].contains(v) for k, v in p.items())
        assert type(p["layers"]) is int and type(p["alpha"]) is float


def test_trial_rng_is_the_spawned_child() -> None:
    child = np.random.default_rng(np.random.SeedSequence(7).spawn(4)[3])
    assert sp.trial_rng(7, 3).random() == child.random()
    with pytest.raises(ValueError, match="number"):
        sp.trial_rng(0, -1)
    with pytest.raises(TypeError, match="seed"):
        sp.trial_rng(1.5, 0)  # type: ignore[arg-type]


def test_marginal_distributions() -> None:
    rng = np.random.default_rng(0)
    logs = np.log10([sp.LogUniform(1e-6, 1e-1).draw(rng) for _ in range(4000)])
    assert abs(np.median(logs) - (-3.5)) < 0.15  # uniform in log10 on [-6, -1]
    ints = [sp.IntUniform(1, 4).draw(rng) for _ in range(4000)]
    counts = np.bincount(ints, minlength=5)[1:]
    assert counts.min() > 850 and counts.max() < 1150
    logints = np.array([sp.IntUniform(1, 1000, log=True).draw(rng) for _ in range(4000)])
    assert logints.min() >= 1 and logints.max() <= 1000
    assert 0.4 < np.mean(logints < 32) < 0.6  # half the draws below sqrt(1000)
    cats = [sp.Categorical(["a", "b"]).draw(rng) for _ in range(2000)]
    assert 900 < cats.count("a") < 1100


@settings(max_examples=60, deadline=None)
@given(
    lo=st.floats(-1e6, 1e6),
    width=st.floats(1e-3, 1e6),
    ilo=st.integers(-1000, 1000),
    iwidth=st.integers(0, 1000),
    seed=st.integers(0, 2**32),
    number=st.integers(0, 10**6),
)
def test_draws_stay_in_support(
    lo: float, width: float, ilo: int, iwidth: int, seed: int, number: int
) -> None:
    space = {
        "u": sp.Uniform(lo, lo + width),
        "lu": sp.LogUniform(width, width * 10),
        "i": sp.IntUniform(ilo, ilo + iwidth),
        "li": sp.IntUniform(iwidth + 1, 2 * iwidth + 1, log=True),
    }
    p = sp.sample(space, seed, number)
    assert all(space[k].contains(v) for k, v in p.items())


def test_optuna_distributions() -> None:
    pytest.importorskip("optuna")
    from optuna import distributions as od

    d = sp.to_optuna_distributions(SPACE)
    assert d["alpha"] == od.FloatDistribution(1e-6, 1e-1, log=True)
    assert d["momentum"] == od.FloatDistribution(0.5, 0.99)
    assert d["layers"] == od.IntDistribution(1, 4)
    assert d["width"] == od.IntDistribution(8, 512, log=True)
    assert d["penalty"] == od.CategoricalDistribution(("l2", "l1", "elasticnet"))
