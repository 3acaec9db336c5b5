"""Behaviour of OptunaPruner: drop-in use, reasons in Optuna, stickiness, errors, logs, threads."""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

import hpprune
from hpprune.integrations.optuna import (
    ATTR_EVIDENCE,
    ATTR_REASON,
    ATTR_RULE,
    ATTR_STEP,
    OptunaPruner,
)
from hpprune.types import Action, Reason
from tests.integrations.optuna_helpers import (
    decisions_of,
    drive_study,
    engine_reference,
    last_values,
    renumber,
    replay,
)
from tests.streams import stream

optuna.logging.set_verbosity(optuna.logging.WARNING)
TrialState = optuna.trial.TrialState


def _objective(n_steps: int = 8) -> Any:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        value = 0.0
        for step in range(n_steps):
            value = (x - 0.4) ** 2 + math.exp(-(0.3 + x) * step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    return objective


def test_drop_in_create_study_records_reasons(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=3), log=log)
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective(), n_trials=25)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "nothing was pruned"
    rep = replay(log)
    assert rep.mismatches == []
    for t in pruned:
        stop = rep.stops[str(t.number)]
        assert t.user_attrs[ATTR_REASON] == stop["reason"] == Reason.BELOW_PERCENTILE
        assert t.user_attrs[ATTR_RULE] == stop["rule"] == "MedianPruner"
        assert t.user_attrs[ATTR_STEP] == stop["step"] == t.last_step
        assert t.user_attrs[ATTR_EVIDENCE] == stop["evidence"]
        assert stop["evidence"]["best_so_far"] > stop["evidence"]["cutoff"]
        assert pruner.last_decision(t).reason == Reason.BELOW_PERCENTILE  # type: ignore[union-attr]
    # The log is an ordinary hpprune log: Engine.from_log folds it.
    engine = hpprune.Engine.from_log(log, resume_logging=False)
    assert engine.study.n_completed == sum(t.state == TrialState.COMPLETE for t in study.trials)


