"""Side by side in real Ray Tune runs: hpprune's RayTuneScheduler vs Ray's own schedulers.

Every arm runs the same trainable on the same configurations: it replays
learning curves from the LCBench surrogate (validation accuracy per epoch,
maximised), sleeping a scaled-down version of each epoch's surrogate training
time, and checkpointing every epoch (so schedulers that pause can resume).
Trials run two at a time on a local Ray runtime with ``num_cpus=2`` and
``reuse_actors=True``.
Arms, with matched settings:

* ``FIFO`` — no early stopping (the reference for budget and best accuracy);
* Ray ``ASHAScheduler`` vs hpprune ``SuccessiveHalvingPruner`` (grace 1, factor 3);
* Ray ``HyperBandScheduler`` vs hpprune ``HyperbandPruner`` (max 52 epochs, factor 3);
* Ray ``MedianStoppingRule`` vs hpprune ``MedianPruner`` (3 peers, 5 warm-up epochs;
  ``min_time_slice=max_t``: with Ray's default of 0 the rule pauses a trial at
  every result while too few peers exist and other trials wait, and the
  pause/resume churn multiplied the wall time by ~10 in our runs).

Reported per arm (means over tasks x seeds): the best validation accuracy
reported by any trial, the total training iterations (epochs) run, and the wall
time of ``Tuner.fit``, with ratios to FIFO and between each hpprune arm and its
Ray counterpart. hpprune arms whose policy is not available are skipped.

Usage::

    python -m hpprune.bench.ray_tune_bench [--quick] [--tasks 189906 ...]
        [--seeds 0 1 2] [--configs 32] [--time-scale 0.005] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import hpprune
from hpprune.bench.lcbench import lcbench_curves
from hpprune.pruners.base import Policy

METRIC = "val_accuracy"
MODE = "max"
FULL_TASKS = ("189906", "167168", "126026")
QUICK_TASKS = ("189906",)


@dataclass(frozen=True)
class Arm:
    """One scheduler configuration.

    Attributes:
        name: Label in the table.
        family: Which hpprune/Ray pair it belongs to (``"baseline"`` for FIFO).
        side: ``"hpprune"``, ``"ray"`` or ``"baseline"``.
        make: Builds a fresh scheduler for a run with ``max_t`` epochs.
    """

    name: str
    family: str
    side: str
    make: Callable[[int], Any]


@dataclass(frozen=True)
class RunResult:
    """Outcome of one arm on one task and seed."""

    arm: str
    task: str
    seed: int
    best: float
    iterations: int
    wall_s: float
    n_trials: int


def _policy(name: str, **kwargs: Any) -> Policy | None:
    cls = getattr(hpprune, name, None)
    return cls(**kwargs) if cls is not None else None


def arms() -> list[Arm]:
    """The compared schedulers (hpprune arms only when their policy exists)."""
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        HyperBandScheduler,
        MedianStoppingRule,
    )

    def fifo(max_t: int) -> Any:
        del max_t
        return FIFOScheduler()  # type: ignore[no-untyped-call]

    out = [Arm("FIFO (no stopping)", "baseline", "baseline", fifo)]
    pairs: list[tuple[str, Callable[[int], Any], str, Callable[[int], Policy | None]]] = [
        (
            "ASHAScheduler",
            lambda t: ASHAScheduler(max_t=t, grace_period=1, reduction_factor=3),
            "SuccessiveHalvingPruner",
            lambda t: _policy("SuccessiveHalvingPruner", min_resource=1, reduction_factor=3),
        ),
        (
            "HyperBandScheduler",
            lambda t: HyperBandScheduler(max_t=t, reduction_factor=3),
            "HyperbandPruner",
            lambda t: _policy(
                "HyperbandPruner", min_resource=1, max_resource=t, reduction_factor=3
            ),
        ),
        (
            "MedianStoppingRule",
            lambda t: MedianStoppingRule(
                time_attr="training_iteration",
                grace_period=5,
                min_samples_required=3,
                min_time_slice=t,
            ),
            "MedianPruner",
            lambda t: _policy("MedianPruner", n_startup_trials=3, n_warmup_steps=5),
        ),
    ]
    for ray_name, make_ray, ours, make_policy in pairs:
        out.append(Arm(f"Ray {ray_name}", ray_name, "ray", make_ray))
        if make_policy(52) is not None:
            out.append(Arm(f"hpprune {ours}", ray_name, "hpprune", _ours(make_policy)))
    return out


def _ours(make_policy: Callable[[int], Policy | None]) -> Callable[[int], Any]:
    from hpprune.integrations.ray_tune import RayTuneScheduler

    def make(max_t: int) -> Any:
        policy = make_policy(max_t)
        if policy is None:
            raise RuntimeError("policy not available")
        return RayTuneScheduler(policy)

    return make


def _replay(
    config: dict[str, Any],
    values: npt.NDArray[np.float64],
    seconds: npt.NDArray[np.float64],
    time_scale: float,
) -> None:
    """Tune trainable: report row ``config["row"]`` of ``values`` epoch by epoch."""
    from ray import tune

    row = int(config["row"])
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = int(json.loads(Path(folder, "state.json").read_text())["epoch"])
    for epoch in range(start + 1, values.shape[1] + 1):
        if time_scale > 0:
            time.sleep(float(seconds[row, epoch - 1]) * time_scale)
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report(
                {METRIC: float(values[row, epoch - 1])},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def run_arm(
    arm: Arm,
    values: npt.NDArray[np.float64],
    seconds: npt.NDArray[np.float64],
    storage: Path,
    time_scale: float,
) -> tuple[float, int, float, int]:
    """Run one Tune experiment; returns (best, iterations, wall seconds, trials)."""
    from ray import tune

    n_configs, max_t = values.shape
    trainable = tune.with_parameters(_replay, values=values, seconds=seconds, time_scale=time_scale)
    tuner = tune.Tuner(
        trainable,
        param_space={"row": tune.grid_search(list(range(n_configs)))},
        tune_config=tune.TuneConfig(
            scheduler=arm.make(max_t), metric=METRIC, mode=MODE, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(storage), name="bench", verbose=0),
    )
    start = time.perf_counter()
    grid: Any = tuner.fit()
    wall = time.perf_counter() - start
    best, iterations = -math.inf, 0
    for k in range(len(grid)):
        frame = grid[k].metrics_dataframe
        if frame is None or METRIC not in frame:
            continue
        iterations += len(frame)
        best = max(best, float(frame[METRIC].max()))
    return best, iterations, wall, len(grid)


def _epoch_seconds(
    elapsed: npt.NDArray[np.float64] | None, shape: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """Seconds of each epoch from cumulative elapsed times (1 s where unknown)."""
    if elapsed is None:
        return np.ones(shape)
    per_epoch = np.diff(elapsed, axis=1, prepend=np.zeros((shape[0], 1)))
    out: npt.NDArray[np.float64] = np.nan_to_num(per_epoch, nan=1.0).clip(min=0.0)
    return out


def run(
    tasks: Sequence[str],
    seeds: Sequence[int],
    n_configs: int,
    time_scale: float,
    progress: Callable[[str], None] = print,
) -> list[RunResult]:
    """Run every arm on every task and seed.

    Args:
        tasks: LCBench task ids.
        seeds: Configuration-sampling seeds.
        n_configs: Configurations (Tune trials) per run.
        time_scale: Seconds slept per surrogate training second (0 for none).
        progress: Called with one line per finished run.

    Returns:
        One result per (task, seed, arm).
    """
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out: list[RunResult] = []
    storage = Path(tempfile.mkdtemp(prefix="hpprune-ray-bench-"))
    try:
        for task in tasks:
            for seed in seeds:
                curves = lcbench_curves(task, n_configs, seed, metric=METRIC)
                values = np.asarray(curves.values, dtype=float)
                seconds = _epoch_seconds(curves.elapsed, values.shape)
                for arm in arms():
                    folder = storage / f"{task}-{seed}-{len(out)}"
                    best, iters, wall, n = run_arm(arm, values, seconds, folder, time_scale)
                    shutil.rmtree(folder, ignore_errors=True)
                    result = RunResult(arm.name, task, seed, best, iters, wall, n)
                    out.append(result)
                    progress(
                        f"task {task} seed {seed} {arm.name:34s} best {best:7.3f} "
                        f"iterations {iters:5d} wall {wall:6.1f}s"
                    )
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return out


def summarise(results: Sequence[RunResult]) -> str:
    """Markdown tables: per arm means with ratios to FIFO, and hpprune/Ray per pair."""
    by_arm: dict[str, list[RunResult]] = {}
    for r in results:
        by_arm.setdefault(r.arm, []).append(r)

    def mean(arm: str, field: str) -> float:
        return statistics.fmean(getattr(r, field) for r in by_arm[arm])

    base = "FIFO (no stopping)"
    lines = [
        "| scheduler | best val_accuracy | training iterations | wall time (s) "
        "| best / FIFO | iterations / FIFO | wall / FIFO |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in by_arm:
        b, it, w = mean(arm, "best"), mean(arm, "iterations"), mean(arm, "wall_s")
        lines.append(
            f"| {arm} | {b:.2f} | {it:.0f} | {w:.1f} | {b / mean(base, 'best'):.3f} "
            f"| {it / mean(base, 'iterations'):.3f} | {w / mean(base, 'wall_s'):.3f} |"
        )
    pairs = []
    for spec in arms():
        ours = spec.name
        if spec.side != "hpprune" or ours not in by_arm:
            continue
        theirs = f"Ray {spec.family}"
        if theirs not in by_arm:
            continue
        pairs.append(
            f"| {ours} vs {theirs} | {mean(ours, 'best') - mean(theirs, 'best'):+.2f} "
            f"| {mean(ours, 'iterations') / mean(theirs, 'iterations'):.3f} "
            f"| {mean(ours, 'wall_s') / mean(theirs, 'wall_s'):.3f} |"
        )
    if pairs:
        lines += [
            "",
            "| pair | best (hpprune - Ray) | iterations (hpprune / Ray) | wall (hpprune / Ray) |",
            "|---|---:|---:|---:|",
            *pairs,
        ]
    runs = sorted({(r.task, r.seed) for r in results})
    lines += ["", f"Means over {len(runs)} runs (task, seed): {runs}."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Returns:
        The exit status (0).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 task, 1 seed, 16 configs")
    parser.add_argument("--tasks", nargs="+", default=None, help="LCBench task ids")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--configs", type=int, default=None, help="trials per run")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.005,
        help="seconds slept per surrogate training second (default 0.005)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write raw results here")
    args = parser.parse_args(argv)
    tasks = args.tasks or (QUICK_TASKS if args.quick else FULL_TASKS)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    n_configs = args.configs or (16 if args.quick else 32)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    command = " ".join(["python -m hpprune.bench.ray_tune_bench", *(argv or sys.argv[1:])])
    results = run(tasks, seeds, n_configs, args.time_scale, progress=print)
    print()
    print(f"`{command}` ({n_configs} trials per run, 2 CPUs, time scale {args.time_scale})")
    print()
    print(summarise(results))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
