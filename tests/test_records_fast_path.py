"""The fast decoder reads every line exactly as the dict path does.

``decode_fast`` (what ``Engine.from_log`` reads a file with) lets msgspec
build a record and its decision in C, and hands anything it cannot settle to
``decode_line`` and ``decode_record``, the path every other reader takes. The
property: for any line near a valid record (ids, numbers, evidence, versions,
rung resources, unknown keys, non-ASCII text, huge ints, deep nesting), both
paths accept the same record (field for field, int and float and bool told
apart), skip the same lines and reject them with the same message.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpprune.audit.records import (
    LogFormatError,
    ReportRecord,
    decode_fast,
    decode_line,
    decode_record,
)
from hpprune.types import Decision, FrozenEvidence


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``other`` about one time in twelve (so that many lines reach the fast path's checks)."""
    return st.integers(0, 11).flatmap(lambda i: other if i == 0 else valid)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["NaN", "Infinity", "ok", "é", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)
ids = mostly(
    st.sampled_from(["t1", "trial-7", "a:b@c/d+e.f"]),
    st.sampled_from([" ", "", "a b", "é", "a\nb", "x" * 600]) | st.text(max_size=4),
)
keys = st.sampled_from(["cutoff", "n_peers", "rung_resource", "é"])
evidence = mostly(
    st.dictionaries(keys, scalars, max_size=3),
    st.none() | st.dictionaries(keys, values, max_size=3) | values,
)
numbers = mostly(
    st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9),
    st.integers(-(2**70), 2**70) | st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", True]),
)


