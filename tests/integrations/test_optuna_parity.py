"""Parity: the Optuna adapter makes the same decisions as hpprune.Engine on the same curves.

Every policy in tests/policy_cases.py is run on an asynchronous stream (several
trials open at once) through a real Optuna study, and compared with a plain
Engine fed the same reports. Storages: in memory, SQLite, JournalStorage (file
backend) and, marked ``postgres``, PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest

from hpprune.integrations.optuna import OptunaPruner
from tests.integrations.optuna_helpers import (
    as_answers,
    decisions_of,
    drive_study,
    engine_reference,
    renumber,
    replay,
)
from tests.policy_cases import POLICY_CASES
from tests.streams import Event, stream

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAMES = sorted(POLICY_CASES)
# Persistent storages only change how trials are read, not what the policy sees,
# so they run a representative subset (percentile, composition, halving,
# hyperband groups); every policy runs in memory above.
STORAGE_CASES = [
    n for n in ("median", "anyof-median-percentile", "sha-r3", "hyperband-9") if n in POLICY_CASES
]


def _events(seed: int) -> list[Event]:
    events = renumber(stream(n_trials=18, n_steps=8, n_workers=3, seed=seed))
    # One trial reports NaN mid-way: the non_finite rule must match too.
    out = []
    for ev in events:
        if ev.trial == "4" and ev.step == 3 and not ev.complete:
            ev = Event(ev.trial, ev.step, math.nan, ev.complete, ev.elapsed)
        out.append(ev)
    return out


@pytest.fixture
def make_storage(tmp_path: Path) -> Iterator[Callable[[str], object]]:
    made: list[object] = []

    def make(kind: str) -> object:
        if kind == "memory":
            storage: object = optuna.storages.InMemoryStorage()
        elif kind == "sqlite":
            storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
        elif kind == "journal":
            storage = optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
            )
        else:
            raise AssertionError(kind)
        made.append(storage)
        return storage

    yield make
    for s in made:
        engine = getattr(s, "engine", None)
        if engine is not None:
            engine.dispose()


def _check(
    study: optuna.Study,
    pruner: OptunaPruner,
    case: str,
    events: list[Event],
    direction: str,
    *,
    helper: bool,
) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    signed = [
        Event(e.trial, e.step, None if e.value is None else sign * e.value, e.complete, e.elapsed)
        for e in events
    ]
    answers = drive_study(study, signed, helper=pruner if helper else None)
    # The Optuna front door runs the policy's stop-only variant (a trial cannot pause).
    reference = engine_reference(
        POLICY_CASES[case]().stop_only(), signed, direction, with_elapsed=helper
    )
    assert decisions_of(pruner) == reference
    assert answers == as_answers(reference)
    # The stop reason is visible in Optuna.
    for t in study.trials:
        stops = [d for d in reference.get(str(t.number), []) if d[1] == "stop"]
        if stops:
            assert t.state == optuna.trial.TrialState.PRUNED
            assert t.user_attrs["hpprune_reason"] == stops[0][2]
            assert t.user_attrs["hpprune_step"] == stops[0][0]
        else:
            assert "hpprune_reason" not in t.user_attrs
    return sum(a == "stop" for ds in reference.values() for _, a, _ in ds)


def test_streams_are_not_vacuous() -> None:
    """The stream used here makes the percentile and halving policies stop trials."""
    for seed in (11, 12, 13, 14):
        for case in STORAGE_CASES:
            ref = engine_reference(
                POLICY_CASES[case](), _events(seed), "minimize", with_elapsed=False
            )
            assert any(a == "stop" for ds in ref.values() for _, a, _ in ds), (seed, case)


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_parity_in_memory(case: str, direction: str) -> None:
    pruner = OptunaPruner(POLICY_CASES[case](), wall_time=False)
    study = optuna.create_study(direction=direction, pruner=pruner)
    _check(study, pruner, case, _events(seed=11), direction, helper=False)


@pytest.mark.parametrize("case", NAMES)
def test_parity_report_helper_with_elapsed(case: str) -> None:
    """``pruner.report(trial, value, step, elapsed_s=...)`` passes elapsed time through."""
    pruner = OptunaPruner(POLICY_CASES[case]())
    study = optuna.create_study(pruner=pruner)
    _check(study, pruner, case, _events(seed=12), "minimize", helper=True)


@pytest.mark.parametrize("case", STORAGE_CASES)
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_parity_persistent_storages_with_log(
    case: str, kind: str, make_storage: Callable[[str], object], tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    pruner = OptunaPruner(POLICY_CASES[case](), log=log, wall_time=False)
    study = optuna.create_study(storage=make_storage(kind), pruner=pruner)
    _check(study, pruner, case, _events(seed=13), "minimize", helper=False)
    # The log replays to exactly the same decisions.
    rep = replay(log)
    assert rep.mismatches == []
    assert rep.decisions == decisions_of(pruner)


@pytest.mark.postgres
@pytest.mark.parametrize("case", STORAGE_CASES)
def test_parity_postgres(case: str, pg_url: str, tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(pg_url)
    try:
        pruner = OptunaPruner(POLICY_CASES[case](), log=tmp_path / "audit.jsonl", wall_time=False)
        study = optuna.create_study(
            storage=storage, pruner=pruner, study_name=f"parity-{case}-{tmp_path.name}"
        )
        _check(
            study, pruner, case, _events(seed=14), "maximize" if False else "minimize", helper=False
        )
    finally:
        storage.engine.dispose()
