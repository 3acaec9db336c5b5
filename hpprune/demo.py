"""The ``hpprune demo`` job: tune a small neural network on scikit-learn's digits.

Each trial trains an ``MLPClassifier`` (SGD with momentum) on the 8x8 digits
data set that ships with scikit-learn (no download) one epoch at a time with
``partial_fit`` and reports the validation accuracy after every epoch. The
learning rate spans five decades on purpose: rates that are far too small
barely learn in 30 epochs and rates that are far too large oscillate, so a
good share of the trials is visibly hopeless after a few epochs; those are
the trials the policy should stop.

The objective checkpoints the model when the policy pauses a trial and
restores it when the loop resumes the trial, so it also works with policies
that pause (the resource-aware scheduler).

scikit-learn is imported lazily (it is in the ``bench`` and ``dev`` extras).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from hpprune.defaults import default_policy
from hpprune.loop import LoopResult, LoopTrial, SearchLoop
from hpprune.pruners.base import Policy
from hpprune.space import Categorical, Distribution, IntUniform, LogUniform, Uniform

__all__ = ["N_EPOCHS", "demo_loop", "demo_objective", "demo_policy", "demo_space", "run_demo"]

N_EPOCHS = 30
"""Epochs (steps 0..29) a trial trains when it is not stopped."""


def demo_policy(n_epochs: int = N_EPOCHS) -> Policy:
    """The policy the demo uses: the one we recommend, :func:`hpprune.default_policy`.

    Args:
        n_epochs: Epochs per trial (steps 0 .. n_epochs - 1).

    Returns:
        ``default_policy(max_step=n_epochs - 1)``.
    """
    return default_policy(max_step=max(n_epochs - 1, 1))


def demo_space() -> dict[str, Distribution]:
    """The demo's search space (wide learning-rate range on purpose).

    Returns:
        ``{"lr", "alpha", "hidden", "batch", "mom"}`` (mom = SGD momentum) distributions.
    """
    return {
        "lr": LogUniform(1e-5, 3.0),
        "alpha": LogUniform(1e-6, 1e-1),
        "hidden": IntUniform(8, 128, log=True),
        "batch": Categorical([32, 64, 128]),
        "mom": Uniform(0.5, 0.95),
    }


def _data(seed: int) -> tuple[Any, Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_va), y_tr, y_va, np.unique(y)


def demo_objective(seed: int = 0, n_epochs: int = N_EPOCHS) -> Callable[[LoopTrial], float]:
    """Build the objective: validation accuracy of an MLP after each epoch.

    Args:
        seed: Seeds the train/validation split and each trial's weights
            (``seed * 100_003 + trial.number``).
        n_epochs: Epochs per trial.

    Returns:
        ``objective(trial) -> final validation accuracy`` (maximize). The
        accuracy is always finite, so the non-finite rule never fires here.

    Raises:
        ImportError: If scikit-learn is not installed.
    """
    from sklearn.neural_network import MLPClassifier

    x_tr, x_va, y_tr, y_va, classes = _data(seed)

    def objective(trial: LoopTrial) -> float:
        p = trial.params
        saved = trial.restore()
        if saved is not None:  # resumed after a pause
            start, model = saved["epoch"], saved["model"]
        else:
            start = 0
            model = MLPClassifier(
                hidden_layer_sizes=(int(p["hidden"]),),
                solver="sgd",
                learning_rate_init=float(p["lr"]),
                alpha=float(p["alpha"]),
                batch_size=int(p["batch"]),
                momentum=float(p["mom"]),
                random_state=seed * 100_003 + trial.number,
            )
        acc = 0.0
        for epoch in range(start, n_epochs):
            with np.errstate(all="ignore"):  # huge learning rates overflow; that is the point
                model.partial_fit(x_tr, y_tr, classes=classes)
                acc = float(model.score(x_va, y_va))
            decision = trial.report(epoch, acc)
            if decision.action == "pause":
                trial.checkpoint({"epoch": epoch + 1, "model": model})
            if decision.action != "continue":
                return acc
        return acc

    return objective


def demo_loop(
    n_workers: int = 2,
    log: str | os.PathLike[str] | None = "hpprune-demo.jsonl",
    seed: int = 0,
    n_epochs: int = N_EPOCHS,
) -> SearchLoop:
    """Build the demo's search loop (maximize validation accuracy).

    Args:
        n_workers: Worker threads (scikit-learn releases the GIL in its
            numpy kernels, so two workers use two cores).
        log: Audit log path (appended to; the CLI starts a fresh file), or None.
        seed: Seed of the sampler, the data split and the model weights.
        n_epochs: Epochs per trial.

    Returns:
        The loop; call ``run(n_trials=...)`` on it.

    Raises:
        ImportError: If scikit-learn is not installed.
    """
    return SearchLoop(
        demo_objective(seed, n_epochs),
        demo_space(),
        demo_policy(n_epochs),
        direction="maximize",
        n_workers=n_workers,
        log=log,
        seed=seed,
        study_name="hpprune-demo",
    )


def run_demo(
    n_trials: int = 40,
    n_workers: int = 2,
    log: str | os.PathLike[str] | None = "hpprune-demo.jsonl",
    seed: int = 0,
    progress: bool = True,
    n_epochs: int = N_EPOCHS,
) -> LoopResult:
    """Run the demo search and return its result.

    Args:
        n_trials: Trials to run.
        n_workers: Worker threads.
        log: Audit log path (appended to), or None.
        seed: Seed of the sampler, the data split and the model weights.
        progress: Show a progress bar on stderr.
        n_epochs: Epochs per trial.

    Returns:
        The loop result.

    Raises:
        ImportError: If scikit-learn is not installed.
        KeyboardInterrupt: On Ctrl-C, after the log was flushed.
    """
    with demo_loop(n_workers, log, seed, n_epochs) as loop:
        return loop.run(n_trials=n_trials, progress=progress)
