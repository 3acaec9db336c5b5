"""Benchmark metrics: normalised regret, speedup, discards, savings, decision cost.

Definitions (all computed per run, i.e. per method x task x seed x worker setting):

* **Incumbent** — the best value observed so far (any trial, any step; finite
  values only).
* **Normalised regret** — ``(incumbent - best_final) / (worst_final - best_final)``
  on the canonical (lower is better) scale, where best/worst final are taken over
  every configuration of the stream; clipped to [0, 1]; 1 before the first
  finite value. Budget fractions are of the run's budget (steps or seconds).
* **Speedup** — B_none / B_method, where B_none is the budget at which ``none``
  (no pruning, same workers) first reaches its own final regret and B_method
  the budget at which the method first reaches that same regret; None if it
  never does within the budget. For aggregates this is computed on the mean
  regret curves (over seeds; over tasks, the mean of the per-task mean curves).
* **p_discard_best** — whether the best configuration (by final value) among
  those the method started was stopped before its last step or left paused at
  the end of the run (a paused trial was not trained to its end either).
* **steps_saved** — steps not trained because trials were stopped early or
  left paused, as a fraction of (steps trained + steps saved).
* **decision_us_p50** — median wall-clock microseconds of one method decision.

Aggregates are mean ± standard error over seeds per task; over tasks, the mean
of the task means with the standard errors combined; ``mean_rank`` ranks the
methods of one worker setting by the area under their mean regret curve on each
task (1 = best, ties averaged) and averages over tasks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hpprune.bench.simulator import RunResult, Status

__all__ = [
    "CHECKPOINTS",
    "GRID_SIZE",
    "RunSummary",
    "aggregate",
    "crossing",
    "decision_us_p50",
    "discarded_best",
    "mean_se",
    "normalised_regret",
    "regret_at",
    "regret_curve",
    "speedup",
    "steps_saved",
    "summarize_runs",
]

CHECKPOINTS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
"""Budget fractions at which regret is reported."""

GRID_SIZE = 1000
"""Number of intervals of the budget grid used for mean curves."""

_EPS = 1e-12


def normalised_regret(
    best: npt.ArrayLike, best_final: float, worst_final: float
) -> npt.NDArray[np.float64]:
    """Normalised regret of canonical incumbent scores.

    Args:
        best: Canonical best-so-far scores (inf = nothing observed yet).
        best_final: Best canonical final score of the stream.
        worst_final: Worst canonical final score of the stream.

    Returns:
        Regret in [0, 1] (1 for inf/NaN incumbents). When best and worst final
        are equal, regret is 0 once the incumbent reaches them, else 1.
    """
    b = np.asarray(best, dtype=np.float64)
    span = worst_final - best_final
    r = (b - best_final) / span if span > 0 else np.where(b <= best_final, 0.0, 1.0)
    r = np.where(np.isfinite(b), r, 1.0)
    return np.clip(r, 0.0, 1.0)


def _axis(run: RunResult) -> npt.NDArray[np.float64]:
    return run.cost if run.budget.unit == "steps" else run.time


def regret_at(run: RunResult, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Regret of a run at budget amounts ``x`` (steps or seconds, the run's unit).

    Args:
        run: A run.
        x: Budget amounts.

    Returns:
        The regret of the incumbent known after every step that finished within
        ``x`` (1 before the first).
    """
    xs = np.asarray(x, dtype=np.float64)
    reg = normalised_regret(run.best, run.best_final, run.worst_final)
    idx = np.searchsorted(_axis(run), xs * (1 + 1e-12) + _EPS, side="right") - 1
    return np.where(idx >= 0, reg[np.maximum(idx, 0)], 1.0)


def regret_curve(run: RunResult, grid_size: int = GRID_SIZE) -> npt.NDArray[np.float64]:
    """Regret at budget fractions ``0, 1/grid_size, ..., 1``."""
    fractions = np.linspace(0.0, 1.0, grid_size + 1)
    return regret_at(run, fractions * run.budget.amount)


