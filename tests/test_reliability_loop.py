"""The standalone loop under failure.

* objectives that raise (before any report, mid-run, after a stop, after a pause,
  in a resumed run), with one and two workers;
* a worker thread killed mid-trial (an asynchronous SystemExit injected into
  it, which is what killing a Python thread amounts to) and SystemExit raised
  by the objective;
* KeyboardInterrupt raised inside a worker thread, then ``run()`` again;
* a log continued by a new loop: after a clean stop the decisions equal an
  uninterrupted run; after SIGKILL, trials that were mid-run are failed with
  reason ``abandoned`` instead of staying "running" forever, and a study
  survives many kill/restart cycles with every trial ending in one fate.

Each test checks the loop's result, the audit log (one fate per trial) and that
``Engine.from_log`` folds the log back into the same states.
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune import space as sp
from hpprune.audit.log import read_log
from hpprune.curves import StudyView, TrialCurve
from hpprune.loop import ABANDONED, LoopResult, LoopTrial, SearchLoop
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, TrialState, cont

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"rate": sp.LogUniform(0.05, 2.0), "floor": sp.Uniform(0.0, 0.5)}
N_STEPS = 6
TERMINAL = {TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED}


def curve(params: Any, step: int) -> float:
    return float(params["floor"] + math.exp(-params["rate"] * (step + 1)))


def median() -> Policy:
    return hpprune.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


class PauseAt(Policy):
    """Test-only policy: pause every trial once, at step ``at``."""

    def __init__(self, at: int = 2) -> None:
        self.at = at

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] == self.at:
            return Decision(Action.PAUSE, "test_pause", self.name)
        return cont(self.name)

    def params(self) -> dict[str, Any]:
        return {"at": self.at}


def folded_states(log: Path, policy: Policy) -> dict[str, TrialState]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a torn last line after a kill is expected
        engine = hpprune.Engine.from_log(log, policy, resume_logging=False)
    return {t: engine.state(t) for t in engine.trial_ids()}


def fail_reasons(log: Path) -> dict[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {r["trial"]: r["reason"] for r in read_log(log) if r["kind"] == "fail"}


def assert_one_fate_each(result: LoopResult, log: Path, policy: Policy) -> None:
    """Every trial ended in one fate, the log agrees, and nothing is left running."""
    assert "running" not in result.counts, result.counts
    states = folded_states(log, policy)
    assert TrialState.RUNNING not in states.values(), states
    for t in result:
        assert states[t.trial_id] is t.state, t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = list(read_log(log))
    ends = Counter(r["trial"] for r in records if r["kind"] in ("complete", "fail"))
    assert all(n == 1 for n in ends.values()), ends  # never completed or failed twice


# ----------------------------------------------------------------------------- raising objectives
def objective_raising(when: str) -> Callable[[LoopTrial], float | None]:
    """Trial 2 raises ``RuntimeError`` at the point ``when``; the others run normally."""

    def objective(trial: LoopTrial) -> float | None:
        bad = trial.number == 2
        if bad and when == "before any report":
            raise RuntimeError("boom")
        if bad and when == "in the resumed run" and trial.is_resumed:
            raise RuntimeError("boom")
        start = trial.last_step + 1
        v = None
        for step in range(start, N_STEPS):
            if bad and when == "mid-run" and step == 3:
                raise RuntimeError("boom")
            v = curve(trial.params, step) * (5.0 if bad and when == "after a stop" else 1.0)
            d = trial.report(step, v)
            if d.action != "continue":
                if bad and when in ("after a stop", "after a pause"):
                    raise RuntimeError("boom")
                return v
        return v

    return objective


RAISING_ROWS: list[tuple[str, Policy, TrialState, str | None]] = [
    # (when trial 2 raises, policy, its fate, its fail reason in the log)
    ("before any report", median(), TrialState.FAILED, "RuntimeError: boom"),
    ("mid-run", median(), TrialState.FAILED, "RuntimeError: boom"),
    # The stop stands. A threshold (normal curves stay below 1.5, trial 2's are
    # 5x larger) stops trial 2 whatever order two workers finish trials in.
    ("after a stop", hpprune.ThresholdPruner(upper=1.6), TrialState.STOPPED, None),
    ("after a pause", PauseAt(2), TrialState.FAILED, "RuntimeError: boom"),
    ("in the resumed run", PauseAt(2), TrialState.FAILED, "RuntimeError: boom"),
]


@pytest.mark.parametrize("n_workers", [1, 2])
@pytest.mark.parametrize(
    ("when", "policy", "fate", "reason"), RAISING_ROWS, ids=[r[0] for r in RAISING_ROWS]
)
def test_objective_raising_fails_only_that_trial(
    when: str,
    policy: Policy,
    fate: TrialState,
    reason: str | None,
    n_workers: int,
    tmp_path: Path,
) -> None:
    log = tmp_path / "raise.jsonl"
    loop = SearchLoop(objective_raising(when), SPACE, policy, n_workers=n_workers, log=log, seed=5)
    result = loop.run(n_trials=8)
    assert len(result) == 8
    bad = result.trials[2]
    assert bad.state is fate, (when, bad)
    assert fail_reasons(log).get("2") == reason
    if reason is not None:
        assert bad.error is not None and "RuntimeError: boom" in bad.error
    others = [t for t in result if t.number != 2]
    assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in others), others
    assert_one_fate_each(result, log, policy)


# ----------------------------------------------------------------------------- killed threads
class _Killed(BaseException):
    """Stands for any exception that ends a thread (not an ``Exception``)."""


def _kill_thread(ident: int, exc: type[BaseException]) -> None:
    """Raise ``exc`` asynchronously in thread ``ident`` (CPython's way to kill a thread)."""
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc))
    assert n == 1, "the worker thread was not found"


