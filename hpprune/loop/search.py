"""SearchLoop: random (or Optuna-sampler) search whose trials are pruned by a policy."""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from hpprune import validate
from hpprune.audit.sinks import FileSink
from hpprune.engine import Engine, LogArg
from hpprune.loop.checkpoints import Checkpoints
from hpprune.loop.optuna_sampling import OptunaSampling
from hpprune.loop.progress import Progress
from hpprune.loop.recovery import ABANDONED, open_engine
from hpprune.loop.results import LoopResult, TrialRecord
from hpprune.loop.resume import (
    LOOP_RULE,
    Chooser,
    NoTrialAvailableError,
    choose_next,
)
from hpprune.loop.threads import Budget, Interrupted, run_threads
from hpprune.loop.trial import LoopTrial
from hpprune.pruners.base import Policy, as_policy
from hpprune.space import SpaceLike, check_space, sample
from hpprune.types import Action, Decision, Direction, Reason, TrialState

__all__ = ["Objective", "SearchLoop"]

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
        log: JSON Lines audit log path (or a LogSink). When the file already
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
        TypeError: For arguments of the wrong type (``study_name`` not a str).
        ValueError: For out-of-range arguments, a ``study_name`` with a lone
            surrogate, or a log written for another policy or direction.
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
        self._checkpoints = Checkpoints(checkpoint_dir)
        self._sampling = (
            OptunaSampling(sampler, self.space, self.direction) if sampler is not None else None
        )
        self._lock = threading.Condition(threading.RLock())
        self._trials: dict[str, LoopTrial] = {}
        self._paused: list[LoopTrial] = []
        self._running = 0
        self._next_number = 0
        self._interrupt = False
        self._no_trial_reason = ""
        self._on_finish: Callable[[LoopTrial], None] | None = None
        name = validate.text(study_name, "study_name", optional=True)
        self.engine = self._make_engine(log, non_finite, name)

    # ----------------------------------------------------------------- setup
    def _make_engine(self, log: LogArg, non_finite: str, study_name: str | None) -> Engine:
        reopened = open_engine(self.policy, self.direction, log, non_finite, study_name)
        self._next_number = reopened.next_number
        for number, curve, abandoned in reopened.trials:
            trial = LoopTrial(self, number, curve.trial_id, curve.params)
            trial.runs = 1
            if abandoned:
                trial.state = TrialState.FAILED
                trial.error = ABANDONED
                trial._told = True
            else:
                trial.state = TrialState.PAUSED
                trial._resumed_after = curve.last_step
                self._paused.append(trial)
            self._trials[curve.trial_id] = trial
        return reopened.engine

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
            raise Interrupted
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

    def _acquire(self, can_start_new: bool) -> LoopTrial | None:
        paused = self._resumable()
        choice = choose_next(
            self.engine,
            {t.trial_id: t.runs for t in paused},
            can_start_new,
            self._chooser,
        )
        if choice.reason is not None:
            self._no_trial_reason = choice.reason
        if choice.kind == "resume":
            trial = next(t for t in paused if t.trial_id == choice.trial_id)
            self._paused.remove(trial)
            return self._start(trial, choice.decision)
        if choice.kind == "start":
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
        except Interrupted:
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

    def _worker(self, budget: Budget) -> None:
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
        deadline = None if timeout is None else time.monotonic() + timeout
        budget = Budget(limit, deadline, lambda: self._interrupt)
        bar = Progress(progress, limit, self.direction) if progress else None
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

    def _run_threads(self, budget: Budget) -> None:
        def interrupt() -> None:
            with self._lock:
                self._interrupt = True
                self._lock.notify_all()

        run_threads(self.n_workers, lambda: self._worker(budget), interrupt)

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
                log_path=log.path if isinstance(log, FileSink) else None,
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
