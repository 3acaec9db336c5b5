"""A real two-node Ray cluster on localhost, started with ``ray start`` and torn down after.

``ray start --head`` starts the head node (1 CPU, custom resource
``hpprune_head``) and a second ``ray start --address=...`` joins a worker node
(1 CPU, custom resource ``hpprune_worker``), each on free ports, under a
private temporary directory. Every Ray process of the cluster is in one of
the two process groups the fixture created, so teardown signals exactly
those groups (never ``ray stop``, which would stop every Ray on the machine);
Ray's worker processes run in sessions of their own and are found by the
private folder named on their command line.
Drivers connect as separate processes with :attr:`RayCluster.env`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integrations.ray_fixtures import QUIET_ENV

ROOT = Path(__file__).resolve().parents[2]
HEAD_RESOURCE = "hpprune_head"
WORKER_RESOURCE = "hpprune_worker"
START_TIMEOUT_S = 180.0


@dataclass
class RayCluster:
    """A running cluster: its GCS address and the environment its drivers need."""

    address: str
    env: dict[str, str]
    groups: list[int] = field(default_factory=list)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> int:
    """Run ``ray start`` in a new process group; return the group id its daemons stay in."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"ray start timed out; see {log}") from None
    if code != 0:
        raise RuntimeError(
            f"ray start {' '.join(args)} failed ({code}):\n{log.read_text()[-3000:]}"
        )
    return proc.pid


def _stop(groups: list[int]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        alive = []
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
                alive.append(pgid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [g for g in alive if _group_alive(g)]
        if not alive:
            return


def _stragglers(root: Path) -> list[int]:
    """Processes whose command line names this cluster's private folder (Ray's workers)."""
    mine = os.fsencode(str(root))
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mine in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _sweep(root: Path, wait_s: float = 30.0) -> None:
    """Give worker processes (own sessions) time to exit with their raylet, then kill them."""
    deadline = time.monotonic() + wait_s
    while _stragglers(root) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in _stragglers(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_nodes(
    cluster: RayCluster, n: int, timeout_s: float = 120.0
) -> list[dict[str, object]]:
    """Alive nodes of the cluster as ``[{"id", "resources"}]`` once ``n`` are alive."""
    code = (
        "import json, ray\n"
        f"ray.init(address={cluster.address!r}, log_to_driver=False, configure_logging=False)\n"
        "print(json.dumps([{'id': x['NodeID'], 'resources': x['Resources']}"
        " for x in ray.nodes() if x['Alive']]))\n"
    )
    deadline = time.monotonic() + timeout_s
    nodes: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode == 0:
            nodes = json.loads(proc.stdout.strip().splitlines()[-1])
            if len(nodes) >= n:
                return nodes
        time.sleep(1.0)
    raise RuntimeError(f"only {len(nodes)} of {n} Ray nodes came up")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a worker node on localhost (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="hpr-ray-", dir="/tmp"))  # short: socket paths
    env = {
        **os.environ,
        **QUIET_ENV,
        "RAY_AUTH_MODE": "disabled",  # a throwaway cluster on 127.0.0.1 only
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    gcs, dash, agent_head, agent_worker = _free_ports(4)
    common = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
    common += ["--node-ip-address=127.0.0.1"]
    cluster = RayCluster(address=f"127.0.0.1:{gcs}", env=env)
    try:
        cluster.groups.append(
            _ray_start(
                [
                    "--head",
                    f"--port={gcs}",
                    "--include-dashboard=false",
                    f"--dashboard-port={dash}",
                    f"--dashboard-agent-listen-port={agent_head}",
                    f"--temp-dir={root}",
                    f"--resources={json.dumps({HEAD_RESOURCE: 1})}",
                    *common,
                ],
                env,
                root / "head.out",
            )
        )
        cluster.groups.append(
            _ray_start(
                [
                    f"--address={cluster.address}",
                    f"--dashboard-agent-listen-port={agent_worker}",
                    f"--resources={json.dumps({WORKER_RESOURCE: 1})}",
                    *common,
                ],
                env,
                root / "worker.out",
            )
        )
        wait_for_nodes(cluster, 2)
        yield cluster
    finally:
        _stop(cluster.groups)
        _sweep(root)
        shutil.rmtree(root, ignore_errors=True)
