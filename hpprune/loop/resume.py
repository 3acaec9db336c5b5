"""Which trial runs next when a worker is free: resume a paused one, start a new one, or none.

A :class:`~hpprune.loop.SearchLoop` asks :func:`choose_next` every time a
worker is free. The order of the question is: a paused trial already set
running by an external decision; else the user's ``chooser``; else a
the core :func:`hpprune.next_trial.choose_next`, which asks a scheduler in
the policy tree (:class:`hpprune.FreezeThawPruner`,
:class:`hpprune.ResourceScheduler`) and otherwise starts new trials first and
then resumes the paused trial with the best last score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hpprune import next_trial
from hpprune.curves import StudyView
from hpprune.engine import Engine
from hpprune.types import Decision, TrialState

LOOP_RULE = "SearchLoop"
"""Rule name of the decisions the loop records itself (resumes)."""

Chooser = Callable[[Sequence[str], StudyView, bool], str | None]
"""``chooser(paused_ids, study, can_start_new) -> trial id to resume, or None``.

Called whenever a worker is free and some trials are paused. Return one of
``paused_ids`` to resume it, or None to start a new trial (when
``can_start_new`` is True) or to leave the paused trials alone.
"""


def default_chooser(paused: Sequence[str], study: StudyView, can_start_new: bool) -> str | None:
    """The choice of :func:`hpprune.choose_next` for the paused trials, as a chooser.

    Args:
        paused: Ids of paused trials.
        study: The engine's study view.
        can_start_new: Whether the trial budget and deadline allow a new trial.

    Returns:
        The id to resume, or None to start a new trial (or leave them alone).
    """
    best = next_trial.best_last_score(study.trial(tid) for tid in paused)
    if can_start_new or best is None:
        return None
    return best.trial_id


class NoTrialAvailableError(RuntimeError):
    """:meth:`SearchLoop.ask` found nothing to run (the scheduler answered "none")."""


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
) -> Choice:
    """Decide what a free worker runs next.

    Args:
        engine: The loop's engine (its policy, study and trial states).
        paused: Ids of the paused trials, longest-paused first, each mapped
            to the number of runs it has had.
        can_start_new: Whether the trial budget and deadline allow a new trial.
        chooser: The user's chooser, if any (it then overrides the policy).

    Returns:
        The choice: without a ``chooser``, the answer of the core
        :func:`hpprune.next_trial.choose_next` (the same every front door and
        the benchmark get), with its RESUME decision.

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
    answer = next_trial.choose_next(engine.policy, study, can_start_new)
    if answer.action == "resume" and answer.trial_id in paused:
        return Choice("resume", answer.trial_id, next_trial.resume_decision(engine.policy, answer))
    if answer.action == "start" and can_start_new:
        return Choice("start")
    return Choice("none", reason=answer.reason)
