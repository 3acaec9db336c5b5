"""A worker process for the multi-process tests: ``python -m tests.integrations.optuna_worker``.

It loads an existing study, attaches its own OptunaPruner (same policy, same
shared audit log), and runs ``--trials`` trials of a synthetic objective whose
steps take a few milliseconds, so that workers interleave.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import optuna

import hpprune
from hpprune.integrations.optuna import OptunaPruner


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """``journal:<path>`` or an SQLAlchemy URL."""
    if spec.startswith("journal:"):
        return optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(spec[len("journal:") :])
        )
    kwargs = {"connect_args": {"timeout": 60}} if spec.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(spec, engine_kwargs=kwargs)


def run_worker(
    storage: str,
    study_name: str,
    log: str,
    policy: dict[str, object],
    *,
    trials: int = 4,
    steps: int = 8,
    seed: int = 0,
    sleep: float = 0.004,
) -> None:
    """Run ``trials`` trials of the synthetic objective with a fresh OptunaPruner."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = OptunaPruner(hpprune.policy_from_dict(policy), log=log)
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(storage),
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        rate = 0.2 + x
        value = math.inf
        for step in range(steps):
            value = (x - 0.3) ** 2 + math.exp(-rate * step) + 0.01 * math.sin(trial.number + step)
            trial.report(value, step)
            time.sleep(sleep * (1 + (trial.number + step) % 3))
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=trials)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--policy", required=True, help="policy.to_dict() as JSON")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.004)
    args = p.parse_args()
    run_worker(
        args.storage,
        args.study,
        args.log,
        json.loads(args.policy),
        trials=args.trials,
        steps=args.steps,
        seed=args.seed,
        sleep=args.sleep,
    )


if __name__ == "__main__":
    main()
