"""Search-space description and seeded random sampling for the standalone loop.

A search space is a plain mapping from parameter name to a distribution::

    space = {
        "alpha": hpprune.space.LogUniform(1e-6, 1e-1),
        "penalty": hpprune.space.Categorical(["l2", "l1"]),
        "layers": hpprune.space.IntUniform(1, 4),
    }

Distributions are frozen, validated dataclasses. :func:`sample` draws one
configuration from a numpy ``Generator`` seeded by ``(seed, trial_number)``
through :class:`numpy.random.SeedSequence`, so trial *n* gets the same
parameters in every run and process, whatever order the workers ask in.

:func:`to_optuna_distributions` converts a space for an Optuna sampler (Optuna
is imported lazily, only when that function is called).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from hpprune import validate

__all__ = [
    "Categorical",
    "Distribution",
    "IntUniform",
    "LogUniform",
    "SpaceLike",
    "Uniform",
    "check_space",
    "sample",
    "to_optuna_distributions",
    "trial_rng",
]

ChoiceValue: TypeAlias = str | int | float | bool | None
"""Types accepted as categorical choices (they must be written to the audit log)."""


class Distribution(ABC):
    """Base class of the search-space distributions."""

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> Any:
        """Draw one value.

        Args:
            rng: The numpy random generator to draw from.

        Returns:
            A plain Python value (float, int or one of the choices).
        """

    @abstractmethod
    def contains(self, value: object) -> bool:
        """Whether ``value`` lies in this distribution's support."""


def _bounds(low: object, high: object, *, positive: bool, strict: bool) -> tuple[float, float]:
    lo = validate.float_param(
        low, "low", 0.0 if positive else -math.inf, low_inclusive=not positive
    )
    hi = validate.float_param(high, "high")
    if hi < lo or (strict and hi == lo):
        raise ValueError(f"expected `high` > `low`, got low={lo!r}, high={hi!r}")
    return lo, hi


@dataclass(frozen=True)
class Uniform(Distribution):
    """Float drawn uniformly from ``[low, high)``.

    Args:
        low: Finite lower bound.
        high: Finite upper bound, > ``low``.

    Raises:
        TypeError: If a bound is not a number.
        ValueError: If a bound is NaN/inf or ``high <= low``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        lo, hi = _bounds(self.low, self.high, positive=False, strict=True)
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def contains(self, value: object) -> bool:
        return _is_real(value) and self.low <= float(value) <= self.high  # type: ignore[arg-type]


@dataclass(frozen=True)
class LogUniform(Distribution):
    """Float whose logarithm is uniform on ``[log(low), log(high))``.

    Use it for learning rates and regularisation strengths spanning decades.

    Args:
        low: Lower bound, > 0.
        high: Upper bound, > ``low``.

    Raises:
        TypeError: If a bound is not a number.
        ValueError: If ``low <= 0``, a bound is NaN/inf, or ``high <= low``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        lo, hi = _bounds(self.low, self.high, positive=True, strict=True)
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def draw(self, rng: np.random.Generator) -> float:
        x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(x, self.low), self.high)

    def contains(self, value: object) -> bool:
        return _is_real(value) and self.low <= float(value) <= self.high  # type: ignore[arg-type]


@dataclass(frozen=True)
class IntUniform(Distribution):
    """Integer drawn from ``low..high`` inclusive.

    Args:
        low: Lower bound (int; >= 1 when ``log`` is True).
        high: Upper bound (int, >= ``low``).
        log: Draw uniformly in log space (small values more often).

    Raises:
        TypeError: If a bound is not an int.
        ValueError: If ``high < low``, or ``log`` and ``low < 1``.
    """

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        lo = validate.int_param(self.low, "low", 1 if self.log else -(2**63))
        hi = validate.int_param(self.high, "high", -(2**63))
        if hi > 2**63 - 1:  # numpy draws int64
            raise ValueError(f"expected an int <= {2**63 - 1} for `high`, got {hi}")
        if hi < lo:
            raise ValueError(f"expected `high` >= `low`, got low={lo}, high={hi}")
        if not isinstance(self.log, bool):
            raise TypeError(f"expected a bool for `log`, got {type(self.log).__name__}")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def draw(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high, endpoint=True))
        u = rng.uniform(math.log(self.low), math.log(self.high + 1))
        return min(math.floor(math.exp(u)), self.high)

    def contains(self, value: object) -> bool:
        return (
            not isinstance(value, bool)
            and isinstance(value, (int, np.integer))
            and self.low <= int(value) <= self.high
        )


