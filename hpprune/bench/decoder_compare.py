"""Today's log decoder against msgspec's typed structs, on the logs of ``log_scale``.

Run ``python -m hpprune.bench.decoder_compare`` (``--records N`` for another
size; ``-o FILE`` for the Markdown table, default
``docs/results/msgspec_decoder.md``). It needs ``msgspec`` (``pip install
msgspec``; not a dependency of hpprune) and says so and exits when it is
missing. It writes the two 1,000,000-record shapes of
:mod:`hpprune.bench.log_scale` and decodes every line of each, keeping the
decoded records in a list, with three decoders, each in a fresh child process,
one at a time:

* ``json + decode_record`` (today): :func:`hpprune.audit.records.decode_line`
  and :func:`~hpprune.audit.records.decode_record`, giving the typed records
  ``Engine.from_log`` folds.
* ``msgspec structs``: a ``msgspec.json.Decoder`` over a tagged union of
  typed ``Struct``\\ s (tag ``kind``) with the same field rules (types, ranges,
  ``v`` <= the schema version, trial ids, finite non-negative elapsed times
  and resources); the structs are the result.
* ``msgspec -> records``: the same decoding, then today's typed records built
  from the structs (what adopting msgspec inside ``audit.records`` would
  cost, since the fold and the engine take those records).

Both msgspec decoders fall back to today's decoder for any line msgspec
refuses or that fails a check, so a torn line is skipped with the same warning
and a bad record is rejected with the same :class:`LogFormatError`; before
timing, the parent checks on the first lines of each log that the three
decoders give equal records. Each child reports CPU seconds
(``time.process_time``, what a loaded machine does not inflate) and peak
resident memory (``VmHWM``, see :func:`peak_rss`) above that of a child that
only imports the decoders. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union, get_args

from hpprune import validate
from hpprune.audit.records import (
    CompleteRecord,
    Record,
    ReportRecord,
    decode_line,
    decode_record,
)
from hpprune.types import SCHEMA_VERSION, Action, Decision, decision_from_fields

DECODERS = ("json + decode_record", "msgspec structs", "msgspec -> records")
"""The decoders compared, today's first (the ratios are against it)."""

DEFAULT_OUTPUT = "docs/results/msgspec_decoder.md"

_PLAIN_ID = re.compile(rf"[\w.:@+/-]{{1,{validate.MAX_ID_LENGTH}}}", re.ASCII)
_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ACTION_OF = {a.value: a for a in Action}
_NO_EVIDENCE: Any = MappingProxyType({})
_CHECK_LINES = 20_000


def msgspec_available() -> bool:
    """Whether msgspec can be imported (without importing it)."""
    return importlib.util.find_spec("msgspec") is not None


# ------------------------------------------------------------------ today's decoder
def decode_today(lines: Iterable[bytes], where: str) -> list[Record]:
    """Decode every line with today's decoder.

    Raises:
        hpprune.audit.records.LogFormatError: For a record the fold would reject.
    """
    out: list[Record] = []
    for n, line in enumerate(lines, 1):
        raw = decode_line(line, n, where)
        if raw is not None:
            out.append(decode_record(raw))
    return out


# ------------------------------------------------------------------ msgspec decoders
class _RejectError(Exception):
    """A line msgspec accepted that today's rules refuse: decode it the slow way."""


def _structs() -> tuple[Any, Any, Any, Any]:
    """msgspec, a decoder over the tagged union of the record structs, and the struct types.

    Only ``report`` and ``complete`` records (every line of the benchmark's
    logs but the header) have structs; a header and the rarer kinds fail the
    tag and go through today's decoder.
    """
    msgspec: Any = importlib.import_module("msgspec")
    meta = msgspec.Meta
    number = Union[float, None, Literal["NaN", "Infinity", "-Infinity"]]  # noqa: UP007
    version = Annotated[int, meta(le=SCHEMA_VERSION)]
    resource = Annotated[int, meta(ge=0, le=validate.MAX_STEP)]
    decision = msgspec.defstruct(
        "DecisionStruct",
        [
            ("action", Literal["continue", "stop", "pause", "resume"]),
            ("reason", str),
            ("rule", str),
            ("trial_id", str, ""),
            ("step", Annotated[int, meta(ge=-1, le=validate.MAX_STEP)], -1),
            ("evidence", Union[dict[str, Any], None], None),  # noqa: UP007
            ("schema_version", int, SCHEMA_VERSION),
            ("rung_resource", Union[resource, None, msgspec.UnsetType], msgspec.UNSET),  # noqa: UP007
        ],
        gc=False,
    )
    report = msgspec.defstruct(
        "ReportStruct",
        [
            ("trial", str),
            ("step", Annotated[int, meta(ge=0, le=validate.MAX_STEP)]),
            ("decision", decision),
            ("value", number, None),
            ("elapsed", Union[float, None], None),  # noqa: UP007
            ("resources", Union[dict[str, float], None], None),  # noqa: UP007
            ("late", bool, False),
            ("v", version, SCHEMA_VERSION),
        ],
        tag_field="kind",
        tag="report",
        gc=False,
    )
    complete = msgspec.defstruct(
        "CompleteStruct",
        [("trial", str), ("value", number, None), ("v", version, SCHEMA_VERSION)],
        tag_field="kind",
        tag="complete",
        gc=False,
    )
    return msgspec, msgspec.json.Decoder(report | complete), report, complete