def test_should_prune_is_idempotent_and_sticky(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    pruner = OptunaPruner(hpprune.ThresholdPruner(upper=1.0), log=log)
    study = optuna.create_study(pruner=pruner)
    trial = study.ask()
    assert trial.should_prune() is False  # nothing reported yet: no decision, no record
    n0 = len(list(hpprune.read_log(log))) if log.exists() else 0
    trial.report(0.5, 0)
    assert trial.should_prune() is False
    assert trial.should_prune() is False
    trial.report(2.0, 1)
    assert trial.should_prune() is True
    n1 = len(list(hpprune.read_log(log)))
    assert trial.should_prune() is True
    trial.report(0.1, 2)  # ignoring the advice: still STOP, with the original step and reason
    assert trial.should_prune() is True
    assert len(list(hpprune.read_log(log))) == n1
    assert n1 - n0 >= 2
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.user_attrs[ATTR_STEP] == 1
    assert frozen.user_attrs[ATTR_REASON] == Reason.THRESHOLD


@pytest.mark.parametrize(
    ("non_finite", "expected", "reason"),
    [("stop", True, Reason.NON_FINITE), ("ignore", False, Reason.NON_FINITE_IGNORED)],
)
def test_non_finite_values(non_finite: str, expected: bool, reason: str) -> None:
    pruner = OptunaPruner(hpprune.NoPruning(), non_finite=non_finite)
    study = optuna.create_study(pruner=pruner)
    for bad in (math.nan, math.inf):
        trial = study.ask()
        trial.report(1.0, 0)
        assert trial.should_prune() is False
        trial.report(bad, 1)
        assert trial.should_prune() is expected
        d = pruner.last_decision(trial)
        assert d is not None and d.reason == reason
        study.tell(trial, state=TrialState.PRUNED if expected else TrialState.FAIL)
    # Non-finite values never enter statistics of other trials.
    engine = pruner.engine
    assert engine is not None
    assert all(math.isfinite(x) for x in engine.study.sorted_scores(1, "all"))


def test_multi_objective_with_objective_index() -> None:
    """Optuna refuses Trial.should_prune here; the adapter's helpers decide on objective 1."""
    events = renumber(stream(n_trials=14, n_steps=6, n_workers=2, seed=5))
    policy = hpprune.MedianPruner(n_startup_trials=2)
    pruner = OptunaPruner(policy, objective_index=1, wall_time=False)
    study = optuna.create_study(directions=["minimize", "maximize"], pruner=pruner)
    signed = [
        type(e)(e.trial, e.step, None if e.value is None else -e.value, e.complete) for e in events
    ]
    finals = last_values(signed)
    trials: dict[str, optuna.Trial] = {}
    halted: set[str] = set()
    for ev in signed:
        if ev.trial in halted:
            continue
        if ev.trial not in trials:
            trials[ev.trial] = study.ask()
        trial = trials[ev.trial]
        if ev.complete:
            study.tell(trial, [123.0, finals[ev.trial]])
            continue
        with pytest.raises(NotImplementedError):
            trial.should_prune()
        if pruner.report(trial, ev.value, ev.step):  # type: ignore[arg-type]
            assert pruner.should_prune(trial) is True
            study.tell(trial, state=TrialState.PRUNED)
            halted.add(ev.trial)
    reference = engine_reference(
        hpprune.MedianPruner(n_startup_trials=2), signed, "maximize", with_elapsed=False
    )
    assert decisions_of(pruner) == reference
    assert any(a == "stop" for ds in reference.values() for _, a, _ in ds)
    stored = {t.number: dict(t.intermediate_values) for t in study.trials}
    assert stored[0] == {e.step: e.value for e in signed if e.trial == "0" and not e.complete}


def test_multi_objective_needs_a_valid_index() -> None:
    study = optuna.create_study(
        directions=["minimize", "maximize"], pruner=OptunaPruner(hpprune.NoPruning())
    )
    trial = study.ask()
    with pytest.raises(ValueError, match="objective_index"):
        study.pruner.report(trial, 1.0, 0)  # type: ignore[attr-defined]
    study2 = optuna.create_study(pruner=OptunaPruner(hpprune.NoPruning(), objective_index=2))
    trial2 = study2.ask()
    trial2.report(1.0, 0)
    with pytest.raises(ValueError, match=r"`objective_index` = 2 .* 1 objective"):
        trial2.should_prune()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"policy": "median"}, TypeError, "policy"),
        ({"log": 3}, TypeError, "log"),
        ({"log": b"x.jsonl"}, TypeError, "log"),
        ({"objective_index": -1}, ValueError, "objective_index"),
        ({"objective_index": 1.0}, TypeError, "objective_index"),
        ({"non_finite": "drop"}, ValueError, "non_finite"),
        ({"wall_time": "yes"}, TypeError, "wall_time"),
    ],
)
def test_constructor_validation(
    kwargs: dict[str, Any], error: type[Exception], match: str, tmp_path: Path
) -> None:
    args: dict[str, Any] = {"policy": hpprune.NoPruning()}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        OptunaPruner(**args)


def test_one_pruner_per_study() -> None:
    pruner = OptunaPruner(hpprune.NoPruning())
    for i, name in enumerate(["a", "b"]):
        study = optuna.create_study(study_name=name, pruner=pruner)
        trial = study.ask()
        trial.report(1.0, 0)
        if i == 0:
            assert trial.should_prune() is False
        else:
            with pytest.raises(ValueError, match="bound to study 'a'"):
                trial.should_prune()


