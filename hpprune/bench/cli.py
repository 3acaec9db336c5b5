"""``hpprune bench``: run every method on the same streams and write the results.

Usage::

    hpprune bench lcbench [--tasks 167168 189873 189906] [--seeds 10] [--workers 1 4]
                          [--budget 20x] [--methods ...] [--quick] -o DIR
    hpprune bench curves FILE --direction maximize [--tasks ...] -o DIR
    hpprune bench sklearn [--tasks digits-sgd ...] -o DIR
    hpprune bench calibration|drift|transfer [--seeds N] [--workers 1 4] -o DIR

(the scenario benchmarks live in their own modules: :mod:`hpprune.bench.calibration_cmd`,
:mod:`hpprune.bench.drift`, :mod:`hpprune.bench.transfer`).

(``python -m hpprune.bench ...`` is the same.) Writes ``DIR/results.json``,
``DIR/summary.md``, ``DIR/regret.png`` and ``DIR/runs.jsonl`` (one line per run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpprune.audit.cli import add_direction
from hpprune.audit.outputs import write_text
from hpprune.bench.methods import MethodSpec, select_methods
from hpprune.bench.metrics import CHECKPOINTS, RunSummary, aggregate, summarize_runs
from hpprune.bench.scenario import fmt_mean_se, jsonable, scenario_main
from hpprune.bench.simulator import Stream, parse_budget, simulate
from hpprune.bench.sources import CurveSet

__all__ = ["build_parser", "main", "run_benchmark"]

LCBENCH_TASKS = ("167168", "189873", "189906")
SKLEARN_TASKS = ("digits-sgd", "breast_cancer-sgd", "wine-sgd")
SCENARIOS: dict[str, str] = {
    "calibration": "hpprune.bench.calibration_cmd",
    "drift": "hpprune.bench.drift",
    "transfer": "hpprune.bench.transfer",
}
"""Scenario subcommands and the module whose ``main`` runs each."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    # source: seeds, configs, max_step (sklearn), tasks
    "lcbench": {"seeds": 10, "configs": 1000, "tasks": LCBENCH_TASKS},
    "curves": {"seeds": 10, "configs": None, "tasks": None},
    "sklearn": {"seeds": 10, "configs": 100, "tasks": SKLEARN_TASKS, "max_step": 20},
}
_QUICK: dict[str, dict[str, Any]] = {
    "lcbench": {"seeds": 2, "configs": 300, "budget": "10x"},
    "curves": {"seeds": 3, "budget": "10x"},
    "sklearn": {"seeds": 2, "configs": 40, "tasks": ("wine-sgd",), "max_step": 15, "budget": "10x"},
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hpprune bench``."""
    p = argparse.ArgumentParser(
        prog="hpprune bench",
        description=(
            "Benchmark hpprune's policies against Optuna's pruners, Ray Tune's schedulers "
            "and baselines on the same streams of learning curves."
        ),
        epilog=(
            "Scenario benchmarks of the posterior pruner, each with its own options "
            "(see `hpprune bench NAME --help`): "
            + ", ".join(f"`hpprune bench {name}`" for name in SCENARIOS)
            + " (docs/posterior.md)."
        ),
    )
    p.add_argument("source", choices=("lcbench", "curves", "sklearn"), help="curve source")
    p.add_argument(
        "file", nargs="?", metavar="FILE", help="curves table (CSV/Parquet) for the `curves` source"
    )
    p.add_argument("--tasks", nargs="+", help="tasks (default: the source's standard set)")
    quick_seeds = ", ".join(f"{k} {v['seeds']}" for k, v in _QUICK.items())
    p.add_argument(
        "--seeds",
        type=int,
        help=f"number of seeds 0..N-1 (default 10; with --quick: {quick_seeds})",
    )
    p.add_argument(
        "--workers", type=int, nargs="+", default=None, help="worker settings (default 1 4)"
    )
    p.add_argument(
        "--budget",
        help="'20x' = 20 full curves of steps (default; --quick: 10x), '1040' steps, "
        "'3600s' simulated seconds",
    )
    p.add_argument(
        "--methods", nargs="+", help="method names, families (hpprune optuna ray baseline), globs"
    )
    p.add_argument("--quick", action="store_true", help="a small run (about 2 minutes)")
    p.add_argument(
        "--data-dir", help="LCBench surrogate directory (default ../shared/data/lcbench)"
    )
    add_direction(p, help="metric direction, for `curves`")
    p.add_argument("--configs", type=int, help="configurations per stream (lcbench/sklearn)")
    p.add_argument("--max-step", type=int, help="epochs per curve (sklearn, default 20)")
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-methods", action="store_true", help="print the methods and exit")
    p.add_argument("-o", "--output", "--out", dest="output", metavar="DIR", help="output directory")
    return p


@dataclass(frozen=True)
class _Job:
    source: str
    task: str
    seed: int
    configs: int | None
    max_step: int | None
    data_dir: str | None
    budget: str
    workers: tuple[int, ...]
    methods: tuple[str, ...]
    curves: CurveSet | None = None


@dataclass(frozen=True)
class _JobOut:
    task: str
    seed: int
    summaries: list[RunSummary]
    n_configs: int
    dropped: int
    full_cost: int
    budget_unit: str
    budget_amount: float
    total_cost: int
    seconds: float


def _load_stream(job: _Job) -> Stream:
    if job.source == "lcbench":
        from hpprune.bench.lcbench import lcbench_curves

        cs = lcbench_curves(job.task, int(job.configs or 1000), job.seed, data_dir=job.data_dir)
        return Stream.from_curves(cs, job.seed)
    if job.source == "sklearn":
        from hpprune.bench.sklearn_curves import sklearn_curves

        cs = sklearn_curves(job.task, int(job.configs or 100), job.seed, int(job.max_step or 20))
        return Stream.from_curves(cs, job.seed)
    if job.curves is None:
        raise ValueError("the curves source needs a loaded table")
    order = np.random.default_rng(job.seed).permutation(job.curves.n_configs)
    return Stream.from_curves(job.curves, job.seed, order=order.tolist())


@functools.lru_cache(maxsize=1)
def _specs(names: tuple[str, ...]) -> tuple[MethodSpec, ...]:
    return tuple(select_methods(list(names)))


def _run_job(job: _Job) -> _JobOut:
    t0 = time.perf_counter()
    stream = _load_stream(job)
    budget = parse_budget(job.budget, stream.full_cost)
    summaries: list[RunSummary] = []
    for w in job.workers:
        runs = [
            simulate(stream, spec.factory(), budget=budget, n_workers=w)
            for spec in _specs(job.methods)
        ]
        summaries.extend(summarize_runs(runs))
    return _JobOut(
        task=stream.task,
        seed=job.seed,
        summaries=summaries,
        n_configs=stream.n_configs,
        dropped=len(stream.dropped),
        full_cost=stream.full_cost,
        budget_unit=budget.unit,
        budget_amount=budget.amount,
        total_cost=stream.total_cost,
        seconds=time.perf_counter() - t0,
    )


def _progress(total: int, disable: bool) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="hpprune bench", unit="run", disable=disable, file=sys.stderr)


def run_benchmark(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the benchmark described by parsed arguments and write the outputs.

    Args:
        args: Parsed arguments (see :func:`build_parser`).
        argv: The original arguments (recorded in the protocol).

    Returns:
        The ``results.json`` document.

    Raises:
        ValueError: For invalid options or data (the message says which).
        FileNotFoundError: For a missing file or data directory.
    """
    source = args.source
    defaults = dict(_DEFAULTS[source])
    if args.quick:
        defaults.update(_QUICK[source])
    seeds = args.seeds if args.seeds is not None else defaults["seeds"]
    if seeds < 1:
        raise ValueError(f"expected an int >= 1 for `--seeds`, got {seeds}")
    workers = tuple(args.workers or (1, 4))
    if any(w < 1 for w in workers):
        raise ValueError(f"expected ints >= 1 for `--workers`, got {list(workers)}")
    configs = args.configs if args.configs is not None else defaults.get("configs")
    if configs is not None and configs < 1:
        raise ValueError(f"expected an int >= 1 for `--configs`, got {configs}")
    max_step = args.max_step if args.max_step is not None else defaults.get("max_step")
    if max_step is not None and max_step < 1:
        raise ValueError(f"expected an int >= 1 for `--max-step`, got {max_step}")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"expected an int >= 1 for `--jobs`, got {args.jobs}")
    budget_text = args.budget or defaults.get("budget", "20x")
    parse_budget(budget_text, 52)  # validate the syntax early
    skipped: dict[str, str] = {}
    specs = select_methods(args.methods, skipped)
    method_names = tuple(s.name for s in specs)

    tables: dict[str, CurveSet] = {}
    if source == "curves":
        if not args.file:
            raise ValueError("`hpprune bench curves` needs a FILE (CSV or Parquet)")
        if not args.direction:
            raise ValueError("`hpprune bench curves` needs `--direction minimize|maximize`")
        from hpprune.bench.curves_table import load_curves_table

        for cs in load_curves_table(args.file, args.direction):
            tables[cs.task] = cs
        tasks = tuple(args.tasks) if args.tasks else tuple(tables)
        missing = [t for t in tasks if t not in tables]
        if missing:
            raise ValueError(
                f"task(s) {', '.join(missing)} not in {args.file}; tasks there: {', '.join(tables)}"
            )
    elif source == "lcbench":
        from hpprune.bench.lcbench import lcbench_tasks

        known = lcbench_tasks(args.data_dir)
        tasks = tuple(args.tasks) if args.tasks else tuple(defaults["tasks"])
        bad = [t for t in tasks if t not in known]
        if bad:
            raise ValueError(f"unknown LCBench task(s) {', '.join(bad)}; known: {', '.join(known)}")
    else:
        from hpprune.bench.sklearn_curves import sklearn_tasks

        known = sklearn_tasks()
        tasks = tuple(args.tasks) if args.tasks else tuple(defaults["tasks"])
        bad = [t for t in tasks if t not in known]
        if bad:
            raise ValueError(f"unknown sklearn task(s) {', '.join(bad)}; known: {', '.join(known)}")

    jobs = [
        _Job(
            source=source,
            task=t,
            seed=s,
            configs=configs,
            max_step=max_step,
            data_dir=args.data_dir,
            budget=budget_text,
            workers=workers,
            methods=method_names,
            curves=tables.get(t),
        )
        for t in tasks
        for s in range(seeds)
    ]
    n_proc = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    per_job = len(workers) * len(specs)
    bar = _progress(len(jobs) * per_job, args.no_progress)
    outs: list[_JobOut] = []
    t0 = time.perf_counter()
    try:
        if n_proc <= 1 or len(jobs) == 1:
            for job in jobs:
                outs.append(_run_job(job))
                if bar is not None:
                    bar.update(per_job)
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=n_proc, mp_context=ctx) as pool:
                futures = [pool.submit(_run_job, job) for job in jobs]
                for fut in as_completed(futures):
                    outs.append(fut.result())
                    if bar is not None:
                        bar.update(per_job)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    outs.sort(key=lambda o: (tasks.index(o.task), o.seed))
    summaries = [s for o in outs for s in o.summaries]
    methods = aggregate(summaries, list(method_names))
    protocol = _protocol(args, argv, tasks, seeds, workers, specs, skipped, outs, wall, configs)
    protocol["budget"] = budget_text
    doc = {"protocol": protocol, "methods": methods}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(jsonable(doc), indent=1) + "\n")
    rows = []
    for s in summaries:
        row = asdict(s)
        del row["curve"]
        rows.append(json.dumps(jsonable(row)) + "\n")
    write_text(out / "runs.jsonl", "".join(rows))
    write_text(out / "summary.md", summary_markdown(doc))
    from hpprune.bench.plot import plot_regret

    plot_regret(doc, out / "regret.png")
    return doc