@pytest.mark.parametrize("exc", [SystemExit, _Killed])
def test_worker_thread_killed_mid_trial(exc: type[BaseException], tmp_path: Path) -> None:
    victim: dict[str, int] = {}
    in_trial = threading.Event()

    def objective(trial: LoopTrial) -> float | None:
        v = None
        for step in range(N_STEPS):
            v = curve(trial.params, step)
            if trial.report(step, v).action != "continue":
                return v
            if trial.number == 3 and step == 0:  # step 0 is warm-up: always continued
                victim["ident"] = threading.get_ident()
                in_trial.set()
                for _ in range(400):  # user code running: the kill lands in here
                    time.sleep(0.005)
                pytest.fail("the worker thread was not killed")
            time.sleep(0.002)
        return v

    def killer() -> None:
        assert in_trial.wait(30)
        _kill_thread(victim["ident"], exc)

    log = tmp_path / "killed.jsonl"
    loop = SearchLoop(objective, SPACE, median(), n_workers=2, log=log, seed=1)
    thread = threading.Thread(target=killer)
    thread.start()
    with pytest.raises(exc):
        loop.run(n_trials=10)
    thread.join()
    snap = loop.result()
    killed = snap.trials[3]
    assert killed.state is TrialState.FAILED
    assert fail_reasons(log)["3"] == f"worker ended: {exc.__name__}: "
    # The other worker carried on: every other trial finished normally.
    assert len(snap) == 10
    assert all(t.state is not TrialState.FAILED for t in snap if t.number != 3)
    assert_one_fate_each(snap, log, median())


@pytest.mark.parametrize("n_workers", [1, 2])
def test_sys_exit_in_the_objective_records_the_trial(n_workers: int, tmp_path: Path) -> None:
    def objective(trial: LoopTrial) -> float | None:
        for step in range(N_STEPS):
            if trial.number == 2 and step == 2:
                sys.exit("shutting down")
            if trial.report(step, curve(trial.params, step)).action != "continue":
                break
        return None

    log = tmp_path / "exit.jsonl"
    loop = SearchLoop(objective, SPACE, median(), n_workers=n_workers, log=log)
    with pytest.raises(SystemExit):
        loop.run(n_trials=6)
    snap = loop.result()
    assert snap.trials[2].state is TrialState.FAILED
    assert fail_reasons(log)["2"] == "worker ended: SystemExit: shutting down"
    assert_one_fate_each(snap, log, median())


