"""Fuzzing the log reader and the fold: arbitrary bytes never crash it.

``read_log`` may only warn (skipped lines) or raise ``LogFormatError`` (a
newer schema); ``Engine.from_log`` may additionally raise ``LogFormatError``
or ``ValueError`` for records that are valid JSON but not valid hpprune
records — never anything else, and never a partially applied record.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.audit.log import LogFormatError, read_log

HEADER = hpprune.Engine(hpprune.MedianPruner()).header()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
record_like = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            ["report", "complete", "fail", "stale", "decision", "trial", "bogus"]
        )
    },
    optional={
        "trial": st.one_of(st.text(max_size=4), st.integers(), json_values),
        "step": st.one_of(st.integers(-3, 5), json_values),
        "value": st.one_of(st.floats(), st.sampled_from(["NaN", "Infinity", "x"]), json_values),
        "decision": st.one_of(
            st.fixed_dictionaries(
                {
                    "action": st.sampled_from(["continue", "stop", "pause", "resume", "zzz"]),
                    "reason": st.text(max_size=4),
                    "rule": st.text(max_size=4),
                }
            ),
            json_values,
        ),
        "v": st.one_of(st.integers(0, 2), json_values),
        "elapsed": st.one_of(st.floats(), json_values),
        "resources": st.one_of(st.dictionaries(st.text(max_size=3), st.floats()), json_values),
        "params": json_values,
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400))
def test_reader_survives_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.jsonl"
    p.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            records = list(read_log(p))
        except LogFormatError:
            return
    assert all(isinstance(r, dict) and "kind" in r for r in records)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(record_like, max_size=8), torn=st.binary(max_size=20))
def test_fold_survives_arbitrary_records(
    tmp_path: Path, records: list[dict[str, object]], torn: bytes
) -> None:
    p = tmp_path / "fuzz.jsonl"
    lines = [json.dumps(HEADER)] + [json.dumps(r) for r in records]
    p.write_bytes(("\n".join(lines) + "\n").encode() + torn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            engine = hpprune.Engine.from_log(p, resume_logging=False)
        except (LogFormatError, ValueError):
            return
    # Whatever folded must be internally consistent.
    for tid in engine.trial_ids():
        curve = engine.study.trial(tid)
        assert curve.steps == sorted(curve.steps)
        assert len(curve.steps) == len(curve.scores)