def _protocol(
    args: argparse.Namespace,
    argv: Sequence[str],
    tasks: Sequence[str],
    seeds: int,
    workers: Sequence[int],
    specs: Sequence[MethodSpec],
    skipped: dict[str, str],
    outs: Sequence[_JobOut],
    wall: float,
    configs: int | None,
) -> dict[str, Any]:
    from hpprune import __version__

    versions = {
        "hpprune": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for mod in ("optuna", "ray", "onnxruntime", "sklearn"):
        with contextlib.suppress(Exception):
            versions[mod] = str(__import__(mod).__version__)
    per_task: dict[str, dict[str, Any]] = {}
    for o in outs:
        entry = per_task.setdefault(
            o.task,
            {
                "budget_unit": o.budget_unit,
                "budget": o.budget_amount,
                "full_curve_steps": o.full_cost,
                "configs_per_stream": o.n_configs,
                "stream_total_steps": [],
                "configs_dropped": 0,
            },
        )
        entry["stream_total_steps"].append(o.total_cost)
        entry["configs_dropped"] += o.dropped
    return {
        "source": args.source,
        "file": args.file,
        "direction": args.direction,
        "tasks": list(tasks),
        "seeds": list(range(seeds)),
        "workers": list(workers),
        "budget": args.budget,
        "configs_requested": configs,
        "per_task": per_task,
        "quick": bool(args.quick),
        "methods": {s.name: {"family": s.family, "settings": s.description} for s in specs},
        "skipped_methods": skipped,
        "checkpoints": list(CHECKPOINTS),
        "command": "hpprune bench " + shlex.join(list(argv)),
        "wall_seconds": round(wall, 1),
        "cpu_count": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions,
        "definitions": {
            "stream": "one stream of configurations per (task, seed), same order for every "
            "method; lcbench/sklearn: the source's sample for that seed; curves: a seeded "
            "permutation of the table's configurations",
            "regret": "(incumbent - best final) / (worst final - best final) over the stream, "
            "canonical scale, clipped to [0, 1]; incumbent = best value observed so far",
            "speedup": "budget at which no pruning reaches its final regret / budget the "
            "method needs to reach it, on mean regret curves (null = never within budget)",
            "p_discard_best": "rate at which the best configuration a method started was "
            "stopped before its last step",
            "steps_saved": "steps not trained because of early stops / (trained + saved)",
            "decision_us_p50": "median wall-clock microseconds per decision (adapter included)",
            "mean_rank": "rank by area under the mean regret curve per task, averaged",
        },
    }


def summary_markdown(doc: dict[str, Any]) -> str:
    """The ``summary.md`` tables (one per worker setting), each with how its rows compare.

    Args:
        doc: The results document.

    Returns:
        Markdown text.
    """
    proto = doc["protocol"]
    methods: dict[str, dict[str, Any]] = doc["methods"]
    lines = [
        f"# hpprune bench {proto['source']}",
        "",
        f"Command: `{proto['command']}`  ",
        f"Tasks: {', '.join(proto['tasks'])}; seeds: {len(proto['seeds'])}; "
        f"budget: {proto['budget']}; workers: {', '.join(map(str, proto['workers']))}; "
        f"wall time: {proto['wall_seconds']} s.",
        "",
        "Regret is normalised (0 = best final value of the stream, 1 = worst), mean ± "
        "standard error; speedup = budget no pruning needs to reach its final regret ÷ "
        "budget the method needs (— = never within the budget).",
        "",
    ]
    for w in proto["workers"]:
        rows = [e for e in methods.values() if e["workers"] == w]
        rows.sort(key=lambda e: (e.get("mean_rank") or math.inf, e["method"]))
        lines += [
            f"## {w} worker{'s' if w > 1 else ''}",
            "",
            "| method | speedup | regret@10% | regret@25% | regret@50% | regret@100% "
            "| p_discard_best | steps saved | decision µs (p50) | mean rank |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in rows:
            sp = e.get("speedup")
            cells = [
                e["method"],
                "—" if sp is None else f"{sp:.2f}x",
                *(
                    fmt_mean_se(e["regret_at"][str(f)], e["regret_at_se"][str(f)])
                    for f in CHECKPOINTS
                ),
                fmt_mean_se(e["p_discard_best"], e["p_discard_best_se"], 2),
                fmt_mean_se(e["steps_saved"], e["steps_saved_se"], 2),
                "—" if e["decision_us_p50"] is None else f"{e['decision_us_p50']:.0f}",
                "—" if e.get("mean_rank") is None else f"{e['mean_rank']:.1f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        families = {k: str(v.get("family")) for k, v in proto.get("methods", {}).items()}
        lines += _comparison(rows, families)
    if proto.get("skipped_methods"):
        lines += ["## Skipped methods", ""]
        lines += [f"- `{k}`: {v}" for k, v in proto["skipped_methods"].items()]
        lines.append("")
    return "\n".join(lines)


def _comparison(rows: Sequence[dict[str, Any]], families: Mapping[str, str]) -> list[str]:
    """Sentences comparing the rows of one table: who leads on each measure, by how much.

    Baselines (no pruning, the oracle) are references, not candidates: they are
    left out of the comparison.
    """
    rows = [e for e in rows if families.get(e["method"].split("@")[0]) != "baseline"]
    if len(rows) < 2:
        return []

    def leader(key: Callable[[dict[str, Any]], float | None], low: bool) -> tuple[Any, ...]:
        scored = [(key(e), e["method"]) for e in rows if key(e) is not None]
        if not scored:
            return ()
        scored.sort(key=lambda kv: (kv[0] if low else -float(kv[0] or 0.0), kv[1]))
        return scored[0] if len(scored) == 1 else (*scored[0], scored[1])

    lines = ["How the methods compare (baselines left out):", ""]
    checks: list[tuple[str, Callable[[dict[str, Any]], float | None], bool, str]] = [
        ("highest speedup", lambda e: e.get("speedup"), False, "{:.2f}x"),
        ("lowest final regret", lambda e: e["regret_at"][str(CHECKPOINTS[-1])], True, "{:.3f}"),
        ("least often discards the best trial", lambda e: e["p_discard_best"], True, "{:.2f}"),
        ("saves the most steps", lambda e: e["steps_saved"], False, "{:.2f}"),
    ]
    for what, key, low, form in checks:
        lead = leader(key, low)
        if not lead:
            continue
        text = f"- {what}: `{lead[1]}` ({form.format(lead[0])})"
        if len(lead) == 3:
            text += f", next `{lead[2][1]}` ({form.format(lead[2][0])})"
        lines.append(text)
    lines.append("")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpprune bench`` (``argv`` = the arguments after ``bench``).

    Args:
        argv: Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        0 on success, 2 for invalid options or input data.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        args_list = args_list[1:]
    if args_list[:1] and args_list[0] in SCENARIOS:
        import importlib

        module = importlib.import_module(SCENARIOS[args_list[0]])
        code: int = module.main(args_list[1:])
        return code
    parser = build_parser()
    if "--list-methods" in args_list:
        skipped: dict[str, str] = {}
        for s in select_methods(None, skipped):
            print(f"{s.name:28s} {s.family:9s} {s.description}")
        for name, why in skipped.items():
            print(f"{name:28s} skipped   {why}")
        return 0
    return scenario_main("bench", parser, run_benchmark, args_list, "regret.png")
