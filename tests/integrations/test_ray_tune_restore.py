"""A Tune run interrupted mid-trial and continued with ``Tuner.restore``.

The scheduler inside the restored Tuner is a fresh copy unpickled from
``tuner.pkl``; it must find the experiment's state file, fold it, and then
make exactly the decisions an uninterrupted engine makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray import tune

from hpprune import Engine, MedianPruner
from hpprune.audit.log import read_log
from hpprune.integrations.ray_tune import STATE_FILE, RayTuneScheduler
from tests.integrations.ray_fixtures import (
    InterruptAfter,
    curve_trainable,
    ray_session,  # noqa: F401
    run_tune,
    tune_history,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

EPOCHS = 4
BASES = [1.0, 3.0, 2.0, 0.5]  # loss = base / epoch, trials run one after another
CURVES = [[b / e for e in range(1, EPOCHS + 1)] for b in BASES]
POLICY_ARGS: dict[str, Any] = {"n_startup_trials": 1, "n_warmup_steps": 3}
INTERRUPT_AFTER = EPOCHS + 2  # trial 0 complete, trial 1 at its 2nd epoch


def _uninterrupted(trial_ids: list[str]) -> Engine:
    """The engine an uninterrupted sequential run would have built."""
    engine = Engine(MedianPruner(**POLICY_ARGS), "minimize")
    for tid, curve in zip(trial_ids, CURVES, strict=True):
        for step, value in enumerate(curve, start=1):
            if engine.report(tid, step, value).stops:
                break
        else:
            engine.complete(tid)
    return engine


def _decisions(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, int]]]:
    out: dict[str, list[tuple[str, str, int]]] = {}
    for r in records:
        if r["kind"] == "report":
            d = r["decision"]
            out.setdefault(r["trial"], []).append((d["action"], d["reason"], d["step"]))
    return out


def test_tuner_restore_continues_with_the_same_state_and_decisions(tmp_path: Path) -> None:
    name = "restore"
    experiment = tmp_path / name
    user_log = tmp_path / "audit.jsonl"
    flag = tmp_path / "interrupted"
    scheduler = RayTuneScheduler(MedianPruner(**POLICY_ARGS), log=user_log)
    first = run_tune(
        tmp_path,
        name,
        scheduler,
        CURVES,
        mode="min",
        concurrency=1,
        callbacks=[InterruptAfter(INTERRUPT_AFTER, str(flag))],
    )
    assert flag.exists(), "the run was not interrupted"
    interrupted = [r for r in first if r.config["i"] == 1]
    assert len(interrupted) == 1
    assert list(interrupted[0].metrics_dataframe["training_iteration"]) == [1, 2]
    before = list(read_log(experiment / STATE_FILE))
    reports_before = sum(1 for r in before if r["kind"] == "report")
    assert reports_before == INTERRUPT_AFTER
    # The scheduler writes in the driver's staging folder, which Tune syncs to the
    # experiment folder. Delete the staging copy, as a restore in a new Ray
    # session on another machine would not have it: the restored scheduler must
    # fetch the file from Tune's storage.
    staging = scheduler.state_path
    assert staging is not None and staging.exists() and staging != experiment / STATE_FILE
    staging.unlink()

    restored = tune.Tuner.restore(str(experiment), curve_trainable)
    results: Any = restored.fit()
    assert {r.config["i"] for r in results} == set(range(len(CURVES)))

    after = list(read_log(experiment / STATE_FILE))
    assert after[: len(before)] == before  # the restored scheduler appended to the same log
    assert list(read_log(user_log)) == after  # and so did the user's copy

    by_index = {r.config["i"]: r for r in results}
    ids = [by_index[i].metrics["trial_id"] for i in range(len(CURVES))]
    expected = _uninterrupted(ids)
    got = _decisions(after)
    for tid in ids:
        want = [(d.action.value, d.reason, d.step) for d in expected.decisions(tid)]
        assert got[tid] == want, tid

    # Trial 1 was interrupted at epoch 2; after the restore it is stopped at epoch 3
    # because trial 0 (completed before the interruption) is in the restored state.
    # A scheduler that lost its state would have let it continue (no completed peer).
    assert got[ids[1]][-1] == ("stop", "below_percentile", 3)
    lost = Engine(MedianPruner(**POLICY_ARGS), "minimize")
    for step, value in enumerate(CURVES[1][:3], start=1):
        counterfactual = lost.report(ids[1], step, value)
    assert counterfactual.action.value == "continue"

    # Tune executed those decisions: stopped trials end at the stop step.
    history = tune_history(results)
    assert [it for it, _ in history[ids[0]]] == [1, 2, 3, 4]
    assert history[ids[1]][-1][0] == 3
    assert by_index[1].metrics["hpprune"]["reason"] == "below_percentile"
    assert history[ids[2]][-1][0] == 3
    assert [it for it, _ in history[ids[3]]] == [1, 2, 3, 4]
    # Each step is reported to the engine once, even if Tune replays one from a checkpoint.
    reports = [(r["trial"], r["step"]) for r in after if r["kind"] == "report"]
    assert len(reports) == len(set(reports))


def test_fresh_experiment_in_the_same_folder_does_not_inherit_state(tmp_path: Path) -> None:
    # A first, complete run leaves a state file behind ...
    first = RayTuneScheduler(MedianPruner(**POLICY_ARGS))
    run_tune(tmp_path, "reuse", first, CURVES[:2], mode="min", concurrency=1)
    # ... a new Tuner with the same name starts from an empty state and keeps the
    # old file aside instead of folding another run's trials into its statistics.
    second = RayTuneScheduler(MedianPruner(**POLICY_ARGS))
    run_tune(tmp_path, "reuse", second, CURVES[2:], mode="min", concurrency=1)
    assert set(second.engine.trial_ids()).isdisjoint(first.engine.trial_ids())
    assert (tmp_path / "reuse" / f"{STATE_FILE}.1.old").exists()
    assert list(read_log(tmp_path / "reuse" / STATE_FILE)) == second.records
