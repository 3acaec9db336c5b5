"""The storage watcher: the SQL fast path and Optuna's public API give the same decisions.

A scripted study runs on SQLite with two pruners ("workers") on one storage,
trials interleaved and some added from outside; each pruner learns of the
others' trials only through its watcher. The run is repeated with the fast
path refused by the version check, and with the fast query failing mid-study:
every decision, every stop recorded in Optuna and every audit record must be
the same.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

import hpprune
from hpprune.integrations import optuna_storage
from hpprune.integrations.optuna import OptunaPruner
from hpprune.integrations.optuna_storage import (
    PublicWatcher,
    RDBWatcher,
    make_watcher,
    rdb_fast_path,
)
from tests.integrations.optuna_helpers import decisions_of

optuna.logging.set_verbosity(optuna.logging.WARNING)
TrialState = optuna.trial.TrialState
N_ROUNDS, N_STEPS = 12, 6


def _value(number: int, step: int) -> float:
    return 1.0 / (1 + step) + 0.07 * ((number * 7) % 11) + 0.01 * math.sin(number + step)


def _run(tmp_path: Path, tag: str, url: str | None = None) -> dict[str, Any]:
    """Two pruners on one study (SQLite unless ``url``), three trials open at a time, one
    external trial a round."""
    url = url or f"sqlite:///{tmp_path / f'{tag}.db'}"
    study_name = f"w-{tag}-{tmp_path.name}"
    storage = optuna.storages.RDBStorage(url)
    policy = hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    pruners = [
        OptunaPruner(policy, log=tmp_path / f"{tag}-{i}.jsonl", wall_time=False) for i in range(2)
    ]
    studies = [
        optuna.create_study(storage=storage, study_name=study_name, pruner=pruners[0]),
        optuna.load_study(storage=storage, study_name=study_name, pruner=pruners[1]),
    ]
    answers: dict[int, list[bool]] = {}
    for rnd in range(N_ROUNDS):
        open_trials = [(studies[(rnd + k) % 2], studies[(rnd + k) % 2].ask()) for k in range(3)]
        live = list(open_trials)
        for step in range(N_STEPS):
            for study, trial in list(live):
                trial.report(_value(trial.number, step), step)
                pruned = trial.should_prune()
                answers.setdefault(trial.number, []).append(pruned)
                if pruned:
                    study.tell(trial, state=TrialState.PRUNED)
                    live.remove((study, trial))
        for study, trial in reversed(live):
            study.tell(trial, _value(trial.number, N_STEPS - 1))
        # A trial finished by someone without hpprune: both pruners ingest it from storage.
        number = len(studies[0].get_trials(deepcopy=False))
        studies[0].add_trial(
            optuna.trial.create_trial(
                value=_value(number, N_STEPS - 1),
                intermediate_values={s: _value(number, s) for s in range(N_STEPS)},
            )
        )
    for study, pruner in zip(studies, pruners, strict=True):
        pruner.sync(study)
    trials = studies[0].get_trials(deepcopy=False)
    out = {
        "answers": answers,
        "decisions": [decisions_of(p) for p in pruners],
        "states": [(t.number, t.state, t.user_attrs) for t in trials],
        "logs": [list(hpprune.read_log(tmp_path / f"{tag}-{i}.jsonl"))[1:] for i in range(2)],
        "watchers": [p._watcher for p in pruners],
    }
    storage.engine.dispose()
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("answers", "decisions", "states", "logs"):
        assert a[key] == b[key], key


def test_forced_fallback_makes_the_same_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _run(tmp_path, "fast")
    assert all(isinstance(w, RDBWatcher) and not w.fell_back for w in fast["watchers"])
    assert any(any(a) for a in fast["answers"].values()), "the study should prune some trials"
    assert any(r["decision"]["reason"] == "ingested" for r in fast["logs"][0] if "decision" in r)

    monkeypatch.setattr(optuna_storage.optuna, "__version__", "99.0.0")
    with pytest.warns(RuntimeWarning, match="public storage API"):
        slow = _run(tmp_path, "slow")
    assert all(isinstance(w, PublicWatcher) for w in slow["watchers"])
    _same(fast, slow)


@pytest.mark.postgres
def test_postgres_fast_path_and_public_api_agree(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _run(tmp_path, "pgfast", pg_url)
    assert all(isinstance(w, RDBWatcher) and not w.fell_back for w in fast["watchers"])
    monkeypatch.setattr(optuna_storage.optuna, "__version__", "99.0.0")
    with pytest.warns(RuntimeWarning, match="public storage API"):
        slow = _run(tmp_path, "pgslow", pg_url)
    _same(fast, slow)


def test_fast_query_failing_mid_study_falls_back_with_the_same_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _run(tmp_path, "fast")
    real = RDBWatcher._sql
    calls = [0]

    def broken(self: RDBWatcher, study_id: int) -> str:
        calls[0] += 1
        if calls[0] > 40:  # as if a later Optuna renamed a column under us
            return real(self, study_id).replace(" state FROM", " trial_state FROM")
        return real(self, study_id)

    monkeypatch.setattr(RDBWatcher, "_sql", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        broke = _run(tmp_path, "broke")
    assert all(w.fell_back for w in broke["watchers"])
    assert any("public storage API" in str(w.message) for w in caught)
    _same(fast, broke)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({}, None),
        ({"version": "99.1"}, "newer or older"),
        ({"version": "dev"}, "unrecognised Optuna version"),
        ({"schema": 13}, "schema version 13"),
        ({"skip": True}, "skipped Optuna's schema compatibility check"),
    ],
)
def test_version_and_schema_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch: dict[str, Any], expected: str | None
) -> None:
    from optuna.storages._rdb import models

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'v.db'}")
    if "version" in patch:
        monkeypatch.setattr(optuna_storage.optuna, "__version__", patch["version"])
    if "schema" in patch:
        monkeypatch.setattr(models, "SCHEMA_VERSION", patch["schema"])
    if "skip" in patch:
        monkeypatch.setattr(storage, "skip_compatibility_check", True)
    why = rdb_fast_path(storage)
    if expected is None:
        assert why is None
        assert isinstance(make_watcher(storage), RDBWatcher)
    else:
        assert why is not None and expected in why
        with pytest.warns(RuntimeWarning, match=expected):
            assert isinstance(make_watcher(storage), PublicWatcher)
    storage.engine.dispose()


def test_non_rdb_storages_use_the_public_api() -> None:
    assert isinstance(make_watcher(optuna.storages.InMemoryStorage()), PublicWatcher)
