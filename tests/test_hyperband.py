"""HyperbandPruner: exact bracket counts, stable bracket hashing, per-bracket competition."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.pruners.hyperband import (
    AUTO_MAX_BRACKETS,
    GROUP,
    auto_group,
    bracket_budgets,
    bracket_of,
    n_brackets,
)
from hpprune.types import Reason
from tests.asha_reference import run_reference
from tests.test_halving import _engine_decisions, _skipping_streams

HB = hpprune.HyperbandPruner

# (min_resource, max_resource, reduction_factor, brackets)
COUNTS = [
    (3, 243, 3, 5),  # 243 / 3 = 81 = 3**4
    (10, 1000, 3, 5),  # 100: 3**4 = 81 <= 100 < 243
    (5, 125, 3, 3),  # 25: 9 <= 25 < 27
    (5, 125, 5, 3),  # 25 = 5**2
    (1, 1, 3, 1),
    (1, 2, 3, 1),
    (1, 3, 3, 2),
    (3, 729, 3, 6),  # exact power: float log gives 4.999...; integers give 6
    (1, 1000, 10, 4),  # exact power: float log10 gives 2.999...
    (1, 2**53, 2, 54),
    (7, 7 * 4**10 - 1, 4, 10),
]


@pytest.mark.parametrize(("min_r", "max_r", "rf", "count"), COUNTS)
def test_bracket_counts(min_r: int, max_r: int, rf: int, count: int) -> None:
    assert n_brackets(min_r, max_r, rf) == count
    assert HB(min_r, max_r, rf).n_brackets == count
    # Definition: the top bracket's first rung fits under max_resource, one more would not.
    assert min_r * rf ** (count - 1) <= max_r < min_r * rf**count


def test_budgets() -> None:
    # count 5, rf 3: ceil(5 * 3**s / (s + 1)) for s = 4..0
    assert bracket_budgets(5, 3) == [81, 34, 15, 8, 5]
    assert bracket_budgets(1, 3) == [1]
    assert bracket_budgets(3, 2) == [4, 3, 3]


def test_bracket_frequencies_follow_budgets() -> None:
    budgets = bracket_budgets(4, 3)  # [27, 12, 6, 4] of 49
    n = 20_000
    counts = Counter(bracket_of(f"trial-{i}", budgets) for i in range(n))
    total = sum(budgets)
    for b, budget in enumerate(budgets):
        expected = n * budget / total
        assert abs(counts[b] - expected) < 5 * expected**0.5, (b, counts[b], expected)


_BRACKETS_SCRIPT = """
import json
from hpprune.pruners.hyperband import bracket_budgets, bracket_of
print(json.dumps([bracket_of(f"t{i}", bracket_budgets(5, 3)) for i in range(300)]))
"""


def test_brackets_identical_across_processes_and_hash_seeds() -> None:
    root = Path(__file__).resolve().parents[1]
    runs = []
    for seed in ("0", "1", "4242"):
        res = subprocess.run(
            [sys.executable, "-c", _BRACKETS_SCRIPT],
            cwd=root,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(res.stdout))
    here = [bracket_of(f"t{i}", bracket_budgets(5, 3)) for i in range(300)]
    assert runs[0] == runs[1] == runs[2] == here
    assert len(set(here)) == 5


def test_bracket_hash_is_pinned() -> None:
    """The mapping is part of the log format: changing it would change replayed decisions."""
    budgets = bracket_budgets(5, 3)
    got = [bracket_of(str(i), budgets) for i in range(12)]
    assert got == PINNED


PINNED = [0, 0, 2, 1, 1, 0, 0, 1, 0, 1, 0, 0]  # recorded from the first release


def test_groups_label_each_trial_with_its_bracket() -> None:
    policy = HB(1, 81, 3)
    assert policy.groups("abc") == {GROUP: str(policy.bracket("abc"))}
    engine = hpprune.Engine(policy)
    engine.report("abc", 0, 1.0)
    assert dict(engine.study.trial("abc").groups) == {GROUP: str(policy.bracket("abc"))}


def test_trials_compete_only_within_their_bracket() -> None:
    policy = HB(1, 9, 3)  # 3 brackets: rungs (1, 3, 9), (3, 9), (9,)
    ids = [f"t{i}" for i in range(60)]
    by_bracket: dict[int, list[str]] = {}
    for t in ids:
        by_bracket.setdefault(policy.bracket(t), []).append(t)
    assert sorted(by_bracket) == [0, 1, 2]
    engine = hpprune.Engine(policy)
    # A superb trial in bracket 0 must not affect trials of bracket 1 at the shared rung 3.
    star, first1, second1 = by_bracket[0][0], by_bracket[1][0], by_bracket[1][1]
    for s in range(4):
        engine.report(star, s, -100.0)
    for s in range(3):
        assert engine.report(first1, s, 5.0 - s).reason == Reason.OK  # bracket 1 starts at 3
    d = engine.report(first1, 3, 2.0)
    assert (d.reason, d.evidence["n_competitors"], d.evidence["bracket"]) == ("promoted", 1, 1)
    assert d.evidence["n_brackets"] == 3
    d = engine.report(second1, 3, 2.5)
    assert (d.reason, d.evidence["cutoff"], d.evidence["rank"]) == ("halving_rung_cut", 2.0, 2)
    assert d.evidence["rung_resource"] == 3 and d.evidence["bracket"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=_skipping_streams(),
    max_r=st.integers(1, 30),
    rf=st.integers(2, 4),
    bootstrap=st.integers(0, 1),
    direction=st.sampled_from(["minimize", "maximize"]),
)
def test_matches_naive_reference_per_bracket(
    events: list[tuple[str, int, float]], max_r: int, rf: int, bootstrap: int, direction: str
) -> None:
    policy = HB(1, max_r, rf, bootstrap_count=bootstrap)
    # The reference may stop a trial at max_resource, its last step; the engine
    # never does (Reason.FINAL_STEP), which changes later rung comparisons. So
    # the rule is compared on reports before max_resource ...
    before = [e for e in events if e[1] < max_r]
    ref = run_reference(
        before,
        min_resource=1,
        reduction_factor=rf,
        rate_of=policy.bracket,
        bootstrap_count=bootstrap,
    )
    assert _engine_decisions(policy, before, direction) == ref
    # ... and on every stream no report at or past it is a STOP.
    ours = _engine_decisions(policy, events, direction)
    assert all(d[1] != "stop" for ds in ours.values() for d in ds if d[0] >= max_r)
    assert _engine_decisions(policy, events, direction) == ours


def test_auto_max_resource() -> None:
    policy = HB(1, "auto", 3)
    assert policy.n_brackets is None
    labels = policy.groups("x")
    assert sorted(labels) == sorted(auto_group(c) for c in range(1, AUTO_MAX_BRACKETS + 1))
    engine = hpprune.Engine(policy)
    assert engine.report("early", 0, 1.0).reason == Reason.STARTUP
    for s in range(27):  # last step 26 -> max_resource 27 -> 4 brackets
        engine.report("first", s, 1.0 / (s + 1))
    engine.complete("first")
    assert policy.resolve(engine.study) == (4, auto_group(4))
    bracket = policy.bracket("early", 4)
    assert int(labels[auto_group(4)]) == policy.bracket("x", 4)
    d = engine.report("early", 30, 0.5)
    assert d.evidence["n_brackets"] == 4 and d.evidence["bracket"] == bracket


def test_auto_caps_the_bracket_count() -> None:
    engine = hpprune.Engine(HB(1, "auto", 2))
    engine.report("a", 5000, 1.0)  # max_resource 5001 would give 13 brackets with rf 2
    engine.complete("a")
    policy = engine.policy
    assert isinstance(policy, HB)
    assert policy.resolve(engine.study) == (AUTO_MAX_BRACKETS, auto_group(AUTO_MAX_BRACKETS))


BAD_PARAMS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"min_resource": 0}, ValueError, "min_resource"),
    ({"min_resource": "auto"}, TypeError, "min_resource"),
    ({"max_resource": 0}, ValueError, "max_resource"),
    ({"max_resource": "max"}, ValueError, "max_resource"),
    ({"max_resource": 9.0}, TypeError, "max_resource"),
    ({"min_resource": 10, "max_resource": 9}, ValueError, "max_resource"),
    ({"reduction_factor": 1}, ValueError, "reduction_factor"),
    ({"reduction_factor": "3"}, TypeError, "reduction_factor"),
    ({"bootstrap_count": -2}, ValueError, "bootstrap_count"),
]


@pytest.mark.parametrize(("kwargs", "exc", "field"), BAD_PARAMS)
def test_invalid_parameters(kwargs: dict[str, Any], exc: type[Exception], field: str) -> None:
    with pytest.raises(exc, match=field):
        HB(**kwargs)


def test_bracket_count_argument_checked_in_auto_mode() -> None:
    with pytest.raises(ValueError, match="count"):
        HB(1, "auto").bracket("t", 0)


def test_params_round_trip() -> None:
    for p in (HB(), HB(2, 200, 4, bootstrap_count=1)):
        again = hpprune.policy_from_dict(json.loads(json.dumps(p.to_dict())))
        assert again == p and again.params() == p.params()
