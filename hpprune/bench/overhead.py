"""Per-call overhead of the Optuna adapter versus Optuna's own pruners.

Run ``python -m hpprune.bench.overhead [--sizes 100 1000 10000] [--quick]``.

For each storage (in memory, SQLite) and each study size N, a study is filled
with N finished trials (each with ``--steps`` intermediate values and the
``completed_rung_k`` system attributes Optuna's successive halving writes),
straight through the storage APIs (SQLite: one bulk insert) rather than by
running objectives. Then, for every pruner, a fresh copy of that study gets one
new trial that reports ``--steps`` values, calling ``trial.report`` and
``trial.should_prune`` each time, and the median per-call time is printed.
The new trial reports the best value so far at every step, so no pruner stops
it early and every call does the full work.

The first ``should_prune`` call is timed separately ("first call"): it includes
reading the existing trials once (Optuna's ``_CachedStorage`` does the same for
its own pruners). A cell stops measuring after ``--budget-s`` seconds (at least
three calls), which keeps the 10,000-trial SQLite case feasible.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Cell", "main", "run"]

PRUNERS = ("hpprune", "hpprune+log", "Median", "Percentile25", "SuccessiveHalving", "Hyperband")
"""Row order: our adapter (without and with the shared audit log), then Optuna's pruners."""


@dataclass(frozen=True)
class Cell:
    """Timings of one pruner on one storage at one study size.

    Attributes:
        storage: ``"memory"`` or ``"sqlite"``.
        n_finished: Finished trials in the study.
        pruner: Row name (see :data:`PRUNERS`).
        report_us: Median ``trial.report`` time, microseconds.
        should_prune_us: Median ``trial.should_prune`` time (first call excluded).
        first_call_ms: Time of the first ``should_prune`` call, milliseconds.
        n_calls: Calls measured after the first.
    """

    storage: str
    n_finished: int
    pruner: str
    report_us: float
    should_prune_us: float
    first_call_ms: float
    n_calls: int


def _curves(n: int, steps: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    final = rng.uniform(0.05, 1.0, n)
    amp = rng.uniform(0.2, 1.5, n)
    rate = rng.uniform(0.1, 0.8, n)
    s = np.arange(steps)
    values = final[:, None] + amp[:, None] * np.exp(-rate[:, None] * s[None, :])
    values += rng.normal(0.0, 0.01, (n, steps))
    return values, rng.uniform(0.0, 1.0, n)


def _rung_attrs(row: Sequence[float]) -> dict[str, float]:
    """``completed_rung_k`` attributes for reduction factor 3 and min_resource 1."""
    out: dict[str, float] = {}
    k = 0
    while 3**k < len(row):
        out[f"completed_rung_{k}"] = float(row[3**k])
        k += 1
    return out


def _populate_memory(n: int, steps: int, seed: int) -> Any:
    import optuna
    from optuna.distributions import BaseDistribution, FloatDistribution

    values, xs = _curves(n, steps, seed)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="bench")
    dist: dict[str, BaseDistribution] = {"x": FloatDistribution(0.0, 1.0)}
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={"x": float(xs[i])},
                distributions=dist,
                value=float(values[i, -1]),
                intermediate_values={s: float(values[i, s]) for s in range(steps)},
                system_attrs=_rung_attrs(values[i]),
            )
            for i in range(n)
        ]
    )
    return storage


def _populate_sqlite(path: Path, n: int, steps: int, seed: int) -> str:
    """Fill an SQLite study with one bulk insert into Optuna's tables; returns the URL."""
    import optuna
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    url = f"sqlite:///{path}"
    study = optuna.create_study(storage=url, study_name="bench")
    sid = study._study_id
    engine = study._storage._backend.engine  # type: ignore[attr-defined]
    values, xs = _curves(n, steps, seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    dist = distribution_to_json(FloatDistribution(0.0, 1.0))
    finite = models.TrialValueModel.TrialValueType.FINITE
    ifinite = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    trials: list[dict[str, Any]] = []
    vals: list[dict[str, Any]] = []
    inter: list[dict[str, Any]] = []
    attrs: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    for i in range(n):
        tid = i + 1
        trials.append(
            {
                "trial_id": tid,
                "number": i,
                "study_id": sid,
                "state": TrialState.COMPLETE,
                "datetime_start": now,
                "datetime_complete": now,
            }
        )
        vals.append(
            {"trial_id": tid, "objective": 0, "value": float(values[i, -1]), "value_type": finite}
        )
        inter.extend(
            {
                "trial_id": tid,
                "step": s,
                "intermediate_value": float(values[i, s]),
                "intermediate_value_type": ifinite,
            }
            for s in range(steps)
        )
        attrs.extend(
            {"trial_id": tid, "key": k, "value_json": json.dumps(v)}
            for k, v in _rung_attrs(values[i]).items()
        )
        params.append(
            {
                "trial_id": tid,
                "param_name": "x",
                "param_value": float(xs[i]),
                "distribution_json": dist,
            }
        )
    with engine.begin() as conn:
        conn.execute(models.TrialModel.__table__.insert(), trials)
        conn.execute(models.TrialValueModel.__table__.insert(), vals)
        conn.execute(models.TrialIntermediateValueModel.__table__.insert(), inter)
        conn.execute(models.TrialSystemAttributeModel.__table__.insert(), attrs)
        conn.execute(models.TrialParamModel.__table__.insert(), params)
    engine.dispose()
    return url


def _make_pruner(name: str, steps: int, log: Path) -> Any:
    import optuna

    import hpprune
    from hpprune.integrations.optuna import OptunaPruner

    factories: dict[str, Callable[[], Any]] = {
        "hpprune": lambda: OptunaPruner(hpprune.MedianPruner(n_startup_trials=5)),
        "hpprune+log": lambda: OptunaPruner(hpprune.MedianPruner(n_startup_trials=5), log=log),
        "Median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
        "Percentile25": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=5),
        "SuccessiveHalving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3
        ),
        "Hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=steps, reduction_factor=3
        ),
    }
    return factories[name]()


