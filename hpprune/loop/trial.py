"""LoopTrial: one trial as the objective of a SearchLoop sees it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hpprune.types import Decision, TrialState

if TYPE_CHECKING:
    from hpprune.loop.search import SearchLoop


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
