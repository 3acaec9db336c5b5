"""RayTuneScheduler without a Ray runtime: translation, validation, state, ranking.

Tune's callbacks are called directly with real ``ray.tune.experiment.Trial``
objects (stub trials need no cluster), so these tests are fast.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray.tune.experiment import Trial
from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers import TrialScheduler

from hpprune import Engine, LogFormatError, MedianPruner, PercentilePruner, ResourceScheduler
from hpprune.integrations.ray_tune import (
    RESULT_KEY,
    STATE_FILE,
    STATE_FORMAT,
    DecisionCallback,
    RayTuneScheduler,
    RunChoice,
    _StateLocation,
    choose_next_trial,
    register_rank_function,
)
from hpprune.types import Action, Decision, Reason
from tests.integrations.ray_fixtures import PauseOnceAt, replay_records


class Controller:
    """The slice of Tune's controller a scheduler may use."""

    def __init__(self) -> None:
        self.trials: list[Trial] = []

    def get_trials(self) -> list[Trial]:
        return self.trials


def make(policy: Any = None, **kwargs: Any) -> tuple[RayTuneScheduler, Any]:
    kwargs.setdefault("metric", "loss")
    kwargs.setdefault("mode", "min")
    return RayTuneScheduler(policy or MedianPruner(n_startup_trials=1), **kwargs), Controller()


def add(sched: RayTuneScheduler, ctl: Any, tid: str, **config: Any) -> Trial:
    trial = Trial("fake", config=config, trial_id=tid, stub=True)
    ctl.trials.append(trial)
    sched.on_trial_add(ctl, trial)
    return trial


def set_status(trial: Trial, status: str) -> None:
    trial.set_status(status)  # type: ignore[no-untyped-call]


def result(step: Any, value: Any = 1.0, **extra: Any) -> dict[str, Any]:
    out = {"training_iteration": step, "loss": value, "time_total_s": 0.1 * float(step or 0)}
    out.update(extra)
    return out


def feed(sched: RayTuneScheduler, ctl: Any, trial: Trial, values: list[float]) -> list[str]:
    actions = []
    for step, value in enumerate(values, start=1):
        res = result(step, value)
        actions.append(sched.on_trial_result(ctl, trial, res))
        trial.run_metadata.last_result = res
        if actions[-1] == TrialScheduler.STOP:
            sched.on_trial_complete(ctl, trial, res)
            return actions
    sched.on_trial_complete(ctl, trial, trial.run_metadata.last_result)
    return actions


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"policy": "median"}, TypeError, "policy"),
        ({"mode": "minimize"}, ValueError, "mode"),
        ({"non_finite": "skip"}, ValueError, "non_finite"),
        ({"time_attr": ""}, TypeError, "time_attr"),
        ({"time_attr": None}, TypeError, "time_attr"),
        ({"metric": 3}, TypeError, "metric"),
        ({"log": 3}, TypeError, "log"),
        ({"rank": lambda e, p, q: None}, TypeError, "rank"),
        ({"rank": "choose_next_trial"}, TypeError, "rank"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], error: type, field: str) -> None:
    args: dict[str, Any] = {"policy": MedianPruner()}
    args.update(kwargs)
    policy = args.pop("policy")
    with pytest.raises(error, match=field):
        RayTuneScheduler(policy, **args)


@pytest.mark.parametrize(
    ("init", "search", "accepted", "metric", "mode"),
    [
        ((None, None), ("loss", "min"), True, "loss", "min"),
        (("loss", "min"), (None, None), True, "loss", "min"),
        (("loss", "min"), ("loss", "min"), True, "loss", "min"),
        (("loss", None), ("acc", "max"), False, "loss", None),
        ((None, "min"), (None, "max"), False, None, "min"),
        ((None, None), (None, "max"), True, DEFAULT_METRIC, "max"),
    ],
)
def test_search_properties(
    init: tuple[Any, Any], search: tuple[Any, Any], accepted: bool, metric: Any, mode: Any
) -> None:
    sched = RayTuneScheduler(MedianPruner(), metric=init[0], mode=init[1])
    assert sched.set_search_properties(*search) is accepted
    if accepted:
        assert (sched.metric, sched.mode) == (metric, mode)


