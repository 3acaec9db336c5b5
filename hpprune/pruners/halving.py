"""Successive halving with asynchronous promotion (ASHA): SuccessiveHalvingPruner.

Rung ``k`` sits at the resource (step) ``min_resource * reduction_factor **
(min_early_stopping_rate + k)``, computed with integer arithmetic. A trial is
judged at a rung at its first reported step at or past the rung's resource; it
is promoted when its score there is within the best ``1 / reduction_factor`` of
all trials that have reached the rung so far (asynchronous promotion, as in
Optuna's ``SuccessiveHalvingPruner``), and stopped otherwise.

The rung pools come from :meth:`hpprune.curves.StudyView.scores_from`, so a
trial that skips steps is still counted at the first step it reported past
each rung. The rung arithmetic here is shared with :mod:`hpprune.pruners.hyperband`.
"""

from __future__ import annotations

import bisect
from typing import Any

from hpprune import validate
from hpprune.curves import GroupKey, StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, Reason, cont

AUTO = "auto"
"""Value of ``min_resource`` (or Hyperband's ``max_resource``) resolved from the study."""


def rung_resource(min_resource: int, reduction_factor: int, rate: int, rung: int) -> int:
    """Resource (step) of a rung: ``min_resource * reduction_factor ** (rate + rung)``.

    Args:
        min_resource: Resource of the first rung when ``rate`` is 0 (>= 1).
        reduction_factor: Growth factor between rungs (>= 2).
        rate: The minimum early-stopping rate (>= 0).
        rung: The rung index (>= 0).

    Returns:
        The exact integer resource.
    """
    return int(min_resource * reduction_factor ** (rate + rung))


def rungs_crossed(
    previous_step: int, step: int, min_resource: int, reduction_factor: int, rate: int
) -> list[tuple[int, int]]:
    """Rungs whose resource lies in ``(previous_step, step]``, as ``(rung, resource)`` pairs.

    These are the rungs a trial reaches with a report at ``step`` when its
    previous finite report was at ``previous_step`` (-1 for none). More than
    one rung is crossed when the trial skipped steps.

    Args:
        previous_step: The trial's previous finite step, or -1.
        step: The step just reported.
        min_resource: Resource of the first rung for ``rate`` 0.
        reduction_factor: Growth factor between rungs.
        rate: The minimum early-stopping rate.

    Returns:
        Ascending list (empty when no rung is crossed).
    """
    out: list[tuple[int, int]] = []
    rung = 0
    resource = rung_resource(min_resource, reduction_factor, rate, 0)
    while resource <= step:
        if resource > previous_step:
            out.append((rung, resource))
        rung += 1
        resource *= reduction_factor
    return out


def next_rung_resource(
    step: int, min_resource: int, reduction_factor: int, rate: int
) -> tuple[int, int]:
    """The first rung with a resource above ``step``, as ``(rung, resource)``."""
    rung = 0
    resource = rung_resource(min_resource, reduction_factor, rate, 0)
    while resource <= step:
        rung += 1
        resource *= reduction_factor
    return rung, resource


