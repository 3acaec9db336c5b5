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

The schema is stated once, as msgspec structs (one per kind but the header),
and checked by msgspec in C: on the bytes of a line by :func:`decode_fast`
(what ``Engine.from_log`` reads a file with) and on a dict by
:func:`decode_record` (records from :func:`decode_line`, a database, a front
door). What a schema cannot state (trial ids, the non-finite number strings,
the writer's limits on values) is checked by the same Python code on both
paths, so both accept, skip and reject the same lines.

Reading a log has three outcomes per line, decided here once for every reader
(``Engine.from_log``, the Optuna and Ray front doors, explain/summary/report
and replay all read through :class:`Fold`):

* **accepted**: a valid record in a valid place; its typed form is returned.
* **skipped with a warning**: a torn or malformed line, a JSON value that is
  not an hpprune record, a line nested too deeply, an exact repeat of a
  trial's last report or of its terminal record, or a repeated identical
  ``study`` header (a retried write that reached the disk).
* **rejected** with :class:`LogFormatError` naming the line: a record of a
  newer schema, a first record that is not a ``study`` header, a header whose
  ``policy_hash`` is not the hash of its ``policy``, a second header
  of another study, an unknown kind, a field with a wrong type or value
  (``"decision": null``, ``"step": 1e999``, ``"value": true``, a bad trial id,
  ``"direction": "sideways"``, a string with a lone surrogate, nesting deeper
  than :data:`hpprune.validate.MAX_DEPTH`, an int beyond a float, ...), a
  report whose step does not increase, a
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
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal

import msgspec

from hpprune import validate
from hpprune.types import (
    NO_EVIDENCE,
    SCHEMA_VERSION,
    Action,
    Decision,
    DecisionStep,
    Direction,
    FrozenEvidence,
    Step,
    evidence_from_json,
    jsonable,
    policy_digest,
    rung_resource_of,
    same_value,
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
    "decode_fast",
    "decode_line",
    "decode_number",
    "decode_record",
    "encode_record",
    "fold_numbered",
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


_JSON = msgspec.json.Decoder()  # untyped: JSON values as dicts, lists, str, int, float


def decode_line(raw: bytes, lineno: int, where: object) -> dict[str, Any] | None:
    """Decode one log line into the record as a dict.

    Args:
        raw: The line's bytes (with or without its newline).
        lineno: Its 1-based line number, for messages.
        where: The log's name (a path), for messages.

    Lines are parsed by msgspec; one it refuses is parsed again by
    :func:`json.loads`, so the JSON that Python reads (a NaN literal,
    ``1e999``, a long int) is read as before, and then every value is checked
    as the writer checks it (:func:`hpprune.validate.json_value`).

    Returns:
        The record, or None for a torn or malformed line (an integer of more
        than 4,300 digits included), a line nested too deeply for the parser,
        or a JSON value that is not an hpprune record; those are skipped with
        a :class:`UserWarning` naming the line.

    Raises:
        LogFormatError: Naming the line and the element: a record of a newer
            schema version, a string with a lone surrogate (not Unicode
            text), nesting deeper than :data:`hpprune.validate.MAX_DEPTH`, an
            int too large for a float.
    """
    checked = False
    try:
        record = _JSON.decode(raw)
    except msgspec.DecodeError:  # (a ValidationError too: a number beyond int64 or float)
        # Torn, or JSON that msgspec refuses but Python's parser takes: a string with a
        # lone surrogate escape, a NaN literal, 1e999, an int beyond int64. Those are
        # checked value by value, as the writer checks them.
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            warnings.warn(f"{where}:{lineno}: skipped a torn or malformed log line", stacklevel=3)
            return None
        checked = _check_values(record, where, lineno)
    except RecursionError:
        warnings.warn(f"{where}:{lineno}: skipped a line nested too deeply", stacklevel=3)
        return None
    if not isinstance(record, dict) or "kind" not in record:
        warnings.warn(
            f"{where}:{lineno}: skipped a line that is not an hpprune record", stacklevel=3
        )
        return None
    if not checked and _may_hold_bad_values(raw):
        _check_values(record, where, lineno)
    _check_version(record.get("v", SCHEMA_VERSION), where, lineno)
    return record


def _may_hold_bad_values(raw: bytes) -> bool:
    """Whether a parsed line could nest too deeply or hold an int beyond a float (cheap)."""
    return raw.count(b"[") + raw.count(b"{") > validate.MAX_DEPTH or bool(
        len(raw) > 309 and _HUGE_INT.search(raw)
    )


# An int beyond a float (about 1.8e308) has at least 309 digits.
_HUGE_INT = re.compile(rb"[0-9]{309}")


def _check_values(record: object, where: object, lineno: int) -> bool:
    """The writer's rule for every value of a line (:func:`hpprune.validate.json_value`).

    Returns:
        True (the line was checked).

    Raises:
        LogFormatError: Naming the line and the element: a string that is not
            Unicode text (a lone surrogate), nesting deeper than
            :data:`hpprune.validate.MAX_DEPTH`, an int too large for a float.
    """
    try:
        validate.json_value(record)
    except ValueError as exc:
        raise LogFormatError(f"{where}:line {lineno}: {exc}") from None
    return True


def _check_version(version: object, where: object, lineno: int) -> None:
    if type(version) is not int or version < 1:
        raise LogFormatError(
            f"{where}:line {lineno}: expected an int >= 1 for `v` (the schema version), "
            f"got {_short(version)}"
        )
    if version > SCHEMA_VERSION:
        raise LogFormatError(
            f"{where}:line {lineno}: record has schema_version {version}; this hpprune reads "
            f"versions <= {SCHEMA_VERSION} (upgrade hpprune to read it)"
        )


def decode_fast(raw: bytes, lineno: int, where: object) -> Record | dict[str, Any] | None:
    """Decode one log line straight into its typed record, when it is an ordinary one.

    The fast path of :meth:`hpprune.audit.sinks.LogSink.read_records`: msgspec
    parses the line and builds the record and its decision in C, checking
    them against the records' schema (unknown fields are refused). What that
    cannot settle goes through :func:`decode_line`, and a dict returned from
    there is for :meth:`Fold.accept` to decode and place, so both paths
    accept, skip and reject exactly the same lines: another kind, a bad or
    unknown field, a torn line, a non-finite number string, an id that is not
    a plain one, nested evidence on a line that may nest too deeply or hold an
    int beyond a float (the writer's checks are there), and a STOP without
    ``rung_resource`` whose evidence holds one (an older log's rung).

    Args:
        raw: The line's bytes.
        lineno: Its 1-based line number, for messages.
        where: The log's name, for messages.

    Returns:
        The typed record; or the record as a dict; or None for a skipped line.

    Raises:
        LogFormatError: As :func:`decode_line`.
    """
    try:
        rec: ReportRecord | CompleteRecord | DecisionRecord = _FAST.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return decode_line(raw, lineno, where)
    tid = rec.trial
    if not _PLAIN_ID.fullmatch(tid):
        return decode_line(raw, lineno, where)
    if not isinstance(rec, CompleteRecord):
        d = rec.decision
        ev = d.evidence
        if ev is not NO_EVIDENCE and (
            # evidence beyond plain scalars (converted as the dict path converts it) may
            # nest too deeply or hold an int beyond a float: decode_line checks those
            (type(ev) is not FrozenEvidence and _may_hold_bad_values(raw))
            or (d.action is Action.STOP and d.rung_resource is None and "rung_resource" in ev)
        ):
            return decode_line(raw, lineno, where)
        if d.trial_id == tid:
            _share(d, "trial_id", tid)  # one string for both (a big log holds a million)
    return rec


_share = msgspec.structs.force_setattr


# ------------------------------------------------------------------ typed records
_NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=sys.float_info.max)]  # finite
_Version = Annotated[int, msgspec.Meta(ge=1, le=SCHEMA_VERSION)]
_Number = float | Literal["NaN", "Infinity", "-Infinity"] | None
_NUMBER_OF = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ACTION_OF = {a.value: a for a in Action}


