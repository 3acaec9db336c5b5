"""Continuing a study from its log: paused trials come back, abandoned ones are failed."""

from __future__ import annotations

from dataclasses import dataclass

from hpprune.curves import TrialCurve
from hpprune.engine import Engine, LogArg
from hpprune.pruners.base import Policy
from hpprune.types import Direction, TrialState

ABANDONED = "abandoned"
"""Fail reason of trials found running in a log the loop continues (their process died)."""


@dataclass(frozen=True)
class Reopened:
    """The engine of a (new or continued) study, and the trials the loop must know.

    Attributes:
        engine: The engine, rebuilt from the log when it had records.
        next_number: The number the next new trial gets.
        trials: ``(number, curve, abandoned)`` for every trial the log left
            paused (``abandoned`` False) or running (``abandoned`` True, now
            failed with reason :data:`ABANDONED`), in log order.
    """

    engine: Engine
    next_number: int
    trials: tuple[tuple[int, TrialCurve, bool], ...]


def open_engine(
    policy: Policy,
    direction: Direction,
    log: LogArg,
    non_finite: str,
    study_name: str | None,
) -> Reopened:
    """A new engine, or one that continues the study ``log`` already holds.

    Trials the log still shows running (their process was killed before
    telling them) are failed with reason ``"abandoned"`` so that they do not
    stay running forever.

    Args:
        policy: The loop's policy.
        direction: The loop's direction; must match the log's.
        log: The audit log argument of the loop.
        non_finite: Engine's non-finite policy; must match the log's.
        study_name: Name stored in a new log's header; must match the log's.

    Returns:
        The engine and the trials the loop takes over.

    Raises:
        IsADirectoryError: If ``log`` is a directory.
        ValueError: If the log was written for another direction, policy,
            non-finite mode or study.
        LogFormatError: If the log is not an hpprune log.
    """
    # Open means resume: the engine continues whatever the log already holds.
    engine = Engine(policy, direction, log, non_finite=non_finite, study_name=study_name)
    next_number = 0
    trials: list[tuple[int, TrialCurve, bool]] = []
    for curve in engine.study.trials():
        tid = curve.trial_id
        number = int(tid) if tid.isdigit() else curve.index
        next_number = max(next_number, number + 1)
        if curve.state is TrialState.PAUSED:
            trials.append((number, curve, False))
        elif curve.state in (TrialState.RUNNING, TrialState.STALE):
            # Its run ended with the process that wrote the log (killed, power
            # loss): nobody can report for it any more, so record that it failed.
            engine.fail(tid, ABANDONED)
            trials.append((number, curve, True))
    return Reopened(engine, next_number, tuple(trials))