def _measure(study: Any, steps: int, budget_s: float) -> tuple[float, float, float, int]:
    trial = study.ask()
    report: list[float] = []
    prune: list[float] = []
    first = math.nan
    start = time.perf_counter()
    for step in range(steps):
        value = -1.0 - step  # always the best value so far: nobody prunes it
        t0 = time.perf_counter_ns()
        trial.report(value, step)
        t1 = time.perf_counter_ns()
        pruned = trial.should_prune()
        t2 = time.perf_counter_ns()
        if pruned:
            raise RuntimeError(f"{type(study.pruner).__name__} pruned the best trial")
        report.append((t1 - t0) / 1e3)
        if step == 0:
            first = (t2 - t1) / 1e6
            start = time.perf_counter()  # the budget covers the calls after the first
        else:
            prune.append((t2 - t1) / 1e3)
        if step >= 3 and time.perf_counter() - start > budget_s:
            break
    return statistics.median(report), statistics.median(prune), first, len(prune)


def run(
    sizes: Sequence[int] = (100, 1000, 10000),
    storages: Sequence[str] = ("memory", "sqlite"),
    steps: int = 30,
    budget_s: float = 5.0,
    pruners: Sequence[str] = PRUNERS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Cell]:
    """Measure every (storage, size, pruner) cell.

    Args:
        sizes: Numbers of finished trials.
        storages: ``"memory"`` and/or ``"sqlite"``.
        steps: Intermediate values per trial (and calls measured per cell).
        budget_s: Time limit for the calls of one cell (at least 3 calls run).
        pruners: Names from :data:`PRUNERS`.
        seed: Seed of the synthetic curves.
        progress: Called with a line of text after each cell.

    Returns:
        One :class:`Cell` per combination.

    Raises:
        ValueError: For an unknown storage or pruner name.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for s in storages:
        if s not in ("memory", "sqlite"):
            raise ValueError(f"expected 'memory' or 'sqlite' in `storages`, got {s!r}")
    for p in pruners:
        if p not in PRUNERS:
            raise ValueError(f"expected names from {PRUNERS} in `pruners`, got {p!r}")
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="hpprune-overhead-") as tmp:
        root = Path(tmp)
        for storage_kind in storages:
            for n in sizes:
                template = root / f"template-{n}.db"
                if storage_kind == "sqlite":
                    _populate_sqlite(template, n, steps, seed)
                for name in pruners:
                    log = root / f"audit-{storage_kind}-{n}-{name}.jsonl"
                    pruner = _make_pruner(name, steps, log)
                    if storage_kind == "memory":
                        storage: Any = _populate_memory(n, steps, seed)
                    else:
                        work = root / f"work-{n}-{name}.db"
                        shutil.copyfile(template, work)
                        storage = f"sqlite:///{work}"
                    study = optuna.load_study(study_name="bench", storage=storage, pruner=pruner)
                    gc.collect()
                    rep, prn, first, k = _measure(study, steps, budget_s)
                    cell = Cell(storage_kind, n, name, rep, prn, first, k)
                    cells.append(cell)
                    if progress is not None:
                        progress(
                            f"{storage_kind:6s} N={n:<6d} {name:18s} report {rep:9.1f} us  "
                            f"should_prune {prn:9.1f} us  first {first:9.2f} ms  ({k} calls)"
                        )
                    del study, storage
    return cells


def table(cells: Sequence[Cell]) -> str:
    """Markdown table of the cells with ratios to our adapter (without log)."""
    lines = [
        "| storage | finished trials | pruner | `trial.report` µs | `should_prune` µs "
        "| pruner / hpprune | first call ms |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    ours = {(c.storage, c.n_finished): c.should_prune_us for c in cells if c.pruner == "hpprune"}
    for c in cells:
        base = ours.get((c.storage, c.n_finished))
        ratio = f"{c.should_prune_us / base:.1f}x" if base else "-"
        lines.append(
            f"| {c.storage} | {c.n_finished:,} | {c.pruner} | {c.report_us:,.0f} | "
            f"{c.should_prune_us:,.0f} | {ratio} | {c.first_call_ms:,.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m hpprune.bench.overhead",
        description="Per-call cost of report/should_prune: hpprune's Optuna adapter "
        "versus Optuna's pruners, in memory and on SQLite.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--storages", nargs="+", default=["memory", "sqlite"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=5.0)
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS))
    parser.add_argument("--quick", action="store_true", help="sizes 100 1000, 12 steps, 1 s/cell")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    args = parser.parse_args(argv)
    sizes, steps, budget = args.sizes, args.steps, args.budget_s
    if args.quick:
        sizes, steps, budget = [s for s in sizes if s <= 1000] or [100], 12, 1.0
    if any(s < 1 for s in sizes) or steps < 4 or budget <= 0:
        parser.error("sizes must be >= 1, --steps >= 4 and --budget-s > 0")
    started = time.perf_counter()
    cells = run(
        sizes,
        args.storages,
        steps,
        budget,
        args.pruners,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(table(cells))
    print(
        f"\n{steps} steps per trial; median per call; python {platform.python_version()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps([c.__dict__ for c in cells], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
