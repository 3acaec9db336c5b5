"""One report sequence, three front doors: the same decisions and the same choice of what runs next.

The same learning curves are searched with one worker through

* the benchmark simulator (``HpprunePolicyMethod``: ``Engine`` + ``choose_next``),
* the standalone :class:`hpprune.SearchLoop` (objective resumed from its checkpoint),
* :class:`hpprune.integrations.ray_tune.RayTuneScheduler`, driven through Ray's
  ``TrialScheduler`` methods by the benchmark's stand-in controller (the same
  calls Tune's controller makes: ``on_trial_add``, ``choose_trial_to_run``,
  ``on_trial_result``, ``on_trial_complete``),

and every trial's decision history (actions, reasons, steps, evidence,
including the RESUME decisions that record each choice) must be identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune import Engine, SearchLoop
from hpprune.bench.methods import HpprunePolicyMethod, RayMethod
from hpprune.bench.simulator import Budget, Stream, simulate
from hpprune.bench.sources import CurveSet
from hpprune.loop import LoopTrial
from hpprune.pruners.base import Policy

N_CONFIGS = 30
N_STEPS = 12


def curves(seed: int) -> np.ndarray:
    """Minimised curves: a final level per configuration, noisy early steps."""
    rng = np.random.default_rng(seed)
    final = rng.uniform(0.1, 1.0, N_CONFIGS)
    t = np.arange(1, N_STEPS + 1)
    noise = rng.normal(0.0, 0.3, (N_CONFIGS, 1)) * np.exp(-t)  # step 1 is mostly noise
    return final[:, None] + 0.5 * np.exp(-t / 3) + noise


def history(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {
        tid: [
            (d.action.value, d.reason, d.rule, d.step, hpprune.types.jsonable(dict(d.evidence)))
            for d in engine.decisions(tid)
        ]
        for tid in engine.trial_ids()
    }


def through_simulator(policy: Policy, values: np.ndarray) -> dict[str, list[tuple[Any, ...]]]:
    stream = Stream.from_curves(_curve_set(values))
    method = HpprunePolicyMethod("conformance", lambda ctx: policy)
    simulate(stream, method, budget=Budget("steps", float(stream.total_cost)), n_workers=1)
    return history(method._engine)


def through_ray(policy: Policy, values: np.ndarray) -> dict[str, list[tuple[Any, ...]]]:
    from hpprune.integrations.ray_tune import RayTuneScheduler

    stream = Stream.from_curves(_curve_set(values))
    method = RayMethod(
        "conformance", lambda max_t, mode: RayTuneScheduler(policy, metric="objective", mode=mode)
    )
    simulate(stream, method, budget=Budget("steps", float(stream.total_cost)), n_workers=1)
    engine = method.scheduler._engine
    assert engine is not None
    return history(engine)


def through_loop(policy: Policy, values: np.ndarray) -> dict[str, list[tuple[Any, ...]]]:
    def objective(trial: LoopTrial) -> float:
        state = trial.restore()
        start = 1 if state is None else int(state["next"])
        v = float("nan")
        for step in range(start, N_STEPS + 1):
            v = float(values[trial.number, step - 1])
            d = trial.report(step, v)
            if d.action == "pause":
                trial.checkpoint({"next": step + 1})
            if d.action != "continue":
                return v
        return v

    loop = SearchLoop(objective, {"x": hpprune.space.Categorical([0, 1])}, policy, n_workers=1)
    loop.run(n_trials=N_CONFIGS)
    return history(loop.engine)


def _curve_set(values: np.ndarray) -> CurveSet:
    ids = tuple(str(i) for i in range(N_CONFIGS))
    return CurveSet("conformance", "minimize", ids, values, None, None, np.arange(1, N_STEPS + 1))


POLICIES = {
    "default": lambda: hpprune.default_policy(max_step=N_STEPS),
    "default-no-horizon": lambda: hpprune.default_policy(),
    "freeze-thaw-eta2": lambda: hpprune.FreezeThawPruner(reduction_factor=2),
}


@pytest.mark.ray
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_front_door_makes_the_same_decisions_and_choices(name: str, seed: int) -> None:
    values = curves(seed)
    sim = through_simulator(POLICIES[name](), values)
    loop = through_loop(POLICIES[name](), values)
    ray = through_ray(POLICIES[name](), values)
    actions = [a for ds in sim.values() for a, *_ in ds]
    assert "pause" in actions and "resume" in actions  # the choices were exercised
    assert sim.keys() == loop.keys() == ray.keys()
    for tid in sim:
        assert loop[tid] == sim[tid], f"loop differs from the simulator on trial {tid}"
        assert ray[tid] == sim[tid], f"Ray differs from the simulator on trial {tid}"
