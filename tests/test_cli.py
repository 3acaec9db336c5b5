"""The ``hpprune`` command: demo, explain, summary, dispatch and error exits."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import hpprune
from hpprune import cli
from hpprune.audit.log import read_log
from hpprune.curves import StudyView, TrialCurve
from hpprune.engine import Engine
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, Reason, cont, stop


# ----------------------------------------------------------------------------- helpers
class FixedStop(Policy):
    """Test-only policy: stop every trial at step ``at`` with a given reason and evidence."""

    def __init__(self, reason: str, evidence: dict[str, Any], at: int = 0) -> None:
        self.reason, self.evidence, self.at = reason, evidence, at

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] >= self.at:
            return stop(self.name, self.reason, **self.evidence)
        return cont(self.name)

    def params(self) -> dict[str, Any]:
        return {"reason": self.reason, "evidence": self.evidence, "at": self.at}


class PauseAt2(Policy):
    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] == 2:
            return Decision(Action.PAUSE, "test_pause", self.name, evidence={"at": 2})
        return cont(self.name)

    def params(self) -> dict[str, Any]:
        return {}


def write_log(
    path: Path, policy: Policy, direction: str, trials: dict[str, list[float]], complete: set[str]
) -> Path:
    engine = Engine(policy, direction, log=path)
    for tid, values in trials.items():
        for step, v in enumerate(values):
            if engine.report(tid, step, v).stops:
                break
        if tid in complete:
            engine.complete(tid)
    engine.close()
    return path


def median_log(tmp_path: Path) -> Path:
    return write_log(
        tmp_path / "median.jsonl",
        hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        "maximize",
        {
            "0": [0.5, 0.7, 0.8, 0.9],
            "1": [0.6, 0.8, 0.9, 0.95],
            "2": [0.4, 0.6, 0.7, 0.8],
            "7": [0.3, 0.35, 0.5, 0.6],
        },
        {"0", "1", "2"},
    )


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _num(x: Any) -> float | None:
    if isinstance(x, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[x]
    return x  # type: ignore[no-any-return]


def assert_replay_gives_identical_decisions(path: Path) -> None:
    """Feed the log's events to a fresh engine: every live decision equals the recorded one,
    and ``Engine.from_log`` then continues exactly like that live engine."""
    records = list(read_log(path))
    live = Engine.from_records(records[:1])
    for r in records[1:]:
        kind, tid = r["kind"], r.get("trial")
        if kind == "trial":
            live.add_trial(tid, r["params"])
        elif kind == "report":
            d = live.report(tid, r["step"], _num(r["value"]), r.get("elapsed"), r.get("resources"))
            assert d.to_dict(with_evidence=d.action is not Action.CONTINUE) == r["decision"], r
        elif kind == "complete":
            live.complete(tid, _num(r["value"]))
        elif kind == "fail":
            live.fail(tid, r["reason"])
        elif kind == "decision":
            live.decide_external(tid, Decision.from_dict(r["decision"]))
    folded = Engine.from_log(path, resume_logging=False)
    assert {t: folded.state(t) for t in folded.trial_ids()} == {
        t: live.state(t) for t in live.trial_ids()
    }
    newcomer = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    for step, v in enumerate(newcomer):
        assert folded.report("new", step, v, 1.0 + step) == live.report("new", step, v, 1.0 + step)


# ----------------------------------------------------------------------------- explain
def test_explain_median_stop_in_words_and_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = median_log(tmp_path)
    code, out, err = run(["explain", str(log)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "trial 7 stopped at step 1 by MedianPruner (below_percentile): best so far 0.35 was "
        "worse than the median 0.7 of 3 completed trials at step 1"
    )
    assert lines[1] == "  it ran 2 of the 4 steps completed trials ran (2 steps saved)"
    assert "1 of 4 trials stopped" in out


@pytest.mark.parametrize(
    ("policy", "direction", "trials", "expected"),
    [
        (
            hpprune.PercentilePruner(25.0, n_startup_trials=5),
            "minimize",
            {
                "a": [1.0, 1.0],
                "b": [2.0, 2.0],
                "c": [3.0, 3.0],
                "d": [4.0, 4.0],
                "e": [5, 5],
                "x": [2.5],
            },
            "trial x stopped at step 0 by PercentilePruner (below_percentile): best so far 2.5 "
            "was worse than the 25th percentile 2 of 5 completed trials at step 0",
        ),
        (
            hpprune.NoPruning(),
            "minimize",
            {"x": [1.0, 2.0, math.nan]},
            "trial x stopped at step 2 by engine (non_finite): it reported a non-finite value "
            "(NaN) at step 2; such values never enter other trials' statistics",
        ),
        (
            FixedStop("custom_reason", {"x": 1.5, "peers": [1, 2]}),
            "minimize",
            {"x": [1.0]},
            "trial x stopped at step 0 by FixedStop (custom_reason); evidence: x=1.5, peers=[1, 2]",
        ),
        (
            FixedStop(Reason.PATIENCE, {"patience": 3}, at=1),
            "minimize",
            {"x": [1.0, 1.0]},
            "trial x stopped at step 1 by FixedStop (patience): it stopped improving for longer "
            "than the patience allows; evidence: patience=3",
        ),
        (  # a known code whose evidence lacks the template's numbers: generic form
            FixedStop(Reason.BELOW_PERCENTILE, {"foo": 1}),
            "maximize",
            {"x": [1.0]},
            "trial x stopped at step 0 by FixedStop (below_percentile); evidence: foo=1",
        ),
    ],
)
def test_explain_templates_and_fallback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    policy: Policy,
    direction: str,
    trials: dict[str, list[float]],
    expected: str,
) -> None:
    done = set(trials) - {"x"}
    log = write_log(tmp_path / "t.jsonl", policy, direction, trials, done)
    code, out, err = run(["explain", str(log), "--trial", "x"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == expected


def test_explain_pause_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "p.jsonl"
    engine = Engine(PauseAt2(), log=log)
    for s in range(3):
        engine.report("5", s, 1.0 / (s + 1))
    engine.decide_external(
        "5", Decision(Action.RESUME, Reason.RESUMED, "SearchLoop", evidence={"run": 2})
    )
    engine.report("5", 3, 0.2)
    engine.complete("5")
    engine.close()
    code, out, _ = run(["explain", str(log)], capsys)
    assert code == 0
    assert out.splitlines()[:3] == [
        "trial 5 paused at step 2 by PauseAt2 (test_pause); evidence: at=2",
        "trial 5 resumed at step 2 by SearchLoop (resumed): run=2",
        "trial 5 completed at step 3 with value 0.2",
    ]


def test_explain_one_completed_trial_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = median_log(tmp_path)
    code, out, _ = run(["explain", str(log), "--trial", "1"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "trial 1 completed at step 3 with value 0.95; no stop or pause decision"
    ]
    code, out, err = run(["explain", str(log), "--trial", "99"], capsys)
    assert code == 2 and out == ""
    assert "--trial" in err and "'99'" in err and "0, 1, 2, 7" in err


def test_torn_last_line_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = median_log(tmp_path)
    with open(log, "a") as fh:
        fh.write('{"kind":"report","trial":"9","st')
    code, out, err = run(["summary", str(log)], capsys)
    assert code == 0
    assert "trials: 4" in out
    assert "warning:" in err and "torn" in err and "Traceback" not in err


def test_explain_without_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_log(tmp_path / "n.jsonl", hpprune.NoPruning(), "minimize", {"a": [1.0]}, {"a"})
    code, out, _ = run(["explain", str(log)], capsys)
    assert code == 0 and "no trial" in out and "stopped or paused" in out


# ----------------------------------------------------------------------------- summary
def test_summary_counts_reasons_savings_and_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = median_log(tmp_path)
    code, out, err = run(["summary", str(log)], capsys)
    assert code == 0, err
    assert "direction: maximize" in out
    assert "policy: median:n_startup_trials=3,n_warmup_steps=1\n" in out  # a replay SPEC
    assert "trials: 4  completed 3  stopped 1" in out
    assert "below_percentile (MedianPruner)     1  #" in out
    assert (
        "steps run: 14 of ~16 a no-pruning run would need (4 steps x 4 trials): 2 saved (12%)"
        in out
    )
    assert "best trial: 1  value 0.95 at step 3" in out


def test_summary_without_completed_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(tmp_path / "r.jsonl", hpprune.NoPruning(), "minimize", {"a": [1.0, 0.5]}, set())
    code, out, _ = run(["summary", str(log)], capsys)
    assert code == 0
    assert "trials: 1  running 1" in out
    assert "steps run: 2 (no completed trial" in out
    assert "best trial: none" in out


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["nope"], "invalid choice"),
        (["demo", "--trials", "0"], "--trials"),
        (["demo", "--trials", "x"], "--trials"),
        (["demo", "--workers", "-1"], "--workers"),
        (["demo", "--seed", "-3"], "--seed"),
        (["explain"], "LOG"),
        (["explain", "/no/such/file.jsonl"], "argument LOG: file not found"),
        (["summary", "/no/such/file.jsonl"], "argument LOG: file not found"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err


def test_unreadable_logs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    for argv in (["explain", str(junk)], ["summary", str(junk)], ["explain", str(tmp_path)]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "argument LOG" in err, err
    # the demo refuses to overwrite a file that is not an hpprune log
    code, _, err = run(["demo", "--trials", "1", "--log", str(junk)], capsys)
    assert code == 2 and "-o/--output" in err
    assert junk.read_text() == "hello\n"


def test_module_entry_point_and_help() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "hpprune", "--help"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0
    for word in ("demo", "explain", "summary", "bench", "replay", "backtest", "report", "import"):
        assert word in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "hpprune", "summary", "missing.jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "argument LOG" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- dispatch
def test_dispatch_passes_arguments_and_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    def exiting_main(argv: list[str]) -> None:
        raise SystemExit(4)

    monkeypatch.setitem(sys.modules, "fake_tool_cli", types.SimpleNamespace(main=fake_main))
    monkeypatch.setitem(sys.modules, "fake_exit_cli", types.SimpleNamespace(main=exiting_main))
    monkeypatch.setitem(cli.DISPATCH, "replay", ("fake_tool_cli", True))
    monkeypatch.setitem(cli.DISPATCH, "bench", ("fake_tool_cli", False))
    monkeypatch.setitem(cli.DISPATCH, "report", ("fake_exit_cli", True))
    monkeypatch.setitem(cli.DISPATCH, "import", ("hpprune._no_such_module", True))
    assert cli.main(["replay", "a.jsonl", "--policy", "x"]) == 3
    assert cli.main(["bench", "run", "--quick"]) == 3
    assert seen == [["replay", "a.jsonl", "--policy", "x"], ["run", "--quick"]]
    assert cli.main(["report", "a.jsonl"]) == 4
    code, _, err = run(["import", "x"], capsys)
    assert code == 2 and "hpprune._no_such_module is not available" in err


# ----------------------------------------------------------------------------- demo
def test_demo_short_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    log = tmp_path / "demo.jsonl"
    log.write_text(log.read_text() if log.exists() else "")  # an empty file is fine
    code, out, err = run(
        ["demo", "--trials", "6", "--workers", "2", "--log", str(log), "--no-progress"], capsys
    )
    assert code == 0, err
    assert "trial  params" in out
    assert sum(1 for line in out.splitlines() if line.lstrip()[:1].isdigit()) >= 6
    assert f"audit log: {log.resolve()}" in out and f"hpprune explain {log}" in out
    records = list(read_log(log))
    assert records[0]["kind"] == "study" and records[0]["direction"] == "maximize"
    assert sum(1 for r in records if r["kind"] == "trial") == 6
    assert_replay_gives_identical_decisions(log)
    # running it again replaces the old demo log instead of appending to it
    assert cli.main(["demo", "--trials", "2", "--log", str(log), "--no-progress"]) == 0
    assert sum(1 for r in read_log(log) if r["kind"] == "study") == 1


@pytest.mark.slow
def test_full_demo_stops_a_third_with_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's default (freeze-thaw) halts a third of the trials, by stopping or pausing."""
    pytest.importorskip("sklearn")
    log = tmp_path / "hpprune-demo.jsonl"
    t0 = time.monotonic()
    code, out, err = run(["demo", "--log", str(log), "--no-progress"], capsys)
    wall = time.monotonic() - t0
    assert code == 0, err
    assert wall < 180
    records = list(read_log(log))
    halted: dict[str, dict[str, object]] = {}  # trial -> the decision that left it halted
    for r in records:
        if r["kind"] == "complete":
            halted.pop(r["trial"], None)
        elif r["kind"] in ("report", "decision"):
            d = r["decision"]
            if d["action"] in ("stop", "pause"):
                halted[r["trial"]] = d
            elif r["trial"] in halted and halted[r["trial"]]["action"] != "stop":
                halted.pop(r["trial"])  # resumed (or reported again after a pause)
    n_trials = sum(1 for r in records if r["kind"] == "trial")
    assert n_trials == 40
    assert len(halted) >= n_trials / 3
    for d in halted.values():
        assert d["reason"] and d["evidence"]
    n_stop = sum(1 for d in halted.values() if d["action"] == "stop")
    assert f"stopped {n_stop} and paused {len(halted) - n_stop} of 40 trials" in out
    code, out, err = run(["explain", str(log)], capsys)
    assert code == 0, err
    for tid, d in halted.items():
        verb = "stopped" if d["action"] == "stop" else "paused"
        assert f"trial {tid} {verb} at step" in out
    assert_replay_gives_identical_decisions(log)


