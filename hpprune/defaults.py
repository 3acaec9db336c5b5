"""The policies we recommend to users: :func:`default_policy` and :func:`conservative_policy`.

Both were chosen by measurement (``hpprune bench lcbench`` and ``hpprune bench
sklearn``); docs/default_policy.md has the candidates tried and the tables
behind them.
"""

from __future__ import annotations

from hpprune import validate
from hpprune.pruners.base import Policy
from hpprune.pruners.freeze_thaw import FreezeThawPruner
from hpprune.pruners.halving import AUTO
from hpprune.pruners.posterior import BayesianPruner

#: Promotion ratio of the default's rungs (the best third goes on).
REDUCTION_FACTOR = 3
#: conservative_policy: steps assumed for a full run when ``max_step`` is not given.
ASSUMED_MAX_STEP = 50
#: conservative_policy: fraction of ``max_step`` during which no trial is stopped.
WARMUP_FRACTION = 0.2
#: conservative_policy: completed trials needed before the first decision.
N_STARTUP_TRIALS = 3
#: conservative_policy: stop when P(final beats the incumbent) falls below this.
ALPHA = 0.05


def default_policy(max_step: int | None = None, *, pause: bool = True) -> Policy:
    """The recommended policy: freeze-thaw successive halving with a learned first rung.

    A :class:`~hpprune.FreezeThawPruner` with ``reduction_factor=3``: a trial
    reaching a rung (first rung learned from the study's own curves, then
    x3 per rung) goes on if it ranks in the best third of the trials that
    reached the rung, and is **paused** otherwise; a paused trial is resumed
    as soon as it ranks in the best third of its rung, and a free worker
    screens a new configuration when nothing paused deserves it.

    Front doors that cannot pause (Optuna) use ``pause=False``, the stop-only
    variant (same rungs and ranking; not promoted = stopped);
    :class:`hpprune.integrations.optuna.OptunaPruner` switches to it by itself.

    Args:
        max_step: The last step of a full run (e.g. the number of epochs), when
            known. None infers it from the study: the largest last step of a
            completed trial (no curve length is assumed).
        pause: False for the stop-only variant.

    Returns:
        A policy to pass to :class:`hpprune.Engine` or any front door.

    Raises:
        TypeError: If ``max_step`` is not an int (or is a bool), or ``pause``
            is not a bool.
        ValueError: If ``max_step`` < 1.

    Non-finite reports are handled by the engine (the trial stops with
    ``non_finite``) and never reach the policy.
    """
    horizon: int | str = AUTO if max_step is None else validate.int_param(max_step, "max_step", 1)
    return FreezeThawPruner(
        reduction_factor=REDUCTION_FACTOR, min_resource=AUTO, max_resource=horizon, pause=pause
    )


def conservative_policy(max_step: int | None = None) -> Policy:
    """The previous default: a warmed-up :class:`BayesianPruner` that rarely loses the best trial.

    A trial is stopped once its predicted final score has less than a 5 %
    chance of beating the best completed trial, never before 20 % of
    ``max_step`` (``n_warmup_steps = max(1, round(0.2 * max_step))``) and never
    before 3 trials have completed. The best-ranked trial at each step is never
    stopped (``n_keep=1``). It saves fewer steps than :func:`default_policy`
    and finds good configurations later, but stops the eventual best one less
    often (docs/default_policy.md).

    Args:
        max_step: The last step of a full run, when known; the warm-up scales
            with it. None assumes curves of about 50 steps (warm-up of 10 steps).

    Returns:
        A policy to pass to :class:`hpprune.Engine` or any front door.

    Raises:
        TypeError: If ``max_step`` is not an int (or is a bool).
        ValueError: If ``max_step`` < 1.

    Non-finite reports are handled by the engine and never reach the policy.
    """
    horizon = ASSUMED_MAX_STEP if max_step is None else validate.int_param(max_step, "max_step", 1)
    warmup = max(1, round(WARMUP_FRACTION * horizon))
    return BayesianPruner(alpha=ALPHA, n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=warmup)