# Frozen msgspec structs: a fold builds one per line, and a struct is built in C.
class StudyRecord(msgspec.Struct, frozen=True):
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


class TrialRecord(msgspec.Struct, frozen=True):
    """A trial registered with its hyperparameters."""

    trial: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "trial", "trial": self.trial, "params": self.params}


class _LineRecord(
    msgspec.Struct, tag_field="kind", frozen=True, gc=False, forbid_unknown_fields=True
):
    """A record that :func:`decode_fast` decodes a line into (tagged by ``kind``; no other keys)."""


class ReportRecord(_LineRecord, tag="report", frozen=True):
    """One observation and the decision it received (values on the user's scale).

    The field annotations are the schema :func:`decode_fast` reads a line with.
    """

    trial: str
    step: Step
    decision: Decision
    value: float | None = None
    elapsed: _NonNegative | None = None
    resources: dict[str, _NonNegative] | None = None
    late: bool = False
    """A step below the trial's highest one (see the module docstring)."""
    v: _Version = SCHEMA_VERSION
    """The schema version the record was written with."""

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


class DecisionRecord(_LineRecord, tag="decision", frozen=True):
    """A decision not tied to a report (pause, resume, budget stop)."""

    trial: str
    decision: Decision
    v: _Version = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "decision", "trial": self.trial, "decision": self.decision.to_dict()}


