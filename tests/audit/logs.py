"""Synthetic audit logs for the audit-tooling tests (deterministic, seeded)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import hpprune
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, Reason


def make_log(
    path: Path,
    policy: Policy | None = None,
    *,
    n_trials: int = 30,
    n_steps: int = 12,
    n_workers: int = 3,
    seed: int = 0,
    direction: str = "minimize",
    extras: bool = True,
    buffer_size: int = 1,
) -> Path:
    """Run ``policy`` over noisy saturating curves with ``n_workers`` interleaved trials.

    With ``extras``: trial params are registered, one trial reports a NaN, one trial
    fails, some trials are paused by an external scheduler decision and resumed at
    their next report, and the last two trials are left running.
    """
    rng = np.random.default_rng(seed)
    pol = (
        policy if policy is not None else hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=3)
    )
    log = hpprune.AuditLog(path, buffer_size=buffer_size)
    eng = hpprune.Engine(pol, direction=direction, log=log, study_name=f"synthetic-{seed}")
    sign = 1.0 if direction == "minimize" else -1.0
    curves = []
    for _ in range(n_trials):
        final = rng.uniform(0.05, 1.0)
        amp = rng.uniform(0.2, 1.5)
        rate = rng.uniform(0.1, 0.8)
        noise = rng.normal(0.0, 0.02, n_steps)
        curves.append(
            [sign * (final + amp * math.exp(-rate * s) + noise[s]) for s in range(n_steps)]
        )
    speed = rng.uniform(0.5, 2.0, n_trials)
    # (time, order, trial, step or -1 for completion)
    events: list[tuple[float, int, int, int]] = []
    free = [0.0] * n_workers
    for i in range(n_trials):
        w = int(np.argmin(free))
        t = free[w]
        for s in range(n_steps):
            t += float(speed[i])
            events.append((t, len(events), i, s))
        events.append((t + 1e-6, len(events), i, -1))
        free[w] = t
    events.sort()
    halted: set[int] = set()
    for _, _, i, s in events:
        tid = f"t{i:05d}"
        if i in halted:
            continue
        if extras and s == 0:
            eng.add_trial(tid, {"lr": float(10 ** -(1 + i % 4)), "width": 16 * (1 + i % 5)})
        if s == -1:
            if extras and i >= n_trials - 2:
                continue  # left running
            if extras and i == 4:
                eng.fail(tid, "worker crashed")
            else:
                eng.complete(tid)
            continue
        value = curves[i][s]
        if extras and i == 7 and s == 5:
            value = float("nan")
        d = eng.report(tid, s, value, elapsed_s=(s + 1) * float(speed[i]))
        if d.action is Action.STOP:
            halted.add(i)
            continue
        if extras and i % 6 == 1 and s == 3:
            eng.decide_external(
                tid,
                Decision(
                    Action.PAUSE,
                    Reason.LOW_GAIN_PER_HOUR,
                    "scheduler",
                    evidence={"gain_per_hour": 0.01},
                ),
            )
        if extras and i % 12 == 1 and s == 4:
            eng.decide_external(tid, Decision(Action.RESUME, Reason.RESUMED, "scheduler"))
        if extras and i == n_trials - 3 and s == 6:
            eng.decide_external(tid, Decision(Action.PAUSE, Reason.LOW_GAIN_PER_HOUR, "scheduler"))
            halted.add(i)  # stays paused
    eng.close()
    return path