def test_metric_and_mode_are_required_before_the_first_trial() -> None:
    sched = RayTuneScheduler(MedianPruner())
    with pytest.raises(ValueError, match="TuneConfig"):
        add(sched, Controller(), "t0")


@pytest.mark.parametrize(
    ("res", "error", "field"),
    [
        ({"loss": 1.0}, ValueError, "training_iteration"),
        (result(1.5), TypeError, "training_iteration"),
        (result(-1), ValueError, "training_iteration"),
        (result(1, "high"), TypeError, "loss"),
        (result(True), TypeError, "training_iteration"),
    ],
)
def test_bad_results_name_the_field(res: dict[str, Any], error: type, field: str) -> None:
    sched, ctl = make()
    trial = add(sched, ctl, "t0")
    with pytest.raises(error, match=field):
        sched.on_trial_result(ctl, trial, res)
    assert [r["kind"] for r in sched.records] == ["study"]  # nothing recorded


def test_integral_float_steps_and_custom_time_attr() -> None:
    sched, ctl = make(time_attr="epoch")
    trial = add(sched, ctl, "t0")
    assert sched.on_trial_result(ctl, trial, {"epoch": 3.0, "loss": 0.5}) == "CONTINUE"
    assert sched.engine.decisions("t0")[0].step == 3


# ----------------------------------------------------------------------------- non-finite
NON_FINITE = [math.nan, math.inf, -math.inf, None, "missing"]


@pytest.mark.parametrize("bad", NON_FINITE)
@pytest.mark.parametrize(
    ("mode", "action", "reason"),
    [("stop", "STOP", "non_finite"), ("ignore", "CONTINUE", "non_finite_ignored")],
)
def test_non_finite_results_follow_the_policy_and_never_reach_peers(
    bad: Any, mode: str, action: str, reason: str
) -> None:
    sched, ctl = make(MedianPruner(n_startup_trials=0), non_finite=mode)
    good = add(sched, ctl, "good")
    feed(sched, ctl, good, [1.0, 0.5])
    trial = add(sched, ctl, "bad")
    res = result(1) if bad == "missing" else result(1, bad)
    if bad == "missing":
        del res["loss"]
    assert sched.on_trial_result(ctl, trial, res) == action
    assert sched.engine.decisions("bad")[-1].reason == reason
    # The study's per-step pools hold only the finite values of the good trial.
    assert sched.engine.study.sorted_scores(1, "all") == [1.0]
    assert sched.engine.study.sorted_scores(1, "completed") == [1.0]


def test_missing_metric_is_a_none_report_in_the_log() -> None:
    sched, ctl = make()
    trial = add(sched, ctl, "t0")
    sched.on_trial_result(ctl, trial, {"training_iteration": 1})
    (report,) = [r for r in sched.records if r["kind"] == "report"]
    assert report["value"] is None
    assert report["decision"]["reason"] == "non_finite"


# ----------------------------------------------------------------------------- parity
stream = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.one_of(
            st.floats(-10, 10, allow_nan=False),
            st.sampled_from([math.nan, math.inf, -math.inf, None]),
        ),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=stream,
    percentile=st.floats(0, 100),
    startup=st.integers(0, 3),
    warmup=st.integers(0, 3),
    direction=st.sampled_from(["min", "max"]),
)
def test_scheduler_decisions_equal_engine_decisions(
    events: list[tuple[int, Any]], percentile: float, startup: int, warmup: int, direction: str
) -> None:
    policy = PercentilePruner(percentile, startup, warmup)
    sched, ctl = make(policy, mode=direction)
    engine = Engine(policy, "minimize" if direction == "min" else "maximize")
    trials: dict[int, Trial] = {}
    steps: dict[int, int] = {}
    for k, value in events:
        if k not in trials:
            trials[k] = add(sched, ctl, f"t{k}")
            engine.add_trial(f"t{k}")
        tid = f"t{k}"
        if engine.state(tid).is_finished:
            continue
        steps[k] = steps.get(k, 0) + 1
        if steps[k] == 6:  # a full run: complete it
            sched.on_trial_complete(ctl, trials[k], trials[k].run_metadata.last_result)
            engine.complete(tid)
            continue
        res = result(steps[k], value)
        action = sched.on_trial_result(ctl, trials[k], res)
        trials[k].run_metadata.last_result = res
        expected = engine.report(tid, steps[k], value, res["time_total_s"])
        assert action == expected.action.value.upper().replace("RESUME", "CONTINUE")
        assert sched.engine.last_decision(tid) == expected
    pairs = replay_records(sched.records, policy, engine.direction.value)
    assert all(a == b for a, b in pairs)


