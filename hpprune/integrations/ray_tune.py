"""Ray Tune front door: hpprune decides, Ray Tune executes.

:class:`RayTuneScheduler` is a ``ray.tune.schedulers.TrialScheduler`` that
translates Tune's scheduler callbacks into calls on one :class:`hpprune.Engine`
and the engine's decisions back into Tune's CONTINUE / PAUSE / STOP. It holds
no pruning logic of its own: with the same reports in the same order it gives
exactly the decisions ``Engine.report`` gives (the parity tests check this).

Translation rules:

* Trial ids are Tune's ``trial.trial_id`` strings; the step is
  ``result[time_attr]`` (an integer counter such as ``training_iteration``);
  the value is ``result[metric]``; ``time_total_s`` becomes ``elapsed_s``.
* NaN, ±inf, ``None`` and a missing metric key are all non-finite reports and
  follow the engine's ``non_finite`` policy (default: STOP with reason
  ``non_finite``). They never enter any cutoff or statistic of other trials
  (unlike Ray's ``ASHAScheduler``, whose rung cutoff becomes NaN when a +inf
  reward is recorded, so it stops nobody at that rung).
* A result whose step is not newer than the trial's last reported step (a
  trial restored from an older checkpoint replays steps) is not decided again:
  a stopped trial stays stopped, any other continues. Nothing is recorded.
* Every STOP and PAUSE is logged (``logging`` at INFO on this module's logger,
  with trial id, step, reason, rule and evidence) and written into the trial's
  last result under the key ``"hpprune"`` (``action``, ``reason``, ``rule``,
  ``step``, ``evidence`` as JSON), so it shows up in ``ResultGrid`` metrics,
  ``get_dataframe()`` (columns ``hpprune/reason`` ...) and Tune's experiment state.

State: the engine's audit-log records (versioned JSON, see
:mod:`hpprune.audit.log`). They are kept in memory, appended to
``<experiment dir>/hpprune-scheduler.jsonl`` (Tune syncs that folder to its
storage), and optionally to a user ``log`` file. ``Tuner.restore`` unpickles a
fresh copy of the scheduler from ``tuner.pkl``; at its first ``on_trial_add``
it finds the state file of the experiment, folds it and continues with the
same state and the same later decisions. :meth:`RayTuneScheduler.save` and
:meth:`RayTuneScheduler.restore` read and write the same records as one JSON
document, and pickling uses that document too (never a pickled ``__dict__``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpprune.integrations import missing_extra

try:
    from ray.tune.callback import Callback
    from ray.tune.experiment import Trial
    from ray.tune.result import DEFAULT_METRIC
    from ray.tune.schedulers.trial_scheduler import TrialScheduler
except ImportError as _exc:
    raise missing_extra(_exc, "ray", "ray", __name__) from _exc

from hpprune import next_trial, validate
from hpprune.audit.headers import check_same_study
from hpprune.audit.log import read_log
from hpprune.audit.outputs import write_text
from hpprune.audit.records import Fold, LogFormatError, StudyRecord
from hpprune.audit.sinks import FileSink, MemorySink, check_log_path
from hpprune.engine import NON_FINITE_MODES, Engine
from hpprune.pruners.base import Policy, as_policy, policy_from_dict, policy_hash
from hpprune.registry import Registry
from hpprune.types import Action, Decision, Direction, TrialState, jsonable

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

__all__ = [
    "RESULT_KEY",
    "DecisionCallback",
    "STATE_FILE",
    "STATE_FORMAT",
    "STATE_VERSION",
    "RayTuneScheduler",
    "RunChoice",
    "RANK_ENTRY_POINT_GROUP",
    "RANK_FUNCTIONS",
    "choose_next_trial",
    "register_rank_function",
    "summary",
]

logger = logging.getLogger(__name__)

STATE_FILE = "hpprune-scheduler.jsonl"
"""Name of the audit log the scheduler keeps in Tune's experiment directory."""

STATE_FORMAT = "hpprune.integrations.ray_tune.RayTuneScheduler"
"""``format`` field of a saved scheduler state."""

STATE_VERSION = 1
"""Version of the saved scheduler state document."""

RESULT_KEY = "hpprune"
"""Key under which a STOP/PAUSE decision is written into the trial's last result."""

ADAPTER_RULE = "RayTuneScheduler"
"""``rule`` of the RESUME decisions the adapter records when Tune resumes a paused trial."""

_MODES = ("min", "max")
_DIRECTIONS = {"min": "minimize", "max": "maximize"}
_TUNE_ACTIONS = {
    Action.CONTINUE: TrialScheduler.CONTINUE,
    Action.RESUME: TrialScheduler.CONTINUE,
    Action.PAUSE: TrialScheduler.PAUSE,
    Action.STOP: TrialScheduler.STOP,
}


