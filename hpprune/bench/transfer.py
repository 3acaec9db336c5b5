"""``hpprune bench transfer``: does warm-starting from an earlier study's audit log help?

For each pair ``source>target`` and seed:

1. **Source run.** A real search on the source task with the static posterior
   pruner (``hpprune.conservative_policy``) through an :class:`~hpprune.Engine`
   writing a JSON Lines audit log (:data:`N_SOURCE` configurations in the
   benchmark simulator, :data:`SOURCE_BUDGET`).
2. **Target runs** on the target task's stream (the same stream for every
   method): ``hpprune.conservative`` (cold) and ``hpprune.conservative_warm``,
   ``BayesianPruner.from_logs([source log], ...)`` with the same parameters
   and ``n_startup_trials=1`` (the borrowed curves stand in for the startup
   trials), and ``none`` (speedups are measured against it).

Pairs are *related* (two LCBench tasks whose accuracies have similar ranges;
two scikit-learn data sets with the same model family) or *unrelated* (a
scikit-learn fraction-accuracy source for an LCBench percent-accuracy target;
an LCBench task whose accuracies are a few percent for one in the nineties).
The warm pruner keeps its borrowed curves only while the study's own trials
look like them: ``warm_check`` (a Mann-Whitney test at the first decision
step, see :meth:`~hpprune.BayesianPruner.warm_start_dropped`) drops them
when they do not; each run records whether and after how many own trials.

Writes ``results.json`` (``methods`` rows with ``regret_at``, ``speedup``,
``p_discard_best``; per pair in ``per_task``), ``summary.md`` and
``transfer.png``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hpprune.bench.metrics import CHECKPOINTS, RunSummary, aggregate, summarize_runs
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
from hpprune.bench.simulator import Method, Simulation, Stream, parse_budget, simulate
from hpprune.bench.sources import CurveSet
from hpprune.pruners.posterior import BayesianPruner

__all__ = ["PAIRS", "main", "pair_kind", "run_transfer"]

PAIRS: dict[str, str] = {
    "167104>189865": "related",
    "189906>189905": "related",
    "168330>189866": "related",
    "breast_cancer-sgd>wine-sgd": "related",
    "digits-sgd>189906": "unrelated",
    "168329>3945": "unrelated",
}
"""Default pairs and their kind."""

N_SOURCE = 100
SOURCE_BUDGET = "100x"
TARGET_BUDGET = "20x"
LCBENCH_TARGET_CONFIGS = 300
SKLEARN_CONFIGS = 100
SKLEARN_STEPS = 20

COLD = "hpprune.conservative"
WARM = "hpprune.conservative_warm"
NONE = "none"


def pair_kind(name: str) -> str:
    """``"related"`` or ``"unrelated"`` for a default pair; ``"given"`` otherwise."""
    return PAIRS.get(name, "given")


def _parse(name: str, data_dir: str | None) -> tuple[str, str]:
    from hpprune.bench.lcbench import lcbench_tasks
    from hpprune.bench.sklearn_curves import sklearn_tasks

    if ">" not in name:
        raise ValueError(f"expected a pair 'SOURCE>TARGET' in `--tasks`, got {name!r}")
    src, tgt = name.split(">", 1)
    known = set(lcbench_tasks(data_dir)) | set(sklearn_tasks())
    bad = [t for t in (src, tgt) if t not in known]
    if bad:
        raise ValueError(f"unknown task(s) {', '.join(bad)} in pair {name!r} (LCBench or sklearn)")
    return src, tgt


def _curves(task: str, n: int, seed: int, data_dir: str | None) -> CurveSet:
    from hpprune.bench.sklearn_curves import sklearn_curves, sklearn_tasks

    if task in sklearn_tasks():
        return sklearn_curves(task, SKLEARN_CONFIGS, seed, SKLEARN_STEPS)
    from hpprune.bench.lcbench import lcbench_curves

    return lcbench_curves(task, n, seed, data_dir=data_dir)


def _cold(max_step: int) -> BayesianPruner:
    from hpprune.defaults import conservative_policy

    policy = conservative_policy(max_step)
    if not isinstance(policy, BayesianPruner):
        raise TypeError("conservative_policy() is expected to be a BayesianPruner")
    return policy


def _logged(log: Path) -> Method:
    """The cold pruner behind an Engine that writes an audit log (the source study)."""
    from hpprune.bench.methods import HpprunePolicyMethod

    class Logged(HpprunePolicyMethod):
        def bind(self, sim: Simulation) -> None:
            from hpprune.engine import Engine

            super().bind(sim)
            # The same policy, now writing the log an earlier study of the user leaves.
            self._engine = Engine(self._engine.policy, direction=sim.stream.direction, log=log)

        def on_finish(self) -> None:
            self._engine.close()

    return Logged("source", lambda ctx: _cold(ctx.max_step))


@dataclass(frozen=True)
class _Unit:
    pair: str
    seed: int
    workers: tuple[int, ...]
    data_dir: str | None


@dataclass(frozen=True)
class _UnitOut:
    pair: str
    seed: int
    summaries: list[RunSummary]
    warm: dict[str, dict[str, Any]]  # "<method>@w<N>" -> borrowed curves, dropped?


def _run_unit(unit: _Unit) -> _UnitOut:
    from hpprune.bench.methods import HpprunePolicyMethod, NoPruningMethod

    src, tgt = _parse(unit.pair, unit.data_dir)
    source = _curves(src, N_SOURCE, unit.seed + 7919, unit.data_dir)
    # The target stream is named after the pair, so results are per pair.
    target = replace(_curves(tgt, LCBENCH_TARGET_CONFIGS, unit.seed, unit.data_dir), task=unit.pair)
    summaries: list[RunSummary] = []
    warm_info: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hpprune-transfer-") as tmp:
        log = Path(tmp) / "source.jsonl"
        sstream = Stream.from_curves(source, unit.seed)
        simulate(
            sstream,
            _logged(log),
            budget=parse_budget(SOURCE_BUDGET, sstream.full_cost),
            n_workers=1,
        )
        tstream = Stream.from_curves(target, unit.seed)
        budget = parse_budget(TARGET_BUDGET, tstream.full_cost)

        def warm(max_step: int) -> BayesianPruner:
            params = _cold(max_step).params()
            params.pop("warm_start")
            params["n_startup_trials"] = 0
            return BayesianPruner.from_logs([log], **params)

        methods: list[tuple[str, Callable[[], Method]]] = [
            (COLD, lambda: HpprunePolicyMethod(COLD, lambda ctx: _cold(ctx.max_step))),
            (WARM, lambda: HpprunePolicyMethod(WARM, lambda ctx: warm(ctx.max_step))),
            (NONE, NoPruningMethod),
        ]
        for w in unit.workers:
            runs = []
            for name, make in methods:
                method = make()
                runs.append(simulate(tstream, method, budget=budget, n_workers=w))
                engine = getattr(method, "_engine", None)
                policy = getattr(engine, "policy", None)
                if name == WARM and engine is not None and isinstance(policy, BayesianPruner):
                    dropped = policy.warm_start_dropped(engine.study)
                    warm_info[f"{name}@w{w}"] = {
                        "borrowed_curves": len(policy.warm_start),
                        "dropped": dropped is not None,
                        "dropped_after_own_trials": None if dropped is None else dropped["n_own"],
                        "p_value": None if dropped is None else dropped["p_value"],
                    }
            summaries.extend(summarize_runs(runs))
    return _UnitOut(unit.pair, unit.seed, summaries, warm_info)


def run_transfer(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the transfer scenario and write its outputs (see the module docstring).

    Args:
        args: Parsed options.
        argv: The original arguments (recorded in the protocol).

    Returns:
        The ``results.json`` document.

    Raises:
        ValueError: For invalid options or pairs.
    """
    workers = check_common(args, (1, 4))
    seeds = args.seeds or (2 if args.quick else 5)
    if args.tasks:
        pairs = tuple(args.tasks)
    elif args.quick:
        pairs = ("189906>189905", "digits-sgd>189906")
    else:
        pairs = tuple(PAIRS)
    for name in pairs:
        _parse(name, args.data_dir)
    units = [_Unit(p, s, workers, args.data_dir) for p in pairs for s in range(seeds)]
    t0 = time.perf_counter()
    outs = run_units(_run_unit, units, args.jobs, args.no_progress, "bench transfer")
    wall = time.perf_counter() - t0
    methods = aggregate([s for o in outs for s in o.summaries], [COLD, WARM, NONE])
    for key, entry in methods.items():
        rows = [(o.pair, o.warm[key]) for o in outs if key in o.warm]
        if rows:
            entry["warm_start"] = {
                p: {
                    "kind": pair_kind(p),
                    "runs": sum(1 for q, _ in rows if q == p),
                    "runs_dropped": sum(1 for q, r in rows if q == p and r["dropped"]),
                    "dropped_after_own_trials_median": _median(
                        [r["dropped_after_own_trials"] for q, r in rows if q == p]
                    ),
                    "borrowed_curves_median": _median(
                        [r["borrowed_curves"] for q, r in rows if q == p]
                    ),
                }
                for p in pairs
            }
    protocol = base_protocol("transfer", argv, wall)
    protocol.update(
        {
            "pairs": {p: pair_kind(p) for p in pairs},
            "seeds": list(range(seeds)),
            "workers": list(workers),
            "quick": bool(args.quick),
            "source": {
                "configs": N_SOURCE,
                "budget": SOURCE_BUDGET,
                "seed": "seed + 7919",
                "policy": "conservative_policy(max_step), one worker, audit log",
            },
            "target": {
                "lcbench_configs": LCBENCH_TARGET_CONFIGS,
                "sklearn_configs": SKLEARN_CONFIGS,
                "sklearn_epochs": SKLEARN_STEPS,
                "budget": TARGET_BUDGET,
            },
            "checkpoints": list(CHECKPOINTS),
            "methods": {
                COLD: "conservative_policy(max_step) (BayesianPruner), no warm start",
                WARM: "BayesianPruner.from_logs([source log], same parameters, "
                "n_startup_trials=1) (warm_check=0.01)",
                NONE: "no pruning",
            },
        }
    )
    doc: dict[str, Any] = {
        "protocol": protocol,
        "methods": methods,
        "runs": [{"pair": o.pair, "seed": o.seed, "warm": o.warm} for o in outs],
    }
    out = Path(args.output)
    write_outputs(out, doc, summary_markdown(doc))
    plot_transfer(doc, out / "transfer.png")
    return doc


