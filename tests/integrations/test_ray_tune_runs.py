"""Real Ray Tune runs driven by RayTuneScheduler: stops, reasons, parity, non-finite, pause."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

from hpprune import Engine, MedianPruner
from hpprune.audit.log import read_log
from hpprune.integrations.ray_tune import STATE_FILE, DecisionCallback, RayTuneScheduler
from tests.integrations.ray_fixtures import (
    TEST_PAUSE,
    PauseOnceAt,
    ray_session,  # noqa: F401
    replay_records,
    run_tune,
    tune_history,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

EPOCHS = 6
# loss = base + 1/epoch. The first two trials run together and have equal curves, so
# neither stops the other whichever completes first; every later trial starts only
# after one of them completed, so the outcome does not depend on timing.
STOP_BASES = [0.5, 0.5, 3.0, 0.2, 2.0, 4.0]
STOP_CURVES = [[b + 1.0 / e for e in range(1, EPOCHS + 1)] for b in STOP_BASES]
STOP_POLICY_ARGS: dict[str, Any] = {"n_startup_trials": 1, "n_warmup_steps": 1}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def stop_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One Tune run (6 trials, 2 at a time) with MedianPruner; shared by several tests."""
    path = tmp_path_factory.mktemp("ray_stop")
    handler = _Collect()
    log = logging.getLogger("hpprune.integrations.ray_tune")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        scheduler = RayTuneScheduler(MedianPruner(**STOP_POLICY_ARGS), log=path / "audit.jsonl")
        results = run_tune(
            path,
            "stops",
            scheduler,
            STOP_CURVES,
            mode="min",
            callbacks=[DecisionCallback(scheduler)],
        )
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    yield {"path": path, "scheduler": scheduler, "results": results, "messages": handler.messages}


def _by_index(results: Any) -> dict[int, Any]:
    return {r.config["i"]: r for r in results}


def test_stops_follow_the_policy_and_tune_executes_them(stop_run: dict[str, Any]) -> None:
    results = _by_index(stop_run["results"])
    engine = stop_run["scheduler"].engine
    expected_stopped = {2, 4, 5}  # the three worst bases, all stopped at their first check
    for i, result in results.items():
        tid = result.metrics["trial_id"]
        iterations = list(result.metrics_dataframe["training_iteration"])
        if i in expected_stopped:
            assert iterations == [1], (i, iterations)
            assert engine.state(tid).value == "stopped"
            assert result.metrics["hpprune"]["action"] == "stop"
            assert result.metrics["hpprune"]["reason"] == "below_percentile"
            assert result.metrics["hpprune"]["step"] == 1
            assert '"cutoff"' in result.metrics["hpprune"]["evidence"]
        else:
            assert iterations == list(range(1, EPOCHS + 1)), (i, iterations)
            assert engine.state(tid).value == "completed"
            assert "hpprune" not in result.metrics or result.metrics["hpprune"]["action"] != "stop"


def test_every_result_row_carries_its_decision(stop_run: dict[str, Any]) -> None:
    for result in stop_run["results"]:
        frame = result.metrics_dataframe
        actions = list(frame["hpprune/action"])
        reasons = list(frame["hpprune/reason"])
        decisions = stop_run["scheduler"].engine.decisions(result.metrics["trial_id"])
        assert actions == [d.action.value for d in decisions]
        assert reasons == [d.reason for d in decisions]


def test_stop_reasons_are_logged_with_trial_and_evidence(stop_run: dict[str, Any]) -> None:
    stopped = [r.metrics["trial_id"] for r in stop_run["results"] if r.config["i"] in (2, 4, 5)]
    lines = [m for m in stop_run["messages"] if m.startswith("hpprune: STOP")]
    assert len(lines) == 3
    for tid in stopped:
        (line,) = [m for m in lines if f"trial {tid} " in m]
        assert "training_iteration=1" in line
        assert "reason=below_percentile" in line
        assert '"cutoff"' in line and '"best_so_far"' in line


def test_state_file_and_user_log_hold_the_same_records(stop_run: dict[str, Any]) -> None:
    records = stop_run["scheduler"].records
    state = Path(stop_run["path"], "stops", STATE_FILE)
    assert list(read_log(state)) == records
    assert list(read_log(stop_run["path"] / "audit.jsonl")) == records
    assert records[0]["kind"] == "study" and records[0]["direction"] == "minimize"


