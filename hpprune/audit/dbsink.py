"""The audit log in a database table: :class:`DatabaseSink` (SQLAlchemy; SQLite, PostgreSQL, ...).

Workers on different machines share no files, only a database URL (for
Optuna, the one of its storage). The log of a study then lives in the table
``hpprune_events`` of that database, one row per record::

    hpprune_events(study VARCHAR, seq BIGINT, record TEXT, PRIMARY KEY (study, seq))
    hpprune_schema(name VARCHAR PRIMARY KEY, version INTEGER)

``record`` is the record's JSON line as a log file holds it (same codec, same
decoder), ``seq`` numbers the records of a study 1, 2, 3, ... in log order.
Both tables are created on first use; ``hpprune_schema`` holds the table
layout's version (:data:`TABLE_VERSION`), and a database written by a newer
layout is refused.

Sequencing:
    :meth:`DatabaseSink.locked` runs one transaction that first takes a lock
    serialising the study's writers: ``pg_advisory_xact_lock`` on PostgreSQL
    (keyed by a stable hash of the study name), ``BEGIN IMMEDIATE`` (the
    database's write lock) on SQLite, and a row lock (``SELECT ... FOR
    UPDATE`` on the schema row) elsewhere. Inside it the records other
    workers committed since this handle's last look are read, the caller
    folds and decides, and its appends are inserted with the next sequence
    numbers; the commit releases the lock. Every decision is therefore a
    function of the log prefix before it, whichever machine made it.

Atomicity:
    A batch is inserted in one transaction: when :meth:`append` raises, or a
    worker is killed at any point, the database rolls the transaction back
    and none of the batch is in the table. There are no torn records.

Durability (``durable``):
    ``True`` (default): every transaction is committed durably, so a decision
    is on disk before it is answered; each decision then costs the database's
    commit flush (an ``fsync`` of its write-ahead log). ``False`` (PostgreSQL
    only): this sink's session runs with ``synchronous_commit = off``, so a
    commit returns before the flush. A worker killed at any point still
    leaves nothing half-written, and other workers see each commit at once;
    only a crash of the *database server* can lose the last transactions (at
    most about three ``wal_writer_delay``, 0.6 s by default), never part of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from hpprune.audit.records import LogFormatError, decode_line, encode_record
from hpprune.audit.sinks import LogSink, is_url

__all__ = [
    "EVENTS_TABLE",
    "SCHEMA_TABLE",
    "TABLE_VERSION",
    "DatabaseSink",
    "display_url",
    "write_study",
    "read_study",
    "resolve_study",
    "studies",
]

EVENTS_TABLE = "hpprune_events"
"""Name of the table holding every study's records."""
SCHEMA_TABLE = "hpprune_schema"
"""Name of the table holding the layout version."""
TABLE_VERSION = 1
"""Version of the table layout this module writes and reads."""
_MAX_STUDY = 512
_CHUNK_ROWS = 1000  # rows per INSERT statement (PostgreSQL path)

