"""Simulator tests with hand-built curves and known answers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from hpprune.bench.methods import NoPruningMethod, OracleMethod
from hpprune.bench.metrics import regret_at
from hpprune.bench.simulator import (
    Budget,
    Method,
    NewTrial,
    Resume,
    SimTrial,
    Simulation,
    Status,
    Stream,
    parse_budget,
    simulate,
)
from hpprune.bench.sources import CurveSet
from hpprune.types import Action

NAN = math.nan
INF = math.inf


def curves(
    values: Sequence[Sequence[float]],
    elapsed: Sequence[Sequence[float]] | None = None,
    *,
    direction: str = "minimize",
    steps: Sequence[int] | None = None,
) -> CurveSet:
    v = np.asarray(values, dtype=float)
    return CurveSet(
        task="toy",
        direction=direction,  # type: ignore[arg-type]
        config_ids=tuple(f"c{i}" for i in range(v.shape[0])),
        values=v,
        elapsed=None if elapsed is None else np.asarray(elapsed, dtype=float),
        params=None,
        steps=np.arange(1, v.shape[1] + 1) if steps is None else np.asarray(steps),
    )


class Recorder(Method):
    """Continues everything and records (time, trial id, column) of every decision."""

    name = "recorder"

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple[float, str, int]] = []
        self.stop_after = stop_after

    def bind(self, sim: Simulation) -> None:
        self.sim = sim

    def on_report(self, trial: SimTrial, column: int) -> Action:
        self.events.append((self.sim.now, trial.trial_id, column))
        if self.stop_after is not None and column + 1 >= self.stop_after:
            return Action.STOP
        return Action.CONTINUE


RAGGED = curves(
    [
        [0.9, 0.8, 0.7, 0.6],
        [0.5, NAN, 0.3, NAN],  # gap, then ends at step 3
        [0.4, 0.35, NAN, NAN],  # ends at step 2
        [NAN, NAN, NAN, NAN],  # reports nothing: dropped
        [0.95, INF, NAN, NAN],  # non-finite report at step 2
    ]
)


# ------------------------------------------------------------------ streams
def test_stream_from_ragged_curves() -> None:
    s = Stream.from_curves(RAGGED)
    assert [c.config_id for c in s.configs] == ["c0", "c1", "c2", "c4"]
    assert s.dropped == ("c3",)
    assert [c.n_columns for c in s.configs] == [4, 3, 2, 2]
    assert [c.final for c in s.configs] == [0.6, 0.3, 0.35, 0.95]
    assert s.full_cost == 4
    assert s.total_cost == 4 + 3 + 2 + 2
    assert (s.best_final, s.worst_final) == (0.3, 0.95)
    # No elapsed times: one simulated second per step unit.
    assert s.configs[0].seconds == (1.0, 1.0, 1.0, 1.0)
    assert s.configs[0].elapsed == (1.0, 2.0, 3.0, 4.0)


def test_stream_costs_follow_sparse_steps_and_elapsed_gaps_are_filled() -> None:
    cs = curves(
        [[1.0, 0.9, 0.8], [1.0, 0.5, 0.4]],
        elapsed=[[10.0, NAN, 30.0], [NAN, NAN, NAN]],
        steps=[10, 20, 30],
    )
    s = Stream.from_curves(cs)
    assert s.configs[0].costs == (10, 10, 10)
    assert s.full_cost == 30
    assert s.configs[0].elapsed == pytest.approx((10.0, 20.0, 30.0))
    # The second config has no times: the stream's median rate (1 s per step unit).
    assert s.configs[1].elapsed == pytest.approx((10.0, 20.0, 30.0))


def test_stream_order_and_maximize() -> None:
    cs = curves([[1.0, 2.0], [3.0, 4.0], [0.0, 9.0]], direction="maximize")
    s = Stream.from_curves(cs, seed=3, order=[2, 0, 1])
    assert [c.config_id for c in s.configs] == ["c2", "c0", "c1"]
    assert (s.best_final, s.worst_final) == (9.0, 2.0)
    assert s.score(9.0) == -9.0


def test_stream_without_finite_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no configuration has a finite value"):
        Stream.from_curves(curves([[INF, NAN]]))


# ------------------------------------------------------------------- budget
@pytest.mark.parametrize(
    ("text", "unit", "amount"),
    [
        (None, "steps", 20 * 52),
        ("20x", "steps", 1040),
        ("0.5x", "steps", 26),
        ("1040", "steps", 1040),
        ("300steps", "steps", 300),
        ("3600s", "seconds", 3600),
        ("1.5S", "seconds", 1.5),
    ],
)
def test_parse_budget(text: str | None, unit: str, amount: float) -> None:
    assert parse_budget(text, 52) == Budget(unit, amount)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "abc", "-3", "0", "20y", "infs", "x"])
def test_parse_budget_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text, 52)


# -------------------------------------------------------------- known answers
@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_no_pruning_spends_exactly_the_streams_steps(workers: int) -> None:
    s = Stream.from_curves(RAGGED)
    run = simulate(s, NoPruningMethod(), budget=Budget("steps", 1000), n_workers=workers)
    assert run.steps_spent == s.total_cost == 11
    assert run.cost[-1] == 11
    assert run.statuses == [Status.COMPLETED] * 4
    assert run.exhausted
    assert sorted(run.started_configs) == [0, 1, 2, 3]


@pytest.mark.parametrize(("budget", "workers"), [(7, 1), (7, 2), (10, 4), (1, 1)])
def test_step_budget_is_never_exceeded(budget: int, workers: int) -> None:
    s = Stream.from_curves(RAGGED)
    run = simulate(s, NoPruningMethod(), budget=Budget("steps", budget), n_workers=workers)
    assert run.steps_spent == budget == sum(run.spent)


def test_oracle_regret_is_zero_at_its_first_completed_trial() -> None:
    cs = curves(
        [
            [0.9, 0.8, 0.75],
            [0.7, 0.6, 0.55],
            [0.6, 0.5, 0.2],  # best final; its early values are not the best
            [0.95, 0.9, 0.9],
        ]
    )
    s = Stream.from_curves(cs)
    run = simulate(s, OracleMethod(), budget=Budget("steps", 12), n_workers=1)
    assert run.started_configs[0] == 2
    assert run.statuses[0] is Status.COMPLETED
    first_done = s.configs[2].full_cost
    assert regret_at(run, [first_done])[0] == 0.0
    assert regret_at(run, [first_done - 1])[0] > 0.0
    # None, in stream order, reaches zero regret only after three full curves.
    none = simulate(s, NoPruningMethod(), budget=Budget("steps", 12))
    assert regret_at(none, [8])[0] > 0.0
    assert regret_at(none, [9])[0] == 0.0


def test_async_decisions_follow_simulated_time_with_deterministic_ties() -> None:
    # c0: 3 s per step, c1: 1 s per step, c2: 2 s per step; two workers.
    cs = curves(
        [[1.0, 0.9, 0.8], [0.7, 0.6, 0.5], [0.4, 0.3, 0.2]],
        elapsed=[[3, 6, 9], [1, 2, 3], [2, 4, 6]],
    )
    s = Stream.from_curves(cs)
    rec = Recorder()
    simulate(s, rec, budget=Budget("steps", 100), n_workers=2)
    times = [e[0] for e in rec.events]
    assert times == sorted(times)
    assert rec.events == [
        (1.0, "c1", 0),
        (2.0, "c1", 1),
        (3.0, "c0", 0),  # worker 0 at t=3 before worker 1 at t=3 (tie -> worker index)
        (3.0, "c1", 2),
        (5.0, "c2", 0),
        (6.0, "c0", 1),
        (7.0, "c2", 1),
        (9.0, "c0", 2),
        (9.0, "c2", 2),
    ]
    rec2 = Recorder()
    simulate(s, rec2, budget=Budget("steps", 100), n_workers=2)
    assert rec2.events == rec.events


def test_seconds_budget_hides_steps_finishing_later() -> None:
    cs = curves([[1.0, 0.9, 0.8], [0.7, 0.6, 0.5]], elapsed=[[2, 4, 6], [2, 4, 6]])
    s = Stream.from_curves(cs)
    rec = Recorder()
    run = simulate(s, rec, budget=Budget("seconds", 5.0), n_workers=1)
    assert [e[0] for e in rec.events] == [2.0, 4.0]
    assert run.steps_spent == 2
    assert run.statuses == [Status.CUT]


def test_stopping_at_first_step_starts_one_config_per_step() -> None:
    cs = curves([[1.0 - i / 100, 0.5, 0.4] for i in range(20)])
    s = Stream.from_curves(cs)
    run = simulate(s, Recorder(stop_after=1), budget=Budget("steps", 8), n_workers=3)
    assert len(run.statuses) == 8
    assert run.statuses == [Status.STOPPED] * 8
    assert run.steps_spent == 8
    assert not run.exhausted


def test_stop_at_the_last_step_is_not_an_early_stop() -> None:
    s = Stream.from_curves(curves([[1.0, 0.9]]))
    run = simulate(s, Recorder(stop_after=2), budget=Budget("steps", 10))
    assert run.statuses == [Status.STOPPED_AT_END]


class PauseThenResume(Method):
    """Pauses every trial after its first step; resumes them best first afterwards."""

    name = "pause_resume"

    def bind(self, sim: Simulation) -> None:
        self.sim = sim
        self.first: dict[int, float] = {}
        self.resumed: set[int] = set()

    def next_trial(self) -> NewTrial | Resume | None:
        if self.sim.peek_next_config() is not None:
            return NewTrial()
        waiting = [
            (v, k)
            for k, v in self.first.items()
            if k not in self.resumed and self.sim.trials[k].status is Status.PAUSED
        ]
        if not waiting:
            return None
        key = min(waiting)[1]
        self.resumed.add(key)
        return Resume(key)

    def on_report(self, trial: SimTrial, column: int) -> Action:
        if trial.key in self.resumed:
            return Action.CONTINUE
        self.first[trial.key] = trial.config.values[column]
        return Action.PAUSE


def test_pause_and_resume() -> None:
    cs = curves([[0.9, 0.8], [0.1, 0.05], [0.5, 0.4]])
    s = Stream.from_curves(cs)
    run = simulate(s, PauseThenResume(), budget=Budget("steps", 4))
    # three first steps, then the best paused trial (c1) is trained to its end
    assert run.steps_spent == 4
    assert run.statuses == [Status.PAUSED, Status.COMPLETED, Status.PAUSED]
    run = simulate(s, PauseThenResume(), budget=Budget("steps", 100))
    assert run.statuses == [Status.COMPLETED] * 3
    assert run.steps_spent == 6


class BadResume(Method):
    name = "bad"

    def next_trial(self) -> NewTrial | Resume | None:
        return Resume(0) if hasattr(self, "started") else NewTrial()

    def on_start(self, trial: SimTrial) -> None:
        self.started = True

    def on_report(self, trial: SimTrial, column: int) -> Action:
        return Action.CONTINUE


def test_resuming_a_trial_that_is_not_paused_is_an_error() -> None:
    s = Stream.from_curves(curves([[1.0, 0.9], [0.5, 0.4]]))
    with pytest.raises(ValueError, match="not paused"):
        simulate(s, BadResume(), budget=Budget("steps", 10), n_workers=2)


def test_non_finite_values_are_reported_but_never_the_incumbent() -> None:
    s = Stream.from_curves(curves([[INF, INF, 5.0], [7.0, -INF, 6.0]]))
    rec = Recorder()
    run = simulate(s, rec, budget=Budget("steps", 10))
    assert len(rec.events) == 6
    assert list(run.best) == [INF, INF, 5.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_worker_count_is_validated(bad: object) -> None:
    s = Stream.from_curves(curves([[1.0]]))
    with pytest.raises(ValueError, match="n_workers"):
        simulate(s, NoPruningMethod(), budget=Budget("steps", 1), n_workers=bad)  # type: ignore[arg-type]
