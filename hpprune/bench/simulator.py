"""Discrete-event simulator of a hyperparameter search with 1 or N asynchronous workers.

Every method in a benchmark sees the same :class:`Stream`: the configurations of
one seed in one fixed order, each with its recorded learning curve and the
seconds each of its steps takes. :func:`simulate` replays a search over that
stream for one method:

* A free worker asks the method what to run next (:meth:`Method.next_trial`):
  the next configuration of the stream, a paused trial to resume, or nothing.
* Each step of a running trial finishes after its own duration. Step
  completions are processed in simulated-time order; ties are broken by the
  worker index, so a run is fully deterministic.
* When a step finishes, the method sees its value (:meth:`Method.on_report`) and
  answers CONTINUE, STOP or PAUSE. After the trial's last step a CONTINUE
  completes it (:meth:`Method.on_complete`).
* The budget is either total steps trained (all workers together; a step may
  start only if it fits in what is left) or simulated wall-clock seconds (no step
  starts at or after the limit and steps finishing after it are never seen).

Step costs are measured in step units: column ``j`` of a curve costs
``steps[j] - steps[j-1]`` (the first column costs ``max(steps[0], 1)``), so one
full curve over steps ``1..52`` costs 52. Missing values (NaN) inside a curve
are steps that are trained but not reported; a curve ends at its last reported
value; ±inf values are reported as they are (non-finite reports). Missing
elapsed times are interpolated along the curve (at the configuration's own
rate, else the stream's median rate, else one second per step unit).
"""

from __future__ import annotations

import heapq
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hpprune.bench.sources import CurveSet
from hpprune.types import Action, Direction

__all__ = [
    "Budget",
    "ConfigCurve",
    "Method",
    "NewTrial",
    "Resume",
    "RunResult",
    "SimTrial",
    "Simulation",
    "Status",
    "Stream",
    "parse_budget",
    "simulate",
]

BudgetUnit = Literal["steps", "seconds"]


# --------------------------------------------------------------------- streams
@dataclass(frozen=True)
class ConfigCurve:
    """One configuration of a stream, ready for replay.

    Attributes:
        index: Position in the stream (0-based).
        config_id: The configuration's id (unique in the stream).
        steps: Step number of each column up to the last reported one.
        values: Metric per column on the user's scale; NaN = trained but not
            reported; ±inf = a reported non-finite value.
        seconds: Simulated duration of each column (>= 0).
        elapsed: Cumulative seconds at the end of each column.
        costs: Cost of each column in step units (>= 1).
        final: Last finite value (NaN when the curve has none).
        params: Hyperparameters, if the source knows them.
    """

    index: int
    config_id: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    seconds: tuple[float, ...]
    elapsed: tuple[float, ...]
    costs: tuple[int, ...]
    final: float
    params: Mapping[str, Any] | None = None

    @property
    def n_columns(self) -> int:
        """Number of columns this configuration trains."""
        return len(self.steps)

    @property
    def full_cost(self) -> int:
        """Cost of training it to its last step, in step units."""
        return sum(self.costs)