# ----------------------------------------------------------------------------- replays
def test_replayed_steps_are_not_decided_again() -> None:
    sched, ctl = make(PauseOnceAt(step=2))
    trial = add(sched, ctl, "t0")
    assert sched.on_trial_result(ctl, trial, result(1, 3.0)) == "CONTINUE"
    assert sched.on_trial_result(ctl, trial, result(2, 2.0)) == "PAUSE"
    n = len(sched.records)
    # Resumed from the checkpoint of step 1: step 2 comes again (even with another
    # value) and must not pause the trial a second time.
    assert sched.on_trial_result(ctl, trial, result(2, 2.1)) == "CONTINUE"
    assert len(sched.records) == n
    assert sched.decision_for("t0", 2) is not None  # the original answer is kept
    assert sched.on_trial_result(ctl, trial, result(3, 1.0)) == "CONTINUE"
    assert [d.step for d in sched.engine.decisions("t0")] == [1, 2, 3]


def test_stopped_trials_stay_stopped_on_replay_and_later_steps() -> None:
    sched, ctl = make(MedianPruner(n_startup_trials=1))
    feed(sched, ctl, add(sched, ctl, "best"), [1.0, 0.5, 0.4])
    worst = add(sched, ctl, "worst")
    assert sched.on_trial_result(ctl, worst, result(1, 5.0)) == "STOP"
    n = len(sched.records)
    assert sched.on_trial_result(ctl, worst, result(1, 5.0)) == "STOP"
    assert sched.on_trial_result(ctl, worst, result(2, 0.1)) == "STOP"
    assert len(sched.records) == n


# ----------------------------------------------------------------------------- lifecycle
def test_stop_reason_is_written_into_the_last_result() -> None:
    sched, ctl = make(MedianPruner(n_startup_trials=1))
    feed(sched, ctl, add(sched, ctl, "best"), [1.0, 0.5])
    worst = add(sched, ctl, "worst")
    feed(sched, ctl, worst, [4.0, 3.0])
    note = worst.run_metadata.last_result[RESULT_KEY]
    assert note["action"] == "stop" and note["reason"] == "below_percentile"
    assert note["step"] == 1
    assert json.loads(note["evidence"])["cutoff"] == 1.0
    assert sched.engine.state("worst").value == "stopped"


def test_pause_reason_is_written_once_the_result_is_stored() -> None:
    sched, ctl = make(PauseOnceAt(step=1))
    trial = add(sched, ctl, "t0")
    res = result(1, 2.0)
    assert sched.on_trial_result(ctl, trial, res) == "PAUSE"
    trial.run_metadata.last_result = res  # what Tune does after the scheduler answered
    set_status(trial, Trial.PAUSED)
    assert sched.choose_trial_to_run(ctl) is trial
    assert res[RESULT_KEY]["reason"] == "test_pause"


def test_decision_callback_adds_the_decision_to_each_result() -> None:
    sched, ctl = make(MedianPruner(n_startup_trials=1))
    callback = DecisionCallback(sched)
    trial = add(sched, ctl, "t0")
    res = result(1, 2.0)
    sched.on_trial_result(ctl, trial, res)
    callback.on_trial_result(0, ctl.trials, trial, res)
    assert res[RESULT_KEY]["action"] == "continue"
    assert res[RESULT_KEY]["reason"] == "startup"
    with pytest.raises(TypeError, match="scheduler"):
        DecisionCallback(object())  # type: ignore[arg-type]


