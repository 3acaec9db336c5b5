"""Tune a scikit-learn SGDClassifier with Ray Tune while hpprune decides which trials continue.

Each trial trains one epoch at a time (``partial_fit``), reports the
validation accuracy, and checkpoints its model, so Tune can stop it early or
pause and resume it. The hpprune scheduler stops trials that fall below the
median of completed trials and records why; the reasons appear in the log, in
every result row (``hpprune/reason``) and in the audit log file.

Run::

    python examples/ray_tune_sklearn.py [--samples 12] [--epochs 15]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import tune
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

import hpprune
from hpprune.integrations.ray_tune import DecisionCallback, RayTuneScheduler


def train(config: dict[str, Any]) -> None:
    """Tune trainable: one ``partial_fit`` pass per epoch, checkpointed each epoch."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.3, random_state=0)
    model = SGDClassifier(
        loss="log_loss",
        alpha=config["alpha"],
        learning_rate="constant",
        eta0=config["eta0"],
        random_state=0,
    )
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # resumed after a pause, a failure or Tuner.restore
        with checkpoint.as_directory() as folder:
            start, model = pickle.loads(Path(folder, "model.pkl").read_bytes())
    for epoch in range(start + 1, config["epochs"] + 1):
        model.partial_fit(x_train, y_train, classes=np.arange(10))
        accuracy = float(model.score(x_val, y_val))
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "model.pkl").write_bytes(pickle.dumps((epoch, model)))
            tune.report(
                {"val_accuracy": accuracy, "epoch": epoch},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def main() -> None:
    """Run the search and print what hpprune decided for each trial."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--storage", default=tempfile.mkdtemp(prefix="hpprune-ray-example-"))
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("hpprune").setLevel(logging.INFO)  # one line per STOP/PAUSE
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    audit = Path(args.storage) / "hpprune-audit.jsonl"
    scheduler = RayTuneScheduler(
        hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=2), log=audit
    )
    tuner = tune.Tuner(
        train,
        param_space={
            "alpha": tune.loguniform(1e-6, 1e-1),
            "eta0": tune.loguniform(1e-4, 1.0),
            "epochs": args.epochs,
        },
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric="val_accuracy", mode="max", num_samples=args.samples
        ),
        run_config=tune.RunConfig(
            storage_path=args.storage,
            name="sgd_digits",
            verbose=0,
            callbacks=[DecisionCallback(scheduler)],
        ),
    )
    results = tuner.fit()

    print(f"\n{'trial':>12} {'alpha':>9} {'eta0':>9} {'epochs':>6} {'val_acc':>8}  hpprune")
    total, best = 0, 0.0
    for k in range(len(results)):
        r = results[k]
        best = max(best, float(r.metrics_dataframe["val_accuracy"].max()))
        note = r.metrics.get("hpprune", {})
        epochs = int(r.metrics["training_iteration"])
        total += epochs
        print(
            f"{r.metrics['trial_id']:>12} {r.config['alpha']:9.2e} {r.config['eta0']:9.2e} "
            f"{epochs:6d} {r.metrics['val_accuracy']:8.3f}  "
            f"{note.get('action', '')} {note.get('reason', '')}"
        )
    print(f"\nbest val_accuracy {best:.3f}; ", end="")
    print(f"{total} of {args.samples * args.epochs} epochs trained")
    print(f"audit log: {audit}  (hpprune explain / replay read it)")
    print(scheduler.debug_string())


if __name__ == "__main__":
    main()