def _column_costs(steps: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    costs = np.diff(steps, prepend=0).astype(np.int64)
    costs[0] = max(int(steps[0]), 1)
    return costs


def _fill_elapsed(
    elapsed: npt.NDArray[np.float64] | None, cum_cost: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Cumulative seconds for every column; NaN entries interpolated (see module doc)."""
    n, m = cum_cost.shape
    out = np.full((n, m), np.nan)
    rates = np.full(n, np.nan)
    if elapsed is not None:
        for i in range(n):
            known = np.isfinite(elapsed[i])
            if not known.any():
                continue
            last = int(np.nonzero(known)[0][-1])
            if elapsed[i, last] > 0:
                rates[i] = elapsed[i, last] / cum_cost[i, last]
    valid = rates[np.isfinite(rates)]
    default_rate = float(np.median(valid)) if valid.size else 1.0
    for i in range(n):
        rate = rates[i] if np.isfinite(rates[i]) else default_rate
        if elapsed is None or not np.isfinite(elapsed[i]).any():
            out[i] = cum_cost[i] * rate
            continue
        known = np.isfinite(elapsed[i])
        xs = np.concatenate([[0.0], cum_cost[i, known]])
        ys = np.concatenate([[0.0], elapsed[i, known]])
        filled = np.interp(cum_cost[i], xs, ys)
        beyond = cum_cost[i] > xs[-1]
        filled[beyond] = ys[-1] + rate * (cum_cost[i, beyond] - xs[-1])
        out[i] = np.maximum.accumulate(filled)
    return out


@dataclass(frozen=True)
class Stream:
    """The configurations of one seed, in the order every method sees them.

    Attributes:
        task: Task name.
        seed: Seed of the stream.
        direction: Whether the metric is minimised or maximised.
        configs: The configurations in stream order.
        full_cost: Cost of one full curve over all columns, in step units
            (the ``max step`` of the default budget ``20 x max step``).
        max_step: Largest step number of the source.
        best_final: Best final value over the stream (user scale).
        worst_final: Worst final value over the stream (user scale).
        dropped: Ids of configurations left out because they report nothing.
    """

    task: str
    seed: int
    direction: Direction
    configs: tuple[ConfigCurve, ...]
    full_cost: int
    max_step: int
    best_final: float
    worst_final: float
    dropped: tuple[str, ...] = ()

    @property
    def n_configs(self) -> int:
        """Number of configurations in the stream."""
        return len(self.configs)

    @property
    def total_cost(self) -> int:
        """Steps needed to train every configuration of the stream to its end."""
        return sum(c.full_cost for c in self.configs)

    def score(self, value: float) -> float:
        """Canonical score (lower is better) of a user-scale value."""
        return self.direction.to_score(value)

    @classmethod
    def from_curves(
        cls, curves: CurveSet, seed: int = 0, order: Sequence[int] | None = None
    ) -> Stream:
        """Build a stream from a :class:`CurveSet`.

        Args:
            curves: The learning curves (NaN = not reported, ±inf = non-finite report).
            seed: Seed recorded with the stream.
            order: Optional permutation (or subset) of the rows; default: row order.

        Returns:
            The stream. Configurations that report no value at all are dropped
            (their ids are listed in ``dropped``).

        Raises:
            ValueError: If no configuration has a finite value.
        """
        rows = list(range(curves.n_configs)) if order is None else [int(i) for i in order]
        steps = np.asarray(curves.steps, dtype=np.int64)
        costs = _column_costs(steps)
        values = np.asarray(curves.values, dtype=np.float64)[rows]
        elapsed = None if curves.elapsed is None else np.asarray(curves.elapsed)[rows]
        cum_cost = np.broadcast_to(np.cumsum(costs).astype(np.float64), values.shape)
        filled = _fill_elapsed(elapsed, np.array(cum_cost))
        direction = Direction.parse(curves.direction)
        configs: list[ConfigCurve] = []
        dropped: list[str] = []
        for k, row in enumerate(rows):
            reported = ~np.isnan(values[k])
            if not reported.any():
                dropped.append(curves.config_ids[row])
                continue
            n = int(np.nonzero(reported)[0][-1]) + 1
            vals = values[k, :n]
            finite = np.isfinite(vals)
            final = float(vals[np.nonzero(finite)[0][-1]]) if finite.any() else math.nan
            cum = filled[k, :n]
            secs = np.diff(cum, prepend=0.0)
            params = None if curves.params is None else curves.params[row]
            configs.append(
                ConfigCurve(
                    index=len(configs),
                    config_id=curves.config_ids[row],
                    steps=tuple(int(s) for s in steps[:n]),
                    values=tuple(float(v) for v in vals),
                    seconds=tuple(max(float(s), 0.0) for s in secs),
                    elapsed=tuple(float(e) for e in cum),
                    costs=tuple(int(c) for c in costs[:n]),
                    final=final,
                    params=params,
                )
            )
        finals = [direction.to_score(c.final) for c in configs if math.isfinite(c.final)]
        if not finals:
            raise ValueError(
                f"task {curves.task!r}: no configuration has a finite value; nothing to benchmark"
            )
        return cls(
            task=curves.task,
            seed=seed,
            direction=direction,
            configs=tuple(configs),
            full_cost=int(costs.sum()),
            max_step=int(steps[-1]),
            best_final=direction.to_value(min(finals)),
            worst_final=direction.to_value(max(finals)),
            dropped=tuple(dropped),
        )


# ---------------------------------------------------------------------- budget
@dataclass(frozen=True)
class Budget:
    """A resolved budget: ``amount`` steps or simulated seconds."""

    unit: BudgetUnit
    amount: float

    def __post_init__(self) -> None:
        if self.unit not in ("steps", "seconds"):
            raise ValueError(f"budget unit must be 'steps' or 'seconds', got {self.unit!r}")
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise ValueError(f"budget amount must be a finite number > 0, got {self.amount!r}")


def parse_budget(text: str | None, full_cost: int) -> Budget:
    """Parse a budget option for a stream whose full curve costs ``full_cost`` steps.

    Args:
        text: ``"20x"`` (multiples of one full curve, the default when None),
            ``"1040"`` (steps) or ``"3600s"`` (simulated seconds).
        full_cost: Cost of one full curve in step units.

    Returns:
        The resolved budget.

    Raises:
        ValueError: If the text is not one of those forms or not > 0.
    """
    raw = "20x" if text is None else str(text).strip().lower()
    try:
        if raw.endswith("x"):
            return Budget("steps", float(round(float(raw[:-1]) * full_cost)))
        if raw.endswith("s") and not raw.endswith("steps"):
            return Budget("seconds", float(raw[:-1]))
        return Budget("steps", float(int(raw.removesuffix("steps"))))
    except ValueError:
        raise ValueError(
            f"expected a budget like '20x' (x one full curve), '1040' (steps) or '3600s' "
            f"(simulated seconds) for `--budget`, got {text!r}"
        ) from None


# ------------------------------------------------------------------ simulation
class Status(StrEnum):
    """Life cycle of a simulated trial."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    """Stopped by the method before its last step."""
    STOPPED_AT_END = "stopped_at_end"
    """Stopped by the method at its last step (nothing left to save)."""
    COMPLETED = "completed"
    CUT = "cut"
    """Still running when the budget ran out."""


@dataclass
class SimTrial:
    """A configuration once a method has started it.

    Attributes:
        key: Start order (0-based), unique within a run.
        config: Its curve.
        next_col: Index of the next column to train.
        status: Current status.
        spent: Steps trained so far.
        stop_requested: A method asked to stop it while its step was in flight.
    """

    key: int
    config: ConfigCurve
    next_col: int = 0
    status: Status = Status.RUNNING
    spent: int = 0
    stop_requested: bool = False

    @property
    def trial_id(self) -> str:
        """The id reported to methods (the configuration id)."""
        return self.config.config_id

    @property
    def finished(self) -> bool:
        """True once every column has been trained."""
        return self.next_col >= self.config.n_columns


@dataclass(frozen=True)
class NewTrial:
    """Start a new configuration: the next of the stream, or ``config`` (an index)."""

    config: int | None = None


@dataclass(frozen=True)
class Resume:
    """Resume the paused trial with this key."""

    key: int


Choice = NewTrial | Resume | None


class Method(ABC):
    """One run of one method on one stream (use a fresh object per run)."""

    name = "method"

    def bind(self, sim: Simulation) -> None:  # noqa: B027 - optional hook
        """Called once before the run; ``sim`` exposes the stream and budget."""

    def next_trial(self) -> Choice:
        """What a free worker runs next (default: the next stream configuration).

        Returns:
            :class:`NewTrial`, :class:`Resume`, or None to leave the worker idle
            until the next step finishes.
        """
        return NewTrial()

    def on_start(self, trial: SimTrial) -> None:  # noqa: B027 - optional hook
        """A new trial has started (before its first step runs)."""

    @abstractmethod
    def on_report(self, trial: SimTrial, column: int) -> Action:
        """Decide after column ``column`` of ``trial`` (a reported value).

        Args:
            trial: The trial (``trial.config.values[column]`` is the value; it
                may be ±inf but never NaN).
            column: The column just trained.

        Returns:
            CONTINUE, STOP or PAUSE.
        """

    def on_complete(self, trial: SimTrial) -> None:  # noqa: B027 - optional hook
        """The trial trained its last column and was not stopped."""

    def on_finish(self) -> None:  # noqa: B027 - optional hook
        """The run is over (budget spent or nothing left to run)."""


@dataclass
class RunResult:
    """Everything measured in one run of one method on one stream.

    Attributes:
        method: Method name.
        task: Task of the stream.
        seed: Seed of the stream.
        workers: Number of simulated workers.
        budget: The budget.
        cost: Cumulative steps trained at each step completion (increasing).
        time: Simulated seconds at each step completion (non-decreasing).
        best: Best canonical score observed so far at each completion (inf
            before the first finite value).
        best_final: Best canonical final score of the stream.
        worst_final: Worst canonical final score of the stream.
        statuses: Final status of every started trial, by key.
        started_configs: Stream index of each started trial, by key.
        spent: Steps trained per started trial, by key.
        full_costs: Full cost per started trial, by key.
        finals: Canonical final score per started trial (nan if none), by key.
        decision_ns: Wall-clock nanoseconds of each method decision.
        exhausted: Every configuration of the stream was started.
        sim_seconds: Simulated time at the end.
        steps_spent: Steps trained in total.
    """

    method: str
    task: str
    seed: int
    workers: int
    budget: Budget
    cost: npt.NDArray[np.float64]
    time: npt.NDArray[np.float64]
    best: npt.NDArray[np.float64]
    best_final: float
    worst_final: float
    statuses: list[Status]
    started_configs: list[int]
    spent: list[int]
    full_costs: list[int]
    finals: list[float]
    decision_ns: npt.NDArray[np.int64]
    exhausted: bool
    sim_seconds: float
    steps_spent: int
    extra: dict[str, Any] = field(default_factory=dict)


class Simulation:
    """State of one simulated search; methods read it through :meth:`Method.bind`.

    Args:
        stream: The configurations.
        budget: Steps or simulated seconds.
        n_workers: Number of asynchronous workers (>= 1).

    Raises:
        ValueError: If ``n_workers < 1``.
    """

    def __init__(self, stream: Stream, budget: Budget, n_workers: int = 1) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"expected an int >= 1 for `n_workers`, got {n_workers!r}")
        self.stream = stream
        self.budget = budget
        self.n_workers = n_workers
        self.now = 0.0
        self.cost_started = 0
        self.cost_done = 0
        self.trials: dict[int, SimTrial] = {}
        self.used: set[int] = set()
        self.exhausted = False
        self.budget_spent = False
        self._cursor = 0
        self._heap: list[tuple[float, int, int]] = []
        self._workers: list[int | None] = [None] * n_workers
        self._max_cost = budget.amount if budget.unit == "steps" else math.inf
        self._max_time = budget.amount if budget.unit == "seconds" else math.inf
        self._cost: list[float] = []
        self._time: list[float] = []
        self._best: list[float] = []
        self._best_score = math.inf
        self._decision_ns: list[int] = []

    # ------------------------------------------------------------ for methods
    def peek_next_config(self) -> int | None:
        """Stream index of the configuration a plain :class:`NewTrial` would start."""
        i = self._cursor
        while i < self.stream.n_configs and i in self.used:
            i += 1
        return i if i < self.stream.n_configs else None

    def request_stop(self, key: int) -> None:
        """Stop a trial now (paused) or when its running step finishes.

        Raises:
            KeyError: If the key is unknown.
        """
        trial = self.trials[key]
        if trial.status is Status.PAUSED:
            trial.status = Status.STOPPED_AT_END if trial.finished else Status.STOPPED
        elif trial.status is Status.RUNNING:
            trial.stop_requested = True

    def running_keys(self) -> list[int]:
        """Keys of trials whose step is in flight."""
        return [k for k in self._workers if k is not None]

    @property
    def out_of_budget(self) -> bool:
        """True once no further step may start."""
        return self.budget_spent or self.now >= self._max_time

    # --------------------------------------------------------------- engine
    def _can_start(self, cost: int) -> bool:
        if self.budget_spent or self.now >= self._max_time:
            return False
        if self.cost_started + cost > self._max_cost:
            self.budget_spent = True
            return False
        return True

    def _schedule(self, worker: int, trial: SimTrial) -> bool:
        col = trial.next_col
        cost = trial.config.costs[col]
        if not self._can_start(cost):
            return False
        self.cost_started += cost
        trial.status = Status.RUNNING
        self._workers[worker] = trial.key
        heapq.heappush(self._heap, (self.now + trial.config.seconds[col], worker, trial.key))
        return True

    def _new_trial(self, worker: int, config: int | None, method: Method) -> bool:
        index = self.peek_next_config() if config is None else int(config)
        if index is None:
            self.exhausted = True
            return False
        if not 0 <= index < self.stream.n_configs or index in self.used:
            raise ValueError(f"method {method.name!r} asked for unusable configuration {index}")
        conf = self.stream.configs[index]
        if not self._can_start(conf.costs[0]):
            return False
        self.used.add(index)
        while self._cursor in self.used:
            self._cursor += 1
        trial = SimTrial(key=len(self.trials), config=conf)
        self.trials[trial.key] = trial
        method.on_start(trial)
        if trial.stop_requested:
            trial.status = Status.STOPPED
            return True
        return self._schedule(worker, trial)

    def _fill(self, method: Method) -> None:
        for worker in range(self.n_workers):
            while self._workers[worker] is None:
                if self.out_of_budget:
                    return
                choice = method.next_trial()
                if choice is None:
                    return
                if isinstance(choice, NewTrial):
                    before = len(self.trials)
                    started = self._new_trial(worker, choice.config, method)
                    if not started and len(self.trials) == before:
                        return
                    continue
                trial = self.trials[choice.key]
                if trial.status is not Status.PAUSED:
                    raise ValueError(
                        f"method {method.name!r} resumed trial {choice.key} which is "
                        f"{trial.status.value}, not paused"
                    )
                if trial.finished:
                    trial.status = Status.COMPLETED
                    method.on_complete(trial)
                    continue
                if not self._schedule(worker, trial):
                    return

    def run(self, method: Method) -> RunResult:
        """Run ``method`` until the budget is spent or nothing is left to run.

        Args:
            method: A fresh method object.

        Returns:
            The measurements of the run.
        """
        method.bind(self)
        self._fill(method)
        while self._heap:
            t, worker, key = heapq.heappop(self._heap)
            if t > self._max_time:
                self._heap.clear()
                self.now = self._max_time
                self._workers = [None] * self.n_workers
                break
            self.now = t
            self._workers[worker] = None
            self._step_done(worker, self.trials[key], method)
            self._fill(method)
        for trial in self.trials.values():
            if trial.status is Status.RUNNING:
                trial.status = Status.CUT
        method.on_finish()
        return self._result(method)

    def _step_done(self, worker: int, trial: SimTrial, method: Method) -> None:
        col = trial.next_col
        conf = trial.config
        cost = conf.costs[col]
        self.cost_done += cost
        trial.spent += cost
        trial.next_col = col + 1
        value = conf.values[col]
        reported = not math.isnan(value)
        if reported and math.isfinite(value):
            score = self.stream.score(value)
            if score < self._best_score:
                self._best_score = score
        self._cost.append(float(self.cost_done))
        self._time.append(self.now)
        self._best.append(self._best_score)
        last = trial.finished
        if trial.stop_requested:
            action = Action.STOP
        elif reported:
            t0 = time.perf_counter_ns()
            action = method.on_report(trial, col)
            self._decision_ns.append(time.perf_counter_ns() - t0)
            if trial.stop_requested:
                action = Action.STOP
        else:
            action = Action.CONTINUE
        if action is Action.STOP:
            trial.status = Status.STOPPED_AT_END if last else Status.STOPPED
        elif action is Action.PAUSE:
            trial.status = Status.PAUSED
        elif last:
            trial.status = Status.COMPLETED
            method.on_complete(trial)
        elif not self._schedule(worker, trial):
            trial.status = Status.CUT

    def _result(self, method: Method) -> RunResult:
        trials = [self.trials[k] for k in sorted(self.trials)]
        s = self.stream
        return RunResult(
            method=method.name,
            task=s.task,
            seed=s.seed,
            workers=self.n_workers,
            budget=self.budget,
            cost=np.asarray(self._cost, dtype=np.float64),
            time=np.asarray(self._time, dtype=np.float64),
            best=np.asarray(self._best, dtype=np.float64),
            best_final=s.score(s.best_final),
            worst_final=s.score(s.worst_final),
            statuses=[t.status for t in trials],
            started_configs=[t.config.index for t in trials],
            spent=[t.spent for t in trials],
            full_costs=[t.config.full_cost for t in trials],
            finals=[
                s.score(t.config.final) if math.isfinite(t.config.final) else math.nan
                for t in trials
            ],
            decision_ns=np.asarray(self._decision_ns, dtype=np.int64),
            exhausted=self.exhausted or self.peek_next_config() is None,
            sim_seconds=self.now,
            steps_spent=self.cost_done,
        )


def simulate(stream: Stream, method: Method, *, budget: Budget, n_workers: int = 1) -> RunResult:
    """Replay a search over ``stream`` with ``method`` deciding.

    Args:
        stream: The configurations, in the order every method sees them.
        method: A fresh method object (it keeps per-run state).
        budget: Steps or simulated seconds.
        n_workers: Number of asynchronous workers.

    Returns:
        The run's measurements (see :class:`RunResult`). Non-finite values are
        passed to the method as they are but never become the incumbent.

    Raises:
        ValueError: If ``n_workers < 1`` or the method asks for something
            impossible (an unknown configuration, resuming a trial that is not
            paused).
    """
    return Simulation(stream, budget, n_workers).run(method)