def promotion_index(n_competitors: int, reduction_factor: int) -> int:
    """0-based index in the ascending rung pool of the worst score still promoted.

    ``n // reduction_factor - 1``; when fewer than ``reduction_factor`` trials
    reached the rung only the best (index 0) is promoted, as in Optuna.
    """
    return max(n_competitors // reduction_factor - 1, 0)


def first_completed_last_step(study: StudyView) -> int | None:
    """Last step reported by the first trial to complete with any report (None if none).

    This is the deterministic anchor of the ``"auto"`` resources: it depends
    only on the store, never on when a policy first looked at it.
    """
    for tid in study.completed_ids:
        last = study.trial(tid).last_step
        if last >= 0:
            return last
    return None


def auto_min_resource(study: StudyView) -> int | None:
    """``max(last_step // 100, 1)`` of the first completed trial (None before one completes)."""
    last = first_completed_last_step(study)
    return None if last is None else max(last // 100, 1)


def resource_param(value: object, field: str) -> int | str:
    """Check a resource parameter: ``"auto"`` or an int >= 1.

    Raises:
        TypeError: If it is neither a string nor an int.
        ValueError: If it is another string or an int < 1.
    """
    if isinstance(value, str):
        return validate.choice(value, (AUTO,), field)
    return validate.int_param(value, field, 1)


def judge_rungs(
    rule: str,
    trial: TrialCurve,
    study: StudyView,
    *,
    min_resource: int,
    reduction_factor: int,
    rate: int,
    bootstrap_count: int,
    group: GroupKey = None,
    extra: dict[str, Any] | None = None,
) -> Decision:
    """Judge ``trial``'s latest report at every rung it crosses with it (ASHA rule).

    Args:
        rule: Rule name for the decision.
        trial: The trial; its latest finite report is being decided.
        study: The study view; rung pools are read from
            ``study.scores_from(resource, "all", group)`` and include the trial.
        min_resource: Resolved minimum resource (>= 1).
        reduction_factor: Promotion ratio (>= 2).
        rate: Minimum early-stopping rate of the bracket.
        bootstrap_count: A rung reached by at most this many trials (the trial
            included) stops the trial, as in Optuna.
        group: Partition whose trials compete (a Hyperband bracket), or None.
        extra: Evidence added to every decision (e.g. the bracket).

    Returns:
        STOP (``halving_rung_cut`` or ``halving_bootstrap``) at the first rung
        the trial fails; CONTINUE (``promoted``) when it passes every rung it
        crossed; CONTINUE (``ok``) between rungs.
    """
    step = trial.steps[-1]
    previous = trial.steps[-2] if len(trial.steps) > 1 else -1
    base = dict(extra or {})
    base["min_resource"] = min_resource
    base["reduction_factor"] = reduction_factor
    crossed = rungs_crossed(previous, step, min_resource, reduction_factor, rate)
    if not crossed:
        rung, resource = next_rung_resource(step, min_resource, reduction_factor, rate)
        return cont(rule, Reason.OK, next_rung=rung, next_rung_resource=resource, **base)
    score = trial.scores[-1]
    evidence: dict[str, Any] = {}
    for rung, resource in crossed:
        pool = study.scores_from(resource, "all", group)
        n = len(pool)
        idx = promotion_index(n, reduction_factor)
        cutoff = pool[idx]
        rank = bisect.bisect_left(pool, score) + 1
        evidence = {
            **base,
            "rung": rung,
            "rung_resource": resource,
            "value": study.to_value(score),
            "cutoff": study.to_value(cutoff),
            "rank": rank,
            "n_competitors": n,
            "n_promoted": idx + 1,
        }
        if n <= bootstrap_count:
            return Decision(
                Action.STOP,
                Reason.HALVING_BOOTSTRAP,
                rule,
                evidence={"bootstrap_count": bootstrap_count, **evidence},
                rung_resource=resource,
            )
        if score > cutoff:
            return Decision(
                Action.STOP,
                Reason.HALVING_RUNG_CUT,
                rule,
                evidence=evidence,
                rung_resource=resource,
            )
    return cont(rule, Reason.PROMOTED, **evidence)


class SuccessiveHalvingPruner(Policy):
    """Asynchronous successive halving (ASHA), with Optuna's parameters.

    A trial is first judged at step ``min_resource * reduction_factor **
    min_early_stopping_rate`` (rung 0), then at each rung ``reduction_factor``
    times further. At a rung it continues only if its score there is within
    the best ``1/reduction_factor`` of all trials that reached the rung so far
    (running, stopped, completed and failed ones; the trial itself included).

    Args:
        min_resource: Steps of rung 0 before scaling by the early-stopping rate,
            an int >= 1, or ``"auto"``: ``max(last_step // 100, 1)`` of the
            first trial to complete (no trial is judged before one completes).
        reduction_factor: Promotion ratio, an int >= 2.
        min_early_stopping_rate: Exponent offset of rung 0, an int >= 0.
        bootstrap_count: A trial reaching a rung that at most this many trials
            (itself included) have reached is stopped, as in Optuna.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.

    Non-finite values never reach a policy: the engine stops (or skips) them
    and they are absent from every rung pool.
    """

    def __init__(
        self,
        min_resource: int | str = AUTO,
        reduction_factor: int = 3,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        self.min_resource = resource_param(min_resource, "min_resource")
        self.reduction_factor = validate.int_param(reduction_factor, "reduction_factor", 2)
        self.min_early_stopping_rate = validate.int_param(
            min_early_stopping_rate, "min_early_stopping_rate", 0
        )
        self.bootstrap_count = validate.int_param(bootstrap_count, "bootstrap_count", 0)

    def params(self) -> dict[str, Any]:
        return {
            "min_resource": self.min_resource,
            "reduction_factor": self.reduction_factor,
            "min_early_stopping_rate": self.min_early_stopping_rate,
            "bootstrap_count": self.bootstrap_count,
        }

    def resolved_min_resource(self, study: StudyView) -> int | None:
        """``min_resource`` as an int (None while ``"auto"`` cannot be resolved yet)."""
        if isinstance(self.min_resource, int):
            return self.min_resource
        return auto_min_resource(study)

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        min_resource = self.resolved_min_resource(study)
        if min_resource is None:
            return cont(self.name, Reason.STARTUP, n_completed=study.n_completed)
        return judge_rungs(
            self.name,
            trial,
            study,
            min_resource=min_resource,
            reduction_factor=self.reduction_factor,
            rate=self.min_early_stopping_rate,
            bootstrap_count=self.bootstrap_count,
        )
