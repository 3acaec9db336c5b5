"""Deterministic synthetic report streams shared by the conformance and parity tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import hpprune
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision


@dataclass(frozen=True)
class Event:
    """One report (value may be None/NaN/inf) or, with ``complete=True``, a completion."""

    trial: str
    step: int
    value: float | None
    complete: bool = False
    elapsed: float | None = None


def make_curves(n_trials: int, n_steps: int, seed: int) -> dict[str, list[float]]:
    """Noisy saturating curves (lower is better) with different asymptotes and speeds."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {}
    for i in range(n_trials):
        final = rng.uniform(0.05, 1.0)
        amp = rng.uniform(0.2, 1.5)
        rate = rng.uniform(0.1, 0.8)
        noise = rng.normal(0.0, 0.02, n_steps)
        out[f"t{i}"] = [float(final + amp * math.exp(-rate * s) + noise[s]) for s in range(n_steps)]
    return out


def interleave(curves: dict[str, list[float]], n_workers: int, seed: int) -> list[Event]:
    """An asynchronous schedule: ``n_workers`` trials run at once, steps of random length."""
    rng = np.random.default_rng(seed + 1)
    ids = list(curves)
    speed = {t: float(rng.uniform(0.5, 2.0)) for t in ids}
    events: list[tuple[float, int, Event]] = []
    free_at = [0.0] * n_workers
    for order, tid in enumerate(ids):
        w = int(np.argmin(free_at))
        t = free_at[w]
        for s, v in enumerate(curves[tid]):
            t += speed[tid]
            events.append((t, order, Event(tid, s, v, elapsed=(s + 1) * speed[tid])))
        events.append((t + 1e-9, order, Event(tid, len(curves[tid]) - 1, None, complete=True)))
        free_at[w] = t
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events]


def stream(n_trials: int = 24, n_steps: int = 12, n_workers: int = 3, seed: int = 0) -> list[Event]:
    """A default asynchronous stream."""
    return interleave(make_curves(n_trials, n_steps, seed), n_workers, seed)


def drive(
    engine: hpprune.Engine,
    events: list[Event],
    *,
    sign: float = 1.0,
) -> dict[str, list[tuple[int, str, str]]]:
    """Feed ``events`` to ``engine``; a stopped or paused trial's later events are skipped.

    Returns:
        ``{trial: [(step, action, reason), ...]}`` of every decision received.
    """
    out: dict[str, list[tuple[int, str, str]]] = {}
    halted: set[str] = set()
    for ev in events:
        if ev.trial in halted:
            continue
        if ev.complete:
            engine.complete(ev.trial)
            continue
        value = None if ev.value is None else sign * ev.value
        d: Decision = engine.report(ev.trial, ev.step, value, elapsed_s=ev.elapsed)
        out.setdefault(ev.trial, []).append((ev.step, d.action.value, d.reason))
        if d.action in (Action.STOP, Action.PAUSE):
            halted.add(ev.trial)
    return out


def run_policy(
    factory: Callable[[], Policy],
    events: list[Event],
    direction: str = "minimize",
    **engine_kwargs: object,
) -> dict[str, list[tuple[int, str, str]]]:
    """Fresh engine, whole stream, decisions by trial."""
    engine = hpprune.Engine(factory(), direction, **engine_kwargs)  # type: ignore[arg-type]
    sign = 1.0 if direction == "minimize" else -1.0
    return drive(engine, events, sign=sign)
