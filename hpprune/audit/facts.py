"""The facts of an audit log: a fold of its records into per-trial facts.

:func:`fold_log` turns the records of a log (see :mod:`hpprune.audit.records`)
into a :class:`LogFacts`: every trial's curve, its decisions other than
CONTINUE, its fate (completed, stopped, paused, failed, stale, running), pauses
and resumes, and the compute spent over the course of the study. The report,
the replay, ``hpprune summary --json``/``explain --json`` and the text in
:mod:`hpprune.audit.explain` all read this one fold, so they never disagree.
Values are on the user's metric scale; non-finite reports (NaN, ±inf, None)
are kept in the curves as NaN/±inf and never count towards best values.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hpprune.audit.log import LogFormatError
from hpprune.audit.records import (
    CompleteRecord,
    DecisionRecord,
    FailRecord,
    Fold,
    Record,
    ReportRecord,
    StudyRecord,
    TrialRecord,
    decode_number,
    fold_numbered,
    fold_records,
)
from hpprune.audit.sinks import existing_log_file
from hpprune.types import Action, Decision, Direction, Reason, jsonable

__all__ = [
    "FATES",
    "LogFacts",
    "RecordsArg",
    "TrialFacts",
    "as_facts",
    "decode_number",
    "facts_of",
    "find_budget_s",
    "fold_log",
    "load_records",
    "summary_dict",
    "trial_facts",
    "typed_records",
]

FATES = ("completed", "stopped", "paused", "failed", "stale", "running")
"""Every fate a trial can have at the end of a log, in display order."""

RecordsArg = str | os.PathLike[str] | Iterable[Mapping[str, Any]]

_BUDGET_SECONDS_KEYS = ("budget_s", "compute_budget_s", "total_budget_s", "budget_seconds")
_BUDGET_HOURS_KEYS = ("budget_hours", "compute_budget_hours", "total_budget_hours", "budget_h")


def typed_records(log: RecordsArg) -> Iterator[Record]:
    """The typed records of a log file or of its records, through the log's one fold.

    Args:
        log: A JSON Lines log path, or its records (header first).

    Yields:
        The accepted records, header first (see :mod:`hpprune.audit.records`
        for what is accepted, skipped with a warning, or rejected).

    Raises:
        FileNotFoundError: If the path does not exist.
        LogFormatError: If the log is not a valid hpprune log.
    """
    if isinstance(log, (str, os.PathLike)):
        return fold_numbered(existing_log_file(log).read_numbered(), Path(log), unit="line")
    return fold_records(log)


@dataclass
class TrialFacts:
    """What the log says about one trial.

    Attributes:
        trial_id: The trial's id.
        index: Order of first appearance in the log (0-based).
        params: Hyperparameters from its ``trial`` record, if any.
        steps: Every step reported in order (increasing), in log order.
        values: The reported values on the user's scale (NaN for None/NaN).
        elapsed: Compute seconds at each report (None where not given).
        events: Every decision other than CONTINUE, plus every ``decision``
            record, in log order.
        state: Final fate, one of :data:`FATES`.
        final_value: Value given at completion (user scale), if completed.
        stop: The STOP decision, if stopped.
        fail_reason: The reason of a ``fail`` record.
        n_pauses: Number of PAUSE decisions.
        n_resumes: Number of RESUME decisions.
        late: ``(step, value)`` of reports that arrived after a higher step
            (records with ``"late": true``), in log order. They are kept out of
            ``steps``/``values`` (the curve) but count as reports.
    """

    trial_id: str
    index: int
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    elapsed: list[float | None] = field(default_factory=list)
    events: list[Decision] = field(default_factory=list)
    state: str = "running"
    final_value: float | None = None
    stop: Decision | None = None
    fail_reason: str | None = None
    n_pauses: int = 0
    n_resumes: int = 0
    late: list[tuple[int, float]] = field(default_factory=list)

    @property
    def n_reports(self) -> int:
        """Values reported, in order or late (each one an evaluation that ran)."""
        return len(self.steps) + len(self.late)

    @property
    def last_step(self) -> int:
        """Last reported step (-1 before any report)."""
        return self.steps[-1] if self.steps else -1

    @property
    def compute_s(self) -> float | None:
        """Latest elapsed seconds reported, or None without timing data."""
        for e in reversed(self.elapsed):
            if e is not None:
                return e
        return None

    def best_value(self, direction: Direction) -> float | None:
        """Best finite reported value on the user's scale, or None."""
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            return None
        return min(finite) if direction is Direction.MINIMIZE else max(finite)

    def last_finite_value(self) -> float | None:
        """Latest finite reported value, or None."""
        for v in reversed(self.values):
            if math.isfinite(v):
                return v
        return None

    def elapsed_at(self, step: int) -> float | None:
        """Elapsed seconds at the report of ``step`` (or the latest before it), if known."""
        out: float | None = None
        for s, e in zip(self.steps, self.elapsed, strict=True):
            if s > step:
                break
            if e is not None:
                out = e
        return out


