"""Freeze-thaw successive halving: FreezeThawPruner.

Rung ``k`` sits at step ``first_rung * reduction_factor ** k`` (integer
arithmetic), below the horizon (the last step of a full run). A trial that
reaches a rung is judged there against every trial that reached the rung so
far (running, paused, stopped and completed ones; itself included):

* within the best ``n // reduction_factor`` of the ``n`` trials at the rung, it
  is promoted at once (CONTINUE ``promoted``);
* otherwise it is **paused** (PAUSE ``rung_paused``), not stopped: its
  checkpoint waits while cheaper screening goes on, and it is resumed as soon
  as it comes to rank within the best ``n // reduction_factor`` of its rung
  (the rung keeps growing as new configurations reach it). With
  ``pause=False`` (front doors that cannot pause, such as Optuna) it is
  stopped instead (STOP ``halving_rung_cut``), which is asynchronous
  successive halving with the same rungs.

What a free worker runs next (:meth:`FreezeThawPruner.next_trial`) follows
the promotion rule of asynchronous successive halving: the paused trial that
is promotable at the highest rung, else a paused trial below the first rung
(the first rung moved up after it was paused), else a new configuration, so no
worker waits for a rung to fill. When no new configuration is left the rungs
are closed: the best trial of each rung goes on even where the rung holds
fewer than ``reduction_factor`` trials (so the study ends with its best
configurations trained to the end), and the trials that rank too low stay
paused: that is what pruning saves.

The first rung is **learned from the study** (``min_resource="auto"``): for a
candidate step ``s`` (1, 2, ...), the Spearman rank correlation between the
trials' scores at ``s`` and at ``s * reduction_factor`` (over the trials that
reached both) says whether the ranking at ``s`` predicts the ranking one rung
later. The first rung is the earliest candidate whose correlation is at least
``min_rank_correlation``; a candidate with too few trials measured (fewer than
``n_rank_trials``) is taken as it is, so the study starts at step 1 and moves
the first rung up only when the data say the early steps carry no ranking
signal. Paused trials below a rung that moved up are resumed to reach it before
new configurations start. The chosen rung and the correlations are in the
evidence of every judgement.

The horizon is ``max_resource`` when given, else the largest last step of a
completed trial; before any trial completes the rungs are not capped (a trial
promoted past every rung runs to its natural end), so no curve length is ever
assumed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.next_trial import NextTrial
from hpprune.pruners.base import Policy
from hpprune.pruners.halving import AUTO, resource_param, rungs_crossed
from hpprune.types import Action, Decision, Reason, TrialState, cont

RULE = "FreezeThawPruner"
#: Trials measured per candidate step at most (later ones do not change the estimate).
_RANK_CAP = 64


@dataclass(frozen=True)
class FirstRung:
    """The first rung in use and how it was chosen.

    Attributes:
        step: The first rung's step (>= 1).
        source: ``"fixed"`` (``min_resource`` given), ``"learned"`` (a measured
            correlation passed) or ``"probing"`` (too few trials measured yet).
        correlations: Spearman correlation per candidate step measured so far.
        n_measured: Trials behind each correlation.
    """

    step: int
    source: str
    correlations: Mapping[int, float]
    n_measured: Mapping[int, int]

    def evidence(self) -> dict[str, Any]:
        """JSON-ready evidence."""
        return {
            "first_rung": self.step,
            "first_rung_source": self.source,
            "rank_correlations": {str(k): round(v, 4) for k, v in self.correlations.items()},
        }


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation of two equally long lists (ties get average ranks).

    Returns 0.0 when either list is constant (no ranking to compare).
    """
    rx = _ranks(x)
    ry = _ranks(y)
    sx = float(np.std(rx))
    sy = float(np.std(ry))
    if sx == 0.0 or sy == 0.0:
        return 0.0
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy))