class CompleteRecord(_LineRecord, tag="complete", frozen=True):
    """A trial finished; ``value`` None means "its last reported value"."""

    trial: str
    value: float | None = None
    v: _Version = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "complete", "trial": self.trial, "value": self.value}


class FailRecord(msgspec.Struct, frozen=True):
    """A trial failed (errored, pruned by another tool, abandoned)."""

    trial: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The record as written."""
        return {"kind": "fail", "trial": self.trial, "reason": self.reason}


class StaleRecord(msgspec.Struct, frozen=True):
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
    if type(x) is str and x in _NUMBER_OF:
        return _NUMBER_OF[x]
    raise LogFormatError(f"expected a number for `{field}`, got {_short(x)}")


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _trial_id(tid: str, field: str = "trial") -> str:
    # Not interned: ids are unique per trial, and the store keys every table by the
    # string of the trial's first record (an intern table would cost ~50 B per trial).
    if _PLAIN_ID.fullmatch(tid):  # the usual id: nothing that validate.trial_id refuses
        return tid
    try:
        return validate.trial_id(tid, field)
    except ValueError as exc:
        raise LogFormatError(str(exc)) from None


_PLAIN_ID = re.compile(rf"[\w.:@+/-]{{1,{validate.MAX_ID_LENGTH}}}", re.ASCII)


# ------------------------------------------------------------------ the schema
# What a valid line holds, per kind, checked by msgspec in one pass over the
# bytes (or over a dict, for records that arrive as dicts). Each wire struct
# turns itself into its typed record (``typed``), doing the checks a schema
# cannot state: trial ids, the non-finite number strings, a decision bound to
# its trial, and the ``rung_resource`` of a STOP written before the field.
def _number(x: float | str | None) -> float | None:
    return _NUMBER_OF[x] if type(x) is str else x  # type: ignore[return-value]


class _DecisionWire(msgspec.Struct, frozen=True, gc=False):
    action: Literal["continue", "stop", "pause", "resume"]
    reason: str
    rule: str
    trial_id: str = ""
    step: DecisionStep = -1
    evidence: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    rung_resource: Step | msgspec.UnsetType | None = msgspec.UNSET

    def typed(self, trial: str) -> Decision:
        """The decision (its evidence read-only, through :func:`evidence_from_json`)."""
        ev = self.evidence
        rung = self.rung_resource
        if rung is msgspec.UNSET:  # a STOP written before the field kept it in its evidence
            rung = None
            if self.action == "stop" and ev:
                try:
                    rung = rung_resource_of({"action": "stop", "evidence": ev})
                except ValueError as exc:
                    raise LogFormatError(f"`decision.evidence`: {exc}") from None
        tid = self.trial_id
        return Decision(
            _ACTION_OF[self.action],
            self.reason,
            self.rule,
            trial if tid == trial else tid,
            self.step,
            evidence_from_json(ev),
            self.schema_version,
            rung,
        )


class _ReportWire(msgspec.Struct, tag_field="kind", tag="report", frozen=True, gc=False):
    trial: str
    step: Step
    decision: _DecisionWire
    value: _Number = None
    elapsed: _NonNegative | None = None
    resources: dict[str, _NonNegative] | None = None
    late: bool = False
    v: int = SCHEMA_VERSION

    def typed(self) -> ReportRecord:
        tid = _trial_id(self.trial)
        value = self.value
        return ReportRecord(
            tid,
            self.step,
            self.decision.typed(tid),
            _number(value),
            self.elapsed,
            self.resources,
            self.late,
        )


class _CompleteWire(msgspec.Struct, tag_field="kind", tag="complete", frozen=True, gc=False):
    trial: str
    value: _Number = None
    v: int = SCHEMA_VERSION

    def typed(self) -> CompleteRecord:
        return CompleteRecord(_trial_id(self.trial), _number(self.value))


class _TrialWire(msgspec.Struct, tag_field="kind", tag="trial", frozen=True):
    trial: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    v: int = SCHEMA_VERSION

    def typed(self) -> TrialRecord:
        return TrialRecord(_trial_id(self.trial), self.params)


class _DecisionRecordWire(msgspec.Struct, tag_field="kind", tag="decision", frozen=True, gc=False):
    trial: str
    decision: _DecisionWire
    v: int = SCHEMA_VERSION

    def typed(self) -> DecisionRecord:
        tid = _trial_id(self.trial)
        return DecisionRecord(tid, self.decision.typed(tid))


class _FailWire(msgspec.Struct, tag_field="kind", tag="fail", frozen=True, gc=False):
    trial: str
    reason: str = "failed"
    v: int = SCHEMA_VERSION

    def typed(self) -> FailRecord:
        return FailRecord(_trial_id(self.trial), self.reason)


class _StaleWire(msgspec.Struct, tag_field="kind", tag="stale", frozen=True, gc=False):
    trial: str
    v: int = SCHEMA_VERSION

    def typed(self) -> StaleRecord:
        return StaleRecord(_trial_id(self.trial))


_Wire = _ReportWire | _CompleteWire | _TrialWire | _DecisionRecordWire | _FailWire | _StaleWire
_WIRE_OF: dict[str, type[_Wire]] = {
    "report": _ReportWire,
    "complete": _CompleteWire,
    "trial": _TrialWire,
    "decision": _DecisionRecordWire,
    "fail": _FailWire,
    "stale": _StaleWire,
}
# The fast path: the typed records themselves (see decode_fast).
_FAST = msgspec.json.Decoder(
    ReportRecord | CompleteRecord | DecisionRecord, dec_hook=lambda _, obj: evidence_from_json(obj)
)


def _message(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.decision.step`" as "`decision.step`: ..."."""
    text = str(exc)
    what, sep, where = text.rpartition(" - at `$")
    if not sep:
        return text[:1].lower() + text[1:]
    field = where.rstrip("`").lstrip(".") or "record"
    return f"`{field}`: {what[:1].lower()}{what[1:]}"


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
    try:
        digest = policy_digest(policy)
    except (TypeError, ValueError):  # pragma: no cover - decoded JSON always has a JSON form
        digest = ""
    if phash != digest:
        # Readers would disagree: a check by hash (Engine(policy, log=...)) and a rebuild
        # from the recorded policy (from_log) would mean two different policies.
        raise LogFormatError(
            f"`policy_hash` {_short(phash)} is not the hash of the header's `policy` "
            f"({digest}): the header was edited, or written by another tool"
        )
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

    The same schema as :func:`decode_fast` checks lines with, applied to a
    record that is already a dict (from :func:`decode_line`, a database row,
    a front door).

    Args:
        raw: The record as read (see :func:`decode_line`).

    Returns:
        The typed record.

    Raises:
        LogFormatError: Naming the field, for an unknown kind or a field with
            a wrong type or value.
    """
    kind = raw.get("kind")
    if kind == "study":
        return _study(raw)
    wire = _WIRE_OF.get(kind) if type(kind) is str else None
    if wire is None:
        raise LogFormatError(f"unknown record kind {_short(kind)}")
    try:
        record = msgspec.convert(raw, wire)
    except msgspec.ValidationError as exc:
        raise LogFormatError(_message(exc)) from None
    return record.typed()


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
        # trial -> (life-cycle code, last step, last value): a tuple (replaced, never
        # changed) costs less than a list, per trial of a big log
        self._trials: dict[str, tuple[int, int, float | None]] = {}
        self._terminal: dict[str, Record] = {}  # a finished trial's complete/fail record

    def last_value(self, trial: str) -> float | None:
        """The value of ``trial``'s latest in-order report as written (None before any)."""
        t = self._trials.get(trial)
        return None if t is None else t[2]

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

    def take(self, item: Record | Mapping[str, Any], n: int, unit: str = "record") -> Record | None:
        """:meth:`accept` a dict; check a typed record's place (from :func:`decode_fast`).

        Returns:
            The typed record to apply, or None when it is skipped (warned).

        Raises:
            LogFormatError: Naming the line and the field.
        """
        if not isinstance(item, msgspec.Struct):  # every typed record is one
            return self.accept(item, n, unit)
        try:
            return item if self.advance(item) else None
        except LogFormatError as exc:
            raise LogFormatError(f"{self.where}:{unit} {n}: {exc}") from None
        except _SkipError as skip:
            warnings.warn(f"{self.where}:{unit} {n}: skipped {skip}", stacklevel=2)
            return None

    def place(self, rec: Record, n: int, unit: str = "record") -> bool:
        """Check a typed record's place (see :meth:`accept` and :meth:`take`).

        Returns:
            True when it is to be applied, False when it is skipped (warned).

        Raises:
            LogFormatError: Naming the line, if it cannot come here.
        """
        return self.take(rec, n, unit) is not None

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
        if isinstance(rec, ReportRecord):  # most records
            return self._report(rec)
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
        if isinstance(rec, TrialRecord):
            if t is not None:
                raise _SkipError(f"a repeated trial record of {tid!r}")
            self._trials[tid] = _NEW_TRIAL
            return True
        if t is None:  # any record about a trial introduces it
            t = _NEW_TRIAL
        code = t[0]
        if isinstance(rec, DecisionRecord):
            if code >= _STOPPED:
                raise LogFormatError(f"a decision for trial {tid!r}, which already finished")
            self._trials[tid] = (_CODE_AFTER.get(rec.decision.action, code), t[1], t[2])
            return True
        if isinstance(rec, StaleRecord):
            if code != _RUNNING:
                raise LogFormatError(f"trial {tid!r} marked stale while not running")
            self._trials[tid] = (_STALE, t[1], t[2])
            return True
        # complete / fail; an objective may still complete after a STOP (it counts as completed)
        if code > _STOPPED or (code == _STOPPED and not isinstance(rec, CompleteRecord)):
            if self._terminal.get(tid) == rec:
                raise _SkipError(f"a repeated {_KIND[type(rec)]} record of trial {tid!r}")
            raise LogFormatError(f"trial {tid!r} finished twice")
        code = _COMPLETED if isinstance(rec, CompleteRecord) else _FAILED
        self._trials[tid] = (code, t[1], t[2])
        self._terminal[tid] = rec
        return True

    def _report(self, rec: ReportRecord) -> bool:
        """:meth:`advance` for a report."""
        tid = rec.trial
        t = self._trials.get(tid)
        if t is None:
            code, step, value = _RUNNING, rec.step, rec.value
        else:
            code, step, value = t
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
                if rec.step >= step:
                    raise LogFormatError(
                        f"a late report of trial {tid!r} at step {rec.step}, not below its "
                        f"last step {step}"
                    )
            elif rec.step <= step:
                if rec.step == step and same_value(rec.value, value):
                    raise _SkipError(f"a repeated report of trial {tid!r} at step {rec.step}")
                raise LogFormatError(
                    f"`step` {rec.step} of trial {tid!r} does not increase (last {step})"
                )
            else:
                step, value = rec.step, rec.value
            if code in (_PAUSED, _STALE):
                code = _RUNNING
        d = rec.decision
        if d.trial_id and (d.trial_id != tid or d.step != rec.step):
            raise LogFormatError(
                f"the decision of this report is bound to trial {d.trial_id!r} step "
                f"{d.step}, not {tid!r} step {rec.step}"
            )
        self._trials[tid] = (_CODE_AFTER.get(d.action, code), step, value)
        return True


