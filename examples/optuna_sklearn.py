"""Optuna + hpprune: prune scikit-learn SGD trials on the digits data set.

A plain Optuna study tunes ``SGDClassifier`` (trained one epoch at a time with
``partial_fit``) and reports validation accuracy after every epoch. The only
hpprune line is the pruner: ``OptunaPruner(hpprune.MedianPruner(...), log=...)``.
Pruned trials carry their reason as Optuna user attributes, and every decision
is in the audit log.

Run it:
    python examples/optuna_sklearn.py [--trials 40] [--epochs 20] [--log optuna-digits.jsonl]
Many processes on one study (same command in several terminals):
    python examples/optuna_sklearn.py --storage sqlite:///digits.db --study digits
Then:
    hpprune explain optuna-digits.jsonl
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import hpprune
from hpprune.integrations.optuna import ATTR_REASON, ATTR_STEP, OptunaPruner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--log", default="optuna-digits.jsonl", help="audit log path")
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default: memory)")
    parser.add_argument("--study", default="digits-sgd")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_valid = scaler.transform(x_train), scaler.transform(x_valid)
    classes = np.unique(y)

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", 1e-6, 1e-1, log=True)
        eta0 = trial.suggest_float("eta0", 1e-5, 1.0, log=True)
        loss = trial.suggest_categorical("loss", ["hinge", "log_loss", "modified_huber"])
        clf = SGDClassifier(
            loss=loss, alpha=alpha, learning_rate="constant", eta0=eta0, random_state=trial.number
        )
        accuracy = 0.0
        for epoch in range(args.epochs):
            clf.partial_fit(x_train, y_train, classes=classes)
            accuracy = float(clf.score(x_valid, y_valid))
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=2), log=args.log)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=args.study,
        storage=args.storage,
        load_if_exists=True,
        direction="maximize",
        pruner=pruner,
        sampler=optuna.samplers.TPESampler(seed=args.seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        study.optimize(objective, n_trials=args.trials)

    trials = study.trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    epochs_run = sum(len(t.intermediate_values) for t in trials)
    print(f"{len(trials)} trials, {len(pruned)} pruned by hpprune")
    print(f"epochs trained: {epochs_run} of {len(trials) * args.epochs} without pruning")
    print(f"best accuracy {study.best_value:.4f} with {study.best_params}")
    for t in pruned[:5]:
        ev = t.user_attrs.get("hpprune_evidence", {})
        print(
            f"  trial {t.number}: {t.user_attrs[ATTR_REASON]} at epoch {t.user_attrs[ATTR_STEP]}"
            f" (best so far {ev.get('best_so_far')}, median cutoff {ev.get('cutoff')})"
        )
    print(f"audit log: {args.log}  (try: hpprune explain {args.log})")


if __name__ == "__main__":
    main()
