"""Ray Tune on a real two-node Ray cluster (localhost), with the driver SIGKILLed mid-run.

The cluster (:mod:`tests.integrations.ray_cluster`) has a head node and a
worker node of one CPU each, so the two trials that run at a time are placed
on different nodes; each trial epoch leaves a mark naming its node. The
driver (:mod:`tests.integrations.ray_cluster_driver`) runs in its own process
with :class:`hpprune.integrations.ray_tune.RayTuneScheduler` deciding; once
the experiment's state file in Tune's storage holds some decisions, the
driver is killed with SIGKILL, and a second driver process continues the
experiment with ``Tuner.restore``. Then:

- trials ran on both nodes;
- the decisions recorded before the kill are a prefix of the final log (the
  restored scheduler continued the same log, losing and rewriting nothing);
- a single-process replay of the final log re-makes every decision exactly;
- every trial of the grid ended (stopped by the scheduler or completed), and
  some were stopped, so the scheduler really decided.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import hpprune
from hpprune.audit.log import read_log
from hpprune.integrations.ray_tune import STATE_FILE
from tests.integrations.ray_cluster import (
    HEAD_RESOURCE,
    ROOT,
    WORKER_RESOURCE,
    RayCluster,
    ray_cluster,  # noqa: F401
    wait_for_nodes,
)
from tests.integrations.ray_fixtures import replay_records

pytestmark = [pytest.mark.ray, pytest.mark.slow]

EPOCHS = 6
BASES = [1.0, 3.0, 2.0, 0.5, 2.5, 0.8, 4.0, 1.2]
CURVES = [[round(b / e, 6) for e in range(1, EPOCHS + 1)] for b in BASES]
POLICY = hpprune.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
KILL_AFTER_REPORTS = 12
RUN_TIMEOUT_S = 300.0


def _driver(cluster: RayCluster, tmp: Path, command: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tests.integrations.ray_cluster_driver", command,
        "--address", cluster.address, "--storage", str(tmp / "storage"), "--name", "exp",
        *extra,
    ]  # fmt: skip


def _records(path: Path) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a copy taken mid-sync may end in a torn line
        return list(read_log(path)) if path.exists() else []


def _reports(records: list[dict[str, Any]]) -> int:
    return sum(1 for r in records if r["kind"] == "report")


def _mid_study(records: list[dict[str, Any]]) -> bool:
    """Enough decisions in the synced log, and a running trial with two reports in it.

    Two: Tune's snapshot can hold a trial's latest report before that report's
    checkpoint, so only a trial synced with two reports surely has a checkpoint
    past its first epoch to be restored from (with one, the kill could leave
    nothing to resume and the test would fail by timing).
    """
    ended = {r["trial"] for r in records if r["kind"] in ("complete", "fail")}
    ended |= {
        r["trial"] for r in records if r["kind"] == "report" and r["decision"]["action"] == "stop"
    }
    reports: dict[str, int] = {}
    for r in records:
        if r["kind"] == "report" and r["trial"] not in ended:
            reports[r["trial"]] = reports.get(r["trial"], 0) + 1
    running = [t for t, n in reports.items() if n >= 2]
    return _reports(records) >= KILL_AFTER_REPORTS and bool(running)


def test_two_node_cluster_driver_killed_and_restored(
    ray_cluster: RayCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    nodes = wait_for_nodes(ray_cluster, 2)
    by_resource = {
        name: [str(n["id"]) for n in nodes if name in n["resources"]]  # type: ignore[operator]
        for name in (HEAD_RESOURCE, WORKER_RESOURCE)
    }
    assert all(len(ids) == 1 for ids in by_resource.values()), by_resource
    head, worker = by_resource[HEAD_RESOURCE][0], by_resource[WORKER_RESOURCE][0]
    marks = tmp_path / "marks"
    marks.mkdir()
    state = tmp_path / "storage" / "exp" / STATE_FILE
    env = {**ray_cluster.env, "TUNE_GLOBAL_CHECKPOINT_S": "1"}  # sync the state often
    log_out = open(tmp_path / "fit.out", "wb")  # noqa: SIM115 - closed below
    fit = subprocess.Popen(
        _driver(
            ray_cluster, tmp_path, "fit",
            "--curves", json.dumps(CURVES), "--policy", json.dumps(POLICY.to_dict()),
            "--marks", str(marks),
        ),
        cwd=ROOT, env=env, stdout=log_out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _mid_study(_records(state)):
            assert fit.poll() is None, (tmp_path / "fit.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first driver made too little progress"
            time.sleep(0.2)
        os.kill(fit.pid, signal.SIGKILL)
        fit.wait(timeout=60)
    finally:
        if fit.poll() is None:
            fit.kill()
            fit.wait(timeout=60)
        log_out.close()
    assert fit.returncode == -signal.SIGKILL
    before = _records(state)
    finished_before = {r["trial"] for r in before if r["kind"] in ("complete", "fail")}
    stopped_before = {
        r["trial"] for r in before if r["kind"] == "report" and r["decision"]["action"] == "stop"
    }
    seen_before = {r["trial"] for r in before if r["kind"] == "report"}
    assert seen_before - finished_before - stopped_before, "the kill should come mid-study"

    restore = subprocess.run(
        _driver(ray_cluster, tmp_path, "restore"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert restore.returncode == 0, restore.stdout[-2000:] + restore.stderr[-4000:]
    summary = json.loads(restore.stdout.strip().splitlines()[-1])
    assert summary == {"n_results": len(CURVES), "errors": 0}

    after = _records(state)
    # The restored scheduler folded the log and appended to it: nothing lost or rewritten.
    assert after[: len(before)] == before
    assert len(after) > len(before)
    # Every decision equals a single-process replay of the experiment's log.
    pairs = replay_records(after, POLICY, "minimize")
    assert len(pairs) == _reports(after)
    assert [rec for rec, _ in pairs] == [new for _, new in pairs]
    # Every trial ended; the scheduler stopped some, the rest completed.
    trials = {r["trial"] for r in after if r["kind"] == "report"}
    assert len(trials) == len(CURVES)
    stopped = {
        r["trial"] for r in after if r["kind"] == "report" and r["decision"]["action"] == "stop"
    }
    completed = {r["trial"] for r in after if r["kind"] == "complete"}
    assert stopped and completed
    assert stopped | completed == trials and not stopped & completed
    assert stopped_before <= stopped
    # Trials ran on both nodes, and some trial continued after the restore.
    ran = [json.loads(p.read_text()) for p in marks.iterdir()]
    assert {m["node"] for m in ran} == {head, worker}
    assert {m["trial"] for m in ran} == trials
    assert any(m["restored_from"] > 0 for m in ran), "no trial resumed from a checkpoint"