def test_log_of_another_policy_or_study_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    study = optuna.create_study(
        study_name="s1", pruner=OptunaPruner(hpprune.MedianPruner(), log=log)
    )
    study.optimize(_objective(3), n_trials=2)
    other = optuna.create_study(
        study_name="s1b", pruner=OptunaPruner(hpprune.PercentilePruner(25.0), log=log)
    )
    trial = other.ask()
    trial.report(1.0, 0)
    with pytest.raises(ValueError, match="policy"):
        trial.should_prune()
    third = optuna.create_study(
        study_name="s2", pruner=OptunaPruner(hpprune.MedianPruner(), log=log)
    )
    trial = third.ask()
    trial.report(1.0, 0)
    with pytest.raises(ValueError, match="belongs to study 's1'"):
        trial.should_prune()
    for kwargs, match in (({"direction": "maximize"}, "direction"), ({}, "non_finite")):
        pruner = OptunaPruner(
            hpprune.MedianPruner(), log=log, non_finite="ignore" if not kwargs else "stop"
        )
        again = optuna.create_study(study_name="s1", pruner=pruner, **kwargs)
        trial = again.ask()
        trial.report(1.0, 0)
        with pytest.raises(ValueError, match=match):
            trial.should_prune()


def test_restart_from_log_continues_identically(tmp_path: Path) -> None:
    """A worker that restarts (new pruner, same storage and log) decides as if it never stopped."""
    events = renumber(stream(n_trials=16, n_steps=6, n_workers=2, seed=8))
    cut = next(i for i, e in enumerate(events) if e.trial == "9")
    log = tmp_path / "audit.jsonl"
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    make = lambda: OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=log, wall_time=False)  # noqa: E731
    study = optuna.create_study(storage=storage, study_name="r", pruner=make())
    first = drive_study(study, events[:cut])
    # Trials still open at the cut continue in the restarted process.
    study2 = optuna.load_study(study_name="r", storage=storage, pruner=make())
    open_trials = {str(t.number): t for t in study2.trials if t.state == TrialState.RUNNING}
    done = {str(t.number) for t in study2.trials if t.state.is_finished()}
    second = _continue(study2, events[cut:], open_trials, done, last_values(events))
    reference = engine_reference(
        hpprune.MedianPruner(n_startup_trials=2), events, "minimize", with_elapsed=False
    )
    answers = {t: first.get(t, []) + second.get(t, []) for t in reference}
    assert answers == {t: [(s, a == "stop") for s, a, _ in ds] for t, ds in reference.items()}
    assert replay(log).mismatches == []
    storage.engine.dispose()


def _continue(
    study: optuna.Study,
    events: list[Any],
    open_trials: dict[str, Any],
    done: set[str],
    finals: dict[str, float],
) -> dict[str, list[tuple[int, bool]]]:
    out: dict[str, list[tuple[int, bool]]] = {}
    halted: set[str] = set(done)
    live: dict[str, optuna.Trial] = {}
    for ev in events:
        if ev.trial in halted:
            continue
        if ev.trial not in live:
            if ev.trial in open_trials:
                live[ev.trial] = optuna.Trial(study, open_trials[ev.trial]._trial_id)
            else:
                live[ev.trial] = study.ask()
                assert str(live[ev.trial].number) == ev.trial
        trial = live[ev.trial]
        if ev.complete:
            study.tell(trial, finals[ev.trial])
            continue
        trial.report(ev.value, ev.step)
        pruned = trial.should_prune()
        out.setdefault(ev.trial, []).append((ev.step, pruned))
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
            halted.add(ev.trial)
    return out


