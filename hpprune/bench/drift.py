"""``hpprune bench drift``: does the pruner follow a study whose behaviour changes?

Each stream starts with :data:`N_PRE` configurations of one kind and continues
with :data:`N_POST` of another:

* ``A>B`` (task switch): the first configurations are LCBench task ``A``
  (``lcbench_curves(A, N_PRE, seed)``), the rest task ``B``
  (``lcbench_curves(B, N_POST, seed)``); the metric's scale and the relation
  between early and final accuracy change.
* ``T`` (control): both parts from task ``T`` (different samples), no change;
  a detection there is a false alarm.
* ``T~slow`` (shape shift): the same task, but after the shift every curve is
  time-warped so that it learns late (value at epoch ``j`` taken from epoch
  ``ceil(j^2 / n)``; the final value is unchanged), so the early epochs look
  worse than before for the same final.

Methods: the static posterior pruner (``hpprune.conservative_policy``, a
:class:`~hpprune.BayesianPruner`) and the drift-aware one (the same pruner with
``drift_detection=`` :data:`DRIFT_LEVEL`: a change in the trials' scores or in
the predictive's residuals restarts the model, its recalibration and the
incumbent from the change); for reference ``hpprune.default_policy`` (the
freeze-thaw default, which ranks trials at rungs and has no posterior) and
``none``.

``regret_after_shift``: mean normalised regret over the budget after the
shift (from the first report of a post-shift configuration to the end of the
budget), where the incumbent is the best value observed on post-shift
configurations and the scale is the post-shift configurations' best and worst
final; ``regret_before_shift`` is the same before the shift on the pre-shift
configurations. Detections are read from the pruner's
:meth:`~hpprune.BayesianPruner.detected_changes` at the end of each run.
Writes ``results.json``, ``summary.md`` and ``regret_after_shift.png``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpprune.bench.metrics import CHECKPOINTS, RunSummary, aggregate, mean_se, summarize_runs
from hpprune.bench.scenario import (
    base_protocol,
    check_common,
    fmt_mean_se,
    run_units,
    save_figure,
    scenario_main,
    scenario_parser,
    write_outputs,
)
from hpprune.bench.simulator import (
    Choice,
    Method,
    SimTrial,
    Simulation,
    Stream,
    parse_budget,
    simulate,
)
from hpprune.bench.sources import CurveSet
from hpprune.pruners.base import Policy
from hpprune.pruners.posterior import BayesianPruner
from hpprune.types import Action

__all__ = ["DRIFT_LEVEL", "STREAMS", "drift_stream", "main", "parse_stream", "run_drift"]

STREAMS: tuple[str, ...] = (
    "126026>167168",
    "168910>189906",
    "167149>168330",
    "189906~slow",
    "189906",
)
"""Default streams: three task switches (down, up, down in accuracy), one shape shift and
one control without a change (``T``: both halves sampled from task ``T``)."""

N_PRE = 40
N_POST = 300
BUDGET = "40x"
DRIFT_LEVEL = 0.01
"""Level of the drift-aware method's change test."""

STATIC = "hpprune.conservative"
DRIFT = "hpprune.conservative_drift"
DEFAULT = "hpprune.default"
NONE = "none"
_GRID = 200


def _static_pruner(max_step: int) -> BayesianPruner:
    from hpprune.defaults import conservative_policy

    policy = conservative_policy(max_step)
    if not isinstance(policy, BayesianPruner):
        raise TypeError("conservative_policy() is expected to be a BayesianPruner")
    return policy


def _default_policy(max_step: int) -> Policy:
    import hpprune

    return hpprune.default_policy(max_step)


def _drift_pruner(max_step: int) -> BayesianPruner:
    params = _static_pruner(max_step).params()
    params["drift_detection"] = DRIFT_LEVEL
    return BayesianPruner(**params)


def _slow(values: np.ndarray) -> np.ndarray:
    n = values.shape[1]
    idx = np.array([max(0, math.ceil((j + 1) ** 2 / n) - 1) for j in range(n)])
    return np.asarray(values[:, idx], dtype=np.float64)


