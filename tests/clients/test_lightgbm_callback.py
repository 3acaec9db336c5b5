"""Optuna's real LightGBM pruning callback (optuna-integration) with our pruner swapped in.

The objective is Optuna's LightGBM pruning example on scikit-learn's bundled
breast-cancer data (offline), shortened: ``LightGBMPruningCallback`` reports
``binary_logloss`` at every boosting round (``env.iteration``, from 0) and
raises ``TrialPruned`` when ``should_prune()`` says so. hpprune's MedianPruner
must prune exactly the trials Optuna's does, and the audit log must hold
every value Optuna stored and every trial's fate without a ``sync`` callback.

In CI (``CI=true``) the packages are required (the ``dev`` extra installs
them); elsewhere the test is skipped without them.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import optuna
import pytest

import hpprune
from hpprune.audit.explain import summary_dict
from hpprune.integrations.optuna import OptunaPruner

if os.environ.get("CI") == "true":
    import lightgbm as lgb
    from optuna_integration import LightGBMPruningCallback
else:
    lgb = pytest.importorskip("lightgbm")
    LightGBMPruningCallback = pytest.importorskip("optuna_integration").LightGBMPruningCallback
datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")

N_TRIALS = 16
ROUNDS = 20


def _objective(trial: optuna.Trial) -> float:
    data, target = datasets.load_breast_cancer(return_X_y=True)
    x_tr, x_va, y_tr, y_va = model_selection.train_test_split(
        data, target, test_size=0.25, random_state=0
    )
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "binary_logloss",
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 2, 32),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 60),
    }
    booster = lgb.train(
        params,
        lgb.Dataset(x_tr, label=y_tr),
        num_boost_round=ROUNDS,
        valid_sets=[lgb.Dataset(x_va, label=y_va)],
        callbacks=[LightGBMPruningCallback(trial, "binary_logloss")],
    )
    return float(booster.best_score["valid_0"]["binary_logloss"])


def _run(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), pruner=pruner)
    study.optimize(_objective, n_trials=N_TRIALS)
    return study


def _pruned(study: optuna.Study) -> list[tuple[int, int]]:
    return [
        (t.number, max(t.intermediate_values))
        for t in study.trials
        if t.state == optuna.trial.TrialState.PRUNED
    ]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightgbm_pruning_callback(tmp_path: Path) -> None:
    log = tmp_path / "lightgbm.jsonl"
    args = {"n_startup_trials": 3, "n_warmup_steps": 3}
    ours = _run(OptunaPruner(hpprune.MedianPruner(**args), log=log))
    theirs = _run(optuna.pruners.MedianPruner(**args))
    assert _pruned(ours), "the scenario must prune something"
    assert _pruned(ours) == _pruned(theirs)  # same trials, same rounds
    for t in ours.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.user_attrs["hpprune_reason"] == "below_percentile"
            assert t.user_attrs["hpprune_step"] == max(t.intermediate_values) >= 3
    stored = sum(len(t.intermediate_values) for t in ours.trials)
    del ours
    gc.collect()
    s = summary_dict(log)
    assert s["n_reports"] == stored
    assert s["fates"]["running"] == 0
    assert s["fates"]["stopped"] == len(_pruned(theirs))
    assert s["fates"]["completed"] == N_TRIALS - len(_pruned(theirs))
