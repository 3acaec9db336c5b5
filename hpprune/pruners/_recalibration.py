"""Recalibration of the posterior pruner's probabilities from the study's own trials.

Used by :class:`hpprune.pruners.posterior.BayesianPruner`. Pure numpy, no I/O.

**Records.** Every completed trial ``k`` gives, at each step ``t`` where the
pruner decides, a *prequential* record: the model is fitted at ``t`` on the
trials that completed before ``k`` (the peers the pruner had then), and it
predicts ``k``'s final score from ``k``'s curve at ``t``. The record holds the
probability ``p`` the pruner would have acted on (``P(final < incumbent -
min_delta)`` with the incumbent of that moment), the outcome ``y`` (did ``k``
finish better than that?), and the probability integral transform
``u = P(final <= observed final)`` of the whole predictive.

**Drift.** :func:`score_shift` and :func:`change_point` test whether the
recent trials differ from the earlier ones (their scores at the first
decision step; the predictive's residuals on completed trials).

**Map.** Monotone logistic recalibration ``logit p' = a + b logit p`` (``b >= 0``),
fitted by penalised maximum likelihood on the records (weights: the peers'
window/forgetting weights; the records of one trial share one unit of weight,
because they share one outcome), with Gaussian priors centred on the identity
(``a = 0``, ``b = 1``, precisions :data:`PRIOR_PRECISION`), and only once
:data:`MIN_TRIALS` trials gave records. Because the map is monotone in ``p``
and applies to the predictive CDF at any threshold, it also gives a
recalibrated CDF, quantiles and credible bounds; it is fitted at the
incumbent, so it is most accurate there (where the pruner acts).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]

PRIOR_PRECISION = (0.1, 1.0)
"""Precisions of the Gaussian priors on ``a`` (around 0) and ``b`` (around 1), in trials."""

P_CLIP = 1e-9
"""Probabilities are clipped to ``[P_CLIP, 1 - P_CLIP]`` before the logit."""

MIN_TRIALS = 5
"""Fewest completed trials with records before the map leaves the identity (minimum evidence)."""

MIN_B = 1e-3
"""Smallest slope ``b`` (the map stays strictly increasing)."""

_NEWTON_STEPS = 50


@dataclass(frozen=True)
class Recalibration:
    """A monotone map of probabilities ``logit p' = a + b logit p``.

    Attributes:
        a: Intercept (0 for the identity).
        b: Slope (> 0; 1 for the identity).
        n_records: Records the map was fitted on (0: the identity).
        n_trials: Distinct completed trials behind those records.
    """

    a: float = 0.0
    b: float = 1.0
    n_records: int = 0
    n_trials: int = 0

    @property
    def is_identity(self) -> bool:
        """True when the map leaves every probability unchanged."""
        return self.a == 0.0 and self.b == 1.0

    def apply(self, p: float) -> float:
        """The recalibrated probability (NaN stays NaN; identity returns ``p`` itself)."""
        if self.is_identity or math.isnan(p):
            return p
        q = min(max(p, P_CLIP), 1.0 - P_CLIP)
        return float(special.expit(self.a + self.b * math.log(q / (1.0 - q))))

    def inverse(self, q: float) -> float:
        """The raw probability whose recalibrated value is ``q`` (0 < q < 1)."""
        if self.is_identity:
            return q
        q = min(max(q, 1e-300), 1.0 - 1e-16)
        return float(special.expit((math.log(q) - math.log1p(-q) - self.a) / self.b))


IDENTITY = Recalibration()


def fit_recalibration(
    p: FloatArray, y: FloatArray, weights: FloatArray, n_trials: int
) -> Recalibration:
    """Fit the monotone logistic map on records (see the module docstring).

    Args:
        p: Raw probabilities of the records (finite, in [0, 1]).
        y: Outcomes (0 or 1).
        weights: Non-negative record weights.
        n_trials: Distinct trials behind the records (reported only).

    Returns:
        The map; the identity when no record has a positive weight or fewer
        than :data:`MIN_TRIALS` trials are behind the records.
    """
    keep = weights > 0
    if not keep.any() or n_trials < MIN_TRIALS:
        return IDENTITY
    p, y, w = p[keep], y[keep], weights[keep]
    q = np.clip(p, P_CLIP, 1.0 - P_CLIP)
    x = np.log(q / (1.0 - q))
    prior = np.array([0.0, 1.0])
    theta = prior.copy()
    lam = np.array(PRIOR_PRECISION)
    for _ in range(_NEWTON_STEPS):
        z = theta[0] + theta[1] * x
        mu = special.expit(z)
        r = w * (y - mu)
        g = np.array([r.sum(), r @ x]) - lam * (theta - prior)
        h = w * mu * (1.0 - mu)
        hx = h @ x
        hess = np.array([[h.sum() + lam[0], hx], [hx, h @ (x * x) + lam[1]]])
        delta = np.linalg.solve(hess, g)
        theta = theta + delta
        theta[1] = max(theta[1], MIN_B)
        if float(np.abs(delta).max()) < 1e-10:
            break
    if not np.isfinite(theta).all():
        return IDENTITY
    return Recalibration(float(theta[0]), float(theta[1]), int(keep.sum()), n_trials)


# ------------------------------------------------------------------- drift
MAX_CHANGES = 5
"""Most change points searched for one after the other (binary segmentation on the right)."""

MIN_DRIFT_TRIALS = 2 * MIN_TRIALS
"""Fewest trials with records before a change can be detected."""

Z_CLIP = 5.0
"""Bound on the probit of a PIT value (a final far outside the predictive)."""


@dataclass(frozen=True)
class Change:
    """A detected change in the predictive's residuals.

    Attributes:
        order: The first trial after the change: its completed-trial order
            (:func:`change_point`) or its position (:func:`score_shift`).
        kind: ``"location"`` (finals systematically above/below the predictions),
            ``"scale"`` (residuals systematically larger/smaller) or ``"scores"``
            (recent trials' scores worse than earlier ones).
        statistic: The CUSUM statistic (sup of the standardised bridge).
        p_value: Its p-value (Kolmogorov limit, times 2 for the two tests).
    """

    order: int
    kind: str
    statistic: float
    p_value: float


def change_point(records: FloatArray, level: float) -> Change | None:
    """CUSUM test for a change in the predictive's residuals over completed trials.

    Each completed trial's records (columns ``order, step, p, y, u``) give one
    residual: the mean over its decision steps of ``probit(u)``, ``u`` the PIT
    of its final under the prequential predictive (standard normal when the
    model is calibrated and nothing changes). Over the trials in completion
    order, the CUSUM statistic ``max_k |S_k - k/n S_n| / (sd sqrt(n))`` of the
    residuals (location) and of their absolute values (scale) is compared with
    the Kolmogorov distribution (the limit of the sup of a Brownian bridge),
    each at ``level / 2`` (Bonferroni). The test runs on every prefix of the
    trials (in completion order), so a change once detected stays detected;
    the change is placed after the ``k`` where the whole series' bridge is
    largest.

    Args:
        records: ``[n, 5]`` records (NaN-free), any number of trials.
        level: Significance level in (0, 0.5].

    Returns:
        The change, or None (fewer than :data:`MIN_DRIFT_TRIALS` trials, or
        not significant).
    """
    if records.shape[0] == 0:
        return None
    orders, inverse = np.unique(records[:, 0], return_inverse=True)
    n = orders.size
    if n < MIN_DRIFT_TRIALS:
        return None
    u = np.clip(records[:, 4], special.ndtr(-Z_CLIP), special.ndtr(Z_CLIP))
    z = np.clip(special.ndtri(u), -Z_CLIP, Z_CLIP)
    counts = np.bincount(inverse, minlength=n)
    resid = np.bincount(inverse, weights=z, minlength=n) / counts
    best: Change | None = None
    for kind, series in (("location", resid), ("scale", np.abs(resid))):
        found = _first_crossing(series, level / 2, one_sided=False)
        if found is not None and (best is None or found[2] < best.p_value):
            k, stat, p_value = found
            best = Change(int(orders[k + 1]), kind, stat, 2.0 * p_value)
    return best


def _first_crossing(
    series: FloatArray, level: float, one_sided: bool
) -> tuple[int, float, float] | None:
    """CUSUM over every prefix of ``series``; the first prefix whose p-value is below ``level``.

    Returns:
        ``(k, statistic, p_value)`` of the first significant prefix, with the
        change placed after element ``k`` by the bridge of the whole series;
        None if no prefix of at least :data:`MIN_DRIFT_TRIALS` elements is
        significant.
    """
    total = np.cumsum(series)
    for m in range(MIN_DRIFT_TRIALS, series.size + 1):
        sd = float(series[:m].std(ddof=1))
        if not sd > 0:
            continue
        bridge = total[: m - 1] - total[m - 1] * np.arange(1, m) / m
        if one_sided:
            k = int(np.argmin(bridge))
            stat = float(max(0.0, -bridge[k]) / (sd * math.sqrt(m)))
            p_value = math.exp(-2.0 * stat * stat)
        else:
            k = int(np.argmax(np.abs(bridge)))
            stat = float(abs(bridge[k]) / (sd * math.sqrt(m)))
            p_value = float(special.kolmogorov(stat))
        if p_value < level:
            # Placed where the whole series puts it (more data than the first prefix).
            bridge = total[:-1] - total[-1] * np.arange(1, series.size) / series.size
            k = int(np.argmin(bridge) if one_sided else np.argmax(np.abs(bridge)))
            return k, stat, p_value
    return None


def score_shift(seq: FloatArray, level: float) -> Change | None:
    """One-sided CUSUM test: did the recent trials' scores at one step get worse?

    ``seq`` holds ``(position, canonical score)`` of every trial that reported
    the step, in the order the trials were first seen. Each score gets its
    *sequential* mid-rank among the scores before it, ``u_i = (#lower + #equal / 2
    + 1/2) / (i + 1)``; when the trials are exchangeable (nothing changes) the
    sequential ranks are independent and uniform, whatever the metric's
    distribution. A rise of ``probit(u)`` (recent trials worse than earlier
    ones: another task, a slower curve shape) is tested with the one-sided
    CUSUM statistic ``max_k -B_k / (sd sqrt(n))``, ``B`` the centred partial
    sums, whose p-value is ``exp(-2 c^2)`` (sup of a Brownian bridge), on
    every prefix of the sequence (so a change once detected stays detected;
    the change is placed at the minimum of the whole sequence's bridge). Recent
    trials getting *better* (an adaptive sampler at work) is not a change here.

    Args:
        seq: ``[n, 2]`` array of positions and finite canonical scores.
        level: Significance level.

    Returns:
        The change (``order`` = position of the first trial after it, ``kind``
        ``"scores"``), or None.
    """
    n = seq.shape[0]
    if n < MIN_DRIFT_TRIALS:
        return None
    scores = seq[:, 1]
    seen: list[float] = []
    u = np.empty(n)
    for i, x in enumerate(scores):
        lower = bisect.bisect_left(seen, x)
        equal = bisect.bisect_right(seen, x) - lower
        u[i] = (lower + 0.5 * equal + 0.5) / (i + 1)
        bisect.insort(seen, x)
    found = _first_crossing(special.ndtri(u), level, one_sided=True)
    if found is None:
        return None
    k, stat, p_value = found
    return Change(int(seq[k + 1, 0]), "scores", stat, p_value)


# ------------------------------------------------------------ warm start
MAX_WARM_CHECK = 100
"""The borrowed-curves check looks at the study's first this many trials."""


def borrowed_mismatch(
    borrowed: FloatArray, own: FloatArray, level: float
) -> tuple[int, float] | None:
    """Do the study's own trials come from another distribution than the borrowed curves?

    Two-sided Mann-Whitney test (normal approximation with tie correction)
    between the borrowed curves' scores at one step and the study's own
    trials' scores at that step, on every prefix of the own trials (in the
    order they were first seen) of :data:`MIN_TRIALS` to
    :data:`MAX_WARM_CHECK` trials, so a mismatch once found stays found.
    Rank-based: any metric scale works, and a different scale (a fraction
    against a percentage, another task family) is found after a few trials.

    Args:
        borrowed: Scores of the warm-start curves at the step.
        own: Scores of this study's trials at the step, in the order first seen.
        level: Significance level.

    Returns:
        ``(n_own, p_value)`` at the first significant prefix, or None.
    """
    m = borrowed.size
    if m < MIN_TRIALS:
        return None
    for n in range(MIN_TRIALS, min(own.size, MAX_WARM_CHECK) + 1):
        pooled = np.concatenate([borrowed, own[:n]])
        ranks = _midranks(pooled)
        u = float(ranks[m:].sum()) - n * (n + 1) / 2.0
        _, counts = np.unique(pooled, return_counts=True)
        total = m + n
        ties = float((counts**3 - counts).sum()) / (total * (total - 1))
        var = m * n / 12.0 * ((total + 1) - ties)
        if not var > 0:
            continue
        z = (u - m * n / 2.0) / math.sqrt(var)
        p_value = float(2.0 * special.ndtr(-abs(z)))
        if p_value < level:
            return n, p_value
    return None


def _midranks(x: FloatArray) -> FloatArray:
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    ranks = np.empty(x.size)
    i = 0
    while i < x.size:
        j = i
        while j + 1 < x.size and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks
