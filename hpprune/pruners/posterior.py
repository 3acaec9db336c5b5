"""BayesianPruner: stop a trial when its final score is unlikely to beat the incumbent.

At every report, the pruner turns the trial's curve up to step ``t`` into a
predictive distribution of its *final* score, learnt from the peers that
completed after reporting ``t`` (see :mod:`hpprune.pruners._curve_model`), and
stops the trial when::

    p_improve = P(final < incumbent - min_delta) < alpha          (canonical scores)

unless a safeguard keeps it alive. The incumbent is the best final score among
completed trials (``study.incumbent()``); in Pareto mode it is the best final
score among completed trials that dominate the trial on the extra objectives.

Purity and the memo: the policy holds only its constructor parameters. To meet
its latency target it keeps a *pure memo* per study view: the peers' feature
rows at each step (appended as trials complete) and the last fit per step,
keyed by the number of completed trials. A completed trial never changes, so a
memo entry is a deterministic function of the study's completed-trial prefix,
and a memo hit returns exactly what a fresh computation would. Memos are held
for at most :data:`MEMO_STUDIES` study views (weakly referenced), are dropped
when the policy is pickled or copied, and never influence a decision.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners import _curve_model as cm
from hpprune.pruners import _recalibration as rc
from hpprune.pruners.base import Policy
from hpprune.pruners.percentile import is_pruning_step
from hpprune.types import Decision, Direction, Reason, TrialState, cont, stop

MIN_PEERS = 3
"""Fewest peer curves (sum of their weights) at a step for the model to decide."""

MEMO_STUDIES = 8
"""Most study views whose memo a policy keeps at once."""

_DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Prediction:
    """Predictive distribution of a trial's final metric (user scale).

    The final metric is distributed as ``mean + scale * T`` where ``T`` follows a
    Student-t distribution with ``dof`` degrees of freedom.

    Attributes:
        mean: Predicted final metric (the Student-t location), user scale.
        std: Predictive standard deviation (inf when ``dof <= 2``).
        p_improve: P(final better than the incumbent by at least ``min_delta``);
            NaN when there is no incumbent.
        incumbent: The incumbent on the user scale, or None.
        scale: Student-t scale (user units).
        dof: Student-t degrees of freedom.
        n_peers: Number of peer curves the model used (positive weight).
        step: The step the prediction was made at.
        maximize: True if higher metric values are better.
        p_improve_raw: ``p_improve`` before recalibration (equal to it when the
            map is the identity).
        recal_a: Intercept of the recalibration map ``logit p' = a + b logit p``
            applied to probabilities of beating a value (0: none).
        recal_b: Slope of that map (1: none).

    ``mean``, ``std``, ``scale`` and ``dof`` describe the model's Student-t
    predictive; :meth:`prob_better`, :meth:`cdf` and :meth:`quantile` (and
    ``p_improve``) include the recalibration learnt from the study's own
    completed trials (see :mod:`hpprune.pruners._recalibration`).
    """

    mean: float
    std: float
    p_improve: float
    incumbent: float | None
    scale: float
    dof: float
    n_peers: int
    step: int
    maximize: bool
    p_improve_raw: float = math.nan
    recal_a: float = 0.0
    recal_b: float = 1.0

    @property
    def recalibration(self) -> rc.Recalibration:
        """The recalibration map applied to probabilities of beating a value."""
        return rc.Recalibration(self.recal_a, self.recal_b)

    def prob_better(self, value: float) -> float:
        """P(final metric better than ``value``) (strictly above when maximising).

        Args:
            value: A metric value on the user scale (finite).

        Returns:
            The recalibrated probability in [0, 1].
        """
        z = (value - self.mean) / self.scale
        return self.recalibration.apply(float(special.stdtr(self.dof, -z if self.maximize else z)))

    def cdf(self, value: float) -> float:
        """P(final metric <= ``value``) on the user scale (recalibrated)."""
        if self.maximize:
            return 1.0 - self.prob_better(value)
        return self.prob_better(value)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the final metric on the user scale (0 < q < 1)."""
        m = self.recalibration
        level = 1.0 - m.inverse(1.0 - q) if self.maximize else m.inverse(q)
        return self.mean + self.scale * float(special.stdtrit(self.dof, level))


class _StepRows:
    """Peers' features and finals ``[b, y, d, F]`` at one step (columns), completion order."""

    __slots__ = ("cols", "count", "n_done", "order")

    def __init__(self) -> None:
        self.n_done = 0
        self.count = 0
        self.cols = np.empty((4, 16))
        self.order = np.empty(16)


@dataclass(frozen=True)
class _State:
    """What the completed trials say about the model: drift re-estimation and recalibration.

    Attributes:
        start: Position (order first seen) of the first trial the model learns
            from (None: every trial, warm start included); set when drift was detected.
        recal: The recalibration map.
        changes: Detected change points, oldest first, as evidence dicts.
        warm_dropped: Why the warm-start curves were dropped (None: they are used).
    """

    start: int | None = None
    recal: rc.Recalibration = rc.IDENTITY
    changes: tuple[dict[str, Any], ...] = ()
    warm_dropped: dict[str, Any] | None = None


