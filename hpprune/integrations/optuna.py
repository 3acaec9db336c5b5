"""Optuna front door: :class:`OptunaPruner`, an Optuna pruner backed by :class:`hpprune.Engine`.

``optuna.create_study(pruner=OptunaPruner(hpprune.MedianPruner()))`` makes
``trial.should_prune()`` return the engine's decision. The adapter only
translates: Optuna trials become engine trials (id ``str(trial.number)``),
intermediate values become reports, finished trials become ``complete``/``fail``
events, and a STOP becomes ``True`` plus the user attributes ``hpprune_reason``,
``hpprune_rule``, ``hpprune_step`` and ``hpprune_evidence`` on the trial.

Incremental view:
    Finished Optuna trials are immutable, so each one is read from storage at
    most once. Each call asks the storage only which trials finished since the
    previous call: one small ``SELECT trial_id, number, state`` on an RDB
    storage (SQLite, PostgreSQL, MySQL), and ``get_trial`` on the few
    unfinished trials for in-memory, journal and other storages. The policy
    then reads per-step sorted score lists kept by the engine, so the cost per
    call does not grow with the number of finished trials. The readers live in
    :mod:`hpprune.integrations.optuna_storage`; the SQL one is used only when
    Optuna's schema is one it knows, else Optuna's public API is.

Many processes (``log=`` a path on a shared filesystem):
    The audit log is the global order of events. Each call holds the log's
    sink lock (:meth:`hpprune.audit.sinks.LogSink.locked`; an exclusive
    ``flock`` for a file), folds the records other workers appended since its
    last look (:meth:`hpprune.Engine.apply_record`), appends
    ``complete``/``fail`` records for trials that finished in storage but are
    not yet in the log, then reports, decides, appends, and unlocks. Every
    decision is therefore a function of the log prefix before it, and a
    single-process replay of the log through the policy reproduces every
    decision exactly. Without a log, each process sees the trials of other
    processes only once they have finished, and decisions depend on timing.

Multi-objective studies:
    Optuna's ``Trial.report`` and ``Trial.should_prune`` raise
    NotImplementedError for them. Pass ``objective_index`` and, in the
    objective, call ``pruner.report(trial, value, step)`` (stores the value
    and decides) or ``pruner.should_prune(trial)`` instead.

Non-finite intermediate values (NaN, ±inf) follow the engine's ``non_finite``
policy: by default the trial is stopped with reason ``non_finite``; such values
never enter other trials' statistics.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import threading
import warnings
import weakref
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from hpprune.integrations import missing_extra

try:
    from optuna.pruners import BasePruner
    from optuna.storages import BaseStorage
    from optuna.study import Study, StudyDirection
    from optuna.trial import FrozenTrial, Trial
    from optuna.trial import TrialState as OptunaState
except ImportError as _exc:
    raise missing_extra(_exc, "optuna", "optuna", __name__) from _exc

from hpprune import validate
from hpprune.audit.sinks import FileSink, LogSink, is_url, open_sink
from hpprune.engine import NON_FINITE_MODES, Engine
from hpprune.integrations.optuna_storage import (
    FINISHED,
    STUDY_STORAGE,
    Watcher,
    make_watcher,
    storage_url,
)
from hpprune.pruners.base import Policy, as_policy
from hpprune.types import SCHEMA_VERSION, Action, Decision, Reason, TrialState, jsonable

__all__ = [
    "ATTR_EVIDENCE",
    "ATTR_REASON",
    "ATTR_RULE",
    "ATTR_STEP",
    "INGEST_RULE",
    "STUDY_STORAGE",
    "OptunaPruner",
]

ATTR_REASON = "hpprune_reason"
"""User attribute holding the stop reason code (e.g. ``below_percentile``)."""
ATTR_RULE = "hpprune_rule"
"""User attribute holding the name of the rule that stopped the trial."""
ATTR_STEP = "hpprune_step"
"""User attribute holding the step at which the trial was stopped."""
ATTR_EVIDENCE = "hpprune_evidence"
"""User attribute holding the decision's evidence (JSON-ready dict)."""
INGEST_RULE = "optuna_storage"
"""Rule name of report records folded in from storage without a decision."""

_BATCH_FETCH = 8  # more newly finished trials than this: one get_all_trials instead


