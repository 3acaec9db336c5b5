"""Finding the Optuna trials that finished since the last look: one place that knows storages.

:class:`hpprune.integrations.optuna.OptunaPruner` asks, on every call, which
trials of the study finished since its previous call. Two watchers answer:

- :class:`PublicWatcher` uses only Optuna's public storage API
  (``get_all_trials(study_id, deepcopy=False, states=...)`` once, then a probe of
  the next trial number and ``get_trial`` on the few unfinished trials). It
  works on every storage (in-memory, journal, RDB, third-party).
- :class:`RDBWatcher` runs one small SQL query per call against the table of
  Optuna's private ORM models (``optuna.storages._rdb.models``). It is several
  times cheaper on SQLite/PostgreSQL/MySQL, but relies on internals that Optuna
  may change.

:func:`make_watcher` picks the fast one only when :func:`rdb_fast_path` finds
the Optuna version, the models' schema version and the trial table's columns
as this module knows them; otherwise, and whenever the fast query fails twice
in a row at run time, the public API is used (with a warning). A future
schema change therefore makes the pruner slower, never wrong: both watchers
report the same trials in the same order (by trial number), so decisions do
not depend on which one ran.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, NamedTuple, Protocol

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

__all__ = [
    "FINISHED",
    "KNOWN_OPTUNA_MAJORS",
    "KNOWN_SCHEMA_VERSIONS",
    "Finished",
    "PublicWatcher",
    "RDBWatcher",
    "STUDY_STORAGE",
    "Watcher",
    "make_watcher",
    "rdb_fast_path",
    "storage_url",
]

FINISHED = (OptunaState.COMPLETE, OptunaState.PRUNED, OptunaState.FAIL)
"""The trial states that never change again."""
KNOWN_OPTUNA_MAJORS = frozenset({3, 4, 5})
"""Optuna major versions whose ``trials`` table the fast path was checked against."""
KNOWN_SCHEMA_VERSIONS = frozenset({12})
"""Values of ``optuna.storages._rdb.models.SCHEMA_VERSION`` the fast path knows."""
_COLUMNS = ("trial_id", "number", "state", "study_id")
STUDY_STORAGE = "optuna-storage://"
"""``OptunaPruner(policy, log=STUDY_STORAGE)``: keep the audit log in the study's own database."""


class Finished(NamedTuple):
    """A trial seen finished in storage.

    Attributes:
        number: The trial's number in the study.
        trial_id: The storage's trial id.
        state: Its (finished) Optuna state.
        trial: The frozen trial when the watcher read it anyway, else None
            (the caller reads it with ``storage.get_trial``).
    """

    number: int
    trial_id: int
    state: OptunaState
    trial: FrozenTrial | None


class Watcher(Protocol):
    """Reports trials that finished since the previous call, in trial-number order."""

    def poll(self, storage: BaseStorage, study_id: int, skip: int) -> list[Finished]:
        """Trials of ``study_id`` newly seen finished (``skip``: a number known unfinished)."""
        ...


class PublicWatcher:
    """Finds newly finished trials through Optuna's public storage API only.

    The first call lists the study once. Trial numbers are dense (0, 1, 2,
    ...), so later calls find new trials by probing the next number; only
    trials still unfinished are read again.
    """

    def __init__(self) -> None:
        self._next = 0
        self._open: dict[int, int] = {}  # number -> trial_id of unfinished trials
        self._started = False

    def poll(self, storage: BaseStorage, study_id: int, skip: int) -> list[Finished]:
        """See :class:`Watcher`."""
        out: list[Finished] = []
        if not self._started:
            self._started = True
            for t in storage.get_all_trials(study_id, deepcopy=False):
                self._next = max(self._next, t.number + 1)
                if t.state.is_finished():
                    out.append(Finished(t.number, t._trial_id, t.state, t))
                else:
                    self._open[t.number] = t._trial_id
            out.sort(key=lambda f: f.number)
            return out
        while True:
            try:
                tid = storage.get_trial_id_from_study_id_trial_number(study_id, self._next)
            except KeyError:
                break
            self._open[self._next] = tid
            self._next += 1
        for number, tid in list(self._open.items()):
            if number == skip:
                continue
            t = storage.get_trial(tid)
            if t.state.is_finished():
                del self._open[number]
                out.append(Finished(number, tid, t.state, t))
        out.sort(key=lambda f: f.number)
        return out