def crossing(run: RunResult, target: float) -> float | None:
    """Smallest budget amount at which the run's regret is <= ``target``.

    Returns:
        The amount (steps or seconds), or None if the run never gets there.
    """
    reg = normalised_regret(run.best, run.best_final, run.worst_final)
    hit = np.nonzero(reg <= target + 1e-9)[0]
    return float(_axis(run)[hit[0]]) if hit.size else None


def speedup(
    reference: npt.ArrayLike, curve: npt.ArrayLike, xs: npt.ArrayLike | None = None
) -> float | None:
    """Speedup of ``curve`` over ``reference`` (regret curves on the same budget grid).

    Args:
        reference: Regret curve of no pruning.
        curve: Regret curve of the method.
        xs: Budget amount of each grid point (default: ``0..1`` evenly spaced).

    Returns:
        ``x_ref / x_method`` where each is the first grid point at which the
        curve reaches the reference's final regret; None if the method never
        does (or reaches it at budget 0).
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(curve, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, ref.size) if xs is None else np.asarray(xs, dtype=np.float64)
    target = ref[-1] + 1e-9
    i_ref = int(np.argmax(ref <= target))
    hits = np.nonzero(cur <= target)[0]
    if not hits.size or grid[hits[0]] <= 0:
        return None
    return float(grid[i_ref] / grid[hits[0]])


_NOT_TRAINED_TO_END = (Status.STOPPED, Status.PAUSED)
"""Statuses of a trial the method gave up before its last step (a paused trial may never resume)."""


def discarded_best(run: RunResult) -> bool | None:
    """Whether the run stopped (or left paused) its best started configuration before its end.

    Returns:
        None if no started configuration has a finite final value.
    """
    finals = np.asarray(run.finals, dtype=np.float64)
    if not np.isfinite(finals).any():
        return None
    best = int(np.nanargmin(finals))
    return run.statuses[best] in _NOT_TRAINED_TO_END


def steps_saved(run: RunResult) -> float:
    """Fraction of steps saved by early stops (see module docstring)."""
    saved = sum(
        full - spent
        for status, full, spent in zip(run.statuses, run.full_costs, run.spent, strict=True)
        if status in _NOT_TRAINED_TO_END
    )
    total = run.steps_spent + saved
    return saved / total if total else 0.0


def decision_us_p50(run: RunResult) -> float:
    """Median microseconds per decision (NaN without decisions)."""
    if run.decision_ns.size == 0:
        return math.nan
    return float(np.median(run.decision_ns)) / 1000.0


@dataclass
class RunSummary:
    """Per-run numbers kept for aggregation (small and picklable).

    Attributes:
        method: Method name.
        task: Task.
        seed: Seed.
        workers: Worker count.
        curve: Regret on the budget-fraction grid (``GRID_SIZE + 1`` points).
        regret_at: Regret at :data:`CHECKPOINTS`.
        speedup: Per-run speedup over ``none`` (None if never reached).
        discarded_best: See :func:`discarded_best`.
        steps_saved: See :func:`steps_saved`.
        decision_us_p50: See :func:`decision_us_p50`.
        n_started: Trials started.
        n_stopped: Trials stopped before their last step.
        n_completed: Trials trained to their last step.
        exhausted: The stream ran out of configurations.
        budget_amount: Budget of the run.
        sim_seconds: Simulated seconds at the end.
        steps: Steps trained.
    """

    method: str
    task: str
    seed: int
    workers: int
    curve: npt.NDArray[np.float64]
    regret_at: dict[str, float]
    speedup: float | None
    discarded_best: bool | None
    steps_saved: float
    decision_us_p50: float
    n_started: int
    n_stopped: int
    n_completed: int
    exhausted: bool
    budget_amount: float
    sim_seconds: float
    steps: int


def summarize_runs(runs: Sequence[RunResult], reference: str = "none") -> list[RunSummary]:
    """Summarise the runs of several methods on one stream and one worker setting.

    Args:
        runs: Runs sharing task, seed and worker count; one should be ``reference``.
        reference: The method speedups are measured against.

    Returns:
        One summary per run, in the same order.
    """
    ref = next((r for r in runs if r.method == reference), None)
    target: float | None = None
    ref_x: float | None = None
    if ref is not None:
        target = float(regret_at(ref, [ref.budget.amount])[0])
        ref_x = crossing(ref, target)
    out = []
    for run in runs:
        s: float | None = None
        if target is not None and ref_x is not None:
            x = crossing(run, target)
            s = ref_x / x if x is not None and x > 0 else None
        points = regret_at(run, [f * run.budget.amount for f in CHECKPOINTS])
        out.append(
            RunSummary(
                method=run.method,
                task=run.task,
                seed=run.seed,
                workers=run.workers,
                curve=regret_curve(run),
                regret_at={_key(f): float(v) for f, v in zip(CHECKPOINTS, points, strict=True)},
                speedup=s,
                discarded_best=discarded_best(run),
                steps_saved=steps_saved(run),
                decision_us_p50=decision_us_p50(run),
                n_started=len(run.statuses),
                n_stopped=sum(st is Status.STOPPED for st in run.statuses),
                n_completed=sum(
                    st in (Status.COMPLETED, Status.STOPPED_AT_END) for st in run.statuses
                ),
                exhausted=run.exhausted,
                budget_amount=run.budget.amount,
                sim_seconds=run.sim_seconds,
                steps=run.steps_spent,
            )
        )
    return out


def _key(f: float) -> str:
    return str(f)


def mean_se(values: Iterable[float | None]) -> tuple[float, float, int]:
    """Mean, standard error and count of the finite values (None/NaN skipped).

    Returns:
        ``(mean, se, n)``; mean is NaN when n == 0, se is 0 when n == 1.
    """
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, 0
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return float(arr.mean()), se, int(arr.size)


def _combine(per_task: Sequence[tuple[float, float, int]]) -> tuple[float, float]:
    """Mean of task means and the propagated standard error."""
    valid = [(m, s) for m, s, n in per_task if n > 0]
    if not valid:
        return math.nan, math.nan
    means = [m for m, _ in valid]
    se = math.sqrt(sum(s * s for _, s in valid)) / len(valid)
    return float(np.mean(means)), se


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _metrics(
    rows: Sequence[RunSummary], ref_curve: npt.NDArray[np.float64] | None
) -> dict[str, Any]:
    """Per-task block: mean ± SE over seeds."""
    curve = np.mean([r.curve for r in rows], axis=0)
    out: dict[str, Any] = {}
    sp = speedup(ref_curve, curve) if ref_curve is not None else None
    out["speedup"] = sp
    reached = [r.speedup for r in rows]
    out["speedup_reached"] = float(np.mean([s is not None for s in reached]))
    m, _, _ = mean_se(math.log(s) for s in reached if s is not None)
    out["speedup_seed_geomean"] = _clean(math.exp(m)) if not math.isnan(m) else None
    stats: dict[str, tuple[float, float, int]] = {}
    for f in CHECKPOINTS:
        stats[f"regret_at:{_key(f)}"] = mean_se(r.regret_at[_key(f)] for r in rows)
    stats["p_discard_best"] = mean_se(
        float(r.discarded_best) for r in rows if r.discarded_best is not None
    )
    stats["steps_saved"] = mean_se(r.steps_saved for r in rows)
    stats["decision_us_p50"] = mean_se(r.decision_us_p50 for r in rows)
    stats["trials_started"] = mean_se(float(r.n_started) for r in rows)
    stats["trials_stopped"] = mean_se(float(r.n_stopped) for r in rows)
    stats["trials_completed"] = mean_se(float(r.n_completed) for r in rows)
    stats["sim_seconds"] = mean_se(r.sim_seconds for r in rows)
    _fill(out, stats)
    out["n_seeds"] = len(rows)
    out["stream_exhausted"] = int(sum(r.exhausted for r in rows))
    out["auc"] = float(np.mean(curve))
    out["_curve"] = curve
    out["_stats"] = stats
    return out


def _fill(out: dict[str, Any], stats: Mapping[str, tuple[float, float, int]]) -> None:
    out["final_regret"] = _clean(stats["regret_at:1.0"][0])
    out["final_regret_se"] = _clean(stats["regret_at:1.0"][1])
    out["regret_at"] = {_key(f): _clean(stats[f"regret_at:{_key(f)}"][0]) for f in CHECKPOINTS}
    out["regret_at_se"] = {_key(f): _clean(stats[f"regret_at:{_key(f)}"][1]) for f in CHECKPOINTS}
    for name in (
        "p_discard_best",
        "steps_saved",
        "decision_us_p50",
        "trials_started",
        "trials_stopped",
        "trials_completed",
        "sim_seconds",
    ):
        out[name] = _clean(stats[name][0])
        out[f"{name}_se"] = _clean(stats[name][1])


def _downsample(curve: npt.NDArray[np.float64], points: int = 101) -> list[float]:
    idx = np.linspace(0, curve.size - 1, points).round().astype(int)
    return [round(float(v), 6) for v in curve[idx]]


def aggregate(
    summaries: Iterable[RunSummary], method_order: Sequence[str], reference: str = "none"
) -> dict[str, dict[str, Any]]:
    """Aggregate run summaries into the ``methods`` block of ``results.json``.

    Args:
        summaries: Summaries of every run.
        method_order: Method names in the order to list them.
        reference: The no-pruning method used for speedups.

    Returns:
        ``{"<method>@w<N>": {...}}`` with the fields of the issue (``speedup``,
        ``final_regret``, ``regret_at``, ``p_discard_best``, ``steps_saved``,
        ``decision_us_p50``) plus standard errors, ``mean_rank``, ``per_task`` and
        a downsampled mean ``regret_curve``.
    """
    groups: dict[tuple[str, int, str], list[RunSummary]] = defaultdict(list)
    for s in summaries:
        groups[(s.method, s.workers, s.task)].append(s)
    workers = sorted({w for _, w, _ in groups})
    tasks = sorted({t for _, _, t in groups})
    result: dict[str, dict[str, Any]] = {}
    for w in workers:
        per_task: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for t in tasks:
            ref_rows = groups.get((reference, w, t))
            ref_curve = np.mean([r.curve for r in ref_rows], axis=0) if ref_rows else None
            for m in method_order:
                rows = groups.get((m, w, t))
                if rows:
                    per_task[m][t] = _metrics(sorted(rows, key=lambda r: r.seed), ref_curve)
        ranks = _mean_ranks(per_task, tasks)
        ref_tasks = per_task.get(reference, {})
        ref_grand = (
            np.mean([b["_curve"] for b in ref_tasks.values()], axis=0) if ref_tasks else None
        )
        for m in method_order:
            blocks = per_task.get(m)
            if not blocks:
                continue
            grand = np.mean([b["_curve"] for b in blocks.values()], axis=0)
            entry: dict[str, Any] = {"method": m, "workers": w}
            entry["speedup"] = speedup(ref_grand, grand) if ref_grand is not None else None
            keys = blocks[next(iter(blocks))]["_stats"].keys()
            combined = {k: (*_combine([b["_stats"][k] for b in blocks.values()]), 1) for k in keys}
            _fill(entry, combined)
            reached = [b["speedup_reached"] for b in blocks.values()]
            entry["speedup_reached"] = float(np.mean(reached))
            entry["mean_rank"] = ranks.get(m)
            entry["n_tasks"] = len(blocks)
            entry["n_runs"] = int(sum(b["n_seeds"] for b in blocks.values()))
            entry["stream_exhausted"] = int(sum(b["stream_exhausted"] for b in blocks.values()))
            entry["regret_curve"] = {
                "budget_fraction": [round(float(x), 4) for x in np.linspace(0, 1, 101)],
                "regret": _downsample(grand),
            }
            entry["per_task"] = {
                t: {k: v for k, v in b.items() if not k.startswith("_")} for t, b in blocks.items()
            }
            result[f"{m}@w{w}"] = entry
    return result


def _mean_ranks(
    per_task: Mapping[str, Mapping[str, Mapping[str, Any]]], tasks: Sequence[str]
) -> dict[str, float]:
    from scipy.stats import rankdata

    ranks: dict[str, list[float]] = defaultdict(list)
    for t in tasks:
        names = [m for m in per_task if t in per_task[m]]
        if not names:
            continue
        aucs = [per_task[m][t]["auc"] for m in names]
        for m, r in zip(names, rankdata(aucs, method="average"), strict=True):
            ranks[m].append(float(r))
    return {m: float(np.mean(v)) for m, v in ranks.items()}