class _Memo:
    """Pure memo for one study view (see the module docstring)."""

    __slots__ = (
        "comp_pos",
        "finals",
        "fits",
        "front",
        "front_done",
        "pos",
        "recs",
        "state",
        "steps",
    )

    def __init__(self) -> None:
        self.steps: dict[int, _StepRows] = {}
        self.fits: dict[int, tuple[int, int | None, cm.Fit | None]] = {}
        # Prequential records (order, step, p, y, u) per completed trial and decision
        # step, for each first peer order the model may learn from (None: every peer).
        self.recs: dict[int | None, tuple[int, list[tuple[float, ...]]]] = {}
        self.finals: list[float] = []  # completed trials' final scores (inf if none)
        self.pos: dict[str, int] = {}  # trial id -> position in the order first seen
        self.comp_pos: list[int] = []  # completed order -> position
        self.state: tuple[tuple[int, int], _State] = ((-1, -1), _State())
        # Pareto mode: completed trials' canonical extra objectives + final score.
        self.front = np.empty((0, 0))
        self.front_done = 0


class BayesianPruner(Policy):
    """Stop a trial when P(its final score beats the incumbent) falls below ``alpha``.

    From the trial's curve up to its latest step ``t``, a conjugate Bayesian
    regression learnt from peers that completed after reporting ``t`` gives a
    Student-t predictive distribution of its final score. The trial is stopped
    when ``P(final better than incumbent by at least min_delta) < alpha`` and no
    safeguard applies:

    * minimum evidence: no decision before ``n_startup_trials`` trials of this
      study completed, before step ``n_warmup_steps``, off the
      ``interval_steps`` grid, or with fewer than :data:`MIN_PEERS` peers at ``t``;
    * ``n_keep``: a trial whose score at ``t`` ranks among the ``n_keep`` best
      scores reported at ``t`` by any trial is never stopped there;
    * credible bound: a trial whose optimistic ``(1 - alpha)`` credible bound
      comes within ``min_delta`` of the incumbent is never stopped. With
      ``min_delta > 0`` this makes ``min_delta`` a safety margin: a trial is
      stopped only if even its optimistic bound is worse than the incumbent by
      more than ``min_delta``.

    The incumbent is the best completed final score; with ``n_startup_trials=0``
    and no completed trial yet, it falls back to the best latest score of the
    other trials (no decision if there is none).

    Args:
        alpha: Stop when the probability of improving is below this (0, 1).
        min_delta: Improvement that counts, in metric units (>= 0).
        n_startup_trials: Completed trials of this study needed before stopping.
        n_warmup_steps: No stopping before this step.
        interval_steps: Decide once per this many steps (>= 1).
        n_keep: Never stop a trial ranked among the ``n_keep`` best at its step (>= 0).
        window: Learn only from the last ``window`` completed trials (None: all).
            Warm-start curves count as completed before this study's trials.
        forgetting: Weight ``forgetting ** age`` per peer, ``age`` = number of
            trials completed after it; 1.0 (default) weighs all peers equally.
        warm_start: Peer curves from earlier studies, each ``[steps, scores,
            final]`` on the canonical scale (lower is better); usually built by
            :meth:`from_logs`.
        warm_weight: Weight of each warm-start curve relative to this study's (0, 1].
        pareto: Multi-objective mode: ``{param name: "minimize"|"maximize"}`` of
            extra objectives known from each trial's ``params`` (e.g. model size).
            The decision is then on P(not dominated by the completed trials), see
            the docs. None (default): single objective.
        recalibrate: Recalibrate the probabilities with a monotone map learnt
            from this study's completed trials (prequential records at the
            decision steps, see :mod:`hpprune.pruners._recalibration`); the
            pruner then acts on the recalibrated ``p_improve`` and credible bound.
        drift_detection: Level of the change test on the predictive's recent
            residuals (see :func:`hpprune.pruners._recalibration.change_point`);
            when it finds a change, the model, the recalibration and the
            incumbent are re-estimated from the trials completed since the
            change, and every decision's evidence says so (``drift``). None
            (default): no detection.
        warm_check: Level of the test that drops the warm-start curves when
            this study's trials are not like them: a two-sided Mann-Whitney
            test between the borrowed curves' scores and this study's trials'
            scores at the first decision step, on the study's first 5 to 100
            trials (stopped ones included); None keeps them whatever happens.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range or a warm-start curve is malformed.

    Non-finite values never reach a policy: the engine stops (or skips) them,
    and they are absent from every peer statistic.
    """

    def __init__(
        self,
        alpha: float = 0.05,
        min_delta: float = 0.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_keep: int = 1,
        window: int | None = None,
        forgetting: float = 1.0,
        warm_start: Sequence[Sequence[Any]] | None = None,
        warm_weight: float = 1.0,
        pareto: Mapping[str, str] | None = None,
        recalibrate: bool = True,
        drift_detection: float | None = None,
        warm_check: float | None = 0.01,
    ) -> None:
        self.alpha = validate.float_param(
            alpha, "alpha", 0.0, 1.0, low_inclusive=False, high_inclusive=False
        )
        self.min_delta = validate.float_param(min_delta, "min_delta", 0.0)
        self.n_startup_trials = validate.int_param(n_startup_trials, "n_startup_trials", 0)
        self.n_warmup_steps = validate.int_param(n_warmup_steps, "n_warmup_steps", 0)
        self.interval_steps = validate.int_param(interval_steps, "interval_steps", 1)
        self.n_keep = validate.int_param(n_keep, "n_keep", 0)
        self.window = None if window is None else validate.int_param(window, "window", 1)
        self.forgetting = validate.float_param(
            forgetting, "forgetting", 0.0, 1.0, low_inclusive=False
        )
        self.warm_weight = validate.float_param(
            warm_weight, "warm_weight", 0.0, 1.0, low_inclusive=False
        )
        self.warm_start = _check_warm(warm_start)
        self.pareto = _check_pareto(pareto)
        self.recalibrate = _check_bool(recalibrate, "recalibrate")
        self.warm_check = (
            None
            if warm_check is None
            else validate.float_param(warm_check, "warm_check", 0.0, 0.5, low_inclusive=False)
        )
        self.drift_detection = (
            None
            if drift_detection is None
            else validate.float_param(
                drift_detection, "drift_detection", 0.0, 0.5, low_inclusive=False
            )
        )
        self._warm_cols = _warm_cols(self.warm_start)
        self._memos: OrderedDict[int, tuple[weakref.ref[StudyView], _Memo]] = OrderedDict()
        self._lock = threading.Lock()

    # ----------------------------------------------------------- construction
    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "min_delta": self.min_delta,
            "n_startup_trials": self.n_startup_trials,
            "n_warmup_steps": self.n_warmup_steps,
            "interval_steps": self.interval_steps,
            "n_keep": self.n_keep,
            "window": self.window,
            "forgetting": self.forgetting,
            "warm_start": [list(c) for c in self.warm_start] if self.warm_start else None,
            "warm_weight": self.warm_weight,
            "pareto": dict(self.pareto) if self.pareto else None,
            "recalibrate": self.recalibrate,
            "drift_detection": self.drift_detection,
            "warm_check": self.warm_check,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> BayesianPruner:
        """Rebuild from :meth:`params` output, also as written by earlier versions.

        A log written before recalibration and the warm-start check existed
        names no ``recalibrate``/``warm_check``: it meant neither, so those
        default to off here (a new pruner built in code has both on).

        Args:
            params: The recorded parameters.

        Returns:
            The pruner.
        """
        kwargs = dict(params)
        kwargs.setdefault("recalibrate", False)
        kwargs.setdefault("warm_check", None)
        return cls(**kwargs)

    @classmethod
    def from_logs(
        cls,
        paths: Iterable[str | os.PathLike[str]],
        *,
        max_curves: int | None = 500,
        **kwargs: Any,
    ) -> BayesianPruner:
        """A pruner warm-started with the completed curves of earlier studies' audit logs.

        Each log is folded with :meth:`hpprune.engine.Engine.from_records` (so
        its direction is applied and trials that were stopped, failed or never
        finished are skipped); the completed trials' curves become the
        ``warm_start`` parameter, so the pruner and its warm start round-trip
        through :func:`~hpprune.pruners.base.policy_from_dict` and are recorded
        in the new study's log header. The logs must share the new study's
        metric and direction.

        Args:
            paths: Audit-log files (JSON Lines).
            max_curves: Keep at most this many curves, the most recently
                completed ones (None: all).
            **kwargs: Other :class:`BayesianPruner` parameters.

        Returns:
            The pruner.

        Raises:
            FileNotFoundError: If a log is missing.
            LogFormatError: If a log is malformed.
            ValueError: If a parameter is invalid, or ``warm_start`` is also given.
        """
        from hpprune.audit.log import read_log
        from hpprune.engine import Engine
        from hpprune.pruners.base import NoPruning, policy_hash

        if "warm_start" in kwargs:
            raise ValueError("pass either `paths` or `warm_start` to from_logs, not both")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if max_curves is not None:
            validate.int_param(max_curves, "max_curves", 1)
        curves: list[list[Any]] = []
        for path in paths:
            records = list(read_log(path))
            # Fold only, nothing is re-decided: every header (a repeated one too) names NoPruning.
            plain = {"policy": NoPruning().to_dict(), "policy_hash": policy_hash(NoPruning())}
            records = [{**r, **plain} if r.get("kind") == "study" else r for r in records]
            engine = Engine.from_records(records)
            view = engine.study
            for tid in view.completed_ids:
                curve = view.trial(tid)
                if curve.final_score is not None and curve.steps:
                    curves.append([list(curve.steps), list(curve.scores), curve.final_score])
        if max_curves is not None:
            curves = curves[-max_curves:]
        return cls(warm_start=curves or None, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_memos"] = OrderedDict()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ memo
    def _memo(self, study: StudyView) -> _Memo:
        key = id(study)
        hit = self._memos.get(key)
        if hit is not None and hit[0]() is study:
            return hit[1]
        memo = _Memo()
        memos = self._memos

        def _drop(_: object, key: int = key) -> None:
            entry = memos.get(key)
            if entry is not None and entry[0]() is None:
                memos.pop(key, None)

        memos[key] = (weakref.ref(study, _drop), memo)
        while len(memos) > MEMO_STUDIES:
            memos.popitem(last=False)
        return memo

    def _fit_at(self, memo: _Memo, study: StudyView, step: int, start: int | None) -> cm.Fit | None:
        n_done = study.n_completed
        cached = memo.fits.get(step)
        if cached is not None and cached[0] == n_done and cached[1] == start:
            return cached[2]
        data = self._rows(memo, study, step)
        cols, orders = self._peer_cols(memo, data, step, data.count, start)
        result = None
        if orders.size:
            result = cm.fit(cols, self._weights(orders, n_done))
        memo.fits[step] = (n_done, start, result)
        return result

    def _rows(self, memo: _Memo, study: StudyView, step: int) -> _StepRows:
        """The step's peer rows, brought up to date with the completed trials."""
        n_done = study.n_completed
        data = memo.steps.get(step)
        if data is None:
            data = memo.steps[step] = _StepRows()
        if data.n_done < n_done:
            for order, tid in enumerate(study.completed_ids[data.n_done :], start=data.n_done):
                curve = study.trial(tid)
                if curve.final_score is None:
                    continue
                feats = cm.curve_features(curve.steps, curve.scores, step)
                if feats is not None:
                    _append(data, feats, curve.final_score, order)
            data.n_done = n_done
        return data

    def _peer_cols(
        self, memo: _Memo, data: _StepRows, step: int, count: int, start: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Warm-start rows then the first ``count`` of this study's rows at ``step``.

        With ``start`` (after a detected change), only this study's rows of
        trials first seen at or after position ``start`` (no warm start).
        """
        if start is not None:
            orders = data.order[:count]
            keep = np.array(memo.comp_pos, dtype=np.int64)[orders.astype(np.int64)] >= start
            return data.cols[:, :count][:, keep], orders[keep]
        cols = data.cols[:, :count]
        orders = data.order[:count]
        warm = self._warm_cols.get(step)
        if warm is not None:
            cols = np.concatenate([warm[0], cols], axis=1) if count else warm[0]
            orders = np.concatenate([warm[1], orders]) if count else warm[1]
        return cols, orders

    # --------------------------------------------------------- recalibration
    def _decides_at(self, steps: Sequence[int], i: int) -> bool:
        """Whether a curve reporting ``steps`` is decided at its ``i``-th report."""
        step = steps[i]
        if step < self.n_warmup_steps:
            return False
        warm, every = self.n_warmup_steps, self.interval_steps
        boundary = (step - warm) // every * every + warm
        return (steps[i - 1] if i else -1) < boundary

    def _records(self, memo: _Memo, study: StudyView, start: int | None) -> list[tuple[float, ...]]:
        """Prequential records of the completed trials (model learning from ``start`` on)."""
        n_done = study.n_completed
        done, recs = memo.recs.get(start, (0, []))
        ids = study.completed_ids
        for k in range(done, n_done):
            if start is None or memo.comp_pos[k] >= start:
                self._trial_records(memo, study, ids[k], k, start, recs)
        memo.recs[start] = (max(done, n_done), recs)
        return recs

    def _trial_records(
        self,
        memo: _Memo,
        study: StudyView,
        tid: str,
        k: int,
        start: int | None,
        out: list[tuple[float, ...]],
    ) -> None:
        """Append the records of the ``k``-th completed trial ``tid`` to ``out``."""
        curve = study.trial(tid)
        final = curve.final_score
        if final is None:
            return
        for i, step in enumerate(curve.steps):
            if not self._decides_at(curve.steps, i):
                continue
            data = self._rows(memo, study, step)
            j = bisect.bisect_left(data.order, k, 0, data.count)
            cols, orders = self._peer_cols(memo, data, step, j, start)
            own = cols[3, orders >= 0]
            if not own.size:  # no earlier trial of this study: no incumbent
                continue
            threshold = float(own.min()) - self.min_delta
            fit = cm.fit(cols, self._weights(orders, k))
            if fit is None or fit.n_eff < MIN_PEERS:
                continue
            feats = cm.curve_features(curve.steps, curve.scores, step)
            if feats is None:
                continue
            loc, scale = fit.predict(feats)
            p = float(special.stdtr(fit.dof, (threshold - loc) / scale))
            u = float(special.stdtr(fit.dof, (final - loc) / scale))
            out.append((float(k), float(step), p, float(final < threshold), u))

    def _sync(self, memo: _Memo, study: StudyView) -> None:
        """Positions of new trials, and position and final of new completions."""
        if len(memo.pos) < study.n_trials:
            for curve in itertools.islice(study.trials(), len(memo.pos), None):
                memo.pos[curve.trial_id] = len(memo.pos)
        if len(memo.comp_pos) < study.n_completed:
            for tid in study.completed_ids[len(memo.comp_pos) :]:
                final = study.trial(tid).final_score
                memo.comp_pos.append(memo.pos[tid])
                memo.finals.append(math.inf if final is None else final)

    def _drift_step(self) -> int:
        """The step whose scores the score-shift test compares (the first decision step)."""
        return max(1, self.n_warmup_steps)

    def _state(self, memo: _Memo, study: StudyView) -> _State:
        """Drift re-estimation and recalibration for the current trials (memoised)."""
        n_done = study.n_completed
        level = self.drift_detection
        check = self.warm_check is not None and bool(self._warm_cols)
        n_seen = 0
        if level is not None or check:
            n_seen = len(study.sorted_scores(self._drift_step(), "all"))
        if memo.state[0] == (n_done, n_seen):
            return memo.state[1]
        self._sync(memo, study)
        start: int | None = None
        changes: list[dict[str, Any]] = []
        dropped = self._warm_mismatch(memo, study) if check else None
        if dropped is not None:
            start = 0  # this study's trials only
        if level is not None:
            for _ in range(rc.MAX_CHANGES):
                change = self._find_change(memo, study, start, level)
                if change is None:
                    break
                start = int(change["refit_from"])
                changes.append(change)
        recal = rc.IDENTITY
        if self.recalibrate:
            rec = _as_array(self._records(memo, study, start))
            if rec.size:
                orders = rec[:, 0]
                # Each trial counts once: its records (one per decision step) share its weight.
                _, index, counts = np.unique(orders, return_inverse=True, return_counts=True)
                w = self._weights(orders, n_done) / counts[index]
                n_trials = int(np.unique(orders[w > 0]).size)
                recal = rc.fit_recalibration(rec[:, 2], rec[:, 3], w, n_trials)
        state = _State(start, recal, tuple(changes), dropped)
        memo.state = ((n_done, n_seen), state)
        return state

    def _own_scores(self, memo: _Memo, study: StudyView, lo: int) -> list[tuple[int, float]]:
        """``(position, score at the drift step)`` of this study's trials from position ``lo``."""
        step = self._drift_step()
        seq = []
        for curve in study.trials():
            pos = memo.pos[curve.trial_id]
            score = curve.score_at(step) if pos >= lo else None
            if score is not None and curve.state is not TrialState.STALE:
                seq.append((pos, score))
        return seq

    def _warm_mismatch(self, memo: _Memo, study: StudyView) -> dict[str, Any] | None:
        """Evidence for dropping the warm-start curves, or None to keep them."""
        warm = self._warm_cols.get(self._drift_step())
        if warm is None or self.warm_check is None:
            return None
        borrowed = warm[0][1]  # the warm curves' scores at the step
        own = np.array([x for _, x in self._own_scores(memo, study, 0)], dtype=float)
        found = rc.borrowed_mismatch(borrowed, own, self.warm_check)
        if found is None:
            return None
        return {
            "step": self._drift_step(),
            "n_borrowed": int(borrowed.size),
            "n_own": found[0],
            "p_value": found[1],
        }

    def _find_change(
        self, memo: _Memo, study: StudyView, start: int | None, level: float
    ) -> dict[str, Any] | None:
        """The most significant change among the trials from ``start`` on (two tests).

        * ``scores``: the sequential ranks of every trial's score at
          :meth:`_drift_step` (stopped and running trials included) rise,
          i.e. recent trials are worse than the earlier ones
          (:func:`~hpprune.pruners._recalibration.score_shift`);
        * ``residuals``: the completed trials' prequential PIT residuals change
          (:func:`~hpprune.pruners._recalibration.change_point`).

        Each test runs at ``level / 2`` (Bonferroni).
        """
        seq = self._own_scores(memo, study, -1 if start is None else start)
        found: list[tuple[rc.Change, int]] = []
        shift = rc.score_shift(np.array(seq, dtype=float).reshape(-1, 2), level / 2)
        if shift is not None:
            found.append((shift, shift.order))
        resid = rc.change_point(_as_array(self._records(memo, study, start)), level / 2)
        if resid is not None:
            found.append((resid, memo.comp_pos[resid.order]))
        if not found:
            return None
        change, pos = min(found, key=lambda c: c[0].p_value)
        tid = next(t for t, p in memo.pos.items() if p == pos)
        return {
            "refit_from": pos,
            "trial_id": tid,
            "n_completed": study.n_completed,
            "kind": change.kind,
            "statistic": change.statistic,
            "p_value": change.p_value,
        }

    def _weights(self, orders: np.ndarray, n_done: int) -> np.ndarray:
        age = (n_done - 1) - orders
        w = np.ones_like(orders)
        if self.window is not None:
            w[age >= self.window] = 0.0
        if self.forgetting < 1.0:
            w *= np.power(self.forgetting, age)
        if self.warm_weight < 1.0:
            w[orders < 0] *= self.warm_weight
        return w

    # ------------------------------------------------------------- incumbent
    def _incumbent(
        self, memo: _Memo, trial: TrialCurve, study: StudyView, start: int | None = None
    ) -> float:
        if self.pareto:
            return self._pareto_incumbent(memo, trial, study)
        if start is not None:  # after a detected change: the best since the change
            kept = [f for f, p in zip(memo.finals, memo.comp_pos, strict=True) if p >= start]
            return min(kept, default=math.inf)
        inc = study.incumbent()
        if math.isfinite(inc):
            return inc
        best = math.inf
        for other in study.trials():
            if other is not trial and other.scores and other.state is not TrialState.STALE:
                best = min(best, other.scores[-1])
        return best

    def _pareto_incumbent(self, memo: _Memo, trial: TrialCurve, study: StudyView) -> float:
        """Best final score among completed trials at least as good on every extra objective.

        NaN when the trial's own extra objectives are missing; inf when no
        completed trial dominates it there (it cannot be dominated).
        """
        pareto = self.pareto or {}
        own = _objectives(trial, pareto)
        if own is None:
            return math.nan
        if memo.front_done < study.n_completed:
            new = []
            for tid in study.completed_ids[memo.front_done :]:
                curve = study.trial(tid)
                obj = _objectives(curve, pareto)
                if curve.final_score is not None and obj is not None:
                    new.append([*obj, curve.final_score])
            if new:
                arr = np.array(new, dtype=float)
                memo.front = np.concatenate([memo.front, arr]) if memo.front.size else arr
            memo.front_done = study.n_completed
        if not memo.front.size:
            return math.inf
        dominating = np.all(memo.front[:, :-1] <= np.array(own), axis=1)
        return float(memo.front[dominating, -1].min()) if dominating.any() else math.inf

    # ------------------------------------------------------------ prediction
    def _predict(
        self, trial: TrialCurve, study: StudyView, memo: _Memo, start: int | None
    ) -> tuple[float, float, cm.Fit] | None:
        fit = self._fit_at(memo, study, trial.steps[-1], start)
        if fit is None or fit.n_eff < MIN_PEERS:
            return None
        loc, scale = fit.predict(cm.last_features(trial.steps, trial.scores))
        return loc, scale, fit

    def predict(self, trial: TrialCurve, study: StudyView) -> Prediction | None:
        """Predictive distribution of ``trial``'s final metric from its curve so far.

        Uses the trial's latest finite report and the same model and peers as
        :meth:`decide` (the incumbent too); safeguards are not applied.

        Args:
            trial: The trial (at least one finite report).
            study: The study view.

        Returns:
            The prediction, or None when fewer than :data:`MIN_PEERS` peers reported
            the trial's latest step.

        Raises:
            ValueError: If the trial has no finite report.
        """
        if not trial.steps:
            raise ValueError(f"trial {trial.trial_id!r} has no finite report to predict from")
        with self._lock:
            memo = self._memo(study)
            state = self._state(memo, study)
            out = self._predict(trial, study, memo, state.start)
            inc = self._incumbent(memo, trial, study, state.start)
        if out is None:
            return None
        loc, scale, fit = out
        raw = self._p_improve(loc, scale, fit.dof, inc)
        return _prediction(loc, scale, fit, raw, inc, trial.steps[-1], study.direction, state.recal)

    def recalibration(self, study: StudyView) -> rc.Recalibration:
        """The recalibration map learnt from the study's completed trials (identity if off).

        Args:
            study: The study view.

        Returns:
            The map applied to every probability of :meth:`predict` and :meth:`decide`.
        """
        with self._lock:
            return self._state(self._memo(study), study).recal

    def prequential_records(
        self, study: StudyView, max_trials: int | None = None
    ) -> tuple[dict[str, Any], ...]:
        """What the model would have said about each completed trial, and what happened.

        For every completed trial and every step at which this pruner decides,
        the model fitted on the trials completed before it (the peers the
        pruner had then; after a detected change or a dropped warm start, only
        those it still learns from) predicts its final: the record holds the
        raw ``p_improve`` against the incumbent of that moment, the outcome
        (1.0 if the final beat it), and the PIT of the final. These are the
        records the recalibration learns from.

        Args:
            study: The study view.
            max_trials: With more completed trials than this, only this many
                evenly spaced ones give records, the model learning from every
                trial before each (no drift restart or warm-start check):
                bounds the cost for a large study (None: all).

        Returns:
            ``{"trial_id", "step", "p_improve_raw", "outcome", "pit"}`` per
            record, in completion order.

        Raises:
            ValueError: If ``max_trials`` < 1.
        """
        ids = study.completed_ids
        with self._lock:
            memo = self._memo(study)
            if max_trials is None or len(ids) <= validate.int_param(max_trials, "max_trials", 1):
                state = self._state(memo, study)
                rows = list(self._records(memo, study, state.start))
            else:
                self._sync(memo, study)
                rows = []
                for k in np.unique(np.linspace(0, len(ids) - 1, max_trials).round()).astype(int):
                    self._trial_records(memo, study, ids[k], int(k), None, rows)
        return tuple(
            {
                "trial_id": ids[int(k)],
                "step": int(step),
                "p_improve_raw": p,
                "outcome": y,
                "pit": u,
            }
            for k, step, p, y, u in rows
        )

    def warm_start_dropped(self, study: StudyView) -> dict[str, Any] | None:
        """Why the warm-start curves are no longer used on this study (None: still used).

        Args:
            study: The study view.

        Returns:
            ``{"step", "n_borrowed", "n_own", "p_value"}`` of the mismatch test
            (see ``warm_check``), also in every decision's evidence
            (``warm_start_dropped``), or None.
        """
        with self._lock:
            return self._state(self._memo(study), study).warm_dropped

    def detected_changes(self, study: StudyView) -> tuple[dict[str, Any], ...]:
        """Change points found in the predictive's residuals (empty without ``drift_detection``).

        Args:
            study: The study view.

        Returns:
            Oldest first, each ``{"refit_from": position, "trial_id", "n_completed",
            "kind", "statistic", "p_value"}``: the model, its recalibration and
            the incumbent use only trials first seen at or after ``trial_id``
            (position ``refit_from`` in the order trials were first seen). The
            last one is in every decision's evidence (``drift``).
        """
        with self._lock:
            return self._state(self._memo(study), study).changes

    def _p_improve(self, loc: float, scale: float, dof: float, inc: float) -> float:
        """Raw (not recalibrated) P(final < inc - min_delta)."""
        if math.isnan(inc):
            return math.nan
        if inc == math.inf:
            return 1.0
        return float(special.stdtr(dof, (inc - self.min_delta - loc) / scale))

    # ---------------------------------------------------------------- decide
    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        step = trial.steps[-1]
        if study.n_completed < self.n_startup_trials:
            return cont(self.name, Reason.STARTUP, n_completed=study.n_completed)
        if step < self.n_warmup_steps:
            return cont(self.name, Reason.WARMUP)
        if not is_pruning_step(trial, self.n_warmup_steps, self.interval_steps):
            return cont(self.name, Reason.INTERVAL)
        if self.n_keep:
            pool = study.sorted_scores(step, "all")
            if bisect.bisect_left(pool, trial.scores[-1]) < self.n_keep:
                return cont(self.name, Reason.KEPT_TOP_K, n_keep=self.n_keep)
        with self._lock:
            memo = self._memo(study)
            state = self._state(memo, study)
            drift: dict[str, Any] = {"drift": state.changes[-1]} if state.changes else {}
            if state.warm_dropped is not None:
                drift["warm_start_dropped"] = state.warm_dropped
            inc = self._incumbent(memo, trial, study, state.start)
            if math.isnan(inc):  # Pareto mode, the trial's extra objectives are unknown
                return cont(self.name, Reason.OK, pareto="objectives missing from params")
            if inc == math.inf:
                if self.pareto:  # no completed trial dominates it on the extra objectives
                    return cont(self.name, Reason.OK, p_improve=1.0, incumbent=None)
                return cont(self.name, Reason.STARTUP, incumbent=None, **drift)
            out = self._predict(trial, study, memo, state.start)
        if out is None:
            return cont(self.name, Reason.NOT_ENOUGH_PEERS, **drift)
        loc, scale, fit = out
        recal = state.recal
        raw = self._p_improve(loc, scale, fit.dof, inc)
        p = recal.apply(raw)
        if p >= self.alpha:
            return cont(self.name, Reason.OK, p_improve=p, **drift)
        # Safeguard: the optimistic (1 - alpha) bound must be worse than inc + min_delta.
        p_near = recal.apply(float(special.stdtr(fit.dof, (inc + self.min_delta - loc) / scale)))
        evidence = _evidence(loc, scale, fit, p, inc, study, self.alpha, step, raw, recal)
        evidence.update(drift)
        if p_near >= self.alpha:
            return cont(self.name, Reason.WITHIN_BOUND, **evidence, min_delta=self.min_delta)
        return stop(self.name, Reason.POSTERIOR_LOW, **evidence, min_delta=self.min_delta)


# ------------------------------------------------------------------ helpers
def _append(data: _StepRows, feats: np.ndarray, final: float, order: int) -> None:
    if data.count == data.order.shape[0]:
        data.cols = np.concatenate([data.cols, np.empty_like(data.cols)], axis=1)
        data.order = np.concatenate([data.order, np.empty_like(data.order)])
    data.cols[:3, data.count] = feats
    data.cols[3, data.count] = final
    data.order[data.count] = order
    data.count += 1


def _std(scale: float, dof: float) -> float:
    return scale * math.sqrt(dof / (dof - 2.0)) if dof > 2.0 else math.inf


def _prediction(
    loc: float,
    scale: float,
    fit: cm.Fit,
    raw: float,
    inc: float,
    step: int,
    direction: Direction,
    recal: rc.Recalibration,
) -> Prediction:
    maximize = direction is Direction.MAXIMIZE
    return Prediction(
        mean=direction.to_value(loc),
        std=_std(scale, fit.dof),
        p_improve=recal.apply(raw),
        incumbent=direction.to_value(inc) if math.isfinite(inc) else None,
        scale=scale,
        dof=fit.dof,
        n_peers=fit.n_peers,
        step=step,
        maximize=maximize,
        p_improve_raw=raw,
        recal_a=recal.a,
        recal_b=recal.b,
    )


def _evidence(
    loc: float,
    scale: float,
    fit: cm.Fit,
    p: float,
    inc: float,
    study: StudyView,
    alpha: float,
    step: int,
    raw: float,
    recal: rc.Recalibration,
) -> dict[str, Any]:
    bound = loc + scale * float(special.stdtrit(fit.dof, recal.inverse(alpha)))
    extra: dict[str, Any] = {}
    if not recal.is_identity:
        extra = {
            "p_improve_raw": raw,
            "recalibration": {
                "a": recal.a,
                "b": recal.b,
                "n_records": recal.n_records,
                "n_trials": recal.n_trials,
            },
        }
    return {
        "predicted_mean": study.to_value(loc),
        "predicted_std": _std(scale, fit.dof),
        "credible_bound": study.to_value(bound),
        "incumbent": study.to_value(inc),
        "p_improve": p,
        "alpha": alpha,
        "n_peers": fit.n_peers,
        "step": step,
        **extra,
    }


def _objectives(curve: TrialCurve, pareto: Mapping[str, str]) -> tuple[float, ...] | None:
    out = []
    for key, direction in pareto.items():
        value = curve.params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        x = float(value)
        if not math.isfinite(x):
            return None
        out.append(x if direction == "minimize" else -x)
    return tuple(out)


def _as_array(rec: list[tuple[float, ...]]) -> np.ndarray:
    return np.array(rec, dtype=float) if rec else np.empty((0, 5))


def _check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a bool for `{field}`, got {value!r}")
    return value


def _check_pareto(pareto: Mapping[str, str] | None) -> dict[str, str] | None:
    if pareto is None:
        return None
    if not isinstance(pareto, Mapping):
        raise TypeError(f"expected a mapping of name -> direction for `pareto`, got {pareto!r}")
    if not pareto:
        raise ValueError("`pareto` must name at least one extra objective (or be None)")
    out = {}
    for key, direction in pareto.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"keys of `pareto` must be non-empty str, got {key!r}")
        out[key] = validate.choice(direction, _DIRECTIONS, f"pareto[{key!r}]")
    return out


def _check_warm(warm: Sequence[Sequence[Any]] | None) -> list[list[Any]]:
    if warm is None:
        return []
    if isinstance(warm, (str, bytes)) or not isinstance(warm, Sequence):
        raise TypeError(f"expected a list of [steps, scores, final] for `warm_start`, got {warm!r}")
    out: list[list[Any]] = []
    for i, item in enumerate(warm):
        field = f"warm_start[{i}]"
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 3:
            raise TypeError(f"expected [steps, scores, final] for `{field}`, got {item!r}")
        raw_steps, raw_scores, raw_final = item
        if not isinstance(raw_steps, Sequence) or not isinstance(raw_scores, Sequence):
            raise TypeError(f"`{field}` needs lists of steps and scores")
        steps = [validate.step(s, f"{field} steps") for s in raw_steps]
        scores = [validate.float_param(x, f"{field} scores") for x in raw_scores]
        final = validate.float_param(raw_final, f"{field} final")
        if len(steps) != len(scores) or not steps:
            raise ValueError(f"`{field}` needs as many steps as scores (at least one)")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"the steps of `{field}` must increase strictly")
        out.append([steps, scores, final])
    return out


def _warm_cols(warm: list[list[Any]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-step feature rows of the warm-start curves (they count as completed first)."""
    per_step: dict[int, tuple[list[list[float]], list[float]]] = {}
    n = len(warm)
    for k, (steps, scores, final) in enumerate(warm):
        order = float(k - n)  # -n .. -1: before this study's first completion
        best = math.inf
        for i, step in enumerate(steps):
            j = max(0, i - cm.RECENT)
            best = min(best, scores[i])
            row = [best, scores[i], scores[i] - scores[j], final]
            rows, orders = per_step.setdefault(step, ([], []))
            rows.append(row)
            orders.append(order)
    return {
        s: (np.array(r, dtype=float).T.copy(), np.array(o, dtype=float))
        for s, (r, o) in per_step.items()
    }
