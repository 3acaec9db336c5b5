"""Method adapters: every method on a toy stream where half the curves are clearly bad."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune.bench.methods import (
    MethodSpec,
    OptunaMethod,
    RayMethod,
    TopKOneStepMethod,
    all_methods,
    select_methods,
)
from hpprune.bench.metrics import regret_at
from hpprune.bench.simulator import Budget, RunResult, Status, Stream, simulate
from hpprune.bench.sources import CurveSet
from hpprune.pruners.base import Policy
from hpprune.types import Decision, cont


def toy(n: int = 40, m: int = 12, seed: int = 0, direction: str = "minimize") -> tuple[Stream, Any]:
    """Half the configurations plateau at 0.9 (bad); the others fall to 0.1..0.2."""
    rng = np.random.default_rng(seed)
    bad = rng.permutation(np.r_[np.zeros(n // 2, bool), np.ones(n // 2, bool)])
    t = np.arange(1, m + 1)
    vals = np.empty((n, m))
    for i in range(n):
        if bad[i]:
            vals[i] = 0.9 - 0.01 * t / m + rng.normal(0, 0.005, m)
        else:
            vals[i] = 0.1 + 0.4 * np.exp(-t / 4) + rng.uniform(0, 0.1) + rng.normal(0, 0.005, m)
    if direction == "maximize":
        vals = 1.0 - vals
    elapsed = np.cumsum(rng.uniform(0.5, 2.0, (n, 1)) * np.ones((n, m)), axis=1)
    cs = CurveSet(
        "toy",
        direction,  # type: ignore[arg-type]
        tuple(f"c{i:02d}" for i in range(n)),
        vals,
        elapsed,
        tuple({"i": i} for i in range(n)),
        t,
    )
    return Stream.from_curves(cs, seed), bad


SPECS = {s.name: s for s in all_methods()}
PRUNERS = [s for s in SPECS.values() if s.family in ("hpprune", "optuna", "ray")]


def stops(run: RunResult, bad: Any) -> tuple[int, int]:
    """Bad and good configurations set aside: stopped early, or left paused (schedulers)."""
    sb = sg = 0
    for key, status in enumerate(run.statuses):
        if status in (Status.STOPPED, Status.PAUSED):
            if bad[run.started_configs[key]]:
                sb += 1
            else:
                sg += 1
    return sb, sg


def test_the_registry_has_every_peer_and_baseline() -> None:
    names = set(SPECS)
    for expected in (
        "hpprune.median",
        "hpprune.percentile25",
        "optuna.median",
        "optuna.percentile25",
        "optuna.successive_halving",
        "optuna.hyperband",
        "optuna.wilcoxon",
        "ray.asha",
        "ray.hyperband",
        "ray.median_stopping",
        "none",
        "top1step",
        "oracle",
    ):
        assert expected in names
    assert len(names) == len(SPECS)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("spec", PRUNERS, ids=lambda s: s.name)
def test_pruners_stop_a_sane_number_of_bad_curves(
    spec: MethodSpec, workers: int, direction: str
) -> None:
    stream, bad = toy(direction=direction)
    run = simulate(
        stream, spec.factory(), budget=Budget("steps", stream.total_cost), n_workers=workers
    )
    stopped_bad, stopped_good = stops(run, bad)
    assert run.exhausted and len(run.statuses) == 40  # every configuration was tried
    assert stopped_bad >= 15, (stopped_bad, stopped_good)  # most of the 20 bad ones
    assert stopped_bad >= stopped_good
    assert run.steps_spent < 0.8 * stream.total_cost  # no pruning spends all of it
    # The best configurations are good ones, so a sane pruner ends near the best.
    assert regret_at(run, [stream.total_cost])[0] <= 0.1


@pytest.mark.parametrize("workers", [1, 3])
def test_baselines_never_stop_when_the_budget_allows(workers: int) -> None:
    stream, _ = toy()
    for name in ("none", "oracle", "top1step"):
        run = simulate(
            stream, SPECS[name].factory(), budget=Budget("steps", 1e6), n_workers=workers
        )
        assert run.steps_spent == stream.total_cost, name
        assert set(run.statuses) == {Status.COMPLETED}, name


def test_top1step_trains_the_best_first_values_fully() -> None:
    stream, _ = toy()
    run = simulate(stream, TopKOneStepMethod(), budget=Budget("steps", 100))
    # 50 steps: 40 one-step evaluations (the stream runs out), then 60 steps of
    # full training = 5 trials of 11 remaining steps (the 6th is cut).
    assert len(run.statuses) == 40
    completed = [k for k, s in enumerate(run.statuses) if s is Status.COMPLETED]
    assert len(completed) == 5
    first = {k: stream.configs[run.started_configs[k]].values[0] for k in range(40)}
    ranked = sorted(first, key=lambda k: first[k])
    assert sorted(completed) == sorted(ranked[:5])
    assert run.statuses.count(Status.CUT) == 1
    assert run.statuses.count(Status.STOPPED) == 34  # never resumed = discarded


def test_hpprune_and_optuna_median_make_identical_decisions() -> None:
    for seed in range(3):
        stream, _ = toy(n=60, seed=seed)
        for workers in (1, 4):
            for a, b in (
                ("hpprune.median", "optuna.median"),
                ("hpprune.percentile25", "optuna.percentile25"),
            ):
                budget = Budget("steps", 300)
                ra = simulate(stream, SPECS[a].factory(), budget=budget, n_workers=workers)
                rb = simulate(stream, SPECS[b].factory(), budget=budget, n_workers=workers)
                assert ra.statuses == rb.statuses, (a, seed, workers)
                assert np.array_equal(ra.best, rb.best)


def test_optuna_study_records_pruned_and_completed_trials() -> None:
    import optuna

    stream, _ = toy()
    method = SPECS["optuna.median"].factory()
    assert isinstance(method, OptunaMethod)
    run = simulate(stream, method, budget=Budget("steps", stream.total_cost), n_workers=2)
    states = [t.state for t in method._study.get_trials(deepcopy=False)]
    assert states.count(optuna.trial.TrialState.PRUNED) == run.statuses.count(Status.STOPPED)
    assert states.count(optuna.trial.TrialState.COMPLETE) == run.statuses.count(Status.COMPLETED)
    assert len(states) == len(run.statuses)


class RecordingScheduler:
    """A stand-in Ray scheduler that records calls: pause at iteration 1, then FIFO."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.pending_at_result: list[int] = []
        self.seen: set[str] = set()

    def on_trial_add(self, controller: Any, trial: Any) -> None:
        self.calls.append(("add", trial.trial_id, trial.status))

    def on_trial_result(self, controller: Any, trial: Any, result: dict[str, Any]) -> str:
        self.calls.append(("result", trial.trial_id, str(result["training_iteration"])))
        live = controller.get_live_trials()
        self.pending_at_result.append(sum(t.status == "PENDING" for t in live))
        if result["training_iteration"] == 1 and trial.trial_id not in self.seen:
            self.seen.add(trial.trial_id)
            return "PAUSE"
        if result["objective"] > 0.8:
            return "STOP"
        return "CONTINUE"

    def on_trial_complete(self, controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self.calls.append(("complete", trial.trial_id, trial.status))

    def on_trial_remove(self, controller: Any, trial: Any) -> None:
        self.calls.append(("remove", trial.trial_id, trial.status))

    def choose_trial_to_run(self, controller: Any) -> Any:
        for status in ("PENDING", "PAUSED"):
            for t in controller.get_trials():
                if t.status == status:
                    return t
        return None


def test_ray_adapter_follows_the_tune_controller_contract() -> None:
    stream, bad = toy(n=10)
    sched = RecordingScheduler()
    method = RayMethod("ray.recording", lambda max_t, mode: sched)
    run = simulate(stream, method, budget=Budget("steps", 1e6), n_workers=2)
    # Every trial was paused once at iteration 1 and resumed (FIFO after the stream ends).
    results = [c for c in sched.calls if c[0] == "result"]
    assert sum(1 for c in results if c[2] == "1") == 10
    # One trial is always queued PENDING while the stream lasts, as in Tune.
    assert all(n <= 1 for n in sched.pending_at_result)
    assert sched.pending_at_result[0] == 1
    # Running trials end through on_trial_complete exactly once (stops and completions).
    completes = [c for c in sched.calls if c[0] == "complete"]
    assert len(completes) == len({c[1] for c in completes}) == 10
    assert all(c[2] == "RUNNING" for c in completes)
    assert run.statuses.count(Status.STOPPED) == int(sum(bad[:10]))
    assert run.statuses.count(Status.COMPLETED) == 10 - int(sum(bad[:10]))


def test_ray_hyperband_pauses_resumes_and_removes() -> None:
    stream, _ = toy(n=60, m=27)
    method = SPECS["ray.hyperband"].factory()
    run = simulate(stream, method, budget=Budget("steps", 800), n_workers=1)
    assert isinstance(method, RayMethod)
    assert run.statuses.count(Status.STOPPED) > 0
    assert Status.COMPLETED in run.statuses or Status.STOPPED_AT_END in run.statuses
    # A trial that trained past the first rung of its bracket was paused and resumed.
    assert any(s > 9 for s in run.spent)


def test_ray_median_stopping_pauses_when_samples_are_insufficient() -> None:
    stream, _ = toy()
    run = simulate(stream, SPECS["ray.median_stopping"].factory(), budget=Budget("steps", 200))
    assert Status.PAUSED in run.statuses


def test_runs_are_deterministic() -> None:
    stream, _ = toy(n=30, seed=5)
    for spec in SPECS.values():
        a = simulate(stream, spec.factory(), budget=Budget("steps", 150), n_workers=3)
        b = simulate(stream, spec.factory(), budget=Budget("steps", 150), n_workers=3)
        assert a.statuses == b.statuses, spec.name
        assert np.array_equal(a.best, b.best), spec.name


# ------------------------------------------------------------------ registry
def test_select_methods_by_name_family_and_glob() -> None:
    names = [s.name for s in select_methods(["optuna.median", "ray"])]
    assert names == ["optuna.median", "ray.asha", "ray.hyperband", "ray.median_stopping", "none"]
    names = [s.name for s in select_methods(["optuna.*h*"])]
    assert set(names) == {"optuna.successive_halving", "optuna.hyperband", "none"}
    assert len(select_methods(None)) == len(SPECS)


def test_select_methods_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"matches no method; choose from: .*optuna\.median"):
        select_methods(["optuna.nope"])


class NeedsThreshold(Policy):
    def __init__(self, threshold_of_doom: float) -> None:
        self.t = threshold_of_doom

    def decide(self, trial: Any, study: Any) -> Decision:
        return cont("x")

    def params(self) -> dict[str, Any]:
        return {"threshold_of_doom": self.t}


def test_policies_are_discovered_from_hpprune_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hpprune, "default_policy", lambda: hpprune.MedianPruner(), raising=False)
    monkeypatch.setattr(hpprune, "NeedsThreshold", NeedsThreshold, raising=False)
    monkeypatch.setattr(hpprune, "__all__", [*hpprune.__all__, "NeedsThreshold"])
    skipped: dict[str, str] = {}
    specs = all_methods(skipped)
    assert specs[0].name == "hpprune.default"
    assert "threshold_of_doom" in skipped["hpprune.needs_threshold"]
    stream, bad = toy()
    run = simulate(stream, specs[0].factory(), budget=Budget("steps", stream.total_cost))
    assert stops(run, bad)[0] >= 15
