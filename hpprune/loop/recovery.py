"""Continuing a study from its log: paused trials come back, abandoned ones are failed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hpprune.audit.log import read_log
from hpprune.audit.sinks import FileSink, check_log_path, is_url
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
        non_finite: Engine's non-finite policy (new logs only).
        study_name: Name stored in a new log's header.

    Returns:
        The engine and the trials the loop takes over.

    Raises:
        IsADirectoryError: If ``log`` is a directory.
        ValueError: If the log was written for another direction or policy.
    """
    records: Iterable[dict[str, Any]] = ()
    header: dict[str, Any] | None = None
    where: object = log
    if is_url(log):  # a study's log in a database (it may not exist yet)
        from hpprune.audit.dbsink import display_url

        where = display_url(str(log))
        with contextlib.suppress(FileNotFoundError):
            records = list(read_log(str(log), study=study_name)) if study_name else []
        header = next(iter(records), None)
    elif isinstance(log, (FileSink, str, os.PathLike)):
        path = log.path if isinstance(log, FileSink) else check_log_path(log)
        where = path
        if path.exists() and path.stat().st_size > 0:
            header = next(read_log(path), None) or {}  # garbage: from_records says why
            records = read_log(path)  # streamed: a long log is folded without a copy
    if header is None:
        engine = Engine(policy, direction, log, non_finite=non_finite, study_name=study_name)
        return Reopened(engine, 0, ())
    if header.get("direction") not in (None, direction.value):
        raise ValueError(
            f"log {where} has direction {header.get('direction')!r}, not "
            f"{direction.value!r}; use another log file"
        )
    engine = Engine.from_records(records, policy, log=log)
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
