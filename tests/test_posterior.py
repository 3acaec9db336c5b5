"""BayesianPruner: parameters, decisions, safeguards, prediction, drift, warm start, Pareto."""

from __future__ import annotations

import copy
import json
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpprune
from hpprune import BayesianPruner, Engine, Prediction
from hpprune.pruners import _curve_model as cm
from hpprune.pruners.base import policy_from_dict
from hpprune.types import Action, Reason

# ----------------------------------------------------------------- helpers


def curve(
    final: float, amp: float, rate: float, n_steps: int, noise: float, seed: int
) -> list[float]:
    """A saturating loss curve (lower is better) that ends near ``final``."""
    rng = np.random.default_rng(seed)
    return [
        float(final + amp * math.exp(-rate * s) + rng.normal(0.0, noise)) for s in range(n_steps)
    ]


def population(n: int, n_steps: int = 12, seed: int = 0, shift: float = 0.0) -> list[list[float]]:
    """Curves whose final level varies and is predictable from the early curve."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        final = float(rng.uniform(0.1, 1.0)) + shift
        out.append(curve(final, float(rng.uniform(0.5, 1.0)), 0.4, n_steps, 0.01, seed * 1000 + i))
    return out


def run_sequential(
    engine: Engine, curves: list[list[float]], prefix: str = "t", sign: float = 1.0
) -> dict[str, list[Any]]:
    """Run each curve to its end (or its STOP) one after the other; complete the survivors."""
    out: dict[str, list[Any]] = {}
    for i, values in enumerate(curves):
        tid = f"{prefix}{i}"
        out[tid] = []
        for step, value in enumerate(values):
            d = engine.report(tid, step, sign * value)
            out[tid].append(d)
            if d.stops:
                break
        else:
            engine.complete(tid)
    return out


def study_with(peers: list[list[float]], direction: str = "minimize", sign: float = 1.0) -> Engine:
    engine = Engine(hpprune.NoPruning(), direction=direction)
    for i, values in enumerate(peers):
        for step, value in enumerate(values):
            engine.report(f"p{i}", step, sign * value)
        engine.complete(f"p{i}")
    return engine


def report_partial(engine: Engine, tid: str, values: list[float], sign: float = 1.0) -> None:
    for step, value in enumerate(values):
        engine.report(tid, step, sign * value)


# --------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.0}, ValueError, "alpha"),
        ({"alpha": "0.1"}, TypeError, "alpha"),
        ({"min_delta": -0.1}, ValueError, "min_delta"),
        ({"min_delta": math.inf}, ValueError, "min_delta"),
        ({"n_startup_trials": -1}, ValueError, "n_startup_trials"),
        ({"n_warmup_steps": 1.5}, TypeError, "n_warmup_steps"),
        ({"interval_steps": 0}, ValueError, "interval_steps"),
        ({"n_keep": -1}, ValueError, "n_keep"),
        ({"window": 0}, ValueError, "window"),
        ({"forgetting": 0.0}, ValueError, "forgetting"),
        ({"forgetting": 1.5}, ValueError, "forgetting"),
        ({"warm_weight": 0.0}, ValueError, "warm_weight"),
        ({"warm_start": "curves"}, TypeError, "warm_start"),
        ({"warm_start": [[[0, 1], [1.0], 0.5]]}, ValueError, "warm_start[0]"),
        ({"warm_start": [[[1, 0], [1.0, 0.9], 0.5]]}, ValueError, "warm_start[0]"),
        ({"warm_start": [[[0], [math.nan], 0.5]]}, ValueError, "warm_start[0]"),
        ({"warm_start": [[[0], [1.0], None]]}, TypeError, "warm_start[0]"),
        ({"pareto": {}}, ValueError, "pareto"),
        ({"pareto": {"size": "smaller"}}, ValueError, "pareto['size']"),
        ({"pareto": ["size"]}, TypeError, "pareto"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, Any], error: type, field: str) -> None:
    with pytest.raises(error, match="`" + re.escape(field)):
        BayesianPruner(**kwargs)


def test_round_trip_with_warm_start_and_pareto() -> None:
    pruner = BayesianPruner(
        alpha=0.1,
        min_delta=0.01,
        n_startup_trials=2,
        n_warmup_steps=3,
        interval_steps=2,
        n_keep=2,
        window=20,
        forgetting=0.95,
        warm_start=[[[0, 1, 2], [1.0, 0.8, 0.7], 0.6]],
        warm_weight=0.5,
        pareto={"size": "minimize"},
    )
    data = json.loads(json.dumps(pruner.to_dict()))
    again = policy_from_dict(data)
    assert again == pruner
    assert again.params() == pruner.params()
    assert isinstance(again, BayesianPruner)


def test_pickle_and_copy_drop_the_memo_but_keep_decisions() -> None:
    engine = study_with(population(10, seed=1))
    pruner = BayesianPruner(n_startup_trials=3)
    report_partial(engine, "x", curve(3.0, 1.0, 0.4, 12, 0.01, 7)[:4])
    trial = engine.study.trial("x")
    first = pruner.decide(trial, engine.study)
    for clone in (pickle.loads(pickle.dumps(pruner)), copy.deepcopy(pruner)):
        assert not clone._memos
        assert clone.decide(trial, engine.study) == first


# ------------------------------------------------------------ decisions


def test_minimum_evidence_rules() -> None:
    pruner = BayesianPruner(n_startup_trials=4, n_warmup_steps=2)
    engine = study_with(population(3, seed=2))
    report_partial(engine, "x", [5.0, 5.0, 5.0])
    trial = engine.study.trial("x")
    assert pruner.decide(trial, engine.study).reason == Reason.STARTUP
    engine2 = study_with(population(6, seed=2))
    report_partial(engine2, "x", [5.0, 5.0])
    assert pruner.decide(engine2.study.trial("x"), engine2.study).reason == Reason.WARMUP
    # Peers that stopped before the trial's step give no evidence there.
    short = [values[:3] for values in population(6, seed=2)]
    engine3 = study_with(short)
    report_partial(engine3, "x", [5.0] * 6)
    got = BayesianPruner(n_startup_trials=4, n_keep=0).decide(
        engine3.study.trial("x"), engine3.study
    )
    assert got.reason == Reason.NOT_ENOUGH_PEERS


@pytest.mark.parametrize(("direction", "sign"), [("minimize", 1.0), ("maximize", -1.0)])
def test_hopeless_trial_stops_with_evidence_and_good_one_continues(
    direction: str, sign: float
) -> None:
    engine = study_with(population(12, seed=3), direction, sign)
    pruner = BayesianPruner(n_startup_trials=5, n_keep=0)
    bad = curve(3.0, 1.0, 0.4, 12, 0.01, 99)[:5]
    good = curve(0.05, 0.8, 0.4, 12, 0.01, 98)[:5]
    report_partial(engine, "bad", bad, sign)
    report_partial(engine, "good", good, sign)
    d_bad = pruner.decide(engine.study.trial("bad"), engine.study)
    d_good = pruner.decide(engine.study.trial("good"), engine.study)
    assert (d_bad.action, d_bad.reason) == (Action.STOP, Reason.POSTERIOR_LOW)
    assert d_good.action is Action.CONTINUE and d_good.reason == Reason.OK
    ev = d_bad.evidence
    assert set(ev) >= {
        "predicted_mean",
        "predicted_std",
        "incumbent",
        "p_improve",
        "alpha",
        "n_peers",
        "step",
        "credible_bound",
    }
    # Evidence is on the user's scale: the incumbent is the best completed final value.
    finals = [sign * values[-1] for values in population(12, seed=3)]
    assert ev["incumbent"] == (min(finals) if sign > 0 else max(finals))
    assert ev["p_improve"] < ev["alpha"] == 0.05
    assert ev["n_peers"] == 12 and ev["step"] == 4
    assert abs(ev["predicted_mean"] - sign * 3.0) < 0.5  # near the bad curve's true final
    json.dumps(d_bad.to_dict(), allow_nan=False)


def test_n_keep_protects_the_best_ranked_trials() -> None:
    engine = study_with(population(12, seed=3))
    bad = curve(3.0, 1.0, 0.4, 12, 0.01, 99)[:5]
    report_partial(engine, "bad", bad)
    trial = engine.study.trial("bad")
    # "bad" ranks last at step 4 among 13 trials: n_keep=13 keeps it, n_keep=12 does not.
    kept = BayesianPruner(n_keep=13).decide(trial, engine.study)
    assert (kept.action, kept.reason) == (Action.CONTINUE, Reason.KEPT_TOP_K)
    assert BayesianPruner(n_keep=12).decide(trial, engine.study).stops


def test_credible_bound_safeguard_with_min_delta() -> None:
    engine = study_with(population(12, seed=4))
    # Find a trial whose p_improve is small but not tiny.
    candidates = [
        curve(f, 0.8, 0.4, 12, 0.01, 50 + k)[:6] for k, f in enumerate(np.linspace(0.1, 0.4, 31))
    ]
    probe = BayesianPruner(n_keep=0)
    chosen = None
    for k, values in enumerate(candidates):
        report_partial(engine, f"c{k}", values)
        pred = probe.predict(engine.study.trial(f"c{k}"), engine.study)
        assert pred is not None
        if 1e-4 < pred.p_improve < 0.2:
            chosen = (f"c{k}", pred)
            break
    assert chosen is not None
    tid, pred = chosen
    alpha = min(0.5, 2.0 * pred.p_improve)
    trial = engine.study.trial(tid)
    assert BayesianPruner(alpha=alpha, n_keep=0).decide(trial, engine.study).stops
    # With min_delta, the optimistic bound lies within min_delta of the incumbent: kept.
    delta = 2.0 * pred.scale
    got = BayesianPruner(alpha=alpha, min_delta=delta, n_keep=0).decide(trial, engine.study)
    assert (got.action, got.reason) == (Action.CONTINUE, Reason.WITHIN_BOUND)
    assert got.evidence["p_improve"] < alpha  # the probability rule alone would have stopped it


def test_prediction_is_consistent() -> None:
    engine = study_with(population(15, seed=5), "maximize", -1.0)
    report_partial(engine, "x", curve(0.5, 0.8, 0.4, 12, 0.01, 11)[:6], -1.0)
    pruner = BayesianPruner()
    pred = pruner.predict(engine.study.trial("x"), engine.study)
    assert isinstance(pred, Prediction)
    assert pred.maximize and pred.step == 5 and pred.n_peers == 15
    assert pred.incumbent == -min(v[-1] for v in population(15, seed=5))
    assert pred.prob_better(pred.incumbent) == pytest.approx(pred.p_improve)
    for q in (0.05, 0.5, 0.95):
        assert pred.cdf(pred.quantile(q)) == pytest.approx(q)
    assert pred.std > pred.scale > 0
    assert abs(pred.mean - (-0.5)) < 0.1
    with pytest.raises(ValueError, match="no finite report"):
        engine.report("nan-only", 0, math.nan)
        pruner.predict(engine.study.trial("nan-only"), engine.study)


def test_predict_returns_none_without_peers() -> None:
    engine = Engine(hpprune.NoPruning())
    report_partial(engine, "x", [1.0, 0.9])
    assert BayesianPruner().predict(engine.study.trial("x"), engine.study) is None


def test_incumbent_fallback_before_any_completion() -> None:
    """With n_startup_trials=0 and warm-start peers, the best latest score of others is used."""
    warm = [[list(range(12)), values, values[-1]] for values in population(10, seed=6)]
    pruner = BayesianPruner(n_startup_trials=0, warm_start=warm, n_keep=0)
    engine = Engine(pruner)
    report_partial(engine, "leader", curve(0.1, 0.8, 0.4, 12, 0.01, 1)[:6])
    d = engine.report("lagger", 0, 5.0)
    d = engine.report("lagger", 1, 5.0)
    assert d.stops and d.reason == Reason.POSTERIOR_LOW
    # The fallback incumbent is the leader's latest value, not a completed final.
    assert d.evidence["incumbent"] == engine.study.trial("leader").scores[-1]
    alone = Engine(BayesianPruner(n_startup_trials=0, warm_start=warm, n_keep=0))
    assert alone.report("solo", 0, 5.0).reason == Reason.STARTUP


# ----------------------------------------------------------- memo purity


@st.composite
def _schedules(draw: st.DrawFn) -> tuple[list[list[float]], list[int]]:
    n = draw(st.integers(4, 12))
    seed = draw(st.integers(0, 1000))
    curves = population(n, n_steps=draw(st.integers(2, 8)), seed=seed)
    order = draw(st.permutations(list(range(n))))
    return curves, list(order)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=_schedules(),
    kwargs=st.sampled_from(
        [
            {},
            {"window": 3},
            {"forgetting": 0.7},
            {"n_keep": 0, "alpha": 0.3},
            {"n_startup_trials": 1},
            {"n_startup_trials": 1, "drift_detection": 0.3, "recalibrate": False},
            {"n_startup_trials": 1, "drift_detection": 0.3},
        ]
    ),
)
def test_memo_never_changes_a_decision(
    schedule: tuple[list[list[float]], list[int]], kwargs: dict[str, Any]
) -> None:
    """The long-lived policy (with its memo) decides exactly like a fresh one, every time."""
    curves, order = schedule
    live = BayesianPruner(**kwargs)
    engine = Engine(live)
    # Two trials at a time, interleaved, so completions land between decisions.
    pending = [f"t{i}" for i in order]
    running: dict[str, int] = {}
    while pending or running:
        while len(running) < 2 and pending:
            running[pending.pop(0)] = 0
        for tid in list(running):
            step = running[tid]
            values = curves[int(tid[1:])]
            d = engine.report(tid, step, values[step])
            fresh = BayesianPruner(**kwargs).decide(engine.study.trial(tid), engine.study)
            assert d == fresh.bind(tid, step)
            if d.stops:
                del running[tid]
            elif step + 1 == len(values):
                engine.complete(tid)
                del running[tid]
            else:
                running[tid] = step + 1


# ---------------------------------------------------------------- drift


def test_window_and_forgetting_follow_drift() -> None:
    """Later trials keep improving after step 3; only the drift-aware models learn it."""
    rng = np.random.default_rng(8)
    early, late = [], []
    for _ in range(30):
        level = float(rng.uniform(0.3, 1.0))
        early.append([level + 0.5 * math.exp(-s) for s in range(10)])
    for _ in range(15):
        level = float(rng.uniform(0.3, 1.0))
        # Same start as before, but 0.4 of extra improvement after step 3.
        late.append([level + 0.5 * math.exp(-s) - 0.4 * max(0, s - 3) / 6 for s in range(10)])
    engine = study_with(early + late)
    probe = late[0]
    report_partial(engine, "probe", probe[:4])
    trial = engine.study.trial("probe")
    truth = probe[-1]
    errors = {}
    for name, pruner in {
        "all": BayesianPruner(),
        "window": BayesianPruner(window=12),
        "forgetting": BayesianPruner(forgetting=0.8),
    }.items():
        pred = pruner.predict(trial, engine.study)
        assert pred is not None
        errors[name] = abs(pred.mean - truth)
    assert errors["all"] > 0.2  # the unwindowed model stays with the early trials
    assert errors["window"] < 0.05
    assert errors["forgetting"] < 0.05


def test_window_counts_only_recent_peers() -> None:
    engine = study_with(population(20, seed=9))
    report_partial(engine, "x", curve(0.5, 0.8, 0.4, 12, 0.01, 3)[:4])
    trial = engine.study.trial("x")
    assert BayesianPruner(window=7).predict(trial, engine.study).n_peers == 7  # type: ignore[union-attr]
    assert BayesianPruner().predict(trial, engine.study).n_peers == 20  # type: ignore[union-attr]


# ----------------------------------------------------------- warm start


def _write_study_log(path: Path, curves: list[list[float]], sign: float = 1.0) -> Engine:
    direction = "minimize" if sign > 0 else "maximize"
    engine = Engine(hpprune.MedianPruner(n_startup_trials=3), direction=direction, log=path)
    run_sequential(engine, curves, sign=sign)
    engine.close()
    return engine


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_from_logs_seeds_completed_curves_and_round_trips(tmp_path: Path, sign: float) -> None:
    log = tmp_path / "old.jsonl"
    old = _write_study_log(log, population(20, seed=10), sign)
    pruner = BayesianPruner.from_logs([log], alpha=0.1)
    completed = old.study.completed_ids
    assert pruner.alpha == 0.1
    assert len(pruner.warm_start) == len(completed) < 20
    first = old.study.trial(completed[0])
    assert pruner.warm_start[0] == [list(first.steps), list(first.scores), first.final_score]
    again = policy_from_dict(json.loads(json.dumps(pruner.to_dict())))
    assert again == pruner
    # The new study's log header records the warm start, so restarts rebuild it.
    new_log = tmp_path / "new.jsonl"
    engine = Engine(pruner, direction="minimize" if sign > 0 else "maximize", log=new_log)
    engine.close()
    assert Engine.from_log(new_log).policy == pruner
    assert BayesianPruner.from_logs([log], max_curves=3).warm_start == pruner.warm_start[-3:]
    with pytest.raises(ValueError, match="not both"):
        BayesianPruner.from_logs([log], warm_start=[])


def test_warm_start_transfers_to_a_similar_study(tmp_path: Path) -> None:
    """Seeded with an earlier study, the pruner stops bad trials sooner without losing the best."""
    log = tmp_path / "old.jsonl"
    _write_study_log(log, population(40, seed=11))
    new = population(30, seed=12)
    best = int(np.argmin([c[-1] for c in new]))
    used = {}
    for name, pruner in {
        "cold": BayesianPruner(n_startup_trials=3, n_keep=0),
        "warm": BayesianPruner.from_logs([log], n_startup_trials=1, n_keep=0),
    }.items():
        out = run_sequential(Engine(pruner), new)
        assert not out[f"t{best}"][-1].stops, name
        used[name] = sum(len(ds) for ds in out.values())
        stopped = sum(ds[-1].stops for ds in out.values())
        assert stopped > 0
    assert used["warm"] < used["cold"]


def test_warm_weight_and_window_apply_to_seeded_curves() -> None:
    warm = [[list(range(12)), values, values[-1]] for values in population(10, seed=13)]
    engine = study_with(population(2, seed=14))
    report_partial(engine, "x", curve(0.5, 0.8, 0.4, 12, 0.01, 5)[:4])
    trial = engine.study.trial("x")
    full = BayesianPruner(warm_start=warm).predict(trial, engine.study)
    assert full is not None and full.n_peers == 12
    windowed = BayesianPruner(warm_start=warm, window=5).predict(trial, engine.study)
    assert windowed is not None and windowed.n_peers == 5
    # Effective peers: 2 + 10 * 0.05 = 2.5 < MIN_PEERS = 3, then 2 + 10 * 0.2 = 4.
    assert BayesianPruner(warm_start=warm, warm_weight=0.05).predict(trial, engine.study) is None
    light = BayesianPruner(warm_start=warm, warm_weight=0.2).predict(trial, engine.study)
    assert light is not None and light.n_peers == 12
    assert light.scale != full.scale


# ----------------------------------------------------------- multi-objective


def _pareto_study() -> Engine:
    """Completed trials: accuracy-like loss curves plus a known model size in params."""
    engine = Engine(hpprune.NoPruning())
    for i, values in enumerate(population(12, seed=15)):
        engine.add_trial(f"p{i}", {"size": 10 + 10 * i})
        report_partial(engine, f"p{i}", values)
        engine.complete(f"p{i}")
    return engine


def test_pareto_mode_decides_on_not_being_dominated() -> None:
    engine = _pareto_study()
    pruner = BayesianPruner(n_keep=0, pareto={"size": "minimize"})
    single = BayesianPruner(n_keep=0)
    bad = curve(3.0, 1.0, 0.4, 12, 0.01, 99)[:5]
    # Smaller than every completed model: nothing can dominate it, so it is never stopped,
    # although on the loss alone it is hopeless.
    engine.add_trial("tiny", {"size": 1})
    report_partial(engine, "tiny", bad)
    tiny = engine.study.trial("tiny")
    assert single.decide(tiny, engine.study).stops
    d = pruner.decide(tiny, engine.study)
    assert (d.action, d.reason) == (Action.CONTINUE, Reason.OK)
    assert d.evidence["p_improve"] == 1.0
    # Larger than all of them: dominated unless its loss beats the best completed one.
    engine.add_trial("huge", {"size": 1000})
    report_partial(engine, "huge", bad)
    d = pruner.decide(engine.study.trial("huge"), engine.study)
    assert d.stops and d.evidence["incumbent"] == engine.study.incumbent()


def test_pareto_incumbent_is_best_final_among_dominating_trials() -> None:
    engine = _pareto_study()
    pruner = BayesianPruner(n_keep=0, pareto={"size": "minimize"})
    engine.add_trial("mid", {"size": 45})  # dominated on size only by p0..p3 (10..40)
    report_partial(engine, "mid", curve(0.5, 0.8, 0.4, 12, 0.01, 3)[:5])
    pred = pruner.predict(engine.study.trial("mid"), engine.study)
    finals = [engine.study.trial(f"p{i}").final_score for i in range(4)]
    assert pred is not None and pred.incumbent == min(f for f in finals if f is not None)
    # A maximised extra objective flips the dominance test.
    flipped = BayesianPruner(n_keep=0, pareto={"size": "maximize"})
    pred2 = flipped.predict(engine.study.trial("mid"), engine.study)
    finals2 = [engine.study.trial(f"p{i}").final_score for i in range(4, 12)]
    assert pred2 is not None and pred2.incumbent == min(f for f in finals2 if f is not None)


def test_pareto_mode_without_the_objective_in_params_continues() -> None:
    engine = _pareto_study()
    report_partial(engine, "anon", curve(3.0, 1.0, 0.4, 12, 0.01, 99)[:5])
    d = BayesianPruner(n_keep=0, pareto={"size": "minimize"}).decide(
        engine.study.trial("anon"), engine.study
    )
    assert d.action is Action.CONTINUE and "pareto" in d.evidence


# ---------------------------------------------------------------- model


def test_fit_survives_degenerate_peers() -> None:
    flat = np.ones((4, 5))
    fit = cm.fit(flat, np.ones(5))
    assert fit is not None
    loc, scale = fit.predict(np.array([1.0, 1.0, 0.0]))
    assert loc == pytest.approx(1.0) and scale > 0
    assert cm.fit(flat, np.zeros(5)) is None
    single = cm.fit(np.array([[0.5], [0.6], [0.01], [0.4]]), np.ones(1))
    assert single is not None and math.isfinite(single.predict(np.array([0.5, 0.6, 0.0]))[1])


def test_engine_log_records_stop_evidence(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    engine = Engine(BayesianPruner(n_startup_trials=3, n_keep=0), log=log)
    out = run_sequential(engine, [*population(6, seed=16), curve(3.0, 1.0, 0.4, 12, 0.01, 1)])
    engine.close()
    assert out["t6"][-1].stops
    records = [json.loads(line) for line in log.read_text().splitlines()]
    stops = [r for r in records if r.get("decision", {}).get("action") == "stop"]
    assert stops and stops[-1]["decision"]["reason"] == "posterior_low"
    assert stops[-1]["decision"]["evidence"]["n_peers"] >= 3


# ------------------------------------------------------ calibration bench


def test_reliability_table_and_ece() -> None:
    from hpprune.bench.calibration import pit_error, reliability

    p = np.array([0.05] * 10 + [0.95] * 10 + [math.nan])
    y = np.array([0] * 9 + [1] + [1] * 10 + [1], dtype=float)
    rel = reliability(p, y)
    assert rel.n == 20
    assert rel.bins[0][2] == rel.bins[9][2] == 10
    assert rel.bins[0][3:] == pytest.approx((0.05, 0.1))
    assert rel.bins[9][3:] == pytest.approx((0.95, 1.0))
    assert rel.ece == pytest.approx(0.05)
    assert "ECE = 0.0500" in rel.markdown()
    assert pit_error(np.linspace(0.0, 1.0, 100001)) < 1e-3
    assert pit_error(np.full(100, 0.5)) > 0.2


def test_heldout_records_on_synthetic_curves() -> None:
    from hpprune.bench.calibration import heldout_records, reliability
    from hpprune.bench.sources import CurveSet

    curves = population(60, n_steps=10, seed=17)
    values = -np.array(curves)  # maximised metric
    cs = CurveSet(
        task="synthetic",
        direction="maximize",
        config_ids=tuple(f"c{i}" for i in range(60)),
        values=values,
        elapsed=None,
        params=None,
        steps=np.arange(1, 11),
    )
    rec = heldout_records(cs, 20, (1, 5, 9), max_queries=30)
    p, y, pit = rec.arrays()
    assert len(p) == 30 * 3 and set(rec.step) == {1, 5, 9}
    assert ((p >= 0) & (p <= 1)).all() and set(y) <= {0.0, 1.0}
    assert ((pit >= 0) & (pit <= 1)).all()
    incumbent = values[:20, -1].max()
    assert y.sum() == 3 * (values[20:50, -1] > incumbent).sum()
    assert reliability(p, y).ece < 0.2


_HAVE_LCBENCH = all(
    (Path(__file__).resolve().parents[2] / "shared" / "data" / "lcbench" / f).is_file()
    for f in ("model.onnx", "encoding.json", "config_space.json")
)


@pytest.mark.skipif(not _HAVE_LCBENCH, reason="LCBench surrogate data not available")
def test_discard_benchmark_smoke() -> None:
    pytest.importorskip("onnxruntime")
    from hpprune.bench.calibration import discard_benchmark

    res = discard_benchmark(
        {"none": hpprune.NoPruning, "bayes": BayesianPruner},
        tasks=("189906",),
        seeds=(0,),
        n_configs=20,
    )
    none, bayes = res
    assert (none.runs, none.discards, none.stopped, none.epochs) == (1, 0, 0, 20 * 52)
    assert bayes.stopped > 0 and bayes.epochs < none.epochs
    assert bayes.per_run_stops == (bayes.stopped,)
