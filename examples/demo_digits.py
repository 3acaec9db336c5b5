"""Write the `hpprune demo` yourself: an SGD classifier on digits, epoch by epoch.

The objective is plain scikit-learn: ``partial_fit`` one epoch, score on the
validation split, report. The policy stops trials whose accuracy so far is
below the median of completed trials at the same epoch; every stop is written
with its reason and numbers to the audit log.

Run it:  python examples/demo_digits.py [n_trials]
Then:    hpprune explain digits-sgd.jsonl
         hpprune summary digits-sgd.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import hpprune
from hpprune import space as sp

X, Y = load_digits(return_X_y=True)
X_TRAIN, X_VALID, Y_TRAIN, Y_VALID = train_test_split(X, Y, test_size=0.3, random_state=0)
_scaler = StandardScaler().fit(X_TRAIN)
X_TRAIN, X_VALID = _scaler.transform(X_TRAIN), _scaler.transform(X_VALID)
CLASSES = np.unique(Y)

SPACE = {
    "eta0": sp.LogUniform(1e-6, 10.0),  # constant learning rate, five-plus decades wide
    "alpha": sp.LogUniform(1e-7, 1.0),
    "loss": sp.Categorical(["hinge", "log_loss", "modified_huber"]),
    "penalty": sp.Categorical(["l2", "l1"]),
}
N_EPOCHS = 25


def objective(trial: hpprune.LoopTrial) -> float:
    p = trial.params
    saved = trial.restore()  # only set when a pausing policy resumes this trial
    start, model = (0, None) if saved is None else saved
    if model is None:
        model = SGDClassifier(
            loss=p["loss"],
            penalty=p["penalty"],
            alpha=p["alpha"],
            learning_rate="constant",
            eta0=p["eta0"],
            random_state=trial.number,
        )
    acc = 0.0
    for epoch in range(start, N_EPOCHS):
        model.partial_fit(X_TRAIN, Y_TRAIN, classes=CLASSES)
        acc = float(model.score(X_VALID, Y_VALID))
        decision = trial.report(epoch, acc)
        if decision.action == "pause":
            trial.checkpoint((epoch + 1, model))
        if decision.action != "continue":
            return acc
    return acc


def main(n_trials: int = 40, log: str = "digits-sgd.jsonl") -> hpprune.LoopResult:
    Path(log).unlink(missing_ok=True)  # an existing log would be continued
    policy = hpprune.AnyOf([hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=2)])
    with hpprune.SearchLoop(
        objective, SPACE, policy, direction="maximize", n_workers=2, log=log, seed=0
    ) as loop:
        result = loop.run(n_trials=n_trials, progress=True)
    for t in result:
        why = f"{t.decision.reason} at epoch {t.decision.step}" if t.decision else ""
        print(f"{t.number:>3} {t.state.value:<9} acc={t.value:.3f} epochs={t.n_reports:>2} {why}")
    best = result.best
    if best is not None:
        print(f"best: trial {best.number} accuracy {best.value:.4f} {dict(best.params)}")
    print(f"stopped {result.n_stopped} of {len(result)}; log: {log}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
