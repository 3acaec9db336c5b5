"""Metrics with hand-computed answers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from hpprune.bench.metrics import (
    CHECKPOINTS,
    GRID_SIZE,
    RunSummary,
    aggregate,
    crossing,
    decision_us_p50,
    discarded_best,
    mean_se,
    normalised_regret,
    regret_at,
    regret_curve,
    speedup,
    steps_saved,
    summarize_runs,
)
from hpprune.bench.simulator import Budget, RunResult, Status

INF = math.inf


def run(
    cost: list[float],
    best: list[float],
    *,
    method: str = "m",
    budget: float = 10,
    unit: str = "steps",
    statuses: list[Status] | None = None,
    spent: list[int] | None = None,
    full: list[int] | None = None,
    finals: list[float] | None = None,
    ns: list[int] | None = None,
) -> RunResult:
    statuses = statuses or [Status.COMPLETED]
    return RunResult(
        method=method,
        task="t",
        seed=0,
        workers=1,
        budget=Budget(unit, budget),  # type: ignore[arg-type]
        cost=np.asarray(cost, dtype=float),
        time=np.asarray(cost, dtype=float) * 2.0,
        best=np.asarray(best, dtype=float),
        best_final=0.0,
        worst_final=1.0,
        statuses=statuses,
        started_configs=list(range(len(statuses))),
        spent=spent or [int(cost[-1]) if cost else 0],
        full_costs=full or [int(cost[-1]) if cost else 0],
        finals=finals or [0.0] * len(statuses),
        decision_ns=np.asarray(ns or [], dtype=np.int64),
        exhausted=False,
        sim_seconds=cost[-1] * 2.0 if cost else 0.0,
        steps_spent=int(cost[-1]) if cost else 0,
    )


@pytest.mark.parametrize(
    ("best", "bf", "wf", "expected"),
    [
        ([INF, 1.0, 0.5, 0.0], 0.0, 1.0, [1.0, 1.0, 0.5, 0.0]),
        ([2.0, -1.0], 0.0, 1.0, [1.0, 0.0]),  # clipped to [0, 1]
        ([-5.0, -7.5, -10.0], -10.0, -5.0, [1.0, 0.5, 0.0]),  # canonical maximise
        ([1.0, 0.5], 0.5, 0.5, [1.0, 0.0]),  # best == worst
        ([math.nan], 0.0, 1.0, [1.0]),
    ],
)
def test_normalised_regret(best: list[float], bf: float, wf: float, expected: list[float]) -> None:
    assert normalised_regret(best, bf, wf).tolist() == expected


def test_regret_at_steps_and_seconds() -> None:
    r = run([1, 2, 3, 4], [0.8, 0.8, 0.4, 0.1], budget=4)
    assert regret_at(r, [0, 0.5, 1, 2.9, 3, 4, 100]).tolist() == [1.0, 1.0, 0.8, 0.8, 0.4, 0.1, 0.1]
    rs = run([1, 2, 3, 4], [0.8, 0.8, 0.4, 0.1], budget=8, unit="seconds")
    assert regret_at(rs, [2, 5.9, 6]).tolist() == [0.8, 0.8, 0.4]
    curve = regret_curve(r)
    assert curve.shape == (GRID_SIZE + 1,)
    assert curve[0] == 1.0 and curve[-1] == pytest.approx(0.1)
    assert crossing(r, 0.4) == 3.0
    assert crossing(r, 0.0) is None


@pytest.mark.parametrize(
    ("ref", "cur", "expected"),
    [
        ([1, 0.5, 0.5, 0.2, 0.2], [1, 0.2, 0.1, 0.1, 0.1], 3.0),  # ref reaches 0.2 at x=.75
        ([1, 0.5, 0.5, 0.2, 0.2], [1, 0.5, 0.5, 0.3, 0.3], None),
        ([1, 0.5, 0.5, 0.2, 0.2], [1, 0.5, 0.5, 0.2, 0.2], 1.0),
        ([1, 1, 1, 1, 0.5], [1, 1, 0.4, 0.4, 0.4], 2.0),
        ([0.2, 0.2], [0.2, 0.1], None),  # reached at budget 0: undefined
    ],
)
def test_speedup(ref: list[float], cur: list[float], expected: float | None) -> None:
    got = speedup(ref, cur)
    assert got == (None if expected is None else pytest.approx(expected))


def test_discarded_best_steps_saved_and_decision_cost() -> None:
    r = run(
        [1, 2, 3, 4, 5, 6],
        [0.5] * 6,
        statuses=[Status.COMPLETED, Status.STOPPED, Status.STOPPED_AT_END, Status.CUT],
        spent=[3, 1, 1, 1],
        full=[3, 10, 1, 4],
        finals=[0.4, 0.1, 0.3, math.nan],
        ns=[1000, 3000, 2000],
    )
    assert discarded_best(r) is True  # the best final (0.1) was stopped at step 1 of 10
    # saved 9 steps (the STOPPED trial only); trained 6
    assert steps_saved(r) == pytest.approx(9 / 15)
    assert decision_us_p50(r) == 2.0
    r.finals = [0.05, 0.1, 0.3, math.nan]
    assert discarded_best(r) is False
    r.finals = [math.nan] * 4
    assert discarded_best(r) is None
    assert math.isnan(decision_us_p50(run([1], [1.0])))


def test_mean_se() -> None:
    m, se, n = mean_se([1.0, 2.0, 3.0, None, math.nan])
    assert (m, n) == (2.0, 3)
    assert se == pytest.approx(1 / math.sqrt(3))
    assert mean_se([4.0]) == (4.0, 0.0, 1)
    m, se, n = mean_se([])
    assert math.isnan(m) and n == 0


def test_summarize_runs_speedup_against_none() -> None:
    none = run([1, 2, 3, 4, 5, 6, 7, 8], [0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.2], method="none")
    fast = run([1, 2, 3, 4, 5, 6, 7, 8], [0.9, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], method="fast")
    slow = run([1, 2, 3, 4, 5, 6, 7, 8], [0.9] * 8, method="slow")
    s_none, s_fast, s_slow = summarize_runs([none, fast, slow])
    assert s_none.speedup == 1.0
    assert s_fast.speedup == pytest.approx(7 / 2)
    assert s_slow.speedup is None
    assert set(s_fast.regret_at) == {str(f) for f in CHECKPOINTS}
    assert s_fast.regret_at["0.1"] == 0.9  # 10 % of 10 steps = 1 step
    assert s_fast.regret_at["1.0"] == 0.1


def summary(method: str, task: str, seed: int, final: float, **kw: Any) -> RunSummary:
    curve = np.linspace(1.0, final, GRID_SIZE + 1)
    return RunSummary(
        method=method,
        task=task,
        seed=seed,
        workers=kw.get("workers", 1),
        curve=curve,
        regret_at={str(f): float(curve[int(f * GRID_SIZE)]) for f in CHECKPOINTS},
        speedup=kw.get("speedup"),
        discarded_best=kw.get("discarded", False),
        steps_saved=kw.get("saved", 0.0),
        decision_us_p50=kw.get("us", 1.0),
        n_started=10,
        n_stopped=0,
        n_completed=10,
        exhausted=False,
        budget_amount=100,
        sim_seconds=50.0,
        steps=100,
    )


def test_aggregate_means_errors_and_ranks() -> None:
    rows = []
    for task in ("a", "b"):
        for seed, (fn, fg) in enumerate([(0.5, 0.1), (0.3, 0.3)]):
            rows.append(summary("none", task, seed, fn, speedup=1.0))
            rows.append(summary("good", task, seed, fg, discarded=seed == 0, saved=0.5))
    out = aggregate(rows, ["good", "none"])
    assert list(out) == ["good@w1", "none@w1"]
    g, n = out["good@w1"], out["none@w1"]
    assert g["final_regret"] == pytest.approx(0.2)
    assert g["final_regret_se"] == pytest.approx(math.sqrt(2 * 0.1**2) / 2)
    assert n["final_regret"] == pytest.approx(0.4)
    assert g["p_discard_best"] == pytest.approx(0.5)
    assert g["steps_saved"] == pytest.approx(0.5)
    assert g["mean_rank"] == 1.0 and n["mean_rank"] == 2.0
    assert n["speedup"] == 1.0
    assert g["speedup"] is not None and g["speedup"] > 1.0
    assert set(g["regret_at"]) == {"0.1", "0.25", "0.5", "1.0"}
    assert set(g["per_task"]) == {"a", "b"}
    assert g["per_task"]["a"]["n_seeds"] == 2
    assert len(g["regret_curve"]["regret"]) == 101
    assert g["n_runs"] == 4


def test_aggregate_keeps_worker_settings_apart() -> None:
    rows = [
        summary("none", "a", 0, 0.5, workers=1),
        summary("none", "a", 0, 0.2, workers=4),
    ]
    out = aggregate(rows, ["none"])
    assert out["none@w1"]["final_regret"] == pytest.approx(0.5)
    assert out["none@w4"]["final_regret"] == pytest.approx(0.2)
