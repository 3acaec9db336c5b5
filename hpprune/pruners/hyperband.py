"""Hyperband: several asynchronous successive-halving brackets side by side.

Bracket ``b`` (0 <= b < n_brackets) is successive halving with
``min_early_stopping_rate = b``: bracket 0 judges trials from ``min_resource``
on, the last bracket only near ``max_resource``. Each trial belongs to one
bracket, chosen from a stable hash of its id (``hashlib.blake2b``, the same in
every process and under any ``PYTHONHASHSEED``), with probability proportional
to the bracket's budget ``ceil(n_brackets * rf**s / (s + 1))``, ``s =
n_brackets - 1 - b``, as in Optuna. Trials compete only with their own
bracket: the bracket is a store partition returned by :meth:`groups`.

Everything is derived from the parameters (no lazy initialisation): with an
integer ``max_resource`` the brackets are fixed at construction.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.pruners.base import Policy
from hpprune.pruners.halving import (
    AUTO,
    first_completed_last_step,
    judge_rungs,
    resource_param,
)
from hpprune.types import Decision, Reason, cont

GROUP = "hyperband_bracket"
"""Partition name of the bracket label (with an integer ``max_resource``)."""

AUTO_MAX_BRACKETS = 10
"""Most brackets ``max_resource="auto"`` can resolve to (see :class:`HyperbandPruner`)."""


def n_brackets(min_resource: int, max_resource: int, reduction_factor: int) -> int:
    """Number of brackets: ``1 + floor(log_rf(max_resource / min_resource))``, exactly.

    Computed with integers (the largest ``s`` with ``min_resource * rf**s <=
    max_resource``), so 243/3 with rf 3 gives 5 and 729/3 gives 6. At least 1.

    Args:
        min_resource: Minimum resource (>= 1).
        max_resource: Maximum resource.
        reduction_factor: Reduction factor (>= 2).

    Returns:
        The bracket count.
    """
    count = 1
    resource = min_resource * reduction_factor
    while resource <= max_resource:
        count += 1
        resource *= reduction_factor
    return count


def bracket_budgets(count: int, reduction_factor: int) -> list[int]:
    """Relative trial budget of each bracket: ``ceil(count * rf**s / (s + 1))``, ``s = count-1-b``.

    Returns:
        One positive int per bracket, bracket 0 first (integer arithmetic).
    """
    out = []
    for b in range(count):
        s = count - 1 - b
        out.append(-(-count * reduction_factor**s // (s + 1)))
    return out


def stable_bucket(trial_id: str, modulus: int) -> int:
    """``blake2b(trial_id) mod modulus``: identical in every process and Python run."""
    digest = hashlib.blake2b(trial_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus


def bracket_of(trial_id: str, budgets: list[int]) -> int:
    """The bracket of a trial, weighted by ``budgets`` through a stable hash of its id."""
    n = stable_bucket(trial_id, sum(budgets))
    for bracket, budget in enumerate(budgets):
        n -= budget
        if n < 0:
            return bracket
    raise AssertionError("unreachable: the bucket is below the total budget")


def auto_group(count: int) -> str:
    """Partition name of the bracket label under ``count`` brackets (``"auto"`` mode)."""
    return f"{GROUP}_n{count}"


class HyperbandPruner(Policy):
    """Hyperband over asynchronous successive halving, with Optuna's parameters.

    Args:
        min_resource: Resource of bracket 0's first rung, an int >= 1.
        max_resource: Largest resource a trial uses, an int >= ``min_resource``,
            or ``"auto"``: last step + 1 of the first trial to complete (no trial
            is judged before one completes). With ``"auto"``, every trial is
            labelled up front for each bracket count from 1 to
            ``AUTO_MAX_BRACKETS`` (labels must be fixed when a trial appears),
            and a larger resolved count is capped at ``AUTO_MAX_BRACKETS``.
        reduction_factor: Promotion ratio, an int >= 2.
        bootstrap_count: As in :class:`SuccessiveHalvingPruner`, per bracket.
        max_t: Ray Tune's name for ``max_resource`` (``HyperBandScheduler(max_t=...)``),
            accepted as an alias; the policy records it as ``max_resource``.

    Raises:
        TypeError: If a parameter has the wrong type.
        ValueError: If a parameter is out of range, ``max_resource <
            min_resource``, or ``max_t`` and ``max_resource`` are both given
            and differ.

    Non-finite values never reach a policy: the engine stops (or skips) them
    and they are absent from every rung pool.
    """

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: int | str = AUTO,
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
        *,
        max_t: int | None = None,
    ) -> None:
        self.min_resource = validate.int_param(min_resource, "min_resource", 1)
        if max_t is not None:
            alias = validate.int_param(max_t, "max_t", 1)
            if max_resource not in (AUTO, alias):
                raise ValueError(
                    f"`max_t` ({alias}) is Ray Tune's name for `max_resource`, which is "
                    f"{max_resource!r}; pass only one of them"
                )
            max_resource = alias
        self.max_resource = resource_param(max_resource, "max_resource")
        self.reduction_factor = validate.int_param(reduction_factor, "reduction_factor", 2)
        self.bootstrap_count = validate.int_param(bootstrap_count, "bootstrap_count", 0)
        if isinstance(self.max_resource, int) and self.max_resource < self.min_resource:
            raise ValueError(
                f"`max_resource` ({self.max_resource}) must be >= `min_resource` "
                f"({self.min_resource})"
            )
        self._fixed: tuple[int, list[int]] | None = None
        if isinstance(self.max_resource, int):
            count = n_brackets(self.min_resource, self.max_resource, self.reduction_factor)
            self._fixed = (count, bracket_budgets(count, self.reduction_factor))
        self._auto_budgets = [
            bracket_budgets(c, self.reduction_factor) for c in range(1, AUTO_MAX_BRACKETS + 1)
        ]

    def params(self) -> dict[str, Any]:
        return {
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "reduction_factor": self.reduction_factor,
            "bootstrap_count": self.bootstrap_count,
        }

    @property
    def n_brackets(self) -> int | None:
        """Bracket count (None with ``max_resource="auto"``; see :meth:`resolve`)."""
        return None if self._fixed is None else self._fixed[0]

    def resolve(self, study: StudyView) -> tuple[int, str] | None:
        """Bracket count and partition name in force (None while ``"auto"`` is unresolved)."""
        if self._fixed is not None:
            return self._fixed[0], GROUP
        last = first_completed_last_step(study)
        if last is None:
            return None
        count = n_brackets(self.min_resource, last + 1, self.reduction_factor)
        count = min(count, AUTO_MAX_BRACKETS)
        return count, auto_group(count)

    def bracket(self, trial_id: str, count: int | None = None) -> int:
        """The bracket of ``trial_id`` (under ``count`` brackets in ``"auto"`` mode).

        Raises:
            ValueError: If ``count`` is missing or out of range in ``"auto"`` mode.
        """
        if self._fixed is not None:
            return bracket_of(trial_id, self._fixed[1])
        if count is None or not 1 <= count <= AUTO_MAX_BRACKETS:
            raise ValueError(f"expected `count` in [1, {AUTO_MAX_BRACKETS}], got {count!r}")
        return bracket_of(trial_id, self._auto_budgets[count - 1])

    def groups(self, trial_id: str) -> dict[str, str]:
        if self._fixed is not None:
            return {GROUP: str(self.bracket(trial_id))}
        return {
            auto_group(c): str(bracket_of(trial_id, budgets))
            for c, budgets in enumerate(self._auto_budgets, start=1)
        }

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        resolved = self.resolve(study)
        if resolved is None:
            return cont(self.name, Reason.STARTUP, n_completed=study.n_completed)
        count, name = resolved
        bracket = self.bracket(trial.trial_id, count)
        return judge_rungs(
            self.name,
            trial,
            study,
            min_resource=self.min_resource,
            reduction_factor=self.reduction_factor,
            rate=bracket,
            bootstrap_count=self.bootstrap_count,
            group=(name, str(bracket)),
            extra={"bracket": bracket, "n_brackets": count},
        )
