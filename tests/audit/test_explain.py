"""Text explanations and summaries (covering pauses, resumes and budgets) from the log fold."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import hpprune
from hpprune.audit.explain import (
    describe_decision,
    explain_trial,
    find_budget_s,
    fold_log,
    load_records,
    summarise,
    summary_dict,
)
from hpprune.types import Action, Decision, Reason, policy_digest
from tests.audit.logs import make_log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return make_log(tmp_path / "e.jsonl", hpprune.MedianPruner(n_startup_trials=3), seed=0)


def test_fold_fates_follow_the_engine(log: Path) -> None:
    facts = fold_log(log)
    engine = hpprune.Engine.from_log(log, resume_logging=False)
    for tid, t in facts.trials.items():
        assert t.state == engine.state(tid).value, tid
        assert all(a < b for a, b in zip(t.steps, t.steps[1:], strict=False))
        assert len(t.steps) == len(engine.study.trial(tid).scores) + sum(
            1 for v in t.values if v != v
        )
    assert sum(facts.counts().values()) == len(facts.trials) == 30
    for tid in ("t00028", "t00029"):  # never completed: still running unless stopped
        assert facts.trials[tid].state in ("running", "stopped")
    t7 = facts.trials["t00007"]  # reports NaN at step 5 unless stopped before
    if t7.last_step >= 5:
        assert t7.stop is not None and (t7.stop.step, t7.stop.reason) == (5, "non_finite")


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (
            Decision(
                Action.STOP,
                Reason.BELOW_PERCENTILE,
                "MedianPruner",
                "a",
                3,
                {"best_so_far": 0.9, "cutoff": 0.5, "percentile": 50.0, "n_peers": 4},
            ),
            "trial a stopped at step 3 by MedianPruner (below_percentile): best so far 0.9 was "
            "worse than the median 0.5 of 4 completed trials at step 3",
        ),
        (
            Decision(
                Action.PAUSE,
                Reason.LOW_GAIN_PER_HOUR,
                "scheduler",
                "a",
                2,
                {"gain_per_hour": 0.0125},
            ),
            "trial a paused at step 2 by scheduler (low_gain_per_hour): its expected gain per "
            "compute hour (0.0125) ranked below the cut",
        ),
        (
            Decision(Action.RESUME, Reason.RESUMED, "scheduler", "a", 2),
            "trial a resumed at step 2 by scheduler (resumed)",
        ),
        (
            Decision(Action.STOP, Reason.BUDGET_EXHAUSTED, "scheduler", "a", 9, {"spent_s": 10.0}),
            "trial a stopped at step 9 by scheduler (budget_exhausted): the compute budget was "
            "used up; evidence: spent_s=10",
        ),
        (
            Decision(Action.STOP, Reason.EXTERNAL, "optuna", "a", 1, {"source": "optuna"}),
            "trial a stopped at step 1 by optuna (external): optuna stopped it; the imported log "
            "records no reason",
        ),
        (  # a template whose evidence is missing falls back to the raw evidence
            Decision(Action.STOP, Reason.POSTERIOR_LOW, "Bayes", "a", 1, {"p": 0.01}),
            "trial a stopped at step 1 by Bayes (posterior_low): the probability that it beats "
            "the incumbent was too low; evidence: p=0.01",
        ),
        (
            Decision(Action.STOP, "custom_code", "X", "a", 1),
            "trial a stopped at step 1 by X (custom_code)",
        ),
        (
            Decision(
                Action.STOP,
                Reason.POSTERIOR_LOW,
                "BayesianPruner",
                "a",
                6,
                {
                    "predicted_mean": 0.81234567,
                    "predicted_std": 0.0123456,
                    "incumbent": 0.9712345,
                    "p_improve": 0.0012345678,
                    "alpha": 0.05,
                    "n_peers": 7,
                },
            ),
            "trial a stopped at step 6 by BayesianPruner (posterior_low): the probability that "
            "it ends better than the incumbent 0.9712 was 0.001235, below alpha 0.05; predicted "
            "final 0.8123 ± 0.01235 from 7 peers",
        ),
        (
            Decision(
                Action.STOP,
                Reason.HALVING_RUNG_CUT,
                "SuccessiveHalvingPruner",
                "a",
                3,
                {
                    "rung": 1,
                    "rung_resource": 3,
                    "value": 0.41,
                    "cutoff": 0.3333333,
                    "rank": 4,
                    "n_competitors": 9,
                    "n_promoted": 3,
                },
            ),
            "trial a stopped at step 3 by SuccessiveHalvingPruner (halving_rung_cut): at rung 1 "
            "(step 3) its value 0.41 ranked 4 of 9; the best 3 go on (cutoff 0.3333)",
        ),
        (
            Decision(
                Action.PAUSE,
                Reason.RUNG_PAUSED,
                "FreezeThawPruner",
                "a",
                3,
                {
                    "rung": 0,
                    "rung_resource": 1,
                    "value": 0.41,
                    "cutoff": 0.3,
                    "rank": 5,
                    "n_competitors": 6,
                    "n_promoted": 2,
                },
            ),
            "trial a paused at step 3 by FreezeThawPruner (rung_paused): at rung 0 (step 1) its "
            "value 0.41 ranked 5 of 6; the best 2 go on (cutoff 0.3). It keeps its checkpoint "
            "and is resumed when it ranks within the best 2 of its rung as more trials reach it",
        ),
        (
            Decision(
                Action.RESUME,
                Reason.RESUMED,
                "FreezeThawPruner",
                "a",
                3,
                {"why": "promoted", "rung": 1, "rung_resource": 3},
            ),
            "trial a resumed at step 3 by FreezeThawPruner (resumed): it now ranks among the "
            "trials promoted from its rung; rung=1, rung_resource=3",
        ),
        (  # an unknown reason code is rendered from its evidence, rounded
            Decision(Action.PAUSE, "new_code", "Lead", "a", 2, {"score": 0.123456789, "k": 3}),
            "trial a paused at step 2 by Lead (new_code); evidence: score=0.1235, k=3",
        ),
    ],
)
def test_describe_decision(decision: Decision, expected: str) -> None:
    assert describe_decision(decision) == expected


def test_explain_trial_covers_pauses_resumes_and_budget(log: Path) -> None:
    records = load_records(log)
    records[0]["budget_s"] = 1000.0
    facts = fold_log(records)
    paused = next(t for t in facts.trials.values() if t.n_pauses and t.n_resumes)
    text = explain_trial(facts, paused.trial_id)
    assert f"trial {paused.trial_id}: {paused.state}" in text
    pause = next(d for d in paused.events if d.action is Action.PAUSE)
    resume = next(d for d in paused.events if d.action is Action.RESUME)
    tid = paused.trial_id
    assert f"trial {tid} paused at step {pause.step} by scheduler (low_gain_per_hour)" in text
    assert f"trial {tid} resumed at step {resume.step} by scheduler (resumed)" in text
    assert "paused 1 time(s), resumed 1 time(s)" in text
    assert "budget: 1000.0 s" in text and "of it" in text
    stopped = next(
        t for t in facts.trials.values() if t.stop and t.stop.reason == "below_percentile"
    )
    text = explain_trial(records, stopped.trial_id)
    assert (
        f"trial {stopped.trial_id} stopped at step {stopped.stop.step} by MedianPruner "  # type: ignore[union-attr]
        "(below_percentile): best so far" in text
    )
    assert f"stopped at step {stopped.stop.step}" in text  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="'nope' is not in the log"):
        explain_trial(facts, "nope")


def test_summary(log: Path) -> None:
    s = summary_dict(log)
    facts = fold_log(log)
    assert s["fates"] == facts.counts()
    assert s["pauses"] == sum(t.n_pauses for t in facts.trials.values()) > 0
    assert s["resumes"] == sum(t.n_resumes for t in facts.trials.values()) > 0
    assert s["reasons"]["stop:below_percentile"] > 0
    json.dumps(s, allow_nan=False)
    text = summarise(log)
    assert "policy: median:n_startup_trials=3" in text
    assert f"pauses: {s['pauses']}, resumes: {s['resumes']}" in text
    assert "budget" not in text  # the log names none
    records = load_records(log)
    records[0]["policy"] = {"type": "x.Y", "params": {"inner": {"compute_budget_s": 2000}}}
    records[0]["policy_hash"] = policy_digest(records[0]["policy"])  # a consistent header
    assert "budget: 2000.0 s (" in summarise(records)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"budget_s": 50}, 50.0),
        ({"policy": {"params": {"budget_hours": 2}}}, 7200.0),
        (
            {
                "policy": {
                    "params": {"policies": [{"params": {}}, {"params": {"total_budget_s": 7}}]}
                }
            },
            7.0,
        ),
        ({"policy": {"params": {"budget_s": -1}}}, None),
        ({"policy": {"params": {"budget_s": float("inf")}}}, None),
        ({"policy": {"params": {"budget_s": True}}}, None),
        ({}, None),
    ],
)
def test_find_budget(header: dict[str, object], expected: float | None) -> None:
    assert find_budget_s(header) == expected


def test_fold_skips_a_torn_line_and_refuses_newer_schemas(log: Path) -> None:
    n = fold_log(log).n_reports
    with log.open("a") as fh:
        fh.write('{"kind": "report", "trial": "t00001", "st')
    with pytest.warns(UserWarning, match="torn"):
        assert fold_log(log).n_reports == n
    newer = log.with_name("newer.jsonl")
    lines = log.read_text().splitlines()[:-1]
    lines.append(json.dumps({"v": 99, "kind": "report", "trial": "x", "step": 0}))
    newer.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(hpprune.LogFormatError, match="schema_version 99"):
            fold_log(newer)
