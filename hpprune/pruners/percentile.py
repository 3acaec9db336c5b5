"""Percentile cuts: PercentilePruner and MedianPruner.

Semantics follow Optuna's pruners of the same names: at a pruning step, a
trial is stopped when its best score so far is worse than the given
percentile of the *completed* trials' scores reported at that same step.
"""

from __future__ import annotations

import math
from typing import Any

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.types import Decision, Reason, cont, stop


def percentile_of_sorted(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of an ascending list.

    Args:
        values: Ascending, finite values (not empty).
        q: Percentile in [0, 100].

    Returns:
        The percentile; O(1).
    """
    pos = (len(values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    frac = pos - lo
    return values[lo] + (values[hi] - values[lo]) * frac if frac else values[lo]


def is_pruning_step(trial: TrialCurve, n_warmup_steps: int, interval_steps: int) -> bool:
    """Whether the trial's latest step is the first one it reported in its interval.

    A trial that skips steps is still checked once per interval: the check runs
    at the first reported step at or after each ``n_warmup_steps + k *
    interval_steps``.
    """
    step = trial.steps[-1]
    if step < n_warmup_steps:
        return False
    boundary = (step - n_warmup_steps) // interval_steps * interval_steps + n_warmup_steps
    previous = trial.steps[-2] if len(trial.steps) > 1 else -1
    return previous < boundary


class PercentilePruner(Policy):
    """Stop a trial whose best score so far is worse than a percentile of its peers.

    Args:
        percentile: Percentile in [0, 100] of the completed trials' values at
            the same step; with 25.0, a trial must be in the best quarter.
        n_startup_trials: No stopping until this many trials completed.
        n_warmup_steps: No stopping before this step.
        interval_steps: Check once per this many steps (>= 1).
        n_min_trials: Minimum number of completed trials that reported the
            current step for the cut to apply.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.

    Non-finite values never reach a policy: the engine stops (or skips) them
    and they are absent from peers' statistics.
    """

    reason_below = Reason.BELOW_PERCENTILE

    def __init__(
        self,
        percentile: float,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        self.percentile = validate.float_param(percentile, "percentile", 0.0, 100.0)
        self.n_startup_trials = validate.int_param(n_startup_trials, "n_startup_trials", 0)
        self.n_warmup_steps = validate.int_param(n_warmup_steps, "n_warmup_steps", 0)
        self.interval_steps = validate.int_param(interval_steps, "interval_steps", 1)
        self.n_min_trials = validate.int_param(n_min_trials, "n_min_trials", 1)

    def params(self) -> dict[str, Any]:
        return {
            "percentile": self.percentile,
            "n_startup_trials": self.n_startup_trials,
            "n_warmup_steps": self.n_warmup_steps,
            "interval_steps": self.interval_steps,
            "n_min_trials": self.n_min_trials,
        }

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        step = trial.steps[-1]
        if study.n_completed == 0 or study.n_completed < self.n_startup_trials:
            return cont(self.name, Reason.STARTUP, n_completed=study.n_completed)
        if step < self.n_warmup_steps:
            return cont(self.name, Reason.WARMUP)
        if not is_pruning_step(trial, self.n_warmup_steps, self.interval_steps):
            return cont(self.name, Reason.INTERVAL)
        peers = study.sorted_scores(step, "completed")
        if len(peers) < self.n_min_trials or not peers:
            return cont(self.name, Reason.NOT_ENOUGH_PEERS, n_peers=len(peers))
        cutoff = percentile_of_sorted(peers, self.percentile)
        best = trial.best_score
        evidence = {
            "best_so_far": study.to_value(best),
            "cutoff": study.to_value(cutoff),
            "percentile": self.percentile,
            "n_peers": len(peers),
        }
        if best > cutoff:
            return stop(self.name, self.reason_below, **evidence)
        return cont(self.name, Reason.OK, **evidence)


class MedianPruner(PercentilePruner):
    """Stop a trial whose best score so far is worse than the peers' median at that step.

    Same as ``PercentilePruner(50.0, ...)``.

    Args:
        n_startup_trials: No stopping until this many trials completed.
        n_warmup_steps: No stopping before this step.
        interval_steps: Check once per this many steps (>= 1).
        n_min_trials: Minimum completed trials at the current step.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.
    """

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials
        )

    def params(self) -> dict[str, Any]:
        out = super().params()
        del out["percentile"]
        return out
