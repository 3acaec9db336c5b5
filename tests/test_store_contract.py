"""The store knows no policy: it acts on a decision's explicit fields and owns policies' caches.

* ``Decision.rung_resource`` is the one field besides ``action`` that the
  store acts on (a STOP at a rung withdraws the trial from higher milestone
  pools). A policy's evidence keys mean nothing to the store.
* A log written before the field existed (the resource only in a STOP's
  evidence) folds exactly as it was decided.
* ``StudyView.cache(policy)`` is a policy's own bounded memo, owned by the
  store; the view has no writable attribute for policies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import hpprune
from hpprune.cache import PolicyCache
from hpprune.curves import StudyView, TrialCurve
from hpprune.types import Action, Decision, Reason, cont


class _EvidenceOnly(hpprune.Policy):
    """Stops every trial at step 3 with a ``rung_resource`` evidence key but no field."""

    def params(self) -> dict[str, Any]:
        return {}

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] >= 3:
            return Decision(Action.STOP, "custom", self.name, evidence={"rung_resource": 1})
        return cont(self.name)


def _jumping_trials(engine: hpprune.Engine) -> None:
    """Trials that report steps 0 and 3 only: they cross milestones 1 and 3 at step 3."""
    for t in range(6):
        engine.report(f"t{t}", 0, 1.0 + t)
        engine.report(f"t{t}", 3, 1.0 + t)


def test_only_the_field_caps_milestones() -> None:
    """A STOP with rung_resource 1 leaves pool 3; an evidence key of the same name does not."""
    rows: list[tuple[hpprune.Policy, int]] = [
        # halving: the trials cut at rung 1 (resource 1) leave the pool of milestone 3
        (hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3), 1),
        # evidence only: every trial is stopped at step 3, and all six stay in the pool
        (_EvidenceOnly(), 0),
    ]
    for policy, n_capped_expected_min in rows:
        engine = hpprune.Engine(policy)
        _jumping_trials(engine)
        capped = [
            t
            for t in range(6)
            if (d := engine.last_decision(f"t{t}")) is not None
            and d.action is Action.STOP
            and d.rung_resource == 1
        ]
        assert len(capped) >= n_capped_expected_min, policy
        assert len(engine.study.scores_from(3)) == 6 - len(capped), policy
    assert all(engine.state(f"t{t}") is hpprune.TrialState.STOPPED for t in range(6))


def test_halving_stop_carries_the_field_and_the_log_writes_it() -> None:
    engine = hpprune.Engine(hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    _jumping_trials(engine)
    stops = [d for t in range(6) for d in engine.decisions(f"t{t}") if d.action is Action.STOP]
    assert stops
    for d in stops:
        assert d.rung_resource == d.evidence["rung_resource"]
        assert d.to_dict()["rung_resource"] == d.rung_resource
        assert Decision.from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    ("decision", "written"),
    [
        (Decision(Action.STOP, Reason.PATIENCE, "p"), {"rung_resource": None}),
        (Decision(Action.STOP, "cut", "h", rung_resource=9), {"rung_resource": 9}),
        (Decision(Action.CONTINUE, Reason.OK, "p"), {}),
        (Decision(Action.PAUSE, Reason.RUNG_PAUSED, "f"), {}),
    ],
)
def test_which_decisions_write_the_field(decision: Decision, written: dict[str, Any]) -> None:
    out = decision.to_dict()
    assert {k: v for k, v in out.items() if k == "rung_resource"} == written


def test_composites_keep_the_field() -> None:
    """AllOf and PatientPruner rebuild a member's STOP: the cap goes with it."""
    sha = hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    for policy in (hpprune.AllOf([sha, hpprune.NoPruning()]), hpprune.AllOf([sha])):
        engine = hpprune.Engine(policy)
        _jumping_trials(engine)
        stops = [
            engine.last_decision(f"t{t}")
            for t in range(6)
            if engine.state(f"t{t}") is hpprune.TrialState.STOPPED
        ]
        for d in stops:
            assert d is not None and d.rung_resource == 1


