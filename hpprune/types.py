"""Core data types: directions, actions, observations and decisions.

Everything here is a frozen dataclass (a frozen msgspec struct for
:class:`Decision`, which the log's decoder builds in C) or an enum, so that it
can be shared between processes, written to the audit log and compared for
equality.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

SCHEMA_VERSION = 1
"""Version of the audit-log record schema written by this release."""

MAX_STEP = 2**53 - 1
"""Largest accepted step (exactly representable as a float)."""

Step = Annotated[int, msgspec.Meta(ge=0, le=MAX_STEP)]
"""A step (or a rung's resource) as the log's schema states it: an int in [0, MAX_STEP]."""

DecisionStep = Annotated[int, msgspec.Meta(ge=-1, le=MAX_STEP)]
"""A decision's step in the log's schema: a :data:`Step`, or -1 when not tied to a report."""


class Direction(StrEnum):
    """Whether lower or higher metric values are better."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @classmethod
    def parse(cls, value: object, field_name: str = "direction") -> Direction:
        """Turn a user-supplied direction into a :class:`Direction`.

        Args:
            value: ``"minimize"``/``"maximize"`` (any case) or a Direction.
            field_name: Name used in the error message.

        Returns:
            The parsed direction.

        Raises:
            TypeError: If ``value`` is not a string or Direction.
            ValueError: If the string is not a known direction.
        """
        if isinstance(value, Direction):
            return value
        if not isinstance(value, str):
            raise TypeError(
                f"expected 'minimize' or 'maximize' for `{field_name}`, got {type(value).__name__}"
            )
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(
                f"expected 'minimize' or 'maximize' for `{field_name}`, got {value!r}"
            ) from None

    def to_score(self, value: float) -> float:
        """Map a metric value to the canonical score (lower is better)."""
        return value if self is Direction.MINIMIZE else -value

    def to_value(self, score: float) -> float:
        """Map a canonical score back to the user's metric scale."""
        return score if self is Direction.MINIMIZE else -score


class Action(StrEnum):
    """What the engine tells a trial to do next."""

    CONTINUE = "continue"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"


class TrialState(StrEnum):
    """Life-cycle state of a trial as seen by the engine."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    STALE = "stale"

    @property
    def is_finished(self) -> bool:
        """True for states that accept no more reports."""
        return (
            self is TrialState.STOPPED or self is TrialState.COMPLETED or self is TrialState.FAILED
        )


class Reason:
    """Stable reason codes shared across policies (plain string constants)."""

    OK = "ok"
    STARTUP = "startup"
    WARMUP = "warmup"
    INTERVAL = "interval"
    NOT_ENOUGH_PEERS = "not_enough_peers"
    BELOW_PERCENTILE = "below_percentile"
    NON_FINITE = "non_finite"
    NON_FINITE_IGNORED = "non_finite_ignored"
    HALVING_RUNG_CUT = "halving_rung_cut"
    THRESHOLD = "threshold"
    PATIENCE = "patience"
    MIN_ACCURACY = "min_accuracy"
    HALVING_BOOTSTRAP = "halving_bootstrap"  # rung reached by <= bootstrap_count trials
    PROMOTED = "promoted"  # passed every rung judged at this step
    KEPT_TOP_K = "kept_top_k"  # a wrapped STOP vetoed by KeepTopK
    KEPT_DIVERSE = "kept_diverse"  # a wrapped STOP vetoed by KeepDiverse
    POSTERIOR_LOW = "posterior_low"
    WITHIN_BOUND = "within_credible_bound"  # posterior STOP vetoed: bound near incumbent
    BUDGET_EXHAUSTED = "budget_exhausted"
    LOW_GAIN_PER_HOUR = "low_gain_per_hour"
    MEMORY_LIMIT = "memory_limit"
    RESUMED = "resumed"
    RUNG_PAUSED = "rung_paused"  # freeze-thaw: not promoted at a rung; waits, may be resumed
    NOTHING_PAUSED = "nothing_paused"  # what runs next: no paused trial to resume
    NOTHING_PROMOTABLE = "nothing_promotable"  # what runs next: no paused trial ranks high enough
    BELOW_FIRST_RUNG = "below_first_rung"  # resumed to reach a first rung that moved up
    NOTHING_NEW = "nothing_new"  # resumed because the front door has no new configuration
    FINAL_STEP = "final_step"  # a STOP at the known last step: the trial finishes instead
    STICKY = "sticky"
    INGESTED = "ingested"  # folded in from a front door's storage without a decision
    WILCOXON_WORSE = "wilcoxon_worse"  # paired signed-rank test: worse than the incumbent
    MEAN_NOT_WORSE = "mean_not_worse"  # Wilcoxon STOP vetoed: mean at least the incumbent's
    NOT_ENOUGH_PAIRS = "not_enough_pairs"  # fewer common instances than n_startup_steps
    OUT_OF_ORDER = "out_of_order"  # a step below the trial's last one, recorded, not decided
    EXTERNAL = "external"  # imported log: decided by another tool that recorded no reason


def same_value(a: float | None, b: float | None) -> bool:
    """Whether two reported values are the same (None only equals None; NaN equals NaN)."""
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def policy_digest(policy: Mapping[str, Any]) -> str:
    """Stable hex digest of a policy record ``{"type": ..., "params": ...}`` in JSON form.

    What a log header's ``policy_hash`` holds (see
    :func:`hpprune.pruners.base.policy_hash`); the same in every process.

    Raises:
        TypeError: If the record holds a value with no JSON form.
    """
    blob = json.dumps(policy, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def jsonable(value: Any) -> Any:
    """Convert ``value`` into something ``json.dumps(allow_nan=False)`` accepts.

    Non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"``; numpy scalars and arrays become Python numbers and lists;
    mappings and sequences are converted recursively.

    Args:
        value: Any evidence value.

    Returns:
        A JSON-serialisable equivalent.

    Raises:
        TypeError: If the value has no JSON representation.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy scalars and arrays
        return jsonable(tolist())
    raise TypeError(f"evidence value of type {type(value).__name__} is not JSON-serialisable")