def drift_stream(name: str, seed: int, data_dir: str | None = None) -> tuple[CurveSet, int]:
    """The curves of one drift stream and the index of its first post-shift configuration.

    Args:
        name: ``"A>B"`` (task switch) or ``"T~slow"`` (shape shift), LCBench ids.
        seed: Stream seed.
        data_dir: LCBench surrogate directory.

    Returns:
        ``(curves, n_pre)``.

    Raises:
        ValueError: If the name is malformed or names an unknown task.
    """
    from hpprune.bench.lcbench import lcbench_curves

    a, post_task, warp = parse_stream(name, data_dir)
    pre = lcbench_curves(a, N_PRE, seed, data_dir=data_dir)
    resample = warp or post_task == a
    post = lcbench_curves(post_task, N_POST, seed + (10_000 if resample else 0), data_dir=data_dir)
    post_values = _slow(post.values) if warp else post.values
    elapsed = None
    if pre.elapsed is not None and post.elapsed is not None:
        elapsed = np.vstack([pre.elapsed, post.elapsed])
    params = None
    if pre.params is not None and post.params is not None:
        params = pre.params + post.params
    curves = CurveSet(
        task=name,
        direction=pre.direction,
        config_ids=tuple(f"pre-{c}" for c in pre.config_ids)
        + tuple(f"post-{c}" for c in post.config_ids),
        values=np.vstack([pre.values, post_values]),
        elapsed=elapsed,
        params=params,
        steps=pre.steps,
    )
    return curves, N_PRE


# ----------------------------------------------------------------- tracing
@dataclass
class _Trace:
    cost: list[float] = field(default_factory=list)
    config: list[int] = field(default_factory=list)
    score: list[float] = field(default_factory=list)


class _Traced(Method):
    """Runs a method unchanged and records every reported value with the cost so far."""

    def __init__(self, inner: Method) -> None:
        self.inner = inner
        self.name = inner.name
        self.trace = _Trace()

    def bind(self, sim: Simulation) -> None:
        self._sim = sim
        self.inner.bind(sim)

    def next_trial(self) -> Choice:
        return self.inner.next_trial()

    def on_start(self, trial: SimTrial) -> None:
        self.inner.on_start(trial)

    def on_report(self, trial: SimTrial, column: int) -> Action:
        value = trial.config.values[column]
        if math.isfinite(value):
            self.trace.cost.append(float(self._sim.cost_done))
            self.trace.config.append(trial.config.index)
            self.trace.score.append(self._sim.stream.score(value))
        return self.inner.on_report(trial, column)

    def on_complete(self, trial: SimTrial) -> None:
        self.inner.on_complete(trial)

    def on_finish(self) -> None:
        self.inner.on_finish()


def _methods() -> list[tuple[str, Callable[[], Method]]]:
    from hpprune.bench.methods import HpprunePolicyMethod, NoPruningMethod

    def policy(name: str, build: Callable[[int], Policy]) -> Callable[[], Method]:
        return lambda: HpprunePolicyMethod(name, lambda ctx: build(ctx.max_step))

    return [
        (STATIC, policy(STATIC, _static_pruner)),
        (DRIFT, policy(DRIFT, _drift_pruner)),
        (DEFAULT, policy(DEFAULT, _default_policy)),
        (NONE, NoPruningMethod),
    ]


def _segment_regret(
    trace: _Trace,
    configs: set[int] | range,
    finals: np.ndarray,
    lo: float,
    hi: float,
) -> float | None:
    """Mean normalised regret over budget ``[lo, hi]`` of the incumbent on ``configs``."""
    if not hi > lo:
        return None
    best_f, worst_f = float(np.nanmin(finals)), float(np.nanmax(finals))
    span = worst_f - best_f
    costs = np.array(trace.cost)
    scores = np.array(trace.score)
    mask = np.array([c in configs for c in trace.config], dtype=bool)
    costs, scores = costs[mask], scores[mask]
    running = np.minimum.accumulate(scores) if scores.size else scores
    grid = np.linspace(lo, hi, _GRID + 1)
    idx = np.searchsorted(costs, grid, side="right") - 1
    inc = np.where(idx >= 0, running[np.maximum(idx, 0)] if running.size else np.inf, np.inf)
    reg = np.where(np.isfinite(inc), (inc - best_f) / span if span > 0 else 0.0, 1.0)
    return float(np.mean(np.clip(reg, 0.0, 1.0)))