def test_an_old_log_with_the_resource_only_in_evidence_folds_as_decided(tmp_path: Path) -> None:
    """Strip the field from every STOP (as logs before it were written): same state, same pools."""
    log = tmp_path / "new.jsonl"
    policy = hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    engine = hpprune.Engine(policy, log=log)
    _jumping_trials(engine)
    engine.close()
    old = tmp_path / "old.jsonl"
    lines = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        rec.get("decision", {}).pop("rung_resource", None)
        lines.append(json.dumps(rec))
    assert '"rung_resource": 1' in "\n".join(lines)  # still in the evidence
    old.write_text("\n".join(lines) + "\n")
    assert sum(d.rung_resource is not None for t in range(6) for d in engine.decisions(f"t{t}"))
    assert any(d.rung_resource for t in range(6) for d in engine.decisions(f"t{t}"))

    def brief(e: hpprune.Engine, t: int) -> list[tuple[Any, ...]]:
        return [(d.action, d.reason, d.step, d.rung_resource) for d in e.decisions(f"t{t}")]

    for path in (log, old):
        back = hpprune.Engine.from_log(path, resume_logging=False)
        assert back.study.scores_from(3) == engine.study.scores_from(3)
        for t in range(6):  # a CONTINUE's evidence is not logged: compare the rest
            assert brief(back, t) == brief(engine, t)
            if engine.state(f"t{t}") is hpprune.TrialState.STOPPED:
                assert back.last_decision(f"t{t}") == engine.last_decision(f"t{t}")


@pytest.mark.parametrize("bad", ["9", 1.5, -1, True, 2**60])
def test_a_bad_field_in_a_log_is_rejected(tmp_path: Path, bad: object) -> None:
    log = tmp_path / "bad.jsonl"
    engine = hpprune.Engine(hpprune.MedianPruner(), log=log)
    engine.close()
    rec = {
        "kind": "report",
        "trial": "a",
        "step": 0,
        "value": 1.0,
        "decision": {"action": "stop", "reason": "x", "rule": "r", "rung_resource": bad},
    }
    with log.open("a") as fh:
        fh.write(json.dumps(rec) + "\n")
    with pytest.raises(hpprune.LogFormatError, match=r"decision\.rung_resource"):
        hpprune.Engine.from_log(log)


# ----------------------------------------------------------------- PolicyCache
def test_study_view_has_no_writable_memo() -> None:
    view = StudyView(hpprune.Direction.MINIMIZE)
    assert not hasattr(view, "memo")


def test_each_policy_owns_its_cache() -> None:
    view = StudyView(hpprune.Direction.MINIMIZE)
    a, b = hpprune.MedianPruner(), hpprune.MedianPruner()
    assert view.cache(a) is view.cache(a)
    assert view.cache(a) is not view.cache(b)
    view.cache(a).put("k", 1)
    assert view.cache(a).get("k") == 1
    assert view.cache(b).get("k") is None


@pytest.mark.parametrize(("limit", "puts", "left"), [(3, 3, 3), (3, 4, 1), (1, 5, 1)])
def test_cache_is_bounded(limit: int, puts: int, left: int) -> None:
    cache = PolicyCache(limit)
    for i in range(puts):
        cache.put(i, i)
    assert len(cache) == left
    assert cache.get(puts - 1) == puts - 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3"])
def test_cache_bound_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        PolicyCache(bad)  # type: ignore[arg-type]


def test_freeze_thaw_decides_the_same_with_its_cache_cleared() -> None:
    """Entries are pure memoisation: clearing the cache before every report changes nothing."""
    from tests.streams import stream

    decisions: list[list[Decision]] = []
    for clear in (False, True):
        policy = hpprune.FreezeThawPruner(pause=False)
        engine = hpprune.Engine(policy)
        out = []
        done: set[str] = set()
        for ev in stream(n_trials=30, n_steps=27, n_workers=3, seed=4):
            if ev.trial in done:
                continue
            if clear:
                engine.study.cache(policy).clear()
            if ev.complete:
                engine.complete(ev.trial)
                continue
            d = engine.report(ev.trial, ev.step, ev.value)
            out.append(d)
            if d.action is Action.STOP:
                done.add(ev.trial)
        decisions.append(out)
        if not clear:
            assert len(engine.study.cache(policy)), "the cache was never used"
    assert decisions[0] == decisions[1]