def test_threads_share_one_pruner(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=log)
    study = optuna.create_study(
        storage=storage, pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.optimize(_objective(6), n_trials=16, n_jobs=4)
    rep = replay(log)
    assert rep.mismatches == []
    assert {str(t.number) for t in study.trials if t.state == TrialState.PRUNED} == set(rep.stops)
    storage.engine.dispose()


def test_pickle_round_trip(tmp_path: Path) -> None:
    pruner = OptunaPruner(
        hpprune.PercentilePruner(30.0, n_startup_trials=1),
        log=tmp_path / "a.jsonl",
        objective_index=0,
        non_finite="ignore",
        wall_time=False,
    )
    study = optuna.create_study(pruner=pruner)
    study.optimize(_objective(3), n_trials=2)
    clone = pickle.loads(pickle.dumps(pruner))
    assert clone.policy == pruner.policy
    assert clone.log_path == pruner.log_path
    assert clone.engine is None  # state is rebuilt from the log and storage, never pickled
    assert pickle.loads(pickle.dumps(clone)).__getstate__() == pruner.__getstate__()


def test_reads_each_finished_trial_once() -> None:
    """The incremental view: no full scan per call, and each finished trial is read once."""
    calls = {"get_all_trials": 0, "get_trial": 0, "probe": 0}
    counting = [False]

    class Counting(optuna.storages.InMemoryStorage):
        def get_all_trials(self, *a: Any, **k: Any) -> Any:
            calls["get_all_trials"] += counting[0]
            return super().get_all_trials(*a, **k)

        def get_trial(self, *a: Any, **k: Any) -> Any:
            calls["get_trial"] += counting[0]
            return super().get_trial(*a, **k)

        def get_trial_id_from_study_id_trial_number(self, *a: Any, **k: Any) -> Any:
            calls["probe"] += counting[0]
            return super().get_trial_id_from_study_id_trial_number(*a, **k)

    study = optuna.create_study(
        storage=Counting(), pruner=OptunaPruner(hpprune.MedianPruner(n_startup_trials=2))
    )
    n_trials, n_steps = 30, 10
    for _ in range(n_trials):
        trial = study.ask()
        for step in range(n_steps):
            trial.report(float(step + trial.number % 7), step)
            counting[0] = True
            trial.should_prune()
            counting[0] = False
        study.tell(trial, float(trial.number % 7))
    assert calls["get_all_trials"] == 1  # only the very first call lists the study
    assert calls["get_trial"] <= n_trials  # one read per trial, not per call (300 calls)
    assert calls["probe"] <= n_trials * n_steps + n_trials  # one probe per call + one per new trial


def test_rdb_poll_returns_only_new_and_open_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpprune.integrations.optuna_storage import RDBWatcher

    calls: list[tuple[Any, int]] = []
    real = RDBWatcher._query

    def spy(self: Any, study_id: int) -> list[Any]:
        rows = real(self, study_id)
        calls.append((self, len(rows)))
        return rows

    monkeypatch.setattr(RDBWatcher, "_query", spy)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage, pruner=OptunaPruner(hpprune.MedianPruner()))
    study.add_trials(
        [
            optuna.trial.create_trial(
                value=float(i), intermediate_values={0: float(i), 1: float(i)}
            )
            for i in range(120)
        ]
    )
    for _ in range(2):
        trial = study.ask()
        for step in range(2):
            trial.report(0.5, step)
            assert trial.should_prune() is False
        study.tell(trial, 0.5)
    # Only this study's watcher (a collected study of an earlier test may sync at any time).
    sizes = [n for watcher, n in calls if watcher is study.pruner._watcher]
    assert sizes[0] == 121  # the first call lists the study once
    assert max(sizes[1:]) <= 2  # later calls: the open trial and any new one
    storage.engine.dispose()


