"""Policy SPECs: short strings, inline JSON, JSON/TOML files; errors name the culprit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.audit.spec import SpecError, load_policy, parse_spec, policy_names, to_spec
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.types import Decision, cont
from tests.policy_cases import POLICY_CASES

VALID: list[tuple[str, Policy]] = [
    ("median", hpprune.MedianPruner()),
    ("Median", hpprune.MedianPruner()),
    ("medianpruner", hpprune.MedianPruner()),
    ("MedianPruner:n_startup_trials=2", hpprune.MedianPruner(n_startup_trials=2)),
    (
        "median:n_startup_trials=5, n_warmup_steps=2 ,interval_steps=3",
        hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=2, interval_steps=3),
    ),
    ("percentile:percentile=25", hpprune.PercentilePruner(25.0)),
    ("pct:percentile=12.5,n_min_trials=3", hpprune.PercentilePruner(12.5, n_min_trials=3)),
    ("percentile_pruner:percentile=1e1", hpprune.PercentilePruner(10.0)),
    ("nopruning", hpprune.NoPruning()),
    ("none", hpprune.NoPruning()),
    ("no_pruning", hpprune.NoPruning()),
    (
        "anyof(median:n_startup_trials=5,n_warmup_steps=1,percentile:percentile=10)",
        hpprune.AnyOf(
            [
                hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
                hpprune.PercentilePruner(10.0),
            ]
        ),
    ),
    (
        " allof( median , anyof(none, pct:percentile=75) ) ",
        hpprune.AllOf(
            [
                hpprune.MedianPruner(),
                hpprune.AnyOf([hpprune.NoPruning(), hpprune.PercentilePruner(75.0)]),
            ]
        ),
    ),
    (
        "hpprune.pruners.percentile.MedianPruner:n_warmup_steps=4",
        hpprune.MedianPruner(n_warmup_steps=4),
    ),
    ('{"type": "percentile", "params": {"percentile": 40}}', hpprune.PercentilePruner(40.0)),
]


@pytest.mark.parametrize(("spec", "expected"), VALID, ids=[v[0] for v in VALID])
def test_valid_specs(spec: str, expected: Policy) -> None:
    got = load_policy(spec)
    assert type(got) is type(expected)
    assert got == expected
    assert got.to_dict() == expected.to_dict()


INVALID: list[tuple[str, str]] = [
    ("medain", "unknown policy 'medain'"),
    ("median:n_startup=3", "unknown parameter 'n_startup' for MedianPruner"),
    ("median:n_startup_trials=-1", "n_startup_trials"),
    ("median:n_startup_trials=2.5", "n_startup_trials"),
    ("median:n_startup_trials=true", "n_startup_trials"),
    ("percentile", "missing required parameter 'percentile'"),
    ("percentile:percentile=150", "percentile"),
    ("percentile:percentile=nan", "'nan'"),
    ("percentile:percentile=abc", "'abc'"),
    ("median:n_startup_trials=1,n_startup_trials=2", "given twice"),
    ("anyof(median", "expected ',' or ')'"),
    ("anyof()", "expected a policy name"),
    ("median:x", "expected key=value"),
    ("median:n_startup_trials=", "missing value for 'n_startup_trials'"),
    ("median extra", "unexpected text"),
    ("median:n_startup_trials=[1,2", "unbalanced"),
    ('{"type": "median", "parms": {}}', "unknown key 'parms'"),
    ('{"params": {}}', "missing or non-string 'type'"),
    ('{"type": "median", "params": [1]}', "'params' of 'median' must be an object"),
    ("{not json", "invalid JSON"),
    ("nosuchmodule_xyz.Pruner", "unknown policy type"),  # nothing is imported
    ("json.JSONDecoder", "unknown policy type"),
    ("anyof(median,medain)", "unknown policy 'medain'"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID, ids=[v[0] for v in INVALID])
def test_invalid_specs_name_the_culprit(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_policy(spec)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_spec_structure() -> None:
    assert parse_spec("anyof(median:n_startup_trials=5,threshold:upper=1.0)") == {
        "type": "anyof",
        "params": {
            "policies": [
                {"type": "median", "params": {"n_startup_trials": 5}},
                {"type": "threshold", "params": {"upper": 1.0}},
            ]
        },
    }
    assert parse_spec("x:a='q,r',b=[1, 2],c=None,d=text") == {
        "type": "x",
        "params": {"a": "q,r", "b": [1, 2], "c": None, "d": "text"},
    }
    with pytest.raises(TypeError):
        parse_spec(5)  # type: ignore[arg-type]


def test_json_and_toml_files(tmp_path: Path) -> None:
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"type": "median", "params": {"n_warmup_steps": 3}}))
    assert load_policy(j) == hpprune.MedianPruner(n_warmup_steps=3)
    assert load_policy(str(j)) == hpprune.MedianPruner(n_warmup_steps=3)
    t = tmp_path / "p.toml"
    t.write_text(
        'type = "anyof"\n'
        "[[params.policies]]\n"
        'type = "median"\n'
        "params = { n_startup_trials = 2 }\n"
        "[[params.policies]]\n"
        'type = "percentile"\n'
        "[params.policies.params]\n"
        "percentile = 10.0\n"
    )
    assert load_policy(t) == hpprune.AnyOf(
        [hpprune.MedianPruner(n_startup_trials=2), hpprune.PercentilePruner(10.0)]
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('type = "median"\n[params]\nn_warmup = 1\n')
    with pytest.raises(SpecError, match=r"bad\.toml.*unknown parameter 'n_warmup'"):
        load_policy(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(SpecError, match="cannot be parsed"):
        load_policy(broken)
    with pytest.raises(FileNotFoundError):
        load_policy(tmp_path / "missing.toml")


def test_log_header_policy_is_a_spec(tmp_path: Path) -> None:
    """The `policy` object of a log's study record (dotted type names) loads as a SPEC."""
    pol = POLICY_CASES["anyof-median-percentile"]()
    eng = hpprune.Engine(pol, log=tmp_path / "a.jsonl")
    eng.close()
    header = next(hpprune.read_log(tmp_path / "a.jsonl"))
    assert load_policy(header["policy"]) == pol
    spec_file = tmp_path / "header.json"
    spec_file.write_text(json.dumps(header))
    assert load_policy(spec_file) == pol