def test_parity_with_engine_fed_the_same_reports(stop_run: dict[str, Any]) -> None:
    records = stop_run["scheduler"].records
    pairs = replay_records(records, MedianPruner(**STOP_POLICY_ARGS), "minimize")
    assert len(pairs) == sum(len(c) for c in tune_history(stop_run["results"]).values())
    for recorded, recomputed in pairs:
        assert recorded == recomputed


def test_log_reports_are_what_tune_recorded(stop_run: dict[str, Any]) -> None:
    logged: dict[str, list[tuple[int, float]]] = {}
    for r in stop_run["scheduler"].records:
        if r["kind"] == "report":
            logged.setdefault(r["trial"], []).append((r["step"], r["value"]))
    assert logged == tune_history(stop_run["results"])


# ----------------------------------------------------------------------------- non-finite
INF_CURVES = [[math.inf] * 4, [0.9] * 4, [0.1] * 4, [0.2] * 4]  # maximised score


def _asha() -> ASHAScheduler:
    return ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2)


def _asha_first_rung(curves: list[list[float]]) -> dict[int, str]:
    """ASHA's decisions at iteration 1 when the trials run one after another (direct calls)."""
    asha = _asha()
    asha.set_search_properties("score", "max")
    out: dict[int, str] = {}
    for i, curve in enumerate(curves):
        trial = Trial("curve_trainable", trial_id=f"t{i}", stub=True)
        asha.on_trial_add(None, trial)  # type: ignore[arg-type]
        for it, value in enumerate(curve, start=1):
            res = {"training_iteration": it, "score": value}
            action = asha.on_trial_result(None, trial, res)  # type: ignore[arg-type]
            if it == 1:
                out[i] = action
            if action == "STOP":
                break
    return out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy, inside ASHA's cutoff
def test_asha_is_poisoned_by_inf_and_hpprune_is_not(tmp_path: Path) -> None:
    # Ray's ASHA on the finite trials alone stops the two bad ones at rung 1 ...
    clean = _asha_first_rung(INF_CURVES[1:])
    assert clean == {0: "CONTINUE", 1: "STOP", 2: "STOP"}
    # ... but once a +inf reward sits in the rung, its cutoff is no longer finite
    # and in a real Tune run the bad trials train to max_t.
    asha_results = _by_index(
        run_tune(tmp_path, "asha_inf", _asha(), INF_CURVES, mode="max", concurrency=1)
    )
    asha_iterations = {
        i: list(r.metrics_dataframe["training_iteration"]) for i, r in asha_results.items()
    }
    assert asha_iterations[2] == [1, 2, 3, 4]
    assert asha_iterations[3] == [1, 2, 3, 4]

    # hpprune: the +inf trial is ignored (non_finite="ignore" keeps it running, the
    # strictest case) and the finite trials get exactly the decisions they get
    # without it.
    policy = MedianPruner(n_startup_trials=1)
    scheduler = RayTuneScheduler(policy, non_finite="ignore")
    ours = _by_index(
        run_tune(tmp_path, "ours_inf", scheduler, INF_CURVES, mode="max", concurrency=1)
    )
    ours_iterations = {i: list(r.metrics_dataframe["training_iteration"]) for i, r in ours.items()}
    assert ours_iterations == {0: [1, 2, 3, 4], 1: [1, 2, 3, 4], 2: [1], 3: [1]}
    engine = scheduler.engine
    inf_tid = ours[0].metrics["trial_id"]
    assert {d.reason for d in engine.decisions(inf_tid)} == {"non_finite_ignored"}

    clean_engine = Engine(MedianPruner(n_startup_trials=1), "maximize")
    for i, curve in enumerate(INF_CURVES[1:], start=1):
        tid = ours[i].metrics["trial_id"]
        expected = []
        for step, value in enumerate(curve, start=1):
            decision = clean_engine.report(tid, step, value)
            expected.append(decision)
            if decision.stops:
                break
        if not expected[-1].stops:
            clean_engine.complete(tid)
        got = engine.decisions(tid)
        # Same actions at the same steps, and every cutoff identical: the +inf
        # trial entered no statistic (it only counts as a completed trial).
        assert [(d.action, d.step) for d in got] == [(d.action, d.step) for d in expected]
        assert [d.evidence.get("cutoff") for d in got] == [
            d.evidence.get("cutoff") for d in expected
        ]
    stopped = engine.decisions(ours[2].metrics["trial_id"])
    assert [(d.reason, d.evidence["cutoff"]) for d in stopped] == [("below_percentile", 0.9)]


