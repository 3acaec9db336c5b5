"""Predictive model of a trial's final score from its partial learning curve.

Used by :class:`hpprune.pruners.posterior.BayesianPruner`. Everything here is
closed-form linear algebra on small matrices, vectorised over peers with numpy.

The model (chosen by measurement, see ``docs/posterior.md``) is a Bayesian
linear regression with a heteroscedastic noise scale, fitted separately at every
step ``t`` on the peers that completed after reporting ``t``:

* Features of a curve at step ``t`` (canonical scores, lower is better):
  ``b`` = best score so far, ``y`` = score at ``t``, ``d`` = change over the last
  :data:`RECENT` reports (``y`` minus the score that many reports earlier).
* Standardisation by ``mu``/``sd``, the (weighted) mean of the peers' ``b`` and
  the larger of the standard deviations of their ``b`` and ``F``. Design row
  ``x = [1, (b - mu)/sd, (y - mu)/sd, d/sd]``; target ``f = (F - mu)/sd``.
* Noise: ``f = x.beta + eps``, ``eps ~ N(0, sigma^2 v(x))`` with
  ``v(x) = exp(g * (b - mu)/sd)``.
* Stage 1: ridge posterior mean of ``beta`` (prior ``N(m0, 1/PRIOR_PRECISION)``,
  ``m0 = [0, 1, 0, 0]``: "the final score equals the best so far"); the slope
  ``g`` comes from a ridge regression of the log squared leave-one-out residuals
  on ``(b - mu)/sd``.
* Stage 2: conjugate Normal-Inverse-Gamma update for ``sigma^2`` with weights
  ``1/v``; the prior is ``InvGamma(PRIOR_A, PRIOR_A * PRIOR_VAR * tau^2)`` where
  ``tau^2`` is the peers' mean squared remaining change ``(F - b)^2`` (so the
  prior noise shrinks with the remaining change as ``t`` grows).
* Stage 3: given ``sigma^2 = b_n/a_n``, the coefficients' Gaussian posterior
  under an *independent* prior ``N(m0, COEF_VAR)``. Unlike the conjugate prior,
  this keeps coefficient uncertainty when the peers' noise is small, so a trial
  whose features lie outside the peers' range (e.g. a steeper recent trend) gets
  a wide prediction.
* Predictive of a new curve's final score: Student-t with ``2 a_n`` degrees of
  freedom, location ``x.m`` and squared scale ``sigma^2 v(x) + x' S x``
  (``S`` the coefficient covariance).

Peers carry weights (rolling window, forgetting factor, warm-start weight);
the posterior uses weighted sufficient statistics, and ``a_n`` grows with the
sum of the weights (the effective number of peers).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RECENT = 3
"""Number of reports back over which the recent change ``d`` is measured."""

PRIOR_PRECISION = 1.0
"""Prior precision of each regression coefficient, in units of one peer."""

PRIOR_A = 1.0
"""Shape of the inverse-gamma prior on the noise variance (pseudo-peers / 2)."""

PRIOR_VAR = 0.3
"""Prior guess of the noise variance, as a fraction of the peers' mean ``(F - b)^2``."""

COEF_VAR = 4.0
"""Prior variance of each standardised coefficient in the final (plug-in) stage."""

VAR_RIDGE = 4.0
"""Ridge penalty (in peers) that shrinks the log-variance slope towards 0."""

VAR_CLIP = 4.0
"""Bound on ``|g * (b - mu)/sd|`` (the variance ratio stays within e^±4)."""


MIN_WEIGHT = 1e-9
"""Peers with a smaller weight are left out of a fit."""

N_FEATURES = 4
_M0 = np.array([0.0, 1.0, 0.0, 0.0])
_EYE = np.eye(N_FEATURES)

FloatArray = npt.NDArray[np.float64]


def curve_features(steps: Sequence[int], scores: Sequence[float], step: int) -> FloatArray | None:
    """Features ``(b, y, d)`` of a curve at exactly ``step``.

    Args:
        steps: Increasing steps of the curve's finite reports.
        scores: Canonical scores at those steps (finite).
        step: The step; the curve must have a report there.

    Returns:
        ``[b, y, d]`` or None if the curve did not report ``step``.
    """
    i = bisect.bisect_left(steps, step)
    if i >= len(steps) or steps[i] != step:
        return None
    y = scores[i]
    b = min(scores[: i + 1])
    j = max(0, i - RECENT)
    return np.array([b, y, y - scores[j]])


def last_features(steps: Sequence[int], scores: Sequence[float]) -> FloatArray:
    """Features ``(b, y, d)`` of a curve at its last finite report (not empty)."""
    i = len(scores) - 1
    j = max(0, i - RECENT)
    return np.array([min(scores), scores[i], scores[i] - scores[j]])


