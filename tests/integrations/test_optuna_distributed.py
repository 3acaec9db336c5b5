"""Many worker processes, one storage, one shared audit log: decisions equal a replay.

Each worker is a separate process (forked, or a fresh interpreter running
``tests/integrations/optuna_worker.py``) with its own OptunaPruner. After they
finish, the log is replayed in a single process through the policy: every
decision must be re-made identically (evidence included), every pruned Optuna
trial must carry the replayed STOP's reason, and every curve in storage must
equal the curve in the log.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import hpprune
from hpprune.audit.replay import replay as audit_replay
from hpprune.types import Reason
from tests.integrations.optuna_helpers import Replay, replay
from tests.integrations.optuna_worker import open_storage, run_worker
from tests.policy_cases import POLICY_CASES

ROOT = Path(__file__).resolve().parents[2]
TrialState = optuna.trial.TrialState


def _policy(*names: str) -> hpprune.Policy:
    for name in names:
        if name in POLICY_CASES:
            return POLICY_CASES[name]()
    return hpprune.MedianPruner(n_startup_trials=2)


def _run(
    storage: str,
    log: Path,
    policy: hpprune.Policy,
    *,
    n_workers: int,
    trials: int,
    steps: int,
    study_name: str,
    start: str,
) -> tuple[optuna.Study, Replay]:
    """Run the workers as separate processes and check the result against a replay.

    ``start="subprocess"`` starts fresh interpreters (``python -m
    tests.integrations.optuna_worker``); ``start="fork"`` forks this process
    (same code, no import time: on a shared 2-core machine importing optuna and
    hpprune in 8 interpreters at once takes longer than the study). Either
    way each worker is its own process with its own pruner, storage
    connection and log file descriptor.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_storage(storage)
    optuna.create_study(storage=st, study_name=study_name)
    engine = getattr(st, "engine", None)
    if engine is not None:
        engine.dispose()  # no pooled connection may be shared with forked children
    if start == "subprocess":
        procs = [
            subprocess.Popen(
                [
                    sys.executable, "-m", "tests.integrations.optuna_worker",
                    "--storage", storage, "--study", study_name, "--log", str(log),
                    "--policy", json.dumps(policy.to_dict()), "--trials", str(trials),
                    "--steps", str(steps), "--seed", str(i),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n_workers)
        ]  # fmt: skip
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
    else:
        ctx = mp.get_context("fork")
        forked = [
            ctx.Process(
                target=run_worker,
                args=(storage, study_name, str(log), policy.to_dict()),
                kwargs={"trials": trials, "steps": steps, "seed": i},
            )
            for i in range(n_workers)
        ]
        for f in forked:
            f.start()
        for f in forked:
            f.join(timeout=120)
        assert [f.exitcode for f in forked] == [0] * n_workers
    study = optuna.load_study(study_name=study_name, storage=st)
    rep = replay(log)
    _verify(study, rep, n_trials=n_workers * trials, log=log)
    if engine is not None:
        engine.dispose()
    return study, rep


def _verify(study: optuna.Study, rep: Replay, *, n_trials: int, log: Path) -> None:
    assert rep.mismatches == [], rep.mismatches[:3]
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == n_trials
    assert rep.n_decided >= n_trials
    n_pruned = 0
    for t in trials:
        tid = str(t.number)
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED), t
        # The owner asked after every report, so the log holds exactly the stored curve.
        assert rep.values.get(tid) == dict(t.intermediate_values), tid
        if t.state == TrialState.PRUNED:
            n_pruned += 1
            stop = rep.stops[tid]
            assert t.user_attrs["hpprune_reason"] == stop["reason"]
            assert t.user_attrs["hpprune_rule"] == stop["rule"]
            assert t.user_attrs["hpprune_step"] == stop["step"]
            assert rep.decisions[tid][-1][1] == "stop"
        else:
            assert tid not in rep.stops
            assert all(a != "stop" for _, a, _ in rep.decisions[tid])
    assert 0 < n_pruned < n_trials, "the run should prune some trials and complete others"
    # The project's own replay tool agrees (every owner asked after every report,
    # so no step was folded in without a decision).
    records = list(hpprune.read_log(log))
    assert not any(
        r["kind"] == "report" and r["decision"]["reason"] == Reason.INGESTED for r in records
    )
    assert audit_replay(log).all_identical
    # Workers really interleaved: reports of different trials alternate in the log.
    order = [r["trial"] for r in records if r["kind"] == "report"]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches > n_trials, "workers did not run concurrently"


@pytest.mark.slow
def test_eight_sqlite_workers_match_replay(tmp_path: Path) -> None:
    _run(
        f"sqlite:///{tmp_path / 'study.db'}",
        tmp_path / "audit.jsonl",
        _policy("anyof-median-percentile"),
        n_workers=8,
        trials=4,
        steps=8,
        study_name="sqlite8",
        start="fork",
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_four_postgres_workers_match_replay(pg_url: str, tmp_path: Path) -> None:
    _run(
        pg_url,
        tmp_path / "audit.jsonl",
        _policy("hyperband-9", "median"),
        n_workers=4,
        trials=6,
        steps=9,
        study_name=f"pg4-{tmp_path.name}",
        start="fork",
    )


@pytest.mark.slow
def test_three_journal_workers_match_replay(tmp_path: Path) -> None:
    _run(
        f"journal:{tmp_path / 'journal.log'}",
        tmp_path / "audit.jsonl",
        _policy("sha-r3", "median"),
        n_workers=3,
        trials=6,
        steps=9,
        study_name="journal3",
        start="subprocess",
    )