# ----------------------------------------------------------------------------- pause
PAUSE_CURVES = [[3.0, 2.0, 1.5, 1.2], [2.0, 1.0, 0.8, 0.7], [4.0, 3.5, 3.0, 2.9]]


def test_pause_and_resume_from_checkpoint(tmp_path: Path) -> None:
    scheduler = RayTuneScheduler(PauseOnceAt(step=2))
    results = _by_index(run_tune(tmp_path, "pause", scheduler, PAUSE_CURVES, mode="min"))
    engine = scheduler.engine
    for i, result in results.items():
        frame = result.metrics_dataframe
        curve = PAUSE_CURVES[i]
        # The curve continues where it stopped: no step repeated or skipped ...
        assert list(frame["training_iteration"]) == [1, 2, 3, 4]
        assert list(frame["epoch"]) == [1, 2, 3, 4]
        assert list(frame["score"]) == curve
        # ... and the resumed trial really started from the checkpoint of step 2
        # with its saved state (the running total carries on).
        assert list(frame["restored_from"]) == [0, 0, 2, 2]
        totals = [sum(curve[:k]) for k in range(1, 5)]
        assert list(frame["total"]) == pytest.approx(totals)

        tid = result.metrics["trial_id"]
        decisions = engine.decisions(tid)
        assert [(d.action.value, d.reason, d.step) for d in decisions] == [
            ("continue", "ok", 1),
            ("pause", TEST_PAUSE, 2),
            ("resume", "resumed", 2),
            ("continue", "ok", 3),
            ("continue", "ok", 4),
        ]
        assert engine.state(tid).value == "completed"
    kinds = [(r["kind"], r.get("decision", {}).get("action")) for r in scheduler.records]
    assert kinds.count(("report", "pause")) == 3
    assert kinds.count(("decision", "resume")) == 3


def _fates(records: list[dict[str, Any]]) -> dict[str, int]:
    from hpprune.audit.facts import fold_log

    return {k: v for k, v in fold_log(records).counts().items() if v}


def test_import_ray_counts_agree_with_the_scheduler_log(stop_run: dict[str, Any]) -> None:
    """``hpprune import ray`` of the experiment and the scheduler's own log: same fates."""
    from hpprune.audit.importers import import_ray

    imported = import_ray(stop_run["path"] / "stops", "score", "min")
    assert (
        _fates(imported)
        == _fates(stop_run["scheduler"].records)
        == {
            "completed": 3,
            "stopped": 3,
        }
    )


def test_hyperband_trial_at_its_last_iteration_completes(tmp_path: Path) -> None:
    """A trial reaching max_resource is completed, never counted stopped, by both readers."""
    from hpprune import HyperbandPruner
    from hpprune.audit.importers import import_ray

    last = 4  # rungs at 1, 2 and 4: the last rung is the last iteration
    scheduler = RayTuneScheduler(
        HyperbandPruner(min_resource=1, max_resource=last, reduction_factor=2),
        log=tmp_path / "hb.jsonl",
    )
    # Each curve ranks well early and worse at the end, so that at the last rung
    # some trial is not in the promoted half: without the final-step rule it
    # would be stopped after all its iterations.
    bases = [0.5, 0.4, 0.45, 0.2, 0.48, 0.47]
    curves = [
        [b + (1.0 - b) / e + (0.1 * k if e == last else 0.0) for e in range(1, last + 1)]
        for k, b in enumerate(bases)
    ]
    results = run_tune(tmp_path, "hb", scheduler, curves, mode="min", concurrency=1)
    logged = _fates(scheduler.records)
    assert _fates(import_ray(tmp_path / "hb", "score", "min")) == logged
    for result in results:
        iterations = list(result.metrics_dataframe["training_iteration"])
        state = scheduler.engine.state(result.metrics["trial_id"]).value
        if iterations[-1] == last:
            assert state == "completed", (iterations, state)
    assert logged.get("completed", 0) >= 1
