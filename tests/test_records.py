"""One codec and one fold: every reader accepts, skips and rejects the same logs alike.

Readers: ``Engine.from_log``, ``fold_log`` (explain, summary, report) and
``replay``; the Hypothesis property also builds the HTML report's data
(``build_report``, in memory) and reads the trials' fates from it. Each row is
a crafted log: it is either accepted (maybe with a skipped line, warned) or
rejected with a LogFormatError naming the line and the field, by every reader.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune.audit.explain import fold_log
from hpprune.audit.facts import FATES
from hpprune.audit.records import LogFormatError
from hpprune.audit.replay import replay
from hpprune.audit.report import build_report

POLICY = hpprune.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
HEADER = hpprune.Engine(POLICY).header()
OTHER = hpprune.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def _rep(trial: str, step: Any, value: Any = 0.5, **kw: Any) -> dict[str, Any]:
    dec = {
        "action": "continue",
        "reason": "startup",
        "rule": "median",
        "trial_id": trial,
        "step": step,
    }
    return {"kind": "report", "trial": trial, "step": step, "value": value, "decision": dec, **kw}


def _done(trial: str, value: Any = 0.5) -> dict[str, Any]:
    return {"kind": "complete", "trial": trial, "value": value}


def _lines(*records: dict[str, Any] | str, header: dict[str, Any] | None = None) -> bytes:
    out = [json.dumps(header or HEADER)]
    out += [r if isinstance(r, str) else json.dumps(r) for r in records]
    return ("\n".join(out) + "\n").encode()


READERS: dict[str, Callable[[Path], object]] = {
    "from_log": lambda p: hpprune.Engine.from_log(p, resume_logging=False),
    "fold_log": fold_log,
    "replay": lambda p: replay(p),
    "report": lambda p: build_report(p),  # the HTML page, in memory
}

DEEP = "[" * 200_000 + "]" * 200_000
HUGE_INT = '{"kind": "complete", "trial": "a", "value": ' + "7" * 5000 + "}"

# (what, log bytes, None = accepted silently | "skip" = accepted with a warning | field named)
ROWS: list[tuple[str, bytes, str | None]] = [
    ("valid", _lines(_rep("a", 0), _rep("a", 1), _done("a")), None),
    ('"decision": null', _lines({**_rep("a", 0), "decision": None}), "`decision`"),
    ('"decision": "stop"', _lines({**_rep("a", 0), "decision": "stop"}), "`decision`"),
    ("unknown action", _lines(_rep("a", 0) | {"decision": {"action": "x"}}), "decision.action"),
    ('"step": 1e999', _lines(_rep("a", 0) | {"step": 1e999}), "`step`"),
    ('"step": -1', _lines(_rep("a", -1)), "`step`"),
    ('"value": true', _lines(_rep("a", 0, True)), "`value`"),
    ('"value": "x"', _lines(_rep("a", 0, "x")), "`value`"),
    ('"value": 10**400', _lines(_rep("a", 0, 10**400)), "`value`"),
    ('"resources": [1]', _lines(_rep("a", 0, resources=[1])), "`resources`"),
    ('"elapsed": -1', _lines(_rep("a", 0, elapsed=-1.0)), "`elapsed`"),
    ("trial id with \\r", _lines(_rep("a\rb", 0)), "line breaks"),
    ("trial id not a str", _lines(_rep(7, 0)), "`trial`"),  # type: ignore[arg-type]
    ('header "direction": 5', _lines(header={**HEADER, "direction": 5}), "`direction`"),
    ('header "sideways"', _lines(header={**HEADER, "direction": "sideways"}), "`direction`"),
    ('header "policy": [1]', _lines(header={**HEADER, "policy": [1]}), "`policy`"),
    ('header "non_finite"', _lines(header={**HEADER, "non_finite": "drop"}), "`non_finite`"),
    ("unknown kind", _lines({"kind": "bogus", "trial": "a"}), "unknown record kind"),
    ("no header", _lines(header=_rep("a", 0)), "study record"),
    ("decreasing step", _lines(_rep("a", 3), _rep("a", 1)), "does not increase"),
    ("repeated step, other value", _lines(_rep("a", 1), _rep("a", 1, 0.7)), "does not increase"),
    ("report after complete", _lines(_rep("a", 0), _done("a"), _rep("a", 1)), "finished"),
    ("complete twice, other value", _lines(_rep("a", 0), _done("a"), _done("a", 0.1)), "twice"),
    (
        "second header of another policy",
        _lines(
            _rep("a", 0),
            {**HEADER, "policy": OTHER.to_dict(), "policy_hash": hpprune.policy_hash(OTHER)},
        ),
        "second study header",
    ),
    (
        "decision bound elsewhere",
        _lines(_rep("a", 0) | {"decision": {**_rep("b", 4)["decision"]}}),
        "bound to trial",
    ),
    # skipped with a warning, accepted otherwise
    ("torn last line", _lines(_rep("a", 0)) + b'{"kind": "rep', "skip"),
    ("200,000-deep nesting", _lines(_rep("a", 0), DEEP), "skip"),
    ("5000-digit integer", _lines(_rep("a", 0), HUGE_INT), "skip"),
    ("not a record", _lines(_rep("a", 0), '{"other": "tool"}'), "skip"),
    ("repeated report", _lines(_rep("a", 0), _rep("a", 0)), "skip"),
    ("repeated complete", _lines(_rep("a", 0), _done("a"), _done("a")), "skip"),
    ("repeated header", _lines(_rep("a", 0), HEADER), "skip"),
]


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(("what", "data", "outcome"), ROWS, ids=[r[0] for r in ROWS])
def test_every_reader_treats_a_crafted_log_alike(
    reader: str, what: str, data: bytes, outcome: str | None, tmp_path: Path
) -> None:
    p = tmp_path / "crafted.jsonl"
    p.write_bytes(data)
    read = READERS[reader]
    if outcome is None or outcome == "skip":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read(p)
        assert bool(caught) == (outcome == "skip"), [str(w.message) for w in caught]
    else:
        with pytest.raises(LogFormatError, match=r"line [0-9]+") as exc:
            read(p)
        assert outcome in str(exc.value)


def test_a_duplicated_complete_does_not_change_the_next_decision(tmp_path: Path) -> None:
    """A repeated ``complete`` counted twice used to flip CONTINUE to STOP."""
    p = tmp_path / "dup.jsonl"
    eng = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=2), log=p)
    eng.report("a", 0, 0.1)
    eng.complete("a")
    eng.close()
    p.write_bytes(p.read_bytes() + p.read_bytes().splitlines(keepends=True)[-1])
    with pytest.warns(UserWarning, match="repeated complete"):
        again = hpprune.Engine.from_log(p, resume_logging=False)
    assert again.study.n_completed == 1
    assert again.report("b", 0, 0.5).action is hpprune.Action.CONTINUE  # startup: 1 < 2


# ------------------------------------------------------------------ property
_trials = st.sampled_from(["a", "b", "c"])
_rec = st.one_of(
    st.builds(
        lambda t, s, v, a: {**_rep(t, s, v), "decision": {**_rep(t, s)["decision"], "action": a}},
        _trials,
        st.integers(-1, 4),
        st.one_of(st.floats(allow_nan=True), st.just("NaN"), st.booleans(), st.none()),
        st.sampled_from(["continue", "stop", "pause", "resume", "zzz"]),
    ),
    st.builds(lambda t, v: _done(t, v), _trials, st.one_of(st.floats(0, 1), st.none())),
    st.builds(lambda t: {"kind": "fail", "trial": t, "reason": "x"}, _trials),
    st.builds(lambda t: {"kind": "stale", "trial": t}, _trials),
    st.builds(lambda t: {"kind": "trial", "trial": t, "params": {"lr": 0.1}}, _trials),
    st.builds(
        lambda t, a: {
            "kind": "decision",
            "trial": t,
            "decision": {**_rep(t, 0)["decision"], "action": a, "step": -1},
        },
        _trials,
        st.sampled_from(["pause", "resume", "stop"]),
    ),
)


def _outcome(read: Callable[[], object]) -> tuple[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", read()
        except LogFormatError:
            return "rejected", None


_DATA_BLOCK = re.compile(r'<script type="application/json" id="hp-data">(.*?)</script>', re.S)


def _report_data(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The data the HTML report embeds for ``records`` (built in memory, no file written)."""
    page = build_report(records)
    block = _DATA_BLOCK.search(page)
    assert block is not None, "the report has no data block"
    data: dict[str, Any] = json.loads(block.group(1))
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rec, max_size=12))
def test_property_every_reader_accepts_the_same_logs_and_agrees_on_the_state(
    records: list[dict[str, Any]],
) -> None:
    logs = [HEADER, *records]
    engine = _outcome(lambda: hpprune.Engine.from_records(logs))
    facts = _outcome(lambda: fold_log(logs))
    replayed = _outcome(lambda: replay(logs, "none"))
    report = _outcome(lambda: _report_data(logs))
    outcomes = (engine[0], facts[0], replayed[0], report[0])
    assert len(set(outcomes)) == 1, (engine, facts, replayed, report)
    if engine[0] == "ok":
        eng: hpprune.Engine = engine[1]  # type: ignore[assignment]
        fates = {t.trial_id: t.state for t in facts[1].trials.values()}  # type: ignore[attr-defined]
        assert {t: eng.state(t).value for t in eng.trial_ids()} == fates
        assert eng.study.n_completed == sum(f == "completed" for f in fates.values())
        shown: dict[str, Any] = report[1]  # type: ignore[assignment]
        table = shown["trials"]
        assert dict(zip(table["id"], (FATES[i] for i in table["fate"]), strict=True)) == fates
        assert shown["meta"]["n_reports"] == facts[1].n_reports  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the CLI
COMMANDS: dict[str, list[str]] = {
    "explain": ["explain", "{LOG}"],
    "explain --trial": ["explain", "{LOG}", "--trial", "a"],
    "summary": ["summary", "{LOG}"],
    "summary --json": ["summary", "{LOG}", "--json"],
    "replay": ["replay", "{LOG}"],
    "backtest": ["backtest", "{LOG}", "--policy", "median"],
    "report": ["report", "{LOG}", "-o", "{OUT}"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("what", "data", "outcome"), ROWS, ids=[r[0] for r in ROWS])
def test_the_cli_never_prints_a_traceback_for_a_crafted_log(
    command: str,
    what: str,
    data: bytes,
    outcome: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hpprune import cli

    p = tmp_path / "crafted.jsonl"
    p.write_bytes(data)
    argv = [a.format(LOG=p, OUT=tmp_path / "r.html") for a in COMMANDS[command]]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if outcome is None or outcome == "skip":
        assert code == 0, (what, err)
    else:
        assert code == 2, (what, err)
        assert outcome in err, (what, err)
    assert p.read_bytes() == data  # a reader never changes the log
