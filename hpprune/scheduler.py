"""ResourceScheduler: spend compute where the expected gain per compute hour is highest.

For every running, paused or not-yet-started trial the scheduler estimates

* expected gain ``E[max(0, incumbent - final)]`` (canonical scores, lower is
  better) from a predictive distribution of the trial's final score, and
* expected cost: remaining steps x seconds per step (the trial's own rate, or
  its nearest peers' by hyperparameters when it has no timing yet),

and ranks trials by gain per compute hour. A running trial whose rank falls
well below the best alternative (a paused trial or a fresh configuration) is
PAUSEd; :meth:`ResourceScheduler.next_trial` tells a free worker whether to
resume a paused trial or start a new one. A total compute budget and a
per-trial memory limit are enforced with STOP decisions.

Like every policy it is pure: all state (elapsed seconds, memory readings,
paused trials) lives in the engine's store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.next_trial import NextTrial
from hpprune.pruners.base import Policy, as_policy, find_policy, policy_from_dict
from hpprune.types import Action, Decision, Reason, TrialState, cont, stop

RULE = "ResourceScheduler"
_MEMO_LIMIT = 50_000


class Predictive(Protocol):
    """A predictive distribution of a trial's final canonical score."""

    @property
    def mean(self) -> float: ...

    @property
    def std(self) -> float: ...


class GainModel(Protocol):
    """Anything with ``predict(trial, study)`` returning a canonical mean and std."""

    def predict(self, trial: TrialCurve, study: StudyView) -> Predictive: ...


@dataclass(frozen=True)
class PeerPrediction:
    """Mean and std of a final canonical score."""

    mean: float
    std: float


class PeerDeltaModel:
    """Fallback predictive model: the trial's last score plus the peers' later change.

    For completed peers that reported the trial's current step, ``final -
    score_at_step`` is collected; the prediction is the trial's last score plus
    the mean change, with the changes' spread (plus a floor) as std. Only
    finite scores are used.
    """

    def predict(self, trial: TrialCurve, study: StudyView) -> PeerPrediction:
        """Predict the final canonical score of ``trial``.

        Args:
            trial: A trial with at least one finite report.
            study: All trials.

        Returns:
            Mean and std (canonical scale).
        """
        last = trial.last_score
        if last is None:
            return PeerPrediction(math.inf, 0.0)
        step = trial.steps[-1]
        deltas = []
        for tid in study.completed_ids:
            peer = study.trial(tid)
            at = peer.score_at(step)
            if at is not None and peer.final_score is not None:
                deltas.append(peer.final_score - at)
        if len(deltas) < 2:
            spread = abs(last) * 0.1 + 1e-9
            return PeerPrediction(last, spread)
        arr = np.asarray(deltas)
        return PeerPrediction(last + float(arr.mean()), float(arr.std(ddof=1)) + 1e-9)


def expected_gain(incumbent: float, mean: float, std: float) -> float:
    """``E[max(0, incumbent - X)]`` for ``X ~ Normal(mean, std)`` (lower is better).

    Non-finite inputs give 0.0 (no evidence of a gain); with ``std == 0`` it
    is the plain positive difference.
    """
    if not (math.isfinite(incumbent) and math.isfinite(mean) and math.isfinite(std)):
        return 0.0
    diff = incumbent - mean
    if std <= 0:
        return max(0.0, diff)
    z = diff / std
    cdf = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return diff * cdf + std * pdf


@dataclass(frozen=True)
class Candidate:
    """One entry of the ranking.

    Attributes:
        trial_id: The trial, or ``None`` for a fresh configuration.
        state: ``running``, ``paused`` or ``new``.
        gain: Expected gain over the incumbent (canonical units).
        cost_h: Expected remaining compute hours.
        gain_per_hour: ``gain / cost_h``.
    """

    trial_id: str | None
    state: str
    gain: float
    cost_h: float
    gain_per_hour: float


