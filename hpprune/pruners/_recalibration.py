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
        q = min(max(q, P_CLIP), 1.0 - P_CLIP)
        return float(special.expit((math.log(q / (1.0 - q)) - self.a) / self.b))


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
