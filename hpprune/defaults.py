"""The policy we recommend to users: :func:`default_policy`.

The composition and its settings were chosen by measurement on the LCBench
benchmark (``hpprune bench lcbench``); docs/default_policy.md has the candidate
search and the final table behind them.
"""

from __future__ import annotations

from hpprune import validate
from hpprune.pruners.base import Policy
from hpprune.pruners.posterior import BayesianPruner

#: Steps assumed for a full run when ``max_step`` is not given.
ASSUMED_MAX_STEP = 50
#: Fraction of ``max_step`` during which no trial is stopped.
WARMUP_FRACTION = 0.2
#: Completed trials needed before the first decision (the posterior needs 3 peers).
N_STARTUP_TRIALS = 3
#: Stop when P(final beats the incumbent) falls below this.
ALPHA = 0.05


def default_policy(max_step: int | None = None) -> Policy:
    """The recommended pruning policy: a warmed-up :class:`BayesianPruner`.

    A trial is stopped once its predicted final score has less than a 5 %
    chance of beating the best completed trial, never before 20 % of
    ``max_step`` (``n_warmup_steps = max(1, round(0.2 * max_step))``) and never
    before 3 trials have completed. The best-ranked trial at each step is never
    stopped (``n_keep=1``). On LCBench (30 runs per worker setting) this kept
    the eventual best configuration in all but at most one run; composing it
    with successive halving or a percentile rule stopped more trials but lost the
    best configuration far more often (docs/default_policy.md).

    Args:
        max_step: The last step of a full run (e.g. the number of epochs), when
            known; the warm-up scales with it. None assumes curves of about
            50 steps (warm-up of 10 steps).

    Returns:
        A policy to pass to :class:`hpprune.Engine` or any front door.

    Raises:
        TypeError: If ``max_step`` is not an int (or is a bool).
        ValueError: If ``max_step`` < 1.

    Non-finite reports are handled by the engine (the trial stops with
    ``non_finite``) and never reach the policy.
    """
    horizon = ASSUMED_MAX_STEP if max_step is None else validate.int_param(max_step, "max_step", 1)
    warmup = max(1, round(WARMUP_FRACTION * horizon))
    return BayesianPruner(alpha=ALPHA, n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=warmup)
