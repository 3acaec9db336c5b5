"""Standalone ask/tell search loop with concurrent workers and checkpoint hooks.

The objective is an ordinary function of a :class:`LoopTrial`, in the style of
Optuna::

    def objective(trial):
        model = make_model(**trial.params)
        for epoch in range(20):
            acc = train_one_epoch(model)
            if trial.report(epoch, acc).action != "continue":
                return acc            # stopped (or paused) by the policy
        return acc

    loop = hpprune.SearchLoop(objective, space, policy, direction="maximize", n_workers=2)
    result = loop.run(n_trials=40)

:meth:`SearchLoop.run` drives the objective on ``n_workers`` threads that share
one :class:`~hpprune.engine.Engine` behind a lock (the engine itself is not
thread-safe). Threads are enough for numpy, scikit-learn, PyTorch and most
numeric code because they release the GIL inside their heavy kernels; pure
Python objectives will not run in parallel.

For users who run trials on their own workers, :meth:`SearchLoop.ask` and
:meth:`SearchLoop.tell` expose the same machinery one trial at a time.

Pause and resume: when the policy answers a report with PAUSE, the objective
should return (``action != "continue"`` covers it). The loop keeps the trial
in a paused queue together with the last state passed to
:meth:`LoopTrial.checkpoint`. When a worker is free the loop asks, in this
order, the ``chooser`` argument, else a scheduler in the policy (any policy in
the tree with ``next_trial(study)`` returning an object with ``action``
``"resume"``/``"start"``/``"none"`` and ``trial_id``, such as
:class:`hpprune.ResourceScheduler`), else :func:`default_chooser` (new trials
first, then paused ones in pause order). A resumed trial gets a RESUME
decision in the log, its objective is called again, and
:meth:`LoopTrial.restore` returns its checkpoint so training can continue.
Policies that never pause see none of this.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

from hpprune import validate
from hpprune.audit.log import AuditLog, read_log
from hpprune.curves import StudyView
from hpprune.engine import Engine, LogArg
from hpprune.pruners.base import Policy, as_policy
from hpprune.space import SpaceLike, check_space, sample, to_optuna_distributions
from hpprune.types import Action, Decision, Direction, Reason, TrialState

__all__ = [
    "Chooser",
    "LoopResult",
    "LoopTrial",
    "NoTrialAvailableError",
    "SearchLoop",
    "TrialRecord",
]

LOOP_RULE = "SearchLoop"
"""Rule name of the decisions the loop records itself (resumes)."""

ABANDONED = "abandoned"
"""Fail reason of trials found running in a log the loop continues (their process died)."""

Chooser = Callable[[Sequence[str], StudyView, bool], str | None]
"""``chooser(paused_ids, study, can_start_new) -> trial id to resume, or None``.

Called whenever a worker is free and some trials are paused. Return one of
``paused_ids`` to resume it, or None to start a new trial (when
``can_start_new`` is True) or to leave the paused trials alone.
"""


def default_chooser(paused: Sequence[str], study: StudyView, can_start_new: bool) -> str | None:
    """Start new trials first; once none may start, resume paused ones in pause order.

    Args:
        paused: Ids of paused trials, longest-paused first.
        study: The engine's study view (unused here).
        can_start_new: Whether the trial budget and deadline allow a new trial.

    Returns:
        The id to resume, or None to start a new trial.
    """
    del study
    if can_start_new or not paused:
        return None
    return paused[0]


class NoTrialAvailableError(RuntimeError):
    """:meth:`SearchLoop.ask` found nothing to run (the scheduler answered "none")."""


def _find_scheduler(policy: Policy) -> Any:
    """The first policy in ``policy``'s tree with a ``next_trial(study)`` method, or None."""
    if callable(getattr(policy, "next_trial", None)):
        return policy
    for member in getattr(policy, "policies", ()):
        found = _find_scheduler(member)
        if found is not None:
            return found
    return None


class _Interrupted(BaseException):
    """Raised inside an objective (at its next report) after Ctrl-C; not an Exception."""