# --------------------------------------------------------------------------- ranking hook
@dataclass(frozen=True)
class RunChoice:
    """Which waiting trial Tune should run next.

    Attributes:
        trial_id: A pending or paused trial.
        resume: The RESUME decision to record when the trial is paused (None
            for a pending trial).
    """

    trial_id: str
    resume: Decision | None = None


RankFn = Callable[[Engine, Sequence[str], Sequence[str]], "RunChoice | None"]
"""Signature of the ranking hook: ``(engine, pending_ids, paused_ids) -> RunChoice | None``."""


def choose_next_trial(
    engine: Engine, pending: Sequence[str], paused: Sequence[str]
) -> RunChoice | None:
    """The ranking hook: pick the waiting trial that Tune should run next.

    It asks the core :func:`hpprune.next_trial.choose_next` — the same function
    the standalone loop and the benchmark call — with ``can_start`` true when a
    trial is pending: resume the paused trial it names (with its RESUME
    decision), start the first pending trial, or run nothing.

    Args:
        engine: The scheduler's engine (read only).
        pending: Pending trial ids, in the order they were added.
        paused: Paused trial ids, in the order they were added.

    Returns:
        The choice, or None to run nothing.

    Non-finite reports never reach the ranking: a trial's latest score is its
    latest finite one.
    """
    answer = next_trial.choose_next(engine.policy, engine.study, bool(pending))
    if answer.action == "resume" and answer.trial_id is not None and answer.trial_id in paused:
        return RunChoice(answer.trial_id, next_trial.resume_decision(engine.policy, answer))
    if answer.action == "start" and pending:
        return RunChoice(pending[0])
    return None


def _function_ref(fn: RankFn) -> str:
    """``module:qualname`` of a module-level function (the name a saved state carries)."""
    if not callable(fn):
        raise TypeError(f"expected a function for `rank`, got {type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise TypeError(
            f"`rank` must be a module-level function (it is saved by its name), got {fn!r}"
        )
    return f"{module}:{qualname}"


RANK_ENTRY_POINT_GROUP = "hpprune.rank_functions"
"""Entry-point group under which installed packages declare ranking hooks."""

RANK_FUNCTIONS: Registry[RankFn] = Registry(
    "rank function",
    name_of=_function_ref,
    accepts=callable,
    group=RANK_ENTRY_POINT_GROUP,
    how="hpprune.integrations.ray_tune.register_rank_function(fn)",
)
"""The ranking hooks a saved scheduler state may name (by ``module:qualname``).

A saved state (``tuner.pkl``, :meth:`RayTuneScheduler.state_dict`) names its
``rank`` hook; unpickling resolves that name here only, never by importing it:
:func:`choose_next_trial`, functions registered with
:func:`register_rank_function` and those of the :data:`RANK_ENTRY_POINT_GROUP`
entry-point group.
"""


def register_rank_function(fn: RankFn) -> RankFn:
    """Allow ``RayTuneScheduler(rank=fn)`` and saved states that name ``fn``.

    Usable as a decorator next to the function; the registration must run
    before ``Tuner.restore`` unpickles the scheduler (define and register the
    function in a module the restoring script imports, or in the script itself).

    Args:
        fn: A module-level function with the signature of :func:`choose_next_trial`.

    Returns:
        ``fn``.

    Raises:
        TypeError: If ``fn`` is not a module-level function.
    """
    return RANK_FUNCTIONS.register(fn)


register_rank_function(choose_next_trial)


# --------------------------------------------------------------------------- record sink
class _RecordSink(MemorySink):
    """A memory sink that copies every record to files.

    The memory copy is the scheduler's state (what ``save`` writes); files are
    the experiment's state file and the user's log. A file attached later is
    back-filled with every record so far when it is empty.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(records)
        self.files: list[FileSink] = []

    def attach(self, path: str | os.PathLike[str]) -> FileSink:
        """Copy every later record to ``path``, after the ones it misses so far.

        The file must be empty or hold the start of this sink's records (the
        log of this run, as a restored scheduler finds it); its missing tail
        is appended. Anything else is refused and the file is left alone.

        Raises:
            LogFormatError: If the file is not an hpprune log.
            ValueError: If it holds a log of another study (policy, direction,
                non_finite or study name differ) or another run of this study.
        """
        log = FileSink(path)
        try:
            theirs = self._check_continues(log) if log.path.exists() else []
            log.append(self.records[len(theirs) :])
        except BaseException:
            log.close()
            raise
        self.files.append(log)
        return log

    def _check_continues(self, log: FileSink) -> list[dict[str, Any]]:
        """The records of ``log``, checked to be the start of this sink's (see :meth:`attach`)."""
        theirs = list(log.read())
        if not self.records or (not theirs and log.path.stat().st_size == 0):
            return theirs
        if not theirs:
            raise LogFormatError(
                f"{log.name} is not an hpprune log (no line is a study record); "
                "refusing to write to it"
            )
        found = _header_of(theirs, log.name)
        ours = _header_of(self.records, "<scheduler records>")
        check_same_study(ours, found, log.name, "pass another `log` path")
        if theirs != self.records[: len(theirs)]:
            raise ValueError(
                f"log {log.name} holds another run of study {found.study!r} (its records "
                "are not the start of this scheduler's); pass another `log` path"
            )
        return theirs

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        with self._mutex:
            n = len(self.records)
            super().append(records)
            batch = self.records[n:]
        for log in self.files:
            log.append(batch)

    def flush(self) -> None:
        for log in self.files:
            log.flush()

    def close(self) -> None:
        for log in self.files:
            log.close()


