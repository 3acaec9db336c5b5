"""Hypothesis stateful test: random interleavings of report / complete / fail / restart.

The model is a second engine that never restarts; the system under test is
rebuilt from its own audit log at random moments. Both must agree on every
decision and every trial state, and the log must always fold back.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import hpprune
from hpprune.types import TrialState

POLICIES = [
    lambda: hpprune.MedianPruner(n_startup_trials=2),
    lambda: hpprune.PercentilePruner(30.0, n_startup_trials=1, interval_steps=2),
    lambda: hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    lambda: hpprune.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3),
]

values = st.one_of(
    st.floats(-10, 10, allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, None]),
)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.log = Path(self.dir.name) / "log.jsonl"
        self.policy_index = 0
        self.model: hpprune.Engine | None = None
        self.sut: hpprune.Engine | None = None
        self.next_step: dict[str, int] = {}

    @precondition(lambda self: self.model is None)
    @rule(
        index=st.integers(0, len(POLICIES) - 1),
        direction=st.sampled_from(["minimize", "maximize"]),
        mode=st.sampled_from(["stop", "ignore"]),
    )
    def start(self, index: int, direction: str, mode: str) -> None:
        self.policy_index = index
        self.model = hpprune.Engine(POLICIES[index](), direction, non_finite=mode)
        self.sut = hpprune.Engine(POLICIES[index](), direction, log=self.log, non_finite=mode)

    @precondition(lambda self: self.model is not None)
    @rule(trial=st.integers(0, 5), value=values, gap=st.integers(1, 3))
    def report(self, trial: int, value: float | None, gap: int) -> None:
        assert self.model is not None and self.sut is not None
        tid = f"t{trial}"
        step = self.next_step.get(tid, 0)
        if tid in self.model.trial_ids() and self.model.state(tid) in (
            TrialState.COMPLETED,
            TrialState.FAILED,
        ):
            for eng in (self.model, self.sut):
                try:
                    eng.report(tid, step, value)
                except ValueError as exc:
                    assert "accepts no more reports" in str(exc)
                else:
                    raise AssertionError("a finished trial accepted a report")
            return
        a = self.model.report(tid, step, value)
        b = self.sut.report(tid, step, value)
        assert a == b
        # Idempotent repeat.
        assert self.sut.report(tid, step, value) == b
        self.next_step[tid] = step + gap

    @precondition(lambda self: self.model is not None)
    @rule(trial=st.integers(0, 5), value=st.one_of(st.none(), st.floats(-10, 10)))
    def complete(self, trial: int, value: float | None) -> None:
        assert self.model is not None and self.sut is not None
        tid = f"t{trial}"
        if tid not in self.model.trial_ids():
            return
        if self.model.state(tid).is_finished:
            for eng in (self.model, self.sut):
                try:
                    eng.complete(tid, value)
                except ValueError:
                    pass
                else:
                    raise AssertionError("a finished trial completed twice")
            return
        self.model.complete(tid, value)
        self.sut.complete(tid, value)

    @precondition(lambda self: self.model is not None)
    @rule(trial=st.integers(0, 5))
    def fail(self, trial: int) -> None:
        assert self.model is not None and self.sut is not None
        tid = f"t{trial}"
        if tid in self.model.trial_ids() and not self.model.state(tid).is_finished:
            self.model.fail(tid)
            self.sut.fail(tid)

    @precondition(lambda self: self.sut is not None)
    @rule()
    def restart(self) -> None:
        assert self.sut is not None
        self.sut.close()
        self.sut = hpprune.Engine.from_log(self.log)

    @invariant()
    def agree(self) -> None:
        if self.model is None or self.sut is None:
            return
        assert self.model.trial_ids() == self.sut.trial_ids()
        for tid in self.model.trial_ids():
            assert self.model.state(tid) == self.sut.state(tid)
            assert self.model.last_decision(tid) == self.sut.last_decision(tid) or (
                # Continue decisions are logged without evidence; compare the rest.
                _strip(self.model.last_decision(tid)) == _strip(self.sut.last_decision(tid))
            )
        assert self.model.study.incumbent() == self.sut.study.incumbent()

    def teardown(self) -> None:
        if self.sut is not None:
            self.sut.close()
        self.dir.cleanup()


def _strip(d: hpprune.Decision | None) -> object:
    return None if d is None else (d.action, d.reason, d.rule, d.trial_id, d.step)


TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
