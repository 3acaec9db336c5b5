"""Ray Tune client scenarios: how Ray's own examples use a scheduler, with ours swapped in.

* A reused experiment name: three ``Tuner`` runs with the same ``name`` and
  ``storage_path``, each in a new Ray session, must leave all three audit logs
  in storage, readable and each holding exactly its own run's trials.
* The checkpoint-callback pattern of Ray's XGBoost/LightGBM examples: the
  trainable reports a metric and a checkpoint each round from inside a
  callback, with ``training_iteration`` counting rounds from 1.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune

from hpprune import Engine, MedianPruner
from hpprune.audit.log import read_log
from hpprune.integrations.ray_tune import STATE_FILE, RayTuneScheduler
from tests.integrations.ray_fixtures import quiet_ray, run_tune, start_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]

POLICY_ARGS: dict[str, Any] = {"n_startup_trials": 1, "n_warmup_steps": 1}
RUNS = [  # one list of curves per Tuner run: loss per epoch
    [[1.0, 0.5, 0.3], [2.0, 1.8, 1.7]],
    [[0.9, 0.4, 0.2], [3.0, 2.9, 2.8]],
    [[1.1, 0.6, 0.4], [0.5, 0.2, 0.1]],
]


@pytest.fixture
def fresh_sessions() -> Iterator[None]:
    """Each test starts its own Ray sessions (and shuts the last one down)."""
    with quiet_ray():
        yield


def _new_session() -> None:
    ray.shutdown()
    start_ray()


@pytest.mark.usefixtures("fresh_sessions")
def test_three_runs_with_one_name_keep_three_logs(tmp_path: Path) -> None:
    schedulers = []
    for curves in RUNS:
        _new_session()  # a new session has a new, empty driver staging folder
        scheduler = RayTuneScheduler(MedianPruner(**POLICY_ARGS))
        run_tune(tmp_path, "reused", scheduler, curves, mode="min", concurrency=1)
        schedulers.append(scheduler)
    folder = tmp_path / "reused"
    logs = sorted(p.name for p in folder.glob(f"{STATE_FILE}*"))
    assert logs == [STATE_FILE, f"{STATE_FILE}.1.old", f"{STATE_FILE}.2.old"]
    # Oldest run first: .1.old is run 1, .2.old run 2, the main log the last run.
    by_run = [folder / f"{STATE_FILE}.1.old", folder / f"{STATE_FILE}.2.old", folder / STATE_FILE]
    for path, scheduler in zip(by_run, schedulers, strict=True):
        records = list(read_log(path))
        assert records == scheduler.records, path.name
        trials = {r["trial"] for r in records if r["kind"] == "report"}
        assert trials == set(scheduler.engine.trial_ids())
        # Each log is a complete, foldable audit trail of its run.
        rebuilt = Engine.from_records(records, MedianPruner(**POLICY_ARGS))
        assert all(rebuilt.state(t).is_finished for t in trials)
    ids = [set(s.engine.trial_ids()) for s in schedulers]
    assert ids[0].isdisjoint(ids[1]) and ids[1].isdisjoint(ids[2]) and ids[0].isdisjoint(ids[2])


# ----------------------------------------------------------------------------- checkpoint callback
class _Booster:
    """A stand-in for a boosting library: trains round by round and calls callbacks."""

    def __init__(self, losses: list[float]) -> None:
        self.losses = losses

    def train(self, callbacks: list[Any]) -> None:
        for rnd, loss in enumerate(self.losses):  # boosting rounds count from 0
            for cb in callbacks:
                if cb.after_iteration(rnd, {"eval": {"logloss": loss}}):
                    return


class _TuneReportCheckpointCallback:
    """Like Ray's ``TuneReportCheckpointCallback`` for XGBoost: report + checkpoint each round."""

    def after_iteration(self, rnd: int, evals: dict[str, dict[str, float]]) -> bool:
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "model.json").write_text(json.dumps({"round": rnd}))
            tune.report(
                {"eval-logloss": evals["eval"]["logloss"], "round": rnd},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )
        return False


def _boosting_trainable(config: dict[str, Any]) -> None:
    _Booster(config["losses"]).train([_TuneReportCheckpointCallback()])


@pytest.mark.usefixtures("fresh_sessions")
def test_checkpoint_callback_pattern(tmp_path: Path) -> None:
    _new_session()
    losses = [[0.6, 0.5, 0.4, 0.35], [0.9, 0.85, 0.8, 0.79], [0.5, 0.4, 0.3, 0.2]]
    # n_warmup_steps=2: no decision before training_iteration 2 (round 1).
    scheduler = RayTuneScheduler(MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    tuner = tune.Tuner(
        _boosting_trainable,
        param_space={"losses": tune.grid_search(losses)},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric="eval-logloss", mode="min", max_concurrent_trials=1
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="xgb", verbose=0),
    )
    results = tuner.fit()
    by_loss = {tuple(r.config["losses"]): r for r in results}
    bad = by_loss[tuple(losses[1])]
    # The engine's step is Ray's training_iteration (1, 2, ...), not the round (0, 1, ...).
    stopped = scheduler.engine.last_decision(bad.metrics["trial_id"])
    assert stopped is not None and stopped.action.value == "stop"
    assert stopped.step == 2 and bad.metrics["round"] == 1
    assert bad.metrics["hpprune"]["reason"] == "below_percentile"
    assert bad.checkpoint is not None  # the callback's checkpoint survived the stop
    good = by_loss[tuple(losses[2])]
    assert good.metrics["training_iteration"] == 4 and "hpprune" not in good.metrics
    records = list(read_log(tmp_path / "xgb" / STATE_FILE))
    steps = [
        r["step"]
        for r in records
        if r["kind"] == "report" and r["trial"] == bad.metrics["trial_id"]
    ]
    assert steps == [1, 2]