def _saved_config(state: object) -> Mapping[str, Any]:
    """The ``config`` of a saved scheduler state, after checking the document's shape.

    Raises:
        ValueError: Naming the field, for another format, a newer version or a
            ``config`` that is not an object with a ``policy``.
    """
    if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"not a RayTuneScheduler state (expected format {STATE_FORMAT!r})")
    version = state.get("version")
    if type(version) is not int or version > STATE_VERSION:
        raise ValueError(
            f"scheduler state has version {version!r}; this hpprune reads versions "
            f"<= {STATE_VERSION}"
        )
    config = state.get("config")
    if not isinstance(config, Mapping) or "policy" not in config:
        raise ValueError(
            f"the saved state's `config` must be an object with a `policy`, got {config!r:.80}"
        )
    return config


def _header_of(records: Sequence[Mapping[str, Any]], where: object) -> StudyRecord:
    """The decoded ``study`` header that starts ``records``.

    Raises:
        LogFormatError: If the first record is not a valid study header.
    """
    header = Fold(where).accept(records[0], 1)
    if not isinstance(header, StudyRecord):  # pragma: no cover - accept() refuses
        raise LogFormatError(f"{where} does not start with a study record")
    return header


# --------------------------------------------------------------------------- scheduler
class RayTuneScheduler(TrialScheduler):
    """A Ray Tune trial scheduler whose decisions come from an hpprune policy.

    Use it like any Tune scheduler::

        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                scheduler=RayTuneScheduler(hpprune.MedianPruner()),
                metric="loss", mode="min", num_samples=20),
        )

    Args:
        policy: The hpprune policy that decides.
        metric: Result key of the objective. None takes it from
            ``TuneConfig(metric=...)``.
        mode: ``"min"`` or ``"max"``. None takes it from ``TuneConfig(mode=...)``.
        time_attr: Result key used as the step: an integer counter that
            increases with every result (``"training_iteration"``, an epoch
            counter, ``"timesteps_total"``); integral floats are accepted.
        log: Optional path of a JSON Lines audit log that receives a copy of
            every record (for ``hpprune explain`` and replays). The scheduler's
            own state file lives in Tune's experiment directory either way.
        non_finite: ``"stop"`` (default): a NaN/±inf/None result or a missing
            metric key stops the trial with reason ``non_finite``;
            ``"ignore"``: the trial continues. Either way the value never
            enters any statistic.
        rank: Ranking hook with the signature of :func:`choose_next_trial`
            (the default): a module-level function registered with
            :func:`register_rank_function` (a saved state names it, and reading
            the state resolves the name among registered functions only).
        study_name: Name stored in the log header (default: the experiment name).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``mode`` or ``non_finite`` is unknown, a name is empty
            or ``rank`` is not registered.
    """

    _supports_buffered_results = False

    def __init__(
        self,
        policy: Policy,
        metric: str | None = None,
        mode: str | None = None,
        time_attr: str = "training_iteration",
        log: str | os.PathLike[str] | None = None,
        *,
        non_finite: str = "stop",
        rank: RankFn | None = None,
        study_name: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.policy = as_policy(policy)
        self._init_metric = _name_or_none(metric, "metric")
        self._init_mode = None if mode is None else validate.choice(mode, _MODES, "mode")
        step_key = _name_or_none(time_attr, "time_attr")
        if step_key is None:
            raise TypeError("expected a result key (str) for `time_attr`, got None")
        self._time_attr: str = step_key
        if log is not None and not isinstance(log, (str, os.PathLike)):
            raise TypeError(f"expected a file path (or None) for `log`, got {type(log).__name__}")
        self._log_path = None if log is None else os.fspath(check_log_path(log))
        self._non_finite = validate.choice(non_finite, NON_FINITE_MODES, "non_finite")
        self._rank_ref = RANK_FUNCTIONS.name(rank, "rank") if rank is not None else None
        self._rank: RankFn = rank if rank is not None else choose_next_trial
        self._study_name = _name_or_none(study_name, "study_name")
        self._reset()

    def _reset(self) -> None:
        self._metric: str | None = self._init_metric
        self._mode: str | None = self._init_mode
        self._engine: Engine | None = None
        self._sink = _RecordSink()
        self._state_path: Path | None = None
        self._trials: dict[str, Trial] = {}
        self._order: dict[str, int] = {}
        self._to_annotate: dict[str, Decision] = {}
        self._answers: dict[str, tuple[int, Decision]] = {}
        self._errored: set[str] = set()

    # ------------------------------------------------------------------ properties
    @property
    def metric(self) -> str | None:
        """The objective's result key (None until known)."""
        return self._metric

    @property
    def mode(self) -> str | None:
        """``"min"`` or ``"max"`` (None until known)."""
        return self._mode

    @property
    def time_attr(self) -> str:
        """The result key used as the step."""
        return self._time_attr

    @property
    def engine(self) -> Engine:
        """The engine (created when Tune adds the first trial).

        Raises:
            RuntimeError: Before the first trial was added.
        """
        if self._engine is None:
            raise RuntimeError("the scheduler has no engine yet: Tune has not added a trial")
        return self._engine

    @property
    def records(self) -> list[dict[str, Any]]:
        """Copy of every audit record so far (the scheduler's state), oldest first."""
        return [dict(r) for r in self._sink.records]

    @property
    def state_path(self) -> Path | None:
        """The state file in Tune's experiment directory, once known."""
        return self._state_path

    # ------------------------------------------------------------------ Tune contract
    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Take ``metric`` and ``mode`` from ``TuneConfig`` (Tune calls this).

        Returns:
            False when a value conflicts with the one given to the constructor.
        """
        del spec
        if metric and self._init_metric and metric != self._init_metric:
            return False
        if mode and self._init_mode and mode != self._init_mode:
            return False
        if mode is not None:
            validate.choice(mode, _MODES, "mode")
        self._metric = self._init_metric or metric or self._metric
        self._mode = self._init_mode or mode or self._mode
        if self._metric is None and self._mode:
            self._metric = DEFAULT_METRIC
        return True

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        """Register a trial (a restored experiment re-adds its trials here).

        Raises:
            ValueError: If ``metric`` or ``mode`` is still unknown.
        """
        engine = self._ensure_engine(trial)
        tid = trial.trial_id
        self._trials[tid] = trial
        self._order.setdefault(tid, len(self._order))
        if tid not in engine.study:
            engine.add_trial(tid, _params(getattr(trial, "config", None)))

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        """Report the result to the engine and return its decision as a Tune action.

        Returns:
            ``CONTINUE``, ``PAUSE`` or ``STOP``.

        Raises:
            ValueError: If ``result`` has no ``time_attr`` or it is negative.
            TypeError: If the step is not an integer or the metric not a number.
        """
        self._sync()
        decision = self._report(trial, result)
        if decision is None:
            return TrialScheduler.CONTINUE
        self._answers[trial.trial_id] = (_step(result[self._time_attr], self._time_attr), decision)
        return _TUNE_ACTIONS[decision.action]

    def on_trial_complete(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> None:
        """Mark the trial completed (or, if hpprune stopped it, publish the reason)."""
        engine = self._ensure_engine(trial)
        tid = trial.trial_id
        self._trials.setdefault(tid, trial)
        if tid in engine.study:
            state = engine.state(tid)
            if state is TrialState.STOPPED:
                self._annotate(tid)
                return
            if state.is_finished:
                return
        if result and self._time_attr in result:
            curve = engine.study.trial(tid) if tid in engine.study else None
            if curve is None or _step(result[self._time_attr], self.time_attr) > curve.last_step:
                decision = self._report(trial, result)
                if decision is not None and decision.stops:
                    self._annotate(tid)
                    return
        if tid not in engine.study:
            engine.add_trial(tid)
        engine.complete(tid)
        self._errored.discard(tid)

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        """Record a failure, or mark the trial stale when Tune will retry it."""
        engine = self._engine
        tid = trial.trial_id
        if engine is None or tid not in engine.study or engine.state(tid).is_finished:
            return
        if _will_retry(trial):
            engine.mark_stale(tid)
            self._errored.add(tid)
        else:
            engine.fail(tid, "error")

    def on_trial_remove(self, tune_controller: TuneController, trial: Trial) -> None:
        """A pending or paused trial was stopped by Tune: record it as failed ("removed")."""
        engine = self._engine
        tid = trial.trial_id
        if engine is not None and tid in engine.study and not engine.state(tid).is_finished:
            engine.fail(tid, "removed")
        self._errored.discard(tid)

    def choose_trial_to_run(self, tune_controller: TuneController) -> Trial | None:
        """Pick the pending or paused trial to run next via the ranking hook.

        A paused trial that is chosen gets a RESUME decision in the audit log.
        """
        self._sync()
        engine = self._engine
        if engine is None:
            return None
        trials: list[Trial] = tune_controller.get_trials()  # type: ignore[no-untyped-call]
        waiting = [t for t in trials if t.status in (Trial.PENDING, Trial.PAUSED)]
        if not waiting:
            return None
        waiting.sort(key=lambda t: self._add_rank(t.trial_id))
        by_id: dict[str, Trial] = {t.trial_id: t for t in waiting}
        pending = [t.trial_id for t in waiting if t.status == Trial.PENDING]
        paused = [t.trial_id for t in waiting if t.status == Trial.PAUSED]
        choice = self._rank(engine, pending, paused)
        if choice is None or choice.trial_id not in by_id:
            return None
        tid = choice.trial_id
        if (
            choice.resume is not None
            and tid in engine.study
            and engine.state(tid) is TrialState.PAUSED
        ):
            engine.decide_external(tid, choice.resume)
        return by_id[tid]

    def decision_for(self, trial_id: str, step: object) -> Decision | None:
        """The decision given to the trial's result at ``step`` (None for a replayed step).

        Args:
            trial_id: Tune's trial id.
            step: The result's ``time_attr`` value.

        Returns:
            The decision, or None if that result was not decided (replayed or unknown).
        """
        answer = self._answers.get(trial_id)
        if answer is None or answer[0] != step:
            return None
        return answer[1]

    def debug_string(self) -> str:
        """One status line for Tune's progress output."""
        head = f"hpprune {self.policy!r}"
        if self._engine is None:
            return f"{head}: no trials yet"
        counts: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for tid in self._engine.trial_ids():
            state = self._engine.state(tid).value
            counts[state] = counts.get(state, 0) + 1
            last = self._engine.last_decision(tid)
            if last is not None and last.action in (Action.STOP, Action.PAUSE):
                reasons[last.reason] = reasons.get(last.reason, 0) + 1
        states = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
        return f"{head}: {states}; stop/pause reasons: {why}"

    # ------------------------------------------------------------------ save / restore
    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as a versioned, JSON-ready document.

        Returns:
            ``{"format", "version", "config", "records"}``; ``records`` are the
            engine's audit-log records, oldest first.
        """
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "config": {
                "policy": self.policy.to_dict(),
                "metric": self._init_metric,
                "mode": self._init_mode,
                "search_metric": self._metric,
                "search_mode": self._mode,
                "time_attr": self._time_attr,
                "log": self._log_path,
                "non_finite": self._non_finite,
                "rank": self._rank_ref,
                "study_name": self._study_name,
            },
            "records": self.records,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace this scheduler's state with a :meth:`state_dict` document.

        The engine is rebuilt by folding the records, so later decisions are
        the ones the saving scheduler would have made.

        Raises:
            ValueError: If the document has another format, a newer version,
                a field of the wrong type, or was written for another policy,
                metric, mode, time_attr, rank hook, non_finite mode or study.
        """
        config = _saved_config(state)
        if policy_hash(policy_from_dict(config["policy"])) != policy_hash(self.policy):
            raise ValueError("the saved state was written for another `policy`")
        for key, mine in (
            ("time_attr", self._time_attr),
            ("metric", self._init_metric),
            ("mode", self._init_mode),
        ):
            theirs = config.get(key)
            if mine is not None and theirs is not None and mine != theirs:
                raise ValueError(f"the saved state has {key}={theirs!r}, not {mine!r}")
        if config.get("rank") != self._rank_ref:  # compared by name: nothing is imported
            raise ValueError(
                f"the saved state has rank={config.get('rank')!r}, not {self._rank_ref!r}"
            )
        records = state.get("records") or []
        if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
            raise ValueError("the saved state's `records` must be a list of objects")
        mode = self._init_mode or config.get("search_mode")
        if records:
            found = _header_of(records, "the saved state")
            check_same_study(
                self._expected_header(found, mode),
                found,
                "the saved state",
                "this scheduler must be configured as the one that saved it",
            )
        self._reset()
        self._metric = self._init_metric or config.get("search_metric")
        self._mode = mode
        if records:
            self._sink = _RecordSink(records)
            self._engine = Engine.from_records(self._sink.records, self.policy, log=self._sink)
            self._attach_user_log()

    def save(self, checkpoint_path: str) -> None:
        """Write :meth:`state_dict` as JSON to ``checkpoint_path``.

        The file is written atomically through a private temporary file
        (:func:`hpprune.audit.outputs.write_text`).

        Raises:
            ValueError: If ``checkpoint_path`` is the user's ``log`` or the
                experiment's state file (the state never replaces a log).
        """
        inputs = [p for p in (self._log_path, self._state_path) if p is not None]
        write_text(checkpoint_path, json.dumps(self.state_dict(), allow_nan=False), inputs=inputs)

    def restore(self, checkpoint_path: str) -> None:
        """Load a state written by :meth:`save` (see :meth:`load_state_dict`).

        Raises:
            FileNotFoundError: If the file is missing.
            ValueError: If it is not a compatible scheduler state.
        """
        text = Path(checkpoint_path).read_text(encoding="utf-8")
        self.load_state_dict(json.loads(text))

    def __getstate__(self) -> dict[str, Any]:
        return self.state_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        config = _saved_config(state)
        ref = config.get("rank")
        rank = None if ref is None else RANK_FUNCTIONS.resolve(ref, "config.rank")
        self.__init__(  # type: ignore[misc]
            policy_from_dict(config["policy"]),
            metric=config.get("metric"),
            mode=config.get("mode"),
            time_attr=config.get("time_attr", "training_iteration"),
            log=config.get("log"),
            non_finite=config.get("non_finite", "stop"),
            rank=rank,
            study_name=config.get("study_name"),
        )
        self.load_state_dict(state)

    # ------------------------------------------------------------------ internals
    def _ensure_engine(self, trial: Trial) -> Engine:
        if self._metric is None or self._mode is None:
            raise ValueError(
                f"{type(self).__name__} needs `metric` and `mode`: pass them to the "
                "constructor or to tune.TuneConfig(metric=..., mode=...)"
            )
        if self._engine is None:
            state = _state_location(trial)
            records = self._records_to_resume(state, trial.trial_id)
            if records:
                found = _header_of(records, state.local if state else None)
                check_same_study(
                    self._expected_header(found, self._mode),
                    found,
                    state.local if state else None,
                    "this scheduler must be configured as the one that wrote it",
                )
                self._sink = _RecordSink(records)
                self._engine = Engine.from_records(self._sink.records, self.policy, log=self._sink)
            else:
                self._sink = _RecordSink()
                self._engine = Engine(
                    self.policy,
                    _DIRECTIONS[self._mode],
                    log=self._sink,
                    non_finite=self._non_finite,
                    study_name=self._study_name or _experiment_name(trial),
                )
            self._attach_user_log()  # before the state file: a refused log leaves no trace
            if state is not None:
                self._bind_state_file(state)
        elif self._state_path is None:
            state = _state_location(trial)
            if state is not None:
                self._bind_state_file(state)
        return self._engine

    def _expected_header(self, found: StudyRecord, mode: str | None) -> StudyRecord:
        """The header this scheduler would write, to compare with ``found``.

        A study name of None matches any name (as ``Engine`` takes it), and so
        does a mode not known yet (None) match any direction.
        """
        direction = found.direction if mode is None else Direction(_DIRECTIONS[mode])
        return StudyRecord(
            self._study_name,
            self.policy.to_dict(),
            policy_hash(self.policy),
            direction,
            self._non_finite,
            {},
        )

    def _records_to_resume(
        self, state: _StateLocation | None, trial_id: str
    ) -> list[dict[str, Any]]:
        """Records of a previous run of this experiment, if ``trial_id`` is known there."""
        if state is None:
            return []
        state.fetch()
        path = state.local
        if not path.exists() or path.stat().st_size == 0:
            return []
        records = list(read_log(path))
        if any(r.get("trial") == trial_id for r in records):
            logger.info(
                "hpprune: resuming scheduler state from %s (%d records)", path, len(records)
            )
            return records
        return []

    def _bind_state_file(self, location: _StateLocation) -> None:
        state = location.local
        if state.exists() and state.stat().st_size > 0:
            ours = self._sink.records
            theirs = list(read_log(state))
            if theirs != ours[: len(theirs)]:
                aside = state.with_name(_free_name(location.taken_names()))
                logger.warning(
                    "hpprune: %s belongs to another run of this experiment directory; "
                    "moved it to %s",
                    state,
                    aside,
                )
                state.replace(aside)
            else:
                # The file is a prefix of our records: append the missing tail.
                tail = ours[len(theirs) :]
                log = FileSink(state)
                log.append(tail)
                log.close()
        self._sink.attach(state)
        self._state_path = state

    def _attach_user_log(self) -> None:
        """Copy the records to the user's ``log`` (see :meth:`_RecordSink.attach`).

        A refused log forgets the engine just built, so no later call runs on
        without the log the user asked for.
        """
        if self._log_path is not None and all(
            os.fspath(f.path) != self._log_path for f in self._sink.files
        ):
            try:
                self._sink.attach(self._log_path)
            except ValueError:
                self._engine = None
                self._sink = _RecordSink()
                raise

    def _add_rank(self, tid: str) -> tuple[int, int]:
        engine = self._engine
        if engine is not None and tid in engine.study:
            return (0, engine.study.trial(tid).index)
        return (1, self._order.get(tid, len(self._order)))

    def _report(self, trial: Trial, result: Mapping[str, Any]) -> Decision | None:
        """Feed one result to the engine; None for a replayed step (nothing recorded)."""
        engine = self._ensure_engine(trial)
        tid = trial.trial_id
        self._trials.setdefault(tid, trial)
        if self._time_attr not in result:
            raise ValueError(
                f"result of trial {tid!r} has no `time_attr` key {self._time_attr!r}; "
                "report it or choose another time_attr"
            )
        step = _step(result[self._time_attr], self.time_attr)
        metric = self._metric or DEFAULT_METRIC
        value = validate.metric(result.get(metric), metric)
        raw_elapsed = result.get("time_total_s")
        elapsed = float(raw_elapsed) if isinstance(raw_elapsed, Real) else None
        if elapsed is not None and not (math.isfinite(elapsed) and elapsed >= 0):
            elapsed = None
        self._errored.discard(tid)
        if tid in engine.study:
            curve = engine.study.trial(tid)
            if curve.state is TrialState.STOPPED:
                return engine.report(tid, step, value, elapsed)  # sticky STOP, nothing new
            if curve.state.is_finished:
                logger.warning(
                    "hpprune: trial %s is %s but reported %s=%d; ignored",
                    tid,
                    curve.state.value,
                    self._time_attr,
                    step,
                )
                return None
            if step <= curve.last_step:
                return None
        decision = engine.report(tid, step, value, elapsed)
        if decision.action in (Action.STOP, Action.PAUSE) and decision.step == step:
            self._announce(tid, decision)
        return decision

    def _announce(self, tid: str, decision: Decision) -> None:
        evidence = json.dumps(jsonable(dict(decision.evidence)), sort_keys=True)
        logger.info(
            "hpprune: %s trial %s at %s=%d: reason=%s rule=%s evidence=%s",
            decision.action.value.upper(),
            tid,
            self._time_attr,
            decision.step,
            decision.reason,
            decision.rule,
            evidence,
        )
        self._to_annotate[tid] = decision

    def _annotate(self, tid: str) -> None:
        """Write a pending STOP/PAUSE decision into the trial's last result."""
        decision = self._to_annotate.get(tid)
        trial = self._trials.get(tid)
        if decision is None or trial is None:
            return
        metadata = getattr(trial, "run_metadata", None)
        last = getattr(metadata, "last_result", None)
        if not isinstance(last, dict) or not last:
            return
        step = last.get(self._time_attr)
        if step is None or not isinstance(step, Real) or step < decision.step:
            return  # the result carrying the decision has not arrived yet
        del self._to_annotate[tid]
        if step != decision.step:
            return  # the trial moved on (e.g. resumed after a pause)
        last[RESULT_KEY] = summary(decision)
        for invalidate in (
            getattr(metadata, "invalidate_cache", None),
            getattr(trial, "invalidate_json_state", None),
        ):
            if callable(invalidate):
                invalidate()

    def _sync(self) -> None:
        """Publish pending reasons and record failures Tune gave up retrying."""
        for tid in list(self._to_annotate):
            self._annotate(tid)
        engine = self._engine
        for tid in list(self._errored):
            trial = self._trials.get(tid)
            if trial is not None and trial.status == Trial.ERROR and engine is not None:
                if not engine.state(tid).is_finished:
                    engine.fail(tid, "error")
                self._errored.discard(tid)


# --------------------------------------------------------------------------- callback
class DecisionCallback(Callback):
    """Tune callback that writes the scheduler's decision into every result.

    Add it to ``RunConfig(callbacks=[DecisionCallback(scheduler)])``: each
    result then carries ``hpprune/action``, ``hpprune/reason``, ``hpprune/rule``,
    ``hpprune/step`` and ``hpprune/evidence`` (JSON) in ``progress.csv``,
    ``result.json``, ``Result.metrics_dataframe`` and
    ``ResultGrid.get_dataframe()``. Without it, only STOP and PAUSE reasons
    reach the trial's last result (and the log).

    Args:
        scheduler: The scheduler passed to ``TuneConfig``.

    Raises:
        TypeError: If ``scheduler`` is not a :class:`RayTuneScheduler`.
    """

    def __init__(self, scheduler: RayTuneScheduler) -> None:
        if not isinstance(scheduler, RayTuneScheduler):
            raise TypeError(
                f"expected a RayTuneScheduler for `scheduler`, got {type(scheduler).__name__}"
            )
        self.scheduler = scheduler

    def on_trial_result(
        self,
        iteration: int,
        trials: list[Trial],
        trial: Trial,
        result: dict[str, Any],
        **info: Any,
    ) -> None:
        """Add the decision for this result (Tune's loggers run after user callbacks)."""
        del iteration, trials, info
        decision = self.scheduler.decision_for(trial.trial_id, result.get(self.scheduler.time_attr))
        if decision is not None:
            result[RESULT_KEY] = summary(decision)


def summary(decision: Decision) -> dict[str, Any]:
    """The ``{"action", "reason", "rule", "step", "evidence"}`` dict written into results.

    Evidence is a JSON string (non-finite floats as ``"NaN"``/``"Infinity"``).
    """
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "rule": decision.rule,
        "step": decision.step,
        "evidence": json.dumps(jsonable(dict(decision.evidence)), sort_keys=True),
    }


