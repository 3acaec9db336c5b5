"""Performance under load: log append throughput, replay speed, decision latency.

Run ``python -m hpprune.bench.load`` (``--quick`` for a smaller run). It
prints a Markdown table; timings are wall-clock on this machine, so the
flatness check is a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import hpprune
from hpprune.audit.log import AuditLog, read_log
from hpprune.pruners.base import Policy


def _record(i: int) -> dict[str, object]:
    return {
        "kind": "report",
        "trial": f"t{i % 1000}",
        "step": i // 1000,
        "value": 0.5 + (i % 997) * 1e-3,
        "decision": {"action": "continue", "reason": "ok", "rule": "MedianPruner"},
    }


def append_throughput(path: Path, n: int, buffer_size: int, fsync: bool) -> float:
    """Records per second appended through :class:`AuditLog`."""
    records = [_record(i) for i in range(n)]
    t0 = time.perf_counter()
    with AuditLog(path, buffer_size=buffer_size, fsync=fsync) as log:
        for r in records:
            log.append([r])
    return n / (time.perf_counter() - t0)


def write_study_log(path: Path, n_trials: int, n_steps: int, seed: int = 0) -> int:
    """Write a realistic log (MedianPruner over random curves); returns its record count."""
    rng = np.random.default_rng(seed)
    finals = rng.uniform(0.1, 1.0, n_trials)
    engine = hpprune.Engine(
        hpprune.MedianPruner(
            n_startup_trials=5, n_warmup_steps=n_steps
        ),  # never stops: full curves
        log=AuditLog(path, buffer_size=4096),
    )
    for t in range(n_trials):
        for s in range(n_steps):
            engine.report(t, s, float(finals[t] + 1.0 / (s + 1)))
        engine.complete(t)
    engine.close()
    return sum(1 for _ in read_log(path))


def replay_seconds(path: Path) -> float:
    """Seconds for ``Engine.from_log`` to fold the whole log."""
    t0 = time.perf_counter()
    hpprune.Engine.from_log(path, resume_logging=False)
    return time.perf_counter() - t0


def decision_latency_us(
    make: Callable[[], Policy], n_trials: int, n_steps: int, n_probe: int
) -> dict[str, float]:
    """p50 of ``Engine.report`` (no log) once ``n_trials`` x ``n_steps`` are in the store.

    Returns:
        ``{"all": p50, "continue": p50, "stop": p50}`` in µs; CONTINUE and STOP
        are reported apart because a larger study stops more probes at once,
        which shifts the mix (a STOP records more evidence).
    """
    rng = np.random.default_rng(1)
    engine = hpprune.Engine(make())
    finals = rng.uniform(0.1, 1.0, n_trials)
    for t in range(n_trials):
        for s in range(n_steps):
            if engine.report(t, s, float(finals[t] + 1.0 / (s + 1))).stops:
                break
        else:
            engine.complete(t)
    times: dict[str, list[int]] = {"continue": [], "stop": []}
    for k in range(n_probe):
        tid = f"probe{k}"
        v = float(rng.uniform(0.1, 1.0))
        for s in range(n_steps):
            t0 = time.perf_counter_ns()
            d = engine.report(tid, s, v + 1.0 / (s + 1))
            elapsed = time.perf_counter_ns() - t0
            times["stop" if d.stops else "continue"].append(elapsed)
            if d.stops:
                break
    every = times["continue"] + times["stop"]
    out = {"all": statistics.median(every) / 1000.0}
    for kind, values in times.items():
        out[kind] = statistics.median(values) / 1000.0 if values else float("nan")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load benchmark and print the table.

    Args:
        argv: Command-line arguments (``--quick``, ``--events``, ``--trials``).

    Returns:
        Exit code 0.
    """
    ap = argparse.ArgumentParser(prog="python -m hpprune.bench.load", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about 20 s)")
    args = ap.parse_args(argv)
    n_append = 100_000 if args.quick else 500_000
    big_trials, steps = (2_000, 50) if args.quick else (10_000, 50)
    replay_trials = 4_000 if args.quick else 20_000  # x 50 steps -> 200k / 1M events
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for bs, fs, label in [
            (1, False, "append, write per record, no fsync"),
            (1000, False, "append, batches of 1000, no fsync"),
            (1000, True, "append, batches of 1000, fsync per batch"),
            (1, True, "append, fsync per record"),
        ]:
            n = n_append if not (fs and bs == 1) else 2_000
            rate = append_throughput(d / f"a{bs}{fs}.jsonl", n, bs, fs)
            rows.append((label, f"{rate:,.0f} records/s ({n:,} records)"))
        log = d / "study.jsonl"
        n_rec = write_study_log(log, replay_trials, 50)
        secs = replay_seconds(log)
        size = os.path.getsize(log) / 1e6
        rows.append(
            (
                f"replay (Engine.from_log) of {n_rec:,} records, {size:.0f} MB",
                f"{secs:.2f} s ({n_rec / secs:,.0f} records/s)",
            )
        )
    for name, make in [
        ("MedianPruner", lambda: hpprune.MedianPruner(n_startup_trials=5)),
        ("SuccessiveHalvingPruner", lambda: hpprune.SuccessiveHalvingPruner(min_resource=1)),
    ]:
        small = decision_latency_us(make, 100, steps, 200)
        large = decision_latency_us(make, big_trials, steps, 200)
        for kind in ("all", "continue", "stop"):
            rows.append(
                (
                    f"{name} decision p50 ({kind}), 100 vs {big_trials:,} trials x {steps} steps",
                    f"{small[kind]:.1f} µs vs {large[kind]:.1f} µs "
                    f"(ratio {large[kind] / small[kind]:.2f})",
                )
            )
    print("| measurement | result |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
