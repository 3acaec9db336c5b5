"""The progress bar of SearchLoop.run: tqdm when installed, else a plain line."""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from hpprune.loop.trial import LoopTrial
from hpprune.types import Direction, TrialState


class Progress:
    """Progress bar: tqdm when installed, else one plain line rewritten in place."""

    def __init__(self, target: bool | TextIO, total: int | None, direction: Direction) -> None:
        self.stream: TextIO = sys.stderr if isinstance(target, bool) else target
        self.total = total
        self.direction = direction
        self.done = 0
        self.stopped = 0
        self.best: float | None = None
        self._tqdm: Any = None
        try:
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=total, file=self.stream, unit="trial", dynamic_ncols=True)
        except ImportError:
            self._tqdm = None

    def update(self, trial: LoopTrial) -> None:
        self.done += 1
        if trial.state is TrialState.STOPPED:
            self.stopped += 1
        v = trial.value
        if trial.state is TrialState.COMPLETED and v is not None and math.isfinite(v):
            better = (
                self.best is None
                or (self.direction is Direction.MINIMIZE and v < self.best)
                or (self.direction is Direction.MAXIMIZE and v > self.best)
            )
            if better:
                self.best = v
        best = "-" if self.best is None else f"{self.best:.4g}"
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(f"stopped={self.stopped} best={best}", refresh=False)
            self._tqdm.update(1)
        else:
            total = "?" if self.total is None else str(self.total)
            self.stream.write(
                f"\rtrials {self.done}/{total}  stopped {self.stopped}  best {best}   "
            )
            self.stream.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self.stream.write("\n")
            self.stream.flush()
