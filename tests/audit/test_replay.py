"""Replay and backtest: determinism, counterfactual equivalence, what-if accounting."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import hpprune
from hpprune.audit.cli import main
from hpprune.audit.explain import fold_log, load_records
from hpprune.audit.replay import backtest, replay
from tests.audit.logs import make_log
from tests.policy_cases import POLICY_CASES


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("name", sorted(POLICY_CASES))
def test_self_replay_reproduces_every_decision(tmp_path: Path, name: str, direction: str) -> None:
    log = make_log(tmp_path / "s.jsonl", POLICY_CASES[name](), direction=direction, seed=3)
    res = replay(log)  # the log's own recorded policy
    facts = fold_log(log)
    assert res.n_compared == facts.n_reports > 60
    assert res.n_identical == res.n_compared, res.differences[:3]
    assert res.all_identical and not res.differences
    # The scheduler's pauses/resumes are re-applied verbatim.
    assert res.n_external == sum(1 for r in load_records(log) if r["kind"] == "decision")
    assert all(not t.differs for t in res.trials)
    assert res.steps_saved == 0 and res.steps_added_estimate == 0
    assert res.best_survived in (True, None) and res.regret in (0.0, None)
    # Same fates trial by trial.
    for t in res.trials:
        assert t.replay_fate == t.log_fate, t


def test_self_replay_detects_a_tampered_decision(tmp_path: Path) -> None:
    log = make_log(tmp_path / "s.jsonl", hpprune.MedianPruner(n_startup_trials=3), seed=5)
    records = load_records(log)
    k = next(
        i
        for i, r in enumerate(records)
        if r["kind"] == "report" and r["decision"]["reason"] == "below_percentile"
    )
    records[k]["decision"]["evidence"]["cutoff"] += 1e-9
    res = replay(records)
    assert res.n_identical == res.n_compared - 1
    assert res.n_same_action == res.n_compared
    assert len(res.differences) == 1
    diff = res.differences[0]
    assert (diff.trial_id, diff.step) == (records[k]["trial"], records[k]["step"])


@pytest.mark.parametrize(
    "spec",
    [
        "median:n_startup_trials=3",
        "percentile:percentile=25,n_startup_trials=2,interval_steps=2",
        "anyof(median:n_startup_trials=5,n_warmup_steps=2,percentile:percentile=10)",
        "allof(median:n_startup_trials=3,percentile:percentile=75)",
    ],
)
def test_replay_of_full_curves_equals_a_live_run(tmp_path: Path, spec: str) -> None:
    """Replaying a no-pruning log through P gives exactly the log P writes when run live."""
    from hpprune.audit.spec import load_policy

    full = make_log(tmp_path / "full.jsonl", hpprune.NoPruning(), seed=11, n_trials=40)
    live = make_log(tmp_path / "live.jsonl", load_policy(spec), seed=11, n_trials=40)
    res = replay(full, spec, keep_decisions=True)
    live_facts = fold_log(live)
    full_facts = fold_log(full)
    engine = hpprune.Engine.from_log(live, resume_logging=False)
    n_cut = 0
    for t in res.trials:
        lf = live_facts.trials[t.trial_id]
        assert t.replay_stop_step == (lf.stop.step if lf.stop else None), t
        assert t.replay_reason == (lf.stop.reason if lf.stop else None)
        got = [(d.step, d.action.value, d.reason, d.rule) for d in res.decisions[t.trial_id]]
        want = [(d.step, d.action.value, d.reason, d.rule) for d in engine.decisions(t.trial_id)]
        want = [w for w in want if w[1] in ("continue", "stop")]
        got = [g for g in got if g[1] in ("continue", "stop")]
        assert got == want
        if t.replay_fate == "stopped" and t.log_fate != "stopped":
            n_cut += 1
            ft = full_facts.trials[t.trial_id]
            assert t.steps_saved == ft.last_step - t.replay_stop_step
            assert t.reports_saved == sum(1 for s in ft.steps if s > t.replay_stop_step)
            assert t.seconds_saved == pytest.approx(
                (ft.compute_s or 0.0) - (ft.elapsed_at(t.replay_stop_step) or 0.0)
            )
    assert n_cut > 5
    assert res.steps_saved == sum(t.steps_saved for t in res.trials) > 0
    assert res.n_reports_replay == live_facts.n_reports
    assert res.seconds_saved == pytest.approx(
        full_facts.total_compute() - live_facts.total_compute()
    )
    ch = res.by_change()
    assert not ch["unknown_continuation"]
    assert len(ch["stopped_only_in_replay"]) == n_cut
    # The best trial the live run keeps is the replay's best.
    live_best = live_facts.best_trial()
    assert res.replay_best_trial == (live_best.trial_id if live_best else None)


def test_unknown_continuations_are_counted_not_invented(tmp_path: Path) -> None:
    log = make_log(tmp_path / "p.jsonl", hpprune.MedianPruner(n_startup_trials=3), seed=2)
    facts = fold_log(log)
    res = replay(log, "nopruning")
    pruned = [t for t in facts.trials.values() if t.stop and t.stop.reason == "below_percentile"]
    ch = res.by_change()
    assert len(pruned) > 5
    assert sorted(ch["unknown_continuation"]) == sorted(t.trial_id for t in pruned)
    assert res.n_reports_replay == facts.n_reports  # nothing fed beyond the recorded data
    assert res.steps_saved == 0
    assert res.steps_added_estimate > 0 and res.seconds_added_estimate
    assert res.best_survived is True and res.regret == 0.0
    text = res.table()
    assert "unknown continuation" in text and "upper bound" in text


def _handmade(path: Path) -> Path:
    """Maximize; trial b starts badly but ends best; c is middling."""
    eng = hpprune.Engine(hpprune.NoPruning(), direction="maximize", log=path, study_name="hm")
    for s, v in enumerate([0.5, 0.6, 0.7]):
        eng.report("a", s, v, elapsed_s=10.0 * (s + 1))
    eng.complete("a")
    for s, v in enumerate([0.3, 0.8, 0.9]):
        eng.report("b", s, v, elapsed_s=20.0 * (s + 1))
    eng.complete("b")
    for s, v in enumerate([0.55, 0.6, 0.65]):
        eng.report("c", s, v, elapsed_s=5.0 * (s + 1))
    eng.complete("c")
    eng.close()
    return path


def test_discarding_the_best_trial_gives_regret(tmp_path: Path) -> None:
    log = _handmade(tmp_path / "hm.jsonl")
    res = replay(log, "median:n_startup_trials=1")
    assert res.best_trial == "b" and res.best_value == pytest.approx(0.9)
    assert res.best_survived is False
    assert res.replay_best_trial == "a"
    assert res.regret == pytest.approx(0.2)
    b = next(t for t in res.trials if t.trial_id == "b")
    assert (b.replay_stop_step, b.replay_reason) == (0, "below_percentile")
    assert (b.steps_saved, b.reports_saved, b.seconds_saved) == (2, 2, pytest.approx(40.0))
    assert res.seconds_saved == pytest.approx(40.0)
    assert "NO (discarded)" in res.table()
    data = res.to_dict()
    json.dumps(data, allow_nan=False)
    # c (0.65 < a's 0.7 at step 2) is cut at its last step: nothing saved, but stopped.
    c = next(t for t in res.trials if t.trial_id == "c")
    assert (c.replay_stop_step, c.steps_saved) == (2, 0)
    assert data["changes"]["stopped_only_in_replay"] == 2


def test_backtest_counts_discarded_best_trials(tmp_path: Path) -> None:
    hm = _handmade(tmp_path / "hm.jsonl")
    full = make_log(tmp_path / "full.jsonl", hpprune.NoPruning(), seed=4)
    bt = backtest([hm, full], ["median:n_startup_trials=1", "nopruning"])
    assert len(bt.rows) == 4
    agg = bt.per_policy()
    med, none = agg["median:n_startup_trials=1"], agg["nopruning"]
    assert none["best_discarded"] == 0 and none["discard_rate"] == 0.0
    assert med["best_discarded"] >= 1
    by_log = {(r.log_name, r.policy): r for r in bt.rows}
    assert by_log[("hm.jsonl", "median:n_startup_trials=1")].best_discarded is True
    for r, rep in zip(bt.rows, bt.replays, strict=True):
        assert r.best_discarded == (not rep.best_survived)
    assert med["discard_rate"] == med["best_discarded"] / med["n_with_best"]
    assert "best discarded" in bt.table()
    json.dumps(bt.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="logs"):
        backtest([], ["median"])
    with pytest.raises(ValueError, match="policies"):
        backtest([hm], [])


def test_cli_replay_and_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hm = _handmade(tmp_path / "hm.jsonl")
    out = io.StringIO()
    assert main(["replay", str(hm), "--policy", "median:n_startup_trials=1"], out=out) == 0
    assert "best trial survived: NO" in out.getvalue()
    out = io.StringIO()
    assert (
        main(["replay", str(hm), "--policy", "median:n_startup_trials=1", "--json"], out=out) == 0
    )
    assert json.loads(out.getvalue())["best_survived"] is False
    argv = [
        "backtest",
        str(hm),
        str(hm),
        "--policy",
        "median:n_startup_trials=1",
        "--policy",
        "none",
    ]
    assert main([*argv, "--max-discard-rate", "0.5"], out=io.StringIO()) == 1
    assert "median:n_startup_trials=1 discarded the best trial in 100%" in capsys.readouterr().err
    assert main([*argv, "--max-discard-rate", "1"], out=io.StringIO()) == 0
    # Errors name the problem and exit with status 2.
    assert main(["replay", str(hm), "--policy", "medain"], out=io.StringIO()) == 2
    assert "unknown policy 'medain'" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--policy", "none"]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
    assert main(["backtest", str(hm)], out=io.StringIO()) == 2  # --policy is required


def test_replay_of_a_bad_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "report", "trial": "a"}\n')
    with pytest.raises(hpprune.LogFormatError, match="study record"):
        replay(bad, "none")


def test_ingested_reports_are_folded_not_re_decided(tmp_path: Path) -> None:
    """Steps a front door stored without asking (reason ``ingested``) get no replayed decision."""
    log = tmp_path / "ingested.jsonl"
    engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), log=log)
    engine.report("a", 0, 0.1)
    engine.complete("a")
    engine.close()
    ingested = {
        "kind": "report",
        "trial": "b",
        "step": 0,
        "value": 5.0,  # the median rule would stop this, had it been asked
        "decision": {"action": "continue", "reason": "ingested", "rule": "optuna_storage"},
        "v": 1,
    }
    with log.open("a") as fh:
        fh.write(json.dumps(ingested) + "\n")
    result = replay(log)
    assert result.all_identical
    assert result.n_compared == 1  # only trial a's report was decided
    assert "b" not in {t.trial_id for t in result.trials if t.differs}
