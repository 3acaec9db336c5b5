"""Method adapters: hpprune policies, Optuna's pruners, Ray Tune's schedulers, baselines.

Every method is a :class:`~hpprune.bench.simulator.Method` that the simulator
drives over the same stream. Peers run as their own, unmodified objects:

* **hpprune** — every :class:`~hpprune.Policy` exported by ``hpprune`` (found at
  run time), plus ``hpprune.default_policy()`` when it exists, each behind an
  :class:`~hpprune.Engine` (``report`` per step, ``complete`` at the end).
* **Optuna** — a real in-memory :class:`optuna.Study` per run with the real pruner;
  a trial is ``study.ask()``; each step is ``trial.report(value, step)`` followed by
  ``trial.should_prune()`` (which calls ``pruner.prune(study, frozen_trial)``);
  a pruned trial is told ``TrialState.PRUNED``, a finished one its final value.
  With N workers several trials are RUNNING in the study at once and the calls
  arrive in simulated-time order, as they would from N processes sharing storage.
* **Ray Tune** — the real scheduler object driven through its public
  ``TrialScheduler`` methods (``on_trial_add``, ``on_trial_result``,
  ``on_trial_complete``, ``on_trial_remove``, ``choose_trial_to_run``) with a
  stand-in controller and stand-in trials that mirror ``TuneController``:
  one PENDING trial is kept queued (as Tune does for a custom searcher,
  ``max_pending_trials = 1``), ``stop_trial`` calls ``on_trial_remove`` for
  PENDING/PAUSED trials and ``on_trial_complete`` for RUNNING ones, a STOP
  decision or the natural end of a trial goes through ``stop_trial``, PAUSE
  frees the worker until ``choose_trial_to_run`` returns the trial again.
* **Baselines** — ``none`` (never stops), ``top1step`` (1-step top-K: the first
  half of the budget evaluates new configurations for one reported step, the
  second half trains the best of them fully, best first; K is as many as fit),
  and ``oracle`` (knows every final value and trains the best configuration first).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import logging
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpprune.bench.simulator import (
    Choice,
    Method,
    NewTrial,
    Resume,
    SimTrial,
    Simulation,
    Status,
    Stream,
)
from hpprune.types import Action, Direction

__all__ = [
    "FAMILIES",
    "BuildContext",
    "HpprunePolicyMethod",
    "MethodSpec",
    "NoPruningMethod",
    "OptunaMethod",
    "OracleMethod",
    "RayMethod",
    "TopKOneStepMethod",
    "all_methods",
    "select_methods",
]

FAMILIES = ("hpprune", "optuna", "ray", "baseline")


@dataclass(frozen=True)
class MethodSpec:
    """A benchmark method: its name, family, a description and a factory.

    Attributes:
        name: Unique name, e.g. ``"optuna.median"``.
        family: One of :data:`FAMILIES`.
        description: Human-readable settings (goes into the protocol).
        factory: Builds a fresh :class:`Method` for one run.
    """

    name: str
    family: str
    description: str
    factory: Callable[[], Method]


# ------------------------------------------------------------------ baselines
class NoPruningMethod(Method):
    """Trains every configuration of the stream to its end, in stream order."""

    name = "none"

    def on_report(self, trial: SimTrial, column: int) -> Action:
        del trial, column
        return Action.CONTINUE


class OracleMethod(Method):
    """Knows the final values: trains configurations best final value first."""

    name = "oracle"

    def bind(self, sim: Simulation) -> None:
        self._sim = sim
        s = sim.stream

        def key(i: int) -> tuple[float, int]:
            final = s.configs[i].final
            return (s.score(final) if math.isfinite(final) else math.inf, i)

        self._order = sorted(range(s.n_configs), key=key)
        self._pos = 0

    def next_trial(self) -> Choice:
        while self._pos < len(self._order) and self._order[self._pos] in self._sim.used:
            self._pos += 1
        return NewTrial(self._order[self._pos]) if self._pos < len(self._order) else None

    def on_report(self, trial: SimTrial, column: int) -> Action:
        del trial, column
        return Action.CONTINUE


class TopKOneStepMethod(Method):
    """1-step top-K: evaluate configurations for one step, then train the best fully.

    The first half of the budget (steps started, or simulated seconds) starts new
    configurations and pauses each after its first reported value. Then the
    paused trials are resumed best first and trained to their end until the
    budget runs out; those never resumed count as stopped. A first value that is
    ±inf stops the trial at once.
    """

    name = "top1step"

    def bind(self, sim: Simulation) -> None:
        self._sim = sim
        self._half = sim.budget.amount / 2.0
        self._phase = 1
        self._evaluated: dict[int, float] = {}
        self._selected: set[int] = set()

    def _phase_one_open(self) -> bool:
        sim = self._sim
        nxt = sim.peek_next_config()
        if nxt is None:
            return False
        if sim.budget.unit == "steps":
            return sim.cost_started + sim.stream.configs[nxt].costs[0] <= self._half
        return sim.now < self._half

    def next_trial(self) -> Choice:
        if self._phase == 1:
            if self._phase_one_open():
                return NewTrial()
            self._phase = 2
        sim = self._sim
        if any(k not in self._evaluated for k in sim.running_keys()):
            return None  # wait until every started trial has its first value
        ranked = sorted(
            (score, key)
            for key, score in self._evaluated.items()
            if key not in self._selected and sim.trials[key].status is Status.PAUSED
        )
        if not ranked:
            return None
        key = ranked[0][1]
        self._selected.add(key)
        return Resume(key)

    def on_report(self, trial: SimTrial, column: int) -> Action:
        if trial.key in self._selected:
            return Action.CONTINUE
        value = trial.config.values[column]
        if not math.isfinite(value):
            self._evaluated[trial.key] = math.inf
            return Action.STOP
        self._evaluated[trial.key] = self._sim.stream.score(value)
        return Action.PAUSE

    def on_finish(self) -> None:
        for key in self._evaluated:
            if self._sim.trials[key].status is Status.PAUSED:
                self._sim.request_stop(key)


# --------------------------------------------------------------------- hpprune
_CONTEXT_MAX = ("max_resource", "max_step", "max_steps", "max_t", "r_max", "max_budget")
_CONTEXT_DEFAULTS: dict[str, Any] = {
    "percentile": 25.0,
    "min_resource": 1,
    "min_step": 1,
    "min_t": 1,
    "grace_period": 1,
    "r_min": 1,
    "reduction_factor": 3,
    "eta": 3,
}
_CONTEXT_INNER = ("policy", "wrapped")


class _CannotBuildError(Exception):
    pass


@dataclass(frozen=True)
class BuildContext:
    """What a policy factory may know about the run.

    Attributes:
        max_step: Largest step number of the stream (given to ``max_*`` arguments).
        direction: ``"minimize"`` or ``"maximize"``.
        n_workers: Number of simulated workers (given to ``max_concurrent``).
    """

    max_step: int
    direction: str
    n_workers: int


def _inner_policy(ctx: BuildContext) -> Any:
    """The stop rule given to wrappers/schedulers that need one (sized to the stream)."""
    import hpprune

    if hasattr(hpprune, "conservative_policy"):
        return hpprune.conservative_policy(max_step=max(ctx.max_step, 1))
    return hpprune.MedianPruner()


def _call_with_context(fn: Callable[..., Any], ctx: BuildContext) -> Any:
    """Call ``fn`` filling required arguments (and resource/worker limits) from ``ctx``.

    ``max_*`` resource arguments get the stream's max step, ``max_concurrent``
    the worker count, ``direction`` the direction, a required ``policy`` or
    ``wrapped`` argument the default policy (or MedianPruner), and other
    required arguments a value from a small table; anything else cannot be built.
    """
    kwargs: dict[str, Any] = {}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn()
    for p in sig.parameters.values():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.name in _CONTEXT_MAX:
            kwargs[p.name] = ctx.max_step
        elif p.name == "max_concurrent":
            kwargs[p.name] = ctx.n_workers
        elif p.name == "direction":
            kwargs[p.name] = ctx.direction
        elif p.default is inspect.Parameter.empty:
            if p.name in _CONTEXT_INNER:
                kwargs[p.name] = _inner_policy(ctx)
            elif p.name in _CONTEXT_DEFAULTS:
                kwargs[p.name] = _CONTEXT_DEFAULTS[p.name]
            else:
                raise _CannotBuildError(f"required argument {p.name!r} has no benchmark default")
    return fn(**kwargs)


def _snake(name: str) -> str:
    base = re.sub(r"(Pruner|Policy)$", "", name) or name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()


class HpprunePolicyMethod(Method):
    """An hpprune policy behind an :class:`hpprune.Engine` (no audit log).

    Each step is ``engine.report(trial, step, value, elapsed_s)``; a finished
    trial is ``engine.complete(trial)``. A policy with ``next_trial(study)``
    (a scheduler such as ResourceScheduler) also decides what a free worker runs:
    ``"resume"`` resumes the paused trial (recorded with ``engine.decide_external``
    and the policy's ``resume_decision``), ``"start"`` starts the next
    configuration, ``"none"`` leaves the worker idle.

    Args:
        name: Method name.
        build: ``build(ctx)`` returns a fresh policy for a :class:`BuildContext`.
    """

    def __init__(self, name: str, build: Callable[[BuildContext], Any]) -> None:
        self.name = name
        self._build = build

    def bind(self, sim: Simulation) -> None:
        from hpprune.engine import Engine

        s = sim.stream
        self._sim = sim
        self._policy = self._build(BuildContext(s.max_step, s.direction.value, sim.n_workers))
        self._engine = Engine(self._policy, direction=s.direction)
        self._keys: dict[str, int] = {}

    def next_trial(self) -> Choice:
        from hpprune.next_trial import choose_next, resume_decision

        can_start = self._sim.peek_next_config() is not None
        answer = choose_next(self._policy, self._engine.study, can_start)
        if answer.action == "resume" and answer.trial_id in self._keys:
            key = self._keys[answer.trial_id]
            if self._sim.trials[key].status is not Status.PAUSED:
                return None
            self._engine.decide_external(answer.trial_id, resume_decision(self._policy, answer))
            return Resume(key)
        return NewTrial() if answer.action == "start" else None

    def on_start(self, trial: SimTrial) -> None:
        params = trial.config.params
        self._engine.add_trial(trial.trial_id, dict(params) if params else None)
        self._keys[trial.trial_id] = trial.key

    def on_report(self, trial: SimTrial, column: int) -> Action:
        conf = trial.config
        decision = self._engine.report(
            trial.trial_id, conf.steps[column], conf.values[column], conf.elapsed[column]
        )
        return Action.CONTINUE if decision.action is Action.RESUME else decision.action

    def on_complete(self, trial: SimTrial) -> None:
        self._engine.complete(trial.trial_id)


def _hpprune_specs(skipped: dict[str, str]) -> list[MethodSpec]:
    import hpprune
    from hpprune.pruners.base import AllOf, AnyOf, NoPruning, Policy

    specs: list[MethodSpec] = []
    excluded = (Policy, AnyOf, AllOf, NoPruning)
    seen: set[type] = set()
    candidates: list[tuple[str, Callable[..., Any]]] = []
    for export in sorted(getattr(hpprune, "__all__", ())):
        obj = getattr(hpprune, export, None)
        if (
            isinstance(obj, type)
            and issubclass(obj, Policy)
            and obj not in excluded
            and not inspect.isabstract(obj)
            and obj not in seen
        ):
            seen.add(obj)
            candidates.append((export, obj))
    if hasattr(hpprune, "default_policy"):
        candidates.insert(0, ("default", hpprune.default_policy))
    probe_ctx = BuildContext(52, "maximize", 1)
    for export, fn in candidates:
        if export == "default":
            name = "hpprune.default"
        else:
            name = f"hpprune.{_snake(export)}"
            try:
                sig = inspect.signature(fn)
                if "percentile" in sig.parameters and (
                    sig.parameters["percentile"].default is inspect.Parameter.empty
                ):
                    name += "25"
            except (TypeError, ValueError):
                pass
        try:
            probe = _call_with_context(fn, probe_ctx)
        except Exception as exc:
            skipped[name] = f"cannot be built with benchmark defaults: {exc}"
            continue
        if not isinstance(probe, Policy):
            skipped[name] = f"{export} did not return an hpprune Policy"
            continue

        def build(ctx: BuildContext, fn: Callable[..., Any] = fn) -> Any:
            return _call_with_context(fn, ctx)

        desc = re.sub(rf"\b({'|'.join(_CONTEXT_MAX)})=52\b", r"\1=<max_step>", repr(probe))
        desc = desc.replace("max_concurrent=1", "max_concurrent=<workers>")
        specs.append(
            MethodSpec(
                name,
                "hpprune",
                desc,
                lambda name=name, build=build: HpprunePolicyMethod(name, build),  # type: ignore[misc]
            )
        )
    specs.extend(_composition_specs())
    return specs


def _composition_specs() -> list[MethodSpec]:
    """Named policies worth benchmarking that exports alone do not reveal."""
    import hpprune

    table: list[tuple[str, str, Callable[[BuildContext], Any]]] = []
    if hasattr(hpprune, "default_policy"):
        table.append(
            (
                "hpprune.default_stop_only",
                "default_policy(max_step=<max_step>, pause=False) (what the Optuna door runs)",
                lambda ctx: hpprune.default_policy(max_step=max(ctx.max_step, 1), pause=False),
            )
        )
    if hasattr(hpprune, "conservative_policy"):
        table.append(
            (
                "hpprune.conservative",
                "conservative_policy(max_step=<max_step>) (the previous default)",
                lambda ctx: hpprune.conservative_policy(max_step=max(ctx.max_step, 1)),
            )
        )
    if hasattr(hpprune, "ResourceScheduler"):
        table.append(
            (
                "hpprune.resource_scheduler_sh",
                "ResourceScheduler(SuccessiveHalvingPruner(min_resource=1, reduction_factor=3), "
                "max_concurrent=<workers>, max_step=<max_step>)",
                lambda ctx: hpprune.ResourceScheduler(
                    hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
                    max_concurrent=ctx.n_workers,
                    max_step=ctx.max_step,
                ),
            )
        )
    specs = []
    for name, desc, build in table:

        def factory(name: str = name, build: Callable[[BuildContext], Any] = build) -> Method:
            return HpprunePolicyMethod(name, build)

        specs.append(MethodSpec(name, "hpprune", desc, factory))
    return specs


# ---------------------------------------------------------------------- optuna
class OptunaMethod(Method):
    """A real Optuna pruner on a real in-memory study (see the module docstring).

    Args:
        name: Method name.
        make_pruner: ``make_pruner(max_step)`` returns a fresh Optuna pruner.
    """

    def __init__(self, name: str, make_pruner: Callable[[int], Any]) -> None:
        self.name = name
        self._make_pruner = make_pruner

    def bind(self, sim: Simulation) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s = sim.stream
        self._state = optuna.trial.TrialState
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning of WilcoxonPruner
            pruner = self._make_pruner(s.max_step)
        self._study = optuna.create_study(
            storage=None,
            sampler=optuna.samplers.RandomSampler(seed=s.seed),
            pruner=pruner,
            study_name="hpprune-bench",
            direction="minimize" if s.direction is Direction.MINIMIZE else "maximize",
        )
        self._trials: dict[int, Any] = {}

    def on_start(self, trial: SimTrial) -> None:
        self._trials[trial.key] = self._study.ask()

    def on_report(self, trial: SimTrial, column: int) -> Action:
        t = self._trials[trial.key]
        conf = trial.config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t.report(conf.values[column], conf.steps[column])
            prune = t.should_prune()
            if prune:
                self._study.tell(t, state=self._state.PRUNED)
        return Action.STOP if prune else Action.CONTINUE

    def on_complete(self, trial: SimTrial) -> None:
        t = self._trials[trial.key]
        final = trial.config.final
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if math.isfinite(final):
                self._study.tell(t, final)
            else:
                self._study.tell(t, state=self._state.FAIL)


def _optuna_pruners() -> Any:
    from optuna import pruners

    return pruners


def _ray_schedulers() -> Any:
    from ray.tune import schedulers

    return schedulers


def _installed(module: str) -> bool:
    """Whether a top-level package is importable (without importing it: ray is slow)."""
    return importlib.util.find_spec(module) is not None


def _optuna_specs(skipped: dict[str, str]) -> list[MethodSpec]:
    if not _installed("optuna"):
        for n in ("median", "percentile25", "successive_halving", "hyperband", "wilcoxon"):
            skipped[f"optuna.{n}"] = "optuna is not installed (pip install hpprune[optuna])"
        return []
    p = _optuna_pruners
    table: list[tuple[str, str, Callable[[int], Any]]] = [
        ("median", "MedianPruner() (defaults)", lambda m: p().MedianPruner()),
        ("percentile25", "PercentilePruner(25.0)", lambda m: p().PercentilePruner(25.0)),
        (
            "successive_halving",
            "SuccessiveHalvingPruner() (defaults)",
            lambda m: p().SuccessiveHalvingPruner(),
        ),
        (
            "hyperband",
            "HyperbandPruner(min_resource=1, max_resource=<max_step>, reduction_factor=3)",
            lambda m: p().HyperbandPruner(min_resource=1, max_resource=m, reduction_factor=3),
        ),
        ("wilcoxon", "WilcoxonPruner() (defaults)", lambda m: p().WilcoxonPruner()),
    ]
    return [
        MethodSpec(
            f"optuna.{n}",
            "optuna",
            f"optuna.pruners.{d}",
            lambda n=n, f=f: OptunaMethod(f"optuna.{n}", f),  # type: ignore[misc]
        )
        for n, d, f in table
    ]


# ------------------------------------------------------------------------- ray
_PENDING, _RUNNING, _PAUSED, _TERMINATED, _ERROR = (
    "PENDING",
    "RUNNING",
    "PAUSED",
    "TERMINATED",
    "ERROR",
)


class _StandInTrial:
    """What Ray's schedulers read from a ``ray.tune.experiment.Trial``."""

    def __init__(self, trial_id: str, config_index: int) -> None:
        self.trial_id = trial_id
        self.config_index = config_index
        self.status = _PENDING
        self.is_saving = False
        self.last_result: dict[str, Any] = {}
        self.key: int | None = None

    def __repr__(self) -> str:
        return f"Trial({self.trial_id}, {self.status})"


class _StandInController:
    """What Ray's schedulers call on ``TuneController`` (mirrors its semantics)."""

    def __init__(self, method: RayMethod) -> None:
        self._method = method
        self.trials: list[_StandInTrial] = []

    def get_trials(self) -> list[_StandInTrial]:
        return list(self.trials)

    def get_live_trials(self) -> list[_StandInTrial]:
        return [t for t in self.trials if t.status not in (_TERMINATED, _ERROR)]

    def stop_trial(self, trial: _StandInTrial) -> None:
        if trial.status in (_ERROR, _TERMINATED):
            return
        scheduler = self._method.scheduler
        if trial.status in (_PENDING, _PAUSED):
            scheduler.on_trial_remove(self, trial)
        elif trial.status == _RUNNING:
            scheduler.on_trial_complete(self, trial, dict(trial.last_result))
        trial.status = _TERMINATED
        if trial.key is not None:
            self._method.sim.request_stop(trial.key)

    def pause_trial(self, trial: _StandInTrial, should_checkpoint: bool = True) -> None:
        del should_checkpoint
        trial.status = _PAUSED


class RayMethod(Method):
    """A real Ray Tune scheduler driven through its public methods (module docstring).

    Results carry ``training_iteration`` (1-based column index), ``time_total_s``
    (simulated seconds) and the metric under ``"objective"``.

    Args:
        name: Method name.
        make_scheduler: ``make_scheduler(max_t, mode)`` returns a fresh scheduler.
    """

    def __init__(self, name: str, make_scheduler: Callable[[int, str], Any]) -> None:
        self.name = name
        self._make = make_scheduler

    def bind(self, sim: Simulation) -> None:
        self.sim = sim
        s = sim.stream
        # ASHA with several brackets draws from numpy's global RNG; seed it per stream.
        np.random.seed(s.seed)
        mode = "min" if s.direction is Direction.MINIMIZE else "max"
        # HyperBandScheduler logs "Bracket too small - Retrying..." at INFO.
        logging.getLogger("ray.tune.schedulers").setLevel(logging.WARNING)
        self.scheduler = self._make(_n_columns(s), mode)
        self.controller = _StandInController(self)
        self._pending: _StandInTrial | None = None
        self._by_key: dict[int, _StandInTrial] = {}

    def _ensure_pending(self) -> None:
        if self._pending is not None and self._pending.status == _PENDING:
            return
        index = self.sim.peek_next_config()
        if index is None:
            self._pending = None
            return
        conf = self.sim.stream.configs[index]
        trial = _StandInTrial(conf.config_id, index)
        self.controller.trials.append(trial)
        self.scheduler.on_trial_add(self.controller, trial)
        self._pending = trial

    def next_trial(self) -> Choice:
        self._ensure_pending()
        chosen = self.scheduler.choose_trial_to_run(self.controller)
        if chosen is None:
            return None
        if chosen.status == _PENDING:
            return NewTrial(chosen.config_index)
        if chosen.status == _PAUSED and chosen.key is not None:
            chosen.status = _RUNNING
            return Resume(chosen.key)
        return None

    def on_start(self, trial: SimTrial) -> None:
        pending = self._pending
        if pending is None or pending.config_index != trial.config.index:
            raise RuntimeError("Ray scheduler started a trial that is not the pending one")
        pending.key = trial.key
        pending.status = _RUNNING
        self._by_key[trial.key] = pending
        self._pending = None
        self._ensure_pending()

    def on_report(self, trial: SimTrial, column: int) -> Action:
        standin = self._by_key[trial.key]
        conf = trial.config
        result = {
            "training_iteration": column + 1,
            "time_total_s": conf.elapsed[column],
            "objective": conf.values[column],
            "trial_id": standin.trial_id,
            "done": False,
        }
        self._ensure_pending()
        decision = self.scheduler.on_trial_result(self.controller, standin, result)
        standin.last_result = result
        if decision == "STOP":
            self.controller.stop_trial(standin)
            return Action.STOP
        if decision == "PAUSE":
            standin.status = _PAUSED
            return Action.PAUSE
        return Action.CONTINUE

    def on_complete(self, trial: SimTrial) -> None:
        self.controller.stop_trial(self._by_key[trial.key])


def _n_columns(stream: Stream) -> int:
    return max(c.n_columns for c in stream.configs)


def _ray_specs(skipped: dict[str, str]) -> list[MethodSpec]:
    if not _installed("ray"):
        for n in ("asha", "hyperband", "median_stopping"):
            skipped[f"ray.{n}"] = "ray[tune] is not installed (pip install hpprune[ray])"
        return []
    rs = _ray_schedulers
    table: list[tuple[str, str, Callable[[int, str], Any]]] = [
        (
            "asha",
            "ASHAScheduler(max_t=<max_step>, grace_period=1, reduction_factor=4)",
            lambda m, mode: rs().ASHAScheduler(
                metric="objective", mode=mode, max_t=m, grace_period=1, reduction_factor=4
            ),
        ),
        (
            "hyperband",
            "HyperBandScheduler(max_t=<max_step>, reduction_factor=3)",
            lambda m, mode: rs().HyperBandScheduler(
                metric="objective", mode=mode, max_t=m, reduction_factor=3
            ),
        ),
        (
            "median_stopping",
            "MedianStoppingRule(time_attr='training_iteration', grace_period=1, "
            "min_samples_required=3)",
            lambda m, mode: rs().MedianStoppingRule(
                metric="objective",
                mode=mode,
                time_attr="training_iteration",
                grace_period=1,
                min_samples_required=3,
            ),
        ),
    ]
    return [
        MethodSpec(
            f"ray.{n}",
            "ray",
            f"ray.tune.schedulers.{d}",
            lambda n=n, f=f: RayMethod(f"ray.{n}", f),  # type: ignore[misc]
        )
        for n, d, f in table
    ]


# -------------------------------------------------------------------- registry
def all_methods(skipped: dict[str, str] | None = None) -> list[MethodSpec]:
    """Every available method: hpprune policies, Optuna, Ray Tune, baselines.

    Args:
        skipped: Optional dict that receives ``name -> reason`` for methods that
            cannot run here (a missing package, a policy without usable defaults).

    Returns:
        Method specs in a stable order (hpprune, optuna, ray, baselines).
    """
    sink: dict[str, str] = {} if skipped is None else skipped
    specs = _hpprune_specs(sink) + _optuna_specs(sink) + _ray_specs(sink)
    specs += [
        MethodSpec("none", "baseline", "no pruning", NoPruningMethod),
        MethodSpec(
            "top1step",
            "baseline",
            "1-step top-K: half the budget on 1-step evaluations, then the best trained fully",
            TopKOneStepMethod,
        ),
        MethodSpec("oracle", "baseline", "knows final values; best first", OracleMethod),
    ]
    return specs


def select_methods(
    patterns: Sequence[str] | None, skipped: dict[str, str] | None = None
) -> list[MethodSpec]:
    """Pick methods by exact name, family name or glob (``"optuna.*"``).

    The baseline ``none`` is always included: speedups are measured against it.

    Args:
        patterns: Names, families or globs; None or empty selects every method.
        skipped: Receives methods that are unavailable here (see :func:`all_methods`).

    Returns:
        The selected specs in registry order.

    Raises:
        ValueError: If a pattern matches nothing; the message lists the names.
    """
    specs = all_methods(skipped)
    if not patterns:
        return specs
    chosen: set[str] = {"none"}
    for pat in patterns:
        hits = [
            s.name
            for s in specs
            if s.name == pat or s.family == pat or fnmatch.fnmatchcase(s.name, pat)
        ]
        if not hits:
            names = ", ".join(s.name for s in specs)
            raise ValueError(
                f"`--methods` entry {pat!r} matches no method; choose from: {names} "
                f"(or a family: {', '.join(FAMILIES)})"
            )
        chosen.update(hits)
    return [s for s in specs if s.name in chosen]