def _median(values: Sequence[float | int | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def summary_markdown(doc: dict[str, Any]) -> str:
    """The ``summary.md`` of a transfer results document."""
    proto = doc["protocol"]
    methods = doc["methods"]
    lines = [
        "# hpprune bench transfer",
        "",
        f"Command: `{proto['command']}`  ",
        f"Pairs: {', '.join(f'{p} ({k})' for p, k in proto['pairs'].items())}; "
        f"seeds: {len(proto['seeds'])}; wall time: {proto['wall_seconds']} s.",
        "",
    ]
    for w in proto["workers"]:
        cold, warm = methods.get(f"{COLD}@w{w}"), methods.get(f"{WARM}@w{w}")
        if cold is None or warm is None:
            continue
        lines += [
            f"## {w} worker{'s' if w > 1 else ''}",
            "",
            "| pair | kind | cold regret@10% | warm | cold regret@25% | warm "
            "| cold regret@100% | warm | warm p_discard_best | borrowed curves dropped |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        verdict: list[str] = []
        for p, kind in proto["pairs"].items():
            c, m = cold["per_task"].get(_task(p)), warm["per_task"].get(_task(p))
            if c is None or m is None:
                continue
            ws = warm.get("warm_start", {}).get(p, {})
            after = ws.get("dropped_after_own_trials_median")
            drop = f"{ws.get('runs_dropped', 0)}/{ws.get('runs', 0)}" + (
                "" if after is None else f" (after {after:.0f} own trials)"
            )
            cells = [p, kind]
            for f in ("0.1", "0.25", "1.0"):
                cells += [
                    fmt_mean_se(c["regret_at"][f], c["regret_at_se"][f]),
                    fmt_mean_se(m["regret_at"][f], m["regret_at_se"][f]),
                ]
            cells += [fmt_mean_se(m["p_discard_best"], m["p_discard_best_se"]), drop]
            lines.append("| " + " | ".join(cells) + " |")
            if kind == "related":
                ok = (
                    m["regret_at"]["0.1"] < c["regret_at"]["0.1"]
                    and m["regret_at"]["0.25"] <= c["regret_at"]["0.25"]
                )
                verdict.append(
                    f"- {p} (related): warm lower at 10 % and not higher at 25 % — "
                    f"{'met' if ok else 'NOT met'}"
                )
            elif kind == "unrelated":
                worse = [f for f in c["regret_at"] if m["regret_at"][f] > c["regret_at"][f]]
                verdict.append(
                    f"- {p} (unrelated): warm no worse at any checkpoint — "
                    + ("met" if not worse else f"NOT met (worse at {', '.join(worse)})")
                )
        lines += ["", f"Targets with {w} worker(s):", "", *verdict, ""]
    return "\n".join(lines) + "\n"


def _task(pair: str) -> str:
    """The stream's task name of a pair (the pair itself, see ``_run_unit``)."""
    return pair


def plot_transfer(doc: dict[str, Any], path: Path) -> None:
    """``transfer.png``: regret at the checkpoints, cold vs warm, one panel per pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proto = doc["protocol"]
    pairs = list(proto["pairs"])
    w = proto["workers"][0]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.6), squeeze=False)
    xs = [100 * f for f in proto["checkpoints"]]
    for ax, p in zip(axes[0], pairs, strict=True):
        for name, style in ((COLD, "o-"), (WARM, "s--")):
            e = doc["methods"].get(f"{name}@w{w}", {}).get("per_task", {}).get(_task(p))
            if e:
                ax.plot(
                    xs, [e["regret_at"][str(f)] for f in proto["checkpoints"]], style, label=name
                )
        ax.set_title(f"{p} ({proto['pairs'][p]})", fontsize=8)
        ax.set_xlabel("% of budget")
        ax.set_ylabel("mean regret")
        ax.set_xscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpprune bench transfer``."""
    parser = scenario_parser("transfer", "Warm start from an earlier study's audit log.")
    args = list(sys.argv[1:] if argv is None else argv)
    return scenario_main("bench transfer", parser, run_transfer, args, "transfer.png")