# --------------------------------------------------------------------------- checkpoints
class _Checkpoints:
    """Checkpoint storage: deep copies in memory, or pickle files in a directory."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise TypeError(
                f"expected a directory path for `checkpoint_dir`, got {type(directory).__name__}"
            )
        self.directory = Path(directory) if directory is not None else None
        self._mem: dict[str, Any] = {}

    def _file(self, tid: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in tid)
        return Path(self.directory or ".") / f"trial-{safe}.pkl"

    def save(self, tid: str, state: Any) -> None:
        if self.directory is None:
            self._mem[tid] = copy.deepcopy(state)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._file(tid)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def load(self, tid: str) -> Any | None:
        if self.directory is None:
            state = self._mem.get(tid)
            return None if state is None else copy.deepcopy(state)
        path = self._file(tid)
        if not path.exists():
            return None
        with open(path, "rb") as fh:
            # Files written by this loop's own `save` (trusted, local).
            return pickle.load(fh)  # noqa: S301

    def has(self, tid: str) -> bool:
        if self.directory is None:
            return tid in self._mem
        return self._file(tid).exists()

    def drop(self, tid: str) -> None:
        self._mem.pop(tid, None)
        if self.directory is not None:
            self._file(tid).unlink(missing_ok=True)


# --------------------------------------------------------------------------- optuna bridge
class _OptunaSampling:
    """Drives an Optuna sampler through an in-memory study's ask/tell."""

    def __init__(self, sampler: Any, space: SpaceLike, direction: Direction) -> None:
        try:
            import optuna
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "`sampler=` needs optuna; install it with: pip install 'hpprune[optuna]'"
            ) from None
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise TypeError(
                f"expected an optuna sampler for `sampler`, got {type(sampler).__name__}"
            )
        self._optuna = optuna
        self.study = optuna.create_study(sampler=sampler, direction=direction.value)
        self.distributions = to_optuna_distributions(space)

    def ask(self) -> tuple[Any, dict[str, Any]]:
        ot = self.study.ask(self.distributions)
        return ot, {name: ot.params[name] for name in self.distributions}

    def report(self, ot: Any, step: int, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            ot.report(value, step)

    def tell(self, ot: Any, state: TrialState, value: float | None) -> None:
        ts = self._optuna.trial.TrialState
        if state is TrialState.COMPLETED and value is not None and math.isfinite(value):
            self.study.tell(ot, value)
        elif state is TrialState.STOPPED:
            self.study.tell(ot, state=ts.PRUNED)
        else:
            self.study.tell(ot, state=ts.FAIL)


# --------------------------------------------------------------------------- trial
class LoopTrial:
    """One trial as the objective sees it.

    Created by :meth:`SearchLoop.ask` (or by :meth:`SearchLoop.run`); do not
    construct it yourself.

    Attributes:
        number: The trial number (0, 1, 2, ... in the order trials were asked).
        trial_id: The id used in the engine and the audit log (``str(number)``).
        params: The sampled hyperparameters (read-only mapping).
        runs: How many times the objective has been started for this trial
            (1 on the first run, 2 after one resume, ...).
    """

    def __init__(
        self, loop: SearchLoop, number: int, trial_id: str, params: Mapping[str, Any]
    ) -> None:
        self._loop = loop
        self.number = number
        self.trial_id = trial_id
        self.params: Mapping[str, Any] = MappingProxyType(dict(params))
        self.runs = 0
        self.state = TrialState.RUNNING
        self.value: float | None = None
        self.error: str | None = None
        self.final_decision: Decision | None = None
        self._last_decision: Decision | None = None
        self._last_value: float | None = None
        self._n_reports = 0
        self._resumed_after = -1
        self._run_started = time.monotonic()
        self._compute_before = 0.0
        self._in_run = False
        self._told = False
        self._optuna_trial: Any = None

    # ------------------------------------------------------------ properties
    @property
    def last_decision(self) -> Decision | None:
        """The latest decision received by :meth:`report` (None before any)."""
        return self._last_decision

    @property
    def last_step(self) -> int:
        """The last step reported for this trial in any run (-1 before any)."""
        return self._loop._last_step(self.trial_id)

    @property
    def is_resumed(self) -> bool:
        """True when this run continues a paused trial."""
        return self.runs > 1

    @property
    def n_reports(self) -> int:
        """Number of reports made through this object, over all runs."""
        return self._n_reports

    @property
    def elapsed_s(self) -> float:
        """Compute seconds spent in this trial's runs so far (paused time excluded)."""
        running = time.monotonic() - self._run_started if self._in_run else 0.0
        return self._compute_before + running

    # --------------------------------------------------------------- actions
    def report(
        self,
        step: int,
        value: float | None,
        elapsed_s: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> Decision:
        """Report the metric at ``step`` and get the policy's decision.

        Args:
            step: Int >= 0, strictly increasing within the trial (also across
                a pause and resume: continue from ``last_step + 1``).
            value: The metric on the user's scale. NaN, ±inf and None follow
                the engine's non-finite policy (by default the trial is
                stopped with reason ``non_finite``).
            elapsed_s: Compute seconds since the trial started; when None the
                loop measures it (time in this trial's runs, pauses excluded).
            resources: Optional readings such as ``{"memory_mb": 900.0}``.

        Returns:
            The decision; when ``decision.action != "continue"`` the objective
            should return.

        Raises:
            TypeError: For arguments of the wrong type.
            ValueError: For a bad step (negative, repeated with another value,
                decreasing, or replayed after a resume), or a trial already told.
        """
        return self._loop._report(self, step, value, elapsed_s, resources)

    def should_stop(self) -> bool:
        """True when the objective should return now (stopped, paused or interrupted)."""
        return self._loop._should_stop(self)

    def checkpoint(self, state: Any) -> None:
        """Keep ``state`` so that a paused trial can continue later.

        In memory the state is deep-copied; with ``checkpoint_dir`` it is
        pickled to ``<dir>/trial-<id>.pkl``. Only the latest checkpoint is
        kept, and it is deleted when the trial finishes.

        Args:
            state: Anything deep-copyable (in memory) or picklable (directory).
        """
        self._loop._checkpoints.save(self.trial_id, state)

    def restore(self) -> Any | None:
        """The latest checkpoint of this trial, or None if it has none.

        Returns:
            A copy of the state given to :meth:`checkpoint`.
        """
        return self._loop._checkpoints.load(self.trial_id)

    def __repr__(self) -> str:
        return (
            f"LoopTrial(number={self.number}, state={self.state.value}, "
            f"params={dict(self.params)!r})"
        )


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TrialRecord:
    """What happened to one trial in a loop.

    Attributes:
        number: Trial number.
        trial_id: Trial id in the engine and log.
        params: Its hyperparameters.
        state: Its fate: completed, stopped, paused, failed (or running when
            an ask/tell user has not told it yet).
        value: The final value (completed) or the last value reported.
        last_step: Last step reported (-1 if none).
        n_reports: Steps reported (over all runs).
        runs: Number of objective runs (more than 1 after resumes).
        decision: The deciding non-continue decision (STOP or PAUSE), if any.
        error: The error text for failed trials.
        compute_s: Seconds spent running the trial.
    """

    number: int
    trial_id: str
    params: Mapping[str, Any]
    state: TrialState
    value: float | None
    last_step: int
    n_reports: int
    runs: int
    decision: Decision | None
    error: str | None
    compute_s: float


@dataclass(frozen=True)
class LoopResult:
    """Outcome of :meth:`SearchLoop.run` (or a snapshot from :meth:`SearchLoop.result`).

    Attributes:
        trials: One record per trial, by trial number.
        direction: The study direction.
        wall_s: Wall-clock seconds of the run (0 for a snapshot).
        interrupted: True when Ctrl-C stopped the run.
        log_path: The audit log, if any.
    """

    trials: tuple[TrialRecord, ...]
    direction: Direction
    wall_s: float = 0.0
    interrupted: bool = False
    log_path: Path | None = None
    counts: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.state.value] = counts.get(t.state.value, 0) + 1
        object.__setattr__(self, "counts", MappingProxyType(counts))

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self.trials)

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def n_stopped(self) -> int:
        """Trials stopped by the policy (including non-finite stops)."""
        return self.counts.get(TrialState.STOPPED.value, 0)

    @property
    def n_completed(self) -> int:
        """Trials that ran to the end."""
        return self.counts.get(TrialState.COMPLETED.value, 0)

    @property
    def best(self) -> TrialRecord | None:
        """The completed trial with the best finite final value (None if none)."""
        done = [
            t
            for t in self.trials
            if t.state is TrialState.COMPLETED and t.value is not None and math.isfinite(t.value)
        ]
        if not done:
            return None
        sign = 1.0 if self.direction is Direction.MINIMIZE else -1.0
        return min(done, key=lambda t: (sign * float(t.value or 0.0), t.number))


