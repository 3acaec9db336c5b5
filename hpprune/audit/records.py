"""The audit log's records: one encoder, one strict decoder, and the fold's rules.

Every record is one line of compact JSON with a schema version ``"v"`` and a
``"kind"`` (``study``, ``trial``, ``report``, ``decision``, ``complete``,
``fail``, ``stale``). Non-finite floats are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``.

A ``report`` record with ``"late": true`` holds a step below the trial's
highest reported step (Optuna lets objectives report steps in any order; see
``Engine.report(unordered=True)``): every reader keeps it out of the trial's
curve and counts it as one report.

This module sits at the bottom of the import graph (it imports only
:mod:`hpprune.types` and :mod:`hpprune.validate`): sinks, the engine and the
audit tools build on it.

Reading a log has three outcomes per line, decided here once for every reader
(``Engine.from_log``, the Optuna and Ray front doors, explain/summary/report
and replay all read through :class:`Fold`):

* **accepted**: a valid record in a valid place; its typed form is returned.
* **skipped with a warning**: a torn or malformed line, a JSON value that is
  not an hpprune record, a line nested too deeply, an exact repeat of a
  trial's last report or of its terminal record, or a repeated identical
  ``study`` header (a retried write that reached the disk).
* **rejected** with :class:`LogFormatError` naming the line: a record of a
  newer schema, a first record that is not a ``study`` header, a second header
  of another study, an unknown kind, a field with a wrong type or value
  (``"decision": null``, ``"step": 1e999``, ``"value": true``, a bad trial id,
  ``"direction": "sideways"``, ...), a report whose step does not increase, a
  report or decision for a finished trial (after a STOP only ``ingested``
  values and a ``complete`` may follow), a ``late`` report not below the
  trial's last step, a ``stale`` mark of a trial that is not running, and a
  second, different terminal record (``complete``/``fail``).
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hpprune import validate
from hpprune.types import (
    SCHEMA_VERSION,
    Action,
    Decision,
    Direction,
    decision_from_fields,
    jsonable,
    rung_resource_of,
)

__all__ = [
    "KINDS",
    "CompleteRecord",
    "DecisionRecord",
    "FailRecord",
    "Fold",
    "LogFormatError",
    "Record",
    "ReportRecord",
    "StaleRecord",
    "StudyRecord",
    "TrialRecord",
    "decode_line",
    "decode_number",
    "decode_record",
    "encode_record",
    "fold_records",
]


class LogFormatError(ValueError):
    """A log line is well-formed JSON but not a valid hpprune record."""


def encode_record(record: Mapping[str, Any]) -> bytes:
    """Serialise one record as a compact JSON line.

    Args:
        record: The record (a ``"v"`` schema version is added if missing).

    Returns:
        The UTF-8 line, ending in ``"\\n"``. Non-finite floats become strings.

    Raises:
        TypeError: If the record holds a value with no JSON form.
    """
    body = dict(record)
    body.setdefault("v", SCHEMA_VERSION)
    return (json.dumps(jsonable(body), separators=(",", ":"), allow_nan=False) + "\n").encode()


_DECODER = json.JSONDecoder()
# The C scanner behind json.loads, called without its Python wrappers.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_line(raw: bytes, lineno: int, where: object) -> dict[str, Any] | None:
    """Decode one log line.

    Args:
        raw: The line's bytes (with or without its newline).
        lineno: Its 1-based line number, for messages.
        where: The log's name (a path), for messages.

    Returns:
        The record, or None for a torn or malformed line or a JSON value
        that is not an hpprune record; those are skipped with a
        :class:`UserWarning` naming the line.

    Raises:
        LogFormatError: If the record was written by a newer schema version.
    """
    try:
        text = raw.decode("utf-8")
        try:  # fast path: one JSON value at the start of the line, then only "\n"
            record, end = _SCAN(text, 0)
            if end != len(text) and text[end:].strip():
                raise ValueError("extra data")
        except (StopIteration, ValueError):  # leading blanks, or not JSON: the full decoder
            record = _DECODER.decode(text)
    except (ValueError, UnicodeDecodeError):
        warnings.warn(f"{where}:{lineno}: skipped a torn or malformed log line", stacklevel=3)
        return None
    except RecursionError:
        warnings.warn(f"{where}:{lineno}: skipped a line nested too deeply", stacklevel=3)
        return None
    if not isinstance(record, dict) or "kind" not in record:
        warnings.warn(
            f"{where}:{lineno}: skipped a line that is not an hpprune record", stacklevel=3
        )
        return None
    version = record.get("v", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise LogFormatError(
            f"{where}:{lineno}: record has schema_version {version!r}; this hpprune reads "
            f"versions <= {SCHEMA_VERSION} (upgrade hpprune to read it)"
        )
    return record


# ------------------------------------------------------------------ typed records
@dataclass(frozen=True, slots=True)
class StudyRecord:
    """The header: pre-registers the policy, direction and non-finite mode.

    Attributes:
        study: The study name, or None.
        policy: The policy's ``{"type": ..., "params": ...}`` dict.
        policy_hash: Stable hash of the policy (see :func:`hpprune.policy_hash`).
        direction: The study's direction.
        non_finite: ``"stop"`` or ``"ignore"``.
        raw: The whole header as read (versions, start time, importer details).
    """

    study: str | None
    policy: dict[str, Any]
    policy_hash: str
    direction: Direction
    non_finite: str
    raw: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return dict(self.raw)


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A trial registered with its hyperparameters."""

    trial: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "trial", "trial": self.trial, "params": self.params}


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One observation and the decision it received (values on the user's scale)."""

    trial: str
    step: int
    value: float | None
    elapsed: float | None
    resources: dict[str, float] | None
    decision: Decision
    late: bool = False
    """A step below the trial's highest one (see the module docstring)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as written (a CONTINUE's evidence is left out, to keep logs small)."""
        out: dict[str, Any] = {
            "kind": "report",
            "trial": self.trial,
            "step": self.step,
            "value": self.value,
        }
        if self.late:
            out["late"] = True
        if self.elapsed is not None:
            out["elapsed"] = self.elapsed
        if self.resources:
            out["resources"] = self.resources
        d = self.decision
        out["decision"] = d.to_dict(with_evidence=d.action is not Action.CONTINUE)
        return out


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision not tied to a report (pause, resume, budget stop)."""

    trial: str
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "decision", "trial": self.trial, "decision": self.decision.to_dict()}


@dataclass(frozen=True, slots=True)
class CompleteRecord:
    """A trial finished; ``value`` None means "its last reported value"."""

    trial: str
    value: float | None

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "complete", "trial": self.trial, "value": self.value}


@dataclass(frozen=True, slots=True)
class FailRecord:
    """A trial failed (errored, pruned by another tool, abandoned)."""

    trial: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "fail", "trial": self.trial, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class StaleRecord:
    """A running trial whose worker went silent."""

    trial: str

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "stale", "trial": self.trial}


Record = (
    StudyRecord
    | TrialRecord
    | ReportRecord
    | DecisionRecord
    | CompleteRecord
    | FailRecord
    | StaleRecord
)
KINDS = ("study", "trial", "report", "decision", "complete", "fail", "stale")
"""Every record kind of this schema version."""

_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def decode_number(x: Any, field: str = "value") -> float | None:
    """Decode a number written by :func:`hpprune.types.jsonable` (None stays None).

    Raises:
        LogFormatError: For bools, other strings, ints too large for a float
            and other types.
    """
    if type(x) is float or x is None:
        return x
    if type(x) is int:
        try:
            return float(x)
        except OverflowError:
            raise LogFormatError(f"`{field}` is too large for a float") from None
    if type(x) is str and x in _NUMBERS:
        return _NUMBERS[x]
    raise LogFormatError(f"expected a number for `{field}`, got {_short(x)}")


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _trial(raw: Mapping[str, Any]) -> str:
    tid = raw.get("trial")
    if type(tid) is not str:
        raise LogFormatError(f"expected a str for `trial`, got {_short(tid)}")
    if _PLAIN_ID.fullmatch(tid):  # the usual id: nothing that validate.trial_id refuses
        return sys.intern(tid)
    try:
        return sys.intern(validate.trial_id(tid, "trial"))
    except ValueError as exc:
        raise LogFormatError(str(exc)) from None


_PLAIN_ID = re.compile(rf"[\w.:@+/-]{{1,{validate.MAX_ID_LENGTH}}}", re.ASCII)


def _decision(raw: Any, field: str = "decision", trial: str = "") -> Decision:
    if not isinstance(raw, Mapping):
        raise LogFormatError(f"expected an object for `{field}`, got {_short(raw)}")
    action = raw.get("action")
    if type(action) is not str or action not in _ACTIONS:
        raise LogFormatError(
            f"expected one of {sorted(_ACTIONS)} for `{field}.action`, got {_short(action)}"
        )
    for key in ("reason", "rule"):
        if type(raw.get(key)) is not str:
            raise LogFormatError(f"expected a str for `{field}.{key}`, got {_short(raw.get(key))}")
    tid = raw.get("trial_id", "")
    if type(tid) is not str:
        raise LogFormatError(f"expected a str for `{field}.trial_id`, got {_short(tid)}")
    step = raw.get("step", -1)
    if type(step) is not int or step < -1 or step > validate.MAX_STEP:
        raise LogFormatError(f"expected an int >= -1 for `{field}.step`, got {_short(step)}")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int:
        raise LogFormatError(f"expected an int for `{field}.schema_version`, got {_short(version)}")
    ev = raw.get("evidence")
    if ev is not None and not isinstance(ev, Mapping):
        raise LogFormatError(f"expected an object for `{field}.evidence`, got {_short(ev)}")
    # Built directly (the fields are checked above): strings that repeat across a log
    # (reason, rule, evidence keys, trial ids) are interned, so a million records do
    # not hold a million copies of them. Evidence decoded from JSON is in JSON form.
    fields = {
        "action": _ACTION_OF[action],
        "reason": sys.intern(raw["reason"]),
        "rule": sys.intern(raw["rule"]),
        "trial_id": trial if tid == trial else sys.intern(tid),
        "step": step,
        "evidence": MappingProxyType({sys.intern(str(k)): v for k, v in ev.items()})
        if ev
        else _NO_EVIDENCE,
        "schema_version": version,
        "rung_resource": _rung_resource(raw, field),
    }
    return decision_from_fields(Decision, fields)


def _rung_resource(raw: Mapping[str, Any], field: str) -> int | None:
    try:
        return rung_resource_of(raw)
    except ValueError as exc:
        raise LogFormatError(
            str(exc).replace("`rung_resource`", f"`{field}.rung_resource`")
        ) from None


_ACTIONS = frozenset(a.value for a in Action)
_ACTION_OF = {a.value: a for a in Action}
_NO_EVIDENCE: Mapping[str, Any] = MappingProxyType({})


def _step(raw: Mapping[str, Any]) -> int:
    step = raw.get("step")
    if type(step) is int and 0 <= step <= validate.MAX_STEP:
        return step
    raise LogFormatError(f"expected an int in [0, 2**53) for `step`, got {_short(step)}")


def _elapsed(raw: Any, field: str) -> float | None:
    x = decode_number(raw, field)
    if x is not None and not (math.isfinite(x) and x >= 0):
        raise LogFormatError(f"expected a finite number >= 0 for `{field}`, got {_short(raw)}")
    return x


def _study(raw: Mapping[str, Any]) -> StudyRecord:
    policy = raw.get("policy")
    if (
        not isinstance(policy, Mapping)
        or type(policy.get("type")) is not str
        or not isinstance(policy.get("params", {}), Mapping)
    ):
        raise LogFormatError(
            f"expected {{'type': str, 'params': object}} for `policy`, got {_short(policy)}"
        )
    phash = raw.get("policy_hash")
    if type(phash) is not str:
        raise LogFormatError(f"expected a str for `policy_hash`, got {_short(phash)}")
    direction = raw.get("direction", "minimize")
    if type(direction) is not str or direction not in ("minimize", "maximize"):
        raise LogFormatError(
            f"expected 'minimize' or 'maximize' for `direction`, got {_short(direction)}"
        )
    non_finite = raw.get("non_finite", "stop")
    if type(non_finite) is not str or non_finite not in ("stop", "ignore"):
        raise LogFormatError(
            f"expected 'stop' or 'ignore' for `non_finite`, got {_short(non_finite)}"
        )
    study = raw.get("study")
    if study is not None and type(study) is not str:
        raise LogFormatError(f"expected a str or null for `study`, got {_short(study)}")
    return StudyRecord(study, dict(policy), phash, Direction(direction), non_finite, dict(raw))


def decode_record(raw: Mapping[str, Any]) -> Record:
    """Decode one record strictly into its typed form.

    Args:
        raw: The record as read (see :func:`decode_line`).

    Returns:
        The typed record.

    Raises:
        LogFormatError: Naming the field, for an unknown kind or a field with
            a wrong type or value.
    """
    kind = raw.get("kind")
    if kind == "report":
        tid = _trial(raw)
        value = raw.get("value")
        if type(value) is not float:
            value = decode_number(value)
        elapsed = raw.get("elapsed")
        if elapsed is not None:
            elapsed = _elapsed(elapsed, "elapsed")
        res = raw.get("resources")
        if res is not None:
            if not isinstance(res, Mapping):
                raise LogFormatError(f"expected an object for `resources`, got {_short(res)}")
            res = {k: _elapsed(v, f"resources[{k!r}]") for k, v in res.items()}
        late = raw.get("late", False)
        if type(late) is not bool:
            raise LogFormatError(f"expected a bool for `late`, got {_short(late)}")
        return ReportRecord(
            tid, _step(raw), value, elapsed, res, _decision(raw.get("decision"), trial=tid), late
        )
    if kind == "complete":
        return CompleteRecord(_trial(raw), decode_number(raw.get("value")))
    if kind == "trial":
        params = raw.get("params", {})
        if not isinstance(params, Mapping):
            raise LogFormatError(f"expected an object for `params`, got {_short(params)}")
        return TrialRecord(_trial(raw), dict(params))
    if kind == "decision":
        tid = _trial(raw)
        return DecisionRecord(tid, _decision(raw.get("decision"), trial=tid))
    if kind == "fail":
        reason = raw.get("reason", "failed")
        if type(reason) is not str:
            raise LogFormatError(f"expected a str for `reason`, got {_short(reason)}")
        return FailRecord(_trial(raw), reason)
    if kind == "stale":
        return StaleRecord(_trial(raw))
    if kind == "study":
        return _study(raw)
    raise LogFormatError(f"unknown record kind {_short(kind)}")


# ------------------------------------------------------------------ the fold's rules
_RUNNING, _PAUSED, _STALE, _STOPPED, _COMPLETED, _FAILED = range(6)
_INGESTED = "ingested"  # Reason.INGESTED: a value folded in from storage, no decision


class Fold:
    """The log's grammar: checks each record against what came before it.

    One :class:`Fold` follows one log from its header on. :meth:`accept`
    decodes a raw record strictly and checks its place (header first, steps
    increasing per trial, nothing after a trial finished, ...); every reader
    of a log folds through it, so they all accept, skip and reject the same
    logs (see the module docstring for the rules). The engine also passes its
    own new records through :meth:`advance`, so a log it writes always reads
    back.

    Args:
        where: The log's name, for messages.
    """

    def __init__(self, where: object = "<records>") -> None:
        self.where = where
        self.header: StudyRecord | None = None
        # trial -> [life-cycle code, last step, last value, terminal record]
        self._trials: dict[str, list[Any]] = {}

    def accept(self, raw: Mapping[str, Any], n: int, unit: str = "record") -> Record | None:
        """Decode ``raw`` (the ``n``-th record or line) and check its place.

        Returns:
            The typed record to apply, or None when it is skipped (warned).

        Raises:
            LogFormatError: Naming the line (``where:unit n``) and the field.
        """
        try:
            if self.header is None and raw.get("kind") != "study":
                raise LogFormatError("not an hpprune log: the first record is not a study record")
            rec = decode_record(raw)
        except LogFormatError as exc:
            raise LogFormatError(f"{self.where}:{unit} {n}: {exc}") from None
        return rec if self.place(rec, n, unit) else None

    def place(self, rec: Record, n: int, unit: str = "record") -> bool:
        """Check a typed record's place (see :meth:`accept`).

        Returns:
            True when it is to be applied, False when it is skipped (warned).

        Raises:
            LogFormatError: Naming the line, if it cannot come here.
        """
        try:
            return self.advance(rec)
        except LogFormatError as exc:
            raise LogFormatError(f"{self.where}:{unit} {n}: {exc}") from None
        except _SkipError as skip:
            warnings.warn(f"{self.where}:{unit} {n}: skipped {skip}", stacklevel=3)
            return False

    def advance(self, rec: Record) -> bool:
        """Check ``rec``'s place and move the fold past it.

        Returns:
            True when it is to be applied.

        Raises:
            LogFormatError: If the record cannot come here.
            _SkipError: If it is to be skipped (:meth:`place` warns instead).
        """
        if self.header is None:
            if not isinstance(rec, StudyRecord):
                raise LogFormatError("not an hpprune log: the first record is not a study record")
            self.header = rec
            return True
        if isinstance(rec, StudyRecord):
            h = self.header
            if (rec.policy_hash, rec.direction, rec.non_finite, rec.study) != (
                h.policy_hash,
                h.direction,
                h.non_finite,
                h.study,
            ):
                raise LogFormatError(
                    "a second study header of another study (policy, direction, non_finite "
                    "or study name differ)"
                )
            raise _SkipError("a repeated study header")
        tid = rec.trial
        t = self._trials.get(tid)
        if isinstance(rec, ReportRecord):
            if t is None:
                self._trials[tid] = [_RUNNING, rec.step, rec.value, None]
            else:
                code = t[0]
                if code > _STOPPED:
                    raise LogFormatError(f"a report for trial {tid!r}, which already finished")
                if code == _STOPPED and (
                    rec.decision.action is not Action.CONTINUE or rec.decision.reason != _INGESTED
                ):
                    raise LogFormatError(
                        f"a decided report for trial {tid!r}, which was already stopped "
                        "(only values ingested from a front door's storage may follow a STOP)"
                    )
                if rec.late:
                    if rec.step >= t[1]:
                        raise LogFormatError(
                            f"a late report of trial {tid!r} at step {rec.step}, not below its "
                            f"last step {t[1]}"
                        )
                elif rec.step <= t[1]:
                    if rec.step == t[1] and _same(rec.value, t[2]):
                        raise _SkipError(f"a repeated report of trial {tid!r} at step {rec.step}")
                    raise LogFormatError(
                        f"`step` {rec.step} of trial {tid!r} does not increase (last {t[1]})"
                    )
                else:
                    t[1], t[2] = rec.step, rec.value
                if code in (_PAUSED, _STALE):
                    t[0] = _RUNNING
            d = rec.decision
            if d.trial_id and (d.trial_id != tid or d.step != rec.step):
                raise LogFormatError(
                    f"the decision of this report is bound to trial {d.trial_id!r} step "
                    f"{d.step}, not {tid!r} step {rec.step}"
                )
            self._after_decision(tid, d)
            return True
        if isinstance(rec, TrialRecord):
            if t is not None:
                raise _SkipError(f"a repeated trial record of {tid!r}")
            self._trials[tid] = [_RUNNING, -1, None, None]
            return True
        if t is None:  # any record about a trial introduces it
            t = self._trials[tid] = [_RUNNING, -1, None, None]
        code = t[0]
        if isinstance(rec, DecisionRecord):
            if code >= _STOPPED:
                raise LogFormatError(f"a decision for trial {tid!r}, which already finished")
            self._after_decision(tid, rec.decision)
            return True
        if isinstance(rec, StaleRecord):
            if code != _RUNNING:
                raise LogFormatError(f"trial {tid!r} marked stale while not running")
            t[0] = _STALE
            return True
        # complete / fail; an objective may still complete after a STOP (it counts as completed)
        if code > _STOPPED or (code == _STOPPED and not isinstance(rec, CompleteRecord)):
            if t[3] == rec:
                raise _SkipError(f"a repeated {_KIND[type(rec)]} record of trial {tid!r}")
            raise LogFormatError(f"trial {tid!r} finished twice")
        t[0] = _COMPLETED if isinstance(rec, CompleteRecord) else _FAILED
        t[3] = rec
        return True

    def _after_decision(self, tid: str, d: Decision) -> None:
        action = d.action
        if action is Action.CONTINUE:
            return
        t = self._trials[tid]
        if action is Action.STOP:
            t[0] = _STOPPED
        elif action is Action.PAUSE:
            t[0] = _PAUSED
        else:
            t[0] = _RUNNING


class _SkipError(Exception):
    """A record to skip with a warning (the message says what it was)."""


_KIND: dict[type, str] = {
    StudyRecord: "study",
    TrialRecord: "trial",
    ReportRecord: "report",
    DecisionRecord: "decision",
    CompleteRecord: "complete",
    FailRecord: "fail",
    StaleRecord: "stale",
}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def fold_records(
    records: Iterable[Mapping[str, Any]], where: object = "<records>", unit: str = "record"
) -> Iterator[Record]:
    """Decode and check a whole log, header first (see :class:`Fold`).

    Args:
        records: Decoded lines (e.g. from :meth:`hpprune.audit.sinks.LogSink.read`).
        where: The log's name, for messages.
        unit: What ``n`` counts in messages (``"record"``, or ``"line"``).

    Yields:
        The typed records to apply, header first.

    Raises:
        LogFormatError: For a log without a study header or a rejected record.
    """
    fold = Fold(where)
    for n, raw in enumerate(records, start=1):
        rec = fold.accept(raw, n, unit)
        if rec is not None:
            yield rec
    if fold.header is None:
        raise LogFormatError(f"{where}: not an hpprune log: it has no study record")
