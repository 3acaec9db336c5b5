"""Which trial runs next when a worker is free: resume a paused one, start a new one, or none.

A :class:`~hpprune.loop.SearchLoop` asks :func:`choose_next` every time a
worker is free. The order of the question is: a paused trial already set
running by an external decision; else the user's ``chooser``; else a
scheduler in the policy (``next_trial(study)``, e.g.
:class:`hpprune.ResourceScheduler`); else :func:`default_chooser`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hpprune.curves import StudyView
from hpprune.engine import Engine
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, Reason, TrialState

LOOP_RULE = "SearchLoop"
"""Rule name of the decisions the loop records itself (resumes)."""

Chooser = Callable[[Sequence[str], StudyView, bool], str | None]
"""``chooser(paused_ids, study, can_start_new) -> trial id to resume, or None``.

Called whenever a worker is free and some trials are paused. Return one of
``paused_ids`` to resume it, or None to start a new trial (when
``can_start_new`` is True) or to leave the paused trials alone.
"""


def default_chooser(paused: Sequence[str], study: StudyView, can_start_new: bool) -> str | None:
    """Start new trials first; once none may start, resume paused ones in pause order.

    Args:
        paused: Ids of paused trials, longest-paused first.
        study: The engine's study view (unused here).
        can_start_new: Whether the trial budget and deadline allow a new trial.

    Returns:
        The id to resume, or None to start a new trial.
    """
    del study
    if can_start_new or not paused:
        return None
    return paused[0]


class NoTrialAvailableError(RuntimeError):
    """:meth:`SearchLoop.ask` found nothing to run (the scheduler answered "none")."""


def find_scheduler(policy: Policy) -> Any:
    """The first policy in ``policy``'s tree with a ``next_trial(study)`` method, or None."""
    if callable(getattr(policy, "next_trial", None)):
        return policy
    for member in getattr(policy, "policies", ()):
        found = find_scheduler(member)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Choice:
    """What a free worker does next.

    Attributes:
        kind: ``"resume"`` (``trial_id`` is set), ``"start"`` a new trial, or
            ``"none"``.
        trial_id: The paused trial to resume.
        decision: The RESUME decision to record, or None for the loop's own.
        reason: The scheduler's reason when it answered ``"none"``.
    """

    kind: Literal["resume", "start", "none"]
    trial_id: str | None = None
    decision: Decision | None = None
    reason: str | None = None


def choose_next(
    engine: Engine,
    paused: Mapping[str, int],
    can_start_new: bool,
    chooser: Chooser | None,
    scheduler: Any,
) -> Choice:
    """Decide what a free worker runs next.

    Args:
        engine: The loop's engine (its study and trial states).
        paused: Ids of the paused trials, longest-paused first, each mapped
            to the number of runs it has had.
        can_start_new: Whether the trial budget and deadline allow a new trial.
        chooser: The user's chooser, if any (it then overrides the scheduler).
        scheduler: A policy with ``next_trial(study)``, or None.

    Returns:
        The choice.

    Raises:
        ValueError: If the chooser returns an id that is not paused.
    """
    ids = list(paused)
    study = engine.study
    external = [tid for tid in ids if engine.state(tid) is TrialState.RUNNING]
    if external:  # resumed by an external decision: run it first
        return Choice("resume", external[0])
    if chooser is not None:
        pick = chooser(ids, study, can_start_new) if ids else None
        if pick is not None:
            if pick not in ids:
                raise ValueError(
                    f"the chooser returned {pick!r}, which is not a paused trial ({ids})"
                )
            return Choice("resume", pick)
        return Choice("start" if can_start_new else "none")
    if scheduler is not None:
        answer = scheduler.next_trial(study)
        action = str(getattr(answer, "action", "start"))
        tid = getattr(answer, "trial_id", None)
        if action == "resume" and tid in ids:
            make = getattr(scheduler, "resume_decision", None)
            return Choice("resume", tid, make(answer) if callable(make) else None)
        if action == "none":
            return Choice("none", reason=str(getattr(answer, "reason", "none")))
        if can_start_new:
            return Choice("start")
        ranked = _ranked_paused(engine, scheduler, paused)
        if ranked is not None:
            return Choice(
                "resume",
                ranked[0],
                Decision(Action.RESUME, Reason.RESUMED, LOOP_RULE, evidence=ranked[1]),
            )
    pick = default_chooser(ids, study, can_start_new)
    if pick is not None:
        return Choice("resume", pick)
    return Choice("start" if can_start_new else "none")


def _ranked_paused(
    engine: Engine, scheduler: Any, paused: Mapping[str, int]
) -> tuple[str, dict[str, Any]] | None:
    """Best paused trial by the scheduler's ``ranking(study)``, when it has one."""
    ranking = getattr(scheduler, "ranking", None)
    if not callable(ranking) or not paused:
        return None
    for c in ranking(engine.study):
        tid = getattr(c, "trial_id", None)
        if isinstance(tid, str) and tid in paused:
            evidence: dict[str, Any] = {"chosen_by": "ranking", "run": paused[tid] + 1}
            gph = getattr(c, "gain_per_hour", None)
            if isinstance(gph, (int, float)):
                evidence["gain_per_hour"] = float(gph)
            return tid, evidence
    return None