# ----------------------------------------------------------------------------- Ctrl-C
def test_keyboard_interrupt_in_a_worker_thread_then_run_again(tmp_path: Path) -> None:
    def objective(trial: LoopTrial) -> float | None:
        v = None
        for step in range(N_STEPS):
            if trial.number == 4 and step == 1 and threading.current_thread().name != "MainThread":
                raise KeyboardInterrupt
            v = curve(trial.params, step)
            time.sleep(0.002)
            if trial.report(step, v).action != "continue":
                return v
        return v

    log = tmp_path / "ctrl-c.jsonl"
    loop = SearchLoop(objective, SPACE, median(), n_workers=2, log=log, seed=2)
    with pytest.raises(KeyboardInterrupt):
        loop.run(n_trials=30)
    snap = loop.result()
    assert snap.interrupted and len(snap) < 30
    assert snap.trials[4].state is TrialState.FAILED
    reasons = fail_reasons(log)
    assert reasons["4"] == "interrupted"
    assert set(reasons.values()) == {"interrupted"}  # the other worker stopped at a report
    assert_one_fate_each(snap, log, median())
    # The same loop goes on with the same study.
    n_before = len(snap)
    again = loop.run(n_trials=3)
    assert not again.interrupted and len(again) == n_before + 3
    assert_one_fate_each(again, log, median())


# ----------------------------------------------------------------------------- restarts
def plain_objective(trial: LoopTrial) -> float | None:
    v = None
    for step in range(trial.last_step + 1, N_STEPS):
        v = curve(trial.params, step)
        if trial.report(step, v).action != "continue":
            return v
    return v


def report_trace(log: Path) -> list[tuple[str, int, str, str]]:
    return [
        (r["trial"], r["step"], r["decision"]["action"], r["decision"]["reason"])
        for r in read_log(log)
        if r["kind"] == "report"
    ]


def test_clean_restart_gives_the_decisions_of_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl"
    SearchLoop(plain_objective, SPACE, median(), log=whole, seed=9).run(n_trials=12)
    parts = tmp_path / "parts.jsonl"
    for n in (5, 4, 3):  # three processes in turn, each continuing the log
        loop = SearchLoop(plain_objective, SPACE, median(), log=parts, seed=9)
        loop.run(n_trials=n)
        loop.close()
    assert report_trace(parts) == report_trace(whole)
    assert report_trace(whole)  # not vacuous
    assert any(a == "stop" for _, _, a, _ in report_trace(whole))


@pytest.mark.parametrize("left", ["running", "stale", "never reported"])
def test_trials_left_running_by_a_dead_process_are_failed_as_abandoned(
    left: str, tmp_path: Path
) -> None:
    log = tmp_path / "dead.jsonl"
    first = SearchLoop(None, SPACE, median(), log=log, seed=4)
    for _ in range(3):
        t = first.ask()
        for step in range(N_STEPS):
            t.report(step, curve(t.params, step))
        first.tell(t)
    orphan = first.ask()  # the process "dies" while this trial runs
    if left != "never reported":
        orphan.report(0, 0.01)  # the best trial so far: it keeps running
        orphan.report(1, 0.005)
    if left == "stale":
        first.engine.mark_stale(orphan.trial_id)
    first.engine.flush()
    del first  # no tell, no close: as after SIGKILL
    assert folded_states(log, median())["3"] in (TrialState.RUNNING, TrialState.STALE)

    second = SearchLoop(plain_objective, SPACE, median(), log=log, seed=4)
    record = second.result().trials[0]
    assert (record.trial_id, record.state, record.error) == ("3", TrialState.FAILED, ABANDONED)
    assert fail_reasons(log) == {"3": ABANDONED}
    result = second.run(n_trials=2)
    assert [t.number for t in result] == [3, 4, 5]  # numbering continues after the orphan
    assert_one_fate_each(result, log, median())
    # A third loop finds nothing to abandon.
    third = SearchLoop(plain_objective, SPACE, median(), log=log, seed=4)
    assert third.result().trials == ()
    assert fail_reasons(log) == {"3": ABANDONED}


def test_paused_trials_are_not_abandoned(tmp_path: Path) -> None:
    log = tmp_path / "paused.jsonl"
    first = SearchLoop(plain_objective, SPACE, PauseAt(2), log=log, chooser=lambda p, s, c: None)
    first.run(n_trials=2)
    first.close()
    second = SearchLoop(plain_objective, SPACE, PauseAt(2), log=log)
    assert second.paused_trials() == ["0", "1"]
    assert fail_reasons(log) == {}