@dataclass
class LogFacts:
    """The fold of a whole log.

    Attributes:
        header: The ``study`` record.
        direction: The study's direction.
        trials: Trials by id, in order of first appearance.
        n_reports: Number of ``report`` records.
        compute: Cumulative compute after each report, in log order (seconds when
            the log has timing data, else steps).
        compute_unit: ``"s"`` or ``"steps"``.
        budget_s: Compute budget in seconds, when the log names one.
        n_records: Records folded (header included).
    """

    header: dict[str, Any]
    direction: Direction
    trials: dict[str, TrialFacts]
    n_reports: int
    compute: list[float]
    compute_unit: str
    budget_s: float | None
    n_records: int

    @property
    def study_name(self) -> str | None:
        """The study name recorded in the header."""
        name = self.header.get("study")
        return None if name is None else str(name)

    @property
    def policy(self) -> Mapping[str, Any]:
        """The recorded policy object (``{"type": ..., "params": ...}``)."""
        pol = self.header.get("policy")
        return pol if isinstance(pol, Mapping) else {}

    def counts(self) -> dict[str, int]:
        """Number of trials per fate (every fate present, zeros included)."""
        c = Counter(t.state for t in self.trials.values())
        return {f: c.get(f, 0) for f in FATES}

    def reason_counts(self) -> dict[str, int]:
        """Count of every non-CONTINUE decision, keyed ``"action:reason"``."""
        c: Counter[str] = Counter()
        for t in self.trials.values():
            for d in t.events:
                c[f"{d.action.value}:{d.reason}"] += 1
        return dict(c.most_common())

    def best_trial(self) -> TrialFacts | None:
        """The completed trial with the best finite final value (first one on ties)."""
        best: TrialFacts | None = None
        for t in self.trials.values():
            if t.state != "completed" or t.final_value is None:
                continue
            if not math.isfinite(t.final_value):
                continue
            if best is None or self.direction.to_score(t.final_value) < self.direction.to_score(
                best.final_value  # type: ignore[arg-type]
            ):
                best = t
        return best

    def full_run_steps(self) -> int | None:
        """Steps reported by the longest completed trial (a no-pruning run), or None."""
        done = [t.n_reports for t in self.trials.values() if t.state == "completed" and t.steps]
        return max(done) if done else None

    def total_compute(self) -> float:
        """Compute spent by all trials (seconds, or steps without timing data)."""
        return self.compute[-1] if self.compute else 0.0


def load_records(log: RecordsArg, where: object = None) -> list[dict[str, Any]]:
    """Read a log through its one fold into a list of the records as read.

    Args:
        log: A JSON Lines log path, or records.
        where: The log's name in messages (default: the path, or ``<records>``).

    Returns:
        The accepted records, header first, as read (lines skipped with a
        warning are left out; see :mod:`hpprune.audit.records`).

    Raises:
        FileNotFoundError: If the path does not exist.
        LogFormatError: Naming the line, if the log is not a valid hpprune log.
    """
    raws: Iterable[tuple[int, Mapping[str, Any]]]
    if isinstance(log, (str, os.PathLike)):
        where = Path(log) if where is None else where
        numbered = existing_log_file(log).read_numbered()  # (not typed: records as dicts)
        raws, unit = cast("Iterable[tuple[int, Mapping[str, Any]]]", numbered), "line"
    else:
        where = "<records>" if where is None else where
        raws, unit = enumerate(log, start=1), "record"
    fold = Fold(where)
    out: list[dict[str, Any]] = []
    for n, raw in raws:
        if fold.accept(raw, n, unit) is not None:
            out.append(dict(raw))
    if fold.header is None:
        raise LogFormatError(f"{where}: not an hpprune log: it has no study record")
    return out


