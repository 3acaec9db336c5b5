"""Log sinks: where the audit log's records are written and read back.

A :class:`LogSink` is the one writer of an audit log. Every front door (the
engine, :class:`hpprune.SearchLoop`, the Optuna and Ray Tune integrations)
writes through one, so the rules below hold whatever drives the engine:

* :meth:`LogSink.append` writes a batch of records **all or nothing**: when it
  raises, none of the batch is in the log (a partial write is cut back), and
  the same call can be retried.
* :meth:`LogSink.read` yields every record from the start, decoded; torn or
  malformed lines are skipped with a warning (see
  :func:`hpprune.audit.records.decode_line`).
* :meth:`LogSink.locked` holds the log exclusively (across processes for a
  file) and yields the records other writers appended since this handle last
  looked, so a writer can *fold, decide and append* as one atomic step; the
  appends made inside the block are written under the same lock.

Two sinks are built in: :class:`FileSink` (JSON Lines, ``O_APPEND`` and an
exclusive ``flock`` around each batch) and :class:`MemorySink` (a list of
records, for tests and for front doors that keep their state elsewhere).
A new backend (e.g. a database) implements the five abstract methods.

Durability of a :class:`FileSink` (``fsync``):
    ``False`` (default): records reach the OS page cache at every write, so
    they survive a crash of the process but not of the machine.
    ``True``: each batch is ``fsync``-ed before ``append`` returns, so it also
    survives power loss, at a cost of one disk sync per batch.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hpprune.audit.records import LogFormatError, Record, decode_fast, decode_line, encode_record

__all__ = ["FileSink", "LogSink", "MemorySink", "existing_log_file", "is_url", "open_sink"]

_CHUNK = 1 << 22  # bytes read at a time
_Decode = Callable[[bytes, int, object], "Record | dict[str, Any] | None"]
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(log: object) -> bool:
    """True if ``log`` is a str that looks like a database URL (``scheme://...``)."""
    return isinstance(log, str) and bool(_URL.match(log))


class LogSink(abc.ABC):
    """The interface every audit-log backend implements.

    Records are JSON-ready mappings (see :mod:`hpprune.audit.records`); what a
    sink returns is what :func:`~hpprune.audit.records.decode_line` makes of
    the encoded line, so every backend reads back the same values (e.g. NaN
    as the string ``"NaN"``).
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A human-readable location (file path, URL) used in messages."""

    @abc.abstractmethod
    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Write a batch of records, all or nothing.

        Inside :meth:`locked` the batch is written under the held lock;
        outside it, the sink takes its lock for this batch alone.

        Args:
            records: The batch, in order.

        Raises:
            TypeError: If a record holds a value with no JSON form (nothing
                is written).
            OSError: If the backend fails (nothing of the batch is kept).
        """

    @abc.abstractmethod
    def read(self) -> Iterator[dict[str, Any]]:
        """Yield every record from the start of the log, in order.

        Raises:
            LogFormatError: If a record was written by a newer schema version.
        """

    def read_records(self) -> Iterator[Record | dict[str, Any]]:
        """Yield every record from the start, typed where the fast decoder could.

        What :meth:`read` gives, except that a sink which reads encoded lines
        (a file) may decode ordinary ones straight into their typed records
        (:func:`~hpprune.audit.records.decode_fast`); the rest stay dicts.
        A :class:`~hpprune.audit.records.Fold` takes both
        (:meth:`~hpprune.audit.records.Fold.take`), with the same outcome.

        Raises:
            LogFormatError: If a record was written by a newer schema version
                (or, for a typed record, holds a bad trial id).
        """
        return self.read()

    def read_numbered(self, typed: bool = False) -> Iterator[tuple[int, Record | dict[str, Any]]]:
        """Yield ``(n, record)`` from the start: ``n`` counts the log's lines (1-based).

        What :meth:`read` (``typed``: :meth:`read_records`) gives, each record
        with the number that messages name it by: for a file the line it is
        on (blank, torn and skipped lines count), else its position.

        Raises:
            LogFormatError: As :meth:`read_records`.
        """
        return enumerate(self.read_records() if typed else self.read(), start=1)

    @abc.abstractmethod
    def locked(self) -> contextlib.AbstractContextManager[Iterator[dict[str, Any]]]:
        """Hold the log exclusively and yield the records not seen yet.

        The iterator gives, in order, the records appended since this handle
        last entered ``locked()`` (all of them the first time), except the
        ones this handle appended itself after that; consume it inside the
        block. Nested use in the same thread is allowed.

        Raises:
            LogFormatError: If a record was written by a newer schema version
                or the log shrank while in use.
        """

    def flush(self) -> None:  # noqa: B027 - optional hook: sinks that buffer override it
        """Write any buffered records (sinks that do not buffer do nothing)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the backend; the sink may be reopened by the next call."""

    def __enter__(self) -> LogSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_log_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, refusing a directory with a message that says what to give.

    Args:
        path: A log file path (it need not exist yet).

    Returns:
        The path.

    Raises:
        IsADirectoryError: If ``path`` is an existing directory.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(
            f"expected a file path for `log`, got the directory {p}; "
            f"name a file, e.g. {p / 'study.jsonl'}"
        )
    return p


def existing_log_file(path: str | os.PathLike[str]) -> FileSink:
    """A sink on the log file ``path``, which must exist (see :func:`check_log_path`).

    Raises:
        FileNotFoundError: If the file does not exist.
        IsADirectoryError: If the path is a directory.
    """
    p = check_log_path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such log file: {p}")
    return FileSink(p)


class FileSink(LogSink):
    """A JSON Lines log file, safe for many writer processes.

    Each batch is written with one ``write`` call on an ``O_APPEND``
    descriptor under an exclusive ``flock``, so batches from several
    processes never interleave. A failed write (disk full, file-size limit)
    is cut back to where it started. A crash can leave at most a torn last
    line; readers skip it with a warning and the next batch starts on a
    fresh line.

    Args:
        path: File to append to (created with its parent folders on the
            first write; reading a missing file yields nothing).
        buffer_size: Records held in memory before a write; 1 writes each
            batch at once (default). Larger values batch records for speed,
            at the cost of the write-ahead rule: buffered records are lost
            on a crash, and the engine has already answered them.
        fsync: ``fsync`` after each write (see the module docstring).

    Raises:
        TypeError: If ``path`` is not a str or Path.
        ValueError: If ``buffer_size`` < 1.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, buffer_size: int = 1, fsync: bool = False
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"expected a file path for `log`, got {type(path).__name__}")
        if is_url(path):
            raise ValueError(
                f"expected a file path for a FileSink, got the database URL {path!r}; pass it "
                "as `log=` (with a study name) or use hpprune.audit.dbsink.DatabaseSink"
            )
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"expected an int >= 1 for `buffer_size`, got {buffer_size!r}")
        self.path = check_log_path(path)
        self.buffer_size = buffer_size
        self.fsync = bool(fsync)
        self._buf: list[bytes] = []
        self._fd: int | None = None
        self._pid = -1
        self._mutex = threading.RLock()  # flock does not exclude threads sharing the descriptor
        self._depth = 0  # nesting of locked() in the thread holding _mutex
        self._following = False  # True once locked() was used: track what this handle saw
        self._offset = 0  # bytes of the file this handle has seen (when following)
        self._lineno = 0
        self._unseen: list[dict[str, Any]] = []  # others' records read while appending
        self._in_block = False  # inside locked(): appends write under the held lock

    @property
    def name(self) -> str:
        """The file path."""
        return str(self.path)

    # ------------------------------------------------------------------ file
    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            # A forked child must not share the parent's open file description:
            # flock locks belong to it, so they would not exclude the parent.
            if self.path.is_dir():
                raise IsADirectoryError(
                    f"expected a file path for `log`, got the directory {self.path}"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[int]:
        with self._mutex:
            fd = self._open()
            if self._depth:
                yield fd
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield fd
            finally:
                self._depth -= 1
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _scan(
        self,
        fd: int,
        start: int,
        end: int,
        lineno: int,
        decode: _Decode = decode_line,
        numbered: bool = False,
    ) -> Iterator[Any]:
        """Decode the records in bytes ``[start, end)`` (``lineno`` lines come before).

        With ``numbered``, each record comes as ``(its line number, record)``.

        A last line without its newline can only be left by a crashed writer
        (every writer holds the lock while it writes): it is skipped with a
        warning, and the next batch starts on a fresh line.
        """
        pos = start
        rest = b""
        while pos < end:
            chunk = os.pread(fd, min(_CHUNK, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                lineno += 1
                if raw and not raw.isspace():  # (strip() would copy every line)
                    record = decode(raw, lineno, self.path)
                    if record is not None:
                        yield (lineno, record) if numbered else record
        if rest.strip():
            warnings.warn(f"{self.path}:{lineno + 1}: skipped a torn log line", stacklevel=3)

    def _catch_up(self, fd: int) -> Iterator[dict[str, Any]]:
        """Records between the cursor and the end of the file (lock held); moves the cursor."""
        size = os.fstat(fd).st_size
        if size < self._offset:
            raise LogFormatError(f"audit log {self.path} shrank while in use")
        start, lineno = self._offset, self._lineno
        self._offset = size
        self._lineno = lineno + _count_newlines(fd, start, size)
        return self._scan(fd, start, size, lineno)

    def _write(self, data: bytes) -> None:
        with self._exclusive() as fd:
            if self._following and not self._in_block:
                self._unseen.extend(self._catch_up(fd))
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # start on a fresh line after a torn one
            view = memoryview(data)
            try:
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                if self.fsync:
                    os.fsync(fd)
            except BaseException:
                # All or nothing: cut a partial batch back (its bytes may be on disk).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
            if self._following and self._offset == size:
                self._offset = size + len(data)
                self._lineno += data.count(b"\n")

    # ------------------------------------------------------------------ API
    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Write a batch of records, all or nothing (see :class:`LogSink`).

        Raises:
            TypeError: If a record holds a value with no JSON form.
            OSError: If the write fails; nothing of the batch stays in the file.
        """
        if isinstance(records, Mapping):
            raise TypeError("`append` takes a batch of records (e.g. a list), got one mapping")
        lines = [encode_record(r) for r in records]  # encode all before writing any
        if not lines:
            return
        with self._mutex:
            if self.buffer_size > 1 and not self._in_block:
                self._buf.extend(lines)
                if len(self._buf) >= self.buffer_size:
                    self.flush()
                return
            if self._buf:
                lines = [*self._buf, *lines]
            self._write(b"".join(lines))
            self._buf.clear()

    def flush(self) -> None:
        """Write the buffered records with one ``write`` call."""
        with self._mutex:
            if self._buf:
                self._write(b"".join(self._buf))
                self._buf.clear()

    def read(self) -> Iterator[dict[str, Any]]:
        """Yield every record of the file (nothing if it does not exist).

        Raises:
            IsADirectoryError: If the path is a directory.
            LogFormatError: If a record was written by a newer schema version.
        """
        return self._read(decode_line)

    def read_records(self) -> Iterator[Record | dict[str, Any]]:
        """Yield every record of the file, typed where :func:`decode_fast` could.

        Raises:
            IsADirectoryError: If the path is a directory.
            LogFormatError: If a record was written by a newer schema version.
        """
        return self._read(decode_fast)

    def read_numbered(self, typed: bool = False) -> Iterator[tuple[int, Record | dict[str, Any]]]:
        """Yield ``(line number, record)`` for every record of the file.

        Raises:
            IsADirectoryError: If the path is a directory.
            LogFormatError: If a record was written by a newer schema version.
        """
        return self._read(decode_fast if typed else decode_line, numbered=True)

    def _read(self, decode: _Decode, numbered: bool = False) -> Iterator[Any]:
        self.flush()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            with self._mutex:
                if self._depth:  # this handle holds the exclusive lock: no writer is busy
                    size = os.fstat(fd).st_size
                else:  # no batch is half-written while we size the file
                    fcntl.flock(fd, fcntl.LOCK_SH)
                    try:
                        size = os.fstat(fd).st_size
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
            yield from self._scan(fd, 0, size, 0, decode, numbered)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[Iterator[dict[str, Any]]]:
        """Hold the file's exclusive lock; yield the records others appended since last time."""
        with self._exclusive() as fd:
            outer = self._in_block
            self._in_block = True
            try:
                self.flush()
                self._following = True
                unseen, self._unseen = self._unseen, []
                yield _chain(unseen, self._catch_up(fd))
            finally:
                self._in_block = outer

    def close(self) -> None:
        """Flush and close the file."""
        with self._mutex:
            self.flush()
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _count_newlines(fd: int, start: int, end: int) -> int:
    n, pos = 0, start
    while pos < end:
        chunk = os.pread(fd, min(_CHUNK, end - pos), pos)
        if not chunk:
            break
        n += chunk.count(b"\n")
        pos += len(chunk)
    return n


def _chain(first: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from first
    yield from rest


class MemorySink(LogSink):
    """Records kept in a list (one process); what reads back is what a file would give.

    Args:
        records: Records to start with (e.g. a saved state), oldest first.
    """

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [normalise(r) for r in records]
        self._mutex = threading.RLock()
        self._seen = 0
        self._following = False

    @property
    def name(self) -> str:
        """``"<memory>"``."""
        return "<memory>"

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append a batch, all or nothing.

        Raises:
            TypeError: If a record holds a value with no JSON form.
        """
        if isinstance(records, Mapping):
            raise TypeError("`append` takes a batch of records (e.g. a list), got one mapping")
        batch = [normalise(r) for r in records]
        with self._mutex:
            caught_up = self._seen == len(self.records)
            self.records.extend(batch)
            if self._following and caught_up:
                self._seen = len(self.records)

    def read(self) -> Iterator[dict[str, Any]]:
        """Yield every record, oldest first."""
        with self._mutex:
            snapshot = list(self.records)
        yield from snapshot

    @contextlib.contextmanager
    def locked(self) -> Iterator[Iterator[dict[str, Any]]]:
        """Hold the sink's lock; yield the records not seen through ``locked`` yet."""
        with self._mutex:
            self._following = True
            start, self._seen = self._seen, len(self.records)
            yield iter(self.records[start : self._seen])

    def close(self) -> None:
        """Nothing to release."""


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record exactly as it reads back from a log file."""
    out = decode_line(encode_record(record), 0, "<memory>")
    if out is None:
        raise TypeError(f"not an hpprune record (no `kind`): {dict(record)!r}")
    return out


SinkArg = str | os.PathLike[str] | LogSink


def open_sink(log: SinkArg, *, study: str | None = None) -> LogSink:
    """The sink for a ``log=`` argument.

    A :class:`LogSink` is used as given; a database URL (a str such as
    ``"postgresql+psycopg2://user@host/db"`` or ``"sqlite:///study.db"``)
    becomes a :class:`hpprune.audit.dbsink.DatabaseSink` for ``study``; any
    other path a :class:`FileSink`.

    Args:
        log: The ``log=`` argument.
        study: The study name (needed for a database URL).

    Raises:
        TypeError: If ``log`` is neither a path, a URL nor a :class:`LogSink`.
        ValueError: If ``log`` is a database URL and ``study`` is None.
        ImportError: If ``log`` is a database URL and SQLAlchemy is not installed.
    """
    if isinstance(log, LogSink):
        return log
    if is_url(log):
        if study is None:
            raise ValueError(
                f"a database log ({str(log).split(':', 1)[0]}://...) holds many studies; "
                "name this one with `study_name=`"
            )
        try:
            from hpprune.audit.dbsink import DatabaseSink
        except ImportError as exc:
            raise ImportError(
                f"a database log needs SQLAlchemy ({exc}); install it with: "
                "pip install 'hpprune[optuna]'"
            ) from None
        return DatabaseSink(str(log), study)
    if isinstance(log, (str, os.PathLike)):
        return FileSink(log)
    raise TypeError(f"expected a file path or a LogSink for `log`, got {type(log).__name__}")