_NEW_TRIAL: tuple[int, int, float | None] = (_RUNNING, -1, None)


# A trial's life-cycle code after a decision (a CONTINUE keeps the code it had).
_CODE_AFTER: dict[Action, int] = {
    Action.STOP: _STOPPED,
    Action.PAUSE: _PAUSED,
    Action.RESUME: _RUNNING,
}


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


def fold_records(
    records: Iterable[Record | Mapping[str, Any]],
    where: object = "<records>",
    unit: str = "record",
) -> Iterator[Record]:
    """Decode and check a whole log, header first (see :class:`Fold`).

    Args:
        records: Decoded lines (e.g. from :meth:`hpprune.audit.sinks.LogSink.read`
            or :meth:`~hpprune.audit.sinks.LogSink.read_records`).
        where: The log's name, for messages.
        unit: What ``n`` counts in messages (``"record"``, or ``"line"``).

    Returns:
        An iterator of the typed records to apply, header first (see
        :func:`fold_numbered`; a file's records counted by line come from
        :meth:`~hpprune.audit.sinks.LogSink.read_numbered`).

    Raises:
        LogFormatError: While iterating: for a log without a study header or a
            rejected record.
    """
    return fold_numbered(enumerate(records, start=1), where, unit)


def fold_numbered(
    records: Iterable[tuple[int, Record | Mapping[str, Any]]],
    where: object = "<records>",
    unit: str = "record",
) -> Iterator[Record]:
    """:func:`fold_records` of ``(n, record)`` pairs, each named by its own ``n``.

    What a file's :meth:`~hpprune.audit.sinks.LogSink.read_numbered` gives:
    a record's line number, blank and skipped lines counted.

    Yields:
        The typed records to apply, header first.

    Raises:
        LogFormatError: For a log without a study header or a rejected record.
    """
    fold = Fold(where)
    for n, raw in records:
        rec = fold.take(raw, n, unit)
        if rec is not None:
            yield rec
    if fold.header is None:
        raise LogFormatError(f"{where}: not an hpprune log: it has no study record")