def find_budget_s(header: Mapping[str, Any]) -> float | None:
    """Look for a compute budget (in seconds) in a log header.

    Checks the header itself and then the recorded policy's parameters (nested
    policies included) for ``budget_s``/``compute_budget_s``/``total_budget_s``/
    ``budget_seconds``, or ``budget_hours``-style keys (converted to seconds).

    Args:
        header: The ``study`` record.

    Returns:
        The budget in seconds, or None when none is named (or it is not a
        positive finite number).
    """

    def search(obj: Any, depth: int) -> float | None:
        if depth > 8:
            return None
        if isinstance(obj, Mapping):
            for keys, scale in ((_BUDGET_SECONDS_KEYS, 1.0), (_BUDGET_HOURS_KEYS, 3600.0)):
                for k in keys:
                    v = obj.get(k)
                    if (
                        isinstance(v, (int, float))
                        and not isinstance(v, bool)
                        and math.isfinite(v)
                        and v > 0
                    ):
                        return float(v) * scale
            for v in obj.values():
                found = search(v, depth + 1)
                if found is not None:
                    return found
        elif isinstance(obj, list):
            for v in obj:
                found = search(v, depth + 1)
                if found is not None:
                    return found
        return None

    direct = search({k: v for k, v in header.items() if k != "policy"}, 7)
    return direct if direct is not None else search(header.get("policy"), 0)


def fold_log(log: RecordsArg) -> LogFacts:
    """Fold a log into :class:`LogFacts` (one pass, no policy is run).

    Args:
        log: A JSON Lines log path, or its records (header first).

    Returns:
        The facts.

    Raises:
        FileNotFoundError: If the path does not exist.
        LogFormatError: If the log has no ``study`` header or a record is malformed.

    Non-finite reported values are kept as NaN/±inf in ``values``.
    """
    return facts_of(typed_records(log))


def facts_of(typed: Iterable[Record]) -> LogFacts:
    """:class:`LogFacts` of records already through the fold (see :func:`typed_records`).

    Args:
        typed: The accepted records, header first.

    Returns:
        The facts.

    Raises:
        LogFormatError: If there is no header.
    """
    records = iter(typed)
    header_rec = next(records, None)
    if not isinstance(header_rec, StudyRecord):  # pragma: no cover - the fold refuses
        raise LogFormatError("the log does not start with a study record")
    header = dict(header_rec.raw)
    direction = header_rec.direction
    trials: dict[str, TrialFacts] = {}
    compute_s: list[float] = []
    compute_steps: list[float] = []
    spent_s = 0.0
    spent_steps = 0.0
    any_elapsed = False
    budget_from_evidence: float | None = None
    n_reports = 0
    n_records = 1
    last_elapsed: dict[str, float] = {}

    def get(tid: str) -> TrialFacts:
        t = trials.get(tid)
        if t is None:
            t = trials[tid] = TrialFacts(tid, len(trials))
        return t

    def apply(t: TrialFacts, d: Decision) -> None:
        nonlocal budget_from_evidence
        if d.action is Action.CONTINUE or t.state == "stopped":
            return  # a STOP is sticky: later answers are not new events
        t.events.append(d)
        if d.action is Action.STOP:
            t.state = "stopped"
            t.stop = d
        elif d.action is Action.PAUSE:
            t.state = "paused"
            t.n_pauses += 1
        elif d.action is Action.RESUME:
            t.state = "running"
            t.n_resumes += 1
        if d.reason == Reason.BUDGET_EXHAUSTED and budget_from_evidence is None:
            found = find_budget_s(dict(d.evidence))
            budget_from_evidence = found

    for rec in records:
        n_records += 1
        if isinstance(rec, StudyRecord):
            continue
        tid = rec.trial
        t = trials.get(tid)
        if t is None:
            t = get(tid)
        if isinstance(rec, TrialRecord):
            t.params = dict(rec.params)
        elif isinstance(rec, ReportRecord):
            n_reports += 1
            step = rec.step
            value = rec.value
            elapsed = rec.elapsed
            if t.state == "paused" or t.state == "stale":
                t.state = "running"
            if rec.late:
                # A step below the trial's last one: an evaluation that ran, not a
                # point of the curve; compute counted in steps stays at the highest step.
                t.late.append((step, math.nan if value is None else value))
            else:
                prev_step = t.steps[-1] if t.steps else -1
                t.steps.append(step)
                t.values.append(math.nan if value is None else value)
                t.elapsed.append(elapsed)
                if step > prev_step:
                    spent_steps += step - prev_step
            if elapsed is not None:
                any_elapsed = True
                prev_e = last_elapsed.get(tid, 0.0)
                if elapsed > prev_e:
                    spent_s += elapsed - prev_e
                last_elapsed[tid] = elapsed
            compute_s.append(spent_s)
            compute_steps.append(spent_steps)
            if rec.decision.action is not Action.CONTINUE:
                apply(t, rec.decision)
        elif isinstance(rec, DecisionRecord):
            apply(t, rec.decision)
        elif isinstance(rec, CompleteRecord):
            t.state = "completed"
            t.final_value = t.last_finite_value() if rec.value is None else rec.value
        elif isinstance(rec, FailRecord):
            t.state = "failed"
            t.fail_reason = rec.reason
        elif t.state == "running":  # StaleRecord
            t.state = "stale"
    budget = find_budget_s(header)
    return LogFacts(
        header=header,
        direction=direction,
        trials=trials,
        n_reports=n_reports,
        compute=compute_s if any_elapsed else compute_steps,
        compute_unit="s" if any_elapsed else "steps",
        budget_s=budget if budget is not None else budget_from_evidence,
        n_records=n_records,
    )


