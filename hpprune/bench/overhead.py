"""Per-call overhead of the Optuna adapter versus Optuna's own pruners.

Run ``python -m hpprune.bench.overhead [--sizes 100 1000 10000] [--quick]``;
``--storages postgres --pg-url URL`` adds a PostgreSQL database, and
``--markdown FILE`` writes the table with the run's settings (the file
``docs/optuna-overhead-db.md`` is written that way).

For each storage (in memory, SQLite, PostgreSQL) and each study size N, a study is filled
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
import os
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

PRUNERS = (
    "hpprune",
    "hpprune+log",
    "hpprune+db",
    "hpprune+db-async",
    "Median",
    "Percentile25",
    "SuccessiveHalving",
    "Hyperband",
)
"""Row order: our adapter (no log, a shared log file, the log in the study's database, the same
with PostgreSQL's asynchronous commit), then Optuna's pruners. ``hpprune+db`` runs on RDB
storages only, ``hpprune+db-async`` on PostgreSQL only."""
STORAGES = ("memory", "sqlite", "postgres")


@dataclass(frozen=True)
class Cell:
    """Timings of one pruner on one storage at one study size.

    Attributes:
        storage: ``"memory"``, ``"sqlite"`` or ``"postgres"``.
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
    url = f"sqlite:///{path}"
    _populate_rdb(url, "bench", n, steps, seed)
    return url


def _populate_rdb(url: str, study_name: str, n: int, steps: int, seed: int) -> None:
    """Create ``study_name`` at ``url``; bulk-insert ``n`` finished trials into Optuna's tables."""
    import optuna
    import sqlalchemy as sa
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    study = optuna.create_study(storage=url, study_name=study_name)
    sid = study._study_id
    engine = study._storage._backend.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:  # other studies may share the database
        first = int(conn.execute(sa.text("SELECT COALESCE(MAX(trial_id), 0) FROM trials")).scalar())
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
        tid = first + i + 1
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
        if engine.dialect.name == "postgresql":  # ids were given: move the sequence past them
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                    "(SELECT MAX(trial_id) FROM trials))"
                )
            )
    engine.dispose()


def _make_pruner(name: str, steps: int, log: Path, url: str | None, study_name: str) -> Any:
    import optuna

    import hpprune
    from hpprune.audit.dbsink import DatabaseSink
    from hpprune.integrations.optuna import STUDY_STORAGE, OptunaPruner

    factories: dict[str, Callable[[], Any]] = {
        "hpprune": lambda: OptunaPruner(hpprune.MedianPruner(n_startup_trials=5)),
        "hpprune+log": lambda: OptunaPruner(hpprune.MedianPruner(n_startup_trials=5), log=log),
        "hpprune+db": lambda: OptunaPruner(
            hpprune.MedianPruner(n_startup_trials=5), log=STUDY_STORAGE
        ),
        "hpprune+db-async": lambda: OptunaPruner(
            hpprune.MedianPruner(n_startup_trials=5),
            log=DatabaseSink(str(url), study_name, durable=False),
        ),
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
    pg_url: str | None = None,
) -> list[Cell]:
    """Measure every (storage, size, pruner) cell.

    ``hpprune+db`` is skipped on the in-memory storage (it keeps the log in
    the study's database). On PostgreSQL every cell gets a study of its own
    (filled the same way) in the database ``pg_url``.

    Args:
        sizes: Numbers of finished trials.
        storages: Names from :data:`STORAGES`.
        steps: Intermediate values per trial (and calls measured per cell).
        budget_s: Time limit for the calls of one cell (at least 3 calls run).
        pruners: Names from :data:`PRUNERS`.
        seed: Seed of the synthetic curves.
        progress: Called with a line of text after each cell.
        pg_url: SQLAlchemy URL of the PostgreSQL database (needed for ``"postgres"``).

    Returns:
        One :class:`Cell` per combination.

    Raises:
        ValueError: For an unknown storage or pruner name, or ``"postgres"``
            without ``pg_url``.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for s in storages:
        if s not in STORAGES:
            raise ValueError(f"expected names from {STORAGES} in `storages`, got {s!r}")
    if "postgres" in storages and not pg_url:
        raise ValueError("the 'postgres' storage needs `pg_url` (--pg-url URL)")
    for p in pruners:
        if p not in PRUNERS:
            raise ValueError(f"expected names from {PRUNERS} in `pruners`, got {p!r}")
    cells: list[Cell] = []
    run_tag = f"{time.time_ns():x}"  # PostgreSQL studies of this run get unique names
    with tempfile.TemporaryDirectory(prefix="hpprune-overhead-") as tmp:
        root = Path(tmp)
        for storage_kind in storages:
            for n in sizes:
                template = root / f"template-{n}.db"
                if storage_kind == "sqlite":
                    _populate_sqlite(template, n, steps, seed)
                for name in pruners:
                    if name == "hpprune+db" and storage_kind == "memory":
                        continue
                    if name == "hpprune+db-async" and storage_kind != "postgres":
                        continue
                    log = root / f"audit-{storage_kind}-{n}-{name}.jsonl"
                    study_name = "bench"
                    if storage_kind == "memory":
                        storage: Any = _populate_memory(n, steps, seed)
                    elif storage_kind == "sqlite":
                        work = root / f"work-{n}-{name}.db"
                        shutil.copyfile(template, work)
                        storage = f"sqlite:///{work}"
                    else:
                        storage, study_name = pg_url, f"bench-{run_tag}-{n}-{name}"
                        _populate_rdb(str(pg_url), study_name, n, steps, seed)
                    pruner = _make_pruner(name, steps, log, pg_url, study_name)
                    study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
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


def commit_floor_us(url: str, durable: bool = True, n: int = 100) -> float:
    """Median time of one one-record append to a database log (INSERT + COMMIT), µs.

    The floor under any decision recorded in a database: what the database's
    commit costs on this machine, measured next to the cells it explains.
    """
    from hpprune.audit.dbsink import DatabaseSink

    sink = DatabaseSink(url, f"commit-floor-{time.time_ns():x}", durable=durable)
    record = {"kind": "complete", "trial": "0", "value": 1.0}
    sink.append([record])  # tables and connection ready
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        sink.append([record])
        times.append((time.perf_counter_ns() - t0) / 1e3)
    sink.close()
    return statistics.median(times)


def _pg_settings(url: str) -> str:
    """The server settings that decide what a durable commit costs."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return ", ".join(
                f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar()}"
                for name in ("fsync", "synchronous_commit", "server_version")
            )
    finally:
        engine.dispose()


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