def rdb_fast_path(backend: RDBStorage) -> str | None:
    """Why the SQL fast path cannot be used on ``backend``, or None when it can.

    Checks the Optuna version, the ORM models' schema version, that the trial
    table has the columns the query reads, and that the storage checked its
    database against those models (``skip_compatibility_check`` off).

    Args:
        backend: An RDB storage.

    Returns:
        None, or a sentence naming what did not match.
    """
    try:
        major = int(str(optuna.__version__).split(".", 1)[0])
    except ValueError:
        return f"unrecognised Optuna version {optuna.__version__!r}"
    if major not in KNOWN_OPTUNA_MAJORS:
        return f"Optuna {optuna.__version__} is newer or older than the versions checked"
    try:
        from optuna.storages._rdb import models
    except ImportError as exc:
        return f"Optuna's RDB models cannot be imported ({exc})"
    schema = getattr(models, "SCHEMA_VERSION", None)
    if schema not in KNOWN_SCHEMA_VERSIONS:
        known = sorted(KNOWN_SCHEMA_VERSIONS)
        return f"Optuna's RDB schema version {schema!r} is not one of {known}"
    table = getattr(getattr(models, "TrialModel", None), "__table__", None)
    names = set() if table is None else {str(c.name) for c in table.columns}
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        return f"Optuna's trial table has no column(s) {missing}"
    if getattr(backend, "skip_compatibility_check", False):
        return "the storage skipped Optuna's schema compatibility check"
    return None


