"""Parity with Optuna's own pruners on identical curves.

Each case drives a real in-memory Optuna study and an hpprune Engine with the
same curves, one trial at a time (each trial runs to its end or to a prune),
and asserts that the same trials are pruned at the same steps. Deliberate
differences are documented in docs/pruners.md and tested separately below.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import optuna
import pytest

import hpprune
from hpprune.pruners.base import Policy
from hpprune.pruners.hyperband import bracket_budgets, n_brackets
from tests.streams import make_curves

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

Curve = list[tuple[int, float]]


def _curves(
    seed: int, n_trials: int, n_steps: int, *, skip: bool, decimals: int | None
) -> list[Curve]:
    """Saturating curves; with ``skip`` each trial reports a random subset of steps."""
    rng = np.random.default_rng(seed + 100)
    out: list[Curve] = []
    for values in make_curves(n_trials, n_steps, seed).values():
        steps = list(range(n_steps))
        if skip:
            keep = sorted(rng.choice(n_steps, size=max(2, n_steps // 2), replace=False))
            steps = [int(s) for s in keep]
        curve = [(s, values[s]) for s in steps]
        if decimals is not None:  # coarse values create ties
            curve = [(s, round(v, decimals)) for s, v in curve]
        out.append(curve)
    return out


def _optuna_prunes(
    pruner: optuna.pruners.BasePruner, curves: list[Curve], direction: str, sign: float
) -> dict[int, int | None]:
    pruned: dict[int, int | None] = {}

    def objective(trial: optuna.Trial) -> float:
        curve = curves[trial.number]
        pruned[trial.number] = None
        for step, value in curve:
            trial.report(sign * value, step)
            if trial.should_prune():
                pruned[trial.number] = step
                raise optuna.TrialPruned()
        return sign * curve[-1][1]

    study = optuna.create_study(
        direction=direction,  # type: ignore[arg-type]
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(objective, n_trials=len(curves))
    return pruned


def _hpprune_prunes(
    policy: Policy, curves: list[Curve], direction: str, sign: float
) -> dict[int, int | None]:
    engine = hpprune.Engine(policy, direction)
    pruned: dict[int, int | None] = {}
    for number, curve in enumerate(curves):
        pruned[number] = None
        for step, value in curve:
            if engine.report(number, step, sign * value).stops:
                pruned[number] = step
                break
        else:
            engine.complete(number, sign * curve[-1][1])
    return pruned


PAIRS: list[tuple[str, Callable[[], optuna.pruners.BasePruner], Callable[[], Policy]]] = [
    ("median", lambda: optuna.pruners.MedianPruner(), lambda: hpprune.MedianPruner()),
    (
        "median-warmup-interval",
        lambda: optuna.pruners.MedianPruner(2, n_warmup_steps=3, interval_steps=2),
        lambda: hpprune.MedianPruner(2, n_warmup_steps=3, interval_steps=2),
    ),
    (
        "percentile25-min-trials",
        lambda: optuna.pruners.PercentilePruner(25.0, 3, 1, 1, n_min_trials=3),
        lambda: hpprune.PercentilePruner(25.0, 3, 1, 1, n_min_trials=3),
    ),
    (
        "percentile80",
        lambda: optuna.pruners.PercentilePruner(80.0, n_startup_trials=1),
        lambda: hpprune.PercentilePruner(80.0, n_startup_trials=1),
    ),
    (
        "sha-1-3",
        lambda: optuna.pruners.SuccessiveHalvingPruner(1, 3),
        lambda: hpprune.SuccessiveHalvingPruner(1, 3),
    ),
    (
        "sha-2-2-rate1",
        lambda: optuna.pruners.SuccessiveHalvingPruner(2, 2, min_early_stopping_rate=1),
        lambda: hpprune.SuccessiveHalvingPruner(2, 2, min_early_stopping_rate=1),
    ),
    (
        "sha-1-4-bootstrap2",
        lambda: optuna.pruners.SuccessiveHalvingPruner(1, 4, bootstrap_count=2),
        lambda: hpprune.SuccessiveHalvingPruner(1, 4, bootstrap_count=2),
    ),
    (
        "threshold",
        lambda: optuna.pruners.ThresholdPruner(lower=0.2, upper=1.4, n_warmup_steps=1),
        lambda: hpprune.ThresholdPruner(lower=0.2, upper=1.4, n_warmup_steps=1),
    ),
    (
        "threshold-max",
        lambda: optuna.pruners.ThresholdPruner(lower=-1.4, upper=-0.2, n_warmup_steps=1),
        lambda: hpprune.ThresholdPruner(lower=-1.4, upper=-0.2, n_warmup_steps=1),
    ),
    (
        "patient-alone",
        lambda: optuna.pruners.PatientPruner(None, patience=2, min_delta=0.005),
        lambda: hpprune.PatientPruner(None, patience=2, min_delta=0.005),
    ),
    (
        "patient-median",
        lambda: optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(2), patience=1),
        lambda: hpprune.PatientPruner(hpprune.MedianPruner(2), patience=1),
    ),
]


@pytest.mark.parametrize(("name", "make_optuna", "make_ours"), PAIRS, ids=[p[0] for p in PAIRS])
@pytest.mark.parametrize(
    ("seed", "direction", "skip", "decimals"),
    [
        (0, "minimize", False, None),
        (1, "maximize", False, None),
        (2, "minimize", True, None),
        (3, "maximize", True, 1),
        (4, "minimize", False, 1),
    ],
)
def test_same_prune_steps_as_optuna(
    name: str,
    make_optuna: Callable[[], optuna.pruners.BasePruner],
    make_ours: Callable[[], Policy],
    seed: int,
    direction: str,
    skip: bool,
    decimals: int | None,
) -> None:
    if name.startswith("threshold") and (direction == "maximize") != name.endswith("-max"):
        pytest.skip("bounds are on the user's scale: each threshold pair fits one direction")
    curves = _curves(seed, 25, 16, skip=skip, decimals=decimals)
    sign = 1.0 if direction == "minimize" else -1.0
    theirs = _optuna_prunes(make_optuna(), curves, direction, sign)
    ours = _hpprune_prunes(make_ours(), curves, direction, sign)
    assert ours == theirs
    n_pruned = sum(v is not None for v in ours.values())
    # The comparison is only meaningful when something gets pruned (and, except with
    # bootstrapping, which stops the first arrivals at every rung, something survives).
    # Coarse (tied) values may legitimately prune nothing under patience.
    assert n_pruned > 0 or decimals is not None, name
    if "bootstrap" not in name:
        assert n_pruned < len(curves), name


def test_hyperband_brackets_match_optuna_successive_halving() -> None:
    """Each hpprune Hyperband bracket decides like Optuna's SH run on that bracket's trials.

    The bracket hash differs from Optuna's (blake2b of the trial id vs crc32 of
    study name and number), so Optuna's HyperbandPruner cannot be compared
    trial by trial; within a bracket the rule must be Optuna's. Documented
    difference: Optuna may prune a trial at max_resource, its last step; hpprune
    lets it complete (Reason.FINAL_STEP), so such prunes count as "not pruned".
    """
    policy = hpprune.HyperbandPruner(1, 27, 3)
    curves = _curves(5, 60, 28, skip=False, decimals=None)
    ours = _hpprune_prunes(policy, curves, "minimize", 1.0)
    seen = 0
    for bracket in range(4):
        numbers = [n for n in range(len(curves)) if policy.bracket(str(n)) == bracket]
        sub = [curves[n] for n in numbers]
        theirs = _optuna_prunes(
            optuna.pruners.SuccessiveHalvingPruner(1, 3, min_early_stopping_rate=bracket),
            sub,
            "minimize",
            1.0,
        )
        final = {
            i: (None if step is not None and step >= 27 else step) for i, step in theirs.items()
        }
        assert {numbers[i]: step for i, step in final.items()} == {n: ours[n] for n in numbers}
        seen += len(numbers)
    assert seen == len(curves)


@pytest.mark.parametrize(
    ("min_resource", "max_resource", "reduction_factor"),
    [(1, 1, 3), (3, 243, 3), (10, 1000, 3), (5, 125, 3), (5, 125, 5), (1, 100, 3), (2, 50, 2)],
)
def test_bracket_counts_and_budgets_match_optuna(
    min_resource: int, max_resource: int, reduction_factor: int
) -> None:
    theirs = optuna.pruners.HyperbandPruner(min_resource, max_resource, reduction_factor)
    theirs._try_initialization(None)  # type: ignore[arg-type]  # brackets from parameters
    count = n_brackets(min_resource, max_resource, reduction_factor)
    assert count == theirs._n_brackets
    assert bracket_budgets(count, reduction_factor) == theirs._trial_allocation_budgets


@pytest.mark.parametrize(
    ("min_resource", "max_resource", "reduction_factor", "optuna_count", "exact_count"),
    [(3, 729, 3, 5, 6), (1, 1000, 10, 3, 4), (1, 243, 3, 5, 6)],
)
def test_bracket_count_where_optuna_float_log_undercounts(
    min_resource: int,
    max_resource: int,
    reduction_factor: int,
    optuna_count: int,
    exact_count: int,
) -> None:
    """Documented difference: Optuna's ``floor(math.log(...))`` drops a bracket at exact powers."""
    theirs = optuna.pruners.HyperbandPruner(min_resource, max_resource, reduction_factor)
    theirs._try_initialization(None)  # type: ignore[arg-type]
    assert theirs._n_brackets == optuna_count
    assert n_brackets(min_resource, max_resource, reduction_factor) == exact_count
    assert min_resource * reduction_factor ** (exact_count - 1) == max_resource


def test_auto_min_resource_resolves_like_optuna() -> None:
    """``min_resource="auto"`` resolves to the same number as Optuna's heuristic."""
    curves = [[(s, 1.0 / (s + 1 + i)) for s in range(0, 460, 7)] for i in range(4)]
    pruner = optuna.pruners.SuccessiveHalvingPruner("auto", 3)
    _optuna_prunes(pruner, curves, "minimize", 1.0)
    engine = hpprune.Engine(hpprune.SuccessiveHalvingPruner("auto", 3))
    for step, value in curves[0]:
        engine.report("0", step, value)
    policy = engine.policy
    assert isinstance(policy, hpprune.SuccessiveHalvingPruner)
    assert policy.resolved_min_resource(engine.study) is None
    engine.complete("0")
    assert policy.resolved_min_resource(engine.study) == pruner._min_resource == 4
    assert math.isfinite(engine.study.incumbent())