@pytest.mark.parametrize("name", sorted(POLICY_CASES))
def test_to_spec_round_trip(name: str) -> None:
    pol = POLICY_CASES[name]()
    text = to_spec(pol)
    assert load_policy(text) == pol, text


@settings(max_examples=60, deadline=None)
@given(
    percentile=st.floats(0, 100, allow_nan=False),
    startup=st.integers(0, 50),
    warmup=st.integers(0, 50),
    interval=st.integers(1, 10),
    n_min=st.integers(1, 10),
)
def test_to_spec_round_trip_property(
    percentile: float, startup: int, warmup: int, interval: int, n_min: int
) -> None:
    pol = hpprune.PercentilePruner(percentile, startup, warmup, interval, n_min_trials=n_min)
    assert load_policy(to_spec(pol)) == pol
    combo = hpprune.AnyOf([pol, hpprune.MedianPruner(n_startup_trials=startup)])
    assert load_policy(to_spec(combo)) == combo


class ToyThresholdPruner(Policy):
    """A policy that exists only in this test, exported at run time."""

    def __init__(self, upper: float = 1.0) -> None:
        self.upper = float(upper)

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        del trial, study
        return cont(self.name)

    def params(self) -> dict[str, Any]:
        return {"upper": self.upper}


def test_name_table_is_built_from_hpprune_all(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "toythreshold" not in policy_names()
    monkeypatch.setattr(hpprune, "ToyThresholdPruner", ToyThresholdPruner, raising=False)
    monkeypatch.setattr(hpprune, "__all__", [*hpprune.__all__, "ToyThresholdPruner"])
    names = policy_names()
    for alias in ("toythreshold", "toythresholdpruner", "toy_threshold", "toy_threshold_pruner"):
        assert names[alias] is ToyThresholdPruner
    pol = load_policy("anyof(median:n_startup_trials=5,toythreshold:upper=2.5)")
    assert isinstance(pol, hpprune.AnyOf)
    assert pol.policies[1] == ToyThresholdPruner(2.5)
    # Every exported, concrete Policy class is reachable by its lower-cased name.
    for name in hpprune.__all__:
        obj = getattr(hpprune, name)
        if isinstance(obj, type) and issubclass(obj, Policy) and obj is not Policy:
            assert names[name.lower()] is obj
