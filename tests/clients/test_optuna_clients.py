"""Optuna client scenarios: the patterns of Optuna's own examples, with our pruner swapped in.

* The pruning-callback pattern of the LightGBM/XGBoost integrations: a
  boosting loop calls a callback per round (rounds count from 0) that reports
  and raises ``TrialPruned``; hpprune's MedianPruner prunes exactly the trials
  Optuna's does.
* Wilcoxon-style unordered steps: the step is an instance id, reported in a
  shuffled order, and a pruned trial *returns* its mean (so Optuna stores it
  as COMPLETE). Every reported value reaches the audit log, whatever the policy.
* A plain ``study.optimize(objective)`` without ``callbacks=[pruner.sync]``
  still gives a true log: every trial finished, trials that returned after a
  STOP counted as completed.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

import hpprune
from hpprune.audit.explain import summary_dict
from hpprune.audit.log import read_log
from hpprune.audit.replay import replay
from hpprune.integrations.optuna import OptunaPruner

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- callback pattern
class _PruningCallback:
    """Like ``optuna.integration.LightGBMPruningCallback``: report each round, prune on request."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def __call__(self, rnd: int, loss: float) -> None:
        self.trial.report(loss, step=rnd)  # rounds count from 0
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"Trial was pruned at iteration {rnd}.")


def _boost(lr: float, callbacks: list[Any], rounds: int = 12) -> float:
    """A stand-in for ``lgb.train``: a loss curve that depends on the learning rate."""
    loss = 1.0
    for rnd in range(rounds):
        loss = loss * (1.0 - lr) + 0.05 * abs(lr - 0.3)
        for cb in callbacks:
            cb(rnd, loss)
    return loss


def _callback_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 0.01, 0.6)
    return _boost(lr, [_PruningCallback(trial)])


def _pruned(study: optuna.Study) -> list[int]:
    return [t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]


def test_pruning_callback_pattern_prunes_what_optuna_prunes(tmp_path: Path) -> None:
    log = tmp_path / "lgb.jsonl"
    ours = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=OptunaPruner(hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=2), log=log),
    )
    ours.optimize(_callback_objective, n_trials=20)
    theirs = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )
    theirs.optimize(_callback_objective, n_trials=20)
    assert _pruned(ours) and _pruned(ours) == _pruned(theirs)
    for t in ours.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.user_attrs["hpprune_reason"] == "below_percentile"
            assert t.user_attrs["hpprune_step"] == max(t.intermediate_values)
    # The log holds every value Optuna stored, and every trial's fate (no sync callback).
    del ours
    gc.collect()
    s = summary_dict(log)
    assert s["n_reports"] == sum(len(t.intermediate_values) for t in theirs.trials)
    assert s["fates"]["running"] == 0
    assert s["fates"]["stopped"] == len(_pruned(theirs))
    assert s["fates"]["completed"] == 20 - len(_pruned(theirs))


# ----------------------------------------------------------------------------- unordered steps
INSTANCES = np.linspace(-1.0, 1.0, 24)


def _wilcoxon_objective(trial: optuna.Trial) -> float:
    """Optuna's WilcoxonPruner example: shuffled instance ids, return the mean when pruned."""
    param = trial.suggest_float("param", -1.0, 1.0)
    order = np.random.default_rng(trial.number).permutation(len(INSTANCES))
    results = []
    for instance in order:
        loss = float((param - INSTANCES[instance]) ** 2)
        results.append(loss)
        trial.report(loss, int(instance))
        if trial.should_prune():
            return sum(results) / len(results)
    return sum(results) / len(results)


def _study(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7), pruner=pruner)


def _n_values(study: optuna.Study) -> list[int]:
    return [len(t.intermediate_values) for t in study.trials]


