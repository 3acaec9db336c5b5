"""Bad input at the front doors: the loop, search spaces, the CLI and the integrations.

Complements the engine and policy tables in tests/test_engine.py. Every row names
what is wrong, the call, the expected exception (or exit code) and a text the
message must contain (the field or argument). Where state exists, each test also
checks that nothing already recorded changed: engine state and decisions, the
loop's trial records, the audit-log bytes, Optuna's storage, the Ray scheduler's
records. Rows whose expected outcome is a documented decision (a non-finite
metric stops the trial with reason ``non_finite``; a torn last line is a warning)
check that decision and that other trials' statistics did not move.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune import cli
from hpprune import space as sp
from hpprune.audit.log import LogFormatError
from hpprune.loop import LoopTrial, SearchLoop

SPACE = {"x": sp.Uniform(0.0, 1.0), "k": sp.Categorical(["a", "b"])}


def _median() -> hpprune.MedianPruner:
    return hpprune.MedianPruner(n_startup_trials=1)


def _engine_state(engine: hpprune.Engine) -> Any:
    return (
        [
            (c.trial_id, c.state, list(c.steps), list(c.scores), c.last_step, c.final_score)
            for c in engine.study.trials()
        ],
        {t: engine.decisions(t) for t in engine.trial_ids()},
        engine.study.n_completed,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# =============================================================================== the loop
@dataclass
class LoopCtx:
    """A loop with one completed trial and one live trial (steps 0..2 reported)."""

    loop: SearchLoop
    live: LoopTrial
    done: LoopTrial
    foreign: LoopTrial
    log: Path

    def snapshot(self) -> Any:
        records = [
            (t.number, t.state, t.value, t.last_step, t.n_reports, t.runs, t.decision, t.error)
            for t in self.loop.result()
        ]
        flags = (self.live._told, self.live.state, self.done._told, self.done.state)
        return _engine_state(self.loop.engine), records, flags, self.log.read_bytes()


def _loop_ctx(tmp_path: Path) -> LoopCtx:
    log = tmp_path / "loop.jsonl"
    loop = SearchLoop(lambda t: 0.5, SPACE, _median(), log=log, seed=7)
    done = loop.ask()
    for step, v in enumerate([1.0, 0.9, 0.8]):
        done.report(step, v)
    loop.tell(done)
    live = loop.ask()
    for step, v in enumerate([0.5, 0.4, 0.3]):
        live.report(step, v)
    foreign = SearchLoop(None, SPACE, _median()).ask()
    return LoopCtx(loop, live, done, foreign, log)


LoopCall = Callable[[Any], Any]  # Any: the rows pass values of the wrong types on purpose

# (what is wrong, call, expected exception, text the message must contain)
LOOP_ROWS: list[tuple[str, LoopCall, type[BaseException], str]] = [
    # LoopTrial.report
    ("report: negative step", lambda c: c.live.report(-1, 0.2), ValueError, "`step`"),
    ("report: float step", lambda c: c.live.report(3.0, 0.2), TypeError, "`step`"),
    ("report: numpy float step", lambda c: c.live.report(np.float64(3), 0.2), TypeError, "`step`"),
    ("report: None step", lambda c: c.live.report(None, 0.2), TypeError, "`step`"),
    ("report: step 2**53", lambda c: c.live.report(2**53, 0.2), ValueError, "`step`"),
    (
        "report: decreasing step",
        lambda c: c.live.report(1, 0.2),
        ValueError,
        "`step` must increase",
    ),
    ("report: step again, other value", lambda c: c.live.report(2, 0.9), ValueError, "`step` 2"),
    ("report: str value", lambda c: c.live.report(3, "0.2"), TypeError, "`value`"),
    ("report: Decimal value", lambda c: c.live.report(3, Decimal("0.2")), TypeError, "`value`"),
    ("report: complex value", lambda c: c.live.report(3, 0.2 + 1j), TypeError, "`value`"),
    ("report: 2-d array", lambda c: c.live.report(3, np.array([[0.2]])), TypeError, "`value`"),
    ("report: numpy bool", lambda c: c.live.report(3, np.True_), TypeError, "`value`"),
    ("report: elapsed -1", lambda c: c.live.report(3, 0.2, -1.0), ValueError, "`elapsed_s`"),
    ("report: elapsed inf", lambda c: c.live.report(3, 0.2, math.inf), ValueError, "`elapsed_s`"),
    (
        "report: infinite memory",
        lambda c: c.live.report(3, 0.2, resources={"memory_mb": math.inf}),
        ValueError,
        "memory_mb",
    ),
    (
        "report: int resource key",
        lambda c: c.live.report(3, 0.2, resources={1: 2.0}),
        TypeError,
        "`resources`",
    ),
    (
        "report: str resource value",
        lambda c: c.live.report(3, 0.2, resources={"gpu": "busy"}),
        TypeError,
        "resources",
    ),
    ("report: after tell", lambda c: c.done.report(3, 0.7), ValueError, "already told"),
    # SearchLoop.tell / resume
    ("tell: unknown state", lambda c: c.loop.tell(c.live, state="bogus"), ValueError, "`state`"),
    ("tell: int state", lambda c: c.loop.tell(c.live, state=3), TypeError, "`state`"),
    ("tell: state running", lambda c: c.loop.tell(c.live, state="running"), ValueError, "`state`"),
    ("tell: state stopped", lambda c: c.loop.tell(c.live, state="stopped"), ValueError, "`state`"),
    ("tell: str value", lambda c: c.loop.tell(c.live, "0.3"), TypeError, "`value`"),
    ("tell: list value", lambda c: c.loop.tell(c.live, [0.3]), TypeError, "`value`"),
    ("tell: not a trial", lambda c: c.loop.tell(object()), ValueError, "`trial`"),
    ("tell: other loop's trial", lambda c: c.loop.tell(c.foreign), ValueError, "`trial`"),
    ("tell: twice", lambda c: c.loop.tell(c.done), ValueError, "already told"),
    ("resume: unknown id", lambda c: c.loop.resume("nope"), ValueError, "`trial_id`"),
    # SearchLoop.run (validated before anything starts)
    ("run: str n_trials", lambda c: c.loop.run(n_trials="3"), TypeError, "`n_trials`"),
    ("run: bool n_trials", lambda c: c.loop.run(n_trials=True), TypeError, "`n_trials`"),
    ("run: NaN timeout", lambda c: c.loop.run(timeout_s=math.nan), ValueError, "`timeout_s`"),
    ("run: str timeout", lambda c: c.loop.run(timeout_s="5"), TypeError, "`timeout_s`"),
    ("run: int progress", lambda c: c.loop.run(n_trials=1, progress=3), TypeError, "`progress`"),
]


@pytest.mark.parametrize(("what", "call", "exc", "text"), LOOP_ROWS, ids=[r[0] for r in LOOP_ROWS])
def test_loop_rejects_bad_input_and_changes_nothing(
    what: str, call: LoopCall, exc: type[BaseException], text: str, tmp_path: Path
) -> None:
    ctx = _loop_ctx(tmp_path)
    before = ctx.snapshot()
    with pytest.raises(exc) as info:
        call(ctx)
    assert text in str(info.value), (what, str(info.value))
    assert ctx.snapshot() == before, what
    # The loop still works afterwards.
    assert ctx.live.report(3, 0.25).action == "continue"
    assert ctx.loop.tell(ctx.live).value == "completed"


def _newer_log(p: Path) -> None:
    p.write_text('{"kind":"study","direction":"minimize","v":2}\n')


def _junk_log(p: Path) -> None:
    p.write_text("this is not an hpprune log\n")


def _bad_decision_log(p: Path) -> None:
    engine = hpprune.Engine(_median(), log=p)
    engine.close()
    with open(p, "a") as fh:
        fh.write(
            '{"kind":"report","trial":"0","step":0,"value":1.0,'
            '"decision":{"action":"explode","reason":"x","rule":"y"},"v":1}\n'
        )


# (what is wrong, extra constructor kwargs, log-file writer or None, exception, text)
LOOP_INIT_ROWS: list[tuple[str, dict[str, Any], Any, type[BaseException], str]] = [
    ("non_finite mode", {"non_finite": "explode"}, None, ValueError, "`non_finite`"),
    ("direction None", {"direction": None}, None, TypeError, "`direction`"),
    ("bool n_workers", {"n_workers": True}, None, TypeError, "`n_workers`"),
    ("float seed", {"seed": 1.5}, None, TypeError, "`seed`"),
    ("policy class", {"policy": hpprune.MedianPruner}, None, TypeError, "`policy`"),
    ("space value None", {"space": {"a": None}}, None, TypeError, "space['a']"),
    ("log is a directory", {"log": "DIR"}, None, IsADirectoryError, "`log`"),
    ("log of a newer schema", {}, _newer_log, LogFormatError, "schema_version 2"),
    ("log that is not hpprune's", {}, _junk_log, LogFormatError, "study record"),
    ("log with a bad action", {}, _bad_decision_log, LogFormatError, "decision.action"),
]


@pytest.mark.filterwarnings("ignore:.*skipped")
@pytest.mark.parametrize(
    ("what", "kwargs", "writer", "exc", "text"), LOOP_INIT_ROWS, ids=[r[0] for r in LOOP_INIT_ROWS]
)
def test_loop_constructor_rejects_bad_input_and_leaves_the_log_alone(
    what: str,
    kwargs: dict[str, Any],
    writer: Any,
    exc: type[BaseException],
    text: str,
    tmp_path: Path,
) -> None:
    args: dict[str, Any] = {"objective": None, "space": SPACE, "policy": _median()}
    args.update(kwargs)
    log = tmp_path / "given.jsonl"
    if writer is not None:
        writer(log)
        args["log"] = log
    if args.get("log") == "DIR":
        args["log"] = tmp_path
    before = _files(tmp_path)
    with pytest.raises(exc) as info:
        SearchLoop(**args)
    assert text in str(info.value), (what, str(info.value))
    assert _files(tmp_path) == before, what


SPACE_ROWS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("Uniform low None", lambda: sp.Uniform(None, 1.0), TypeError, "`low`"),  # type: ignore[arg-type]
    ("Uniform high str", lambda: sp.Uniform(0.0, "1"), TypeError, "`high`"),  # type: ignore[arg-type]
    ("LogUniform high inf", lambda: sp.LogUniform(1.0, math.inf), ValueError, "`high`"),
    ("LogUniform low NaN", lambda: sp.LogUniform(math.nan, 1.0), ValueError, "`low`"),
    ("IntUniform low bool", lambda: sp.IntUniform(True, 5), TypeError, "`low`"),
    ("IntUniform high beyond int64", lambda: sp.IntUniform(0, 2**70), ValueError, "`high`"),
    ("Categorical None", lambda: sp.Categorical(None), TypeError, "`choices`"),  # type: ignore[arg-type]
    ("Categorical of lists", lambda: sp.Categorical([[1], [2]]), TypeError, "`choices[0]`"),  # type: ignore[list-item]
    ("Categorical dict", lambda: sp.Categorical({"a": 1}), TypeError, "`choices`"),  # type: ignore[arg-type]
    ("Categorical inf", lambda: sp.Categorical([1.0, math.inf]), ValueError, "`choices[1]`"),
    ("Categorical generator", lambda: sp.Categorical(x for x in "ab"), TypeError, "`choices`"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("what", "make", "exc", "text"), SPACE_ROWS, ids=[r[0] for r in SPACE_ROWS]
)
def test_space_definitions_name_the_field(
    what: str, make: Callable[[], Any], exc: type[Exception], text: str
) -> None:
    with pytest.raises(exc) as info:
        make()
    assert text in str(info.value), (what, str(info.value))


def test_int64_bounds_are_accepted_and_drawn() -> None:
    """The largest accepted IntUniform bound really samples (the row above is the limit)."""
    d = sp.IntUniform(2**63 - 2, 2**63 - 1)
    assert sp.sample({"a": d}, 0, 0)["a"] in (2**63 - 2, 2**63 - 1)


# =============================================================================== the CLI
def _good_log(p: Path) -> Path:
    engine = hpprune.Engine(_median(), log=p)
    for tid, base in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        for step in range(4):
            engine.report(tid, step, base + 0.1 * step)
        if tid == "a":
            engine.complete(tid)
    engine.close()
    return p


def _cli_files(tmp: Path) -> dict[str, Path]:
    good = _good_log(tmp / "good.jsonl")
    data = good.read_bytes()
    lines = data.splitlines(keepends=True)
    header = json.loads(lines[0])
    files = {
        "GOOD": good,
        "TORN": tmp / "torn.jsonl",
        "EMPTY": tmp / "empty.jsonl",
        "BINARY": tmp / "binary.jsonl",
        "HEADLESS": tmp / "headless.jsonl",
        "NEWER": tmp / "newer.jsonl",
        "NEWERHEAD": tmp / "newerhead.jsonl",
        "BADACTION": tmp / "badaction.jsonl",
        "BADSTEP": tmp / "badstep.jsonl",
        "TORNHEAD": tmp / "tornhead.jsonl",
        "CSVTRUNC": tmp / "trunc.csv",
        "DIR": tmp / "adir",
        "FILEPARENT": tmp / "good.jsonl" / "sub" / "x.jsonl",
        "MISSING": tmp / "missing.jsonl",
        "OUT": tmp / "out" / "report.html",
        "BENCHOUT": tmp / "bench-out",
    }
    files["TORN"].write_bytes(data[:-9])
    files["EMPTY"].write_bytes(b"")
    files["BINARY"].write_bytes(b"\x00\xff\xfe\x01 not json\n")
    files["HEADLESS"].write_bytes(b"".join(lines[1:]))
    files["NEWER"].write_bytes(
        lines[0] + b'{"kind":"report","trial":"a","step":9,"value":1.0,"v":99}\n'
    )
    files["NEWERHEAD"].write_text(json.dumps({**header, "v": 2}) + "\n")
    files["BADACTION"].write_bytes(
        lines[0] + b'{"kind":"report","trial":"a","step":0,"value":1.0,'
        b'"decision":{"action":"explode","reason":"x","rule":"y"},"v":1}\n'
    )
    files["BADSTEP"].write_bytes(
        lines[0] + b'{"kind":"report","trial":"a","step":"zero","value":1.0,'
        b'"decision":{"action":"continue","reason":"ok","rule":"y"},"v":1}\n'
    )
    files["TORNHEAD"].write_bytes(lines[0][:25])
    files["CSVTRUNC"].write_text("config_id,step,val")  # cut inside the header
    files["DIR"].mkdir()
    return files


@dataclass(frozen=True)
class CliRow:
    """One CLI case: argv with ``{NAME}`` placeholders (see ``_cli_files``), exit code, text."""

    what: str
    argv: tuple[str, ...]
    code: int
    text: str
    xfail: str | None = None  # a known bug in a module owned elsewhere (reported to the lead)


CLI_ROWS: list[CliRow] = [
    # explain / summary (hpprune.cli)
    CliRow("explain: empty file", ("explain", "{EMPTY}"), 2, "argument LOG"),
    CliRow("summary: binary file", ("summary", "{BINARY}"), 2, "argument LOG"),
    CliRow("explain: no study record", ("explain", "{HEADLESS}"), 2, "argument LOG"),
    CliRow("summary: newer record", ("summary", "{NEWER}"), 2, "schema_version 99"),
    CliRow("explain: newer header", ("explain", "{NEWERHEAD}"), 2, "schema_version 2"),
    CliRow("explain: unknown action", ("explain", "{BADACTION}"), 2, "decision.action"),
    CliRow(
        "summary: step not an int", ("summary", "{BADSTEP}"), 2, "line 2: `step`: expected `int`"
    ),
    CliRow("summary: a directory", ("summary", "{DIR}"), 2, "argument LOG"),
    CliRow("explain: torn header only", ("explain", "{TORNHEAD}"), 2, "argument LOG"),
    CliRow("explain: empty --trial", ("explain", "{GOOD}", "--trial", ""), 2, "--trial"),
    CliRow("explain: torn last line is a warning", ("explain", "{TORN}"), 0, "torn"),
    # replay / backtest / report (hpprune.audit.cli)
    CliRow("replay: missing file", ("replay", "{MISSING}"), 2, "missing.jsonl"),
    CliRow("replay: empty file", ("replay", "{EMPTY}"), 2, "study record"),
    CliRow("replay: newer record", ("replay", "{NEWER}"), 2, "schema_version 99"),
    CliRow("replay: unknown action", ("replay", "{BADACTION}"), 2, "decision.action"),
    CliRow("replay: unknown policy", ("replay", "{GOOD}", "--policy", "nosuch"), 2, "nosuch"),
    CliRow(
        "replay: bad policy parameter",
        ("replay", "{GOOD}", "--policy", "median:n_startup_trials=-1"),
        2,
        "n_startup_trials",
    ),
    CliRow(
        "replay: bad --non-finite", ("replay", "{GOOD}", "--non-finite", "x"), 2, "--non-finite"
    ),
    CliRow("replay: bad --rows", ("replay", "{GOOD}", "--rows", "x"), 2, "--rows"),
    CliRow("replay: a directory", ("replay", "{DIR}"), 2, "adir"),
    CliRow(
        "backtest: rate above 1",
        ("backtest", "{GOOD}", "--policy", "median", "--max-discard-rate", "2"),
        2,
        "--max-discard-rate",
    ),
    CliRow("report: no --output", ("report", "{GOOD}"), 2, "--output"),
    CliRow("report: missing file", ("report", "{MISSING}", "-o", "{OUT}"), 2, "missing.jsonl"),
    CliRow("report: newer record", ("report", "{NEWER}", "-o", "{OUT}"), 2, "schema_version 99"),
    CliRow(
        "report: negative budget",
        ("report", "{GOOD}", "-o", "{OUT}", "--budget-s", "-1"),
        2,
        "--budget-s",
    ),
    CliRow(
        "report: too few points",
        ("report", "{GOOD}", "-o", "{OUT}", "--max-points", "5"),
        2,
        "max_points",
    ),
    CliRow(
        "report: a directory",
        ("report", "{DIR}", "-o", "{OUT}"),
        2,
        "adir",
    ),
    CliRow(
        "import: missing Ray dir",
        ("import", "ray", "{MISSING}", "--metric", "loss", "--mode", "min", "-o", "{OUT}"),
        2,
        "missing.jsonl",
    ),
    CliRow(
        "import: unopenable storage",
        ("import", "optuna", "--storage", "sqlite:///{FILEPARENT}", "-o", "{OUT}"),
        2,
        "storage",
    ),
    # bench (hpprune.bench.cli); all fail before any simulation starts
    CliRow("bench: no -o", ("bench", "lcbench", "--quick"), 2, "-o/--output"),
    CliRow(
        "bench: negative --seeds",
        ("bench", "lcbench", "--seeds", "-1", "--out", "{BENCHOUT}"),
        2,
        "--seeds",
    ),
    CliRow(
        "bench: zero --workers",
        ("bench", "lcbench", "--workers", "0", "--out", "{BENCHOUT}"),
        2,
        "--workers",
    ),
    CliRow(
        "bench: bad --budget",
        ("bench", "lcbench", "--budget", "abc", "--out", "{BENCHOUT}"),
        2,
        "--budget",
    ),
    CliRow(
        "bench: zero --configs",
        ("bench", "sklearn", "--configs", "0", "--out", "{BENCHOUT}"),
        2,
        "--configs",
    ),
    CliRow(
        "bench: unknown method",
        ("bench", "lcbench", "--methods", "nosuch", "--out", "{BENCHOUT}"),
        2,
        "nosuch",
    ),
    CliRow(
        "bench: no data dir",
        (
            "bench",
            "lcbench",
            "--data-dir",
            "{MISSING}",
            "--quick",
            "--no-progress",
            "--out",
            "{BENCHOUT}",
        ),
        2,
        "data_dir",
    ),
    CliRow("bench: curves without FILE", ("bench", "curves", "--out", "{BENCHOUT}"), 2, "FILE"),
    CliRow(
        "bench: --jobs 0", ("bench", "lcbench", "--jobs", "0", "--out", "{BENCHOUT}"), 2, "--jobs"
    ),
    CliRow(
        "bench: --max-step 0",
        ("bench", "sklearn", "--max-step", "0", "--out", "{BENCHOUT}"),
        2,
        "--max-step",
    ),
    CliRow(
        "bench: missing curves table",
        ("bench", "curves", "{MISSING}", "--direction", "minimize", "--out", "{BENCHOUT}"),
        2,
        "not found",
    ),
    CliRow(
        "bench: truncated curves table",
        (
            "bench",
            "curves",
            "{CSVTRUNC}",
            "--direction",
            "minimize",
            "--quick",
            "--no-progress",
            "--out",
            "{BENCHOUT}",
        ),
        2,
        "trunc.csv",
    ),
    CliRow(
        "bench: a log given as curves",
        (
            "bench",
            "curves",
            "{GOOD}",
            "--direction",
            "minimize",
            "--quick",
            "--no-progress",
            "--out",
            "{BENCHOUT}",
        ),
        2,
        "missing required column",
    ),
    # demo (refuses before training anything)
    CliRow("demo: --log is a directory", ("demo", "-o", "{DIR}"), 2, "-o/--output"),
    CliRow("demo: --log under a file", ("demo", "--log", "{FILEPARENT}"), 2, "-o/--output"),
    CliRow("demo: --log of a newer schema", ("demo", "--log", "{NEWERHEAD}"), 2, "-o/--output"),
    CliRow("demo: --log with a torn header", ("demo", "--log", "{TORNHEAD}"), 2, "-o/--output"),
    CliRow("demo: bad --seed", ("demo", "--seed", "x"), 2, "--seed"),
]


def _cli_params() -> list[Any]:
    out = []
    for row in CLI_ROWS:
        marks = [pytest.mark.timeout(120)]
        if row.xfail is not None:
            marks.append(pytest.mark.xfail(reason=row.xfail, strict=False))
        out.append(pytest.param(row, marks=marks, id=row.what))
    return out


@pytest.mark.parametrize("row", _cli_params())
def test_cli_exits_2_naming_the_argument_without_a_traceback(
    row: CliRow,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _cli_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in row.argv]
    before = _files(tmp_path)
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == row.code, (row.what, code, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out
    assert row.text in err, (row.what, err[-2000:])
    # No input file was touched and no output was written.
    assert _files(tmp_path) == before, row.what


def test_cli_in_a_fresh_process_exits_2_for_a_newer_schema(tmp_path: Path) -> None:
    """The same contract through the installed entry point (no traceback on stderr)."""
    import subprocess
    import sys

    files = _cli_files(tmp_path)
    for command in ("summary", "replay"):
        res = subprocess.run(
            [sys.executable, "-m", "hpprune", command, str(files["NEWER"])],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 2, res.stderr
        assert "schema_version 99" in res.stderr and "Traceback" not in res.stderr


# ======================================================================= the integrations
def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package is missing
        return False


def _optuna_pruner() -> Any:
    if not _have("hpprune.integrations.optuna"):
        pytest.skip("hpprune.integrations.optuna does not exist yet")
    from hpprune.integrations.optuna import OptunaPruner

    return OptunaPruner


def _ray_scheduler() -> Any:
    if not _have("hpprune.integrations.ray_tune"):
        pytest.skip("hpprune.integrations.ray_tune does not exist yet")
    from hpprune.integrations.ray_tune import RayTuneScheduler

    return RayTuneScheduler


OPTUNA_INIT_ROWS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("policy None", {"policy": None}, TypeError, "`policy`"),
    ("policy class", {"policy": hpprune.MedianPruner}, TypeError, "`policy`"),
    ("bool objective_index", {"objective_index": True}, TypeError, "`objective_index`"),
    ("non_finite None", {"non_finite": None}, TypeError, "`non_finite`"),
    ("int wall_time", {"wall_time": 1}, TypeError, "`wall_time`"),
    ("bytes log", {"log": b"audit.jsonl"}, TypeError, "`log`"),
]


@pytest.mark.parametrize(
    ("what", "kwargs", "exc", "text"), OPTUNA_INIT_ROWS, ids=[r[0] for r in OPTUNA_INIT_ROWS]
)
def test_optuna_pruner_constructor(
    what: str, kwargs: dict[str, Any], exc: type[Exception], text: str
) -> None:
    pruner_cls = _optuna_pruner()
    args: dict[str, Any] = {"policy": hpprune.NoPruning(), **kwargs}
    with pytest.raises(exc) as info:
        pruner_cls(**args)
    assert text in str(info.value), (what, str(info.value))


@dataclass
class OptunaCtx:
    pruner: Any
    study: Any
    trial: Any
    log: Path

    def snapshot(self) -> Any:
        frozen = self.study._storage.get_trial(self.trial._trial_id)
        return (
            _engine_state(self.pruner.engine),
            dict(frozen.intermediate_values),
            self.log.read_bytes(),
        )


def _optuna_ctx(tmp_path: Path) -> OptunaCtx:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner_cls = _optuna_pruner()
    log = tmp_path / "optuna.jsonl"
    pruner = pruner_cls(_median(), log=log)
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    first = study.ask()
    for step, v in enumerate([1.0, 0.9]):
        first.report(v, step)
        assert first.should_prune() is False
    study.tell(first, 0.9)
    trial = study.ask()
    assert pruner.report(trial, 0.5, 0) is False
    return OptunaCtx(pruner, study, trial, log)


# (what is wrong, value, step, elapsed_s, exception, text)
OPTUNA_REPORT_ROWS: list[tuple[str, Any, Any, Any, type[Exception], str]] = [
    ("value None", None, 1, None, TypeError, "`value`"),
    ("value str", "0.4", 1, None, TypeError, "`value`"),
    ("value bool", True, 1, None, TypeError, "`value`"),
    ("value list", [0.4], 1, None, TypeError, "`value`"),
    ("value 1-d array", np.array([0.4]), 1, None, TypeError, "`value`"),
    ("value Decimal", Decimal("0.4"), 1, None, TypeError, "`value`"),
    ("step -1", 0.4, -1, None, ValueError, "`step`"),
    ("step float", 0.4, 1.0, None, TypeError, "`step`"),
    ("step str", 0.4, "1", None, TypeError, "`step`"),
    ("elapsed -1", 0.4, 1, -1.0, ValueError, "`elapsed_s`"),
    ("elapsed NaN", 0.4, 1, math.nan, ValueError, "`elapsed_s`"),
]


@pytest.mark.parametrize(
    ("what", "value", "step", "elapsed", "exc", "text"),
    OPTUNA_REPORT_ROWS,
    ids=[r[0] for r in OPTUNA_REPORT_ROWS],
)
def test_optuna_report_rejects_bad_metrics_and_changes_nothing(
    what: str, value: Any, step: Any, elapsed: Any, exc: type[Exception], text: str, tmp_path: Path
) -> None:
    ctx = _optuna_ctx(tmp_path)
    before = ctx.snapshot()
    with pytest.raises(exc) as info:
        ctx.pruner.report(ctx.trial, value, step, elapsed_s=elapsed)
    assert text in str(info.value), (what, str(info.value))
    assert ctx.snapshot() == before, what
    assert ctx.pruner.report(ctx.trial, 0.4, 1) is False  # still usable


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, np.float32("inf"), np.array(math.nan)],
    ids=["nan", "inf", "-inf", "float32-inf", "0d-nan"],
)
def test_optuna_non_finite_metric_stops_only_that_trial(value: Any, tmp_path: Path) -> None:
    ctx = _optuna_ctx(tmp_path)
    engine = ctx.pruner.engine
    pools = [engine.study.sorted_scores(s, "all") for s in (0, 1)]
    assert ctx.pruner.report(ctx.trial, value, 1) is True
    d = ctx.pruner.last_decision(ctx.trial)
    assert (d.action.value, d.reason, d.step) == ("stop", "non_finite", 1)
    assert [engine.study.sorted_scores(s, "all") for s in (0, 1)] == pools
    assert ctx.pruner.report(ctx.trial, 0.1, 2) is True  # sticky


RAY_INIT_ROWS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("policy None", {"policy": None}, TypeError, "`policy`"),
    ("mode upper case", {"mode": "MIN"}, ValueError, "`mode`"),
    ("mode int", {"mode": 1}, TypeError, "`mode`"),
    ("metric empty", {"metric": ""}, TypeError, "`metric`"),
    ("study_name empty", {"study_name": ""}, TypeError, "`study_name`"),
    ("time_attr int", {"time_attr": 5}, TypeError, "`time_attr`"),
    ("non_finite None", {"non_finite": None}, TypeError, "`non_finite`"),
    ("bytes log", {"log": b"audit.jsonl"}, TypeError, "`log`"),
]


@pytest.mark.parametrize(
    ("what", "kwargs", "exc", "text"), RAY_INIT_ROWS, ids=[r[0] for r in RAY_INIT_ROWS]
)
def test_ray_scheduler_constructor(
    what: str, kwargs: dict[str, Any], exc: type[Exception], text: str
) -> None:
    sched_cls = _ray_scheduler()
    args: dict[str, Any] = {"policy": hpprune.NoPruning(), **kwargs}
    policy = args.pop("policy")
    with pytest.raises(exc) as info:
        sched_cls(policy, **args)
    assert text in str(info.value), (what, str(info.value))


class _Controller:
    def __init__(self) -> None:
        self.trials: list[Any] = []

    def get_trials(self) -> list[Any]:
        return self.trials


@dataclass
class RayCtx:
    sched: Any
    ctl: _Controller
    trial: Any

    def snapshot(self) -> Any:
        return _engine_state(self.sched.engine), self.sched.records


def _ray_ctx() -> RayCtx:
    sched_cls = _ray_scheduler()
    from ray.tune.experiment import Trial

    sched = sched_cls(_median(), metric="loss", mode="min")
    ctl = _Controller()
    done = Trial("fake", config={"x": 1}, trial_id="t0", stub=True)
    live = Trial("fake", config={"x": 2}, trial_id="t1", stub=True)
    for t in (done, live):
        ctl.trials.append(t)
        sched.on_trial_add(ctl, t)
    for step, v in enumerate([1.0, 0.9], start=1):
        sched.on_trial_result(ctl, done, {"training_iteration": step, "loss": v})
    sched.on_trial_complete(ctl, done, {"training_iteration": 2, "loss": 0.9})
    assert sched.on_trial_result(ctl, live, {"training_iteration": 1, "loss": 0.5}) == "CONTINUE"
    return RayCtx(sched, ctl, live)


# (what is wrong, result dict, exception, text)
RAY_RESULT_ROWS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("loss 1-d array", {"training_iteration": 2, "loss": np.array([0.4])}, TypeError, "`loss`"),
    ("loss bool", {"training_iteration": 2, "loss": True}, TypeError, "`loss`"),
    ("loss dict", {"training_iteration": 2, "loss": {"a": 0.4}}, TypeError, "`loss`"),
    ("loss string 'nan'", {"training_iteration": 2, "loss": "nan"}, TypeError, "`loss`"),
    ("loss Decimal", {"training_iteration": 2, "loss": Decimal("0.4")}, TypeError, "`loss`"),
    ("step str", {"training_iteration": "2", "loss": 0.4}, TypeError, "training_iteration"),
    ("step None", {"training_iteration": None, "loss": 0.4}, TypeError, "training_iteration"),
    ("step NaN", {"training_iteration": math.nan, "loss": 0.4}, TypeError, "training_iteration"),
    ("step 2**60", {"training_iteration": 2**60, "loss": 0.4}, ValueError, "training_iteration"),
    ("no step key", {"loss": 0.4}, ValueError, "training_iteration"),
]


@pytest.mark.parametrize(
    ("what", "result", "exc", "text"), RAY_RESULT_ROWS, ids=[r[0] for r in RAY_RESULT_ROWS]
)
def test_ray_result_with_bad_fields_is_refused_and_changes_nothing(
    what: str, result: dict[str, Any], exc: type[Exception], text: str
) -> None:
    ctx = _ray_ctx()
    before = ctx.snapshot()
    with pytest.raises(exc) as info:
        ctx.sched.on_trial_result(ctx.ctl, ctx.trial, result)
    assert text in str(info.value), (what, str(info.value))
    assert ctx.snapshot() == before, what
    good = {"training_iteration": 2, "loss": 0.4}
    assert ctx.sched.on_trial_result(ctx.ctl, ctx.trial, good) == "CONTINUE"


# (what, result, Tune action, reason) — documented decisions, not errors
RAY_DECISION_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("numpy NaN", {"training_iteration": 2, "loss": np.float64("nan")}, "STOP", "non_finite"),
    ("0-d array inf", {"training_iteration": 2, "loss": np.array(math.inf)}, "STOP", "non_finite"),
    ("-inf", {"training_iteration": 2, "loss": -math.inf}, "STOP", "non_finite"),
    ("None", {"training_iteration": 2, "loss": None}, "STOP", "non_finite"),
    ("misspelt key", {"training_iteration": 2, "Loss": 0.4}, "STOP", "non_finite"),
    (
        "negative time_total_s is dropped",
        {"training_iteration": 2, "loss": 0.4, "time_total_s": -5.0},
        "CONTINUE",
        "ok",
    ),
]


@pytest.mark.parametrize(
    ("what", "result", "action", "reason"), RAY_DECISION_ROWS, ids=[r[0] for r in RAY_DECISION_ROWS]
)
def test_ray_bad_metric_values_follow_the_non_finite_policy(
    what: str, result: dict[str, Any], action: str, reason: str
) -> None:
    ctx = _ray_ctx()
    engine = ctx.sched.engine
    pools = [engine.study.sorted_scores(s, "all") for s in (1, 2)]
    n_records = len(ctx.sched.records)
    assert ctx.sched.on_trial_result(ctx.ctl, ctx.trial, result) == action, what
    assert engine.decisions("t1")[-1].reason == reason
    records = ctx.sched.records
    assert len(records) == n_records + 1 and records[-1]["kind"] == "report"
    assert "elapsed" not in records[-1]  # an invalid time_total_s is never recorded
    if action == "STOP":
        assert [engine.study.sorted_scores(s, "all") for s in (1, 2)] == pools