def test_final_result_seen_only_at_completion_is_reported_first() -> None:
    # Tune's own stop condition ends a trial without calling on_trial_result.
    sched, ctl = make()
    trial = add(sched, ctl, "t0")
    sched.on_trial_result(ctl, trial, result(1, 2.0))
    sched.on_trial_complete(ctl, trial, result(2, 1.0))
    assert [d.step for d in sched.engine.decisions("t0")] == [1, 2]
    assert sched.engine.state("t0").value == "completed"
    assert sched.engine.study.incumbent() == 1.0


def test_errors_are_failures_unless_tune_retries() -> None:
    sched, ctl = make()
    once = add(sched, ctl, "final")
    sched.on_trial_result(ctl, once, result(1))
    once.run_metadata.num_failures = 1  # max_failures=0: no retry
    sched.on_trial_error(ctl, once)
    assert sched.engine.state("final").value == "failed"

    retried = add(sched, ctl, "retried")
    retried.max_failures = 3
    sched.on_trial_result(ctl, retried, result(1))
    retried.run_metadata.num_failures = 1
    sched.on_trial_error(ctl, retried)
    assert sched.engine.state("retried").value == "stale"
    sched.on_trial_result(ctl, retried, result(2))  # it came back
    assert sched.engine.state("retried").value == "running"
    retried.run_metadata.num_failures = 4
    sched.on_trial_error(ctl, retried)
    set_status(retried, Trial.ERROR)  # Tune gave up
    sched.choose_trial_to_run(ctl)
    assert sched.engine.state("retried").value == "failed"


def test_removed_trials_are_recorded() -> None:
    sched, ctl = make(PauseOnceAt(step=1))
    trial = add(sched, ctl, "t0")
    sched.on_trial_result(ctl, trial, result(1))
    sched.on_trial_remove(ctl, trial)
    assert sched.engine.state("t0").value == "failed"
    assert sched.records[-1] == {"kind": "fail", "trial": "t0", "reason": "removed", "v": 1}


# ----------------------------------------------------------------------------- ranking
def test_pending_first_in_add_order_then_paused_by_latest_score() -> None:
    sched, ctl = make(PauseOnceAt(step=1))
    a, b, c = (add(sched, ctl, t) for t in ("a", "b", "c"))
    for trial, value in ((a, 3.0), (b, 1.0)):
        sched.on_trial_result(ctl, trial, result(1, value))
        set_status(trial, Trial.PAUSED)
    assert sched.choose_trial_to_run(ctl) is c  # pending before paused
    set_status(c, Trial.RUNNING)
    assert sched.choose_trial_to_run(ctl) is b  # lower loss first
    last = sched.records[-1]
    assert last["kind"] == "decision" and last["decision"]["action"] == "resume"
    assert last["decision"]["evidence"]["last_value"] == 1.0
    assert sched.engine.state("b").value == "running"
    set_status(b, Trial.PENDING)  # Tune staged it; choosing again is idempotent
    assert sched.choose_trial_to_run(ctl) is b
    assert sched.records[-1] == last


def test_maximised_metric_resumes_the_highest_score() -> None:
    sched, ctl = make(PauseOnceAt(step=1), mode="max")
    a, b = add(sched, ctl, "a"), add(sched, ctl, "b")
    for trial, value in ((a, 0.9), (b, 0.2)):
        sched.on_trial_result(ctl, trial, result(1, value))
        set_status(trial, Trial.PAUSED)
    assert sched.choose_trial_to_run(ctl) is a