@dataclass(frozen=True)
class _Unit:
    stream: str
    seed: int
    workers: tuple[int, ...]
    data_dir: str | None


@dataclass(frozen=True)
class _UnitOut:
    stream: str
    seed: int
    summaries: list[RunSummary]
    shift: dict[str, dict[str, Any]]  # "<method>@w<N>" -> regrets, detections


def _run_unit(unit: _Unit) -> _UnitOut:
    curves, n_pre = drift_stream(unit.stream, unit.seed, unit.data_dir)
    stream = Stream.from_curves(curves, unit.seed)
    budget = parse_budget(BUDGET, stream.full_cost)
    finals = np.array([stream.score(c.final) for c in stream.configs])
    pre, post = range(0, n_pre), range(n_pre, stream.n_configs)
    summaries: list[RunSummary] = []
    shift: dict[str, dict[str, Any]] = {}
    for w in unit.workers:
        runs = []
        for name, make in _methods():
            traced = _Traced(make())
            runs.append(simulate(stream, traced, budget=budget, n_workers=w))
            tr = traced.trace
            first = next((c for c, k in zip(tr.cost, tr.config, strict=True) if k >= n_pre), None)
            end = budget.amount
            at = end if first is None else first
            row: dict[str, Any] = {
                "shift_cost": first,
                "regret_before_shift": _segment_regret(tr, pre, finals[:n_pre], 0.0, at),
                "regret_after_shift": None
                if first is None
                else _segment_regret(tr, post, finals[n_pre:], first, end),
            }
            inner = traced.inner
            engine = getattr(inner, "_engine", None)
            policy = getattr(engine, "policy", None)
            if engine is not None and isinstance(policy, BayesianPruner):
                ids = engine.study.completed_ids
                changes = policy.detected_changes(engine.study)
                index = {c.config_id: c.index for c in stream.configs}
                row["detections"] = [
                    {**ch, "config_index": index.get(str(ch["trial_id"]))} for ch in changes
                ]
                post_done = [i for i, t in enumerate(ids) if index.get(t, -1) >= n_pre]
                row["first_post_shift_completion"] = post_done[0] if post_done else None
            shift[f"{name}@w{w}"] = row
        summaries.extend(summarize_runs(runs))
    return _UnitOut(unit.stream, unit.seed, summaries, shift)


def _combine(values: Sequence[tuple[str, float | None]]) -> tuple[float | None, float | None]:
    """Mean of per-stream means and the propagated standard error."""
    per_task: dict[str, list[float | None]] = {}
    for task, v in values:
        per_task.setdefault(task, []).append(v)
    stats = [mean_se(v) for v in per_task.values()]
    stats = [s for s in stats if s[2] > 0]
    if not stats:
        return None, None
    mean = float(np.mean([m for m, _, _ in stats]))
    se = math.sqrt(sum(s * s for _, s, _ in stats)) / len(stats)
    return mean, se