class ResourceScheduler(Policy):
    """Rank trials by expected gain per compute hour; pause, resume and keep to a budget.

    Decision order for a report: memory limit (STOP ``memory_limit``), budget
    (STOP ``budget_exhausted``), the wrapped stop ``policy``, then the ranking:
    PAUSE ``low_gain_per_hour`` when the best alternative is worth more than
    ``pause_margin`` times this trial's next hour and more than
    ``max_concurrent`` trials would otherwise compete for workers.

    Args:
        policy: The stop rule applied first (e.g. a BayesianPruner).
        budget_hours: Total compute hours (sum of every trial's elapsed
            seconds); None for no budget.
        max_concurrent: Workers available; pausing happens only when more
            candidates than this compete. None means "as many as are running".
        memory_limit_mb: Stop a trial whose reported ``memory_mb`` exceeds it.
        max_step: The final step of a full run; None uses the largest step
            any completed trial reached.
        pause_margin: How much better (ratio) the best alternative must be
            before a running trial is paused (hysteresis against thrashing).
        min_steps_before_pause: A trial is never paused before this many reports.
        max_pauses: A trial is paused at most this many times; only the first
            pause may be in favour of a fresh configuration (the front door may
            have no new trials left to start), so pausing cannot thrash.
        model: Predictive model with ``predict(trial, study)``; None uses
            ``policy.predict`` when the policy has one, else :class:`PeerDeltaModel`.
        allow_new: Whether fresh configurations compete in the ranking.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range.

    Non-finite reports never reach it (the engine stops or skips them);
    trials without timing data borrow their peers' seconds per step.
    """

    def __init__(
        self,
        policy: Policy,
        budget_hours: float | None = None,
        max_concurrent: int | None = None,
        memory_limit_mb: float | None = None,
        *,
        max_step: int | None = None,
        pause_margin: float = 2.0,
        min_steps_before_pause: int = 2,
        max_pauses: int = 3,
        model: GainModel | None = None,
        allow_new: bool = True,
    ) -> None:
        self.policy = as_policy(policy)
        self.budget_hours = (
            None
            if budget_hours is None
            else validate.float_param(budget_hours, "budget_hours", 0.0, low_inclusive=False)
        )
        self.max_concurrent = (
            None
            if max_concurrent is None
            else validate.int_param(max_concurrent, "max_concurrent", 1)
        )
        self.memory_limit_mb = (
            None
            if memory_limit_mb is None
            else validate.float_param(memory_limit_mb, "memory_limit_mb", 0.0, low_inclusive=False)
        )
        self.max_step = None if max_step is None else validate.int_param(max_step, "max_step", 0)
        self.pause_margin = validate.float_param(pause_margin, "pause_margin", 1.0)
        self.min_steps_before_pause = validate.int_param(
            min_steps_before_pause, "min_steps_before_pause", 1
        )
        self.max_pauses = validate.int_param(max_pauses, "max_pauses", 0)
        if not isinstance(allow_new, bool):
            raise TypeError(f"expected a bool for `allow_new`, got {allow_new!r}")
        self.allow_new = allow_new
        if model is not None and not callable(getattr(model, "predict", None)):
            raise TypeError("`model` must have a predict(trial, study) method")
        self._model = model

    # ----------------------------------------------------------- contract
    @property
    def name(self) -> str:
        return RULE

    def params(self) -> dict[str, Any]:
        out = self._params()
        if self._model is not None:  # pre-registered: the hash covers the model too
            out["model"] = model_record(self._model)
        return out

    def _params(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "budget_hours": self.budget_hours,
            "max_concurrent": self.max_concurrent,
            "memory_limit_mb": self.memory_limit_mb,
            "max_step": self.max_step,
            "pause_margin": self.pause_margin,
            "min_steps_before_pause": self.min_steps_before_pause,
            "max_pauses": self.max_pauses,
            "allow_new": self.allow_new,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ResourceScheduler:
        """Rebuild from :meth:`params` (the nested policy is deserialised)."""
        kwargs = dict(params)
        kwargs["policy"] = policy_from_dict(kwargs["policy"])
        model = kwargs.pop("model", None)
        if model is not None:
            kwargs["model"] = _model_from_record(model)
        return cls(**kwargs)

    def groups(self, trial_id: str) -> dict[str, str]:
        return self.policy.groups(trial_id)

    def children(self) -> tuple[Policy, ...]:
        return (self.policy,)

    @property
    def model(self) -> GainModel:
        """The predictive model in use."""
        if self._model is not None:
            return self._model
        found = _find_predictor(self.policy)
        return _UserScaleModel(found) if found is not None else PeerDeltaModel()

    # ------------------------------------------------------------ numbers
    def horizon(self, study: StudyView) -> int:
        """The final step of a full run."""
        if self.max_step is not None:
            return self.max_step
        if study.n_completed:
            return study.max_completed_step
        return max(study.max_step, 0)

    def spent_hours(self, study: StudyView) -> float:
        """Compute hours spent so far by every trial."""
        return study.spent_seconds / 3600.0

    def seconds_per_step(self, trial: TrialCurve, study: StudyView) -> float:
        """Observed seconds per step, or the nearest peers' (by hyperparameters)."""
        own = trial.seconds_per_step()
        if own is not None:
            return own
        rates: list[tuple[float, int, float]] = []
        for peer in study.trials():
            rate = peer.seconds_per_step()
            if rate is not None and peer.trial_id != trial.trial_id:
                rates.append((_param_distance(trial.params, peer.params), peer.index, rate))
        if not rates:
            return 1.0
        rates.sort()
        k = min(5, len(rates))
        return float(np.median([r for _, _, r in rates[:k]]))

    def candidate(self, trial: TrialCurve, study: StudyView) -> Candidate:
        """Gain, cost and gain per hour of a running or paused trial.

        With the built-in models the answer depends only on the trial's own
        curve and rate and on the completed trials, so it is memoised in the
        scheduler's :meth:`~hpprune.curves.StudyView.cache` under those keys (a
        paused trial is not predicted again until a trial completes); a custom
        ``model`` is always asked.
        """
        key = None
        if self._model is None and trial.seconds_per_step() is not None:
            key = (
                trial.trial_id,
                trial.last_step,
                trial.state,
                study.n_completed,
                self.horizon(study),
            )
            hit = study.cache(self, _MEMO_LIMIT).get(key)
            if isinstance(hit, Candidate):
                return hit
        cand = self._candidate(trial, study)
        if key is not None:
            study.cache(self, _MEMO_LIMIT).put(key, cand)
        return cand

    def _candidate(self, trial: TrialCurve, study: StudyView) -> Candidate:
        incumbent = study.incumbent()
        pred = self.model.predict(trial, study)
        gain = expected_gain(incumbent, float(pred.mean), float(pred.std))
        remaining = max(self.horizon(study) - trial.last_step, 1)
        cost_h = remaining * self.seconds_per_step(trial, study) / 3600.0
        state = "paused" if trial.state is TrialState.PAUSED else "running"
        return Candidate(trial.trial_id, state, gain, cost_h, gain / cost_h)

    def new_candidate(self, study: StudyView) -> Candidate:
        """Gain per hour expected from a fresh configuration.

        The gain is ``E[max(0, incumbent - X)]`` with ``X`` normal, fitted to
        every trial's estimated final score (final for completed trials, best
        so far for the others); the cost a full run at the median seconds per
        step. Fewer than two estimates give no gain.
        """
        incumbent = study.incumbent()
        n, total, sq = 0, 0.0, 0.0
        n_done, mean_done, std_done = study.finished_estimates()
        if n_done:
            var_done = std_done * std_done * (n_done - 1) / n_done if n_done > 1 else 0.0
            n, total, sq = n_done, mean_done * n_done, (var_done + mean_done**2) * n_done
        live_rates = []
        for state in (TrialState.RUNNING, TrialState.PAUSED):
            for c in study.trials_in(state):
                if math.isfinite(c.best_score):
                    n, total, sq = n + 1, total + c.best_score, sq + c.best_score**2
                r = c.seconds_per_step()
                if r is not None:
                    live_rates.append(r)
        if n < 2:
            gain = 0.0
        else:
            mean = total / n
            std = math.sqrt(max(sq / n - mean * mean, 0.0) * n / (n - 1))
            gain = expected_gain(incumbent, mean, std)
        rate = study.finished_rate_median()
        if rate is None:
            rate = float(np.median(live_rates)) if live_rates else 1.0
        cost_h = (self.horizon(study) + 1) * rate / 3600.0
        return Candidate(None, "new", gain, cost_h, gain / cost_h)

    def ranking(self, study: StudyView) -> list[Candidate]:
        """Running and paused trials (and a fresh configuration), best first.

        Ties are broken by trial order, so the ranking is deterministic.
        """
        cands: list[tuple[float, int, Candidate]] = []
        for c in study.trials_in(TrialState.RUNNING) + study.trials_in(TrialState.PAUSED):
            if c.n_steps > 0:
                cand = self.candidate(c, study)
                cands.append((-cand.gain_per_hour, c.index, cand))
        if self.allow_new:
            new = self.new_candidate(study)
            cands.append((-new.gain_per_hour, study.n_trials, new))
        cands.sort(key=lambda x: (x[0], x[1]))
        return [c for _, _, c in cands]

    def _budget_evidence(self, study: StudyView) -> dict[str, Any]:
        spent = self.spent_hours(study)
        left = None if self.budget_hours is None else max(self.budget_hours - spent, 0.0)
        return {"spent_hours": spent, "budget_hours": self.budget_hours, "budget_left_hours": left}

    # ------------------------------------------------------------ decide
    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if self.memory_limit_mb is not None and trial.peak_memory_mb > self.memory_limit_mb:
            return stop(
                RULE,
                Reason.MEMORY_LIMIT,
                peak_memory_mb=trial.peak_memory_mb,
                memory_limit_mb=self.memory_limit_mb,
            )
        budget = self._budget_evidence(study)
        if self.budget_hours is not None and budget["spent_hours"] >= self.budget_hours:
            return stop(RULE, Reason.BUDGET_EXHAUSTED, **budget)
        inner = self.policy.decide(trial, study)
        if inner.action is not Action.CONTINUE:
            return inner
        if (
            trial.n_steps < self.min_steps_before_pause
            or study.n_completed == 0
            or trial.n_pauses >= self.max_pauses
        ):
            return inner
        mine = self.candidate(trial, study)
        alternatives = [
            self.candidate(c, study) for c in study.trials_in(TrialState.PAUSED) if c.n_steps > 0
        ]
        if self.allow_new and trial.n_pauses == 0:
            alternatives.append(self.new_candidate(study))
        if not alternatives:
            return inner
        best = max(alternatives, key=lambda c: c.gain_per_hour)
        evidence = {
            "gain": mine.gain,
            "cost_hours": mine.cost_h,
            "gain_per_hour": mine.gain_per_hour,
            "best_alternative": best.trial_id or "new",
            "best_alternative_gain_per_hour": best.gain_per_hour,
            **budget,
        }
        if best.gain_per_hour > self.pause_margin * mine.gain_per_hour and best.gain_per_hour > 0:
            running = _n_running(study)
            if self.max_concurrent is None or running >= self.max_concurrent:
                return Decision(Action.PAUSE, Reason.LOW_GAIN_PER_HOUR, RULE, evidence=evidence)
        return cont(RULE, inner.reason, **evidence)

    def next_trial(self, study: StudyView, can_start: bool = True) -> NextTrial:
        """What a free worker should do: resume a paused trial, start a new one, or nothing.

        Args:
            study: The engine's study view.
            can_start: Whether the front door has a new configuration to start;
                when it has none, the best paused trial is resumed.

        Returns:
            The answer, with gain, cost, rank and budget evidence.
        """
        budget = self._budget_evidence(study)
        if self.budget_hours is not None and budget["spent_hours"] >= self.budget_hours:
            return NextTrial("none", None, Reason.BUDGET_EXHAUSTED, budget)
        running = _n_running(study)
        if self.max_concurrent is not None and running >= self.max_concurrent:
            return NextTrial("none", None, "max_concurrent", {"running": running, **budget})
        ranking = [
            c
            for c in self.ranking(study)
            if c.state == "paused" or (c.state == "new" and can_start)
        ]
        if not ranking:
            return NextTrial(
                "start" if self.allow_new and can_start else "none", None, "nothing_paused", budget
            )
        top = ranking[0]
        evidence = {
            "gain": top.gain,
            "cost_hours": top.cost_h,
            "gain_per_hour": top.gain_per_hour,
            "n_candidates": len(ranking),
            **budget,
        }
        if top.state == "paused":
            return NextTrial("resume", top.trial_id, "best_gain_per_hour", evidence)
        return NextTrial("start", None, "best_gain_per_hour", evidence)

    def resume_decision(self, answer: NextTrial) -> Decision:
        """The RESUME decision to record (``engine.decide_external``) for a resume answer."""
        return Decision(Action.RESUME, Reason.RESUMED, RULE, evidence=dict(answer.evidence))


def _param_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Distance between two hyperparameter dicts (log scale for positive numbers)."""
    keys = set(a) | set(b)
    if not keys:
        return 0.0
    total = 0.0
    for k in sorted(keys):
        x, y = a.get(k), b.get(k)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if x > 0 and y > 0:
                total += (math.log(x) - math.log(y)) ** 2
            else:
                total += (float(x) - float(y)) ** 2
        elif x != y:
            total += 1.0
    return math.sqrt(total)


def _n_running(study: StudyView) -> int:
    """Running trials that have reported at least one finite value."""
    return sum(1 for c in study.trials_in(TrialState.RUNNING) if c.n_steps > 0)


class _UserScaleModel:
    """Adapts a policy's ``predict`` (user scale, may return None) to a canonical model.

    A prediction with an infinite std (Student-t with <= 2 degrees of freedom)
    uses twice its scale; no prediction falls back to :class:`PeerDeltaModel`.
    """

    def __init__(self, source: Any) -> None:
        self.source = source

    def predict(self, trial: TrialCurve, study: StudyView) -> PeerPrediction:
        pred = self.source.predict(trial, study)
        if pred is None:
            return PeerDeltaModel().predict(trial, study)
        mean = study.direction.to_score(float(pred.mean))
        std = float(pred.std)
        if not math.isfinite(std):
            std = 2.0 * float(getattr(pred, "scale", 0.0))
        return PeerPrediction(mean, std)


def _find_predictor(policy: Policy) -> Any:
    """The first policy in a composition tree with a ``predict`` method."""
    return find_policy(policy, lambda p: callable(getattr(p, "predict", None)))


def model_record(model: GainModel) -> dict[str, Any]:
    """What a log's header records of a custom ``model`` (its type, and its parameters).

    A policy used as the model records its ``to_dict()``; any other object
    records its type and, if it has a ``params()`` method, what it returns.
    """
    if isinstance(model, Policy):
        return model.to_dict()
    cls = type(model)
    get = getattr(model, "params", None)
    return {
        "type": f"{cls.__module__}.{cls.__qualname__}",
        "params": validate.any_jsonable(get() if callable(get) else None, "model.params()"),
    }


def _model_from_record(record: Any) -> GainModel:
    """The model a header names, if it can be rebuilt without importing code; else refuse."""
    try:
        found = policy_from_dict(record)
    except (TypeError, ValueError):
        found = None
    if found is None or not callable(getattr(found, "predict", None)):
        kind = record.get("type") if isinstance(record, Mapping) else record
        raise ValueError(
            f"this log's ResourceScheduler used the custom model {kind!r}, which a log cannot "
            "rebuild; pass the same policy yourself: Engine.from_log(path, "
            "policy=ResourceScheduler(..., model=...))"
        )
    return found  # type: ignore[return-value]