def test_resource_scheduler_answer_is_followed() -> None:
    policy = ResourceScheduler(MedianPruner(), max_concurrent=1, allow_new=False)
    engine = Engine(policy, "minimize")
    for tid, values in (("a", [3.0, 2.9]), ("b", [1.0, 0.5]), ("c", [2.0, 1.0, 0.2])):
        for step, value in enumerate(values, start=1):
            engine.report(tid, step, value, elapsed_s=float(step))
    engine.complete("c")
    for tid in ("a", "b"):
        engine.decide_external(tid, Decision(Action.PAUSE, Reason.LOW_GAIN_PER_HOUR, "test"))
    answer = policy.next_trial(engine.study)
    assert answer.action == "resume"
    choice = choose_next_trial(engine, [], ["a", "b"])
    assert choice is not None and choice.trial_id == answer.trial_id
    assert choice.resume is not None and choice.resume.rule == "ResourceScheduler"
    # With a budget spent, the ResourceScheduler says "none" and nothing is run.
    spent = Engine(ResourceScheduler(MedianPruner(), budget_hours=1e-9), "minimize")
    spent.report("a", 1, 1.0, elapsed_s=5.0)
    assert choose_next_trial(spent, ["p"], []) is None


def reverse_pending(engine: Engine, pending: Any, paused: Any) -> RunChoice | None:
    return RunChoice(pending[-1]) if pending else None


def unregistered_rank(engine: Engine, pending: Any, paused: Any) -> RunChoice | None:
    return None


register_rank_function(reverse_pending)


def test_a_registered_rank_hook_is_used_and_round_trips_through_pickle() -> None:
    sched, ctl = make(rank=reverse_pending)
    add(sched, ctl, "a")
    second = add(sched, ctl, "b")
    assert sched.choose_trial_to_run(ctl) is second
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.state_dict()["config"]["rank"] == f"{__name__}:reverse_pending"
    assert clone._rank is reverse_pending
    ctl2 = Controller()
    ctl2.trials = ctl.trials
    assert clone.choose_trial_to_run(ctl2) is second


def test_an_unregistered_rank_hook_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"`rank` .*unregistered_rank is not a registered"):
        make(rank=unregistered_rank)


_EVIL = """
import pathlib
pathlib.Path(__file__).with_name("imported.flag").write_text("imported")
def x(engine, pending, paused):
    return None
"""


@pytest.mark.parametrize(
    "ref",
    ["hpprune_evil_rank:x", "hpprune_evil_rank.x", "hpprune_evil_rank", "builtins:print", 7],
)
def test_a_saved_state_never_chooses_code_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: object
) -> None:
    (tmp_path / "hpprune_evil_rank.py").write_text(_EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    sched, ctl = make()
    _run(sched, ctl, ["a"])
    state = sched.__getstate__()
    state["config"]["rank"] = ref
    blank = RayTuneScheduler.__new__(RayTuneScheduler)
    with pytest.raises(ValueError, match=r"config\.rank"):
        blank.__setstate__(state)
    assert "hpprune_evil_rank" not in sys.modules
    assert not (tmp_path / "imported.flag").exists()


def test_the_default_rank_hook_resolves_by_name() -> None:
    sched, _ = make(rank=choose_next_trial)
    clone = pickle.loads(pickle.dumps(sched))
    assert clone._rank is choose_next_trial


def test_restore_refuses_a_state_saved_with_another_rank_hook(tmp_path: Path) -> None:
    sched, ctl = make(rank=reverse_pending)
    _run(sched, ctl, ["a"])
    sched.save(str(tmp_path / "s.json"))
    with pytest.raises(ValueError, match="rank"):
        make()[0].restore(str(tmp_path / "s.json"))


# ----------------------------------------------------------------------------- save / restore
CURVES = {"a": [3.0, 2.0, 1.5, 1.2], "b": [1.0, 0.8, 0.6, 0.5], "c": [2.0, 1.9, 1.8, 1.7]}


def _run(sched: RayTuneScheduler, ctl: Any, names: list[str]) -> None:
    for name in names:
        feed(sched, ctl, add(sched, ctl, name), CURVES[name])


def test_save_and_restore_continue_with_the_same_decisions(tmp_path: Path) -> None:
    policy = MedianPruner(n_startup_trials=1)
    whole, ctl = make(policy)
    _run(whole, ctl, ["b", "a", "c"])

    first, ctl1 = make(policy)
    _run(first, ctl1, ["b", "a"])
    first.save(str(tmp_path / "state.json"))
    doc = json.loads((tmp_path / "state.json").read_text())
    assert doc["format"] == STATE_FORMAT and doc["version"] == 1
    assert doc["records"] == first.records

    second, ctl2 = make(policy)
    second.restore(str(tmp_path / "state.json"))
    _run(second, ctl2, ["c"])
    assert second.records[1:] == whole.records[1:]  # headers differ only by start time


def test_pickling_uses_the_json_state_and_keeps_decisions() -> None:
    policy = MedianPruner(n_startup_trials=1)
    sched, ctl = make(policy)
    _run(sched, ctl, ["b", "a"])
    state = sched.__getstate__()
    json.dumps(state, allow_nan=False)  # plain JSON, no pickled objects
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.records == sched.records
    ctl2: Any = Controller()
    _run(clone, ctl2, ["c"])
    _run(sched, ctl, ["c"])
    assert clone.records == sched.records


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format": "other"}, "format"),
        ({"version": 99}, "version"),
        ({"config": {"policy": MedianPruner(n_startup_trials=4).to_dict()}}, "policy"),
    ],
)
def test_restore_rejects_other_states(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    sched, ctl = make()
    _run(sched, ctl, ["a"])
    doc = sched.state_dict()
    for key, value in change.items():
        doc[key] = {**doc[key], **value} if isinstance(value, dict) else value
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        make()[0].restore(str(tmp_path / "s.json"))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"config": None}, "`config` must be an object"),
        ({"config": [1]}, "`config` must be an object"),
        ({"config": {"metric": "loss"}}, "with a `policy`"),
        ({"version": True}, "version"),
        ({"records": {"a": 1}}, "`records` must be a list"),
        ({"records": [1, 2]}, "`records` must be a list of objects"),
    ],
)
@pytest.mark.parametrize("how", ["restore", "unpickle"])
def test_a_crafted_state_is_a_clear_error(
    tmp_path: Path, change: dict[str, Any], match: str, how: str
) -> None:
    sched, ctl = make()
    _run(sched, ctl, ["a"])
    doc = {**sched.state_dict(), **change}
    if how == "restore":
        (tmp_path / "s.json").write_text(json.dumps(doc))
        with pytest.raises(ValueError, match=match):
            make()[0].restore(str(tmp_path / "s.json"))
    else:
        with pytest.raises(ValueError, match=match):
            RayTuneScheduler.__new__(RayTuneScheduler).__setstate__(doc)


