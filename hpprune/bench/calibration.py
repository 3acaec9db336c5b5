"""Calibration, model selection, latency and discard benchmark of the BayesianPruner.

Run ``python -m hpprune.bench.calibration`` (add ``--quick`` for a small run):

* ``--heldout`` (default): reliability table (10 bins) and ECE of ``p_improve`` on
  held-out curves, with the probability integral transform (PIT) error of the
  whole predictive distribution, on the LCBench surrogate and on real
  scikit-learn training curves. Protocol: for each task and replicate, a fresh
  random sample of configurations is split into ``n_peers`` completed peers and
  held-out curves; every held-out curve is reported step by step into an
  :class:`~hpprune.engine.Engine` and, at each evaluation step,
  :meth:`BayesianPruner.predict` gives ``p_improve = P(final > best peer final)``;
  the outcome is whether the held-out curve's true final value is strictly
  better than that incumbent.
* ``--inloop``: the same calibration measured inside real pruning runs
  (sequential search, the pruner deciding), where the peers are the survivors
  of pruning; outcomes come from the full surrogate curves.
* ``--compare``: the model selection: the shipped model against the
  alternatives (conjugate homoscedastic regression, last value + peer
  residuals, log-linear extrapolation + peer residuals) by log score, CRPS,
  ECE and PIT error on held-out curves of the development tasks.
* ``--latency``: decision time (``policy.decide``) at 1,000 trials.
* ``--discard``: LCBench tasks 167168, 189873, 189906, 10 seeds, a shared
  random stream of 100 configurations per seed, sequential, 52 epochs unless
  stopped: how often each pruner stops the eventual best configuration, how
  many trials it stops and how many epochs it trains.

Results are printed as Markdown tables. The model constants were chosen on
the LCBench development tasks (all but 167168, 189873, 189906), so the
numbers for those three tasks are held out.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from hpprune.audit.calibration_view import reliability_bins
from hpprune.bench.sources import CurveSet
from hpprune.engine import Engine
from hpprune.pruners import _curve_model as cm
from hpprune.pruners.base import NoPruning, Policy
from hpprune.pruners.percentile import MedianPruner
from hpprune.pruners.posterior import BayesianPruner

__all__ = [
    "BENCH_TASKS",
    "DiscardResult",
    "Reliability",
    "compare_models",
    "discard_benchmark",
    "heldout_records",
    "inloop_records",
    "latency",
    "main",
    "reliability",
]

FloatArray = npt.NDArray[np.float64]

BENCH_TASKS: tuple[str, ...] = ("167168", "189873", "189906")
"""LCBench tasks of the discard benchmark (held out from model development)."""

DEV_TASKS: tuple[str, ...] = ("126026", "167104", "167181", "168330", "168910", "189866")
"""LCBench development tasks used for the model comparison."""

SKLEARN_TASKS: tuple[str, ...] = ("digits-sgd", "digits-mlp", "breast_cancer-mlp")
"""scikit-learn tasks (120 configurations x 20 epochs each, cached after the first run)."""

LCBENCH_EVAL_STEPS: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 20, 30, 40, 51)
SKLEARN_EVAL_STEPS: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 16, 19)


# --------------------------------------------------------------- reliability
@dataclass(frozen=True)
class Reliability:
    """Reliability table of probabilities against binary outcomes.

    Attributes:
        bins: ``(low, high, count, mean_p, frequency)`` per bin (10 equal-width bins).
        ece: Expected calibration error, ``sum_b count_b/n * |mean_p_b - frequency_b|``.
        n: Number of predictions.
        brier: Mean squared error of the probabilities.
    """

    bins: tuple[tuple[float, float, int, float, float], ...]
    ece: float
    n: int
    brier: float

    def markdown(self) -> str:
        """The table as Markdown."""
        lines = ["| p bin | n | mean p | observed |", "|---|---:|---:|---:|"]
        for lo, hi, n, mp, fr in self.bins:
            if n:
                lines.append(f"| {lo:.1f}-{hi:.1f} | {n} | {mp:.3f} | {fr:.3f} |")
        lines.append(f"\nECE = {self.ece:.4f} (n = {self.n}, Brier = {self.brier:.4f})")
        return "\n".join(lines)


def reliability(p: FloatArray, outcome: FloatArray, n_bins: int = 10) -> Reliability:
    """Reliability table and ECE of probabilities ``p`` for 0/1 ``outcome``.

    Args:
        p: Predicted probabilities in [0, 1] (NaN entries are dropped).
        outcome: Observed outcomes (0 or 1), same shape.
        n_bins: Number of equal-width bins.

    Returns:
        The table.
    """
    keep = np.isfinite(p)
    p, outcome = p[keep], outcome[keep].astype(float)
    bins, ece, brier = reliability_bins(p.tolist(), outcome.tolist(), n_bins)
    if not len(p):
        ece = 0.0
    return Reliability(bins, ece, len(p), brier)


def pit_error(pit: FloatArray) -> float:
    """Mean absolute gap between nominal and observed PIT levels 0.05, 0.10, ..., 0.95."""
    levels = np.linspace(0.05, 0.95, 19)
    return float(np.mean([abs(np.mean(pit <= q) - q) for q in levels]))


# ------------------------------------------------------------ curve sources
def _lcbench(task: str, n: int, seed: int) -> CurveSet:
    from hpprune.bench.lcbench import lcbench_curves

    return lcbench_curves(task, n, seed)


def _sklearn(task: str) -> CurveSet:
    from hpprune.bench.sklearn_curves import sklearn_curves

    return sklearn_curves(task, 120, 0, 20)


def _lcbench_rep(task: str, rep: int) -> CurveSet:
    """A fresh held-out sample of 300 configurations for replicate ``rep``."""
    return _lcbench(task, 300, 1000 + rep)


def _sklearn_rep(task: str, rep: int) -> CurveSet:
    """The cached scikit-learn curves (a single replicate)."""
    del rep
    return _sklearn(task)


# ---------------------------------------------------------- held-out records
@dataclass
class Records:
    """Per-prediction records: step, p_improve (recalibrated, raw), outcome, tie, PIT, log pdf."""

    step: list[int] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    p_raw: list[float] = field(default_factory=list)
    outcome: list[float] = field(default_factory=list)
    tie: list[float] = field(default_factory=list)
    pit: list[float] = field(default_factory=list)
    logpdf: list[float] = field(default_factory=list)

    def extend(self, other: Records) -> None:
        """Append another set of records."""
        self.step += other.step
        self.p += other.p
        self.p_raw += other.p_raw
        self.outcome += other.outcome
        self.tie += other.tie
        self.pit += other.pit
        self.logpdf += other.logpdf

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(p, outcome, pit)`` as arrays."""
        return np.array(self.p), np.array(self.outcome), np.array(self.pit)