def _markdown(
    cells: Sequence[Cell],
    argv: Sequence[str] | None,
    footer: str,
    pg_url: str | None,
    floors: dict[str, float],
) -> str:
    """The generated results page: command, settings, table, and the database-log ratios."""
    command = " ".join(["python -m hpprune.bench.overhead", *(argv or sys.argv[1:])])
    if pg_url:
        from hpprune.audit.dbsink import display_url

        command = command.replace(pg_url, display_url(pg_url))
    lines = [
        "# Optuna adapter overhead per call (generated)",
        "",
        "Written by `python -m hpprune.bench.overhead ... --markdown FILE`; do not edit by hand.",
        "",
        f"- command: `{command}`",
        f"- run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {footer}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "",
        table(cells),
        "",
        "Database log (`hpprune+db`: `OptunaPruner(MedianPruner(n_startup_trials=5), "
        "log=STUDY_STORAGE)`, durable commits; `hpprune+db-async`: the same with "
        "`log=DatabaseSink(URL, study, durable=False)`, PostgreSQL's `synchronous_commit = off` "
        "for the sink's session) against the file log (`hpprune+log`) and Optuna's "
        "`MedianPruner` on the same storage and study size. Medians of the `should_prune` calls "
        "of one new trial (p50):",
        "",
        "| storage | finished trials | row | `should_prune` µs (p50) | vs hpprune+log | "
        "Median / row |",
        "|---|---:|---|---:|---:|---:|",
    ]
    by = {(c.storage, c.n_finished, c.pruner): c.should_prune_us for c in cells}
    for (storage, n, pruner), us in by.items():
        if not pruner.startswith("hpprune+db"):
            continue
        log = by.get((storage, n, "hpprune+log"))
        median = by.get((storage, n, "Median"))
        vs_log = f"{us / log:.1f}x" if log else "-"
        vs_median = f"{median / us:.1f}x" if median else "-"
        lines.append(f"| {storage} | {n:,} | {pruner} | {us:,.0f} | {vs_log} | {vs_median} |")
    if floors:
        lines += [
            "",
            "The floor under every recorded decision: one one-record append to a database log "
            "(INSERT + COMMIT), median of 100, measured in the same run:",
            "",
            *(f"- {where}: {us:,.0f} µs" for where, us in floors.items()),
        ]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--storages", nargs="+", default=["memory", "sqlite"], choices=STORAGES)
    parser.add_argument("--pg-url", help="PostgreSQL database for --storages postgres")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=5.0)
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS))
    parser.add_argument("--quick", action="store_true", help="sizes 100 1000, 12 steps, 1 s/cell")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the table and settings here")
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
        pg_url=args.pg_url,
    )
    footer = (
        f"{steps} steps per trial; median per call; python {platform.python_version()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    floors: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hpprune-floor-") as tmp:
        if "sqlite" in args.storages:
            floors["sqlite"] = commit_floor_us(f"sqlite:///{Path(tmp) / 'floor.db'}")
        if "postgres" in args.storages:
            floors["postgres"] = commit_floor_us(args.pg_url)
            floors["postgres, synchronous_commit off"] = commit_floor_us(args.pg_url, False)
            floors = {
                (f"postgres ({_pg_settings(args.pg_url)})" if k == "postgres" else k): v
                for k, v in floors.items()
            }
    print(table(cells))
    for where, us in floors.items():
        print(f"one-record database append (INSERT + COMMIT) on {where}: {us:,.0f} µs")
    print(f"\n{footer}")
    if args.markdown is not None:
        args.markdown.write_text(_markdown(cells, argv, footer, args.pg_url, floors))
    if args.json is not None:
        args.json.write_text(json.dumps([c.__dict__ for c in cells], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