def test_restore_refuses_a_state_of_another_non_finite_mode(tmp_path: Path) -> None:
    sched, ctl = make()
    _run(sched, ctl, ["a"])
    sched.save(str(tmp_path / "s.json"))
    with pytest.raises(ValueError, match="has non_finite 'stop', not 'ignore'"):
        make(non_finite="ignore")[0].restore(str(tmp_path / "s.json"))


def test_save_never_writes_over_the_user_log_and_follows_no_planted_name(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    sched, ctl = make(log=log)
    _run(sched, ctl, ["a"])
    before = log.read_bytes()
    with pytest.raises(ValueError, match="one of this command's inputs"):
        sched.save(str(log))
    assert log.read_bytes() == before
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "state.json.tmp").symlink_to(victim)  # the name save() used to write through
    sched.save(str(tmp_path / "state.json"))
    assert victim.read_text() == "precious"
    assert json.loads((tmp_path / "state.json").read_text())["records"] == sched.records


def test_restore_rejects_another_time_attr(tmp_path: Path) -> None:
    sched, ctl = make()
    _run(sched, ctl, ["a"])
    sched.save(str(tmp_path / "s.json"))
    with pytest.raises(ValueError, match="time_attr"):
        make(time_attr="epoch")[0].restore(str(tmp_path / "s.json"))


SAME_STUDY: dict[str, Any] = {"mode": "min", "non_finite": "stop", "study_name": "s"}

OTHER_STUDIES = [
    ({"policy": MedianPruner(n_startup_trials=9)}, "was written for policy"),
    ({"mode": "max"}, "has direction 'minimize', not 'maximize'"),
    ({"non_finite": "ignore"}, "has non_finite 'stop', not 'ignore'"),
    ({"study_name": "other"}, "belongs to study 's', not 'other'"),
]


