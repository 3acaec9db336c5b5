"""The policy we recommend to users: :func:`default_policy`.

The composition and its settings are chosen by measurement on the benchmark
(see docs/default_policy.md for the runs behind them).
"""

from __future__ import annotations

from hpprune import validate
from hpprune.pruners.base import AnyOf, Policy
from hpprune.pruners.halving import SuccessiveHalvingPruner
from hpprune.pruners.posterior import BayesianPruner


def default_policy(max_step: int | None = None) -> Policy:
    """The recommended pruning policy.

    Args:
        max_step: The last step of a full run, when known; warm-up and rung
            sizes scale with it. None uses settings that suit curves of a few
            dozen steps.

    Returns:
        A policy to pass to :class:`hpprune.Engine` or any front door.

    Raises:
        TypeError: If ``max_step`` is not an int.
        ValueError: If ``max_step`` < 1.

    Non-finite reports are handled by the engine (the trial stops with
    ``non_finite``) and never reach the policy.
    """
    horizon = 50 if max_step is None else validate.int_param(max_step, "max_step", 1)
    warmup = max(1, round(0.3 * horizon))
    return AnyOf(
        [
            BayesianPruner(alpha=0.05, n_startup_trials=5, n_warmup_steps=warmup),
            SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=3),
        ]
    )
