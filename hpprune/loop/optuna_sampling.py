"""Optuna sampler glue: lets a SearchLoop sample parameters with an Optuna sampler."""

from __future__ import annotations

import math
from typing import Any

from hpprune.space import SpaceLike, to_optuna_distributions
from hpprune.types import Direction, TrialState


class OptunaSampling:
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
