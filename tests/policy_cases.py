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
        [hpprune.MedianPruner(n_startup_trials=3), hpprune.PercentilePruner(10.0, n_startup_trials=2)]
    ),
    "allof-median-percentile": lambda: hpprune.AllOf(
        [hpprune.MedianPruner(n_startup_trials=3), hpprune.PercentilePruner(75.0, n_startup_trials=2)]
    ),
    # --- halving ---
    # --- guards ---
    # --- posterior ---
    # --- scheduler ---
    "scheduler-median": lambda: hpprune.ResourceScheduler(
        hpprune.MedianPruner(n_startup_trials=3), max_step=11
    ),
    "scheduler-budget": lambda: hpprune.ResourceScheduler(
        hpprune.NoPruning(), budget_hours=60 / 3600, max_concurrent=2, pause_margin=1.5
    ),
}