@dataclass(frozen=True)
class Fit:
    """Posterior of the final-score regression at one step.

    Attributes:
        mu: Standardisation offset (weighted mean of the peers' ``b``).
        sd: Standardisation scale (> 0).
        mean: Posterior mean of the coefficients ``m_n``.
        cov: ``V_n`` (coefficient covariance divided by sigma^2).
        g: Log-variance slope.
        a: Posterior shape ``a_n``.
        b: Posterior rate ``b_n``.
        n_peers: Number of peers with a positive weight.
        n_eff: Sum of the peers' weights.
    """

    mu: float
    sd: float
    mean: FloatArray
    cov: FloatArray
    g: float
    a: float
    b: float
    n_peers: int
    n_eff: float

    @property
    def dof(self) -> float:
        """Degrees of freedom of the Student-t predictive."""
        return 2.0 * self.a

    def predict(self, features: FloatArray) -> tuple[float, float]:
        """Location and scale (canonical units) of the Student-t predictive.

        Args:
            features: ``[b, y, d]`` of the curve at the fitted step.

        Returns:
            ``(loc, scale)``; the predictive is ``loc + scale * T(dof)``.
        """
        zb = (features[0] - self.mu) / self.sd
        x = np.array([1.0, zb, (features[1] - self.mu) / self.sd, features[2] / self.sd])
        v = math.exp(min(VAR_CLIP, max(-VAR_CLIP, self.g * zb)))
        loc = float(x @ self.mean)
        s2 = self.b / self.a * (v + float(x @ self.cov @ x))
        return self.mu + self.sd * loc, self.sd * math.sqrt(max(s2, 1e-300))


def fit(cols: FloatArray, weights: FloatArray) -> Fit | None:
    """Fit the posterior; None when there is no peer or the algebra degenerates.

    See :func:`_fit` for the arguments.
    """
    try:
        out = _fit(cols, weights)
    except np.linalg.LinAlgError:
        return None
    if out is None or not (
        math.isfinite(out.b)
        and out.b > 0
        and np.isfinite(out.mean).all()
        and np.isfinite(out.cov).all()
        and math.isfinite(out.g)
    ):
        return None
    return out


def _fit(cols: FloatArray, weights: FloatArray) -> Fit | None:
    """Fit the posterior from peers' columns ``[b, y, d, F]`` and their weights.

    Args:
        cols: ``[4, n]`` array (one row per quantity, one column per peer) of
            finite canonical features and final scores.
        weights: ``[n]`` non-negative weights.

    Returns:
        The posterior, or None when no peer has a weight above :data:`MIN_WEIGHT`.
    """
    keep = weights > MIN_WEIGHT
    if not keep.all():
        cols, weights = cols[:, keep], weights[keep]
    n = cols.shape[1]
    if n == 0:
        return None
    w = weights
    sw = float(w.sum())
    b, y, d, final = cols
    mu = float(w @ b) / sw
    var_b = float(w @ (b - mu) ** 2) / sw
    var_f = float(w @ (final - float(w @ final) / sw) ** 2) / sw
    # Scale: the peers' spread; if they agree exactly, the size of their changes.
    sd = math.sqrt(max(var_b, var_f))
    if not sd > 1e-9 * max(1.0, abs(mu)):
        sd = math.sqrt(max(float(w @ ((final - b) ** 2 + d * d + (y - b) ** 2)) / sw, var_b))
    if not sd > 1e-9 * max(1.0, abs(mu)):
        sd = max(1.0, abs(mu))  # every peer is the same flat curve
    inv = 1.0 / sd
    zb = (b - mu) * inv
    xt = np.empty((N_FEATURES, n))  # design, transposed: one row per feature
    xt[0] = 1.0
    xt[1] = zb
    xt[2] = (y - mu) * inv
    xt[3] = d * inv
    f = (final - mu) * inv

    lam0 = PRIOR_PRECISION * _EYE
    prior_term = PRIOR_PRECISION * _M0

    # Stage 1: homoscedastic posterior mean, leave-one-out residuals, log-variance slope.
    xw = xt * w
    cov1 = np.linalg.inv(lam0 + xw @ xt.T)
    beta1 = cov1 @ (prior_term + xw @ f)
    lev = w * ((cov1 @ xt) * xt).sum(axis=0)
    r = (f - beta1 @ xt) / np.maximum(1.0 - lev, 0.05)
    lr = np.log(r * r + 1e-8)
    lr_mean = float(w @ lr) / sw
    zb_w = w * zb
    g = float(zb_w @ (lr - lr_mean)) / (float(zb_w @ zb) + VAR_RIDGE)

    # Stage 2: noise variance sigma^2 * v(x); conjugate NIG update for sigma^2, whose
    # prior scale is PRIOR_VAR times the peers' mean squared change (F - b)^2 after t.
    inv_v = np.exp(np.maximum(np.minimum(-g * zb, VAR_CLIP), -VAR_CLIP))
    w2 = w * inv_v
    xw2 = xt * w2
    xtx = xw2 @ xt.T
    xtf = xw2 @ f
    prec = lam0 + xtx
    xty = prior_term + xtf
    mean2 = np.linalg.solve(prec, xty)
    tau2 = max(float(w @ ((f - zb) ** 2)) / sw, 1e-12)
    a_n = PRIOR_A + 0.5 * sw
    b_n = PRIOR_A * PRIOR_VAR * tau2 + 0.5 * max(
        float(w2 @ (f * f)) + PRIOR_PRECISION * float(_M0 @ _M0) - float(mean2 @ xty), 0.0
    )
    s2 = b_n / a_n

    # Stage 3: coefficients under an independent prior N(m0, COEF_VAR) given sigma^2 = s2,
    # so a trial whose features lie outside the peers' range gets a wide prediction
    # even when the peers' noise is small.
    cov_abs = np.linalg.inv(_EYE / COEF_VAR + xtx / s2)
    mean = np.asarray(cov_abs @ (_M0 / COEF_VAR + xtf / s2), dtype=np.float64)
    cov = np.asarray(cov_abs / s2, dtype=np.float64)
    return Fit(mu, sd, mean, cov, g, a_n, b_n, n, sw)
