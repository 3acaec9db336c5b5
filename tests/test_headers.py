"""hpprune.audit.headers: which header fields make a log another study."""

from __future__ import annotations

from typing import Any

import pytest

from hpprune import MedianPruner, policy_hash
from hpprune.audit.headers import check_same_study, study_difference
from hpprune.audit.records import StudyRecord
from hpprune.types import Direction

_POLICY = MedianPruner()


def _header(**changes: Any) -> StudyRecord:
    fields: dict[str, Any] = {
        "study": "s",
        "policy": _POLICY.to_dict(),
        "policy_hash": policy_hash(_POLICY),
        "direction": Direction.MINIMIZE,
        "non_finite": "stop",
        "raw": {},
    }
    fields.update(changes)
    return StudyRecord(**fields)


@pytest.mark.parametrize(
    ("expected", "found", "difference"),
    [
        ({}, {}, None),
        ({}, {"raw": {"started_at": "another time"}}, None),
        ({}, {"policy_hash": "0" * 32}, "policy"),
        ({}, {"direction": Direction.MAXIMIZE}, "direction"),
        ({}, {"non_finite": "ignore"}, "non_finite"),
        ({}, {"study": "t"}, "study"),
        ({}, {"study": None}, "study"),
        ({"study": None}, {"study": "t"}, None),  # no name expected: any name
        ({}, {"policy_hash": "0" * 32, "study": "t"}, "policy"),  # the first that differs
    ],
)
def test_study_difference(
    expected: dict[str, Any], found: dict[str, Any], difference: str | None
) -> None:
    assert study_difference(_header(**expected), _header(**found)) == difference


@pytest.mark.parametrize(
    ("found", "match"),
    [
        ({"policy_hash": "0" * 32}, "log L was written for policy .*; do this"),
        ({"direction": Direction.MAXIMIZE}, "log L has direction 'maximize', not 'minimize'"),
        ({"non_finite": "ignore"}, "log L has non_finite 'ignore', not 'stop'; do this"),
        ({"study": "t"}, "log L belongs to study 't', not 's'"),
    ],
)
def test_check_same_study_names_the_field(found: dict[str, Any], match: str) -> None:
    check_same_study(_header(), _header(), "L", "do this")
    with pytest.raises(ValueError, match=match):
        check_same_study(_header(), _header(**found), "L", "do this")