# --------------------------------------------------------------------------- the pruner
class OptunaPruner(BasePruner):
    """An Optuna pruner whose decisions come from an hpprune policy.

    Args:
        policy: Any hpprune policy, e.g. ``hpprune.MedianPruner()``.
        log: Path of the JSON Lines audit log, a
            :class:`~hpprune.audit.sinks.LogSink`, or None for no log. With a log,
            many worker processes (each with its own ``OptunaPruner`` on the
            same storage and the same log path, on a filesystem with working
            ``flock``) make exactly the decisions a single-process replay of
            the log gives; a restarted worker rebuilds its state from it.
            A database URL (any SQLAlchemy URL, e.g.
            ``"postgresql+psycopg2://user@host/db"``), or :data:`STUDY_STORAGE`
            for the study's own RDB storage, keeps the log in the table
            ``hpprune_events`` of that database under the study's name: workers
            on different machines then share the log through the database,
            which also sequences their decisions (:mod:`hpprune.audit.dbsink`).
        objective_index: Which objective to decide on in a multi-objective
            study (its direction and its final values are used; the reported
            intermediate values must be that objective's metric). Required
            for multi-objective studies; defaults to 0 otherwise.
        non_finite: ``"stop"`` (default) stops a trial that reports NaN or
            ±inf with reason ``non_finite``; ``"ignore"`` lets it continue.
            Either way the value never enters other trials' statistics.
        wall_time: Pass the wall-clock seconds since the trial started as the
            ``elapsed_s`` of its newest report (cost-aware policies use it);
            False passes None.

    Raises:
        TypeError: If ``policy`` is not a Policy, ``log`` is not a path, or
            another argument has the wrong type.
        ValueError: If ``objective_index`` < 0 or ``non_finite`` is unknown.

    An Optuna trial cannot be paused, only continued or pruned, so the policy
    runs as its stop-only variant (:meth:`hpprune.Policy.stop_only`: e.g.
    :func:`hpprune.default_policy` stops the trials it would pause; the log
    records that variant). A PAUSE from a scheduler policy that has no such
    variant (:class:`hpprune.ResourceScheduler`) is answered with ``False``.
    """

    def __init__(
        self,
        policy: Policy,
        log: str | os.PathLike[str] | LogSink | None = None,
        *,
        objective_index: int | None = None,
        non_finite: str = "stop",
        wall_time: bool = True,
    ) -> None:
        self._policy = as_policy(policy).stop_only()
        if log is not None and not isinstance(log, (str, os.PathLike, LogSink)):
            raise TypeError(
                "expected a file path (str or Path), a LogSink or None for `log`, "
                f"got {type(log).__name__}"
            )
        self._log_arg = log
        self._log_url = log if is_url(log) else None  # the sink needs the study: made in _bind
        self._log_path = (
            Path(log.path)
            if isinstance(log, FileSink)
            else Path(log)
            if isinstance(log, (str, os.PathLike)) and self._log_url is None
            else None
        )
        self._objective_index = (
            None
            if objective_index is None
            else validate.int_param(objective_index, "objective_index", 0)
        )
        self._non_finite = validate.choice(non_finite, NON_FINITE_MODES, "non_finite")
        if not isinstance(wall_time, bool):
            raise TypeError(f"expected a bool for `wall_time`, got {type(wall_time).__name__}")
        self._wall_time = wall_time
        self._lock = threading.RLock()
        self._study_name: str | None = None
        self._bound: tuple[BaseStorage, int] | None = None
        self._at_end: weakref.finalize[Any, Any] | None = None
        self._index = 0
        self._direction = "minimize"
        self._reset()

    def _reset(self) -> None:
        """Forget all per-study state; the next call rebuilds it from the log and storage."""
        shared: LogSink | None = getattr(self, "_shared", None)
        if shared is not None:
            shared.close()
        self._engine: Engine | None = None
        self._shared = (
            FileSink(self._log_path)
            if self._log_path is not None
            else self._log_arg
            if isinstance(self._log_arg, LogSink)
            else None
        )
        self._watcher: Watcher | None = None

    # ------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        # Only the constructor arguments: state is rebuilt from the log and storage.
        return {
            "policy": self._policy,
            "log": str(self._log_path) if self._log_path is not None else self._log_arg,
            "objective_index": self._objective_index,
            "non_finite": self._non_finite,
            "wall_time": self._wall_time,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["policy"],
            state["log"],
            objective_index=state["objective_index"],
            non_finite=state["non_finite"],
            wall_time=state["wall_time"],
        )

    # ------------------------------------------------------------- properties
    @property
    def policy(self) -> Policy:
        """The hpprune policy that decides."""
        return self._policy

    @property
    def log_path(self) -> Path | None:
        """The audit log's path, or None."""
        return self._log_path

    @property
    def engine(self) -> Engine | None:
        """The engine (None before the first call); read it, do not drive it.

        Reading it first folds the trials that finished in the study's storage
        since the last call (as :meth:`sync` does), so it shows the last
        trials of a study finished without ``callbacks=[pruner.sync]``.
        """
        with self._lock:
            self._refresh()
            return self._engine

    def last_decision(self, trial: Trial | FrozenTrial | int) -> Decision | None:
        """The latest decision this pruner knows for a trial (None if none yet).

        Args:
            trial: An Optuna trial, frozen trial, or trial number.

        Returns:
            The decision, with its reason and evidence.
        """
        number = trial if isinstance(trial, int) else trial.number
        with self._lock:
            self._refresh()
            engine = self._engine
            if engine is None or str(number) not in engine.study:
                return None
            return engine.last_decision(str(number))

    # ------------------------------------------------------------- Optuna API
    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Decide on the trial's newest intermediate value (called by ``Trial.should_prune``).

        Steps reported since the previous call are decided in order; a step
        lower than one already decided is ignored. Calling again without a
        new report returns the same answer.

        Args:
            study: The study.
            trial: The trial's latest frozen state.

        Returns:
            True when the engine's decision is STOP (sticky once given).

        Raises:
            ValueError: If the study has several objectives and no
                ``objective_index`` was given, the index is out of range, the
                pruner is reused with another study, or the audit log was
                written for another policy, direction or study.
            LogFormatError: If the audit log is malformed.
        """
        return self._prune(study, trial, None)

    def _prune(self, study: Study, trial: FrozenTrial, elapsed: float | None) -> bool:
        started = trial.datetime_start
        if elapsed is None and self._wall_time and started is not None:
            elapsed = max(0.0, (datetime.now(started.tzinfo) - started).total_seconds())
        with self._lock:
            decision, fresh = self._decide(study, trial, elapsed)
        if decision is None:
            return False
        if fresh:
            self._announce(study, trial, decision)
        return decision.action is Action.STOP

    def sync(self, study: Study, trial: FrozenTrial | None = None) -> None:
        """Record trials that finished in storage since the last call (no decision).

        An optimisation, not a requirement: the pruner also folds finished
        trials when it next decides, when its state is read (``engine``,
        ``last_decision``) and, with a log, when the study object is collected
        or the interpreter exits. As an Optuna callback
        (``study.optimize(f, callbacks=[pruner.sync])``) it writes each
        trial's end as it happens, so the log is current during the study.

        Args:
            study: The study.
            trial: Ignored (accepted so the method fits Optuna's callback signature).

        Raises:
            ValueError: If the pruner is reused with another study or the log
                was written for another policy, direction or study.
        """
        del trial
        with self._lock:
            self._bind(study)
            self._fold_finished(study._storage, study._study_id)

    def _fold_finished(self, storage: BaseStorage, study_id: int) -> None:
        """Fold trials that finished in storage into the engine and the log (no decision)."""
        if self._shared is None:
            self._ensure_engine(iter(()))
            self._sync(storage, study_id, -1)
            return
        try:
            with self._shared.locked() as records:
                self._ensure_engine(records)
                self._sync(storage, study_id, -1)
        except BaseException:
            self._reset()
            raise

    def _refresh(self) -> None:
        """Before the state is read: fold what finished in the bound study's storage."""
        bound = self._bound
        if bound is not None and self._engine is not None:
            self._fold_finished(*bound)

    @staticmethod
    def _at_study_end(pruner: OptunaPruner, storage: BaseStorage, study_id: int) -> None:
        """Run when the study object is collected (or at exit): write the last completions."""
        try:
            with pruner._lock:
                if pruner._engine is not None:  # it has decided on this study in this process
                    pruner._fold_finished(storage, study_id)
        except Exception as exc:  # the storage may be gone at exit: say so, lose nothing
            warnings.warn(
                f"hpprune: could not record the last finished trials of study "
                f"{pruner._study_name!r} in {pruner._log_path}: {exc}; call pruner.sync(study)",
                stacklevel=1,
            )

    def should_prune(self, trial: Trial) -> bool:
        """``trial.should_prune()`` that also works in multi-objective studies.

        Args:
            trial: A running Optuna trial.

        Returns:
            True when the trial should be pruned.
        """
        return self._prune(trial.study, _frozen(trial), None)

    def report(
        self, trial: Trial, value: float, step: int, *, elapsed_s: float | None = None
    ) -> bool:
        """Store an intermediate value and decide on it (works for multi-objective studies).

        Equivalent to ``trial.report(value, step)`` followed by
        ``trial.should_prune()``, without Optuna's single-objective check.

        Args:
            trial: A running Optuna trial.
            value: The metric of the chosen objective; NaN/±inf follow ``non_finite``.
            step: Int >= 0. A step that was already reported keeps its first value.
            elapsed_s: Compute seconds since the trial started (overrides ``wall_time``).

        Returns:
            True when the trial should be pruned.

        Raises:
            TypeError: If ``value`` is not a number or ``step`` not an int.
            ValueError: If ``step`` < 0 or ``elapsed_s`` is negative.
        """
        s = validate.step(step)
        x = validate.metric(value)
        if x is None:
            raise TypeError("expected a number for `value`, got None")
        e = validate.elapsed(elapsed_s)
        frozen = _frozen(trial)
        if s not in frozen.intermediate_values:
            trial.storage.set_trial_intermediate_value(trial._trial_id, s, x)
            frozen.intermediate_values[s] = x
        return self._prune(trial.study, frozen, e)

    # ------------------------------------------------------------- internals
    def _bind(self, study: Study) -> None:
        name = study.study_name
        if self._study_name is None:
            directions = study.directions
            n = len(directions)
            if self._objective_index is None and n > 1:
                raise ValueError(
                    f"study {name!r} has {n} objectives; pass `objective_index` to choose the "
                    "one to decide on, e.g. OptunaPruner(policy, objective_index=0), and report "
                    "with `pruner.report(trial, value, step)` in the objective (Optuna's "
                    "trial.report raises NotImplementedError in multi-objective studies; "
                    "see docs/optuna.md, 'Multi-objective studies')"
                )
            index = self._objective_index or 0
            if index >= n:
                raise ValueError(
                    f"`objective_index` = {index} but study {name!r} has {n} objective(s)"
                )
            self._index = index
            self._direction = (
                "maximize" if directions[index] == StudyDirection.MAXIMIZE else "minimize"
            )
            self._study_name = name
        elif name != self._study_name:
            raise ValueError(
                f"this OptunaPruner is bound to study {self._study_name!r}; create one pruner "
                f"per study (got {name!r})"
            )
        if self._watcher is None:
            self._watcher = make_watcher(study._storage)
        if self._shared is None and isinstance(self._log_url, str):
            url = self._log_url
            if url == STUDY_STORAGE:
                url = storage_url(study._storage)
            self._shared = open_sink(url, study=name)
        if self._bound is None:
            self._bound = (study._storage, study._study_id)
            if self._log_path is not None or self._log_url is not None:
                # Optuna calls a pruner only from should_prune: nothing tells it that the
                # last trials finished. Fold them when the study is collected or at exit.
                self._at_end = weakref.finalize(
                    study, OptunaPruner._at_study_end, self, study._storage, study._study_id
                )

    def _ensure_engine(self, records: Iterator[dict[str, Any]]) -> Engine:
        """The engine; on first use built from the whole log (header first), if any."""
        if self._engine is not None:
            for record in records:
                self._engine.apply_record(record)
            return self._engine
        # First use (or after a failure): the engine continues the whole log, checking
        # that it was written for this study, policy, direction and non-finite mode.
        self._engine = Engine(
            self._policy,
            self._direction,
            log=self._shared,
            non_finite=self._non_finite,
            study_name=self._study_name,
        )
        return self._engine

    def _decide(
        self, study: Study, trial: FrozenTrial, elapsed: float | None
    ) -> tuple[Decision | None, bool]:
        self._bind(study)
        if self._shared is None:
            self._ensure_engine(iter(()))
            return self._step(study, trial, elapsed)
        try:
            with self._shared.locked() as records:
                self._ensure_engine(records)
                return self._step(study, trial, elapsed)
        except BaseException:
            # The engine may hold state the log does not: rebuild both next time.
            self._reset()
            raise

    def _step(
        self, study: Study, trial: FrozenTrial, elapsed: float | None
    ) -> tuple[Decision | None, bool]:
        self._sync(study._storage, study._study_id, trial.number)
        return self._ingest_own(trial, elapsed)

    def _sync(self, storage: BaseStorage, study_id: int, own: int) -> None:
        """Fold trials that finished in storage (and are not completed or failed in the engine).

        A trial the engine stopped is folded too: values it reported after the
        STOP enter the log, and if its objective returned a value anyway
        (Optuna state COMPLETE) it counts as completed.
        """
        engine = self._engine
        watcher = self._watcher
        if engine is None or watcher is None:  # pragma: no cover - _decide set them
            return
        finished = watcher.poll(storage, study_id, own)
        if not finished:
            return
        view = engine.study
        done = (TrialState.COMPLETED, TrialState.FAILED)
        todo = [
            f
            for f in finished
            if not (str(f.number) in view and view.trial(str(f.number)).state in done)
        ]
        missing = [f for f in todo if f.trial is None]
        fetched: dict[int, FrozenTrial] = {}
        if len(missing) > _BATCH_FETCH:
            wanted = {f.number for f in missing}
            for t in storage.get_all_trials(study_id, deepcopy=False, states=FINISHED):
                if t.number in wanted:
                    fetched[t.number] = t
        else:
            for f in missing:
                fetched[f.number] = storage.get_trial(f.trial_id)
        # A first sync can fold thousands of trials: the cyclic GC would rescan
        # the new long-lived objects again and again (Engine.from_records does the same).
        with _gc_paused() if len(todo) > _BATCH_FETCH else contextlib.nullcontext():
            for f in todo:
                found = f.trial if f.trial is not None else fetched.get(f.number)
                if found is not None:
                    self._ingest_finished(engine, found)

    def _ingest_finished(self, engine: Engine, t: FrozenTrial) -> None:
        tid = str(t.number)
        view = engine.study
        if tid not in view:
            engine.add_trial(tid, _params(t))
        curve = view.trial(tid)
        for step in sorted(t.intermediate_values):
            if curve.has_step(step):
                continue
            record: dict[str, Any] = {
                "kind": "report",
                "trial": tid,
                "step": step,
                "value": t.intermediate_values[step],
                # == Decision(CONTINUE, INGESTED, INGEST_RULE, tid, step).to_dict(...)
                "decision": {
                    "action": "continue",
                    "reason": Reason.INGESTED,
                    "rule": INGEST_RULE,
                    "trial_id": tid,
                    "step": step,
                    "schema_version": SCHEMA_VERSION,
                },
            }
            if step < curve.last_step:
                record["late"] = True  # reported out of order (see Engine.report)
            if self._shared is not None:  # write-ahead: the log first
                self._shared.append([record])
            engine.apply_record(record)
        if curve.state is TrialState.STOPPED:
            if t.state == OptunaState.COMPLETE:  # the objective returned after our STOP
                values = t.values
                engine.complete(tid, values[self._index] if values else None, after_stop=True)
            return  # pruned or failed after the STOP: the STOP stays its fate
        if t.state == OptunaState.COMPLETE:
            values = t.values
            engine.complete(tid, values[self._index] if values else None)
        elif t.state == OptunaState.PRUNED:
            engine.fail(tid, "pruned")
        else:
            engine.fail(tid, "failed")

    def _ingest_own(self, t: FrozenTrial, elapsed: float | None) -> tuple[Decision | None, bool]:
        engine = self._engine
        values = t.intermediate_values
        if engine is None or not values:
            return None, False
        tid = str(t.number)
        view = engine.study
        if tid not in view:
            engine.add_trial(tid, _params(t))
        curve = view.trial(tid)
        if curve.state in (TrialState.COMPLETED, TrialState.FAILED):
            return None, False
        if curve.state is TrialState.STOPPED:
            return engine.last_decision(tid), False
        # Optuna accepts steps in any order: every step not seen yet, ascending;
        # one below the last step is a late report (decided only by unordered-step policies).
        steps = sorted(s for s in values if not curve.has_step(s))
        decision: Decision | None = None
        for i, s in enumerate(steps):
            decision = engine.report(
                tid,
                s,
                values[s],
                elapsed_s=elapsed if i == len(steps) - 1 else None,
                unordered=True,
            )
            if decision.action is Action.STOP:
                return decision, True
        if decision is None:
            decision = engine.last_decision(tid)
        return decision, False

    def _announce(self, study: Study, trial: FrozenTrial, decision: Decision) -> None:
        storage = study._storage
        tid = trial._trial_id
        storage.set_trial_user_attr(tid, ATTR_REASON, decision.reason)
        storage.set_trial_user_attr(tid, ATTR_RULE, decision.rule)
        storage.set_trial_user_attr(tid, ATTR_STEP, decision.step)
        storage.set_trial_user_attr(tid, ATTR_EVIDENCE, jsonable(dict(decision.evidence)))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _params(t: FrozenTrial) -> dict[str, Any]:
    return {str(k): v for k, v in t.params.items()}


def _frozen(trial: Trial) -> FrozenTrial:
    """The trial's locally cached frozen state (what ``Trial.should_prune`` passes on)."""
    cached = getattr(trial, "_cached_frozen_trial", None)
    if isinstance(cached, FrozenTrial):
        return cached
    return copy.deepcopy(trial.study._storage.get_trial(trial._trial_id))
