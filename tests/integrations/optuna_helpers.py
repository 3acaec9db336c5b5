"""Shared helpers of the Optuna integration tests: replaying a log, driving a study."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

import hpprune
from hpprune.types import Action, Decision, Reason, jsonable
from tests.streams import Event


def num(x: Any) -> float | None:
    """Decode a value written to the log (non-finite floats are strings there)."""
    if x is None:
        return None
    if isinstance(x, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[x]
    return float(x)


@dataclass
class Replay:
    """Result of replaying a log through its policy in one process."""

    engine: hpprune.Engine
    n_decided: int = 0
    mismatches: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    # trial -> [(step, action, reason)] of every decided report, in log order
    decisions: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    stops: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, dict[int, float | None]] = field(default_factory=dict)


def replay(path: Path | list[dict[str, Any]]) -> Replay:
    """Re-decide every decided report of ``path`` with a fresh engine, in log order.

    Ingested reports (folded in from storage without a decision) are folded the
    same way; ``complete``/``fail``/``trial`` records are applied through the
    engine's public API. Every re-made decision is compared with the recorded
    one, evidence included.
    """
    records = list(hpprune.read_log(path)) if isinstance(path, Path) else path
    header = records[0]
    assert header["kind"] == "study"
    engine = hpprune.Engine(
        hpprune.policy_from_dict(header["policy"]),
        header["direction"],
        non_finite=header["non_finite"],
    )
    out = Replay(engine)
    for rec in records[1:]:
        kind = rec["kind"]
        tid = rec.get("trial")
        if kind == "trial":
            engine.add_trial(tid, rec.get("params"))
        elif kind == "report":
            out.values.setdefault(tid, {})[rec["step"]] = num(rec["value"])
            if rec["decision"]["reason"] == Reason.INGESTED:
                engine.apply_record(rec)
                continue
            got = engine.report(tid, rec["step"], num(rec["value"]), elapsed_s=rec.get("elapsed"))
            have = jsonable(got.to_dict(with_evidence=got.action is not Action.CONTINUE))
            out.n_decided += 1
            if have != rec["decision"]:
                out.mismatches.append((rec, have))
            out.decisions.setdefault(tid, []).append((got.step, got.action.value, got.reason))
            if got.action is Action.STOP:
                out.stops[tid] = have
        elif kind == "complete":
            engine.complete(tid, num(rec.get("value")))
        elif kind == "fail":
            engine.fail(tid, rec.get("reason", "failed"))
        else:
            engine.apply_record(rec)
    return out


def renumber(events: list[Event]) -> list[Event]:
    """Rename trials to their Optuna numbers (order of first appearance)."""
    ids: dict[str, str] = {}
    out = []
    for ev in events:
        ids.setdefault(ev.trial, str(len(ids)))
        out.append(Event(ids[ev.trial], ev.step, ev.value, ev.complete, ev.elapsed))
    return out


def last_values(events: list[Event]) -> dict[str, float]:
    """Each trial's last reported value."""
    out: dict[str, float] = {}
    for ev in events:
        if not ev.complete and ev.value is not None:
            out[ev.trial] = ev.value
    return out


def engine_reference(
    policy: hpprune.Policy, events: list[Event], direction: str, *, with_elapsed: bool
) -> dict[str, list[tuple[int, str, str]]]:
    """Decisions of a plain Engine fed the (renumbered) events directly."""
    engine = hpprune.Engine(policy, direction)
    finals = last_values(events)
    out: dict[str, list[tuple[int, str, str]]] = {}
    halted: set[str] = set()
    for ev in events:
        if ev.trial in halted:
            continue
        if ev.complete:
            engine.complete(ev.trial, finals[ev.trial])
            continue
        d = engine.report(
            ev.trial, ev.step, ev.value, elapsed_s=ev.elapsed if with_elapsed else None
        )
        out.setdefault(ev.trial, []).append((ev.step, d.action.value, d.reason))
        if d.action is Action.STOP:
            halted.add(ev.trial)
    return out


def drive_study(
    study: optuna.Study,
    events: list[Event],
    *,
    helper: Any = None,
) -> dict[str, list[tuple[int, bool]]]:
    """Play the (renumbered) events through Optuna's ask/report/should_prune/tell.

    With ``helper`` (an OptunaPruner), reports go through ``helper.report(trial,
    value, step, elapsed_s=...)`` instead of ``trial.report`` + ``trial.should_prune``.

    Returns:
        ``{trial: [(step, should_prune answer), ...]}``.
    """
    finals = last_values(events)
    trials: dict[str, optuna.Trial] = {}
    out: dict[str, list[tuple[int, bool]]] = {}
    halted: set[str] = set()
    for ev in events:
        if ev.trial in halted:
            continue
        if ev.trial not in trials:
            trials[ev.trial] = study.ask()
            assert str(trials[ev.trial].number) == ev.trial
        trial = trials[ev.trial]
        if ev.complete:
            study.tell(trial, finals[ev.trial])
            continue
        value = math.nan if ev.value is None else ev.value
        if helper is not None:
            pruned = helper.report(trial, value, ev.step, elapsed_s=ev.elapsed)
        else:
            trial.report(value, ev.step)
            pruned = trial.should_prune()
        out.setdefault(ev.trial, []).append((ev.step, pruned))
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            halted.add(ev.trial)
    return out


def as_answers(
    reference: Mapping[str, list[tuple[int, str, str]]],
) -> dict[str, list[tuple[int, bool]]]:
    """Engine decisions as should_prune answers."""
    return {t: [(s, a == Action.STOP.value) for s, a, _ in ds] for t, ds in reference.items()}


def decisions_of(pruner: Any) -> dict[str, list[tuple[int, str, str]]]:
    """Every decision the adapter's engine gave, by trial (ingested steps excluded)."""
    engine = pruner.engine
    assert engine is not None
    out: dict[str, list[tuple[int, str, str]]] = {}
    for tid in engine.trial_ids():
        ds: list[Decision] = [d for d in engine.decisions(tid) if d.reason != Reason.INGESTED]
        if ds:
            out[tid] = [(d.step, d.action.value, d.reason) for d in ds]
    return out