def _record(
    out: Records, pred: Any, step: int, final: float, incumbent: float, spread: float
) -> None:
    better = final > incumbent if pred.maximize else final < incumbent
    out.step.append(step)
    out.p.append(pred.p_improve)
    out.p_raw.append(pred.p_improve_raw)
    out.outcome.append(float(better))
    out.tie.append(float(final == incumbent))
    out.pit.append(pred.cdf(final))
    density = stats.t.pdf((final - pred.mean) / pred.scale, pred.dof) / pred.scale
    out.logpdf.append(math.log(max(density * spread, 1e-300)))


def heldout_records(
    curves: CurveSet, n_peers: int, eval_steps: Sequence[int], max_queries: int = 150
) -> Records:
    """Predictions of the shipped pruner for held-out curves (see the module docstring).

    Args:
        curves: Curves of one task; the first ``n_peers`` rows are the completed peers,
            the next ``max_queries`` rows are held out.
        n_peers: Number of completed peers.
        eval_steps: Steps (column values of ``curves.steps``) to predict at.
        max_queries: Most held-out curves used.

    Returns:
        The records (outcome = held-out final strictly better than the best peer final).
    """
    values = curves.values
    steps = [int(s) for s in curves.steps]
    pruner = BayesianPruner()
    engine = Engine(NoPruning(), direction=curves.direction)
    for i in range(n_peers):
        for s, v in zip(steps, values[i], strict=True):
            engine.report(f"p{i}", s, float(v))
        engine.complete(f"p{i}")
    incumbent = engine.study.to_value(engine.study.incumbent())
    spread = float(np.std(values[:n_peers, -1])) or 1.0
    out = Records()
    wanted = set(eval_steps)
    for i in range(n_peers, min(len(values), n_peers + max_queries)):
        tid = f"q{i}"
        final = float(values[i, -1])
        for s, v in zip(steps, values[i], strict=True):
            engine.report(tid, s, float(v))
            if s in wanted:
                pred = pruner.predict(engine.study.trial(tid), engine.study)
                if pred is not None:
                    _record(out, pred, s, final, incumbent, spread)
    return out


