"""Drift detection in BayesianPruner: change tests and re-estimation from the data."""

from __future__ import annotations

import numpy as np
import pytest

from hpprune import BayesianPruner, Engine
from hpprune.pruners import _recalibration as rc


def _seq(before: int, after: int, shift: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0, 1, before), rng.normal(shift, 1, after)])
    return np.column_stack([np.arange(scores.size), scores])


@pytest.mark.parametrize(
    ("before", "after", "shift", "detected"),
    [
        (40, 20, 3.0, True),  # recent trials much worse: detected near position 40
        (40, 20, 0.0, False),  # nothing changes
        (40, 20, -3.0, False),  # recent trials better (an adaptive sampler): not a change
        (5, 3, 5.0, False),  # too few trials to tell
    ],
)
def test_score_shift(before: int, after: int, shift: float, detected: bool) -> None:
    found = rc.score_shift(_seq(before, after, shift), 0.01)
    assert (found is not None) is detected
    if found is not None:
        assert found.kind == "scores"
        assert abs(found.order - before) <= 3
        assert found.p_value < 0.01


def test_score_shift_ignores_the_metric_scale() -> None:
    seq = _seq(40, 20, 3.0)
    squashed = seq.copy()
    squashed[:, 1] = np.exp(seq[:, 1]) * 1e6  # any increasing map: same ranks
    assert rc.score_shift(seq, 0.01) == rc.score_shift(squashed, 0.01)


@pytest.mark.parametrize(("shift", "detected"), [(2.0, True), (0.0, False)])
def test_residual_change_point(shift: float, detected: bool) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for k in range(60):
        mean = shift if k >= 40 else 0.0
        z = rng.normal(mean, 1.0)
        for step in range(3):
            rows.append((k, step, 0.5, 0.0, float(rc.special.ndtr(z))))
    found = rc.change_point(np.array(rows), 0.01)
    assert (found is not None) is detected
    if found is not None:
        assert found.kind in ("location", "scale") and abs(found.order - 40) <= 3


def _curve(final: float, rng: np.random.Generator, n: int = 12) -> list[float]:
    steps = np.arange(1, n + 1)
    return list(final + (1.0 - final) * np.exp(-steps / 3) + rng.normal(0, 0.01, n))


def _run(pruner: BayesianPruner, switch: bool, seed: int = 0) -> Engine:
    """30 trials of task A (loss ~0.2-0.4), then 25 of task B (~1.2-1.4 when switching)."""
    rng = np.random.default_rng(seed)
    engine = Engine(pruner)
    for i in range(55):
        offset = 1.0 if switch and i >= 30 else 0.0
        values = _curve(rng.uniform(0.2, 0.4) + offset, rng)
        for step, v in enumerate(values, start=1):
            if engine.report(f"t{i}", step, v).stops:
                break
        else:
            engine.complete(f"t{i}")
    return engine


def test_pruner_detects_a_task_switch_and_says_so() -> None:
    pruner = BayesianPruner(n_startup_trials=3, n_warmup_steps=3, drift_detection=0.01)
    engine = _run(pruner, switch=True)
    changes = pruner.detected_changes(engine.study)
    assert changes, "the switch at trial 30 was not detected"
    assert abs(changes[-1]["refit_from"] - 30) <= 2
    assert changes[-1]["kind"] == "scores"
    # Re-estimated: task-B trials completed and the incumbent is task B's best.
    done_b = [t for t in engine.study.completed_ids if int(t[1:]) >= 30]
    assert len(done_b) >= 3
    engine.report("probe", 1, 2.0)
    engine.report("probe", 3, 1.4)
    d = engine.report("probe", 4, 1.35)
    assert d.evidence["drift"]["trial_id"] == changes[-1]["trial_id"]
    # The static pruner keeps the old incumbent and stops every task-B trial.
    static = BayesianPruner(n_startup_trials=3, n_warmup_steps=3)
    engine_static = _run(static, switch=True)
    assert [t for t in engine_static.study.completed_ids if int(t[1:]) >= 30] == []


def test_no_change_no_detection() -> None:
    pruner = BayesianPruner(n_startup_trials=3, n_warmup_steps=3, drift_detection=0.01)
    engine = _run(pruner, switch=False)
    assert pruner.detected_changes(engine.study) == ()
    assert BayesianPruner().detected_changes(engine.study) == ()


@pytest.mark.parametrize(("bad", "error"), [(0.0, ValueError), (0.7, ValueError), ("x", TypeError)])
def test_bad_drift_detection_is_named(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="drift_detection"):
        BayesianPruner(drift_detection=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------- warm start
def _warm(offset: float, n: int = 20, seed: int = 3) -> list[list[object]]:
    """Borrowed curves (canonical) like `_curve`'s, shifted by `offset`."""
    rng = np.random.default_rng(seed)
    out: list[list[object]] = []
    for _ in range(n):
        values = _curve(rng.uniform(0.2, 0.4) + offset, rng)
        out.append([list(range(1, 13)), values, values[-1]])
    return out


@pytest.mark.parametrize(
    ("offset", "dropped"),
    [(0.0, False), (50.0, True)],  # same task / a metric on another scale
)
def test_borrowed_curves_are_dropped_when_the_study_is_not_like_them(
    offset: float, dropped: bool
) -> None:
    pruner = BayesianPruner(n_startup_trials=0, n_warmup_steps=3, warm_start=_warm(offset))
    engine = _run(pruner, switch=False)
    got = pruner.warm_start_dropped(engine.study)
    assert (got is not None) is dropped
    if got is not None:
        assert got["n_own"] == 5  # found at the first trials it may look at
        assert got["n_borrowed"] == 20
        # every later decision with the model says so
        engine.report("probe", 1, 0.9)
        engine.report("probe", 3, 0.5)
        d = engine.report("probe", 4, 0.5)
        assert d.evidence["warm_start_dropped"] == got


def test_dropped_borrowed_curves_no_longer_shape_predictions() -> None:
    far = _warm(50.0)
    kept = BayesianPruner(n_startup_trials=0, n_warmup_steps=3, warm_start=far, warm_check=None)
    checked = BayesianPruner(n_startup_trials=0, n_warmup_steps=3, warm_start=far)
    cold = BayesianPruner(n_startup_trials=0, n_warmup_steps=3)
    engine = _run(cold, switch=False)
    engine.report("probe", 1, 0.9)
    engine.report("probe", 4, 0.5)
    trial = engine.study.trial("probe")
    p_cold = cold.predict(trial, engine.study)
    p_checked = checked.predict(trial, engine.study)
    p_kept = kept.predict(trial, engine.study)
    assert p_cold is not None and p_checked is not None and p_kept is not None
    assert (p_checked.mean, p_checked.std) == pytest.approx((p_cold.mean, p_cold.std))
    assert p_kept.std > 10 * p_cold.std  # the far curves blow up the unchecked model


def test_borrowed_mismatch_is_rank_based() -> None:
    rng = np.random.default_rng(0)
    borrowed = rng.normal(0, 1, 30)
    same = rng.normal(0, 1, 40)
    assert rc.borrowed_mismatch(borrowed, same, 0.01) is None
    found = rc.borrowed_mismatch(borrowed, same * 0.01 + 100.0, 0.01)
    assert found is not None and found[0] == rc.MIN_TRIALS