@st.composite
def decisions(draw: st.DrawFn, trial: str, step: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": draw(mostly(st.sampled_from(["continue", "stop", "pause"]), st.just("halt"))),
        "reason": draw(st.sampled_from(["ok", "below_percentile", "é", ""])),
        "rule": draw(st.sampled_from(["MedianPruner", "r"])),
    }
    optional = {
        "trial_id": mostly(st.just(trial), st.sampled_from(["other", ""])),
        "step": mostly(st.just(step), st.sampled_from([-1, step + 1, -2])),
        "schema_version": mostly(st.just(1), st.integers(-2, 3) | st.just(2**64)),
        "rung_resource": mostly(st.none() | st.integers(0, 5), st.just(-1) | st.just("3")),
        "evidence": evidence,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            out[key] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        out["extra"] = draw(values)
    return out


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["report", "report", "report", "complete", "decision", "fail"]))
    trial = draw(ids)
    step = draw(mostly(st.integers(0, 300), st.just(2**60)))
    rec: dict[str, Any] = {"kind": kind, "trial": trial}
    if kind == "report":
        rec["step"] = step
        rec["value"] = draw(numbers)
        if draw(st.booleans()):
            rec["elapsed"] = draw(numbers)
        if draw(st.booleans()):
            rec["resources"] = draw(st.dictionaries(st.sampled_from(["memory_mb", "é"]), numbers))
        if draw(st.booleans()):
            rec["late"] = draw(st.booleans())
    if kind in ("report", "decision"):
        rec["decision"] = draw(decisions(trial, step if kind == "report" else -1))
    if kind == "complete":
        rec["value"] = draw(numbers)
    if draw(st.booleans()):
        rec["v"] = draw(mostly(st.just(1), st.sampled_from([0, 2, 1.0, "1"])))
    if draw(st.integers(0, 9)) == 0:
        rec["unknown"] = draw(values)
    text = json.dumps(rec, ensure_ascii=draw(st.booleans()), allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


def _canonical(rec: object) -> str:
    """The record with every field, in a form that tells 1, 1.0 and true apart."""
    to_dict = getattr(rec, "to_dict")  # noqa: B009 - every typed record has one
    body: dict[str, Any] = {"type": type(rec).__name__, "record": to_dict()}
    decision = getattr(rec, "decision", None)
    if isinstance(decision, Decision):
        body["decision"] = decision.to_dict()
        body["rung"] = decision.rung_resource
    return json.dumps(body)


def _outcome(read: Any) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = read()
        except LogFormatError as exc:
            return "rejected", str(exc)
    if rec is None:
        assert caught, "a skipped line warns"
        return "skipped", str(caught[0].message)
    return "accepted", _canonical(rec)


def _fast(raw: bytes) -> object:
    got = decode_fast(raw, 2, "log")
    return decode_record(got) if isinstance(got, dict) else got


def _slow(raw: bytes) -> object:
    got = decode_line(raw, 2, "log")
    return None if got is None else decode_record(got)


@settings(max_examples=1500, deadline=None)
@given(raw=lines())
def test_the_fast_path_reads_a_line_as_the_dict_path_does(raw: bytes) -> None:
    assert _outcome(lambda: _fast(raw)) == _outcome(lambda: _slow(raw))


DEEP = (
    b'{"kind":"report","trial":"t","step":0,"decision":{"action":"stop","reason":"r",'
    b'"rule":"p","evidence":{"x":' + b"[" * 70 + b"]" * 70 + b"}}}"
)


@pytest.mark.parametrize(
    "what, raw",
    [
        (
            "a plain STOP",
            b'{"kind":"report","trial":"t","step":0,"value":1.5,"decision":'
            b'{"action":"stop","reason":"r","rule":"p","trial_id":"t","step":0,'
            b'"rung_resource":null,"evidence":{"cutoff":0.5,"n":5}},"v":1}',
        ),
        (
            "an older STOP with its rung in the evidence",
            b'{"kind":"report","trial":"t",'
            b'"step":0,"decision":{"action":"stop","reason":"r","rule":"p",'
            b'"evidence":{"rung_resource":3}}}',
        ),
        (
            "a new STOP whose evidence names a rung",
            b'{"kind":"report","trial":"t","step":0,'
            b'"decision":{"action":"stop","reason":"r","rule":"p","rung_resource":null,'
            b'"evidence":{"rung_resource":3}}}',
        ),
        (
            "nested evidence (a pause of the default policy)",
            b'{"kind":"report","trial":"t","step":1,"decision":{"action":"pause","reason":"r",'
            b'"rule":"p","trial_id":"t","step":1,"evidence":{"rank_correlations":{"1":0.5},'
            b'"agreed":["a:b"],"n":3}}}',
        ),
        ("evidence nested too deeply", DEEP),
        (
            "an int beyond a float in the evidence",
            b'{"kind":"report","trial":"t","step":0,'
            b'"decision":{"action":"stop","reason":"r","rule":"p","evidence":{"x":'
            + b"9" * 400
            + b"}}}",
        ),
        ("a non-finite value string", b'{"kind":"complete","trial":"t","value":"NaN"}'),
        ("a newer schema", b'{"kind":"complete","trial":"t","value":1,"v":2}'),
        (
            "an unknown key in the decision",
            b'{"kind":"decision","trial":"t","decision":'
            b'{"action":"pause","reason":"r","rule":"p","why":[1]}}',
        ),
    ],
)
def test_lines_the_fast_path_hands_on(what: str, raw: bytes) -> None:
    """Table: what the fast path leaves to the dict path, read the same either way."""
    assert _outcome(lambda: _fast(raw)) == _outcome(lambda: _slow(raw)), what


def test_a_stored_decision_shares_its_trial_id_and_holds_compact_evidence() -> None:
    raw = (
        b'{"kind":"report","trial":"trial-12","step":0,"value":1.5,"decision":{"action":"stop",'
        b'"reason":"r","rule":"p","trial_id":"trial-12","step":0,"rung_resource":null,'
        b'"evidence":{"cutoff":0.5}},"v":1}'
    )
    rec = decode_fast(raw, 2, "log")
    assert isinstance(rec, ReportRecord)
    assert rec.decision.trial_id is rec.trial
    assert isinstance(rec.decision.evidence, FrozenEvidence)
    assert dict(rec.decision.evidence) == {"cutoff": 0.5}