def _heldout_table(
    name: str,
    sets: Sequence[tuple[str, Callable[[int], CurveSet]]],
    peers: Sequence[int],
    eval_steps: Sequence[int],
    reps: int,
) -> Records:
    total = Records()
    print(f"\n### {name}: held-out calibration of p_improve\n")
    print("| task | n_peers | n | ECE | ECE, ties count 1/2 | PIT error | mean log score |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task, make in sets:
        for n_peers in peers:
            rec = Records()
            for r in range(reps):
                rec.extend(heldout_records(make(r), n_peers, eval_steps))
            p, y, pit = rec.arrays()
            rel = reliability(p, y)
            half = reliability(p, y + 0.5 * np.array(rec.tie)).ece
            print(
                f"| {task} | {n_peers} | {rel.n} | {rel.ece:.4f} | {half:.4f} "
                f"| {pit_error(pit):.4f} | {np.mean(rec.logpdf):.3f} |"
            )
            total.extend(rec)
    p, y, pit = total.arrays()
    half = reliability(p, y + 0.5 * np.array(total.tie)).ece
    print(
        f"\nAll {name} predictions pooled (PIT error {pit_error(pit):.4f}; ECE with ties "
        f"counted 1/2: {half:.4f}):\n"
    )
    print(reliability(p, y).markdown())
    return total


# ----------------------------------------------------------- in-loop records
def inloop_records(
    curves: CurveSet, policy: BayesianPruner, min_completed: int = 5
) -> tuple[Records, int, bool, int]:
    """Run a sequential search with ``policy`` and record its predictions at every report.

    Args:
        curves: The stream (rows in order).
        policy: The pruner that decides (its predictions are recorded).
        min_completed: Record only once this many trials completed.

    Returns:
        ``(records, n_stopped, best_discarded, epochs)``; the outcome of a
        record is whether the trial's true final value beats the incumbent of
        that moment.
    """
    values = curves.values
    steps = [int(s) for s in curves.steps]
    engine = Engine(policy, direction=curves.direction)
    spread = float(np.std(values[:, -1])) or 1.0
    best = int(
        np.nanargmax(values[:, -1])
        if curves.direction == "maximize"
        else np.nanargmin(values[:, -1])
    )
    out = Records()
    n_stopped = 0
    discarded = False
    epochs = 0
    for i in range(len(values)):
        tid = f"c{i}"
        final = float(values[i, -1])
        stopped = False
        for s, v in zip(steps, values[i], strict=True):
            d = engine.report(tid, s, float(v))
            epochs += 1
            if engine.study.n_completed >= min_completed:
                pred = policy.predict(engine.study.trial(tid), engine.study)
                if pred is not None and pred.incumbent is not None:
                    _record(out, pred, s, final, pred.incumbent, spread)
            if d.stops:
                stopped = True
                break
        if stopped:
            n_stopped += 1
            discarded = discarded or i == best
        else:
            engine.complete(tid)
    return out, n_stopped, discarded, epochs


# ------------------------------------------------------------ model compare
def _features(values: FloatArray, t: int) -> FloatArray:
    """Canonical ``[b, y, d]`` at column ``t`` for every row (columns 0..t reported)."""
    y = values[:, t]
    b = values[:, : t + 1].min(axis=1)
    d = y - values[:, max(0, t - cm.RECENT)]
    return np.stack([b, y, d])


def _kde_cdf(centres: FloatArray, spread: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """CDF of per-query Gaussian mixtures: ``centres`` [q, m], bandwidth per query [q]."""

    def cdf(x: FloatArray) -> FloatArray:
        return np.asarray(
            np.mean(special.ndtr((x[:, None] - centres) / spread[:, None]), axis=1),
            dtype=np.float64,
        )

    return cdf


def _kde_from_residuals(base: FloatArray, resid: FloatArray) -> tuple[Any, Any]:
    m = len(resid)
    h = 1.06 * (float(np.std(resid)) + 1e-9) * m ** (-0.2)
    centres = base[:, None] + resid[None, :]
    bw = np.full(len(base), h)

    def logpdf(x: FloatArray) -> FloatArray:
        dens = np.mean(stats.norm.pdf((x[:, None] - centres) / bw[:, None]), axis=1) / bw
        return np.asarray(np.log(np.maximum(dens, 1e-300)), dtype=np.float64)

    return _kde_cdf(centres, bw), logpdf


def _student(loc: FloatArray, scale: FloatArray, dof: float) -> tuple[Any, Any]:
    def cdf(x: FloatArray) -> FloatArray:
        return np.asarray(special.stdtr(dof, (x - loc) / scale), dtype=np.float64)

    def logpdf(x: FloatArray) -> FloatArray:
        return np.asarray(stats.t.logpdf(x, dof, loc, scale), dtype=np.float64)

    return cdf, logpdf


def _model_shipped(peers: FloatArray, queries: FloatArray, t: int) -> tuple[Any, Any]:
    fp, fq = _features(peers, t), _features(queries, t)
    fit = cm.fit(np.vstack([fp, peers[:, -1]]), np.ones(peers.shape[0]))
    if fit is None:
        raise RuntimeError("degenerate peers")
    locs, scales = zip(*(fit.predict(fq[:, i]) for i in range(fq.shape[1])), strict=True)
    return _student(np.array(locs), np.array(scales), fit.dof)


def _model_conjugate(peers: FloatArray, queries: FloatArray, t: int) -> tuple[Any, Any]:
    """Homoscedastic Normal-Inverse-Gamma regression on the same features."""
    fp, fq = _features(peers, t), _features(queries, t)
    final = peers[:, -1]
    mu, sd = fp[0].mean(), max(fp[0].std(), final.std(), 1e-9)

    def design(f: FloatArray) -> FloatArray:
        return np.stack([np.ones(f.shape[1]), (f[0] - mu) / sd, (f[1] - mu) / sd, f[2] / sd], 1)

    x, xq, y = design(fp), design(fq), (final - mu) / sd
    m0, lam0 = np.array([0.0, 1.0, 0.0, 0.0]), np.eye(4)
    prec = lam0 + x.T @ x
    cov = np.linalg.inv(prec)
    mean = cov @ (lam0 @ m0 + x.T @ y)
    a_n = 1.0 + len(y) / 2
    b_n = 0.25 + 0.5 * (y @ y + m0 @ lam0 @ m0 - mean @ prec @ mean)
    loc = mu + sd * (xq @ mean)
    scale = sd * np.sqrt(b_n / a_n * (1 + np.einsum("ij,jk,ik->i", xq, cov, xq)))
    return _student(loc, scale, 2 * a_n)


def _model_residual(peers: FloatArray, queries: FloatArray, t: int) -> tuple[Any, Any]:
    """Best so far plus the peers' remaining changes ``F - b`` (Gaussian KDE)."""
    bp = peers[:, : t + 1].min(axis=1)
    bq = queries[:, : t + 1].min(axis=1)
    return _kde_from_residuals(bq, peers[:, -1] - bp)


def _loglinear(values: FloatArray, t: int, final_col: int) -> FloatArray:
    """Per-row least-squares line in log(step) over the last half of columns 0..t."""
    lo = t // 2
    s = np.log(np.arange(lo, t + 1) + 1.0)
    if len(s) < 2:
        return values[:, t].copy()
    ys = values[:, lo : t + 1]
    sc = s - s.mean()
    slope = (ys - ys.mean(axis=1, keepdims=True)) @ sc / (sc @ sc)
    return np.asarray(
        ys.mean(axis=1) + slope * (math.log(final_col + 1.0) - s.mean()), dtype=np.float64
    )


def _model_loglinear(peers: FloatArray, queries: FloatArray, t: int) -> tuple[Any, Any]:
    """Own-curve log-linear extrapolation plus the peers' extrapolation errors (KDE)."""
    last = peers.shape[1] - 1
    ep, eq = _loglinear(peers, t, last), _loglinear(queries, t, last)
    return _kde_from_residuals(eq, peers[:, -1] - ep)


MODELS: dict[str, Callable[[FloatArray, FloatArray, int], tuple[Any, Any]]] = {
    "shipped: heteroscedastic Bayesian regression": _model_shipped,
    "conjugate homoscedastic regression": _model_conjugate,
    "best so far + peer residuals": _model_residual,
    "log-linear extrapolation + peer residuals": _model_loglinear,
}


def _crps(
    cdf: Callable[[FloatArray], FloatArray], x: FloatArray, lo: float, hi: float
) -> FloatArray:
    grid = np.linspace(lo, hi, 400)
    dz = grid[1] - grid[0]
    fz = np.stack([cdf(np.full(len(x), g)) for g in grid], axis=1)
    step = (grid[None, :] >= x[:, None]).astype(float)
    return np.asarray(((fz - step) ** 2).sum(axis=1) * dz, dtype=np.float64)


def compare_models(
    tasks: Sequence[str], peers: Sequence[int], reps: int, eval_steps: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Score every model of :data:`MODELS` on held-out LCBench curves.

    Canonical scores (lower is better) are used; the log score and CRPS are
    normalised by the standard deviation of the peers' final scores, so tasks
    with different metric ranges weigh equally.

    Args:
        tasks: LCBench task ids.
        peers: Numbers of completed peers to try.
        reps: Replicates (fresh configuration samples) per task and peer count.
        eval_steps: Epochs to predict at.

    Returns:
        ``{model: {"log_score", "crps", "ece", "pit_error", "n"}}``.
    """
    acc: dict[str, dict[str, list[float]]] = {
        m: {"ll": [], "crps": [], "p": [], "y": [], "pit": []} for m in MODELS
    }
    for task in tasks:
        for r in range(reps):
            cs = _lcbench(task, 300, 2000 + r)
            canon = -cs.values if cs.direction == "maximize" else cs.values
            for n_peers in peers:
                p_rows, q_rows = canon[:n_peers], canon[n_peers : n_peers + 150]
                fq = q_rows[:, -1]
                spread = float(np.std(p_rows[:, -1])) or 1.0
                inc = float(p_rows[:, -1].min())
                lo = float(min(canon[:, -1].min(), canon.min())) - spread
                hi = float(max(canon[:, -1].max(), canon.max())) + spread
                for step in eval_steps:
                    t = int(np.searchsorted(cs.steps, step))
                    for name, model in MODELS.items():
                        cdf, logpdf = model(p_rows, q_rows, t)
                        a = acc[name]
                        a["ll"] += list(logpdf(fq) + math.log(spread))
                        a["crps"] += list(_crps(cdf, fq, lo, hi) / spread)
                        a["p"] += list(cdf(np.full(len(fq), inc)))
                        a["y"] += list((fq < inc).astype(float))
                        a["pit"] += list(cdf(fq))
    out = {}
    for name, a in acc.items():
        p, y = np.array(a["p"]), np.array(a["y"])
        out[name] = {
            "log_score": float(np.mean(a["ll"])),
            "crps": float(np.mean(a["crps"])),
            "ece": reliability(p, y).ece,
            "pit_error": pit_error(np.array(a["pit"])),
            "n": float(len(p)),
        }
    return out


# ---------------------------------------------------------------- latency
def latency(n_trials: int = 1000, n_startup: int = 5, workers: int = 8) -> dict[str, float]:
    """Time ``BayesianPruner.decide`` in a search of ``n_trials`` LCBench trials.

    ``workers`` trials run at once (round robin, one epoch each in turn), so
    completions land between decisions and the pruner's memo is refitted often.
    Decisions made once the study holds at least 90 % of ``n_trials`` trials are
    summarised. ``n_startup`` > ``n_trials / 2`` makes most trials complete, the
    worst case (every decision fits on hundreds of peers).

    Args:
        n_trials: Trials in the study.
        n_startup: ``n_startup_trials`` of the pruner.
        workers: Concurrent trials.

    Returns:
        ``{"p50_us", "p90_us", "p99_us", "n", "completed", "refit_p50_us"}``;
        ``refit_p50_us`` is the time of a decision whose fit is not memoised.
    """
    cs = _lcbench("189906", n_trials, 7)
    values = cs.values
    policy = BayesianPruner(n_startup_trials=n_startup)
    engine = Engine(policy, direction=cs.direction)
    decide = policy.decide
    times: list[tuple[int, int]] = []

    def timed(trial: Any, study: Any) -> Any:
        t0 = time.perf_counter_ns()
        d = decide(trial, study)
        times.append((study.n_trials, time.perf_counter_ns() - t0))
        return d

    policy.decide = timed  # type: ignore[method-assign]
    active: dict[int, int] = {}
    nxt = 0
    n_steps = values.shape[1]
    while nxt < n_trials or active:
        while len(active) < workers and nxt < n_trials:
            active[nxt] = 0
            nxt += 1
        for i in list(active):
            j = active[i]
            d = engine.report(f"t{i}", j + 1, float(values[i, j]))
            if d.stops:
                del active[i]
            elif j + 1 == n_steps:
                engine.complete(f"t{i}")
                del active[i]
            else:
                active[i] = j + 1
    late = np.array([t for n, t in times if n >= 0.9 * n_trials], dtype=float) / 1000.0
    # A decision whose fit is recomputed (memo cleared before each call).
    trial = engine.study.trial(f"t{n_trials - 1}")
    refits = []
    memo = policy._memo(engine.study)
    for _ in range(200):
        memo.fits.clear()
        t0 = time.perf_counter_ns()
        decide(trial, engine.study)
        refits.append(time.perf_counter_ns() - t0)
    return {
        "p50_us": float(np.percentile(late, 50)),
        "p90_us": float(np.percentile(late, 90)),
        "p99_us": float(np.percentile(late, 99)),
        "n": float(len(late)),
        "completed": float(engine.study.n_completed),
        "refit_p50_us": float(np.median(refits)) / 1000.0,
    }


# -------------------------------------------------------- discard benchmark
@dataclass(frozen=True)
class DiscardResult:
    """Totals of one pruner over all tasks and seeds of the discard benchmark.

    Attributes:
        name: Pruner label.
        runs: Number of runs (tasks x seeds).
        discards: Runs in which the eventual best configuration was stopped.
        stopped: Trials stopped, summed over runs.
        epochs: Epochs trained, summed over runs.
        per_run_stops: Stops per run, in task-then-seed order.
    """

    name: str
    runs: int
    discards: int
    stopped: int
    epochs: int
    per_run_stops: tuple[int, ...]


def _run_stream(
    values: FloatArray, steps: Sequence[int], direction: str, policy: Policy
) -> tuple[int, bool, int]:
    engine = Engine(policy, direction=direction)
    final = values[:, -1]
    best = int(np.argmax(final) if direction == "maximize" else np.argmin(final))
    stopped, discarded, epochs = 0, False, 0
    for i in range(len(values)):
        tid = f"c{i}"
        halted = False
        for s, v in zip(steps, values[i], strict=True):
            epochs += 1
            if engine.report(tid, int(s), float(v)).stops:
                halted = True
                break
        if halted:
            stopped += 1
            discarded = discarded or i == best
        else:
            engine.complete(tid)
    return stopped, discarded, epochs


def discard_benchmark(
    pruners: dict[str, Callable[[], Policy]],
    tasks: Sequence[str] = BENCH_TASKS,
    seeds: Sequence[int] = tuple(range(10)),
    n_configs: int = 100,
) -> list[DiscardResult]:
    """Sequential LCBench searches: how often does each pruner stop the eventual best?

    For each task and seed, ``lcbench_curves(task, n_configs, seed)`` is the
    shared configuration stream (same configurations in the same order for
    every pruner); each trial trains up to 52 epochs unless stopped, one trial
    after the other. The eventual best configuration is the one with the best
    value at epoch 52 among the ``n_configs``.

    Args:
        pruners: ``{label: factory}``.
        tasks: LCBench tasks.
        seeds: Stream seeds.
        n_configs: Configurations per stream.

    Returns:
        One result per pruner.
    """
    streams = [(_lcbench(t, n_configs, s)) for t in tasks for s in seeds]
    out = []
    for name, factory in pruners.items():
        stops, discards, epochs = [], 0, 0
        for cs in streams:
            n_stop, lost, n_ep = _run_stream(cs.values, list(cs.steps), cs.direction, factory())
            stops.append(n_stop)
            discards += int(lost)
            epochs += n_ep
        out.append(DiscardResult(name, len(streams), discards, sum(stops), epochs, tuple(stops)))
    return out


def _print_discard(results: list[DiscardResult]) -> None:
    print("\n### Discard benchmark (LCBench 167168, 189873, 189906; 10 seeds x 100 configs)\n")
    print("| pruner | runs | best discarded | discard rate | trials stopped | epochs trained |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.runs} | {r.discards} | {r.discards / r.runs:.1%} | {r.stopped} "
            f"| {r.epochs} |"
        )


# ------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring).

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    ap = argparse.ArgumentParser(prog="python -m hpprune.bench.calibration", description=__doc__)
    ap.add_argument("--heldout", action="store_true", help="held-out calibration (default)")
    ap.add_argument("--inloop", action="store_true", help="calibration inside pruning runs")
    ap.add_argument("--compare", action="store_true", help="model selection table")
    ap.add_argument("--latency", action="store_true", help="decision latency at 1,000 trials")
    ap.add_argument("--discard", action="store_true", help="discard benchmark")
    ap.add_argument("--all", action="store_true", help="everything")
    ap.add_argument("--quick", action="store_true", help="fewer replicates (smoke run)")
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn curves")
    args = ap.parse_args(argv)
    chosen = [args.heldout, args.inloop, args.compare, args.latency, args.discard]
    if args.all:
        chosen = [True] * 5
    elif not any(chosen):
        chosen = [True, False, False, True, False]
    heldout, inloop, compare, lat, discard = chosen
    reps = 1 if args.quick else 3
    seeds = tuple(range(2 if args.quick else 10))

    if heldout:
        _heldout_table(
            "LCBench (held-out tasks)",
            [(t, functools.partial(_lcbench_rep, t)) for t in BENCH_TASKS],
            (10, 30, 100),
            LCBENCH_EVAL_STEPS,
            reps,
        )
        if not args.no_sklearn:
            _heldout_table(
                "scikit-learn",
                [(t, functools.partial(_sklearn_rep, t)) for t in SKLEARN_TASKS],
                (10, 30),
                SKLEARN_EVAL_STEPS,
                1,
            )
    if inloop:
        rec = Records()
        for task in BENCH_TASKS:
            for s in seeds:
                r, *_ = inloop_records(_lcbench(task, 100, s), BayesianPruner(n_warmup_steps=20))
                rec.extend(r)
        p, y, pit = rec.arrays()
        print("\n### In-loop calibration (BayesianPruner(n_warmup_steps=20), benchmark streams)\n")
        print(reliability(p, y).markdown())
        print(f"PIT error = {pit_error(pit):.4f}")
    if compare:
        res = compare_models(DEV_TASKS, (10, 30, 100), 1 if args.quick else 2, LCBENCH_EVAL_STEPS)
        print("\n### Model comparison (LCBench development tasks, held-out curves)\n")
        print("| model | mean log score | CRPS | ECE | PIT error | n |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, m in res.items():
            print(
                f"| {name} | {m['log_score']:.3f} | {m['crps']:.4f} | {m['ece']:.4f} "
                f"| {m['pit_error']:.4f} | {int(m['n'])} |"
            )
    if lat:
        print("\n### Decision latency (policy.decide, microseconds)\n")
        print("| scenario | completed | decisions | p50 | p90 | p99 | refit p50 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, startup in (("pruning from trial 5", 5), ("600 completed first", 600)):
            t = latency(1000, startup)
            print(
                f"| {label} | {int(t['completed'])} | {int(t['n'])} | {t['p50_us']:.1f} "
                f"| {t['p90_us']:.1f} | {t['p99_us']:.1f} | {t['refit_p50_us']:.1f} |"
            )
    if discard:
        pruners: dict[str, Callable[[], Policy]] = {
            "MedianPruner(n_startup_trials=5)": lambda: MedianPruner(n_startup_trials=5),
            "MedianPruner(5, n_warmup_steps=10)": lambda: MedianPruner(5, 10),
            "MedianPruner(5, n_warmup_steps=20)": lambda: MedianPruner(5, 20),
        }
        for w in (0, 10, 15, 20):
            pruners[f"BayesianPruner(n_warmup_steps={w})"] = functools.partial(
                BayesianPruner, n_warmup_steps=w
            )
        _print_discard(discard_benchmark(pruners, seeds=seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