def test_demo_with_one_worker_is_reproducible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sklearn")
    outs, logs = [], []
    for k in range(2):
        log, record = tmp_path / f"d{k}.jsonl", tmp_path / f"d{k}.json"
        argv = ["demo", "--workers", "1", "--seed", "5", "--trials", "8", "--no-progress"]
        code, out, err = run([*argv, "-o", str(log), "--record", str(record)], capsys)
        assert code == 0, err
        outs.append(
            [ln for ln in out.splitlines() if "wall time" not in ln and str(tmp_path) not in ln]
        )
        logs.append(
            [
                (
                    r["trial"],
                    r["step"],
                    r["value"],
                    r["decision"]["action"],
                    r["decision"]["reason"],
                )
                for r in read_log(log)
                if r["kind"] == "report"
            ]
        )
        data = json.loads(record.read_text())
        assert data["steps_run"] == len(logs[-1])
        assert data["steps_saved"] == data["steps_full"] - data["steps_run"]
        assert data["deterministic"] is True and data["workers"] == 1
    assert logs[0] == logs[1] and outs[0] == outs[1]
    head = outs[0][0]
    assert (
        "seed 5" in head
        and "policy FreezeThawPruner" in head
        and "(" not in head.split("policy ")[1].split(" ")[0]
    )
    assert any(ln.startswith("steps run: ") and " saved (" in ln for ln in outs[0])