# --------------------------------------------------------------------------- loop
Objective = Callable[[LoopTrial], float | None]


class SearchLoop:
    """Random (or Optuna-sampler) search whose trials are pruned by a policy.

    Args:
        objective: ``objective(trial) -> final value | None``; reports each
            step with ``trial.report``. None is allowed for pure ask/tell use.
            Returning None completes the trial with its last reported value.
        space: ``{name: hpprune.space distribution}``.
        policy: The pruning policy.
        direction: ``"minimize"`` or ``"maximize"``.
        n_workers: Concurrent worker threads for :meth:`run` (>= 1). With 1,
            the objective runs in the calling thread and a fixed seed gives
            identical decisions on every run.
        log: JSON Lines audit log path (or AuditLog). When the file already
            holds a log of the same policy and direction, the loop continues
            that study: its state is rebuilt with ``Engine.from_log``, trial
            numbers continue after the existing ones, and its paused trials
            can be resumed (with their checkpoints when ``checkpoint_dir`` is
            the same). Trials the log still shows running (their process was
            killed before telling them) are failed with reason ``"abandoned"``,
            so they do not stay running forever. One loop per log at a time.
        sampler: Optional Optuna sampler (e.g. ``TPESampler(seed=0)``) used
            instead of random sampling; needs optuna installed.
        seed: Seed of the random sampler; trial ``n`` draws its parameters
            from ``SeedSequence(seed, spawn_key=(n,))``.
        checkpoint_dir: Keep checkpoints as pickle files there instead of in
            memory.
        chooser: Which paused trial to resume when a worker is free (see
            :data:`Chooser`). Defaults to the ``next_trial`` answer of a
            scheduler in the policy (e.g. ResourceScheduler) when there is
            one, else :func:`default_chooser`.
        non_finite: Engine's non-finite policy, ``"stop"`` or ``"ignore"``.
        study_name: Name stored in the log header.

    Raises:
        TypeError: For arguments of the wrong type.
        ValueError: For out-of-range arguments, or a log written for another
            policy or direction.
        ImportError: If ``sampler`` is given and optuna is missing.

    Non-finite values reported by the objective are handled by the engine
    (stopped with reason ``non_finite`` by default); a non-finite return value
    completes the trial without making it the best.
    """

    def __init__(
        self,
        objective: Objective | None,
        space: SpaceLike,
        policy: Policy,
        direction: str | Direction = "minimize",
        n_workers: int = 1,
        log: LogArg = None,
        sampler: Any = None,
        seed: int = 0,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        chooser: Chooser | None = None,
        non_finite: str = "stop",
        study_name: str | None = None,
    ) -> None:
        if objective is not None and not callable(objective):
            raise TypeError(f"expected a callable for `objective`, got {type(objective).__name__}")
        self.objective = objective
        self.space = check_space(space)
        self.policy = as_policy(policy)
        self.direction = Direction.parse(direction)
        self.n_workers = validate.int_param(n_workers, "n_workers", 1)
        self.seed = validate.int_param(seed, "seed", 0)
        if chooser is not None and not callable(chooser):
            raise TypeError(f"expected a callable for `chooser`, got {type(chooser).__name__}")
        self._chooser = chooser
        self._scheduler = _find_scheduler(self.policy) if chooser is None else None
        self._checkpoints = _Checkpoints(checkpoint_dir)
        self._sampling = (
            _OptunaSampling(sampler, self.space, self.direction) if sampler is not None else None
        )
        self._lock = threading.Condition(threading.RLock())
        self._trials: dict[str, LoopTrial] = {}
        self._paused: list[LoopTrial] = []
        self._running = 0
        self._next_number = 0
        self._interrupt = False
        self._no_trial_reason = ""
        self._on_finish: Callable[[LoopTrial], None] | None = None
        self.engine = self._make_engine(log, non_finite, study_name)

    # ----------------------------------------------------------------- setup
    def _make_engine(self, log: LogArg, non_finite: str, study_name: str | None) -> Engine:
        path = None
        if isinstance(log, AuditLog):
            path = log.path
        elif isinstance(log, (str, os.PathLike)):
            path = Path(log)
        if path is not None and path.is_dir():
            raise IsADirectoryError(f"expected a file path for `log`, got the directory {path}")
        if path is None or not path.exists() or path.stat().st_size == 0:
            return Engine(
                self.policy, self.direction, log, non_finite=non_finite, study_name=study_name
            )
        header = next(read_log(path), None)
        if header is not None and header.get("direction") not in (None, self.direction.value):
            raise ValueError(
                f"log {path} has direction {header.get('direction')!r}, not "
                f"{self.direction.value!r}; use another log file"
            )
        engine = Engine.from_records(read_log(path), self.policy, log=log)
        for curve in engine.study.trials():
            tid = curve.trial_id
            number = int(tid) if tid.isdigit() else curve.index
            self._next_number = max(self._next_number, number + 1)
            if curve.state is TrialState.PAUSED:
                trial = LoopTrial(self, number, tid, curve.params)
                trial.state = TrialState.PAUSED
                trial.runs = 1
                trial._resumed_after = curve.last_step
                self._trials[tid] = trial
                self._paused.append(trial)
            elif curve.state in (TrialState.RUNNING, TrialState.STALE):
                # Its run ended with the process that wrote the log (killed, power
                # loss): nobody can report for it any more, so record that it failed.
                engine.fail(tid, ABANDONED)
                trial = LoopTrial(self, number, tid, curve.params)
                trial.state = TrialState.FAILED
                trial.runs = 1
                trial.error = ABANDONED
                trial._told = True
                self._trials[tid] = trial
        return engine

    # --------------------------------------------------------------- helpers
    def _last_step(self, tid: str) -> int:
        with self._lock:
            if tid not in self.engine.study:
                return -1
            return self.engine.study.trial(tid).last_step

    def _should_stop(self, trial: LoopTrial) -> bool:
        with self._lock:
            if self._interrupt or trial._told:
                return True
            d = trial._last_decision
            if d is not None and d.action in (Action.STOP, Action.PAUSE):
                return True
            if trial.trial_id in self.engine.study:
                return self.engine.state(trial.trial_id) in (TrialState.STOPPED, TrialState.PAUSED)
            return False

    def _report(
        self,
        trial: LoopTrial,
        step: int,
        value: float | None,
        elapsed_s: float | None,
        resources: Mapping[str, float] | None,
    ) -> Decision:
        if self._interrupt and trial._in_run:
            raise _Interrupted
        with self._lock:
            if trial._told:
                raise ValueError(f"trial {trial.trial_id!r} was already told; it takes no reports")
            s = validate.step(step)
            if trial._resumed_after >= 0 and s <= trial._resumed_after:
                last = self.engine.study.trial(trial.trial_id).last_step
                if s <= last:
                    raise ValueError(
                        f"`step` {s} of trial {trial.trial_id!r} was already reported before it "
                        f"was paused at step {trial._resumed_after}; a resumed trial continues "
                        f"from trial.last_step + 1 (save progress with trial.checkpoint())"
                    )
            e = trial.elapsed_s if elapsed_s is None else elapsed_s
            decision = self.engine.report(trial.trial_id, s, value, e, resources)
            trial._last_decision = decision
            trial._last_value = validate.metric(value)
            trial._n_reports += 1
            if self._sampling is not None:
                self._sampling.report(trial._optuna_trial, s, trial._last_value)
            return decision

    # ------------------------------------------------------------------- ask
    def _new_trial(self) -> LoopTrial:
        number = self._next_number
        self._next_number += 1
        tid = str(number)
        if self._sampling is not None:
            ot, params = self._sampling.ask()
        else:
            ot, params = None, sample(self.space, self.seed, number)
        self.engine.add_trial(tid, params)
        trial = LoopTrial(self, number, tid, params)
        trial._optuna_trial = ot
        self._trials[tid] = trial
        return trial

    def _resumable(self) -> list[LoopTrial]:
        """Paused trials still waiting; finalises those stopped meanwhile."""
        keep: list[LoopTrial] = []
        for t in self._paused:
            st = self.engine.state(t.trial_id)
            if st is TrialState.STOPPED:
                t.final_decision = self.engine.last_decision(t.trial_id)
                self._finish(t, TrialState.STOPPED)
            elif st.is_finished:
                self._finish(t, st)
            else:
                keep.append(t)
        self._paused = keep
        return keep

    def _start(self, trial: LoopTrial, resume: Decision | None = None) -> LoopTrial:
        if trial.runs > 0:  # a resume
            trial._resumed_after = self.engine.study.trial(trial.trial_id).last_step
            if self.engine.state(trial.trial_id) is TrialState.PAUSED:
                self.engine.decide_external(
                    trial.trial_id,
                    resume
                    or Decision(
                        Action.RESUME, Reason.RESUMED, LOOP_RULE, evidence={"run": trial.runs + 1}
                    ),
                )
        trial.runs += 1
        trial.state = TrialState.RUNNING
        trial._told = False
        trial._last_decision = None
        trial._run_started = time.monotonic()
        trial._in_run = True
        return trial

    def _choose(
        self, paused: list[LoopTrial], can_start_new: bool
    ) -> tuple[str, str | None, Decision | None]:
        """``("resume", id, decision) | ("start", None, None) | ("none", None, None)``."""
        ids = [t.trial_id for t in paused]
        study = self.engine.study
        external = [
            t.trial_id for t in paused if self.engine.state(t.trial_id) is TrialState.RUNNING
        ]
        if external:  # resumed by an external decision: run it first
            return "resume", external[0], None
        if self._chooser is not None:
            pick = self._chooser(ids, study, can_start_new) if ids else None
            if pick is not None:
                if pick not in ids:
                    raise ValueError(
                        f"the chooser returned {pick!r}, which is not a paused trial ({ids})"
                    )
                return "resume", pick, None
            return ("start" if can_start_new else "none"), None, None
        if self._scheduler is not None:
            answer = self._scheduler.next_trial(study)
            action = str(getattr(answer, "action", "start"))
            tid = getattr(answer, "trial_id", None)
            if action == "resume" and tid in ids:
                make = getattr(self._scheduler, "resume_decision", None)
                return "resume", tid, make(answer) if callable(make) else None
            if action == "none":
                self._no_trial_reason = str(getattr(answer, "reason", "none"))
                return "none", None, None
            if can_start_new:
                return "start", None, None
            ranked = self._ranked_paused(ids)
            if ranked is not None:
                return (
                    "resume",
                    ranked[0],
                    Decision(Action.RESUME, Reason.RESUMED, LOOP_RULE, evidence=ranked[1]),
                )
        pick = default_chooser(ids, study, can_start_new)
        if pick is not None:
            return "resume", pick, None
        return ("start" if can_start_new else "none"), None, None

    def _ranked_paused(self, ids: list[str]) -> tuple[str, dict[str, Any]] | None:
        """Best paused trial by the scheduler's ``ranking(study)``, when it has one."""
        ranking = getattr(self._scheduler, "ranking", None)
        if not callable(ranking) or not ids:
            return None
        for c in ranking(self.engine.study):
            tid = getattr(c, "trial_id", None)
            if tid in ids:
                evidence = {"chosen_by": "ranking", "run": self._trials[tid].runs + 1}
                gph = getattr(c, "gain_per_hour", None)
                if isinstance(gph, (int, float)):
                    evidence["gain_per_hour"] = float(gph)
                return tid, evidence
        return None

    def _acquire(self, can_start_new: bool) -> LoopTrial | None:
        paused = self._resumable()
        kind, tid, decision = self._choose(paused, can_start_new)
        if kind == "resume":
            trial = next(t for t in paused if t.trial_id == tid)
            self._paused.remove(trial)
            return self._start(trial, decision)
        if kind == "start":
            return self._start(self._new_trial())
        return None

    def ask(self) -> LoopTrial:
        """Start a trial: a paused one if the chooser (or scheduler) picks it, else a new one.

        Returns:
            The trial; run it, report through it, then :meth:`tell` it.

        Raises:
            NoTrialAvailableError: If the policy's scheduler answers that no trial
                should run now (e.g. its compute budget is spent).
        """
        with self._lock:
            trial = self._acquire(True)
            if trial is None:
                raise NoTrialAvailableError(
                    f"the scheduler says no trial should run now ({self._no_trial_reason})"
                )
            return trial

    def resume(self, trial_id: str | None = None) -> LoopTrial | None:
        """Take a paused trial to run again.

        Args:
            trial_id: The paused trial to resume; None lets the chooser pick
                one (with ``can_start_new=False``).

        Returns:
            The trial (``trial.restore()`` gives its checkpoint), or None when
            no trial is paused or the chooser picked none.

        Raises:
            ValueError: If ``trial_id`` is not a paused trial.
        """
        with self._lock:
            if trial_id is None:
                return self._acquire(False)
            paused = self._resumable()
            match = [t for t in paused if t.trial_id == trial_id]
            if not match:
                raise ValueError(
                    f"`trial_id` {trial_id!r} is not paused "
                    f"(paused: {[t.trial_id for t in paused]})"
                )
            self._paused.remove(match[0])
            return self._start(match[0])

    def paused_trials(self) -> list[str]:
        """Ids of the trials waiting to be resumed, longest-paused first."""
        with self._lock:
            return [t.trial_id for t in self._resumable()]

    # ------------------------------------------------------------------ tell
    def tell(
        self,
        trial: LoopTrial,
        value: float | None = None,
        state: str | TrialState | None = None,
        *,
        error: str | None = None,
    ) -> TrialState:
        """End one run of a trial.

        Args:
            trial: A trial from :meth:`ask`/:meth:`resume`.
            value: Its final value (None = its last reported value).
            state: None to let the engine decide (stopped, paused or else
                completed), ``"completed"``, or ``"failed"``. ``"stopped"`` and
                ``"paused"`` are accepted only when they match the engine.
            error: Error text recorded for a failed trial.

        Returns:
            The trial's state after the call. A paused trial goes back to the
            paused queue (its checkpoint is kept).

        Raises:
            TypeError: For a wrong type of ``value`` or ``state``.
            ValueError: If the trial was already told, belongs to another loop,
                or ``state`` contradicts the engine (e.g. "completed" for a
                stopped trial).
        """
        with self._lock:
            if not isinstance(trial, LoopTrial) or self._trials.get(trial.trial_id) is not trial:
                raise ValueError("`trial` was not asked from this loop")
            if trial._told:
                raise ValueError(f"trial {trial.trial_id!r} was already told")
            x = validate.metric(value)
            if state is not None and not isinstance(state, str):
                raise TypeError(
                    f"expected None, 'completed' or 'failed' for `state`, got {state!r}"
                )
            try:
                wanted = None if state is None else TrialState(state)
            except ValueError:
                raise ValueError(
                    f"expected None, 'completed' or 'failed' for `state`, got {state!r}"
                ) from None
            if wanted not in (
                None,
                TrialState.COMPLETED,
                TrialState.FAILED,
                TrialState.STOPPED,
                TrialState.PAUSED,
            ):
                raise ValueError(
                    f"expected None, 'completed' or 'failed' for `state`, got {state!r}"
                )
            tid = trial.trial_id
            current = self.engine.state(tid)
            if wanted in (TrialState.STOPPED, TrialState.PAUSED) and wanted is not current:
                raise ValueError(
                    f"`state` {wanted.value!r} does not match trial {tid!r}, which is "
                    f"{current.value} (only the policy stops or pauses trials)"
                )
            if wanted is TrialState.COMPLETED and current is TrialState.STOPPED:
                raise ValueError(
                    f"trial {tid!r} was stopped by the policy; tell it with state=None"
                )
            if wanted is TrialState.FAILED:
                if current is TrialState.STOPPED:
                    final = TrialState.STOPPED  # already stopped: keep that fate
                else:
                    self.engine.fail(tid, error or "failed")
                    final = TrialState.FAILED
            elif current is TrialState.STOPPED:
                final = TrialState.STOPPED
            elif wanted is TrialState.PAUSED or (current is TrialState.PAUSED and wanted is None):
                final = TrialState.PAUSED
            else:
                self.engine.complete(tid, x)
                final = TrialState.COMPLETED
            trial.error = error
            trial.value = x if x is not None else trial._last_value
            if final is TrialState.STOPPED:
                trial.final_decision = self.engine.last_decision(tid)
            elif final is TrialState.PAUSED:
                trial.final_decision = trial._last_decision or self.engine.last_decision(tid)
            self._end_run(trial)
            if final is TrialState.PAUSED:
                trial.state = TrialState.PAUSED
                self._paused.append(trial)
            else:
                self._finish(trial, final)
            self._lock.notify_all()
            return final

    def _end_run(self, trial: LoopTrial) -> None:
        if trial._in_run:
            trial._compute_before += time.monotonic() - trial._run_started
            trial._in_run = False
        trial._told = True

    def _finish(self, trial: LoopTrial, state: TrialState) -> None:
        trial.state = state
        trial._told = True
        self._checkpoints.drop(trial.trial_id)
        if self._sampling is not None and trial._optuna_trial is not None:
            value = trial.value
            self._sampling.tell(trial._optuna_trial, state, value)
            trial._optuna_trial = None
        if self._on_finish is not None:
            self._on_finish(trial)

    # ------------------------------------------------------------------- run
    def _execute(self, trial: LoopTrial) -> None:
        objective = self.objective
        if objective is None:  # pragma: no cover - checked by run()
            raise TypeError("run() needs an `objective`")
        try:
            value = objective(trial)
        except _Interrupted:
            self._fail_quietly(trial, "interrupted")
            return
        except KeyboardInterrupt:
            self._interrupt = True
            self._fail_quietly(trial, "interrupted")
            raise
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            trial.error = text + "\n" + traceback.format_exc(limit=8)
            self._fail_quietly(trial, text, detail=trial.error)
            return
        except BaseException as exc:  # SystemExit, or an exception that killed the thread
            self._fail_quietly(trial, f"worker ended: {type(exc).__name__}: {exc}")
            raise
        try:
            self.tell(trial, value)
        except (TypeError, ValueError) as exc:
            self._fail_quietly(trial, f"bad return value: {exc}")

    def _fail_quietly(self, trial: LoopTrial, reason: str, detail: str | None = None) -> None:
        with self._lock:
            if not trial._told:
                self.tell(trial, None, TrialState.FAILED, error=reason)
            if detail is not None:
                trial.error = detail

    def _worker(self, budget: _Budget) -> None:
        while True:
            with self._lock:
                while True:
                    if self._interrupt or budget.expired():
                        return
                    trial = self._acquire(budget.can_start_new())
                    if trial is not None:
                        if trial.runs == 1:
                            budget.started += 1
                        self._running += 1
                        break
                    if self._running == 0:
                        self._lock.notify_all()
                        return
                    self._lock.wait(0.05)
            try:
                self._execute(trial)
            finally:
                with self._lock:
                    self._running -= 1
                    self._lock.notify_all()

    def run(
        self,
        n_trials: int | None = None,
        timeout_s: float | None = None,
        progress: bool | TextIO = False,
    ) -> LoopResult:
        """Run trials on ``n_workers`` threads until the budget is spent.

        New trials start until ``n_trials`` have been started by this call.
        Paused trials are resumed as the chooser (or the policy's scheduler)
        decides; by default once no new trial may start. After ``timeout_s``
        nothing starts or resumes any more; running trials finish their run.
        Calling ``run`` again continues the same study (use ``n_trials=0`` to
        only resume paused trials).

        Args:
            n_trials: New trials to start (int >= 0); None needs ``timeout_s``.
            timeout_s: Stop starting trials after this many seconds.
            progress: True for a progress bar on stderr (tqdm when installed,
                else a plain line), or a text stream to write it to.

        Returns:
            The result: every trial this loop has run, with its fate.

        Raises:
            KeyboardInterrupt: After Ctrl-C, once the running trials were
                marked failed (reason ``interrupted``) and the log flushed;
                :meth:`result` still gives what was done.
            TypeError: If no objective was given or an argument has a wrong type.
            ValueError: If both limits are None or one is negative.
        """
        if self.objective is None:
            raise TypeError("run() needs an `objective`; use ask()/tell() without one")
        if n_trials is None and timeout_s is None:
            raise ValueError("give `n_trials` or `timeout_s` (or both)")
        limit = None if n_trials is None else validate.int_param(n_trials, "n_trials", 0)
        timeout = None if timeout_s is None else validate.float_param(timeout_s, "timeout_s", 0.0)
        if not isinstance(progress, bool) and not callable(getattr(progress, "write", None)):
            raise TypeError(
                f"expected a bool or a text stream for `progress`, got {type(progress).__name__}"
            )
        budget = _Budget(limit, None if timeout is None else time.monotonic() + timeout, self)
        bar = _Progress(progress, limit, self.direction) if progress else None
        self._on_finish = bar.update if bar is not None else None
        self._interrupt = False
        t0 = time.monotonic()
        wall = 0.0
        try:
            if self.n_workers == 1:
                self._worker(budget)
            else:
                self._run_threads(budget)
        except KeyboardInterrupt:
            self._interrupt = True
            raise
        finally:
            self._on_finish = None
            if bar is not None:
                bar.close()
            self.engine.flush()
            wall = time.monotonic() - t0
        return self.result(wall_s=wall)

    def _run_threads(self, budget: _Budget) -> None:
        # Completion is signalled with Events rather than Thread.join: on Python
        # 3.11 a Ctrl-C landing inside join() can mark a live thread as finished.
        done = [threading.Event() for _ in range(self.n_workers)]
        errors: list[BaseException] = []

        def work(flag: threading.Event) -> None:
            try:
                self._worker(budget)
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)
            finally:
                flag.set()

        for i, flag in enumerate(done):
            name = f"hpprune-worker-{i}"
            threading.Thread(target=work, args=(flag,), name=name, daemon=True).start()
        try:
            _wait_all(done)
        except KeyboardInterrupt:
            with self._lock:
                self._interrupt = True
                self._lock.notify_all()
            # Wait for the objectives to reach their next report (a second
            # Ctrl-C stops waiting; the daemon threads then die with the process).
            _wait_all(done)
            raise
        if errors:
            raise errors[0]

    # ----------------------------------------------------------------- views
    def result(self, wall_s: float = 0.0) -> LoopResult:
        """Snapshot of every trial this loop knows, by trial number."""
        with self._lock:
            records = [
                self._record(t) for t in sorted(self._trials.values(), key=lambda t: t.number)
            ]
            log = self.engine.log
            return LoopResult(
                tuple(records),
                self.direction,
                wall_s=wall_s,
                interrupted=self._interrupt,
                log_path=log.path if log is not None else None,
            )

    def _record(self, t: LoopTrial) -> TrialRecord:
        return TrialRecord(
            number=t.number,
            trial_id=t.trial_id,
            params=t.params,
            state=t.state,
            value=t.value if t.value is not None else t._last_value,
            last_step=self.engine.study.trial(t.trial_id).last_step,
            n_reports=t._n_reports,
            runs=t.runs,
            decision=t.final_decision,
            error=t.error,
            compute_s=t.elapsed_s,
        )

    def close(self) -> None:
        """Flush and close the audit log."""
        self.engine.close()

    def __enter__(self) -> SearchLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_all(events: list[threading.Event]) -> None:
    while not all(e.is_set() for e in events):
        for e in events:
            e.wait(0.1)