@dataclass(frozen=True)
class Observation:
    """One report of a trial's metric.

    Attributes:
        trial_id: The trial's id (a non-empty string).
        step: Step number, an int >= 0 (epoch, iteration or budget unit).
        value: The metric, or None/NaN/inf for a non-finite report.
        elapsed_s: Compute seconds since the trial started, if known.
        resources: Optional resource readings such as ``{"memory_mb": 812.0}``.
    """

    trial_id: str
    step: int
    value: float | None
    elapsed_s: float | None = None
    resources: Mapping[str, float] | None = None

    @property
    def is_finite(self) -> bool:
        """True when ``value`` is a finite float."""
        return self.value is not None and math.isfinite(self.value)


class FrozenEvidence(Mapping[str, Any]):
    """Read-only evidence as read from a log: a tuple of keys and a tuple of values.

    What :class:`Decision` holds for evidence of plain JSON scalars, made live
    or read from a log (see :func:`freeze_evidence`; other evidence is a
    read-only view of a dict). Records with the same evidence keys share one
    keys tuple, so a stopped trial's evidence costs about half a dict's memory;
    a log of a million records holds many of them. Looking up a key scans the
    keys (evidence has a handful).

    Args:
        keys: The keys, in order.
        values: The values in JSON form, in the same order.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._keys = keys
        self._values = values

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        return f"FrozenEvidence({dict(self)!r})"

    def __reduce__(self) -> tuple[type[FrozenEvidence], tuple[tuple[str, ...], tuple[Any, ...]]]:
        return (FrozenEvidence, (self._keys, self._values))


NO_EVIDENCE: Mapping[str, Any] = MappingProxyType({})
"""The one empty evidence mapping every decision without evidence holds."""


class DecodedEvidence(FrozenEvidence):
    """Evidence as parsed from a log line (see :func:`evidence_from_json`).

    A :class:`FrozenEvidence` whose values may nest (lists, objects) as the
    JSON parser made them: nobody else holds them, so they are kept as they
    are. Its own type tells a reader that the line still needs the writer's
    checks on nested values (depth, ints beyond a float).
    """

    __slots__ = ()


_FROZEN = (MappingProxyType, FrozenEvidence, DecodedEvidence)
_ACTIONS: dict[str, Action] = {a.value: a for a in Action}
_set = msgspec.structs.force_setattr
_intern = sys.intern
_INT_LIMIT = 2**63  # evidence ints kept as plain values (a JSON parser reads them as int64)


_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_KEY_SETS = 4096


def _shared_keys(keys: tuple[Any, ...]) -> tuple[str, ...] | None:
    """One tuple per set of str evidence keys (a pure memo), or None if a key is not a str."""
    shared = _KEYS.get(keys)
    if shared is None:
        if not all(type(k) is str for k in keys):
            return None
        if len(_KEYS) < _MAX_KEY_SETS:
            _KEYS[keys] = keys
        shared = keys
    return shared


def freeze_evidence(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    """Evidence in the form a :class:`Decision` holds: read-only and in JSON form.

    Evidence whose keys are str and whose values are plain JSON scalars (str,
    bool, None, finite float, int within int64) becomes a compact
    :class:`FrozenEvidence` (one keys tuple shared by every decision with the
    same keys); any other is converted by :func:`jsonable` (non-finite floats
    become strings, numpy values become Python ones) and wrapped read-only.

    Args:
        evidence: The evidence mapping.

    Returns:
        A read-only mapping (one shared empty mapping for empty evidence).

    Raises:
        TypeError: If a value has no JSON form.
    """
    if not evidence:
        return NO_EVIDENCE
    if type(evidence) is dict:
        frozen = _compact(evidence)
        if frozen is not None:
            return frozen
    return MappingProxyType(jsonable(dict(evidence)))


def evidence_from_json(value: object) -> Mapping[str, Any]:
    """Evidence as the log's decoder reads it: a JSON object (or null) just parsed.

    Plain scalar evidence becomes the same :class:`FrozenEvidence`
    :func:`freeze_evidence` makes; evidence with nested values becomes a
    :class:`DecodedEvidence` over the parsed values (they are already in JSON
    form and held by nothing else, so there is nothing to convert or copy).

    Args:
        value: The parsed ``evidence`` field.

    Returns:
        A read-only mapping.

    Raises:
        TypeError: If ``value`` is not a JSON object with str keys, or null.
    """
    if value is None:
        return NO_EVIDENCE
    if type(value) is not dict:
        raise TypeError(f"expected an object or null for `evidence`, got {type(value).__name__}")
    if not value:
        return NO_EVIDENCE
    frozen = _compact(value)
    if frozen is not None:
        return frozen
    keys = _shared_keys(tuple(value))
    if keys is None:  # pragma: no cover - JSON object keys are str
        raise TypeError("expected str keys in `evidence`")
    return DecodedEvidence(keys, tuple(value.values()))


def _compact(evidence: dict[Any, Any]) -> FrozenEvidence | None:
    """Plain scalar evidence as a FrozenEvidence (the latest identical one if any), or None."""
    keys = tuple(evidence)
    values = tuple(evidence.values())
    latest = _LATEST.get(keys)
    if latest is not None and _identical(latest._values, values):
        return latest  # consecutive decisions often give the same evidence
    if not _plain(values):
        return None
    shared = _shared_keys(keys)
    if shared is None:
        return None
    frozen = FrozenEvidence(shared, values)
    if shared in _KEYS:
        _LATEST[shared] = frozen
    return frozen


def _plain(values: tuple[Any, ...]) -> bool:
    """Whether every value is a plain JSON scalar (str, bool, None, finite float, int64)."""
    for value in values:
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan
                return False
        elif kind is int:
            if not -_INT_LIMIT <= value < _INT_LIMIT:
                return False
        elif kind is not str and kind is not bool and value is not None:
            return False
    return True


# The latest evidence frozen per set of keys: a pure memo (see freeze_evidence).
_LATEST: dict[tuple[str, ...], FrozenEvidence] = {}


def _identical(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two tuples of plain scalars are the same values of the same types.

    ``==`` alone would take 1 for 1.0 or True, and 0.0 for -0.0.
    """
    if a != b or not all(map(operator.is_, map(type, a), map(type, b))):
        return False
    if 0.0 in a:  # (also true for 0 and False) a zero float may be -0.0
        for x, y in zip(a, b, strict=True):
            if type(x) is float and x == 0.0 and math.copysign(1.0, x) != math.copysign(1.0, y):
                return False
    return True


