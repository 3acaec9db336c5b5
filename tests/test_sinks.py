"""The log-sink contract, run against every built-in sink (file and memory)."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import hpprune
from hpprune.audit.sinks import FileSink, LogSink, MemorySink, open_sink

SinkFactory = Callable[[Path], LogSink]
SINKS: dict[str, SinkFactory] = {
    "file": lambda d: FileSink(d / "log.jsonl"),
    "memory": lambda d: MemorySink(),
}


def _rec(i: int, **extra: object) -> dict[str, object]:
    return {"kind": "complete", "trial": f"t{i}", "value": float(i), **extra}


@pytest.fixture(params=sorted(SINKS))
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> LogSink:
    return SINKS[request.param](tmp_path)


def test_append_then_read_gives_decoded_records(sink: LogSink) -> None:
    sink.append([_rec(0), _rec(1)])
    sink.append([{"kind": "complete", "trial": "x", "value": float("nan")}])
    got = list(sink.read())
    assert [r["trial"] for r in got] == ["t0", "t1", "x"]
    assert got[2]["value"] == "NaN"  # as every backend reads it back
    assert all(r["v"] == hpprune.types.SCHEMA_VERSION for r in got)


@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        ({"kind": "complete", "trial": "t"}, TypeError, "batch"),  # one mapping, not a batch
        ([_rec(0), {"kind": "x", "value": object()}], TypeError, "JSON"),
    ],
)
def test_a_bad_batch_writes_nothing(
    sink: LogSink, batch: object, error: type[Exception], match: str
) -> None:
    sink.append([_rec(9)])
    with pytest.raises(error, match=match):
        sink.append(batch)  # type: ignore[arg-type]
    assert [r["trial"] for r in sink.read()] == ["t9"]


def test_locked_yields_only_records_not_seen_yet(sink: LogSink) -> None:
    sink.append([_rec(0)])
    with sink.locked() as new:
        assert [r["trial"] for r in new] == ["t0"]
        sink.append([_rec(1)])  # own append inside the block: not yielded again
    sink.append([_rec(2)])  # own append outside: not yielded either
    with sink.locked() as new:
        assert list(new) == []
    with sink.locked() as outer, sink.locked() as inner:  # nested use in one thread
        assert list(outer) == [] and list(inner) == []
    assert [r["trial"] for r in sink.read()] == ["t0", "t1", "t2"]


def test_file_sink_sees_other_handles_records(tmp_path: Path) -> None:
    a, b = FileSink(tmp_path / "l.jsonl"), FileSink(tmp_path / "l.jsonl")
    with a.locked() as new:
        assert list(new) == []
        a.append([_rec(0)])
    b.append([_rec(1)])
    a.append([_rec(2)])  # a catches up on b's record while it appends
    b.append([_rec(3)])
    with a.locked() as new:
        assert [r["trial"] for r in new] == ["t1", "t3"]
    a.close()
    b.close()


def test_file_sink_torn_tail_is_skipped_and_the_next_batch_starts_a_line(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    p.write_bytes(b'{"kind":"complete","trial":"t0"}\n{"kind":"compl')
    sink = FileSink(p)
    with pytest.warns(UserWarning, match="torn"), sink.locked() as new:
        assert [r["trial"] for r in new] == ["t0"]
    sink.append([_rec(1)])
    with pytest.warns(UserWarning, match="malformed"):
        assert [r["trial"] for r in sink.read()] == ["t0", "t1"]


def test_reading_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    p = tmp_path / "missing.jsonl"
    assert list(FileSink(p).read()) == []
    assert not p.exists()


def test_open_sink_arguments(tmp_path: Path) -> None:
    mem = MemorySink()
    assert open_sink(mem) is mem
    assert isinstance(open_sink(tmp_path / "a"), FileSink)
    with pytest.raises(TypeError, match="log"):
        open_sink(42)  # type: ignore[arg-type]


_FSIZE = """
import resource, sys
from hpprune.audit.sinks import FileSink
path, limit = sys.argv[1], int(sys.argv[2])
sink = FileSink(path)
sink.append([{"kind": "complete", "trial": "small"}])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
big = [{"kind": "complete", "trial": f"t{i}", "pad": "x" * 100} for i in range(50)]
try:
    sink.append(big)
except OSError as exc:
    print("failed", exc.errno)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
sink.append(big)  # the same call again, once there is room
print("retried")
"""


def test_file_sink_failed_batch_is_cut_back_and_can_be_retried(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FSIZE), str(p), "1000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["failed 27", "retried"]  # EFBIG, then success
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn line left behind: nothing warns
        records = list(FileSink(p).read())
    assert [r["trial"] for r in records] == ["small"] + [f"t{i}" for i in range(50)]


def _counter(path: str, n: int, study: str | None = None) -> None:
    """Read every new record, then append one that states how many it has seen.

    ``path`` may be a database URL (then ``study`` names the study).
    """
    sink = open_sink(path, study=study)
    seen = 0
    for _ in range(n):
        with sink.locked() as new:
            seen += sum(1 for _ in new)
            sink.append([{"kind": "complete", "trial": "c", "seen": seen}])
            seen += 1
    sink.close()


@pytest.mark.slow
def test_fold_decide_append_is_atomic_across_processes(tmp_path: Path) -> None:
    p = str(tmp_path / "shared.jsonl")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_counter, args=(p, 300)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    seen = [r["seen"] for r in FileSink(p).read()]
    # Each writer had folded every earlier record when it appended: 0, 1, 2, ...
    assert seen == list(range(1200))