def _check_id(tid: str) -> str:
    if _PLAIN_ID.fullmatch(tid):
        return sys.intern(tid)
    try:
        return sys.intern(validate.trial_id(tid, "trial"))
    except ValueError:
        raise _RejectError from None


def _check_time(x: float | None) -> None:
    if x is not None and not (math.isfinite(x) and x >= 0):
        raise _RejectError


def _check_report(s: Any) -> Any:
    """Apply the rules msgspec's types do not express to a report struct."""
    s.trial = tid = _check_id(s.trial)
    if type(s.value) is str:
        s.value = _NUMBERS[s.value]
    _check_time(s.elapsed)
    if s.resources is not None:
        for v in s.resources.values():
            _check_time(v)
    d = s.decision
    d.reason, d.rule = sys.intern(d.reason), sys.intern(d.rule)
    d.trial_id = tid if d.trial_id == tid else sys.intern(d.trial_id)
    if type(d.rung_resource) is not int and d.rung_resource is not None:  # not written
        # A STOP written before the field existed: its evidence holds it (as
        # hpprune.types.rung_resource_of reads it).
        rung = (d.evidence or {}).get("rung_resource") if d.action == "stop" else None
        if type(rung) is int and not 0 <= rung <= validate.MAX_STEP:
            raise _RejectError
        d.rung_resource = rung if type(rung) is int else None
    return s


def _check_complete(s: Any) -> Any:
    s.trial = _check_id(s.trial)
    if type(s.value) is str:
        s.value = _NUMBERS[s.value]
    return s


def _to_record(s: Any) -> Record:
    """Today's typed record of a checked struct."""
    if not hasattr(s, "decision"):
        return CompleteRecord(s.trial, s.value)
    d = s.decision
    ev = d.evidence
    decision = decision_from_fields(
        Decision,
        {
            "action": _ACTION_OF[d.action],
            "reason": d.reason,
            "rule": d.rule,
            "trial_id": d.trial_id,
            "step": d.step,
            "evidence": MappingProxyType({sys.intern(k): v for k, v in ev.items()})
            if ev
            else _NO_EVIDENCE,
            "schema_version": d.schema_version,
            "rung_resource": d.rung_resource,
        },
    )
    return ReportRecord(s.trial, s.step, s.value, s.elapsed, s.resources, decision, s.late)


def msgspec_decoder(as_records: bool) -> Callable[[Iterable[bytes], str], list[Any]]:
    """A decoder of lines through msgspec structs (today's records if ``as_records``).

    The returned function raises LogFormatError for a record the fold would
    reject, exactly as :func:`decode_today` does.
    """
    msgspec, dec, report, _ = _structs()
    fast = dec.decode
    errors = (msgspec.DecodeError, msgspec.ValidationError, _RejectError)

    def decode(lines: Iterable[bytes], where: str) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for n, line in enumerate(lines, 1):
            try:
                s = fast(line)
                s = _check_report(s) if type(s) is report else _check_complete(s)
                append(_to_record(s) if as_records else s)
            except errors:  # today's decoder decides: skip with a warning, or reject
                raw = decode_line(line, n, where)
                if raw is not None:
                    append(decode_record(raw))
        return out

    return decode


def decoder(name: str) -> Callable[[Iterable[bytes], str], list[Any]]:
    """The decoder called ``name`` (one of :data:`DECODERS`).

    Raises:
        ValueError: For another name.
    """
    if name == DECODERS[0]:
        return decode_today
    if name in DECODERS[1:]:
        return msgspec_decoder(as_records=name == DECODERS[2])
    raise ValueError(f"unknown decoder {name!r}; expected one of {list(DECODERS)}")


def same_as_today(got: Any, rec: Record) -> bool:
    """Whether a decoder's result (a struct or a typed record) equals today's record."""
    mine = got if isinstance(got, get_args(Record)) else _to_record(got)
    return bool(mine == rec)


# ------------------------------------------------------------------ measuring
def _child(name: str, path: str) -> None:
    fn = decoder(name)
    if path == "-":
        n, cpu = 0, 0.0
    else:
        with open(path, "rb") as fh:
            c0 = time.process_time()
            records = fn(fh, path)
            cpu = time.process_time() - c0
        n = len(records)
    print(json.dumps({"cpu_seconds": cpu, "peak_bytes": peak_rss(), "records": n}))


