"""``hpprune bench calibration``: is the probability the pruner acts on calibrated?

Two measurements of ``p_improve`` (P(final better than the incumbent)), each
with and without the recalibration the pruner learns from the study's own
completed trials (``BayesianPruner(recalibrate=True)``, the default):

* **held out** (the headline ``ece``): for each task and seed, the first
  ``n_peers`` configurations of a fresh sample complete (10, 30, 100 on
  LCBench; 10, 30 on scikit-learn), the next 150 are reported step by step
  and ``BayesianPruner().predict`` is asked at fixed steps; the outcome is
  whether the curve's true final beats the best peer final. LCBench: the
  held-out tasks 167168, 189873, 189906 (``lcbench_curves(task, 300, 1000 +
  seed)``); scikit-learn: ``sklearn_curves(task, 120, seed, 20)`` for
  digits-sgd, digits-mlp, breast_cancer-mlp.
* **in the loop** (per worker setting): :func:`inloop_policy` prunes an
  LCBench stream in the benchmark simulator; at every decision it makes with
  a probability, the probability is recorded with the outcome (the trial's
  full-curve final beats the incumbent of that moment).

ECE: 10 equal-width bins, ``sum_b n_b / n |mean p_b - frequency_b|``.
Writes ``results.json`` (``"ece": {"lcbench", "sklearn"}``, the raw ECE, the
reliability tables), ``summary.md`` and ``reliability.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from hpprune.bench import calibration as cal
from hpprune.bench.methods import HpprunePolicyMethod
from hpprune.bench.scenario import (
    base_protocol,
    check_common,
    run_units,
    scenario_main,
    scenario_parser,
    write_outputs,
)
from hpprune.bench.simulator import SimTrial, Stream, parse_budget, simulate
from hpprune.pruners.posterior import BayesianPruner
from hpprune.types import Action

__all__ = ["main", "run_calibration"]

LCBENCH_PEERS = (10, 30, 100)
SKLEARN_PEERS = (10, 30)
INLOOP_CONFIGS = 300
INLOOP_BUDGET = "20x"


@dataclass(frozen=True)
class _Unit:
    kind: str  # "heldout" or "inloop"
    source: str  # "lcbench" or "sklearn"
    task: str
    seed: int
    n_peers: int = 0
    workers: int = 1
    data_dir: str | None = None


@dataclass(frozen=True)
class _Out:
    unit: _Unit
    p: list[float]
    p_raw: list[float]
    y: list[float]


def _curves(unit: _Unit) -> Any:
    if unit.source == "lcbench":
        from hpprune.bench.lcbench import lcbench_curves

        n = INLOOP_CONFIGS if unit.kind == "inloop" else 300
        return lcbench_curves(unit.task, n, 1000 + unit.seed, data_dir=unit.data_dir)
    from hpprune.bench.sklearn_curves import sklearn_curves

    return sklearn_curves(unit.task, 120, unit.seed, 20)


def inloop_policy(max_step: int) -> BayesianPruner:
    """The pruner of the in-loop measurement: warm-up 20 % of ``max_step``, 3 startup trials."""
    return BayesianPruner(n_startup_trials=3, n_warmup_steps=max(1, round(0.2 * max_step)))


class _Recording(HpprunePolicyMethod):
    """The default policy in the simulator, recording every probability it acts on."""

    def __init__(self) -> None:
        super().__init__("bayesian", lambda ctx: inloop_policy(ctx.max_step))
        self.p: list[float] = []
        self.p_raw: list[float] = []
        self.y: list[float] = []

    def on_report(self, trial: SimTrial, column: int) -> Action:
        conf = trial.config
        decision = self._engine.report(
            trial.trial_id, conf.steps[column], conf.values[column], conf.elapsed[column]
        )
        if "p_improve" in decision.evidence:  # the policy decided on a probability
            study = self._engine.study
            policy = cast(BayesianPruner, self._engine.policy)  # built by inloop_policy
            pred = policy.predict(study.trial(trial.trial_id), study)
            if pred is not None and pred.incumbent is not None:
                final = conf.final
                better = final > pred.incumbent if pred.maximize else final < pred.incumbent
                self.p.append(pred.p_improve)
                self.p_raw.append(pred.p_improve_raw)
                self.y.append(float(better))
        return Action.CONTINUE if decision.action is Action.RESUME else decision.action


def _run_unit(unit: _Unit) -> _Out:
    cs = _curves(unit)
    if unit.kind == "heldout":
        steps = cal.LCBENCH_EVAL_STEPS if unit.source == "lcbench" else cal.SKLEARN_EVAL_STEPS
        rec = cal.heldout_records(cs, unit.n_peers, steps)
        return _Out(unit, rec.p, rec.p_raw, rec.outcome)
    stream = Stream.from_curves(cs, unit.seed)
    method = _Recording()
    simulate(
        stream, method, budget=parse_budget(INLOOP_BUDGET, stream.full_cost), n_workers=unit.workers
    )
    return _Out(unit, method.p, method.p_raw, method.y)


def _split_tasks(tasks: Sequence[str] | None) -> tuple[list[str], list[str]]:
    from hpprune.bench.sklearn_curves import sklearn_tasks

    if not tasks:
        return list(cal.BENCH_TASKS), list(cal.SKLEARN_TASKS)
    known = set(sklearn_tasks())
    return [t for t in tasks if t not in known], [t for t in tasks if t in known]


def _rel(p: list[float], y: list[float]) -> dict[str, Any]:
    r = cal.reliability(np.array(p, dtype=float), np.array(y, dtype=float))
    return {
        "ece": r.ece,
        "brier": r.brier,
        "n": r.n,
        "bins": [
            {"low": lo, "high": hi, "n": n, "mean_p": mp, "observed": fr}
            for lo, hi, n, mp, fr in r.bins
        ],
    }


def run_calibration(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the calibration scenario and write its outputs (see the module docstring).

    Args:
        args: Parsed options.
        argv: The original arguments (recorded in the protocol).

    Returns:
        The ``results.json`` document.

    Raises:
        ValueError: For invalid options or unknown tasks.
    """
    workers = check_common(args, (1, 4))
    seeds = args.seeds or (1 if args.quick else 3)
    lc_tasks, sk_tasks = _split_tasks(args.tasks)
    if lc_tasks:
        from hpprune.bench.lcbench import lcbench_tasks

        bad = [t for t in lc_tasks if t not in lcbench_tasks(args.data_dir)]
        if bad:
            raise ValueError(f"unknown task(s) {', '.join(bad)} (LCBench ids or sklearn tasks)")
    lc_peers = (10, 30) if args.quick else LCBENCH_PEERS
    units = [
        _Unit("heldout", "lcbench", t, s, n, data_dir=args.data_dir)
        for t in lc_tasks
        for s in range(seeds)
        for n in lc_peers
    ]
    units += [
        _Unit("heldout", "sklearn", t, s, n)
        for t in sk_tasks
        for s in range(seeds)
        for n in SKLEARN_PEERS
    ]
    loop_tasks = lc_tasks[:1] if args.quick else lc_tasks
    units += [
        _Unit("inloop", "lcbench", t, s, workers=w, data_dir=args.data_dir)
        for w in workers
        for t in loop_tasks
        for s in range(seeds)
    ]
    t0 = time.perf_counter()
    outs = run_units(_run_unit, units, args.jobs, args.no_progress, "bench calibration")
    wall = time.perf_counter() - t0

    pooled: dict[str, tuple[list[float], list[float], list[float]]] = {}
    per_task = []
    for o in outs:
        u = o.unit
        key = u.source if u.kind == "heldout" else f"inloop_w{u.workers}"
        p, praw, y = pooled.setdefault(key, ([], [], []))
        p += o.p
        praw += o.p_raw
        y += o.y
    groups: dict[tuple[str, str, str, int, int], list[_Out]] = {}
    for o in outs:
        u = o.unit
        groups.setdefault((u.kind, u.source, u.task, u.n_peers, u.workers), []).append(o)
    for (kind, source, task, n_peers, w), sel in sorted(groups.items()):
        p = [x for o in sel for x in o.p]
        praw = [x for o in sel for x in o.p_raw]
        y = [x for o in sel for x in o.y]
        per_task.append(
            {
                "kind": kind,
                "source": source,
                "task": task,
                "n_peers": n_peers if kind == "heldout" else None,
                "workers": w if kind == "inloop" else None,
                "n": len(p),
                "ece": _rel(p, y)["ece"],
                "ece_raw": _rel(praw, y)["ece"],
            }
        )
    reliability = {k: _rel(v[0], v[2]) for k, v in pooled.items()}
    reliability_raw = {k: _rel(v[1], v[2]) for k, v in pooled.items()}
    protocol = base_protocol("calibration", argv, wall)
    protocol.update(
        {
            "lcbench_tasks": lc_tasks,
            "sklearn_tasks": sk_tasks,
            "seeds": list(range(seeds)),
            "workers": list(workers),
            "quick": bool(args.quick),
            "lcbench_peers": list(lc_peers),
            "sklearn_peers": list(SKLEARN_PEERS),
            "lcbench_eval_steps": list(cal.LCBENCH_EVAL_STEPS),
            "sklearn_eval_steps": list(cal.SKLEARN_EVAL_STEPS),
            "inloop": {
                "tasks": loop_tasks,
                "configs_per_stream": INLOOP_CONFIGS,
                "budget": INLOOP_BUDGET,
                "policy": "BayesianPruner(n_startup_trials=3, "
                "n_warmup_steps=round(0.2 * max_step))",
            },
            "definitions": {
                "ece": "expected calibration error of p_improve (10 equal-width bins) against "
                "whether the final beats the incumbent; recalibrated (the pruner's default)",
                "ece_raw": "the same for the model's probability before recalibration",
            },
        }
    )
    doc: dict[str, Any] = {
        "protocol": protocol,
        "ece": {k: reliability[k]["ece"] for k in ("lcbench", "sklearn") if k in reliability},
        "ece_raw": {
            k: reliability_raw[k]["ece"] for k in ("lcbench", "sklearn") if k in reliability_raw
        },
        "ece_inloop": {k: v["ece"] for k, v in reliability.items() if k.startswith("inloop")},
        "ece_inloop_raw": {
            k: v["ece"] for k, v in reliability_raw.items() if k.startswith("inloop")
        },
        "reliability": reliability,
        "reliability_raw": reliability_raw,
        "per_task": per_task,
    }
    out = Path(args.output)
    write_outputs(out, doc, summary_markdown(doc))
    plot_reliability(doc, out / "reliability.png")
    return doc