def run_drift(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the drift scenario and write its outputs (see the module docstring).

    Args:
        args: Parsed options.
        argv: The original arguments (recorded in the protocol).

    Returns:
        The ``results.json`` document.

    Raises:
        ValueError: For invalid options or streams.
    """
    workers = check_common(args, (1, 4))
    seeds = args.seeds or (2 if args.quick else 10)
    streams = tuple(args.tasks) if args.tasks else (STREAMS[:2] if args.quick else STREAMS)
    for name in streams:  # validate before any work
        parse_stream(name, args.data_dir)
    units = [_Unit(s, seed, workers, args.data_dir) for s in streams for seed in range(seeds)]
    t0 = time.perf_counter()
    outs = run_units(_run_unit, units, args.jobs, args.no_progress, "bench drift")
    wall = time.perf_counter() - t0
    names = [n for n, _ in _methods()]
    methods = aggregate([s for o in outs for s in o.summaries], names)
    for key, entry in methods.items():
        rows = [(o.stream, o.shift[key]) for o in outs if key in o.shift]
        for metric in ("regret_after_shift", "regret_before_shift"):
            mean, se = _combine([(t, r[metric]) for t, r in rows])
            entry[metric] = mean
            entry[f"{metric}_se"] = se
            entry.setdefault("per_task_shift", {})
            for t in streams:
                vals = [r[metric] for s, r in rows if s == t]
                m, e, n = mean_se(vals)
                entry["per_task_shift"].setdefault(t, {})[metric] = m if n else None
                entry["per_task_shift"][t][f"{metric}_se"] = e if n else None
        dets = [(s, r) for s, r in rows if "detections" in r]
        if dets:
            entry["detections"] = {}
            for t in streams:
                runs = [r for s, r in dets if s == t]
                control = ">" not in t and not t.endswith("~slow")
                first = [r["detections"][0]["config_index"] for r in runs if r["detections"]]
                entry["detections"][t] = {
                    "runs": len(runs),
                    "runs_with_detection": len(first),
                    "control": control,
                    "refit_from_minus_shift_median": None
                    if control or not first
                    else float(np.median(np.array(first, dtype=float) - N_PRE)),
                }
    protocol = base_protocol("drift", argv, wall)
    protocol.update(
        {
            "streams": list(streams),
            "seeds": list(range(seeds)),
            "workers": list(workers),
            "quick": bool(args.quick),
            "configs_before_shift": N_PRE,
            "configs_after_shift": N_POST,
            "budget": BUDGET,
            "checkpoints": list(CHECKPOINTS),
            "methods": {
                STATIC: "hpprune.conservative_policy(max_step) (BayesianPruner)",
                DRIFT: f"the same with drift_detection={DRIFT_LEVEL}",
                DEFAULT: "hpprune.default_policy(max_step) (freeze-thaw; no posterior, "
                "reference only)",
                NONE: "no pruning",
            },
            "definitions": {
                "regret_after_shift": "mean normalised regret over the budget after the first "
                "report of a post-shift configuration; incumbent and scale from the post-shift "
                "configurations only",
                "regret_before_shift": "the same before the shift, on the pre-shift configurations",
                "detections": "per stream: runs in which the pruner re-estimated (at the end of "
                "the run), and the median position of the first re-estimation's start minus the "
                "shift's position; on the control stream every detection is a false alarm",
            },
        }
    )
    doc: dict[str, Any] = {
        "protocol": protocol,
        "methods": methods,
        "runs": [{"stream": o.stream, "seed": o.seed, "shift": o.shift} for o in outs],
    }
    out = Path(args.output)
    write_outputs(out, doc, summary_markdown(doc))
    plot_shift(doc, out / "regret_after_shift.png")
    return doc


def parse_stream(name: str, data_dir: str | None = None) -> tuple[str, str, bool]:
    """``(pre-shift task, post-shift task, time-warped)`` of a stream name.

    Raises:
        ValueError: For a malformed name or an unknown LCBench task.
    """
    from hpprune.bench.lcbench import lcbench_tasks

    if ">" in name:
        pre, post = name.split(">", 1)
        warp = False
    elif name.endswith("~slow"):
        pre = post = name[: -len("~slow")]
        warp = True
    else:
        pre = post = name
        warp = False
    known = lcbench_tasks(data_dir)
    bad = sorted({t for t in (pre, post) if t not in known})
    if bad:
        raise ValueError(f"unknown LCBench task(s) {', '.join(bad)} in stream {name!r}")
    return pre, post, warp


def summary_markdown(doc: dict[str, Any]) -> str:
    """The ``summary.md`` of a drift results document."""
    proto = doc["protocol"]
    methods = doc["methods"]
    lines = [
        "# hpprune bench drift",
        "",
        f"Command: `{proto['command']}`  ",
        f"Streams: {', '.join(proto['streams'])}; seeds: {len(proto['seeds'])}; "
        f"{proto['configs_before_shift']} configurations before the shift, "
        f"{proto['configs_after_shift']} after; budget {proto['budget']}; "
        f"wall time: {proto['wall_seconds']} s.",
        "",
    ]
    for w in proto["workers"]:
        lines += [
            f"## {w} worker{'s' if w > 1 else ''}",
            "",
            "| method | regret before shift | regret after shift | regret@10% | regret@25% "
            "| regret@100% | p_discard_best |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in (STATIC, DRIFT, DEFAULT, NONE):
            e = methods.get(f"{name}@w{w}")
            if e is None:
                continue
            lines.append(
                f"| {name} | {fmt_mean_se(e['regret_before_shift'], e['regret_before_shift_se'])} "
                f"| {fmt_mean_se(e['regret_after_shift'], e['regret_after_shift_se'])} "
                f"| {fmt_mean_se(e['regret_at']['0.1'], e['regret_at_se']['0.1'])} "
                f"| {fmt_mean_se(e['regret_at']['0.25'], e['regret_at_se']['0.25'])} "
                f"| {fmt_mean_se(e['regret_at']['1.0'], e['regret_at_se']['1.0'])} "
                f"| {fmt_mean_se(e['p_discard_best'], e['p_discard_best_se'])} |"
            )
        lines.append("")
        s, d = methods.get(f"{STATIC}@w{w}"), methods.get(f"{DRIFT}@w{w}")
        if s and d:
            after = d["regret_after_shift"] is not None and s["regret_after_shift"] is not None
            lower = after and d["regret_after_shift"] < s["regret_after_shift"]
            before = (
                d["regret_before_shift"] is not None
                and s["regret_before_shift"] is not None
                and d["regret_before_shift"] <= s["regret_before_shift"]
            )
            lines += [
                f"Targets with {w} worker(s):",
                "",
                f"- drift-aware lower regret after the shift: {'met' if lower else 'NOT met'}",
                f"- drift-aware no higher regret before it: {'met' if before else 'NOT met'}",
                "",
                "Per stream (regret after shift, static vs drift-aware):",
                "",
            ]
            lines += [
                "| stream | regret after shift: static | drift-aware | before: static "
                "| drift-aware | runs re-estimated | start - shift (median) |",
                "|---|---|---|---|---|---|---|",
            ]
            for t in proto["streams"]:
                a = s["per_task_shift"][t]
                b = d["per_task_shift"][t]
                det = d.get("detections", {}).get(t, {})
                off = det.get("refit_from_minus_shift_median")
                label = f"{t} (control)" if det.get("control") else t
                cells = [
                    fmt_mean_se(row[f"regret_{when}_shift"], row[f"regret_{when}_shift_se"])
                    for when in ("after", "before")
                    for row in (a, b)
                ]
                lines.append(
                    f"| {label} | {' | '.join(cells)} "
                    f"| {det.get('runs_with_detection', '—')}/{det.get('runs', '—')} "
                    f"| {'—' if off is None else f'{off:+.0f}'} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"


def plot_shift(doc: dict[str, Any], path: Path) -> None:
    """``regret_after_shift.png``: regret before/after the shift per stream and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proto = doc["protocol"]
    streams = proto["streams"]
    workers = proto["workers"]
    fig, axes = plt.subplots(1, len(workers), figsize=(6 * len(workers), 4.5), squeeze=False)
    width = 0.2
    for ax, w in zip(axes[0], workers, strict=True):
        x = np.arange(len(streams))
        for i, name in enumerate((STATIC, DRIFT, DEFAULT, NONE)):
            e = doc["methods"].get(f"{name}@w{w}")
            if e is None:
                continue
            vals = [e["per_task_shift"][t]["regret_after_shift"] or 0.0 for t in streams]
            ax.bar(x + (i - 1.5) * width, vals, width, label=name)
        ax.set_xticks(x, streams, rotation=15, fontsize=8)
        ax.set_ylabel("mean regret after the shift")
        ax.set_title(f"{w} worker{'s' if w > 1 else ''}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpprune bench drift``."""
    parser = scenario_parser("drift", "Streams whose behaviour changes mid-study.")
    args = list(sys.argv[1:] if argv is None else argv)
    return scenario_main("bench drift", parser, run_drift, args, "regret_after_shift.png")
