"""Running a SearchLoop's workers: the trial budget and the worker threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Interrupted(BaseException):
    """Raised inside an objective (at its next report) after Ctrl-C; not an Exception."""


class Budget:
    """How many new trials may still start, and until when."""

    def __init__(
        self, limit: int | None, deadline: float | None, interrupted: Callable[[], bool]
    ) -> None:
        self.limit = limit
        self.deadline = deadline
        self.started = 0
        self._interrupted = interrupted

    def expired(self) -> bool:
        """True once the deadline passed: nothing new starts and nothing resumes."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def can_start_new(self) -> bool:
        if self._interrupted():
            return False
        if self.limit is not None and self.started >= self.limit:
            return False
        return self.deadline is None or time.monotonic() < self.deadline


def run_threads(
    n_workers: int, worker: Callable[[], None], on_interrupt: Callable[[], None]
) -> None:
    """Run ``worker`` on ``n_workers`` daemon threads until all return.

    Args:
        n_workers: Number of threads.
        worker: The worker loop each thread runs.
        on_interrupt: Called on Ctrl-C, before waiting for the workers to
            reach their next report.

    Raises:
        KeyboardInterrupt: After Ctrl-C, once the workers have returned.
        BaseException: The first exception a worker raised.
    """
    # Completion is signalled with Events rather than Thread.join: on Python
    # 3.11 a Ctrl-C landing inside join() can mark a live thread as finished.
    done = [threading.Event() for _ in range(n_workers)]
    errors: list[BaseException] = []

    def work(flag: threading.Event) -> None:
        try:
            worker()
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            flag.set()

    for i, flag in enumerate(done):
        name = f"hpprune-worker-{i}"
        threading.Thread(target=work, args=(flag,), name=name, daemon=True).start()
    try:
        _wait_all(done)
    except KeyboardInterrupt:
        on_interrupt()
        # Wait for the objectives to reach their next report (a second
        # Ctrl-C stops waiting; the daemon threads then die with the process).
        _wait_all(done)
        raise
    if errors:
        raise errors[0]


def _wait_all(events: list[threading.Event]) -> None:
    while not all(e.is_set() for e in events):
        for e in events:
            e.wait(0.1)