if TYPE_CHECKING:
    _Evidence = Mapping[str, Any]
else:
    # What msgspec decodes a decision's evidence into: the log's decoder turns the parsed
    # object into it with evidence_from_json (its dec_hook); any mapping may be given.
    _Evidence = FrozenEvidence


class Decision(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """The engine's answer to a report; it is also the audit record.

    A frozen msgspec struct: the log's decoder builds decisions in C (see
    :mod:`hpprune.audit.records`), and the field annotations state what a
    decision read from a log may hold.

    Attributes:
        action: CONTINUE, STOP, PAUSE or RESUME.
        reason: Stable machine code (see :class:`Reason`).
        rule: Name of the policy (or guard) that decided.
        trial_id: The trial the decision is about.
        step: The step the decision was made at (-1 when not tied to a report).
        evidence: The numbers that led to the decision (metric values are on
            the user's scale, not the canonical one), stored in JSON form:
            NaN and ±inf become the strings "NaN", "Infinity", "-Infinity"
            (see :func:`freeze_evidence`).
        schema_version: Version of the record schema.
        rung_resource: For a STOP at a rung (successive halving and its
            relatives): the rung's resource. The trial then counts for no
            milestone above it in :meth:`hpprune.curves.StudyView.scores_from`
            (a trial that jumped past several rungs and failed the lowest one
            never reached the others). None otherwise. This is the only field
            of a decision that the store acts on besides ``action``.
    """

    action: Action
    reason: str
    rule: str
    trial_id: str = ""
    step: DecisionStep = -1
    evidence: _Evidence = NO_EVIDENCE
    schema_version: Annotated[int, msgspec.Meta(ge=-_INT_LIMIT, le=_INT_LIMIT - 1)] = SCHEMA_VERSION
    rung_resource: Step | None = None

    def __post_init__(self) -> None:
        if type(self.action) is not Action:
            _set(self, "action", Action(self.action))
        ev = self.evidence
        if type(ev) not in _FROZEN:
            _set(self, "evidence", freeze_evidence(ev))
        # Decisions repeat a handful of reasons and rules: one string each.
        try:
            _set(self, "reason", _intern(self.reason))
            _set(self, "rule", _intern(self.rule))
        except TypeError:  # (a str subclass, or not a str: kept as given)
            pass

    def __reduce__(self) -> tuple[type[Decision], tuple[Any, ...]]:
        # Evidence behind a read-only proxy cannot be pickled as it is: rebuilt from a dict.
        return (
            Decision,
            (
                self.action,
                self.reason,
                self.rule,
                self.trial_id,
                self.step,
                dict(self.evidence),
                self.schema_version,
                self.rung_resource,
            ),
        )

    @property
    def stops(self) -> bool:
        """True when the action is STOP."""
        return self.action is Action.STOP

    def bind(self, trial_id: str, step: int) -> Decision:
        """Return a copy tied to ``trial_id`` and ``step``."""
        return Decision(
            self.action,
            self.reason,
            self.rule,
            trial_id,
            step,
            self.evidence,
            self.schema_version,
            self.rung_resource,
        )

    def to_dict(self, *, with_evidence: bool = True) -> dict[str, Any]:
        """JSON-ready dict of this decision (non-finite floats become strings).

        A STOP always carries ``rung_resource`` (null when it was not a rung
        cut), so a reader can tell it from a record written before the field
        existed (see :mod:`hpprune.audit.records`); other actions carry it
        only when it is set.
        """
        out: dict[str, Any] = {
            "action": self.action.value,
            "reason": self.reason,
            "rule": self.rule,
            "trial_id": self.trial_id,
            "step": self.step,
            "schema_version": self.schema_version,
        }
        if self.rung_resource is not None or self.action is Action.STOP:
            out["rung_resource"] = self.rung_resource
        if with_evidence:
            out["evidence"] = jsonable(dict(self.evidence))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: If a field is missing or has a bad value.
        """
        try:
            raw = data["action"]
            action = _ACTIONS.get(raw) if type(raw) is str else None
            fields: dict[str, Any] = {
                "action": Action(raw) if action is None else action,
                "reason": str(data["reason"]),
                "rule": str(data["rule"]),
                "trial_id": str(data.get("trial_id", "")),
                "step": int(data.get("step", -1)),
                "evidence": data.get("evidence") or NO_EVIDENCE,
                "schema_version": int(data.get("schema_version", SCHEMA_VERSION)),
                "rung_resource": rung_resource_of(data),
            }
        except KeyError as exc:
            raise ValueError(f"decision record is missing field {exc.args[0]!r}") from None
        return cls(**fields)


def rung_resource_of(data: Mapping[str, Any]) -> int | None:
    """A decision dict's ``rung_resource`` (see :meth:`Decision.to_dict`).

    Every STOP written by this release carries the field (null when it was not
    a rung cut). A STOP without it was written before the field existed, when
    it lived only in the evidence: it is read from there, so such a log folds
    exactly as it was decided.

    Args:
        data: A decision as written (``Decision.to_dict()`` form).

    Returns:
        The resource, or None.

    Raises:
        ValueError: If the field is not null or an int in [0, 2**53).
    """
    if "rung_resource" in data:
        value = data["rung_resource"]
    elif data.get("action") == Action.STOP.value:
        value = (data.get("evidence") or {}).get("rung_resource")
        if type(value) is not int:
            return None
    else:
        return None
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**53:
        raise ValueError(f"expected an int >= 0 or null for `rung_resource`, got {value!r:.80}")
    return value


def cont(rule: str, reason: str = Reason.OK, **evidence: Any) -> Decision:
    """Shorthand for a CONTINUE decision (trial and step are bound by the engine)."""
    return Decision(Action.CONTINUE, reason, rule, evidence=evidence)


def stop(rule: str, reason: str, **evidence: Any) -> Decision:
    """Shorthand for a STOP decision (trial and step are bound by the engine)."""
    return Decision(Action.STOP, reason, rule, evidence=evidence)
