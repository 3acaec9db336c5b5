"""Engine: validates input, updates the store, asks the policy, logs, keeps decisions sticky.

The engine is the only place that mutates state. Its state is a fold over the
audit log: :meth:`Engine.from_log` rebuilds it record by record and then
answers later reports exactly as the engine that wrote the log would have.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hpprune import validate
from hpprune.audit.headers import check_same_study
from hpprune.audit.log import read_log
from hpprune.audit.records import (
    CompleteRecord,
    DecisionRecord,
    FailRecord,
    Fold,
    LogFormatError,
    Record,
    ReportRecord,
    StaleRecord,
    StudyRecord,
    TrialRecord,
    decode_record,
)
from hpprune.audit.sinks import (
    FileSink,
    LogSink,
    SinkArg,
    existing_log_file,
    is_url,
    open_sink,
)
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import (
    Policy,
    as_policy,
    declared_final_step,
    policy_from_dict,
    policy_hash,
)
from hpprune.types import (
    SCHEMA_VERSION,
    Action,
    Decision,
    Direction,
    Reason,
    TrialState,
    same_value,
)

NON_FINITE_MODES = ("stop", "ignore")
ENGINE_RULE = "engine"

LogArg = SinkArg | None


def _version() -> str:
    from hpprune import __version__

    return __version__


class Engine:
    """Runs a policy over a stream of reports and records every decision.

    Args:
        policy: The pruning policy.
        direction: ``"minimize"`` or ``"maximize"``; handled here once, so
            policies only see canonical lower-is-better scores.
        log: Path of a JSON Lines audit log, a
            :class:`~hpprune.audit.sinks.LogSink`, or None for no log. An empty
            or new log gets a ``study`` header. A log that already has records
            is continued exactly as :meth:`from_log` would (open means resume);
            it must have been written for the same policy, direction,
            ``non_finite`` mode and study name. A database URL
            (``"postgresql+psycopg2://user@host/db"``, ``"sqlite:///s.db"``)
            keeps the log in the table ``hpprune_events`` there, under
            ``study_name`` (required then; see :mod:`hpprune.audit.dbsink`).
        non_finite: ``"stop"`` (default) stops a trial that reports NaN, ±inf
            or None with reason ``non_finite``; ``"ignore"`` lets it continue.
            Either way the value never enters any statistic.
        study_name: Name stored in the log header (and the study of a database log).

    Raises:
        TypeError: If ``policy`` is not a Policy or ``log`` is not a path.
        ValueError: If ``direction`` or ``non_finite`` is unknown, or the log
            belongs to another policy, direction, non-finite mode or study.
        LogFormatError: If the log is not an hpprune log or is malformed
            (nothing is written to it).
    """

    def __init__(
        self,
        policy: Policy,
        direction: str | Direction = "minimize",
        log: LogArg = None,
        *,
        non_finite: str = "stop",
        study_name: str | None = None,
    ) -> None:
        self.policy = as_policy(policy)
        self.direction = Direction.parse(direction)
        self.non_finite = validate.choice(non_finite, NON_FINITE_MODES, "non_finite")
        self.study_name = validate.text(study_name, "study_name", optional=True)
        self._view = StudyView(self.direction)
        self._last_seen: dict[str, float] = {}
        self._warned_late: set[str] = set()
        self._log: LogSink | None = None
        self._fold = Fold()
        header = self.header()
        if log is None:
            self._fold.advance(decode_record(header))
            return
        sink = open_sink(log, study=study_name)
        self._fold = Fold(sink.name)
        with sink.locked():
            records = sink.read_numbered(typed=True)  # all of it, locked: open means resume
            n, first = next(records, (0, None))
            if first is None:
                if isinstance(sink, FileSink) and sink.path.exists() and sink.path.stat().st_size:
                    raise LogFormatError(
                        f"{sink.name} is not an hpprune log (no line is a study record); "
                        "refusing to write to it"
                    )
                sink.append([header])
                self._fold.advance(decode_record(header))
            else:
                rec = self._fold.take(first, n, _unit(sink))
                if not isinstance(rec, StudyRecord):  # pragma: no cover - accept() refuses
                    raise LogFormatError(f"{sink.name} does not start with a study record")
                self._check_header(rec, sink.name)
                self._fold_all(records, _unit(sink))
        self._log = sink

    # ------------------------------------------------------------ properties
    @property
    def study(self) -> StudyView:
        """Read-only view of all trials (what policies see)."""
        return self._view

    @property
    def log(self) -> LogSink | None:
        """The audit log writer, if any."""
        return self._log

    def header(self) -> dict[str, Any]:
        """The ``study`` record that pre-registers this engine in the log."""
        return {
            "kind": "study",
            "study": self.study_name,
            "policy": self.policy.to_dict(),
            "policy_hash": policy_hash(self.policy),
            "direction": self.direction.value,
            "non_finite": self.non_finite,
            "versions": {
                "hpprune": _version(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "schema": SCHEMA_VERSION,
            },
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _check_header(self, header: StudyRecord, where: str) -> None:
        mine = StudyRecord(  # a study name of None matches any name
            self.study_name,
            self.policy.to_dict(),
            policy_hash(self.policy),
            self.direction,
            self.non_finite,
            {},
        )
        check_same_study(mine, header, where, "use another log file or Engine.from_log")
        if self.study_name is None:
            self.study_name = header.study

    def _fold_all(
        self, records: Iterable[tuple[int, Record | Mapping[str, Any]]], unit: str
    ) -> None:
        """Fold numbered log records into the state (bulk: pools sorted once, no cyclic GC)."""
        # A fold allocates millions of long-lived objects: the cyclic GC would
        # rescan them again and again (a third of the time), and the pools are
        # sorted once at the end instead of at every point.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        self._view._begin_bulk()
        try:
            take = self._fold.take
            apply = self._apply_record
            for n, raw in records:
                rec = take(raw, n, unit)
                if rec is not None:
                    apply(rec)
        finally:
            self._view._end_bulk()
            if gc_was_enabled:
                gc.enable()

    def _commit(self, rec: Record) -> None:
        """Write ``rec`` to the log (if any) and move the fold past it.

        Raises:
            OSError: If the write fails; nothing was written.
        """
        if self._log is not None:
            self._log.append([rec.to_dict()])
        self._fold.advance(rec)

    def _rebuild_from_log(self) -> None:
        """After a failed write: go back to exactly what the log holds."""
        if self._log is None:  # pragma: no cover - only writes fail
            return
        fresh = Engine.from_records(self._log.read(), self.policy)
        for name in ("_view", "_fold"):
            setattr(self, name, getattr(fresh, name))

    # --------------------------------------------------------------- queries
    def state(self, trial_id: object) -> TrialState:
        """The trial's state.

        Raises:
            ValueError: If the trial is unknown.
        """
        return self._curve(trial_id).state

    def decisions(self, trial_id: object) -> list[Decision]:
        """Every decision given to the trial, oldest first.

        Raises:
            ValueError: If the trial is unknown.
        """
        history = self._curve(trial_id)._decisions
        if history is None:
            return []
        return list(history) if type(history) is list else [history]  # type: ignore[list-item]

    def last_decision(self, trial_id: object) -> Decision | None:
        """The latest decision for the trial, or None before its first report.

        Raises:
            ValueError: If the trial is unknown.
        """
        curve = self._curve(trial_id)
        return None if curve._decisions is None else self._answer(curve)

    def _answer(self, curve: TrialCurve) -> Decision:
        """The trial's standing answer: its STOP once stopped, else its latest decision.

        After a STOP only ingested CONTINUEs may follow (and the trial may
        still complete), so the STOP is found by looking back from the end.
        """
        history = curve._decisions
        if type(history) is not list:
            return history  # type: ignore[return-value]  # one decision (never None here)
        if curve.state is TrialState.STOPPED or curve.state is TrialState.COMPLETED:
            for d in reversed(history):
                if d.action is Action.STOP:
                    return d
        return history[-1]

    def trial_ids(self) -> list[str]:
        """All trial ids in the order they were first seen."""
        return [t.trial_id for t in self._view.trials()]

    def _curve(self, trial_id: object) -> TrialCurve:
        tid = validate.trial_id(trial_id)
        if tid not in self._view:
            raise ValueError(f"unknown `trial_id` {tid!r}: it has never been added or reported")
        return self._view.trial(tid)

    # -------------------------------------------------------------- mutation
    def add_trial(self, trial_id: object, params: Mapping[str, Any] | None = None) -> str:
        """Register a trial (optional: ``report`` registers unknown trials itself).

        Args:
            trial_id: The trial's id (str, or int turned into str).
            params: Its hyperparameters (JSON-serialisable), used by cost- and
                gain-aware policies.

        Returns:
            The normalised trial id.

        Raises:
            TypeError: If the id or params have the wrong type.
            ValueError: If the trial already exists.
        """
        tid = validate.trial_id(trial_id)
        if tid in self._view:
            raise ValueError(f"trial {tid!r} already exists")
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"expected a mapping for `params`, got {type(params).__name__}")
        clean = validate.any_jsonable(dict(params or {}), "params")
        if clean:
            self._commit(TrialRecord(tid, clean))  # write-ahead: the log first
        self._add(tid, clean)
        return tid

    def _add(self, tid: str, params: Mapping[str, Any] | None) -> TrialCurve:
        return self._view._add_trial(tid, params, self.policy.groups(tid))

    def report(
        self,
        trial_id: object,
        step: object,
        value: object,
        elapsed_s: object = None,
        resources: Mapping[str, float] | None = None,
        *,
        unordered: bool = False,
    ) -> Decision:
        """Record one observation and decide on the trial.

        Args:
            trial_id: The trial (registered on first report).
            step: Int >= 0, strictly increasing per trial unless ``unordered``.
                Repeating the last step with the same value returns the same
                decision again.
            value: The metric. NaN, ±inf and None follow ``non_finite``.
            elapsed_s: Compute seconds since the trial started (optional).
            resources: Resource readings, e.g. ``{"memory_mb": 900}``.
            unordered: Accept a step below the trial's last one that was not
                reported yet (a front door whose users may report steps in any
                order, as Optuna's do). It is recorded as a report with
                ``"late": true`` and kept in :attr:`TrialCurve.late`, never in
                the curve or its pools. A policy with ``unordered_steps``
                decides it; for any other policy the answer is CONTINUE with
                reason ``out_of_order`` (one :class:`UserWarning` per trial),
                and a non-finite value still follows ``non_finite``. A repeated
                earlier step with the same value returns the latest decision.

        Returns:
            The decision. After a STOP, every later report returns that same
            STOP decision (sticky).

        Raises:
            TypeError: For a wrong type of any argument.
            ValueError: For a negative, decreasing (unless ``unordered``) or
                conflicting repeated step, or a report for a completed or
                failed trial. Nothing is recorded when an error is raised.
        """
        tid = validate.trial_id(trial_id)
        s = validate.step(step)
        x = validate.metric(value)
        e = validate.elapsed(elapsed_s)
        r = validate.resources(resources)
        curve = self._view.trial(tid) if tid in self._view else None
        if curve is not None:
            if curve.state is TrialState.STOPPED:
                return self._answer(curve)
            if curve.state in (TrialState.COMPLETED, TrialState.FAILED):
                raise ValueError(
                    f"trial {tid!r} is {curve.state.value}; it accepts no more reports"
                )
            if s == curve.last_step:
                last_value = self._fold.last_value(tid)
                if same_value(last_value, x):
                    return self._answer(curve)
                raise ValueError(
                    f"`step` {s} of trial {tid!r} was already reported with value "
                    f"{last_value!r}; got {x!r}"
                )
            if s < curve.last_step:
                if not unordered:
                    raise ValueError(
                        f"`step` must increase for each trial: trial {tid!r} last reported "
                        f"step {curve.last_step}, got {s}"
                    )
                if curve.has_step(s):
                    return self._repeat_late(curve, s, x)
        else:
            curve = self._add(tid, None)
        late = s < curve.last_step
        decision = self._observe(curve, s, x, e, r, late=late)
        try:
            self._commit(ReportRecord(tid, s, decision, x, e, r, late))
        except BaseException:
            # The decision needed the new point in the pools; the log did not take it:
            # go back to the state the log holds, so the same call can be retried.
            self._rebuild_from_log()
            raise
        self._last_seen[tid] = time.monotonic()
        return decision

    def _observe(
        self,
        curve: TrialCurve,
        s: int,
        x: float | None,
        e: float | None,
        r: dict[str, float] | None,
        recorded: Decision | None = None,
        *,
        late: bool = False,
    ) -> Decision:
        """Apply an observation; decide unless ``recorded`` (from a log) is given.

        ``late``: a step below the trial's last one (see ``report(unordered=)``):
        kept aside in the curve, decided only by an unordered-step policy.
        """
        tid = curve.trial_id
        finite = x is not None and math.isfinite(x)
        state = curve._state
        if state is TrialState.STALE or state is TrialState.PAUSED:
            self._view._set_stale(curve, False)
            self._view._set_state(curve, TrialState.RUNNING)
        score = self.direction.to_score(x) if finite else None  # type: ignore[arg-type]
        if late:
            self._view._add_late_point(curve, s, score, e)
        else:
            self._view._add_point(curve, s, score, e)
            if r:
                curve.resources = r
                curve.peak_memory_mb = max(curve.peak_memory_mb, r.get("memory_mb", 0.0))
        if recorded is not None:
            decision = recorded
        elif not finite:
            decision = self._non_finite_decision(tid, s, x)
        elif not late or self.policy.unordered_steps:
            decision = self.policy.decide(curve, self._view).bind(tid, s)
            if decision.action is Action.STOP and self._at_final_step(s):
                # Stopping at the last step saves nothing and would hide a finished
                # run's result: the trial goes on to complete instead.
                decision = Decision(
                    Action.CONTINUE,
                    Reason.FINAL_STEP,
                    ENGINE_RULE,
                    tid,
                    s,
                    {"overruled": decision.rule, "reason": decision.reason},
                )
        else:
            decision = self._out_of_order(curve, s)
        self._apply(curve, decision)
        return decision

    def _non_finite_decision(self, tid: str, s: int, x: float | None) -> Decision:
        if self.non_finite == "stop":
            return Decision(Action.STOP, Reason.NON_FINITE, ENGINE_RULE, tid, s, {"value": x})
        return Decision(
            Action.CONTINUE, Reason.NON_FINITE_IGNORED, ENGINE_RULE, tid, s, {"value": x}
        )

    def _out_of_order(self, curve: TrialCurve, s: int) -> Decision:
        """The answer to a late step for a policy that needs increasing steps (warns once)."""
        tid = curve.trial_id
        if tid not in self._warned_late:
            self._warned_late.add(tid)
            warnings.warn(
                f"trial {tid!r} reported step {s} after step {curve.last_step}: "
                f"{self.policy.name} decides on increasing steps only, so this value "
                "(and any later out-of-order one of this trial) is recorded in the "
                "audit log with reason 'out_of_order' but not decided; for steps "
                "that are instance ids use a policy with unordered steps, e.g. "
                "hpprune.WilcoxonPruner",
                stacklevel=5,
            )
        return Decision(
            Action.CONTINUE,
            Reason.OUT_OF_ORDER,
            ENGINE_RULE,
            tid,
            s,
            {"last_step": curve.last_step},
        )

    def _repeat_late(self, curve: TrialCurve, s: int, x: float | None) -> Decision:
        """An earlier step reported again: same value, same answer; another value is an error."""
        tid = curve.trial_id
        before = curve.score_at(s)
        now = self.direction.to_score(x) if x is not None and math.isfinite(x) else None
        if before != now:
            raise ValueError(
                f"`step` {s} of trial {tid!r} was already reported with another value; got {x!r}"
            )
        return self._answer(curve)

    def _at_final_step(self, step: int) -> bool:
        """Whether ``step`` is at or past the last step of a full run the policy declares.

        A policy declares it with an int ``max_step`` or ``max_resource`` (see
        :func:`~hpprune.pruners.base.declared_final_step`).
        """
        declared = declared_final_step(self.policy)
        return declared is not None and step >= declared

    def _apply(self, curve: TrialCurve, decision: Decision) -> None:
        history = curve._decisions  # the trial's decisions, kept on its curve (see TrialCurve)
        if history is None:  # most trials of a big study get one: no list for it
            curve._decisions = decision
        elif type(history) is list:
            history.append(decision)
        else:
            curve._decisions = [history, decision]  # type: ignore[list-item]
        action = decision.action
        if action is Action.CONTINUE:
            return  # (after a STOP, a value folded in from storage: the STOP stays the answer)
        if action is Action.STOP:
            self._view._set_state(curve, TrialState.STOPPED)
            if decision.rung_resource is not None:  # failed a rung: reached no higher one
                self._view._cap_milestones(curve, decision.rung_resource)
        elif action is Action.PAUSE:
            self._view._set_state(curve, TrialState.PAUSED)
            curve.n_pauses += 1
        elif action is Action.RESUME:
            self._view._set_state(curve, TrialState.RUNNING)

    def complete(self, trial_id: object, value: object = None, *, after_stop: bool = False) -> None:
        """Mark a trial as finished with its final objective value.

        Args:
            trial_id: A known trial.
            value: Final metric; None means "its last reported value". A
                non-finite value completes the trial without entering the
                incumbent.
            after_stop: Also accept a STOPPED trial whose objective ran to its
                end anyway (an Optuna objective may return a value after
                ``should_prune()`` said True). It then counts as completed
                (completed pools, incumbent); its STOP stays in its history.

        Raises:
            TypeError: For a wrong type.
            ValueError: If the trial is unknown, already completed or failed,
                or stopped and ``after_stop`` is False. Nothing is recorded
                when an error is raised.
        """
        curve = self._curve(trial_id)
        x = validate.metric(value)
        if curve.state.is_finished and not (after_stop and curve.state is TrialState.STOPPED):
            raise ValueError(
                f"trial {curve.trial_id!r} is already {curve.state.value}; cannot complete it"
            )
        self._commit(CompleteRecord(curve.trial_id, x))
        self._complete(curve, x)

    def _complete(self, curve: TrialCurve, x: float | None) -> None:
        if x is None:
            self._view._complete(curve, None, use_last=True)
        elif math.isfinite(x):
            self._view._complete(curve, self.direction.to_score(x), use_last=False)
        else:
            self._view._complete(curve, None, use_last=False)

    def fail(self, trial_id: object, reason: str = "failed") -> None:
        """Mark a trial as failed (it errored); its curve stays in the statistics.

        Raises:
            TypeError: If ``reason`` is not a str.
            ValueError: If the trial is unknown or already finished, or
                ``reason`` is not Unicode text (a lone surrogate).
        """
        curve = self._curve(trial_id)
        if curve.state.is_finished:
            raise ValueError(
                f"trial {curve.trial_id!r} is already {curve.state.value}; cannot fail it"
            )
        text = validate.text(reason, "reason") or ""
        self._commit(FailRecord(curve.trial_id, text))
        self._view._set_state(curve, TrialState.FAILED)

    def decide_external(self, trial_id: object, decision: Decision) -> Decision:
        """Record a decision made outside a report (scheduler pause/resume/stop).

        Args:
            trial_id: A known, unfinished trial.
            decision: The decision; it is bound to the trial's last step.

        Returns:
            The bound decision (the original STOP if the trial was already stopped).

        Raises:
            ValueError: If the trial is unknown, completed or failed.
        """
        curve = self._curve(trial_id)
        if curve.state is TrialState.STOPPED:
            return self._answer(curve)
        if curve.state.is_finished:
            raise ValueError(f"trial {curve.trial_id!r} is {curve.state.value}")
        if not isinstance(decision, Decision):
            raise TypeError(f"expected a Decision for `decision`, got {type(decision).__name__}")
        validate.text(decision.reason, "decision.reason")
        validate.text(decision.rule, "decision.rule")
        validate.json_value(dict(decision.evidence), "decision.evidence")
        bound = decision.bind(curve.trial_id, curve.last_step)
        self._commit(DecisionRecord(curve.trial_id, bound))
        self._apply(curve, bound)
        return bound

    def mark_stale(self, trial_id: object) -> None:
        """Mark a running trial whose worker vanished as stale.

        A stale trial's values leave the ``"all"`` pools (rungs, peer counts)
        until it reports again.

        Raises:
            ValueError: If the trial is unknown.
        """
        curve = self._curve(trial_id)
        if curve.state is TrialState.RUNNING:
            self._commit(StaleRecord(curve.trial_id))
            self._view._set_stale(curve, True)

    def mark_stale_trials(self, stale_after_s: float, now: float | None = None) -> list[str]:
        """Mark running trials silent for more than ``stale_after_s`` seconds as stale.

        Args:
            stale_after_s: Silence (monotonic seconds) after which a trial is stale.
            now: ``time.monotonic()`` reading to use (defaults to now).

        Returns:
            The ids newly marked stale.
        """
        limit = validate.float_param(stale_after_s, "stale_after_s", 0.0)
        t = time.monotonic() if now is None else now
        out = []
        for curve in list(self._view.trials()):
            seen = self._last_seen.get(curve.trial_id)
            if curve.state is TrialState.RUNNING and seen is not None and t - seen > limit:
                self.mark_stale(curve.trial_id)
                out.append(curve.trial_id)
        return out

    def flush(self) -> None:
        """Write any buffered log records."""
        if self._log is not None:
            self._log.flush()

    def close(self) -> None:
        """Flush and close the log."""
        if self._log is not None:
            self._log.close()

    # --------------------------------------------------------------- restore
    def apply_record(self, record: Mapping[str, Any]) -> None:
        """Fold one log record (e.g. another worker's) into the state, writing nothing.

        The record is decoded and checked by the log's one fold
        (:class:`hpprune.audit.records.Fold`), as :meth:`from_log` does.

        Raises:
            LogFormatError: If the record is malformed or cannot come here.
        """
        self._n_applied = getattr(self, "_n_applied", 0) + 1
        rec = self._fold.accept(record, self._n_applied)
        if rec is not None:
            self._apply_record(rec)

    def apply(self, record: Record) -> None:
        """Fold one typed record (see :mod:`hpprune.audit.records`), writing nothing.

        Raises:
            LogFormatError: If the record cannot come here.
        """
        self._n_applied = getattr(self, "_n_applied", 0) + 1
        if self._fold.place(record, self._n_applied):
            self._apply_record(record)

    def _apply_record(self, rec: Record) -> None:
        if isinstance(rec, ReportRecord):  # most records: first
            tid = rec.trial
            curve = self._view._trials.get(tid) or self._add(tid, None)
            resources = None if rec.late else rec.resources  # (a late point keeps none)
            self._observe(
                curve, rec.step, rec.value, rec.elapsed, resources, rec.decision, late=rec.late
            )
            return
        if isinstance(rec, StudyRecord):
            return
        tid = rec.trial
        if isinstance(rec, TrialRecord):
            if tid not in self._view:
                self._add(tid, rec.params)
            return
        curve = self._view._trials.get(tid) or self._add(tid, None)
        if isinstance(rec, DecisionRecord):
            self._apply(curve, rec.decision)
        elif isinstance(rec, CompleteRecord):
            self._complete(curve, rec.value)
        elif isinstance(rec, FailRecord):
            self._view._set_state(curve, TrialState.FAILED)
        else:
            self._view._set_stale(curve, True)

    @classmethod
    def from_records(
        cls,
        records: Iterable[Record | Mapping[str, Any]],
        policy: Policy | None = None,
        log: LogArg = None,
        *,
        where: str = "<records>",
        unit: str = "record",
    ) -> Engine:
        """Rebuild an engine from log records (see :meth:`from_log`).

        Args:
            records: The records, header first.
            policy: Optional policy; must equal the recorded one.
            log: Where later records go (nothing is read from it).
            where: The records' name, for messages.
            unit: What messages count (``"record"`` or ``"line"``).

        Returns:
            The engine.

        Raises:
            LogFormatError: If the records are not a valid log.
            ValueError: If ``policy`` differs from the recorded one.
        """
        return cls._from_numbered(enumerate(records, start=1), policy, log, where, unit)

    @classmethod
    def _from_numbered(
        cls,
        records: Iterable[tuple[int, Record | Mapping[str, Any]]],
        policy: Policy | None,
        log: LogArg,
        where: str,
        unit: str,
    ) -> Engine:
        """:meth:`from_records` of ``(n, record)`` pairs (messages name each by its ``n``)."""
        it = iter(records)
        fold = Fold(where)
        n, first = next(it, (0, None))
        if first is None:
            raise LogFormatError(f"{where}: not an hpprune log: it has no study record")
        header = fold.take(first, n, unit)
        if not isinstance(header, StudyRecord):  # pragma: no cover - accept() refuses
            raise LogFormatError(f"{where}: the log does not start with a study record")
        pol = policy if policy is not None else policy_from_dict(header.policy)
        if policy is not None and policy_hash(policy) != header.policy_hash:
            raise ValueError(
                "`policy` differs from the one recorded in the log; use hpprune.audit.replay "
                "to evaluate another policy"
            )
        engine = cls(
            pol,
            direction=header.direction,
            non_finite=header.non_finite,
            study_name=header.study,
        )
        engine._fold = fold
        engine._fold_all(it, unit)
        if log is not None:
            engine._log = open_sink(log, study=header.study)
        return engine

    @classmethod
    def from_log(
        cls,
        path: str | os.PathLike[str],
        policy: Policy | None = None,
        *,
        resume_logging: bool = True,
        study: str | None = None,
    ) -> Engine:
        """Rebuild an engine's full state from its audit log.

        The rebuilt engine gives the same later decisions as the one that
        wrote the log. Torn lines are skipped with a warning.

        Args:
            path: The JSON Lines log, or a database URL (see
                :mod:`hpprune.audit.dbsink`).
            policy: Optional policy; must equal the recorded one.
            resume_logging: Keep appending to the same log.
            study: The study of a database log (None: the only one there).

        Returns:
            The engine.

        Raises:
            FileNotFoundError: If the log is missing.
            LogFormatError: If the log is malformed or from a newer schema.
            ValueError: If ``policy`` differs from the recorded one.
        """
        if is_url(path):
            records = read_log(path, study=study)
            return cls.from_records(records, policy, log=path if resume_logging else None)
        sink = existing_log_file(path)
        return cls._from_numbered(
            sink.read_numbered(typed=True),
            policy,
            sink.path if resume_logging else None,
            str(sink.path),
            "line",
        )


def _unit(sink: LogSink) -> str:
    return "line" if isinstance(sink, FileSink) else "record"