# --------------------------------------------------------------------------- helpers
def _name_or_none(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty str (or None) for `{field}`, got {value!r}")
    return value


def _step(raw: object, field: str) -> int:
    """Turn ``result[time_attr]`` into an engine step (integral floats accepted)."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, Integral):
        raise TypeError(
            f"`time_attr` {field!r} must be an integer counter (e.g. training_iteration), "
            f"got {raw!r}"
        )
    return validate.step(raw, field)


def _params(config: object, prefix: str = "") -> dict[str, Any]:
    """Flatten a Tune config to JSON scalars (other values are left out)."""
    out: dict[str, Any] = {}
    if not isinstance(config, Mapping):
        return out
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_params(value, name + "/"))
        elif value is None or isinstance(value, (str, bool, int, float)):
            out[name] = value
    return out


def _will_retry(trial: Trial) -> bool:
    should_recover = getattr(trial, "should_recover", None)
    return bool(should_recover()) if callable(should_recover) else False


def _experiment_name(trial: Trial) -> str | None:
    storage = getattr(trial, "storage", None)
    name = getattr(storage, "experiment_dir_name", None)
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class _StateLocation:
    """Where the state file lives: the driver's staging copy and Tune's storage."""

    local: Path
    fs: Any = None
    remote: str | None = None

    def fetch(self) -> None:
        """Copy the file from Tune's storage when the local staging copy is missing.

        Tune restores only ``.json``/``.pkl`` files into a new driver staging
        directory, so the scheduler fetches its own file (any pyarrow filesystem).
        """
        if self.local.exists() or self.fs is None or self.remote is None:
            return
        try:
            with self.fs.open_input_stream(self.remote) as fh:
                data = fh.readall()
        except OSError:  # includes FileNotFoundError: nothing to resume
            return
        tmp = self.local.with_name(self.local.name + ".fetch.tmp")
        tmp.write_bytes(data)
        tmp.replace(self.local)

    def taken_names(self) -> set[str]:
        """Names of every earlier state file, in the staging folder and in Tune's storage.

        An earlier run's log is moved aside under a name that neither place
        holds, so the next sync to storage never overwrites one (Tune copies
        the staging folder over the storage folder file by file).

        Raises:
            OSError: If the storage folder exists but cannot be listed (a
                name chosen without it could overwrite an earlier log).
        """
        names = {p.name for p in self.local.parent.glob(f"{STATE_FILE}*")}
        if self.fs is None or self.remote is None:
            return names
        from pyarrow.fs import FileSelector

        folder = self.remote.rsplit("/", 1)[0]
        selector = FileSelector(folder, allow_not_found=True, recursive=False)
        for info in self.fs.get_file_info(selector):
            name = info.path.rsplit("/", 1)[-1]
            if name.startswith(STATE_FILE):
                names.add(name)
        return names


def _state_location(trial: Trial) -> _StateLocation | None:
    """The state file of the trial's experiment (None outside a Tune run)."""
    storage = getattr(trial, "storage", None)
    if storage is None:
        return None
    try:
        staging = storage.experiment_driver_staging_path
        remote = f"{storage.experiment_fs_path}/{STATE_FILE}"
        fs = storage.storage_filesystem
    except (AttributeError, RuntimeError, ValueError):
        return None
    if not isinstance(staging, str):
        return None
    local = Path(staging) / STATE_FILE
    local.parent.mkdir(parents=True, exist_ok=True)
    return _StateLocation(local, fs, remote)


def _free_name(taken: set[str]) -> str:
    """``hpprune-scheduler.jsonl.<k>.old`` with ``k`` above every ``k`` in ``taken``.

    Numbers only grow, so the names sort in the order the runs were moved aside.
    """
    prefix, suffix = f"{STATE_FILE}.", ".old"
    used = [
        int(n[len(prefix) : -len(suffix)])
        for n in taken
        if n.startswith(prefix) and n.endswith(suffix) and n[len(prefix) : -len(suffix)].isdigit()
    ]
    return f"{prefix}{max(used, default=0) + 1}{suffix}"
