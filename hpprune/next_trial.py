"""What a free worker runs next: the one function every front door calls.

The standalone loop, the Ray Tune scheduler's ``choose_trial_to_run`` and the
benchmark simulator all ask :func:`choose_next`, so the same report sequence
gives the same choice (resume this paused trial, start a new configuration, or
nothing) through every front door. The choice comes from the first policy in
the composition tree (:func:`find_scheduler`) that has ``next_trial(study,
can_start)`` — :class:`~hpprune.FreezeThawPruner`,
:class:`~hpprune.ResourceScheduler`; a tree without one starts new
configurations while it can and then resumes paused trials best last score first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hpprune.pruners.base import Policy, find_policy
from hpprune.types import Action, Decision, Reason, TrialState

if TYPE_CHECKING:
    from hpprune.curves import StudyView, TrialCurve

#: Rule name of a resume chosen without a scheduler in the policy tree.
RULE = "next_trial"


@dataclass(frozen=True)
class NextTrial:
    """Answer for a free worker.

    Attributes:
        action: ``"resume"`` a paused trial, ``"start"`` a new one, or ``"none"``.
        trial_id: The paused trial to resume (None otherwise).
        reason: Stable code (``promoted``, ``best_gain_per_hour``,
            ``nothing_paused``, ``budget_exhausted``, ...).
        evidence: The numbers behind the choice.
    """

    action: str
    trial_id: str | None
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Scheduler(Protocol):
    """A policy that also decides what a free worker runs."""

    def next_trial(self, study: StudyView, can_start: bool = True) -> NextTrial: ...

    def resume_decision(self, answer: NextTrial) -> Decision: ...


def find_scheduler(policy: Policy) -> Scheduler | None:
    """The first :class:`Scheduler` in ``policy``'s tree (depth first, in order), or None."""
    found = find_policy(policy, lambda p: isinstance(p, Scheduler))
    return found if isinstance(found, Scheduler) else None


def choose_next(policy: Policy, study: StudyView, can_start: bool = True) -> NextTrial:
    """What a free worker should run next.

    Args:
        policy: The engine's policy (any composition).
        study: The engine's study view.
        can_start: Whether the front door has a new configuration to start.

    Returns:
        The scheduler's answer; without a scheduler: ``start`` while
        ``can_start``, else ``resume`` of the paused trial with the best last
        score (ties: the earlier trial), else ``none``.
    """
    scheduler = find_scheduler(policy)
    if scheduler is not None:
        return scheduler.next_trial(study, can_start)
    if can_start:
        return NextTrial("start", None, Reason.NOTHING_PAUSED)
    best = best_last_score(study.trials_in(TrialState.PAUSED))
    if best is None:
        return NextTrial("none", None, Reason.NOTHING_PAUSED)
    score = best.last_score if best.last_score is not None else float("inf")
    evidence = {
        "ranked_by": "last_score",
        "last_value": study.to_value(score) if score != float("inf") else None,
    }
    return NextTrial("resume", best.trial_id, Reason.NOTHING_NEW, evidence)


def best_last_score(curves: Iterable[TrialCurve]) -> TrialCurve | None:
    """The trial with the best (lowest canonical) last score; ties: the earlier trial.

    Trials without a finite report rank last; None for no trials.
    """
    best: tuple[tuple[float, int], TrialCurve] | None = None
    for curve in curves:
        last = curve.last_score
        key = (last if last is not None else float("inf"), curve.index)
        if best is None or key < best[0]:
            best = (key, curve)
    return None if best is None else best[1]


def resume_decision(policy: Policy, answer: NextTrial) -> Decision:
    """The RESUME decision a front door records for a ``resume`` answer of :func:`choose_next`."""
    scheduler = find_scheduler(policy)
    if scheduler is not None:
        return scheduler.resume_decision(answer)
    return Decision(
        Action.RESUME, Reason.RESUMED, RULE, evidence={"why": answer.reason, **answer.evidence}
    )
