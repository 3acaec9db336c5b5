"""The common container for benchmark learning curves: :class:`CurveSet`.

A :class:`CurveSet` holds, for one task, the learning curves of a set of
configurations as a dense ``[n_configs, n_steps]`` matrix. Every curve source in
``hpprune.bench`` (the LCBench surrogate, curves tables, scikit-learn training)
returns one, so the simulator and the metrics never care where curves came from.

Missing data convention:

* ``NaN`` in ``values`` means "no value at this step" (the step was not reported,
  the curve ended earlier, or the source reported NaN — these are not told apart).
* ``+inf``/``-inf`` in ``values`` are kept as they are: the trial *did* report a
  non-finite value there (e.g. a diverged loss), and feeding it to the engine
  exercises the ``non_finite`` policy. Helpers such as :meth:`CurveSet.final_values`
  only ever return finite numbers or NaN.
* ``NaN`` in ``elapsed`` means "time unknown at this step"; infinite elapsed times
  are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["CurveSet", "DirectionName"]

DirectionName = Literal["minimize", "maximize"]

_DIRECTIONS: tuple[str, ...] = ("minimize", "maximize")


def _readonly(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CurveSet:
    """Learning curves of several configurations on one task.

    The arrays are copied on construction and made read-only, so a CurveSet can be
    shared freely. Equality and hashing are by identity (arrays have no sensible
    ``==``); compare fields explicitly when needed.

    Attributes:
        task: Name of the task (e.g. an OpenML task id such as ``"189906"``).
        direction: ``"minimize"`` or ``"maximize"`` — how ``values`` are ranked.
        config_ids: One unique, non-empty string id per configuration (row).
        values: float64 array ``[n_configs, n_steps]``; ``values[i, j]`` is the
            metric of configuration ``i`` at step ``steps[j]``. NaN marks a missing
            step; ±inf marks a reported non-finite value and is preserved.
        elapsed: Optional float64 array of the same shape: cumulative seconds since
            the configuration started, at each step. NaN where unknown; finite
            entries must be ``>= 0`` and non-decreasing along each row.
        params: Optional hyperparameters of each configuration (one dict per row).
        steps: int64 array ``[n_steps]`` of the step numbers of the columns,
            strictly increasing and ``>= 0`` (usually ``1..max_step``).

    Raises:
        ValueError: If a field is malformed; the message names the field.
        TypeError: If a field has the wrong type; the message names the field.
    """

    task: str
    direction: DirectionName
    config_ids: tuple[str, ...]
    values: npt.NDArray[np.float64]
    elapsed: npt.NDArray[np.float64] | None
    params: tuple[dict[str, Any], ...] | None
    steps: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        """Validate and normalise every field (copies arrays, makes them read-only)."""
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"`task` must be a non-empty string, got {self.task!r}")

        if not isinstance(self.direction, str):
            raise TypeError(
                f"`direction` must be 'minimize' or 'maximize', got {type(self.direction).__name__}"
            )
        # str() turns a StrEnum such as hpprune.types.Direction into its plain value.
        direction = str(self.direction).strip().lower()
        if direction not in _DIRECTIONS:
            raise ValueError(
                f"`direction` must be 'minimize' or 'maximize', got {self.direction!r}"
            )
        object.__setattr__(self, "direction", direction)

        if isinstance(self.config_ids, str) or not isinstance(self.config_ids, Sequence):
            raise TypeError("`config_ids` must be a sequence of strings")
        ids = tuple(self.config_ids)
        for i, cid in enumerate(ids):
            if not isinstance(cid, str) or not cid:
                raise ValueError(f"`config_ids[{i}]` must be a non-empty string, got {cid!r}")
        seen: set[str] = set()
        for cid in ids:
            if cid in seen:
                raise ValueError(f"`config_ids` must be unique; {cid!r} appears more than once")
            seen.add(cid)
        object.__setattr__(self, "config_ids", ids)

        try:
            values = np.array(self.values, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`values` must be a numeric array: {exc}") from None
        if values.ndim != 2:
            raise ValueError(f"`values` must be 2-D [n_configs, n_steps], got shape {values.shape}")
        n_configs, n_steps = values.shape
        if n_configs == 0 or n_steps == 0:
            raise ValueError(f"`values` must have at least one row and column, got {values.shape}")
        if n_configs != len(ids):
            raise ValueError(
                f"`values` has {n_configs} rows but `config_ids` has {len(ids)} entries"
            )
        object.__setattr__(self, "values", _readonly(values))

        steps_in = np.asarray(self.steps)
        if steps_in.ndim != 1 or steps_in.shape[0] != n_steps:
            raise ValueError(
                f"`steps` must be 1-D with {n_steps} entries (one per column of `values`), "
                f"got shape {steps_in.shape}"
            )
        if steps_in.dtype.kind not in "iu":
            if steps_in.dtype.kind != "f" or not np.all(np.isfinite(steps_in)):
                raise ValueError("`steps` must be integers")
            if not np.all(steps_in == np.round(steps_in)):
                raise ValueError("`steps` must be integers, got non-integer values")
        steps = np.array(steps_in, dtype=np.int64, copy=True)
        if np.any(steps < 0):
            raise ValueError(f"`steps` must be >= 0, got minimum {int(steps.min())}")
        if np.any(np.diff(steps) <= 0):
            raise ValueError("`steps` must be strictly increasing")
        object.__setattr__(self, "steps", _readonly(steps))

        if self.elapsed is not None:
            try:
                elapsed = np.array(self.elapsed, dtype=np.float64, copy=True)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"`elapsed` must be a numeric array or None: {exc}") from None
            if elapsed.shape != values.shape:
                raise ValueError(
                    f"`elapsed` must have the shape of `values` {values.shape}, got {elapsed.shape}"
                )
            if np.any(np.isinf(elapsed)):
                raise ValueError("`elapsed` must not contain ±inf (use NaN for unknown times)")
            finite = ~np.isnan(elapsed)
            if np.any(elapsed[finite] < 0):
                raise ValueError("`elapsed` must be >= 0 (cumulative seconds)")
            # Non-decreasing along each row, ignoring NaN gaps: compare each finite
            # entry with the running maximum of the finite entries before it.
            filled = np.where(finite, elapsed, -np.inf)
            running = np.maximum.accumulate(filled, axis=1)
            previous = np.concatenate([np.full((n_configs, 1), -np.inf), running[:, :-1]], axis=1)
            bad = finite & (elapsed < previous)
            if np.any(bad):
                row, col = (int(v) for v in np.argwhere(bad)[0])
                raise ValueError(
                    f"`elapsed` must be cumulative (non-decreasing); config {ids[row]!r} goes "
                    f"down to {elapsed[row, col]!r} at step {int(steps[col])}"
                )
            object.__setattr__(self, "elapsed", _readonly(elapsed))

        if self.params is not None:
            if isinstance(self.params, Mapping) or not isinstance(self.params, Sequence):
                raise TypeError("`params` must be a sequence of dicts (one per config) or None")
            params = tuple(self.params)
            if len(params) != n_configs:
                raise ValueError(
                    f"`params` has {len(params)} entries but there are {n_configs} configs"
                )
            for i, p in enumerate(params):
                if not isinstance(p, Mapping):
                    raise TypeError(f"`params[{i}]` must be a dict, got {type(p).__name__}")
            object.__setattr__(self, "params", tuple(dict(p) for p in params))

    @property
    def n_configs(self) -> int:
        """Number of configurations (rows)."""
        return int(self.values.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of step columns (equals :attr:`max_step` when steps are ``1..N``)."""
        return int(self.values.shape[1])

    @property
    def max_step(self) -> int:
        """The largest step number (the step of the last column)."""
        return int(self.steps[-1])

    def final_values(self) -> npt.NDArray[np.float64]:
        """The last finite value of each curve.

        Returns:
            float64 array ``[n_configs]``. NaN and ±inf entries are skipped; a curve
            with no finite value at all gives NaN.
        """
        finite = np.isfinite(self.values)
        # Index of the last finite column per row (or -1 when there is none).
        last = self.n_steps - 1 - np.argmax(finite[:, ::-1], axis=1)
        has_any = finite.any(axis=1)
        out = np.full(self.n_configs, np.nan)
        rows = np.nonzero(has_any)[0]
        out[rows] = self.values[rows, last[rows]]
        return out

    def step_seconds(self) -> npt.NDArray[np.float64]:
        """Per-step durations derived from the cumulative ``elapsed`` times.

        The duration at step ``j`` is the time since the previous step with a known
        elapsed time (or since the start, time 0, for the first one). When earlier
        steps are missing (NaN), the whole gap is attributed to the step that
        reports, so the durations of a row always sum to its last known elapsed
        time. Steps with unknown elapsed time get NaN.

        Returns:
            float64 array of the shape of ``values`` (all NaN if ``elapsed`` is None).
        """
        if self.elapsed is None:
            return np.full(self.values.shape, np.nan)
        elapsed = self.elapsed
        known = ~np.isnan(elapsed)
        # Carry the last known elapsed time forward (0 before the first one).
        carried = np.where(known, elapsed, -np.inf)
        carried = np.maximum.accumulate(carried, axis=1)
        before = np.concatenate([np.zeros((self.n_configs, 1)), carried[:, :-1]], axis=1)
        before = np.where(np.isneginf(before), 0.0, before)
        out = np.where(known, elapsed - before, np.nan)
        # Validation guarantees non-decreasing times; clip float noise anyway.
        return np.where(known, np.maximum(out, 0.0), np.nan)

    def subset(self, indices: Sequence[int] | npt.NDArray[Any]) -> CurveSet:
        """A new CurveSet with only the selected configurations (same columns).

        Args:
            indices: Row indices (ints, negatives allowed, no repeats) or a boolean
                mask of length ``n_configs``.

        Returns:
            The selected configurations, in the order given.

        Raises:
            ValueError: If ``indices`` is empty, out of range, repeats a row, or is a
                mask of the wrong length.
        """
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            if idx.shape != (self.n_configs,):
                raise ValueError(
                    f"`indices` mask must have length {self.n_configs}, got shape {idx.shape}"
                )
            idx = np.nonzero(idx)[0]
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu":
            raise ValueError(f"`indices` must be integers or a boolean mask, got {idx.dtype}")
        if idx.ndim != 1:
            raise ValueError(f"`indices` must be 1-D, got shape {idx.shape}")
        if idx.size == 0:
            raise ValueError("`indices` selects no configuration")
        if np.any(idx >= self.n_configs) or np.any(idx < -self.n_configs):
            raise ValueError(f"`indices` out of range for {self.n_configs} configs")
        idx = np.where(idx < 0, idx + self.n_configs, idx)
        if np.unique(idx).size != idx.size:
            raise ValueError("`indices` must not repeat a configuration (ids must stay unique)")
        rows = [int(i) for i in idx]
        return CurveSet(
            task=self.task,
            direction=self.direction,
            config_ids=tuple(self.config_ids[i] for i in rows),
            values=self.values[idx],
            elapsed=None if self.elapsed is None else self.elapsed[idx],
            params=None if self.params is None else tuple(dict(self.params[i]) for i in rows),
            steps=self.steps,
        )
