"""The candidate search behind :func:`hpprune.default_policy`.

``python -m hpprune.bench.candidates --source lcbench -o FILE.json`` runs
:class:`hpprune.FreezeThawPruner` settings (the default and the
alternatives it was chosen over) through the benchmark's own simulator, adapter
(:class:`~hpprune.bench.methods.HpprunePolicyMethod`) and metrics, on the same
streams as ``hpprune bench``, beside no pruning, and writes one JSON document
with each candidate's aggregate row (speedup, regret at 10/25/50/100 % of the
budget, p_discard_best) plus a Markdown table. docs/default_policy.md cites it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import hpprune
from hpprune.bench.methods import BuildContext, HpprunePolicyMethod, NoPruningMethod
from hpprune.bench.metrics import RunSummary, aggregate, summarize_runs
from hpprune.bench.simulator import Stream, parse_budget, simulate
from hpprune.pruners.base import Policy

#: name -> FreezeThawPruner keyword arguments (``max_resource`` is the stream's max step).
CANDIDATES: dict[str, dict[str, Any]] = {
    "default (first rung learned)": {},
    "first rung fixed at 1": {"min_resource": 1},
    "first rung fixed at 2": {"min_resource": 2},
    "first rung fixed at 3": {"min_resource": 3},
    "learned, min_rank_correlation=0.5": {"min_rank_correlation": 0.5},
    "learned, n_rank_trials=10": {"n_rank_trials": 10},
    "learned, reduction_factor=4": {"reduction_factor": 4},
    "stop-only (pause=False)": {"pause": False},
}

_TASKS = {
    "lcbench": ("167168", "189873", "189906"),
    "sklearn": ("digits-sgd", "breast_cancer-sgd", "wine-sgd"),
}


def _stream(source: str, task: str, seed: int) -> Stream:
    if source == "lcbench":
        from hpprune.bench.lcbench import lcbench_curves

        return Stream.from_curves(lcbench_curves(task, 1000, seed), seed)
    from hpprune.bench.sklearn_curves import sklearn_curves

    return Stream.from_curves(sklearn_curves(task, 100, seed, 20), seed)


def _builder(kwargs: dict[str, Any]) -> Callable[[BuildContext], Policy]:
    def build(ctx: BuildContext) -> Policy:
        return hpprune.FreezeThawPruner(**{"max_resource": max(ctx.max_step, 1), **kwargs})

    return build


def search(source: str, seeds: int, workers: Sequence[int]) -> dict[str, Any]:
    """Run every candidate on ``seeds`` streams per task of ``source``.

    Returns:
        ``{"protocol": {...}, "methods": aggregate rows keyed "<name>@w<workers>"}``.
    """
    t0 = time.perf_counter()
    summaries: list[RunSummary] = []
    for task in _TASKS[source]:
        for seed in range(seeds):
            stream = _stream(source, task, seed)
            budget = parse_budget("20x", stream.full_cost)
            for w in workers:
                runs = [simulate(stream, NoPruningMethod(), budget=budget, n_workers=w)]
                for name, kwargs in CANDIDATES.items():
                    method = HpprunePolicyMethod(name, _builder(kwargs))
                    runs.append(simulate(stream, method, budget=budget, n_workers=w))
                summaries.extend(summarize_runs(runs))
    methods = aggregate(summaries, ["none", *CANDIDATES])
    return {
        "protocol": {
            "source": source,
            "tasks": list(_TASKS[source]),
            "seeds": seeds,
            "workers": list(workers),
            "budget": "20x",
            "candidates": {k: {"max_resource": "<max_step>", **v} for k, v in CANDIDATES.items()},
            "wall_seconds": round(time.perf_counter() - t0, 1),
        },
        "methods": methods,
    }


def table(doc: dict[str, Any]) -> str:
    """The Markdown table of a :func:`search` document (rows sorted by speedup)."""
    lines = [
        "| candidate | workers | speedup | regret@10% | regret@25% | regret@50% | regret@100% "
        "| p_discard_best |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def key(item: tuple[str, dict[str, Any]]) -> tuple[str, float]:
        name, row = item
        return (name.rsplit("@", 1)[1], -(row["speedup"] or 0.0))

    for name, row in sorted(doc["methods"].items(), key=key):
        label, w = name.rsplit("@w", 1)
        ra = row["regret_at"]
        sp = "—" if row["speedup"] is None else f"{row['speedup']:.2f}x"
        lines.append(
            f"| {label} | {w} | {sp} | {ra['0.1']:.3f} | {ra['0.25']:.3f} | {ra['0.5']:.3f} "
            f"| {ra['1.0']:.3f} | {row['p_discard_best']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m hpprune.bench.candidates")
    parser.add_argument("--source", choices=sorted(_TASKS), default="lcbench")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("-o", "--output", help="write the JSON document (and FILE.md) here")
    args = parser.parse_args(argv)
    if args.seeds < 1 or any(w < 1 for w in args.workers):
        parser.error("--seeds and --workers must be >= 1")
    doc = search(args.source, args.seeds, args.workers)
    doc["protocol"]["command"] = "python -m hpprune.bench.candidates " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    md = table(doc)
    print(md)
    if args.output:
        from hpprune.audit.outputs import write_text

        write_text(args.output, json.dumps(doc, indent=1) + "\n")
        write_text(args.output.removesuffix(".json") + ".md", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