def test_torn_line_in_shared_log_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    study = optuna.create_study(
        pruner=OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=log)
    )
    study.optimize(_objective(4), n_trials=3)
    with open(log, "ab") as fh:
        fh.write(b'{"kind":"report","trial":"99","st')  # a writer crashed mid-line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(_objective(4), n_trials=3)
    assert any("torn" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = replay(log)
    assert rep.mismatches == []
    assert "99" not in rep.decisions


def test_externally_pruned_and_failed_trials_are_not_completed(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    pruner = OptunaPruner(hpprune.NoPruning(), log=log)
    study = optuna.create_study(pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        for step in range(3):
            trial.report(float(step), step)  # never asks should_prune: ingested later
        if trial.number == 0:
            raise optuna.TrialPruned()
        if trial.number == 1:
            raise RuntimeError("boom")
        return 1.0

    study.optimize(objective, n_trials=4, catch=(RuntimeError,))
    trial = study.ask()
    trial.report(1.0, 0)
    trial.should_prune()
    engine = pruner.engine
    assert engine is not None
    assert engine.state("0") is hpprune.TrialState.FAILED
    assert engine.state("1") is hpprune.TrialState.FAILED
    assert engine.state("2") is hpprune.TrialState.COMPLETED
    assert engine.study.n_completed == 2
    assert [d.reason for d in engine.decisions("2")] == [Reason.INGESTED] * 3
    kinds = [(r["kind"], r.get("trial"), r.get("reason")) for r in hpprune.read_log(log)]
    assert ("fail", "0", "pruned") in kinds and ("fail", "1", "failed") in kinds
    assert replay(log).mismatches == []


def test_pause_is_answered_with_continue() -> None:
    """Optuna cannot pause a trial: a PAUSE decision maps to False."""
    from hpprune.types import Decision

    class Pauser(hpprune.NoPruning):
        def decide(self, trial: Any, study: Any) -> Decision:
            return Decision(Action.PAUSE, "test_pause", "Pauser")

    pruner = OptunaPruner(Pauser())
    study = optuna.create_study(pruner=pruner)
    trial = study.ask()
    trial.report(1.0, 0)
    assert trial.should_prune() is False
    d = pruner.last_decision(trial)
    assert d is not None and d.action is Action.PAUSE


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_sync_callback_records_the_last_trials_as_finished(tmp_path: Path, storage: str) -> None:
    url = None if storage == "memory" else f"sqlite:///{tmp_path / 'sync.db'}"
    log = tmp_path / "sync.jsonl"
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=log)
    study = optuna.create_study(storage=url, pruner=pruner, direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(5):
            trial.report(x * (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x * 5

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=12, callbacks=[pruner.sync])
    engine = hpprune.Engine.from_log(log, resume_logging=False)
    states = {t: engine.state(t).value for t in engine.trial_ids()}
    assert len(states) == 12
    assert "running" not in states.values()
    completed = {str(t.number) for t in study.trials if t.state.name == "COMPLETE"}
    assert {t for t, s in states.items() if s == "completed"} == completed
    # Without the callback the last trial's completion is never seen.
    pruner2 = OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=tmp_path / "nosync.jsonl")
    study2 = optuna.create_study(pruner=pruner2, direction="maximize")
    for x in (0.5, 0.6, 0.2, 1.0):  # the last trial is the best: it completes
        study2.enqueue_trial({"x": x})
    study2.optimize(objective, n_trials=4)
    assert study2.trials[3].state.name == "COMPLETE"
    again = hpprune.Engine.from_log(tmp_path / "nosync.jsonl", resume_logging=False)
    assert again.state("3").value == "running"


def test_multi_objective_study_with_the_posterior_pareto_mode(tmp_path: Path) -> None:
    """Accuracy (maximize) is pruned on; model size (minimize) is known from the params.

    A trial that no completed trial beats on size is never stopped (it cannot be
    dominated); the others are stopped only when P(not dominated) < alpha.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    policy = hpprune.BayesianPruner(
        n_startup_trials=3, n_warmup_steps=2, pareto={"n_params": "minimize"}
    )
    pruner = OptunaPruner(policy, log=tmp_path / "mo.jsonl", objective_index=0)
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=3),
    )
    smallest_so_far: dict[int, int] = {}

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        n_params = trial.suggest_int("n_params", 10, 1000)
        quality = trial.suggest_float("quality", 0.0, 1.0)
        done = [t.params["n_params"] for t in study.trials if t.state.name == "COMPLETE"]
        smallest_so_far[trial.number] = min(done, default=10**9)
        acc = 0.0
        for step in range(10):
            acc = quality * (1 - 0.5 ** (step + 1))
            if pruner.report(trial, acc, step):
                raise optuna.TrialPruned()
        return acc, float(n_params)

    study.optimize(objective, n_trials=30, callbacks=[pruner.sync])
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, "the Pareto mode never stopped a dominated trial"
    for t in pruned:
        assert t.user_attrs["hpprune_reason"] == "posterior_low"
        # Only trials that some completed trial beat on size can be dominated.
        assert t.params["n_params"] >= smallest_so_far[t.number]
    # The log replays to the same decisions.
    engine = hpprune.Engine.from_log(tmp_path / "mo.jsonl", resume_logging=False)
    stopped = {tid for tid in engine.trial_ids() if engine.state(tid).value == "stopped"}
    assert stopped == {str(t.number) for t in pruned}