def peak_rss() -> int:
    """This process's peak resident memory in bytes (``VmHWM``).

    Not ``ru_maxrss``: on Linux a child inherits its parent's peak through
    ``fork`` and keeps it across ``exec``, so a child started by a big parent
    would report the parent's peak.
    """
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def measure(name: str, path: str) -> dict[str, float]:
    """Decode ``path`` (``"-"``: import only) with decoder ``name`` in a child process."""
    res = subprocess.run(
        [sys.executable, "-m", "hpprune.bench.decoder_compare", "--child", name, path],
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, float] = json.loads(res.stdout)
    return out


def check_agreement(path: Path, n_lines: int = _CHECK_LINES) -> None:
    """Check that the three decoders give equal records on the first lines of ``path``.

    Raises:
        AssertionError: Naming the first line where a decoder disagrees.
    """
    with path.open("rb") as fh:
        lines = list(itertools.islice(fh, n_lines))
    today = decode_today(lines, str(path))
    for name in DECODERS[1:]:
        got = decoder(name)(lines, str(path))
        if len(got) != len(today):
            raise AssertionError(f"{name}: {len(got)} records, today's decoder {len(today)}")
        for i, (g, t) in enumerate(zip(got, today, strict=True), 1):
            if not same_as_today(g, t):
                raise AssertionError(f"{name} disagrees with today's decoder on record {i}")


def table(
    rows: Sequence[tuple[str, int, str, dict[str, float]]], base: float, load: tuple[float, float]
) -> str:
    """The Markdown table of the measured rows (shape, lines, decoder, result).

    Args:
        rows: ``(shape, lines, decoder, child's result)``, today's decoder
            first for each shape (the ratios are against it).
        base: Peak resident bytes of a child that only imports the decoders.
        load: The machine's 1-minute load average before and after the runs.
    """
    msgspec: Any = importlib.import_module("msgspec")
    out = [
        f"Decoding every line of a log and keeping the records (`python -m "
        f"hpprune.bench.decoder_compare`; Python {platform.python_version()}, msgspec "
        f"{msgspec.__version__}; each decoder in a fresh child process, one at a time; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} before and {load[1]:.1f} after).",
        "",
        "| shape | lines | decoder | CPU | CPU vs today | peak RSS above import |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    today: dict[str, float] = {}
    for shape, n, name, got in rows:
        cpu = got["cpu_seconds"]
        today.setdefault(shape, cpu)
        out.append(
            f"| {shape} | {n:,} | {name} | {cpu:.2f} s | {cpu / today[shape]:.2f}x "
            f"| {(got['peak_bytes'] - base) / 2**20:,.0f} MiB |"
        )
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write both shapes, check the decoders agree, measure each, write the table.

    Returns:
        Exit code: 0, or 2 when msgspec is not installed (nothing is written).
    """
    ap = argparse.ArgumentParser(
        prog="python -m hpprune.bench.decoder_compare", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="records per log")
    ap.add_argument("-o", "--output", default=DEFAULT_OUTPUT, help="Markdown table to write")
    ap.add_argument("--child", nargs=2, metavar=("DECODER", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not msgspec_available():
        print(
            "hpprune.bench.decoder_compare: msgspec is not installed (pip install msgspec); "
            "nothing measured, nothing written",
            file=sys.stderr,
        )
        return 2
    if args.child:
        _child(*args.child)
        return 0
    from hpprune.audit.outputs import write_text
    from hpprune.bench.log_scale import curves_shape, stopped_shape, write

    load_before = os.getloadavg()[0]
    base = max(measure(name, "-")["peak_bytes"] for name in DECODERS)
    rows: list[tuple[str, int, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        shapes: tuple[tuple[str, Callable[[int], Iterator[dict[str, Any]]]], ...] = (
            ("stopped", stopped_shape),
            ("curves", curves_shape),
        )
        for shape, make in shapes:
            path = Path(tmp) / f"{shape}.jsonl"
            n = write(path, make(args.records))
            check_agreement(path)
            for name in DECODERS:
                got = measure(name, str(path))
                print(f"{shape} {name}: {got}", file=sys.stderr)
                rows.append((shape, n, name, got))
    text = table(rows, base, (load_before, os.getloadavg()[0]))
    print(text, end="")
    write_text(args.output, text)
    return 0


__all__ = [
    "DECODERS",
    "check_agreement",
    "decode_today",
    "decoder",
    "main",
    "measure",
    "msgspec_available",
    "msgspec_decoder",
    "peak_rss",
    "same_as_today",
    "table",
]

if __name__ == "__main__":
    raise SystemExit(main())
