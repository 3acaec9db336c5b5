"""Workers that share only a database URL: one audit log in the database, decisions = a replay.

Four worker processes (``python -m tests.integrations.optuna_worker``), each
started in its own empty working folder so that they have no file in common,
run one Optuna study against one database; their pruners keep the audit log
in the table ``hpprune_events`` of that database. One worker is killed with
SIGKILL in the middle of the study; the others finish it. Then the log in the
database replays, in one process and through the CLI (``hpprune replay URL
--study NAME``), to every recorded decision, every pruned trial carries its
STOP's reason, and the workers' folders are still empty. The same runs on
SQLite (with ``log=STUDY_STORAGE``: the study's own database) and on the
PostgreSQL server of ``tests/integrations/conftest.py`` (with its URL).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

import hpprune
from hpprune import cli
from hpprune.audit.dbsink import DatabaseSink, read_study
from hpprune.integrations.optuna import STUDY_STORAGE
from tests.integrations.optuna_helpers import replay
from tests.integrations.optuna_worker import open_storage

ROOT = Path(__file__).resolve().parents[2]
TrialState = optuna.trial.TrialState
POLICY = hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
N_WORKERS, TRIALS, STEPS = 4, 6, 8
KILL_AFTER_REPORTS = 30
TIMEOUT_S = 300.0


def _run(url: str, log: str, study_name: str, tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name=study_name)
    folders = [tmp_path / f"worker{i}" for i in range(N_WORKERS)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    procs = []
    for i, folder in enumerate(folders):
        folder.mkdir()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable, "-m", "tests.integrations.optuna_worker",
                    "--storage", url, "--study", study_name, "--log", log,
                    "--policy", json.dumps(POLICY.to_dict()), "--trials", str(TRIALS),
                    "--steps", str(STEPS), "--seed", str(i), "--sleep", "0.01",
                ],
                cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        )  # fmt: skip
    sink = DatabaseSink(url, study_name)
    victim = procs[0]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while sum(r["kind"] == "report" for r in sink.read()) < KILL_AFTER_REPORTS:
            assert victim.poll() is None, "the worker to kill finished too early"
            assert time.monotonic() < deadline, "the workers made too little progress"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        for p in procs:
            _, err = p.communicate(timeout=TIMEOUT_S)
            if p is not victim:
                assert p.returncode == 0, err.decode()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sink.close()
    assert victim.returncode == -signal.SIGKILL
    # No file in common, and none at all: the log lives in the database.
    assert all(list(f.iterdir()) == [] for f in folders)

    study = optuna.load_study(study_name=study_name, storage=storage)
    records = read_study(url, study_name)
    assert records[0]["kind"] == "study" and records[0]["study"] == study_name
    rep = replay(records)
    assert rep.mismatches == [], rep.mismatches[:3]
    trials = study.get_trials(deepcopy=False)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    assert len(running) <= 1  # the killed worker's trial, left running in storage
    assert len(trials) >= (N_WORKERS - 1) * TRIALS
    n_pruned = 0
    for t in trials:
        tid = str(t.number)
        if t.state == TrialState.PRUNED:
            n_pruned += 1
            assert t.user_attrs["hpprune_reason"] == rep.stops[tid]["reason"]
            assert t.user_attrs["hpprune_step"] == rep.stops[tid]["step"]
        if t.state in (TrialState.PRUNED, TrialState.COMPLETE):
            assert rep.values.get(tid) == dict(t.intermediate_values), tid
    assert 0 < n_pruned < len(trials)
    # The workers interleaved in the one log.
    order = [r["trial"] for r in records if r["kind"] == "report"]
    assert sum(a != b for a, b in itertools.pairwise(order)) > len(trials)

    # The CLI reads the database log: the replay reproduces every recorded decision.
    out = tmp_path / "replay.json"
    code = cli.main(["replay", url, "--study", study_name, "--json", "-o", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_compared"] == rep.n_decided
    assert result["n_identical"] == result["n_compared"]
    # ... and export/import round-trip through a .jsonl file.
    exported = tmp_path / "exported.jsonl"
    assert cli.main(["export", url, "--study", study_name, "-o", str(exported)]) == 0
    assert list(hpprune.read_log(exported)) == records
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


@pytest.mark.slow
def test_four_sqlite_workers_share_only_the_database(tmp_path: Path) -> None:
    _run(f"sqlite:///{tmp_path / 'study.db'}", STUDY_STORAGE, "sqlite-db4", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_four_postgres_workers_share_only_the_database(pg_url: str, tmp_path: Path) -> None:
    _run(pg_url, pg_url, f"pg-db4-{tmp_path.name}", tmp_path)
