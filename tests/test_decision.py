"""A Decision: a frozen struct whose evidence is read-only and in JSON form.

Evidence of plain scalars is held compactly and shared with the latest equal
evidence of the same keys, but only when the values are the same values of
the same types (1, 1.0 and True are different evidence, and so are 0.0 and
-0.0); anything else is converted as before (non-finite floats as strings).
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from typing import Any

import pytest

from hpprune.types import Action, Decision, freeze_evidence


@pytest.mark.parametrize(
    "evidence, kind, as_json",
    [
        ({}, "mappingproxy", {}),
        ({"cutoff": 0.5, "n": 5, "ok": True, "why": None, "s": "x"}, "FrozenEvidence", None),
        ({"x": math.nan, "y": -math.inf}, "mappingproxy", {"x": "NaN", "y": "-Infinity"}),
        ({"xs": [1, 2], "d": {"a": 1}}, "mappingproxy", None),
        ({"big": 2**70}, "mappingproxy", None),
        ({1: "int key"}, "mappingproxy", {"1": "int key"}),
    ],
)
def test_evidence_forms(
    evidence: dict[Any, Any], kind: str, as_json: dict[str, Any] | None
) -> None:
    d = Decision(Action.STOP, "r", "rule", "t", 0, evidence)
    assert type(d.evidence).__name__ == kind
    assert dict(d.evidence) == (evidence if as_json is None else as_json)
    with pytest.raises(TypeError):
        d.evidence["new"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    "first, second, shared",
    [
        ({"a": 0.5, "n": 5}, {"a": 0.5, "n": 5}, True),
        ({"a": 0.5, "n": 5}, {"a": 0.5, "n": 6}, False),
        ({"n": 1}, {"n": 1.0}, False),
        ({"n": 1}, {"n": True}, False),
        ({"z": 0.0}, {"z": -0.0}, False),
        ({"z": -0.0}, {"z": -0.0}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),  # other keys (order is part of them)
    ],
)
def test_equal_evidence_is_shared_only_when_identical(
    first: dict[str, Any], second: dict[str, Any], shared: bool
) -> None:
    a = freeze_evidence(first)
    b = freeze_evidence(second)
    assert (a is b) == shared
    assert json.dumps(dict(b)) == json.dumps(second)


@pytest.mark.parametrize(
    "evidence", [{}, {"a": 1.5}, {"xs": [1, [2]]}, {"x": math.inf}, {"s": "é"}]
)
def test_a_decision_pickles_and_copies(evidence: dict[str, Any]) -> None:
    d = Decision(Action.STOP, "below_percentile", "MedianPruner", "t-1", 3, evidence, 1, 2)
    for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d), copy.copy(d)):
        assert twin == d
        assert twin.to_dict() == d.to_dict()


def test_a_decision_is_frozen_and_shares_its_strings() -> None:
    d = Decision("stop", "".join(["below_", "percentile"]), "".join(["Median", "Pruner"]))  # type: ignore[arg-type]
    e = Decision(Action.STOP, "below_percentile", "MedianPruner")
    assert d.action is Action.STOP
    assert d.reason is e.reason and d.rule is e.rule
    with pytest.raises(AttributeError):
        d.reason = "x"  # type: ignore[misc]