def _ranks(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    order = np.argsort(arr, kind="stable")
    ranks = np.empty(len(arr), dtype=np.float64)
    ranks[order] = np.arange(len(arr), dtype=np.float64)
    # average ranks over ties
    sorted_vals = arr[order]
    i = 0
    while i < len(arr):
        j = i
        while j + 1 < len(arr) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        if j > i:
            ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def rank_at(
    curve: TrialCurve, resource: int, score: float, pool: list[float], study: StudyView
) -> int:
    """1-based rank of ``curve``'s ``score`` in a rung's sorted ``pool`` (ties: earlier first).

    Tied scores (common with discrete metrics such as accuracy on a small
    validation set) are ordered by trial index, so a block of equal scores is
    promoted a few at a time instead of all or none.
    """
    lo = bisect.bisect_left(pool, score)
    hi = bisect.bisect_right(pool, score)
    if hi - lo <= 1:
        return lo + 1
    earlier = 0
    for other in study.trials():
        if other.index >= curve.index:
            continue
        at = other.first_at_or_after(resource)
        if at is not None and at[1] == score:
            earlier += 1
    return lo + min(earlier, hi - lo - 1) + 1


class FreezeThawPruner(Policy):
    """Successive halving that pauses instead of stopping, with a first rung learned from the study.

    Args:
        reduction_factor: Promotion ratio between rungs, an int >= 2: the best
            ``1 / reduction_factor`` of a rung go on to the next.
        min_resource: The first rung's step, an int >= 1, or ``"auto"`` to learn
            it from the study (see the module documentation).
        max_resource: The last step of a full run, an int >= 1, or ``"auto"``:
            the largest last step of a completed trial (no cap before one
            completes).
        pause: True pauses a trial that is not promoted (it may be resumed);
            False stops it (for front doors that cannot pause).
        min_rank_correlation: A candidate first rung is informative when the
            rank correlation of its scores with the scores one rung later is at
            least this (0 < x < 1).
        n_rank_trials: Trials that must have reached both steps before a
            candidate's correlation is trusted (>= 3).

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.

    Non-finite reports never reach a policy: the engine stops (or skips) them
    and they are absent from every rung pool and every correlation.
    """

    def __init__(
        self,
        reduction_factor: int = 3,
        min_resource: int | str = AUTO,
        max_resource: int | str = AUTO,
        *,
        pause: bool = True,
        min_rank_correlation: float = 0.3,
        n_rank_trials: int = 6,
    ) -> None:
        self.reduction_factor = validate.int_param(reduction_factor, "reduction_factor", 2)
        self.min_resource = resource_param(min_resource, "min_resource")
        self.max_resource = resource_param(max_resource, "max_resource")
        if not isinstance(pause, bool):
            raise TypeError(f"expected a bool for `pause`, got {pause!r}")
        self.pause = pause
        self.min_rank_correlation = validate.float_param(
            min_rank_correlation, "min_rank_correlation", 0.0, 1.0, low_inclusive=False
        )
        self.n_rank_trials = validate.int_param(n_rank_trials, "n_rank_trials", 3)

    @property
    def name(self) -> str:
        return RULE

    def params(self) -> dict[str, Any]:
        return {
            "reduction_factor": self.reduction_factor,
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "pause": self.pause,
            "min_rank_correlation": self.min_rank_correlation,
            "n_rank_trials": self.n_rank_trials,
        }

    def stop_only(self) -> Policy:
        """The same rungs and ranking with STOP instead of PAUSE (``pause=False``)."""
        if not self.pause:
            return self
        return FreezeThawPruner(**{**self.params(), "pause": False})

    # ------------------------------------------------------------ rungs
    def horizon(self, study: StudyView) -> int | None:
        """The last step of a full run, or None while it is unknown."""
        if isinstance(self.max_resource, int):
            return self.max_resource
        last = study.max_completed_step
        return last if last >= 0 else None

    def first_rung(self, study: StudyView) -> FirstRung:
        """The first rung in use (memoised on the trial counts it depends on).

        Returns:
            The rung, how it was chosen and the correlations measured.
        """
        if isinstance(self.min_resource, int):
            return FirstRung(self.min_resource, "fixed", {}, {})
        eta = self.reduction_factor
        horizon = self.horizon(study)
        limit = study.max_step if horizon is None else horizon
        # Candidates s leave room for two more rungs: s * eta**2 within the horizon
        # (or the steps seen so far).
        top = max(limit // (eta * eta), 2)
        counts = tuple(
            min(len(study.scores_from(s * eta, "all")), _RANK_CAP) for s in range(1, top + 1)
        )
        key = ("first_rung", counts, horizon)
        cache = study.cache(self)
        hit = cache.get(key)
        if isinstance(hit, FirstRung):
            return hit
        found = self._learn_first_rung(study, top)
        cache.put(key, found)
        return found

    def _learn_first_rung(self, study: StudyView, top: int) -> FirstRung:
        eta = self.reduction_factor
        deep = [c for c in study.trials() if c.last_step >= eta]
        correlations: dict[int, float] = {}
        measured: dict[int, int] = {}
        unmeasured: int | None = None
        for s in range(1, top + 1):
            xs: list[float] = []
            ys: list[float] = []
            deep = [c for c in deep if c.last_step >= s * eta]
            for curve in deep:
                later = curve.first_at_or_after(s * eta)
                early = curve.first_at_or_after(s)
                if later is None or early is None or early[0] >= later[0]:
                    continue
                xs.append(early[1])
                ys.append(later[1])
                if len(xs) >= _RANK_CAP:
                    break
            measured[s] = len(xs)
            if len(xs) < self.n_rank_trials:
                unmeasured = s
                break
            correlations[s] = spearman(xs, ys)
        informative = {
            s: rho for s, rho in correlations.items() if rho >= self.min_rank_correlation
        }
        if informative:
            # Screening efficiency: configurations judged per step x squared rank correlation.
            best = min(informative, key=lambda s: (s / informative[s] ** 2, s))
            return FirstRung(best, "learned", correlations, measured)
        return FirstRung(unmeasured or top, "probing", correlations, measured)

    def rungs(self, study: StudyView) -> tuple[FirstRung, list[int], int | None]:
        """First rung, the rung steps below the horizon, and the horizon."""
        first = self.first_rung(study)
        horizon = self.horizon(study)
        limit = horizon - 1 if horizon is not None else max(study.max_step, first.step)
        steps: list[int] = []
        r = first.step
        while r <= limit:
            steps.append(r)
            r *= self.reduction_factor
        return first, steps, horizon

    def _n_promoted(self, n: int, closed: bool = False) -> int:
        """How many of the ``n`` trials at a rung go on.

        ``n // reduction_factor``; at least 1 in the stop-only variant and on a
        closed rung (no new configuration will reach it), as in asynchronous
        successive halving, so the best of a young or final rung goes on.
        """
        k = n // self.reduction_factor
        return max(k, 1) if closed or not self.pause else k

    def _standing(
        self, curve: TrialCurve, resource: int, study: StudyView
    ) -> tuple[float, int, int, int, float]:
        """(score, rank, n, n_promoted, cutoff) of ``curve`` at the rung at ``resource``."""
        at = curve.first_at_or_after(resource)
        score = math.inf if at is None else at[1]
        pool = study.scores_from(resource, "all")
        n = len(pool)
        n_promoted = self._n_promoted(n)
        cutoff = pool[n_promoted - 1] if n_promoted >= 1 else -math.inf
        return score, rank_at(curve, resource, score, pool, study), n, n_promoted, cutoff

    # ------------------------------------------------------------ decide
    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        first, rungs, horizon = self.rungs(study)
        step = trial.steps[-1]
        base: dict[str, Any] = {"reduction_factor": self.reduction_factor, **first.evidence()}
        if horizon is not None:
            base["horizon"] = horizon
        if horizon is not None and step >= horizon:
            return cont(RULE, Reason.OK, **base)
        previous = trial.steps[-2] if len(trial.steps) > 1 else -1
        crossed = [
            (k, r)
            for k, r in rungs_crossed(previous, step, first.step, self.reduction_factor, 0)
            if horizon is None or r < horizon
        ]
        if not crossed:
            i = bisect.bisect_right(rungs, step)
            if i < len(rungs):
                base["next_rung_resource"] = rungs[i]
            return cont(RULE, Reason.OK, **base)
        evidence: dict[str, Any] = {}
        for rung, resource in crossed:
            score, rank, n, n_promoted, cutoff = self._standing(trial, resource, study)
            evidence = {
                **base,
                "rung": rung,
                "rung_resource": resource,
                "value": study.to_value(score),
                "rank": rank,
                "n_competitors": n,
                "n_promoted": n_promoted,
                "cutoff": study.to_value(cutoff) if math.isfinite(cutoff) else None,
            }
            if rank > n_promoted:
                if self.pause:
                    return Decision(Action.PAUSE, Reason.RUNG_PAUSED, RULE, evidence=evidence)
                return Decision(
                    Action.STOP,
                    Reason.HALVING_RUNG_CUT,
                    RULE,
                    evidence=evidence,
                    rung_resource=resource,
                )
        return cont(RULE, Reason.PROMOTED, **evidence)

    # ------------------------------------------------------------ what runs next
    def next_trial(self, study: StudyView, can_start: bool = True) -> NextTrial:
        """What a free worker runs: a promotable paused trial, a new configuration, or nothing.

        Args:
            study: The engine's study view.
            can_start: Whether the front door can start a new configuration.

        Returns:
            ``resume`` with the trial and its rung as evidence, ``start``, or
            ``none`` (nothing promotable and nothing new to start).
        """
        paused = study.trials_in(TrialState.PAUSED)
        if not paused:
            return NextTrial("start" if can_start else "none", None, Reason.NOTHING_PAUSED, {})
        first, rungs, _ = self.rungs(study)
        cutoffs: dict[int, tuple[float, int, list[float]]] = {}
        promotable: tuple[int, float, int, TrialCurve] | None = None
        below: tuple[float, int, TrialCurve] | None = None
        for curve in paused:
            if curve.n_steps == 0:
                continue
            level = bisect.bisect_right(rungs, curve.last_step) - 1
            if level < 0:
                key = (curve.best_score, curve.index, curve)
                if below is None or key[:2] < below[:2]:
                    below = key
                continue
            resource = rungs[level]
            known = cutoffs.get(level)
            if known is None:
                pool = study.scores_from(resource, "all")
                n_promoted = self._n_promoted(len(pool), closed=not can_start)
                known = (pool[n_promoted - 1] if n_promoted else -math.inf, n_promoted, pool)
                cutoffs[level] = known
            cutoff, n_promoted, pool = known
            at = curve.first_at_or_after(resource)
            score = math.inf if at is None else at[1]
            if score < cutoff or (
                score == cutoff and rank_at(curve, resource, score, pool, study) <= n_promoted
            ):
                cand = (-level, score, curve.index, curve)
                if promotable is None or cand[:3] < promotable[:3]:
                    promotable = cand
        evidence = first.evidence()
        if promotable is not None:
            level = -promotable[0]
            return NextTrial(
                "resume",
                promotable[3].trial_id,
                Reason.PROMOTED,
                {**evidence, "rung": level, "rung_resource": rungs[level]},
            )
        if below is not None:
            return NextTrial(
                "resume",
                below[2].trial_id,
                Reason.BELOW_FIRST_RUNG,
                {**evidence, "last_step": below[2].last_step},
            )
        # Nothing paused ranks high enough: screen a new configuration, or (none
        # left) leave the paused trials paused: a closed rung promotes no more.
        return NextTrial(
            "start" if can_start else "none", None, Reason.NOTHING_PROMOTABLE, evidence
        )

    def resume_decision(self, answer: NextTrial) -> Decision:
        """The RESUME decision to record for a ``resume`` answer."""
        return Decision(
            Action.RESUME, Reason.RESUMED, RULE, evidence={"why": answer.reason, **answer.evidence}
        )
