"""Every policy the conformance suite runs, by name.

Add one entry per policy configuration (a zero-argument factory). The
conformance suite (tests/test_conformance.py) and the front-door parity tests
iterate over this table.
"""

from __future__ import annotations

from collections.abc import Callable

import hpprune
from hpprune.pruners.base import Policy

POLICY_CASES: dict[str, Callable[[], Policy]] = {
    "nopruning": lambda: hpprune.NoPruning(),
    "median": lambda: hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "percentile25": lambda: hpprune.PercentilePruner(25.0, n_startup_trials=3, interval_steps=2),
    "anyof-median-percentile": lambda: hpprune.AnyOf(
        [
            hpprune.MedianPruner(n_startup_trials=3),
            hpprune.PercentilePruner(10.0, n_startup_trials=2),
        ]
    ),
    "allof-median-percentile": lambda: hpprune.AllOf(
        [
            hpprune.MedianPruner(n_startup_trials=3),
            hpprune.PercentilePruner(75.0, n_startup_trials=2),
        ]
    ),
    # --- halving ---
    "sha-r3": lambda: hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    "sha-auto-rate1": lambda: hpprune.SuccessiveHalvingPruner(
        "auto", reduction_factor=2, min_early_stopping_rate=1
    ),
    "sha-bootstrap": lambda: hpprune.SuccessiveHalvingPruner(2, 2, bootstrap_count=1),
    "hyperband-9": lambda: hpprune.HyperbandPruner(1, 9, reduction_factor=3),
    "hyperband-auto": lambda: hpprune.HyperbandPruner(1, "auto", reduction_factor=2),
    # --- guards ---
    "patient-alone": lambda: hpprune.PatientPruner(None, patience=2),
    "patient-median": lambda: hpprune.PatientPruner(
        hpprune.MedianPruner(n_startup_trials=3), patience=1, min_delta=0.01
    ),
    # Symmetric bounds and a zero floor keep these direction-symmetric on negated streams.
    "threshold": lambda: hpprune.ThresholdPruner(lower=-1.2, upper=1.2, n_warmup_steps=2),
    "keep-top-k-floor": lambda: hpprune.KeepTopK(
        hpprune.MinimumAccuracyPruner(0.0, by_step=4), n_keep=3
    ),
    "keep-diverse-sha": lambda: hpprune.KeepDiverse(
        hpprune.SuccessiveHalvingPruner(1, 2), by=["region"], n_keep_per_group=1
    ),
    "anyof-threshold-hyperband": lambda: hpprune.AnyOf(
        [hpprune.ThresholdPruner(-2.0, 2.0), hpprune.HyperbandPruner(1, 27, 3)]
    ),
    # --- posterior ---
    "bayesian": lambda: hpprune.BayesianPruner(n_startup_trials=3),
    "bayesian-window-forget": lambda: hpprune.BayesianPruner(
        alpha=0.1, n_startup_trials=2, n_warmup_steps=1, window=6, forgetting=0.9, n_keep=0
    ),
    "bayesian-warm-delta": lambda: hpprune.BayesianPruner(
        n_startup_trials=1,
        min_delta=0.01,
        interval_steps=2,
        warm_start=[[[0, 1, 2, 3], [1.5, 1.2, 1.0, 0.9], 0.8], [[0, 1, 2], [0.9, 0.7, 0.6], 0.5]]
        * 2,
        warm_weight=0.5,
    ),
    "bayesian-drift": lambda: hpprune.BayesianPruner(n_startup_trials=2, drift_detection=0.2),
    "default": lambda: hpprune.default_policy(max_step=11),
    "default-no-horizon": lambda: hpprune.default_policy(),
    "default-stop-only": lambda: hpprune.default_policy(max_step=11, pause=False),
    "freeze-thaw-fixed": lambda: hpprune.FreezeThawPruner(min_resource=2, reduction_factor=2),
    "conservative": lambda: hpprune.conservative_policy(max_step=11),
    # --- scheduler ---
    "scheduler-median": lambda: hpprune.ResourceScheduler(
        hpprune.MedianPruner(n_startup_trials=3), max_step=11
    ),
    "scheduler-budget": lambda: hpprune.ResourceScheduler(
        hpprune.NoPruning(), budget_hours=60 / 3600, max_concurrent=2, pause_margin=1.5
    ),
}