def test_unordered_steps_with_a_curve_policy_record_every_value(tmp_path: Path) -> None:
    log = tmp_path / "median.jsonl"
    study = _study(OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=log))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(_wilcoxon_objective, n_trials=6)
    late = [w for w in caught if "out_of_order" in str(w.message)]
    # One warning per trial that reported a step below its highest one (all six here).
    assert len(late) == 6
    assert len({str(w.message).split("'")[1] for w in late}) == 6
    reports = [r for r in read_log(log) if r["kind"] == "report"]
    stored = sum(_n_values(study))
    assert len(reports) == stored  # nothing Optuna stores vanishes from the audit trail
    by_trial: dict[str, set[int]] = {}
    for r in reports:
        by_trial.setdefault(r["trial"], set()).add(r["step"])
    for t in study.trials:
        assert by_trial[str(t.number)] == set(t.intermediate_values)
    late_records = [r for r in reports if r.get("late")]
    assert late_records and all(r["decision"]["reason"] == "out_of_order" for r in late_records)
    # The summary is true: every trial evaluated all 24 instances, nothing was saved.
    s = summary_dict(log)
    assert s["steps_run"] == stored == 6 * len(INSTANCES)
    assert s["full_run_steps"] == len(INSTANCES)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_wilcoxon_pruner_prunes_what_optunas_prunes(tmp_path: Path) -> None:
    log = tmp_path / "wilcoxon.jsonl"
    ours = _study(OptunaPruner(hpprune.WilcoxonPruner(p_threshold=0.1), log=log))
    ours.optimize(_wilcoxon_objective, n_trials=25)
    theirs = _study(optuna.pruners.WilcoxonPruner(p_threshold=0.1))
    theirs.optimize(_wilcoxon_objective, n_trials=25)
    assert _n_values(ours) == _n_values(theirs)  # the same evaluations ran
    assert min(_n_values(ours)) < len(INSTANCES)  # and some trials were cut short
    assert [t.value for t in ours.trials] == [t.value for t in theirs.trials]
    stopped = [t for t in ours.trials if "hpprune_reason" in t.user_attrs]
    assert stopped and {t.user_attrs["hpprune_reason"] for t in stopped} == {"wilcoxon_worse"}
    ev = stopped[0].user_attrs["hpprune_evidence"]
    assert ev["p_value"] < 0.1 and ev["mean"] > ev["incumbent_mean"]
    # Trials that returned their mean after the STOP count as completed, with their STOP.
    del ours
    gc.collect()
    s = summary_dict(log)
    assert s["n_reports"] == sum(_n_values(theirs))
    assert s["fates"] == {**s["fates"], "completed": 25, "running": 0}
    assert s["reasons"]["stop:wilcoxon_worse"] == len(stopped)
    # Replaying the log through its own policy changes nothing (late reports and the
    # completions after a STOP included).
    same = replay(log)
    assert same.differences == [] and same.n_identical == same.n_compared > 0
    assert [t.replay_fate for t in same.trials] == [t.log_fate for t in same.trials]
    assert same.steps_saved == 0 and same.steps_log == sum(_n_values(theirs))


# ----------------------------------------------------------------------------- without sync
SCRIPT = """
import sys, optuna, hpprune
from hpprune.integrations.optuna import OptunaPruner
optuna.logging.set_verbosity(optuna.logging.WARNING)

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(5):
        trial.report(x + 1.0 / (step + 1), step)
        if trial.should_prune():
            break  # ignores the STOP and returns a value: Optuna stores COMPLETE
    trial.report(x, 5)  # a last value never asked about
    return x

study = optuna.create_study(
    sampler=optuna.samplers.RandomSampler(seed=0),
    pruner=OptunaPruner(hpprune.MedianPruner(n_startup_trials=2), log=sys.argv[1]),
)
study.optimize(objective, n_trials=8)
print(sum(len(t.intermediate_values) for t in study.trials))
"""


def test_plain_optimize_gives_a_true_log_at_exit(tmp_path: Path) -> None:
    log = tmp_path / "plain.jsonl"
    script = tmp_path / "plain.py"
    script.write_text(SCRIPT)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, str(script), str(log)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    s = summary_dict(log)
    assert s["fates"]["running"] == 0
    assert s["fates"]["completed"] == 8  # stopped trials that returned count as completed
    assert s["reasons"].get("stop:below_percentile", 0) >= 1
    # Every value Optuna stored: the never-asked last ones, and those after a STOP.
    assert s["n_reports"] == int(proc.stdout.split()[-1])
    records = list(read_log(log))
    stopped = {r["trial"] for r in records if r.get("decision", {}).get("action") == "stop"}
    after_stop = [
        r for r in records if r["kind"] == "report" and r["trial"] in stopped and r["step"] == 5
    ]
    assert stopped and len(after_stop) == len(stopped)


def test_reading_the_pruner_folds_finished_trials() -> None:
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=1))
    study = optuna.create_study(pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        trial.report(float(trial.number), 0)
        trial.should_prune()
        return float(trial.number)

    study.optimize(objective, n_trials=3)
    engine = pruner.engine
    assert engine is not None
    assert [engine.state(t).value for t in engine.trial_ids()] == ["completed"] * 3