_metadata = sa.MetaData()
_events = sa.Table(
    EVENTS_TABLE,
    _metadata,
    sa.Column("study", sa.String(_MAX_STUDY), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("record", sa.Text, nullable=False),
)
_schema = sa.Table(
    SCHEMA_TABLE,
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
_SELECT_NEW = sa.text(
    f"SELECT seq, record FROM {EVENTS_TABLE} WHERE study = :study AND seq > :seen ORDER BY seq"
)
_SELECT_MAX = sa.text(f"SELECT MAX(seq) FROM {EVENTS_TABLE} WHERE study = :study")
_INSERT = _events.insert()  # a Core insert: many rows go in batched VALUES lists


def _lock_key(study: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory lock (never ``hash()``)."""
    digest = hashlib.blake2b(f"hpprune:{study}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabaseSink(LogSink):
    """The audit log of one study in a database table (see the module docstring).

    Args:
        url: Any SQLAlchemy URL, e.g. ``"postgresql+psycopg2://user@host/db"``
            or ``"sqlite:///study.db"``.
        study: The study whose records this sink reads and writes.
        durable: Commit every transaction durably (see the module docstring);
            False is accepted for PostgreSQL only.
        engine_kwargs: Extra keyword arguments for ``sqlalchemy.create_engine``.

    Raises:
        TypeError: If ``url`` or ``study`` is not a str, or ``durable`` not a bool.
        ValueError: If ``url`` is not a database URL, ``study`` is empty or
            longer than 512 characters, or ``durable=False`` on another database.
    """

    def __init__(
        self,
        url: str,
        study: str,
        *,
        durable: bool = True,
        engine_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"expected a database URL (str) for `log`, got {type(url).__name__}")
        if not is_url(url):
            raise ValueError(f"expected a database URL such as sqlite:///study.db, got {url!r}")
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ValueError(f"cannot parse the database URL {url!r}: {exc}") from None
        if not isinstance(study, str):
            raise TypeError(f"expected a study name (str) for `study`, got {type(study).__name__}")
        if not study or len(study) > _MAX_STUDY:
            raise ValueError(
                f"expected a study name of 1 to {_MAX_STUDY} characters, got {study!r}"
            )
        if not isinstance(durable, bool):
            raise TypeError(f"expected a bool for `durable`, got {type(durable).__name__}")
        self.url = url
        self.study = study
        self.durable = durable
        self._display = display_url(url)
        self._dialect = parsed.get_backend_name()
        self._driver = parsed.get_driver_name()
        # PostgreSQL with psycopg2: the driver runs in autocommit mode and this sink sends
        # BEGIN with the lock and COMMIT with the inserts, two round trips per transaction.
        self._manual = self._dialect == "postgresql" and self._driver == "psycopg2"
        self._prefetched: list[tuple[Any, Any]] | None = None  # read with the lock (PostgreSQL)
        if not durable and self._dialect != "postgresql":
            raise ValueError(
                f"`durable=False` is for PostgreSQL (synchronous_commit = off), not {self._dialect}"
            )
        self._engine_kwargs = dict(engine_kwargs or {})
        self._engine: sa.Engine | None = None
        self._conn: Connection | None = None
        self._pid = -1
        self._mutex = threading.RLock()
        self._depth = 0
        self._ready = False  # tables checked in this process
        self._following = False
        self._seen = 0  # highest seq this handle has seen (when following)
        self._unseen: list[dict[str, Any]] = []
        self._pending: list[bytes] = []  # appended inside the open transaction, not sent yet

    @property
    def name(self) -> str:
        """The URL (password hidden) and the study."""
        return f"{self._display} (study {self.study!r})"

    # ------------------------------------------------------------------ connection
    def _make_engine(self) -> sa.Engine:
        kwargs: dict[str, Any] = {"pool_pre_ping": True, **self._engine_kwargs}
        if self._dialect == "sqlite":
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("timeout", 600.0)  # wait for the write lock, do not fail
            kwargs["connect_args"] = connect_args
        elif self._manual:  # we send BEGIN and COMMIT ourselves (see _commit)
            kwargs["isolation_level"] = "AUTOCOMMIT"
        elif self._dialect == "postgresql":
            kwargs.setdefault("isolation_level", "READ COMMITTED")
        engine = sa.create_engine(self.url, **kwargs)
        if self._dialect == "sqlite":

            @sa.event.listens_for(engine, "connect")
            def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
                # pysqlite would open transactions on its own; we say BEGIN IMMEDIATE ourselves.
                dbapi_conn.isolation_level = None

        if not self.durable:

            @sa.event.listens_for(engine, "connect")
            def _asynchronous_commit(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("SET synchronous_commit = off")  # this session only
                cur.close()
                dbapi_conn.commit()

        return engine

    def _connection(self) -> Connection:
        if self._conn is None or self._pid != os.getpid():
            if self._engine is not None and self._pid != os.getpid():
                # A forked child never touches its parent's connections.
                self._engine.dispose(close=False)
                self._engine = None
            if self._engine is None:
                self._engine = self._make_engine()
                self._ready = False
            self._conn = self._engine.connect()
            self._pid = os.getpid()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def _ensure_tables(self, conn: Connection) -> None:
        if self._ready:
            return
        try:
            _metadata.create_all(conn, checkfirst=True)
            conn.commit()
        except sa.exc.DBAPIError:
            # Another worker created them at the same moment: check they are there.
            conn.rollback()
            inspector = sa.inspect(conn)
            if not (inspector.has_table(EVENTS_TABLE) and inspector.has_table(SCHEMA_TABLE)):
                raise
        row = conn.execute(
            sa.select(_schema.c.version).where(_schema.c.name == EVENTS_TABLE)
        ).first()
        if row is None:
            try:
                conn.execute(_schema.insert().values(name=EVENTS_TABLE, version=TABLE_VERSION))
                conn.commit()
            except sa.exc.IntegrityError:
                conn.rollback()
                row = conn.execute(
                    sa.select(_schema.c.version).where(_schema.c.name == EVENTS_TABLE)
                ).first()
        else:
            conn.rollback()
        if row is not None and int(row[0]) > TABLE_VERSION:
            raise LogFormatError(
                f"{self.name}: table {EVENTS_TABLE} has layout version {row[0]}, newer than "
                f"this hpprune's {TABLE_VERSION}; upgrade hpprune"
            )
        self._ready = True

    def _begin_locked(self, prefetch: bool) -> Connection:
        """A connection inside a transaction holding the study's write lock.

        On PostgreSQL (psycopg2) the lock and the read of new records go in one
        round trip (:meth:`_lock_and_fetch`); the others lock here and read next.
        """
        for attempt in (0, 1):
            conn = self._connection()
            try:
                self._ensure_tables(conn)
                if self._dialect == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif self._dialect == "postgresql":
                    self._prefetched = self._lock_and_fetch(conn, prefetch)
                else:
                    conn.execute(
                        sa.select(_schema.c.version)
                        .where(_schema.c.name == EVENTS_TABLE)
                        .with_for_update()
                    )
                return conn
            except sa.exc.DBAPIError as exc:
                # A dropped connection: take a fresh one once, then give up.
                self._drop_connection()
                if attempt or not exc.connection_invalidated:
                    raise OSError(f"{self.name}: {exc.orig}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _lock_and_fetch(self, conn: Connection, prefetch: bool) -> list[tuple[Any, Any]] | None:
        """Take the advisory lock, then read the records after ``_seen``: one round trip.

        Two statements in one simple-protocol message: in READ COMMITTED each
        takes its own snapshot, so the read runs after the lock is held and
        sees every record its previous holder committed.
        """
        key = _lock_key(self.study)
        if not self._manual:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            return None
        begin = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({int(key)})"
        if not prefetch:
            conn.exec_driver_sql(begin)
            return None
        sql = (
            f"{begin}; "
            f"SELECT seq, record FROM {EVENTS_TABLE} WHERE study = %(study)s "
            f"AND seq > {int(self._seen)} ORDER BY seq"
        )
        return list(conn.exec_driver_sql(sql, {"study": self.study}))

    def _fetch(self, conn: Connection, after: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._prefetched if after == self._seen else None
        self._prefetched = None
        if rows is None:
            rows = list(conn.execute(_SELECT_NEW, {"study": self.study, "seen": after}))
        out = []
        for seq, raw in rows:
            record = decode_line(raw.encode(), int(seq), self.name)
            if record is not None:
                out.append((int(seq), record))
            else:  # pragma: no cover - we never store blank rows
                out.append((int(seq), {}))
        return out

    def _commit(self, conn: Connection) -> None:
        """Insert the pending records and commit (PostgreSQL: the last INSERT and COMMIT
        travel in one message; an error in the INSERT skips the COMMIT)."""
        if not self._manual:
            self._send_pending(conn)
            conn.commit()
            return
        lines, self._pending = self._pending, []
        first = self._seen + 1
        for start in range(0, max(len(lines), 1), _CHUNK_ROWS):
            chunk = lines[start : start + _CHUNK_ROWS]
            last = start + _CHUNK_ROWS >= len(lines)
            params: dict[str, Any] = {"study": self.study}
            values = []
            for i, line in enumerate(chunk):
                params[f"r{i}"] = line.rstrip(b"\n").decode()
                values.append(f"(%(study)s, {int(first + start + i)}, %(r{i})s)")
            sql = (
                f"INSERT INTO {EVENTS_TABLE} (study, seq, record) VALUES {', '.join(values)}"
                if values
                else ""
            )
            if last:
                sql = f"{sql}; COMMIT" if sql else "COMMIT"
            conn.exec_driver_sql(sql, params if values else None)
        self._seen += len(lines)

    def _send_pending(self, conn: Connection) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self._insert(conn, self._seen + 1, lines)
            self._seen += len(lines)

    def _insert(self, conn: Connection, first: int, lines: list[bytes]) -> None:
        conn.execute(
            _INSERT,
            [
                {"study": self.study, "seq": first + i, "record": line.rstrip(b"\n").decode()}
                for i, line in enumerate(lines)
            ],
        )

    # ------------------------------------------------------------------ API
    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Insert a batch in one transaction, all or nothing (see :class:`LogSink`).

        Raises:
            TypeError: If a record holds a value with no JSON form.
            OSError: If the database fails; nothing of the batch is kept.
        """
        if isinstance(records, Mapping):
            raise TypeError("`append` takes a batch of records (e.g. a list), got one mapping")
        lines = [encode_record(r) for r in records]
        if not lines:
            return
        with self._mutex:
            if self._depth:  # inside locked(): inserted with the commit (one statement)
                self._pending.extend(lines)
                return
            with self._transaction(self._following) as conn:
                if self._following:
                    fresh = self._fetch(conn, self._seen)
                    self._unseen.extend(r for _, r in fresh)
                    last = fresh[-1][0] if fresh else self._seen
                else:
                    last = int(conn.execute(_SELECT_MAX, {"study": self.study}).scalar() or 0)
                self._insert(conn, last + 1, lines)
                if self._following:
                    self._seen = last + len(lines)

    @contextlib.contextmanager
    def _transaction(self, prefetch: bool) -> Iterator[Connection]:
        conn = self._begin_locked(prefetch)
        self._depth += 1
        seen, unseen = self._seen, list(self._unseen)
        try:
            yield conn
            self._commit(conn)
        except BaseException as exc:
            # Nothing of this transaction stays: neither rows nor cursor moves.
            self._seen, self._unseen = seen, unseen
            self._pending.clear()
            try:
                if self._manual:
                    conn.exec_driver_sql("ROLLBACK")
                conn.rollback()
            except Exception:
                self._drop_connection()
            if isinstance(exc, sa.exc.DBAPIError):
                raise OSError(f"{self.name}: {exc.orig}") from exc
            raise
        finally:
            self._depth -= 1
            self._prefetched = None

    def read(self) -> Iterator[dict[str, Any]]:
        """Yield every committed record of the study, in sequence order.

        Raises:
            LogFormatError: If a record was written by a newer schema version.
            OSError: If the database cannot be read.
        """
        with self._mutex:
            try:
                conn = self._connection()
                self._ensure_tables(conn)
                if self._depth:
                    self._send_pending(conn)  # this handle's own appends read back too
                rows = self._fetch(conn, 0)
                if not self._depth:
                    conn.rollback()
            except sa.exc.DBAPIError as exc:
                self._drop_connection()
                raise OSError(f"{self.name}: {exc.orig}") from exc
        for _, record in rows:
            yield record

    @contextlib.contextmanager
    def locked(self) -> Iterator[Iterator[dict[str, Any]]]:
        """One transaction holding the study's lock; yields records others committed since."""
        with self._mutex:
            if self._depth:
                unseen, self._unseen = self._unseen, []
                yield iter(unseen)
                return
            with self._transaction(True) as conn:
                self._following = True
                fresh = self._fetch(conn, self._seen)
                if fresh:
                    self._seen = fresh[-1][0]
                unseen, self._unseen = self._unseen, []
                yield iter([*unseen, *(r for _, r in fresh)])

    def close(self) -> None:
        """Close the connection and the engine's pool (reopened by the next call)."""
        with self._mutex:
            if self._pid == os.getpid():
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.close()
                if self._engine is not None:
                    self._engine.dispose()
            self._conn = None
            self._engine = None
            self._ready = False

    def __del__(self, _suppress: Any = contextlib.suppress) -> None:
        # Bound at definition: at interpreter exit the module's globals may be gone.
        with _suppress(Exception):
            self.close()


def display_url(url: str) -> str:
    """``url`` with its password hidden (for messages and tables)."""
    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except sa.exc.ArgumentError:
        return url.split("://", 1)[0] + "://..."


def studies(url: str) -> list[str]:
    """The studies that have records in the database at ``url`` (sorted).

    Raises:
        ValueError: If ``url`` is not a database URL.
        OSError: If the database cannot be read.
    """
    if not is_url(url):
        raise ValueError(f"expected a database URL such as sqlite:///study.db, got {url!r}")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(EVENTS_TABLE):
                return []
            rows = conn.execute(sa.text(f"SELECT DISTINCT study FROM {EVENTS_TABLE}"))
            return sorted(str(r[0]) for r in rows)
    except sa.exc.DBAPIError as exc:
        raise OSError(f"{display_url(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()


def resolve_study(url: str, study: str | None) -> str:
    """``study``, or the only study with records at ``url`` when ``study`` is None.

    Raises:
        ValueError: If ``study`` is None and the database holds no study or several.
        OSError: If the database cannot be read.
    """
    if study is not None:
        return study
    names = studies(url)
    shown = display_url(url)
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError(f"{shown} holds no hpprune audit log ({EVENTS_TABLE} is empty or missing)")
    listed = ", ".join(repr(n) for n in names[:20])
    raise ValueError(
        f"{shown} holds the logs of several studies; choose one with --study: {listed}"
    )


def read_study(url: str, study: str | None) -> list[dict[str, Any]]:
    """Every record of a study's log in the database at ``url``.

    Args:
        url: A database URL.
        study: The study (None: the only one there).

    Returns:
        The records, header first.

    Raises:
        FileNotFoundError: If the study has no records there.
        ValueError: If ``study`` is None and the database holds no study or several.
        OSError: If the database cannot be read.
        LogFormatError: If a record was written by a newer schema version.
    """
    name = resolve_study(url, study)
    sink = DatabaseSink(url, name)
    try:
        records = list(sink.read())
    finally:
        sink.close()
    if not records:
        raise FileNotFoundError(f"no audit log for study {name!r} in {display_url(url)}")
    return records


def write_study(records: Iterable[Mapping[str, Any]], url: str, study: str | None) -> str:
    """Write a whole log (header first) as a study's log in a database, in one transaction.

    Args:
        records: The records, header first.
        url: The database URL.
        study: The study to file them under (default: the header's ``study``);
            the header written names this study (a copy under a new name).

    Returns:
        ``url`` with its password hidden.

    Raises:
        ValueError: If no study name is known.
        FileExistsError: If the study already has records there (nothing is written).
        OSError: If the database fails (nothing is written).
    """
    batch = [dict(r) for r in records]
    if not batch or batch[0].get("kind") != "study":
        raise LogFormatError("the log does not start with a study record")
    header = batch[0]
    named = header.get("study")
    name = study if study is not None else named
    if not isinstance(name, str) or not name:
        raise ValueError("the log's header names no study; choose one with --study")
    batch[0] = {**header, "study": name}
    sink = DatabaseSink(url, name)
    try:
        with sink.locked() as existing:
            if next(existing, None) is not None:
                raise FileExistsError(
                    f"study {name!r} already has a log in {display_url(url)}; choose another "
                    "--study"
                )
            sink.append(batch)
    finally:
        sink.close()
    return display_url(url)
