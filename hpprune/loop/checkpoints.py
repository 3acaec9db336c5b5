"""Checkpoints of paused trials: deep copies in memory, or pickle files in a directory."""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from hpprune.audit.outputs import atomic_output


class Checkpoints:
    """Checkpoint storage: deep copies in memory, or pickle files in a directory."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise TypeError(
                f"expected a directory path for `checkpoint_dir`, got {type(directory).__name__}"
            )
        self.directory = Path(directory) if directory is not None else None
        self._mem: dict[str, Any] = {}

    def _file(self, tid: str) -> Path:
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in tid)
        if safe != tid:  # "a b" and "a_b" must not share a file: add a stable digest of the id
            digest = hashlib.blake2b(tid.encode("utf-8"), digest_size=8).hexdigest()
            safe = f"{safe[:64]}-{digest}"
        return Path(self.directory or ".") / f"trial-{safe}.pkl"

    def save(self, tid: str, state: Any) -> None:
        if self.directory is None:
            self._mem[tid] = copy.deepcopy(state)
            return
        # A private temporary file renamed over the checkpoint: never a planted name.
        with atomic_output(self._file(tid)) as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, tid: str) -> Any | None:
        if self.directory is None:
            state = self._mem.get(tid)
            return None if state is None else copy.deepcopy(state)
        path = self._file(tid)
        if not path.exists():
            return None
        with open(path, "rb") as fh:
            # Files written by this loop's own `save` (trusted, local).
            return pickle.load(fh)  # noqa: S301

    def has(self, tid: str) -> bool:
        if self.directory is None:
            return tid in self._mem
        return self._file(tid).exists()

    def drop(self, tid: str) -> None:
        self._mem.pop(tid, None)
        if self.directory is not None:
            self._file(tid).unlink(missing_ok=True)
