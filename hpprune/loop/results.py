"""What a SearchLoop hands back: one TrialRecord per trial, gathered in a LoopResult."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hpprune.types import Decision, Direction, TrialState


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
