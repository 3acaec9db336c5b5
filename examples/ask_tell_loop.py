"""Tune a numpy logistic regression with hpprune's standalone loop, two ways.

1. Callback style: ``hpprune.SearchLoop(objective, space, policy).run(...)`` runs
   the objective on two worker threads (numpy releases the GIL in its kernels).
2. Ask/tell style: drive the trials yourself with ``loop.ask()`` and
   ``loop.tell(trial, value)``, e.g. from your own job queue.

Run it:  python examples/ask_tell_loop.py
Then:    hpprune explain example-loop.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import hpprune
from hpprune import space as sp

# A noisy linear classification problem: 20 features, 1500 train / 500 validation rows.
_rng = np.random.default_rng(0)
X = _rng.normal(size=(2000, 20))
y = (X @ _rng.normal(size=20) + _rng.normal(scale=2.0, size=2000) > 0).astype(float)
X_TRAIN, X_VALID, Y_TRAIN, Y_VALID = X[:1500], X[1500:], y[:1500], y[1500:]

SPACE = {
    "lr": sp.LogUniform(1e-4, 30.0),  # far too small and far too large on purpose
    "l2": sp.LogUniform(1e-6, 1.0),
    "batch": sp.Categorical([32, 128, 512]),
}
N_EPOCHS = 20


def log_loss(w: np.ndarray, x: np.ndarray, t: np.ndarray) -> float:
    """Mean logistic loss (the value to minimize)."""
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def train_epoch(w: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """One epoch of minibatch gradient descent with an L2 penalty."""
    order = rng.permutation(len(X_TRAIN))
    for start in range(0, len(order), params["batch"]):
        idx = order[start : start + params["batch"]]
        xb, tb = X_TRAIN[idx], Y_TRAIN[idx]
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - tb) / len(idx) + params["l2"] * w
        w = w - params["lr"] * grad
    return w


def objective(trial: hpprune.LoopTrial) -> float:
    """Callback style: report after every epoch, return when told to."""
    rng = np.random.default_rng(trial.number)
    saved = trial.restore()  # a checkpoint exists only if a policy paused this trial
    start, w = (0, np.zeros(X.shape[1])) if saved is None else saved
    loss = float("nan")
    for epoch in range(start, N_EPOCHS):
        w = train_epoch(w, dict(trial.params), rng)
        loss = log_loss(w, X_VALID, Y_VALID)
        decision = trial.report(epoch, loss)
        if decision.action == "pause":
            trial.checkpoint((epoch + 1, w))
        if decision.action != "continue":
            return loss
    return loss


def main(n_trials: int = 30, log: str = "example-loop.jsonl") -> None:
    """Run both styles and print what the policy did."""
    policy = hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=2)

    # 1. Callback style, two worker threads, audit log on disk. An existing log
    #    of the same policy would be continued (trial numbers go on), so start fresh.
    Path(log).unlink(missing_ok=True)
    with hpprune.SearchLoop(
        objective, SPACE, policy, direction="minimize", n_workers=2, log=log, seed=0
    ) as loop:
        result = loop.run(n_trials=n_trials)
    best = result.best
    print(
        f"callback: {len(result)} trials, {result.n_stopped} stopped, "
        f"best loss {best.value:.4f} with {dict(best.params)}"
        if best
        else "callback: no trial completed"
    )

    # 2. Ask/tell: you own the loop (and could hand trials to your own workers).
    manual = hpprune.SearchLoop(None, SPACE, policy, direction="minimize", seed=1)
    fates = []
    for _ in range(n_trials // 2):
        trial = manual.ask()
        rng = np.random.default_rng(trial.number)
        w, loss = np.zeros(X.shape[1]), float("nan")
        for epoch in range(N_EPOCHS):
            w = train_epoch(w, dict(trial.params), rng)
            loss = log_loss(w, X_VALID, Y_VALID)
            if trial.report(epoch, loss).action != "continue":
                break
        fates.append(manual.tell(trial, loss).value)
    print(f"ask/tell: {fates.count('completed')} completed, {fates.count('stopped')} stopped")
    print(f"audit log: {log}  (try: hpprune explain {log})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