class RDBWatcher:
    """Finds newly finished trials of an RDB storage with one small query per call.

    The query asks for trials above the highest id seen plus the ids still
    unfinished, through the primary key. It runs on one DBAPI connection taken
    from the storage's pool and held (SQLAlchemy's checkout and statement
    handling cost several times the query itself); the pruner's lock
    serialises its use across threads. All values in the SQL text are ints
    this class produced, so inlining them is safe.

    If the query fails on a fresh connection too, the watcher warns once and
    from then on delegates to a :class:`PublicWatcher` (which re-lists the
    study, so nothing is missed; trials already reported are reported again and
    the caller ignores those it already folded).

    Args:
        backend: The RDB storage (``rdb_fast_path(backend)`` returned None).
    """

    def __init__(self, backend: RDBStorage) -> None:
        from optuna.storages._rdb import models

        table = models.TrialModel.__table__
        quote = backend.engine.dialect.identifier_preparer.quote
        self._engine = backend.engine
        # PostgreSQL (psycopg2): a connection of our own in autocommit mode, so a read is
        # one round trip (no BEGIN/ROLLBACK); the storage's pooled connections stay untouched.
        self._own = backend.engine.dialect.name == "postgresql" and (
            backend.engine.dialect.driver == "psycopg2"
        )
        self._connect_args = dict(getattr(backend, "engine_kwargs", {}).get("connect_args", {}))
        self._trials = quote(str(table.name))
        self._cols = {c: quote(c) for c in _COLUMNS}
        self._hi = -1
        self._open: dict[int, int] = {}  # trial_id -> number of unfinished trials
        self._conn: Any = None
        self._pid = -1
        self._fallback: PublicWatcher | None = None

    @property
    def fell_back(self) -> bool:
        """True once the watcher gave up on SQL and uses the public API."""
        return self._fallback is not None

    def _sql(self, study_id: int) -> str:
        c = self._cols
        ids = ",".join(str(int(i)) for i in self._open)
        wanted = f"{c['trial_id']} > {int(self._hi)}"
        if ids:
            wanted += f" OR {c['trial_id']} IN ({ids})"
        # ``study_id + 0`` keeps the planner off the study_id index, which would scan
        # every trial of the study; the primary key finds the few rows asked for.
        return (
            f"SELECT {c['trial_id']}, {c['number']}, {c['state']} FROM {self._trials} "
            f"WHERE {c['study_id']} + 0 = {int(study_id)} AND ({wanted})"
        )

    def _connection(self) -> Any:
        if self._conn is None or self._pid != os.getpid():
            # A forked child never touches its parent's connection.
            if self._own:
                import psycopg2

                url = self._engine.url
                conn = psycopg2.connect(
                    **{
                        k: v
                        for k, v in url.translate_connect_args(
                            username="user", database="dbname"
                        ).items()
                    },
                    **dict(url.query),
                    **self._connect_args,
                )
                conn.autocommit = True
            else:
                conn = self._engine.raw_connection()
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _query(self, study_id: int) -> list[Any]:
        sql = self._sql(study_id)
        for attempt in (0, 1):
            conn = self._connection()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(sql)
                    rows = list(cur.fetchall())
                finally:
                    cur.close()
                if not self._own:
                    conn.rollback()  # end the read transaction some drivers open
                return rows
            except Exception:
                # A dropped connection: take a fresh one once, then give up.
                self._conn = None
                with contextlib.suppress(Exception):
                    conn.close() if self._own else conn.invalidate()
                if attempt:
                    raise
        return []  # pragma: no cover - the loop returns or raises

    def poll(self, storage: BaseStorage, study_id: int, skip: int) -> list[Finished]:
        """See :class:`Watcher`."""
        if self._fallback is not None:
            return self._fallback.poll(storage, study_id, skip)
        try:
            rows = self._query(study_id)
            out = [self._row(*row) for row in rows]
        except Exception as exc:  # any failure: the public API decides from now on
            warnings.warn(
                f"hpprune: reading Optuna's trial table directly failed ({exc!r}); "
                "using Optuna's public storage API from now on (slower, same decisions)",
                RuntimeWarning,
                stacklevel=2,
            )
            self._fallback = PublicWatcher()
            return self._fallback.poll(storage, study_id, skip)
        finished = [f for f in out if f is not None]
        finished.sort(key=lambda f: f.number)
        return finished

    def _row(self, trial_id: Any, number: Any, state: Any) -> Finished | None:
        tid = int(trial_id)
        st = state if isinstance(state, OptunaState) else OptunaState[str(state)]
        self._hi = max(self._hi, tid)
        if st.is_finished():
            self._open.pop(tid, None)
            return Finished(int(number), tid, st, None)
        self._open[tid] = int(number)
        return None


def make_watcher(storage: BaseStorage) -> Watcher:
    """The cheapest watcher that is safe for ``storage``.

    Args:
        storage: The study's storage (``study._storage``); a ``_CachedStorage``
            is looked through to the RDB storage it wraps.

    Returns:
        An :class:`RDBWatcher` for an RDB storage that passes
        :func:`rdb_fast_path`, else a :class:`PublicWatcher`. When an RDB
        storage fails the check, a warning says why.
    """
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        return PublicWatcher()
    why = rdb_fast_path(backend)
    if why is None:
        return RDBWatcher(backend)
    warnings.warn(
        f"hpprune: {why}; reading finished trials through Optuna's public storage API "
        "(slower, same decisions)",
        RuntimeWarning,
        stacklevel=2,
    )
    return PublicWatcher()


def storage_url(storage: BaseStorage) -> str:
    """The SQLAlchemy URL of an RDB storage (``_CachedStorage`` is looked through).

    Raises:
        ValueError: If the storage is not an RDB storage (in-memory, journal, ...).
    """
    backend = getattr(storage, "_backend", storage)
    if isinstance(backend, RDBStorage):
        return str(backend.url)
    raise ValueError(
        f"`log=STUDY_STORAGE` keeps the log in the study's database, but the study uses "
        f"{type(backend).__name__}; pass a database URL or a file path as `log` instead"
    )