class _Budget:
    """How many new trials may still start, and until when."""

    def __init__(self, limit: int | None, deadline: float | None, loop: SearchLoop) -> None:
        self.limit = limit
        self.deadline = deadline
        self.started = 0
        self._loop = loop

    def expired(self) -> bool:
        """True once the deadline passed: nothing new starts and nothing resumes."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def can_start_new(self) -> bool:
        if self._loop._interrupt:
            return False
        if self.limit is not None and self.started >= self.limit:
            return False
        return self.deadline is None or time.monotonic() < self.deadline


class _Progress:
    """Progress bar: tqdm when installed, else one plain line rewritten in place."""

    def __init__(self, target: bool | TextIO, total: int | None, direction: Direction) -> None:
        self.stream: TextIO = sys.stderr if isinstance(target, bool) else target
        self.total = total
        self.direction = direction
        self.done = 0
        self.stopped = 0
        self.best: float | None = None
        self._tqdm: Any = None
        try:
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=total, file=self.stream, unit="trial", dynamic_ncols=True)
        except ImportError:
            self._tqdm = None

    def update(self, trial: LoopTrial) -> None:
        self.done += 1
        if trial.state is TrialState.STOPPED:
            self.stopped += 1
        v = trial.value
        if trial.state is TrialState.COMPLETED and v is not None and math.isfinite(v):
            better = (
                self.best is None
                or (self.direction is Direction.MINIMIZE and v < self.best)
                or (self.direction is Direction.MAXIMIZE and v > self.best)
            )
            if better:
                self.best = v
        best = "-" if self.best is None else f"{self.best:.4g}"
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(f"stopped={self.stopped} best={best}", refresh=False)
            self._tqdm.update(1)
        else:
            total = "?" if self.total is None else str(self.total)
            self.stream.write(
                f"\rtrials {self.done}/{total}  stopped {self.stopped}  best {best}   "
            )
            self.stream.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self.stream.write("\n")
            self.stream.flush()