def summary_markdown(doc: dict[str, Any]) -> str:
    """The ``summary.md`` of a calibration results document."""
    proto = doc["protocol"]
    lines = [
        "# hpprune bench calibration",
        "",
        f"Command: `{proto['command']}`  ",
        f"Seeds: {len(proto['seeds'])}; wall time: {proto['wall_seconds']} s.",
        "",
        "| curves | predictions | ECE (recalibrated, as the pruner acts) | ECE raw | Brier |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, rel in doc["reliability"].items():
        raw = doc["reliability_raw"][key]
        lines.append(
            f"| {key} | {rel['n']} | {rel['ece']:.4f} | {raw['ece']:.4f} | {rel['brier']:.4f} |"
        )
    lines += ["", "Target: ECE <= 0.05 on LCBench and on scikit-learn curves:"]
    for key in ("lcbench", "sklearn"):
        if key in doc["ece"]:
            e = doc["ece"][key]
            lines.append(f"- {key}: {e:.4f} — {'met' if e <= 0.05 else 'NOT met'}")
    lines += ["", "## Per task", ""]
    lines += [
        "| kind | task | n_peers / workers | n | ECE | ECE raw |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in doc["per_task"]:
        setting = r["n_peers"] if r["kind"] == "heldout" else f"w{r['workers']}"
        ece = "—" if r["ece"] is None else f"{r['ece']:.4f}"
        raw = "—" if r["ece_raw"] is None else f"{r['ece_raw']:.4f}"
        lines.append(f"| {r['kind']} | {r['task']} | {setting} | {r['n']} | {ece} | {raw} |")
    for key, rel in doc["reliability"].items():
        raw = doc["reliability_raw"][key]
        lines += ["", f"## Reliability: {key}", ""]
        lines += [
            "| p bin | n | mean p | observed | n raw | mean p raw | observed raw |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for b, c in zip(rel["bins"], raw["bins"], strict=True):
            if b["n"] or c["n"]:
                lines.append(
                    f"| {b['low']:.1f}-{b['high']:.1f} | {b['n']} | {_f(b['mean_p'])} "
                    f"| {_f(b['observed'])} | {c['n']} | {_f(c['mean_p'])} | {_f(c['observed'])} |"
                )
    return "\n".join(lines) + "\n"


def _f(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def plot_reliability(doc: dict[str, Any], path: Path) -> None:
    """``reliability.png``: observed frequency against mean p per bin, raw and recalibrated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpprune.bench.scenario import save_figure

    keys = list(doc["reliability"])
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for label, rel, style in (
            ("recalibrated", doc["reliability"][key], "o-"),
            ("raw", doc["reliability_raw"][key], "s--"),
        ):
            pts = [(b["mean_p"], b["observed"]) for b in rel["bins"] if b["n"]]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, label=f"{label} (ECE {rel['ece']:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_title(key)
        ax.set_xlabel("predicted p_improve (bin mean)")
        ax.set_ylabel("observed frequency")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpprune bench calibration``."""
    parser = scenario_parser("calibration", __doc__.split("\n\n")[0] if __doc__ else "")
    args = list(sys.argv[1:] if argv is None else argv)
    return scenario_main("bench calibration", parser, run_calibration, args, "reliability.png")
