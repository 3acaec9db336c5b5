"""How long ``Engine.from_log`` takes, and how much memory, on a million records.

Run ``python -m hpprune.bench.log_scale`` (``--records N`` for another size).
Two shapes of log, both written straight from records (no policy runs):

* ``stopped``: about 90% of the records are trials stopped at their first
  report (e.g. a wide random search under an aggressive policy); the rest are
  trials of 5 steps that complete.
* ``curves``: trials of 50 steps that all complete (20,000 trials for 1M).

Each fold runs in a fresh child process, which reports its wall and CPU time
(the CPU time is what a loaded machine does not inflate) and its peak resident
memory (``VmHWM``, Linux) next to that of a child which only imports
hpprune (the baseline). It prints a Markdown table (``-o FILE`` also writes
it, with the load average and commit in its caption); figures are this
machine's. ``--package-dir DIR`` makes the children import hpprune from DIR
(e.g. a worktree of an older commit), so one run of this script measures an
older engine on the same logs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hpprune
from hpprune.audit.outputs import write_text
from hpprune.audit.records import encode_record

_POLICY = hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=0)

_CHILD = """
import json, sys, time
import hpprune
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[1] != "-":
    engine = hpprune.Engine.from_log(sys.argv[1], resume_logging=False)
    n = engine.study.n_trials
else:
    n = 0
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
# This process's own peak (VmHWM): ru_maxrss would carry the parent's over from fork.
with open("/proc/self/status") as fh:
    peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) * 1024
print(json.dumps({"seconds": secs, "cpu_seconds": cpu, "peak_bytes": peak, "trials": n}))
"""


def _decision(action: str, reason: str, tid: str, step: int) -> dict[str, Any]:
    return {"action": action, "reason": reason, "rule": "MedianPruner", "trial_id": tid,
            "step": step, "schema_version": 1,
            **({"rung_resource": None} if action == "stop" else {})}  # fmt: skip


def _report(tid: str, step: int, value: float, action: str = "continue") -> dict[str, Any]:
    reason = "ok" if action == "continue" else "below_percentile"
    rec: dict[str, Any] = {"kind": "report", "trial": tid, "step": step, "value": value,
                           "elapsed": 1.5 * (step + 1),
                           "decision": _decision(action, reason, tid, step)}  # fmt: skip
    if action == "stop":
        rec["decision"]["evidence"] = {"cutoff": 0.5, "n_peers": 5, "percentile": 50.0}
    return rec


def stopped_shape(n_records: int) -> Iterator[dict[str, Any]]:
    """Records of the ``stopped`` shape (header excluded)."""
    n_full = max(1, n_records // 60)  # 6 records each: ~10% of the records
    for t in range(n_full):
        tid = f"full-{t}"
        for s in range(5):
            yield _report(tid, s, 0.2 + 0.01 * (t % 50) + 0.1 / (s + 1))
        yield {"kind": "complete", "trial": tid, "value": None}
    for t in range(n_records - 6 * n_full):
        yield _report(f"t{t}", 0, 0.9 + 0.001 * (t % 97), "stop")


def curves_shape(n_records: int) -> Iterator[dict[str, Any]]:
    """Records of the ``curves`` shape (header excluded)."""
    n_trials = max(1, n_records // 51)
    for t in range(n_trials):
        tid = f"c{t}"
        for s in range(50):
            yield _report(tid, s, 0.2 + 0.01 * (t % 50) + 1.0 / (s + 1))
        yield {"kind": "complete", "trial": tid, "value": None}


def write(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """Write a log (the policy's header first); returns the number of records."""
    header = hpprune.Engine(_POLICY).header()
    n = 1
    with path.open("wb") as fh:
        fh.write(encode_record(header))
        chunk: list[bytes] = []
        for rec in records:
            chunk.append(encode_record(rec))
            n += 1
            if len(chunk) >= 10_000:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
    return n


def measure(path: str, package_dir: str | None = None) -> dict[str, float]:
    """Fold ``path`` in a child process (``"-"``: import only); its time and peak memory.

    Args:
        path: The log, or ``"-"``.
        package_dir: Where the child imports hpprune from (None: as this process).

    Returns:
        ``seconds``, ``cpu_seconds``, ``peak_bytes`` and ``trials``.
    """
    # The child imports hpprune from package_dir, or from where this process did;
    # it runs there too, since `python -c` looks in its working directory first.
    where = package_dir or str(Path(hpprune.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": where}
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, path],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=where,
    )
    out: dict[str, float] = json.loads(res.stdout)
    return out


def _commit(package_dir: str | None) -> str:
    where = package_dir or str(Path(hpprune.__file__).resolve().parents[1])
    res = subprocess.run(
        ["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    commit = res.stdout.strip() or "unknown"
    return commit + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Write both shapes, fold each in a child, print (and maybe write) the table.

    Returns:
        Exit code 0.
    """
    ap = argparse.ArgumentParser(prog="python -m hpprune.bench.log_scale", description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000, help="records per log")
    ap.add_argument("--package-dir", help="import hpprune from here in the children")
    ap.add_argument("-o", "--output", type=Path, help="also write the table (Markdown) here")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    base = measure("-", args.package_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in (("stopped", stopped_shape), ("curves", curves_shape)):
            path = Path(tmp) / f"{name}.jsonl"
            n = write(path, shape(args.records))
            got = measure(str(path), args.package_dir)
            rows.append(
                f"| {name} | {n:,} | {int(got['trials']):,} | {path.stat().st_size / 1e6:.0f} MB "
                f"| {got['seconds']:.1f} s | {got['cpu_seconds']:.1f} s "
                f"| {got['peak_bytes'] / 2**20:,.0f} MiB "
                f"| {(got['peak_bytes'] - base['peak_bytes']) / 2**20:,.0f} MiB "
                f"| {(got['peak_bytes'] - base['peak_bytes']) / max(got['trials'], 1):,.0f} B |"
            )
    table = "\n".join(
        [
            "| shape | records | trials | file | from_log wall | CPU | peak RSS | above import "
            "| per trial |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(table)
    if args.output is not None:
        caption = (
            f"`Engine.from_log` at commit {_commit(args.package_dir)} "
            f"(`python -m hpprune.bench.log_scale`; Python {platform.python_version()}, "
            f"{os.cpu_count()} cores, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after; each fold in a fresh child process)."
        )
        write_text(args.output, caption + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
