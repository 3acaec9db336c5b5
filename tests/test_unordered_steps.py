"""Reports in any step order: recorded always, decided only by unordered-step policies."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import hpprune
from hpprune import Engine, MedianPruner, WilcoxonPruner
from hpprune.audit.explain import summary_dict
from hpprune.audit.log import read_log


def _engine(policy: hpprune.Policy, tmp_path: Path) -> Engine:
    return Engine(policy, "minimize", log=tmp_path / "log.jsonl")


def test_late_step_is_recorded_not_decided_for_a_curve_policy(tmp_path: Path) -> None:
    e = _engine(MedianPruner(n_startup_trials=0), tmp_path)
    e.report("a", 5, 1.0)
    with pytest.raises(ValueError, match="must increase"):
        e.report("a", 2, 1.0)  # the default contract is unchanged
    with pytest.warns(UserWarning, match="out_of_order") as caught:
        d = e.report("a", 2, 0.5, unordered=True)
        e.report("a", 3, 0.7, unordered=True)  # warned once per trial
    assert len(caught) == 1
    assert (d.action.value, d.reason, d.step) == ("continue", "out_of_order", 2)
    curve = e.study.trial("a")
    assert curve.steps == [5] and curve.late == {2: 0.5, 3: 0.7}  # no curve point, no pool
    assert e.study.sorted_scores(2, "all") == []
    assert e.report("a", 2, 0.5, unordered=True) == e.last_decision("a")  # a repeat: same answer
    with pytest.raises(ValueError, match="another value"):
        e.report("a", 2, 0.6, unordered=True)
    e.report("a", 6, 0.9)
    e.complete("a")
    e.close()
    records = list(read_log(tmp_path / "log.jsonl"))
    assert [r["step"] for r in records if r["kind"] == "report"] == [5, 2, 3, 6]
    assert [bool(r.get("late")) for r in records if r["kind"] == "report"] == [
        False,
        True,
        True,
        False,
    ]
    rebuilt = Engine.from_records(records)  # the fold agrees with the engine
    assert rebuilt.study.trial("a").late == curve.late

    def answers(engine: Engine) -> list[tuple[str, str, int]]:
        return [(d.action.value, d.reason, d.step) for d in engine.decisions("a")]

    assert answers(rebuilt) == answers(e)
    s = summary_dict(records)
    assert (s["n_reports"], s["steps_run"], s["full_run_steps"]) == (4, 4, 4)


def test_late_non_finite_value_follows_the_non_finite_policy(tmp_path: Path) -> None:
    e = _engine(MedianPruner(), tmp_path)
    e.report("a", 3, 1.0)
    d = e.report("a", 1, float("nan"), unordered=True)
    assert (d.action.value, d.reason) == ("stop", "non_finite")


def test_complete_after_stop_counts_as_completed(tmp_path: Path) -> None:
    e = _engine(hpprune.ThresholdPruner(upper=1.0), tmp_path)
    assert e.report("a", 0, 2.0).stops
    with pytest.raises(ValueError, match="already stopped"):
        e.complete("a", 2.0)
    e.complete("a", 2.0, after_stop=True)
    assert e.state("a").value == "completed" and e.study.incumbent_id == "a"
    assert e.last_decision("a").reason == "threshold"  # type: ignore[union-attr]
    e.close()
    rebuilt = Engine.from_log(tmp_path / "log.jsonl", resume_logging=False)
    assert rebuilt.state("a").value == "completed"


# ----------------------------------------------------------------------------- WilcoxonPruner
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"p_threshold": 1.5}, ValueError, "p_threshold"),
        ({"p_threshold": "x"}, TypeError, "p_threshold"),
        ({"n_startup_steps": -1}, ValueError, "n_startup_steps"),
    ],
)
def test_wilcoxon_bad_parameters(kwargs: dict[str, object], error: type, field: str) -> None:
    with pytest.raises(error, match=field):
        WilcoxonPruner(**kwargs)  # type: ignore[arg-type]


def _with_incumbent(direction: str = "minimize") -> Engine:
    e = Engine(WilcoxonPruner(p_threshold=0.1, n_startup_steps=3), direction)
    sign = 1.0 if direction == "minimize" else -1.0
    for instance in range(10):
        e.report("best", instance, sign * float(instance))
    e.complete("best")
    return e


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize(
    ("offset", "order", "action", "reason"),
    [
        (0.5, [9, 2], "continue", "not_enough_pairs"),  # 2 common instances < 3
        (0.5, [9, 2, 5, 0, 7, 1], "stop", "wilcoxon_worse"),  # worse on every instance
        (-0.5, [9, 2, 5, 0, 7, 1], "continue", "ok"),  # better on every instance
    ],
)
def test_wilcoxon_table(
    direction: str, offset: float, order: list[int], action: str, reason: str
) -> None:
    e = _with_incumbent(direction)
    sign = 1.0 if direction == "minimize" else -1.0
    d = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no out_of_order warning: this policy decides them
        for instance in order:
            d = e.report("t", instance, sign * (instance + offset), unordered=True)
            if d.stops:
                break
    assert d is not None and (d.action.value, d.reason) == (action, reason)
    if reason == "wilcoxon_worse":
        assert d.evidence["p_value"] < 0.1 and d.evidence["incumbent"] == "best"


def test_wilcoxon_mean_safety_net() -> None:
    # Worse than the incumbent on every common instance (p < 0.1), but its mean over the
    # instances it ran is below the incumbent's mean over all of them: not stopped.
    e = _with_incumbent()
    for instance in [8, 0, 1, 2, 3, 4, 5, 6, 7]:
        e.report("t", instance, instance + 0.1 + 0.01 * instance, unordered=True)
    d = e.report("t", 9, -1000.0, unordered=True)
    assert d.reason == "mean_not_worse" and d.evidence["p_value"] < 0.1


def test_composite_is_unordered_only_if_every_member_is() -> None:
    w = WilcoxonPruner()
    assert hpprune.AnyOf([w, w]).unordered_steps
    assert not hpprune.AnyOf([w, MedianPruner()]).unordered_steps
