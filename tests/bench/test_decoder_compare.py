"""hpprune.bench.decoder_compare: the msgspec decoders decide every line as today's does."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpprune.audit.records import LogFormatError
from hpprune.bench import decoder_compare
from tests.test_records import HEADER, ROWS, _done, _rec, _rep


def _outcome(decode: Any, data: bytes) -> tuple[str, object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = decode(data.splitlines(keepends=True), "crafted.jsonl")
            result: tuple[str, object] = ("ok", got)
        except LogFormatError as exc:
            result = ("rejected", str(exc))
    return (*result, [str(w.message) for w in caught])


def _assert_decides_as_today(name: str, data: bytes) -> None:
    """Decoder ``name`` accepts, warns and rejects ``data`` as today's, with equal records."""
    kind, today, today_warnings = _outcome(decoder_compare.decode_today, data)
    got_kind, got, got_warnings = _outcome(decoder_compare.decoder(name), data)
    assert (got_kind, got_warnings) == (kind, today_warnings)
    if kind == "ok":
        assert isinstance(got, list) and isinstance(today, list)
        assert all(decoder_compare.same_as_today(g, t) for g, t in zip(got, today, strict=True))
    else:
        assert got == today  # the same message, naming the same field


@pytest.mark.parametrize("name", decoder_compare.DECODERS[1:])
@pytest.mark.parametrize(("what", "data", "outcome"), ROWS, ids=[r[0] for r in ROWS])
def test_a_msgspec_decoder_decides_a_crafted_log_as_today(
    name: str, what: str, data: bytes, outcome: str | None
) -> None:
    pytest.importorskip("msgspec")
    _assert_decides_as_today(name, data)


@pytest.mark.parametrize("name", decoder_compare.DECODERS[1:])
def test_valid_records_take_the_msgspec_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("msgspec")
    records = [_rep("a", 0), _rep("a", 1, "NaN", elapsed=2.5, resources={"gpu": 1.0}), _done("a")]
    for tid, fields in (
        ("b", {"evidence": {"cutoff": 0.5}, "rung_resource": 2}),
        ("c", {"evidence": {"rung_resource": 4}}),  # a STOP written before the field existed
    ):
        records.append(
            _rep(tid, 0) | {"decision": {**_rep(tid, 0)["decision"], "action": "stop", **fields}}
        )
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    today = decoder_compare.decode_today(lines, "x")
    decode = decoder_compare.decoder(name)

    def no_fallback(*args: Any) -> None:
        raise AssertionError("a valid record fell back to today's decoder")

    monkeypatch.setattr(decoder_compare, "decode_line", no_fallback)
    got = decode(lines, "x")
    assert all(decoder_compare.same_as_today(g, t) for g, t in zip(got, today, strict=True))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.one_of(_rec, st.just(HEADER)), max_size=8))
def test_property_the_msgspec_decoders_decide_every_line_as_today(
    records: list[dict[str, Any]],
) -> None:
    pytest.importorskip("msgspec")
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    for name in decoder_compare.DECODERS[1:]:
        _assert_decides_as_today(name, data)


def _stop(**fields: Any) -> bytes:
    dec = {**_rep("a", 0)["decision"], "action": "stop", **fields}
    return b"".join(
        json.dumps(r).encode() + b"\n" for r in (HEADER, _rep("a", 0) | {"decision": dec})
    )


@pytest.mark.parametrize("name", decoder_compare.DECODERS[1:])
@pytest.mark.parametrize(
    "fields",
    [
        {"rung_resource": 3},
        {"rung_resource": None},
        {"evidence": {"rung_resource": 9}},  # written before the field existed
        {"evidence": {"rung_resource": "9"}},
        {"evidence": {"rung_resource": -2}},
        {"rung_resource": -1},
        {"rung_resource": True},
        {"rung_resource": 2**60},
        {"rung_resource": "3"},
    ],
)
def test_rung_resource_is_decided_as_today(name: str, fields: dict[str, Any]) -> None:
    pytest.importorskip("msgspec")
    _assert_decides_as_today(name, _stop(**fields))


def test_without_msgspec_nothing_is_measured_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(decoder_compare, "msgspec_available", lambda: False)
    out = tmp_path / "table.md"
    assert decoder_compare.main(["--records", "10", "-o", str(out)]) == 2
    assert "msgspec is not installed" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_a_small_run_writes_one_row_per_shape_and_decoder(tmp_path: Path) -> None:
    pytest.importorskip("msgspec")
    out = tmp_path / "table.md"
    assert decoder_compare.main(["--records", "300", "-o", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| stopped")]
    rows += [line for line in out.read_text().splitlines() if line.startswith("| curves")]
    assert [r.split(" | ")[2] for r in rows] == list(decoder_compare.DECODERS) * 2
    assert all(r.split(" | ")[3].endswith(" s") for r in rows)