@pytest.mark.parametrize(("change", "match"), OTHER_STUDIES)
def test_a_user_log_of_another_study_is_refused_and_left_alone(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    log = tmp_path / "audit.jsonl"
    first, ctl = make(MedianPruner(), log=log, **SAME_STUDY)
    _run(first, ctl, ["a"])
    before = log.read_bytes()
    args = {"policy": MedianPruner(), **SAME_STUDY, **change}
    second, ctl2 = make(args.pop("policy"), log=log, **args)
    for _ in range(2):  # refused again on the next call: never runs on without the log
        with pytest.raises(ValueError, match=match):
            add(second, ctl2, "x")
    assert log.read_bytes() == before


@pytest.mark.parametrize("kept_lines", [0, 1, 3, None], ids=["empty", "header", "3", "all"])
def test_a_restored_scheduler_completes_the_start_of_its_own_log(
    tmp_path: Path, kept_lines: int | None
) -> None:
    log = tmp_path / "audit.jsonl"
    first, ctl = make(MedianPruner(), log=log, **SAME_STUDY)
    _run(first, ctl, ["b", "a"])
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:kept_lines]))
    second, ctl2 = make(MedianPruner(), log=log, **SAME_STUDY)
    second.load_state_dict(first.state_dict())
    _run(second, ctl2, ["c"])
    assert [json.loads(line) for line in log.read_text().splitlines()] == second.records


def test_a_new_run_refuses_the_log_of_an_earlier_run_of_the_same_study(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    first, ctl = make(MedianPruner(), log=log, **SAME_STUDY)
    _run(first, ctl, ["a"])
    before = log.read_bytes()
    second, ctl2 = make(MedianPruner(), log=log, **SAME_STUDY)
    with pytest.raises(ValueError, match="holds another run of study 's'"):
        add(second, ctl2, "b")
    assert log.read_bytes() == before


def test_a_user_log_that_is_not_an_hpprune_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "notes.txt"
    log.write_bytes(b"my notes\n")
    sched, ctl = make(log=log)
    with pytest.warns(UserWarning), pytest.raises(LogFormatError, match="not an hpprune log"):
        add(sched, ctl, "x")
    assert log.read_bytes() == b"my notes\n"


@pytest.mark.parametrize(("change", "match"), OTHER_STUDIES)
def test_the_experiment_state_file_of_another_study_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], match: str
) -> None:
    import hpprune.integrations.ray_tune as ray_tune

    state = tmp_path / STATE_FILE
    monkeypatch.setattr(ray_tune, "_state_location", lambda trial: _StateLocation(state))
    first, ctl = make(MedianPruner(), **SAME_STUDY)
    _run(first, ctl, ["a"])
    before = state.read_bytes()
    args = {"policy": MedianPruner(), **SAME_STUDY, **change}
    second, ctl2 = make(args.pop("policy"), **args)
    with pytest.raises(ValueError, match=match):
        add(second, ctl2, "a")  # a trial of the state file: Tune restores the experiment
    assert state.read_bytes() == before
    resumed, ctl3 = make(MedianPruner(), **SAME_STUDY)
    add(resumed, ctl3, "a")
    assert resumed.records == first.records


def test_state_file_is_fetched_from_tune_storage(tmp_path: Path) -> None:
    fs = pytest.importorskip("pyarrow.fs").LocalFileSystem()
    remote = tmp_path / "remote.jsonl"
    remote.write_text('{"kind":"study"}\n')
    local = tmp_path / "staging" / "state.jsonl"
    local.parent.mkdir()
    _StateLocation(local, fs, str(remote)).fetch()
    assert local.read_text() == remote.read_text()
    _StateLocation(tmp_path / "none.jsonl", fs, str(tmp_path / "missing")).fetch()
    assert not (tmp_path / "none.jsonl").exists()


def test_debug_string_counts_states_and_reasons() -> None:
    sched, ctl = make(MedianPruner(n_startup_trials=1))
    assert "no trials yet" in sched.debug_string()
    _run(sched, ctl, ["b", "a"])
    text = sched.debug_string()
    assert "completed 1" in text and "stopped 1" in text and "below_percentile 1" in text
