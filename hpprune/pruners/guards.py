"""Guards: simple rules on one curve, and safeguards that wrap another policy.

* :class:`PatientPruner` — only let a wrapped policy stop a trial that has not
  improved for ``patience`` reports (Optuna's PatientPruner).
* :class:`ThresholdPruner` — stop a trial whose latest value leaves
  ``[lower, upper]`` (Optuna's ThresholdPruner).
* :class:`MinimumAccuracyPruner` — stop a trial whose best value has not
  reached a floor by a given step ("accuracy >= 0.3 by step 5").
* :class:`KeepTopK` / :class:`KeepDiverse` — veto a wrapped policy's STOP for
  trials among the best ``n_keep`` at their step, or among the best of their
  hyperparameter region, so that a diverse set stays alive.

Thresholds are on the user's metric scale; everything else works on canonical
scores (lower is better), so the same guard serves both directions.
Non-finite values never reach these policies: the engine stops (or skips) them.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy, as_policy, policy_from_dict
from hpprune.pruners.percentile import is_pruning_step
from hpprune.types import Action, Decision, Direction, Reason, TrialState, cont, stop


class _Wrapper(Policy):
    """A policy around another one: forwards partitions and serialises it nested."""

    wrapped: Policy | None

    def groups(self, trial_id: str) -> dict[str, str]:
        return {} if self.wrapped is None else self.wrapped.groups(trial_id)

    def children(self) -> tuple[Policy, ...]:
        return () if self.wrapped is None else (self.wrapped,)

    @staticmethod
    def _nested(params: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(params)
        inner = out.get("wrapped")
        out["wrapped"] = None if inner is None else policy_from_dict(inner)
        return out


class PatientPruner(_Wrapper):
    """Let ``wrapped`` stop a trial only once it stopped improving (Optuna's PatientPruner).

    With the trial's finite reports in order, the last ``patience + 1`` form
    the window. The trial is *stagnant* when the best score before the window
    plus ``min_delta`` is still better than the best score inside it. A
    stagnant trial is then judged by ``wrapped`` (or stopped with reason
    ``patience`` when ``wrapped`` is None); a trial that improved continues.

    Args:
        wrapped: The policy to consult for stagnant trials, or None.
        patience: Reports without improvement tolerated, an int >= 0.
        min_delta: Improvement smaller than this does not count, >= 0.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If ``patience`` or ``min_delta`` is negative.

    Non-finite reports are not in the window (the engine stops or skips them).
    """

    def __init__(self, wrapped: Policy | None, patience: int, min_delta: float = 0.0) -> None:
        self.wrapped = None if wrapped is None else as_policy(wrapped, "wrapped")
        self.patience = validate.int_param(patience, "patience", 0)
        self.min_delta = validate.float_param(min_delta, "min_delta", 0.0)

    def params(self) -> dict[str, Any]:
        return {
            "wrapped": None if self.wrapped is None else self.wrapped.to_dict(),
            "patience": self.patience,
            "min_delta": self.min_delta,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PatientPruner:
        """Rebuild from :meth:`params` output (the wrapped policy as a dict)."""
        return cls(**cls._nested(params))

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        width = self.patience + 1
        if len(trial.scores) <= width:
            return cont(self.name, Reason.WARMUP, n_reports=len(trial.scores))
        best_before = min(trial.scores[:-width])
        window = trial.scores[-width:]
        best_in_window = min(window)
        if not best_before + self.min_delta < best_in_window:
            return cont(self.name, Reason.OK)
        evidence = {
            "best_before_window": study.to_value(best_before),
            "best_in_window": study.to_value(best_in_window),
            "window_steps": trial.steps[-width:],
            "window_values": [study.to_value(s) for s in window],
            "patience": self.patience,
            "min_delta": self.min_delta,
        }
        if self.wrapped is None:
            return stop(self.name, Reason.PATIENCE, **evidence)
        inner = self.wrapped.decide(trial, study)
        if inner.action is Action.CONTINUE:
            return inner
        merged = dict(inner.evidence)
        merged["patience_window"] = evidence
        return Decision(
            inner.action,
            inner.reason,
            inner.rule,
            evidence=merged,
            rung_resource=inner.rung_resource,
        )


class ThresholdPruner(Policy):
    """Stop a trial whose latest value is below ``lower`` or above ``upper`` (Optuna's rule).

    Checked at the first report at or after ``n_warmup_steps + k *
    interval_steps`` for each k, on the user's metric scale (whatever the
    direction).

    Args:
        lower: Smallest acceptable value, or None.
        upper: Largest acceptable value, or None.
        n_warmup_steps: No check before this step.
        interval_steps: Check once per this many steps (>= 1).

    Raises:
        TypeError: If both bounds are None or a parameter has the wrong type.
        ValueError: If ``lower > upper`` or another parameter is out of range.

    NaN/±inf reports never get here: the engine stops them with ``non_finite``.
    """

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
    ) -> None:
        if lower is None and upper is None:
            raise TypeError("give at least one of `lower` and `upper` (both are None)")
        self.lower = None if lower is None else validate.float_param(lower, "lower")
        self.upper = None if upper is None else validate.float_param(upper, "upper")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"`lower` ({self.lower}) must be <= `upper` ({self.upper})")
        self.n_warmup_steps = validate.int_param(n_warmup_steps, "n_warmup_steps", 0)
        self.interval_steps = validate.int_param(interval_steps, "interval_steps", 1)

    def params(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "n_warmup_steps": self.n_warmup_steps,
            "interval_steps": self.interval_steps,
        }

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] < self.n_warmup_steps:
            return cont(self.name, Reason.WARMUP)
        if not is_pruning_step(trial, self.n_warmup_steps, self.interval_steps):
            return cont(self.name, Reason.INTERVAL)
        value = study.to_value(trial.scores[-1])
        evidence = {"value": value, "lower": self.lower, "upper": self.upper}
        if self.lower is not None and value < self.lower:
            return stop(self.name, Reason.THRESHOLD, bound="lower", **evidence)
        if self.upper is not None and value > self.upper:
            return stop(self.name, Reason.THRESHOLD, bound="upper", **evidence)
        return cont(self.name, Reason.OK, **evidence)


class MinimumAccuracyPruner(Policy):
    """Stop a trial whose best value has not reached ``threshold`` by step ``by_step``.

    "At least as good" follows the study's direction: with ``maximize`` the
    best value must be >= ``threshold`` (accuracy must be >= 0.3 by step 5),
    with ``minimize`` it must be <= ``threshold`` (loss must be <= 2.0 by step
    5). The check runs at every report at a step >= ``by_step``; since the best
    value only improves, a trial that passes once always passes.

    Args:
        threshold: The floor, on the user's metric scale.
        by_step: First step at which the floor applies (>= 0).

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If ``threshold`` is non-finite or ``by_step`` negative.

    Non-finite reports never get here (the engine stops or skips them).
    """

    def __init__(self, threshold: float, by_step: int) -> None:
        self.threshold = validate.float_param(threshold, "threshold")
        self.by_step = validate.int_param(by_step, "by_step", 0)

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "by_step": self.by_step}

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] < self.by_step:
            return cont(self.name, Reason.WARMUP)
        best = trial.best_score
        evidence = {
            "best_so_far": study.to_value(best),
            "threshold": self.threshold,
            "by_step": self.by_step,
            "must_be": ">=" if study.direction is Direction.MAXIMIZE else "<=",
        }
        if best > study.direction.to_score(self.threshold):
            return stop(self.name, Reason.MIN_ACCURACY, **evidence)
        return cont(self.name, Reason.OK, **evidence)


def _rank(pool: Sequence[float], score: float) -> int:
    """1-based rank of ``score`` in an ascending pool (ties share the best rank)."""
    return bisect.bisect_left(pool, score) + 1


class KeepTopK(_Wrapper):
    """Veto ``wrapped``'s STOP for a trial among the best ``n_keep`` at its step.

    The pool is every non-stale trial's score at exactly the trial's current
    step (running, stopped, completed and failed trials). Ties share the best
    rank. Other decisions of ``wrapped`` pass through unchanged.

    Args:
        wrapped: The policy whose STOPs are checked.
        n_keep: How many of the best trials at a step are never stopped (>= 1).

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If ``n_keep`` < 1.

    Non-finite reports are in no pool (the engine stops or skips them).
    """

    wrapped: Policy

    def __init__(self, wrapped: Policy, n_keep: int) -> None:
        self.wrapped = as_policy(wrapped, "wrapped")
        self.n_keep = validate.int_param(n_keep, "n_keep", 1)

    def params(self) -> dict[str, Any]:
        return {"wrapped": self.wrapped.to_dict(), "n_keep": self.n_keep}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> KeepTopK:
        """Rebuild from :meth:`params` output (the wrapped policy as a dict)."""
        return cls(**cls._nested(params))

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        inner = self.wrapped.decide(trial, study)
        if inner.action is not Action.STOP:
            return inner
        pool = study.sorted_scores(trial.steps[-1], "all")
        rank = _rank(pool, trial.scores[-1])
        if rank > self.n_keep:
            return inner
        return cont(
            self.name,
            Reason.KEPT_TOP_K,
            vetoed=f"{inner.rule}:{inner.reason}",
            rank=rank,
            n_keep=self.n_keep,
            n_at_step=len(pool),
            value=study.to_value(trial.scores[-1]),
        )


def _region_key(params: Mapping[str, Any], by: Sequence[str]) -> str:
    return json.dumps([params.get(name) for name in by], sort_keys=True, default=str)


class KeepDiverse(_Wrapper):
    """Veto ``wrapped``'s STOP for a trial among the best of its hyperparameter region.

    A region is the set of trials with equal values of the parameters ``by``
    (e.g. the optimizer and the architecture); a missing parameter counts as
    None. A trial among the best ``n_keep_per_group`` of its region at its
    current step (non-stale trials of any state, ties sharing the best rank)
    is kept, so that every region keeps a survivor. Needs the trials' params
    (``Engine.add_trial(tid, params)``). Cost: one pass over the trials per
    STOP proposed by ``wrapped``.

    Args:
        wrapped: The policy whose STOPs are checked.
        by: Names of the parameters that define a region (non-empty).
        n_keep_per_group: Survivors kept per region and step (>= 1).

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If ``by`` is empty or ``n_keep_per_group`` < 1.

    Non-finite reports are in no pool (the engine stops or skips them).
    """

    wrapped: Policy

    def __init__(self, wrapped: Policy, by: Sequence[str], n_keep_per_group: int = 1) -> None:
        self.wrapped = as_policy(wrapped, "wrapped")
        if isinstance(by, str) or not isinstance(by, Sequence):
            raise TypeError(f"expected a list of parameter names for `by`, got {by!r}")
        if not by:
            raise ValueError("`by` must name at least one parameter")
        for i, name in enumerate(by):
            if not isinstance(name, str):
                raise TypeError(f"expected a str for `by[{i}]`, got {type(name).__name__}")
        self.by = tuple(by)
        self.n_keep_per_group = validate.int_param(n_keep_per_group, "n_keep_per_group", 1)

    def params(self) -> dict[str, Any]:
        return {
            "wrapped": self.wrapped.to_dict(),
            "by": list(self.by),
            "n_keep_per_group": self.n_keep_per_group,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> KeepDiverse:
        """Rebuild from :meth:`params` output (the wrapped policy as a dict)."""
        return cls(**cls._nested(params))

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        inner = self.wrapped.decide(trial, study)
        if inner.action is not Action.STOP:
            return inner
        step = trial.steps[-1]
        score = trial.scores[-1]
        region = _region_key(trial.params, self.by)
        better = 0
        size = 0
        for other in study.trials():
            if other.state is TrialState.STALE:
                continue
            s = other.score_at(step)
            if s is None or _region_key(other.params, self.by) != region:
                continue
            size += 1
            better += s < score
        rank = better + 1
        if rank > self.n_keep_per_group:
            return inner
        return cont(
            self.name,
            Reason.KEPT_DIVERSE,
            vetoed=f"{inner.rule}:{inner.reason}",
            region={name: trial.params.get(name) for name in self.by},
            rank=rank,
            n_keep_per_group=self.n_keep_per_group,
            n_in_region=size,
            value=study.to_value(score),
        )
