"""PolicyCache: a policy's own bounded memo over one study, owned by the study's store.

Policies are stateless functions of what they see (see
:class:`hpprune.pruners.base.Policy`), but some answers are costly to
recompute at every report: a learned first rung, a scheduler's prediction for
a paused trial. A :class:`PolicyCache` holds such answers for one policy over
one :class:`~hpprune.curves.StudyView`:

* **Owner**: the study's store. :meth:`StudyView.cache` creates one per policy
  on first use and keeps it as long as the view lives; the view itself stays
  read-only to policies.
* **Contract**: entries are pure memoisation. A key must name everything the
  value depends on (counts, steps, the horizon), so a policy gives the same
  decisions with an empty cache, and a cache is never written to the log
  (``Engine.from_log`` starts with an empty one and decides the same).
* **Bound**: at most ``max_entries`` entries; when full it is cleared (every
  entry is recomputable).
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["PolicyCache"]

DEFAULT_MAX_ENTRIES = 4096
"""Entries a :class:`PolicyCache` holds before it is cleared."""


class PolicyCache:
    """A bounded memo of one policy over one study (see the module docstring).

    Args:
        max_entries: Entries held before the cache is cleared (>= 1).

    Raises:
        ValueError: If ``max_entries`` < 1.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if type(max_entries) is not int or max_entries < 1:
            raise ValueError(f"expected an int >= 1 for `max_entries`, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: dict[Hashable, object] = {}

    def get(self, key: Hashable) -> object | None:
        """The value stored under ``key``, or None."""
        return self._entries.get(key)

    def put(self, key: Hashable, value: object) -> None:
        """Store ``value`` under ``key`` (clearing the cache first when it is full)."""
        if len(self._entries) >= self.max_entries and key not in self._entries:
            self._entries.clear()
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
