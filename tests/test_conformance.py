"""The conformance suite: every policy in tests/policy_cases.py must pass all of it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.pruners.base import policy_from_dict, policy_hash
from hpprune.types import Action
from tests.policy_cases import POLICY_CASES
from tests.streams import Event, drive, interleave, make_curves, run_policy, stream

NAMES = sorted(POLICY_CASES)


@pytest.fixture(params=NAMES)
def case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_deterministic(case: str) -> None:
    events = stream(seed=1)
    assert run_policy(POLICY_CASES[case], events) == run_policy(POLICY_CASES[case], events)


def test_direction_symmetry(case: str) -> None:
    events = stream(seed=2)
    assert run_policy(POLICY_CASES[case], events, "minimize") == run_policy(
        POLICY_CASES[case], events, "maximize"
    )


def test_sticky_and_idempotent(case: str) -> None:
    engine = hpprune.Engine(POLICY_CASES[case]())
    events = stream(seed=3)
    seen_stop = False
    halted: set[str] = set()
    for ev in events:
        if ev.complete:
            if ev.trial not in halted:
                engine.complete(ev.trial)
            continue
        d = engine.report(ev.trial, ev.step, ev.value, elapsed_s=ev.elapsed)
        # Idempotent: the same report again gives the same decision and logs nothing new.
        n_before = len(engine.decisions(ev.trial))
        assert engine.report(ev.trial, ev.step, ev.value, elapsed_s=ev.elapsed) == d
        assert len(engine.decisions(ev.trial)) == n_before
        if ev.trial in halted:
            # Sticky: a stopped trial keeps its original STOP whatever it reports later.
            first_stop = next(x for x in engine.decisions(ev.trial) if x.action is Action.STOP)
            assert d == first_stop
        elif d.action is Action.PAUSE:
            seen_stop = True  # a pausing policy (freeze-thaw) halts by pausing
        elif d.action is Action.STOP:
            seen_stop = True
            halted.add(ev.trial)
            later = engine.report(ev.trial, ev.step + 100, -1e9)
            assert later == d
            assert later.step == ev.step
    assert engine.study.n_trials == 24
    if case != "nopruning":
        assert seen_stop, (
            f"{case} never stopped or paused a trial on a stream with clearly bad curves"
        )


def test_log_round_trip(case: str, tmp_path: Path) -> None:
    """Restarting from the log mid-stream gives the same later decisions."""
    events = stream(seed=4)
    cut = len(events) // 2
    reference = run_policy(POLICY_CASES[case], events)

    log = tmp_path / "audit.jsonl"
    first = hpprune.Engine(POLICY_CASES[case](), log=log)
    part1 = drive(first, events[:cut])
    first.close()
    restored = hpprune.Engine.from_log(log)
    assert restored.policy == POLICY_CASES[case]()
    halted = {t for t, ds in part1.items() if ds[-1][1] in ("stop", "pause")}
    rest = [e for e in events[cut:] if e.trial not in halted]
    part2 = drive(restored, rest)
    merged: dict[str, list[tuple[int, str, str]]] = {}
    for part in (part1, part2):
        for t, ds in part.items():
            merged.setdefault(t, []).extend(ds)
    assert merged == reference
    # A third engine folded from the complete log agrees on every trial's state.
    restored.close()
    again = hpprune.Engine.from_log(log, resume_logging=False)
    assert {t: again.state(t) for t in again.trial_ids()} == {
        t: restored.state(t) for t in restored.trial_ids()
    }


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf])
def test_non_finite_never_poisons_peers(case: str, bad: float | None) -> None:
    events = stream(seed=5)
    reference = run_policy(POLICY_CASES[case], events)
    # A poisoned trial reports a non-finite value at every step from its start.
    poisoned = [Event("poison", s, bad) for s in range(6)]
    mixed = poisoned[:1] + events[:10] + poisoned[1:] + events[10:]
    for mode in ("stop", "ignore"):
        got = run_policy(POLICY_CASES[case], mixed, non_finite=mode)
        fate = got.pop("poison")
        assert got == reference
        if mode == "stop":
            assert fate == [(0, "stop", "non_finite")]
        else:
            assert all(r == "non_finite_ignored" for _, _, r in fate)


def test_policy_round_trip(case: str) -> None:
    policy = POLICY_CASES[case]()
    data = json.loads(json.dumps(policy.to_dict()))
    again = policy_from_dict(data)
    assert again == policy
    assert policy_hash(again) == policy_hash(policy)
    assert type(again) is type(policy)


def test_decisions_are_json(case: str) -> None:
    engine = hpprune.Engine(POLICY_CASES[case]())
    drive(engine, stream(seed=6))
    for tid in engine.trial_ids():
        for d in engine.decisions(tid):
            text = json.dumps(d.to_dict(), allow_nan=False)
            assert hpprune.Decision.from_dict(json.loads(text)).to_dict() == d.to_dict()


_SUBPROCESS = """
import json, sys
from tests.policy_cases import POLICY_CASES
from tests.streams import run_policy, stream
out = {name: run_policy(POLICY_CASES[name], stream(seed=7)) for name in sorted(POLICY_CASES)}
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.slow
def test_same_decisions_across_processes_and_hash_seeds() -> None:
    """Different PYTHONHASHSEED values and ``python -O`` give identical decisions."""
    root = Path(__file__).resolve().parents[1]
    outputs = []
    for seed, flags in (("0", []), ("12345", []), ("999", ["-O"])):
        res = subprocess.run(
            [sys.executable, *flags, "-c", _SUBPROCESS],
            cwd=root,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(res.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(json.loads(outputs[0])) == len(POLICY_CASES)


@st.composite
def _streams(draw: st.DrawFn) -> list[Event]:
    n_trials = draw(st.integers(2, 10))
    n_steps = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 10_000))
    workers = draw(st.integers(1, 4))
    return interleave(make_curves(n_trials, n_steps, seed), workers, seed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_streams(), name=st.sampled_from(NAMES))
def test_properties_hold_on_random_streams(events: list[Event], name: str) -> None:
    a = run_policy(POLICY_CASES[name], events)
    assert a == run_policy(POLICY_CASES[name], events)
    assert a == run_policy(POLICY_CASES[name], events, "maximize")
    for decisions in a.values():
        actions = [x[1] for x in decisions]
        # Nothing follows a STOP (the driver halts), and steps strictly increase.
        assert "stop" not in actions[:-1]
        steps = [x[0] for x in decisions]
        assert steps == sorted(set(steps))
