"""CurveStore: every trial's learning curve plus incremental cross-trial views.

Policies never see the store's internals; they get two read-only views:

* :class:`TrialCurve` — one trial (its steps, canonical scores, elapsed time).
* :class:`StudyView` — all trials, with per-step *sorted* score lists that are
  maintained incrementally so that percentile cuts and rung ranks cost
  ``O(log n)`` instead of a scan over every trial.

Scores are canonical: lower is better whatever the study's direction. Only
finite scores are stored; non-finite reports never enter any statistic.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from hpprune.cache import DEFAULT_MAX_ENTRIES, PolicyCache
from hpprune.types import Decision, Direction, TrialState

Pool = Literal["completed", "all"]
_FINISHED = frozenset(st for st in TrialState if st.is_finished)
_NO_STEPS: list[int] = []
_NO_SCORES: list[float] = []
_NO_ELAPSED: list[float | None] = []
GroupKey = tuple[str, str] | None


class TrialCurve:
    """Read-only view of one trial (policies must not mutate it).

    Attributes:
        trial_id: The trial's id.
        index: Order in which the trial was first seen (0-based, stable).
        state: Current :class:`TrialState`.
        steps: Steps with a finite report, increasing.
        scores: Canonical scores (lower is better) at those steps.
        elapsed: Compute seconds at those steps (None where not given).
        last_step: Last step reported (finite or not), -1 before any report.
        best_score: Lowest canonical score so far (inf before any).
        final_score: Canonical final score once completed, else None.
        params: Hyperparameters, if the front door supplied them.
        groups: Partition labels assigned by the policy (e.g. a bracket).
        resources: Last resource readings (e.g. ``{"memory_mb": 800.0}``).
        peak_memory_mb: Largest ``memory_mb`` reading so far (0.0 without any).
        n_pauses: How many times the trial has been paused.
        spent_s: Latest ``elapsed_s`` reported (compute seconds spent so far).
        milestone_cap: Largest milestone the trial counts for in
            :meth:`StudyView.scores_from` (None: no cap; set when it is stopped
            at a rung).
        late: Reports of steps below ``last_step`` that arrived after it
            (``step -> canonical score``, None for a non-finite value). They
            enter no curve statistic or pool; unordered-step policies read them
            through :meth:`instance_scores`.

    A curve is built to be small: a study folded from a log of a million
    records holds a million of them. Empty ``params`` and ``groups`` share one
    read-only empty mapping, a step's position is found by bisection on
    ``steps`` (which increase), and what most trials never have (resource
    readings, pauses, a milestone cap, late or non-finite reports) is kept in a
    side record created on first use.
    """

    __slots__ = (
        "_decisions",
        "_extra",
        "_state",
        "best_score",
        "elapsed",
        "final_score",
        "groups",
        "index",
        "last_step",
        "params",
        "scores",
        "spent_s",
        "steps",
        "trial_id",
    )

    def __init__(
        self,
        trial_id: str,
        index: int,
        params: Mapping[str, Any] | None,
        groups: Mapping[str, str],
    ) -> None:
        self.trial_id = trial_id
        self.index = index
        self._state = TrialState.RUNNING
        self.spent_s = 0.0
        # Shared empty lists until the first point (the store never appends to them).
        self.steps: list[int] = _NO_STEPS
        self.scores: list[float] = _NO_SCORES
        self.elapsed: list[float | None] = _NO_ELAPSED
        self.last_step = -1
        self.best_score = math.inf
        self.final_score: float | None = None
        self.params: Mapping[str, Any] = dict(params) if params else _NOTHING
        self.groups: Mapping[str, str] = dict(groups) if groups else _NOTHING
        self._extra: _CurveExtras | None = None
        # The engine's decisions for this trial, oldest first: None, one Decision, or a
        # list of them (a study folded from a big log has mostly one-decision trials).
        # Kept here to spare a table entry per trial; not part of what policies read.
        self._decisions: Decision | list[Decision] | None = None

    def _extras(self) -> _CurveExtras:
        extra = self._extra
        if extra is None:
            extra = self._extra = _CurveExtras()
        return extra

    @property
    def resources(self) -> Mapping[str, float]:
        """Last resource readings (see the class docstring)."""
        return _NOTHING if self._extra is None else self._extra.resources

    @resources.setter
    def resources(self, value: Mapping[str, float]) -> None:
        self._extras().resources = value

    @property
    def peak_memory_mb(self) -> float:
        """Largest ``memory_mb`` reading so far (0.0 without any)."""
        return 0.0 if self._extra is None else self._extra.peak_memory_mb

    @peak_memory_mb.setter
    def peak_memory_mb(self, value: float) -> None:
        self._extras().peak_memory_mb = value

    @property
    def n_pauses(self) -> int:
        """How many times the trial has been paused."""
        return 0 if self._extra is None else self._extra.n_pauses

    @n_pauses.setter
    def n_pauses(self, value: int) -> None:
        self._extras().n_pauses = value

    @property
    def milestone_cap(self) -> int | None:
        """Largest milestone the trial counts for (see the class docstring)."""
        return None if self._extra is None else self._extra.milestone_cap

    @milestone_cap.setter
    def milestone_cap(self, value: int | None) -> None:
        self._extras().milestone_cap = value

    @property
    def state(self) -> TrialState:
        """Current :class:`TrialState` (the store keeps per-state indexes of it)."""
        return self._state

    @property
    def late(self) -> Mapping[int, float | None]:
        """Reports that arrived below ``last_step`` (see the class docstring)."""
        extra = self._extra
        return _NOTHING if extra is None or extra.late is None else extra.late

    @property
    def n_steps(self) -> int:
        """Number of finite reports."""
        return len(self.steps)

    @property
    def last_score(self) -> float | None:
        """Canonical score of the latest finite report, or None."""
        return self.scores[-1] if self.scores else None

    @property
    def last_elapsed(self) -> float | None:
        """Latest known elapsed seconds, or None."""
        for e in reversed(self.elapsed):
            if e is not None:
                return e
        return None

    def score_at(self, step: int) -> float | None:
        """Canonical score reported at exactly ``step``, late reports included.

        None if the step was not reported or its value was not finite.
        """
        i = self._index(step)
        if i is not None:
            return self.scores[i]
        late = None if self._extra is None else self._extra.late
        return late.get(step) if late else None

    def has_step(self, step: int) -> bool:
        """True if ``step`` was reported (in order or late, finite or not)."""
        if step == self.last_step:
            return True
        if self._index(step) is not None:
            return True
        extra = self._extra
        return extra is not None and (
            (extra.late is not None and step in extra.late)
            or (extra.nan_steps is not None and step in extra.nan_steps)
        )

    def _index(self, step: int) -> int | None:
        """Position of ``step`` in ``steps`` (which increase), or None."""
        steps = self.steps
        i = bisect.bisect_left(steps, step)
        return i if i < len(steps) and steps[i] == step else None

    def instance_scores(self) -> dict[int, float]:
        """Every finite report as ``step -> canonical score``, in any order of arrival.

        What unordered-step policies read: the in-order curve plus the late
        reports (non-finite values left out).
        """
        out = dict(zip(self.steps, self.scores, strict=True))
        for step, score in self.late.items():
            if score is not None:
                out[step] = score
        return out

    def first_at_or_after(self, step: int) -> tuple[int, float] | None:
        """The first finite report at a step >= ``step`` as ``(step, score)``, or None."""
        i = bisect.bisect_left(self.steps, step)
        return (self.steps[i], self.scores[i]) if i < len(self.steps) else None

    def best_until(self, step: int) -> float:
        """Lowest canonical score at steps <= ``step`` (inf if none)."""
        end = bisect.bisect_right(self.steps, step)
        return min(self.scores[:end], default=float("inf"))

    def seconds_per_step(self) -> float | None:
        """Observed compute seconds per step, or None without timing data."""
        e = self.last_elapsed
        if e is None or self.last_step < 0:
            return None
        return e / (self.last_step + 1) if e > 0 else None

    def __repr__(self) -> str:
        return (
            f"TrialCurve({self.trial_id!r}, state={self.state.value}, n_steps={self.n_steps}, "
            f"best={self.best_score})"
        )


class _CurveExtras:
    """What most trials never have, kept aside from :class:`TrialCurve` until used."""

    __slots__ = ("late", "milestone_cap", "n_pauses", "nan_steps", "peak_memory_mb", "resources")

    def __init__(self) -> None:
        self.resources: Mapping[str, float] = _NOTHING
        self.peak_memory_mb = 0.0
        self.n_pauses = 0
        self.milestone_cap: int | None = None
        self.late: dict[int, float | None] | None = None
        self.nan_steps: set[int] | None = None


class StudyView:
    """Read-only view of all trials, handed to policies.

    Args:
        direction: The study's direction (policies use it only to turn
            canonical scores back into user values for evidence).
    """

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self._trials: dict[str, TrialCurve] = {}
        self._sorted: dict[tuple[Pool, GroupKey, int], list[float]] = {}
        self._milestones: list[int] = []
        self._msorted: dict[tuple[Pool, GroupKey, int], list[float]] = {}
        self._completed: list[str] = []
        self._incumbent = float("inf")
        self._incumbent_id: str | None = None
        self._best_observed = float("inf")
        self._max_step = -1
        self._max_completed_step = -1
        self._caches: dict[int, tuple[object, PolicyCache]] = {}
        # Live trials by state, in the order they entered it; finished ones are only
        # counted (a study folded from a big log holds mostly finished trials).
        self._by_state: dict[TrialState, dict[str, TrialCurve]] = {
            st: {} for st in TrialState if st not in _FINISHED
        }
        self._n_finished: dict[TrialState, int] = dict.fromkeys(_FINISHED, 0)
        self._spent_s = 0.0
        self._est = [0, 0.0, 0.0]  # finished trials' estimated finals: count, sum, sum of squares
        self._finished_rates = array("d")  # sorted; unboxed: 8 B per finished trial
        self._bulk = False  # True while Engine.from_records folds a log (see _begin_bulk)

    # ----------------------------------------------------------------- queries
    @property
    def n_trials(self) -> int:
        """Number of trials seen."""
        return len(self._trials)

    @property
    def n_completed(self) -> int:
        """Number of completed trials."""
        return len(self._completed)

    @property
    def completed_ids(self) -> tuple[str, ...]:
        """Completed trial ids in completion order."""
        return tuple(self._completed)

    @property
    def max_step(self) -> int:
        """Largest step reported by any trial (-1 before any)."""
        return self._max_step

    @property
    def max_completed_step(self) -> int:
        """Largest last step of any completed trial (-1 before any completes)."""
        return self._max_completed_step

    def trials(self) -> Iterator[TrialCurve]:
        """All trials in the order they were first seen."""
        return iter(self._trials.values())

    def trial(self, trial_id: str) -> TrialCurve:
        """One trial's curve.

        Raises:
            KeyError: If the trial is unknown.
        """
        return self._trials[trial_id]

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._trials

    def sorted_scores(
        self, step: int, pool: Pool = "completed", group: GroupKey = None
    ) -> list[float]:
        """Ascending canonical scores reported at exactly ``step``.

        Args:
            step: The step.
            pool: ``"completed"`` (completed trials only) or ``"all"`` (every
                trial that is not stale, including stopped ones).
            group: Optional ``(name, label)`` partition, e.g. a bracket.

        Returns:
            A sorted list owned by the store: do not mutate it.
        """
        return self._sorted.get((pool, group, step), _EMPTY)

    def scores_from(
        self, milestone: int, pool: Pool = "all", group: GroupKey = None
    ) -> list[float]:
        """Ascending canonical scores of each trial's first finite report at or after ``milestone``.

        This is the pool for a rung or checkpoint that trials may reach at
        different steps (a trial that skips steps is counted at its first step
        past the milestone). The first query for a milestone indexes it from
        every trial; later reports keep it up to date in ``O(log n)``.

        A trial stopped by a decision with a ``rung_resource`` (see
        :class:`~hpprune.types.Decision`) counts only for milestones up to that
        resource: a trial that jumped past several rungs and failed the lowest
        one never reached the others.

        Args:
            milestone: The milestone step (>= 0).
            pool: ``"completed"`` or ``"all"`` (as in :meth:`sorted_scores`).
            group: Optional ``(name, label)`` partition.

        Returns:
            A sorted list owned by the store: do not mutate it.
        """
        i = bisect.bisect_left(self._milestones, milestone)
        if i == len(self._milestones) or self._milestones[i] != milestone:
            self._index_milestone(milestone, i)
        return self._msorted.get((pool, group, milestone), _EMPTY)

    def incumbent(self) -> float:
        """Best canonical final score among completed trials (inf if none)."""
        return self._incumbent

    @property
    def incumbent_id(self) -> str | None:
        """Id of the completed trial holding the incumbent score."""
        return self._incumbent_id

    def best_observed(self) -> float:
        """Best canonical score reported by any trial at any step (inf if none)."""
        return self._best_observed

    def trials_in(self, state: TrialState) -> list[TrialCurve]:
        """Trials currently in ``state``.

        Running, paused and stale trials come in the order they entered the
        state (O(k) for k of them); completed ones in completion order, and
        stopped and failed ones in the order first seen (O(n): finished trials
        are not indexed).
        """
        live = self._by_state.get(state)
        if live is not None:
            return list(live.values())
        if state is TrialState.COMPLETED:
            return [c for t in self._completed if (c := self._trials[t])._state is state]
        return [c for c in self._trials.values() if c._state is state]

    def n_in(self, state: TrialState) -> int:
        """Number of trials currently in ``state`` (O(1))."""
        live = self._by_state.get(state)
        return len(live) if live is not None else self._n_finished[state]

    @property
    def spent_seconds(self) -> float:
        """Compute seconds reported by all trials together (sum of their latest ``elapsed_s``)."""
        return self._spent_s

    def finished_estimates(self) -> tuple[int, float, float]:
        """Count, mean and sample std of finished trials' estimated final scores.

        The estimate is the final score of a completed trial and the best score
        of a stopped or failed one; non-finite estimates are left out.
        """
        n, total, sq = self._est
        if n == 0:
            return 0, math.inf, 0.0
        mean = total / n
        var = max(sq / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else 0.0
        return int(n), mean, math.sqrt(var)

    def finished_rate_median(self) -> float | None:
        """Median seconds per step of finished trials with timing data."""
        rates = self._finished_rates
        return rates[len(rates) // 2] if rates else None

    def cache(self, owner: object, max_entries: int = DEFAULT_MAX_ENTRIES) -> PolicyCache:
        """The memo of ``owner`` (a policy) over this study; created on first use.

        The view stays read-only: a policy memoises costly answers in its own
        :class:`~hpprune.cache.PolicyCache`, which this store owns and keeps
        as long as the study lives (see :mod:`hpprune.cache` for the contract:
        pure memoisation, never logged, bounded).

        Args:
            owner: The policy (its cache is found by identity).
            max_entries: Bound of a cache created by this call.

        Returns:
            The owner's cache.
        """
        hit = self._caches.get(id(owner))
        if hit is not None and hit[0] is owner:
            return hit[1]
        cache = PolicyCache(max_entries)
        self._caches[id(owner)] = (owner, cache)  # the owner is held: its id is not reused
        return cache

    def to_value(self, score: float) -> float:
        """Canonical score -> the user's metric scale (for evidence)."""
        return self.direction.to_value(score)

    # --------------------------------------------------------------- mutation
    # Only the Engine calls these.
    def _add_trial(
        self, trial_id: str, params: Mapping[str, Any] | None, groups: Mapping[str, str]
    ) -> TrialCurve:
        curve = TrialCurve(trial_id, len(self._trials), params, groups)
        self._trials[trial_id] = curve
        self._by_state[TrialState.RUNNING][trial_id] = curve  # (a new curve's state)
        return curve

    def _set_state(self, curve: TrialCurve, new: TrialState) -> None:
        """Move a trial to state ``new`` (the store keeps its indexes and tallies)."""
        old = curve._state
        if old is new:
            return
        curve._state = new
        was_finished = old in _FINISHED
        if was_finished:
            self._n_finished[old] -= 1
        else:
            del self._by_state[old][curve.trial_id]
        if new not in _FINISHED:
            self._by_state[new][curve.trial_id] = curve
            return
        self._n_finished[new] += 1
        if not was_finished:
            est = curve.final_score if curve.final_score is not None else curve.best_score
            if math.isfinite(est):
                self._est[0] += 1
                self._est[1] += est
                self._est[2] += est * est
            rate = curve.seconds_per_step()
            if rate is not None:
                if self._bulk:  # sorted once in _end_bulk
                    self._finished_rates.append(rate)
                else:
                    bisect.insort(self._finished_rates, rate)

    def _keys(
        self, curve: TrialCurve, pool: Pool, step: int
    ) -> Iterable[tuple[Pool, GroupKey, int]]:
        yield (pool, None, step)
        for item in curve.groups.items():
            yield (pool, item, step)

    def _begin_bulk(self) -> None:
        """Append to the pools without sorting until :meth:`_end_bulk` (log replay only).

        Nothing may read the pools in between: replaying recorded decisions
        never calls a policy. Sorting once at the end replaces one ``insort``
        per point, which costs O(n) each on pools of n trials.
        """
        self._bulk = True

    def _end_bulk(self) -> None:
        """Sort every pool once and go back to sorted inserts."""
        if self._bulk:
            for pools in (self._sorted, self._msorted):
                for lst in pools.values():
                    lst.sort()
            rates = np.sort(np.frombuffer(self._finished_rates, dtype=np.float64))
            self._finished_rates = array("d", rates.tobytes())  # (no float objects made)
            self._bulk = False

    def _insert(self, curve: TrialCurve, pool: Pool, step: int, score: float) -> None:
        if not curve.groups:  # fast path: the global pool only
            lst = self._sorted.get((pool, None, step))
            if lst is None:
                self._sorted[(pool, None, step)] = [score]
            elif self._bulk:
                lst.append(score)
            else:
                bisect.insort(lst, score)
            return
        for key in self._keys(curve, pool, step):
            lst = self._sorted.get(key)
            if lst is None:
                self._sorted[key] = [score]
            elif self._bulk:
                lst.append(score)
            else:
                bisect.insort(lst, score)

    def _remove(self, curve: TrialCurve, pool: Pool, step: int, score: float) -> None:
        for key in self._keys(curve, pool, step):
            _discard(self._sorted.get(key), score, self._bulk)

    def _index_milestone(self, milestone: int, position: int) -> None:
        self._milestones.insert(position, milestone)
        for curve in self._trials.values():
            first = curve.first_at_or_after(milestone)
            if first is None or (
                curve.milestone_cap is not None and milestone > curve.milestone_cap
            ):
                continue
            if curve.state is not TrialState.STALE:
                self._minsert(curve, "all", milestone, first[1])
            if curve.state is TrialState.COMPLETED:
                self._minsert(curve, "completed", milestone, first[1])

    def _minsert(self, curve: TrialCurve, pool: Pool, milestone: int, score: float) -> None:
        for key in self._keys(curve, pool, milestone):
            lst = self._msorted.setdefault(key, [])
            if self._bulk:
                lst.append(score)
            else:
                bisect.insort(lst, score)

    def _mremove(self, curve: TrialCurve, pool: Pool, milestone: int, score: float) -> None:
        for key in self._keys(curve, pool, milestone):
            _discard(self._msorted.get(key), score, self._bulk)

    def _each_milestone(self, curve: TrialCurve) -> Iterator[tuple[int, float]]:
        cap = curve.milestone_cap
        for milestone in self._milestones:
            first = curve.first_at_or_after(milestone)
            if first is None or (cap is not None and milestone > cap):
                return
            yield milestone, first[1]

    def _cap_milestones(self, curve: TrialCurve, cap: int) -> None:
        """Withdraw a stopped trial from the milestone pools above ``cap``."""
        if curve.milestone_cap is not None and curve.milestone_cap <= cap:
            return
        before = dict(self._each_milestone(curve))
        curve.milestone_cap = cap
        for milestone, score in before.items():
            if milestone <= cap:
                continue
            if curve.state is not TrialState.STALE:
                self._mremove(curve, "all", milestone, score)
            if curve.state is TrialState.COMPLETED:
                self._mremove(curve, "completed", milestone, score)

    def _add_point(
        self, curve: TrialCurve, step: int, score: float | None, elapsed: float | None
    ) -> None:
        curve.last_step = step
        if step > self._max_step:
            self._max_step = step
        if elapsed is not None:
            self._spent_s += elapsed - curve.spent_s
            curve.spent_s = elapsed
        if score is None:
            extra = curve._extras()
            if extra.nan_steps is None:
                extra.nan_steps = set()
            extra.nan_steps.add(step)
            return
        stale = curve._state is TrialState.STALE
        if self._milestones and not stale:
            # Milestones in (previous finite step, step] are first reached now.
            previous = curve.steps[-1] if curve.steps else -1
            lo = bisect.bisect_right(self._milestones, previous)
            top = step if curve.milestone_cap is None else min(step, curve.milestone_cap)
            hi = bisect.bisect_right(self._milestones, top)
            for milestone in self._milestones[lo:hi]:
                self._minsert(curve, "all", milestone, score)
        if curve.steps:
            curve.steps.append(step)
            curve.scores.append(score)
            curve.elapsed.append(elapsed)
        else:  # the first point: lists of its exact size (most trials of a big study stop here)
            curve.steps, curve.scores, curve.elapsed = [step], [score], [elapsed]
        if score < curve.best_score:
            curve.best_score = score
        if score < self._best_observed:
            self._best_observed = score
        if not stale:
            self._insert(curve, "all", step, score)

    def _add_late_point(
        self, curve: TrialCurve, step: int, score: float | None, elapsed: float | None
    ) -> None:
        """A report of a step below the trial's last one: kept aside, in no pool."""
        if elapsed is not None:
            self._spent_s += elapsed - curve.spent_s
            curve.spent_s = elapsed
        extra = curve._extras()
        if extra.late is None:
            extra.late = {}
        extra.late[step] = score

    def _complete(self, curve: TrialCurve, final_score: float | None, use_last: bool) -> None:
        if final_score is None and use_last and curve.scores:
            final_score = curve.scores[-1]
        curve.final_score = final_score
        self._set_state(curve, TrialState.COMPLETED)
        self._completed.append(curve.trial_id)
        self._max_completed_step = max(self._max_completed_step, curve.last_step)
        for step, score in zip(curve.steps, curve.scores, strict=True):
            self._insert(curve, "completed", step, score)
        for milestone, score in self._each_milestone(curve):
            self._minsert(curve, "completed", milestone, score)
        if final_score is not None and final_score < self._incumbent:
            self._incumbent = final_score
            self._incumbent_id = curve.trial_id

    def _set_stale(self, curve: TrialCurve, stale: bool) -> None:
        if stale == (curve.state is TrialState.STALE):
            return
        for step, score in zip(curve.steps, curve.scores, strict=True):
            if stale:
                self._remove(curve, "all", step, score)
            else:
                self._insert(curve, "all", step, score)
        for milestone, score in self._each_milestone(curve):
            if stale:
                self._mremove(curve, "all", milestone, score)
            else:
                self._minsert(curve, "all", milestone, score)
        self._set_state(curve, TrialState.STALE if stale else TrialState.RUNNING)


_EMPTY: list[float] = []
_NOTHING: Mapping[Any, Any] = MappingProxyType({})


def _discard(lst: list[float] | None, score: float, unsorted: bool) -> None:
    """Remove one occurrence of ``score`` from a pool, if present."""
    if not lst:
        return
    if unsorted:
        if score in lst:
            lst.remove(score)
        return
    i = bisect.bisect_left(lst, score)
    if i < len(lst) and lst[i] == score:
        del lst[i]
