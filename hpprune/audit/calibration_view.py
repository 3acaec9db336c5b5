"""The calibration picture of one study: predicted probabilities vs what happened.

The log keeps a decision's evidence only when the trial is stopped or paused,
so a completed trial's probabilities are not in it; they are recomputed. The
log is folded into a study (with :class:`~hpprune.Engine`, nothing is
re-decided) and the study's posterior pruner (the log's policy when it is a
:class:`~hpprune.BayesianPruner`, else ``BayesianPruner()`` with its
defaults) gives its *prequential* records
(:meth:`~hpprune.BayesianPruner.prequential_records`): for every completed
trial and decision step, the probability of beating the incumbent that the
model fitted on the trials completed before it gives, and whether the final
did beat it. :func:`calibration_view` bins them into a reliability table (10
equal-width bins, observed frequency per bin, expected calibration error)
and adds the recalibration map the pruner learnt from the same records. It
reads records and returns numbers (no I/O); the HTML report draws them.

Only completed trials have an outcome (a stopped trial's final is unknown),
so the picture is conditional on completion; ``n_trials`` says on how many
trials it rests. The probabilities are the model's raw ones: the map is
learnt from these same records, so recalibrated ones would be judged
in-sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CalibrationView", "calibration_view", "reliability_bins"]

N_BINS = 10

MAX_TRIALS = 300
"""Default cap on the completed trials whose records the view computes."""


@dataclass(frozen=True)
class CalibrationView:
    """Reliability of the probabilities a pruner acted on, for completed trials.

    Attributes:
        bins: ``(low, high, n, mean_p, observed)`` per bin (``mean_p`` and
            ``observed`` are NaN for an empty bin).
        ece: Expected calibration error (NaN without any prediction).
        n: Predictions with a known outcome.
        n_trials: Completed trials they come from.
        brier: Mean squared error of the probabilities (NaN without any).
        model: Which pruner's model the probabilities come from.
        recalibration: The map ``(a, b, n_trials)`` it learnt (``logit p' = a + b
            logit p``); None when the records were capped (see ``max_trials``).
    """

    bins: tuple[tuple[float, float, int, float, float], ...]
    ece: float
    n: int
    n_trials: int
    brier: float
    model: str = "BayesianPruner()"
    recalibration: tuple[float, float, int] | None = (0.0, 1.0, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes None)."""

        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "bins": [
                {"low": lo, "high": hi, "n": n, "mean_p": num(mp), "observed": num(fr)}
                for lo, hi, n, mp, fr in self.bins
            ],
            "ece": num(self.ece),
            "n": self.n,
            "n_trials": self.n_trials,
            "brier": num(self.brier),
            "model": self.model,
            "recalibration": None
            if self.recalibration is None
            else {
                "a": self.recalibration[0],
                "b": self.recalibration[1],
                "n_trials": self.recalibration[2],
            },
        }


def reliability_bins(
    p: Sequence[float], outcome: Sequence[float], n_bins: int = N_BINS
) -> tuple[tuple[tuple[float, float, int, float, float], ...], float, float]:
    """Bin probabilities against 0/1 outcomes.

    Args:
        p: Probabilities in [0, 1]; NaN entries are dropped with their outcome.
        outcome: 0 or 1 (or a fraction, e.g. 1/2 for a tie), same length.
        n_bins: Number of equal-width bins (>= 1).

    Returns:
        ``(bins, ece, brier)``: per bin ``(low, high, n, mean_p, observed)``;
        ECE = ``sum_b n_b / n * |mean_p_b - observed_b|`` (NaN when empty).

    Raises:
        ValueError: If the lengths differ or ``n_bins`` < 1.
    """
    if len(p) != len(outcome):
        raise ValueError(f"`p` and `outcome` differ in length ({len(p)} vs {len(outcome)})")
    if n_bins < 1:
        raise ValueError(f"expected an int >= 1 for `n_bins`, got {n_bins}")
    sums = [[0, 0.0, 0.0] for _ in range(n_bins)]
    total, sq = 0, 0.0
    for x, y in zip(p, outcome, strict=True):
        if math.isnan(x):
            continue
        k = min(int(x * n_bins), n_bins - 1)
        sums[k][0] += 1
        sums[k][1] += x
        sums[k][2] += y
        total += 1
        sq += (x - y) ** 2
    bins = []
    ece = 0.0
    for k, (n, sp, sy) in enumerate(sums):
        mp = sp / n if n else math.nan
        fr = sy / n if n else math.nan
        if n:
            ece += n * abs(mp - fr)
        bins.append((k / n_bins, (k + 1) / n_bins, int(n), mp, fr))
    if not total:
        return tuple(bins), math.nan, math.nan
    return tuple(bins), ece / total, sq / total


def calibration_view(
    records: Iterable[Mapping[str, Any]], max_trials: int | None = MAX_TRIALS
) -> CalibrationView:
    """The reliability of the posterior's probabilities on one log's completed trials.

    Args:
        records: The log's records in order (``study`` header first), as
            :func:`hpprune.audit.facts.load_records` returns them.
        max_trials: Above this many completed trials, records come from this
            many evenly spaced ones and the map is not computed (bounded cost
            for large studies; see
            :meth:`~hpprune.BayesianPruner.prequential_records`). None: all.

    Returns:
        The view; empty bins and NaN ECE when no completed trial gave a record.

    Raises:
        LogFormatError: If the log does not start with a study record or is malformed.
    """
    from hpprune.engine import Engine
    from hpprune.pruners.base import NoPruning, policy_from_dict, policy_hash
    from hpprune.pruners.posterior import BayesianPruner

    rows = list(records)
    header = dict(rows[0]) if rows else {}
    policy_dict = header.get("policy")
    pruner: BayesianPruner | None = None
    if isinstance(policy_dict, Mapping) and str(policy_dict.get("type", "")).endswith(
        ".BayesianPruner"
    ):
        built = policy_from_dict(policy_dict)
        pruner = built if isinstance(built, BayesianPruner) else None
    source = "the study's BayesianPruner" if pruner is not None else "BayesianPruner()"
    if rows and header.get("kind") == "study":
        # Fold only, nothing is re-decided: every header (a repeated one too) names NoPruning.
        plain = {"policy": NoPruning().to_dict(), "policy_hash": policy_hash(NoPruning())}
        rows = [{**r, **plain} if r.get("kind") == "study" else r for r in rows]
    engine = Engine.from_records(rows)
    model = pruner if pruner is not None else BayesianPruner()
    capped = max_trials is not None and engine.study.n_completed > max_trials
    recs = model.prequential_records(engine.study, max_trials)
    bins, ece, brier = reliability_bins(
        [r["p_improve_raw"] for r in recs], [r["outcome"] for r in recs]
    )
    recal = None
    if not capped:
        m = model.recalibration(engine.study)
        recal = (m.a, m.b, m.n_trials)
    return CalibrationView(
        bins, ece, len(recs), len({r["trial_id"] for r in recs}), brier, source, recal
    )