def as_facts(log: RecordsArg | LogFacts) -> LogFacts:
    """Return ``log`` if it is already folded, else :func:`fold_log` of it."""
    return log if isinstance(log, LogFacts) else fold_log(log)


def trial_facts(log: RecordsArg | LogFacts, trial_id: object) -> dict[str, Any]:
    """A JSON-ready account of one trial (``hpprune explain --json`` adds the sentences).

    Args:
        log: A log path, its records, or a :class:`LogFacts`.
        trial_id: The trial (ints are turned into strings).

    Returns:
        Keys: trial, state, params, steps_run, first_step, last_step,
        best_value, last_value, final_value, fail_reason, pauses, resumes,
        compute_s, steps_saved (against the longest completed trial; None
        when not stopped or no trial completed), decisions (every STOP,
        PAUSE and RESUME with its evidence).
        Non-finite values are written as the strings ``"NaN"``, ``"Infinity"``.

    Raises:
        ValueError: If the trial is not in the log.
    """
    facts = as_facts(log)
    tid = str(trial_id)
    t = facts.trials.get(tid)
    if t is None:
        raise ValueError(f"trial {tid!r} is not in the log")
    full = facts.full_run_steps()
    saved = None
    if t.state == "stopped" and full is not None:
        saved = max(full - len(t.steps), 0)
    return {
        "trial": tid,
        "state": t.state,
        "params": jsonable(dict(t.params)),
        "steps_run": len(t.steps),
        "first_step": t.steps[0] if t.steps else None,
        "last_step": t.last_step,
        "best_value": jsonable(t.best_value(facts.direction)),
        "last_value": jsonable(t.values[-1]) if t.values else None,
        "final_value": jsonable(t.final_value),
        "fail_reason": t.fail_reason,
        "pauses": t.n_pauses,
        "resumes": t.n_resumes,
        "compute_s": t.compute_s,
        "steps_saved": saved,
        "decisions": [d.to_dict() for d in t.events],
    }


def summary_dict(log: RecordsArg | LogFacts) -> dict[str, Any]:
    """A JSON-ready summary of a log (what :func:`summarise` prints).

    Args:
        log: A log path, its records, or a :class:`LogFacts`.

    Returns:
        Keys: study, policy, direction, n_trials, n_reports, fates, reasons,
        pauses, resumes, stop_steps (min/median/max), steps_run,
        full_run_steps (steps of the longest completed trial, None without
        one), best_trial, best_value, best_step, compute, compute_unit,
        budget_s, budget_used.

    Raises:
        LogFormatError: If the log is malformed.
    """
    facts = as_facts(log)
    best = facts.best_trial()
    stop_steps = sorted(t.stop.step for t in facts.trials.values() if t.stop is not None)
    total = facts.total_compute()
    budget_used = None
    if facts.budget_s is not None and facts.compute_unit == "s":
        budget_used = total / facts.budget_s
    return {
        "study": facts.study_name,
        "policy": dict(facts.policy),
        "direction": facts.direction.value,
        "n_trials": len(facts.trials),
        "n_reports": facts.n_reports,
        "fates": facts.counts(),
        "reasons": facts.reason_counts(),
        "pauses": sum(t.n_pauses for t in facts.trials.values()),
        "resumes": sum(t.n_resumes for t in facts.trials.values()),
        "stop_steps": {
            "min": stop_steps[0],
            "median": stop_steps[len(stop_steps) // 2],
            "max": stop_steps[-1],
        }
        if stop_steps
        else None,
        "steps_run": sum(t.n_reports for t in facts.trials.values()),
        "full_run_steps": facts.full_run_steps(),
        "best_trial": best.trial_id if best else None,
        "best_value": best.final_value if best else None,
        "best_step": best.last_step if best else None,
        "compute": total,
        "compute_unit": facts.compute_unit,
        "budget_s": facts.budget_s,
        "budget_used": budget_used,
    }