@dataclass(frozen=True)
class Categorical(Distribution):
    """One of a fixed list of choices, each equally likely.

    Args:
        choices: Non-empty sequence of distinct str, int, float, bool or None
            values (they are written to the audit log). Non-finite floats are
            rejected.

    Raises:
        TypeError: If ``choices`` is not a sequence or holds another type.
        ValueError: If it is empty or has repeated values.
    """

    choices: Sequence[ChoiceValue]

    def __post_init__(self) -> None:
        raw = self.choices
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
            raise TypeError(f"expected a list of choices for `choices`, got {type(raw).__name__}")
        items = tuple(raw)
        if not items:
            raise ValueError("`choices` must hold at least one value")
        for i, c in enumerate(items):
            if c is not None and not isinstance(c, (str, int, float, bool)):
                raise TypeError(
                    f"`choices[{i}]` must be str, int, float, bool or None, got {type(c).__name__}"
                )
            if isinstance(c, float) and not math.isfinite(c):
                raise ValueError(f"`choices[{i}]` must be finite, got {c!r}")
        keys = [(type(c).__name__, c) for c in items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"`choices` has repeated values: {list(items)!r}")
        object.__setattr__(self, "choices", items)

    def draw(self, rng: np.random.Generator) -> ChoiceValue:
        return self.choices[int(rng.integers(len(self.choices)))]

    def contains(self, value: object) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)


SpaceLike: TypeAlias = Mapping[str, Distribution]
"""A search space: parameter name -> distribution."""


def _is_real(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_space(space: object, field: str = "space") -> dict[str, Distribution]:
    """Validate a search space and return it as a plain dict (order kept).

    Args:
        space: Mapping of non-empty str names to :class:`Distribution` objects.
            An empty mapping is allowed (trials then get no parameters).
        field: Name used in error messages.

    Returns:
        A dict copy of the space.

    Raises:
        TypeError: If it is not a mapping, a key is not a str, or a value is
            not a Distribution.
        ValueError: If a name is empty.
    """
    if not isinstance(space, Mapping):
        raise TypeError(
            f"expected a mapping of name -> hpprune.space distribution for `{field}`, "
            f"got {type(space).__name__}"
        )
    out: dict[str, Distribution] = {}
    for name, dist in space.items():
        if not isinstance(name, str):
            raise TypeError(f"keys of `{field}` must be str, got {type(name).__name__}")
        if not name.strip():
            raise ValueError(f"keys of `{field}` must be non-empty strings, got {name!r}")
        if not isinstance(dist, Distribution):
            raise TypeError(
                f"`{field}[{name!r}]` must be an hpprune.space distribution (Uniform, "
                f"LogUniform, IntUniform, Categorical), got {type(dist).__name__}"
            )
        out[name] = dist
    return out


def trial_rng(seed: int, number: int) -> np.random.Generator:
    """The generator used for trial ``number`` of a loop seeded with ``seed``.

    It is the ``number``-th child of ``SeedSequence(seed)`` (the same stream
    ``SeedSequence(seed).spawn(number + 1)[-1]`` gives), so it does not depend
    on how many trials were drawn before or by which worker.

    Args:
        seed: The loop's seed (int >= 0).
        number: The trial number (int >= 0).

    Returns:
        A fresh numpy Generator.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is negative.
    """
    s = validate.int_param(seed, "seed", 0)
    n = validate.int_param(number, "number", 0)
    return np.random.default_rng(np.random.SeedSequence(s, spawn_key=(n,)))


def sample(space: SpaceLike, seed: int, number: int) -> dict[str, Any]:
    """Draw the parameters of trial ``number`` (deterministic for a given seed).

    Parameters are drawn in the space's key order from :func:`trial_rng`.

    Args:
        space: The search space.
        seed: The loop's seed (int >= 0).
        number: The trial number (int >= 0).

    Returns:
        ``{name: value}`` with plain Python values.

    Raises:
        TypeError: If the space or an argument is malformed.
        ValueError: If an argument is out of range.
    """
    checked = check_space(space)
    rng = trial_rng(seed, number)
    return {name: dist.draw(rng) for name, dist in checked.items()}


def to_optuna_distributions(space: SpaceLike) -> dict[str, Any]:
    """Convert a space into Optuna distributions (imports optuna lazily).

    Args:
        space: The search space.

    Returns:
        ``{name: optuna.distributions.BaseDistribution}``.

    Raises:
        ImportError: If optuna is not installed.
        TypeError: If the space is malformed.
    """
    from optuna import distributions as od

    out: dict[str, Any] = {}
    for name, dist in check_space(space).items():
        if isinstance(dist, LogUniform):
            out[name] = od.FloatDistribution(dist.low, dist.high, log=True)
        elif isinstance(dist, Uniform):
            out[name] = od.FloatDistribution(dist.low, dist.high)
        elif isinstance(dist, IntUniform):
            out[name] = od.IntDistribution(dist.low, dist.high, log=dist.log)
        elif isinstance(dist, Categorical):
            out[name] = od.CategoricalDistribution(dist.choices)
        else:
            raise TypeError(f"`space[{name!r}]` of type {type(dist).__name__} has no Optuna form")
    return out