_CHILD = """
import sys, time, math
import hpprune
from hpprune import space as sp
from hpprune.loop import SearchLoop

SPACE = {"rate": sp.LogUniform(0.05, 2.0), "floor": sp.Uniform(0.0, 0.5)}
first = [None]

def objective(trial):
    v = None
    for step in range(trial.last_step + 1, 8):
        v = trial.params["floor"] + math.exp(-trial.params["rate"] * (step + 1))
        time.sleep(0.004)
        if trial.report(step, v).action != "continue":
            return v
        if step == 2 and first[0] is None:
            first[0] = trial.number
            print("ready", flush=True)
    return v

policy = hpprune.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
loop = SearchLoop(objective, SPACE, policy, n_workers=2, log=sys.argv[1], seed=int(sys.argv[2]))
loop.run(n_trials=int(sys.argv[3]))
print("finished", flush=True)
"""


@pytest.mark.slow
def test_kill_and_restart_cycles_leave_no_trial_running(tmp_path: Path) -> None:
    """A study killed with SIGKILL ten times, each time continued by a new process."""
    log = tmp_path / "study.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    orphans: set[str] = set()
    kills = 0
    for cycle in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(log), "3", "40"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready", f"cycle {cycle}: child failed"
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(60) == -signal.SIGKILL
        kills += 1
        states = folded_states(log, median())
        # The restart in the next cycle failed the previous cycle's orphans.
        assert all(states[t] is TrialState.FAILED for t in orphans)
        running = {t for t, s in states.items() if s is TrialState.RUNNING}
        assert running, f"cycle {cycle}: the kill landed while no trial was running"
        orphans |= running

    final = SearchLoop(plain_objective, SPACE, median(), log=log, seed=3)
    abandoned = {t.trial_id for t in final.result() if t.error == ABANDONED}
    assert abandoned == running  # the last cycle's orphans, failed by this loop
    result = final.run(n_trials=3)
    assert_one_fate_each(result, log, median())
    states = folded_states(log, median())
    assert set(states.values()) <= TERMINAL
    reasons = fail_reasons(log)
    assert {t for t, r in reasons.items() if r == ABANDONED} == orphans
    # Trial numbers never collided across processes: ids are 0..n-1 without gaps.
    assert sorted(states, key=int) == [str(i) for i in range(len(states))]
    assert kills == 10


# ----------------------------------------------------------------------------- the fold's pools
ops = st.lists(
    st.tuples(
        st.sampled_from(["report", "report", "report", "complete", "stale", "fail"]),
        st.integers(0, 7),
        st.one_of(st.floats(-5, 5, allow_nan=False), st.sampled_from([math.nan, math.inf, None])),
    ),
    max_size=120,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=ops, policy_index=st.integers(0, 1))
def test_restart_rebuilds_the_same_pools(
    events: list[tuple[str, int, float | None]], policy_index: int, tmp_path: Path
) -> None:
    """``Engine.from_log`` (which sorts its pools once, at the end) equals the live engine."""
    policy: Policy = (
        hpprune.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
        if policy_index == 0
        else hpprune.MedianPruner(n_startup_trials=1)
    )
    log = Path(tempfile.mkdtemp(dir=tmp_path)) / "pools.jsonl"  # one per example
    live = hpprune.Engine(policy, log=log, non_finite="ignore")
    steps: dict[str, int] = {}
    for kind, n, value in events:
        tid = f"t{n}"
        known = tid in live.study
        state = live.state(tid) if known else None
        if kind == "report" and state not in (TrialState.COMPLETED, TrialState.FAILED):
            steps[tid] = steps.get(tid, -1) + 1 + n % 2
            live.report(tid, steps[tid], value)
        elif kind == "complete" and known and not state.is_finished:  # type: ignore[union-attr]
            live.complete(tid)
        elif kind == "stale" and state is TrialState.RUNNING:
            live.mark_stale(tid)
        elif kind == "fail" and known and not state.is_finished:  # type: ignore[union-attr]
            live.fail(tid)
    live.close()
    restored = hpprune.Engine.from_log(log, resume_logging=False)
    groups = {None} | {item for c in live.study.trials() for item in c.groups.items()}
    max_step = live.study.max_step
    for pool in ("all", "completed"):
        for group in groups:
            for step in range(max_step + 1):
                assert restored.study.sorted_scores(step, pool, group) == live.study.sorted_scores(
                    step, pool, group
                ), (pool, group, step)
                assert restored.study.scores_from(step, pool, group) == live.study.scores_from(
                    step, pool, group
                ), (pool, group, step)
    assert {t: restored.state(t) for t in restored.trial_ids()} == {
        t: live.state(t) for t in live.trial_ids()
    }
