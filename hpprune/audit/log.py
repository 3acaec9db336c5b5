"""Append-only JSON Lines event log, safe for many writer processes.

Every record is one line of JSON with a schema version ``"v"`` and a
``"kind"``:

* ``study``    — first record: policy type/params/hash, direction, versions.
* ``trial``    — a trial registered with its hyperparameters.
* ``report``   — one observation together with the decision it received.
* ``decision`` — a decision not tied to a report (pause, resume, budget stop).
* ``complete`` / ``fail`` / ``stale`` — life-cycle events.

Writes use ``O_APPEND`` and an exclusive ``flock`` around each batch, and a
batch is written with a single ``write`` call, so records from several
processes never interleave. A crash can leave at most a torn last line; the
reader skips it with a warning, and the next writer starts on a fresh line.

Durability (``fsync``):
    ``False`` (default): records reach the OS page cache at every write, so
    they survive a crash of the process but not of the machine.
    ``True``: each batch is ``fsync``-ed before ``flush`` returns, so they also
    survive power loss, at a cost of one disk sync per batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hpprune.types import SCHEMA_VERSION, jsonable


class LogFormatError(ValueError):
    """A log line is well-formed JSON but not a valid hpprune record."""


def encode_record(record: Mapping[str, Any]) -> bytes:
    """Serialise one record as a compact JSON line (non-finite floats as strings)."""
    body = dict(record)
    body.setdefault("v", SCHEMA_VERSION)
    return (json.dumps(jsonable(body), separators=(",", ":"), allow_nan=False) + "\n").encode()


class AuditLog:
    """Writer for one JSON Lines log file.

    Args:
        path: File to append to (created with its parent folders if missing).
        buffer_size: Records held in memory before a write; 1 writes each
            record at once (default), larger values batch them.
        fsync: ``fsync`` after each write (see module docstring).

    Raises:
        TypeError: If ``path`` is not a str or Path.
        ValueError: If ``buffer_size`` < 1.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, buffer_size: int = 1, fsync: bool = False
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"expected a file path for `log`, got {type(path).__name__}")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"expected an int >= 1 for `buffer_size`, got {buffer_size!r}")
        self.path = Path(path)
        self.buffer_size = buffer_size
        self.fsync = bool(fsync)
        self._buf: list[bytes] = []
        self._fd: int | None = None

    # ------------------------------------------------------------------ I/O
    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def _write_locked(self, data: bytes) -> None:
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                # Start on a fresh line after a torn last line left by a crashed writer.
                data = b"\n" + data
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def append(self, record: Mapping[str, Any]) -> None:
        """Queue one record; writes when the buffer is full.

        Raises:
            TypeError: If the record holds a value with no JSON form.
        """
        self._buf.append(encode_record(record))
        if len(self._buf) >= self.buffer_size:
            self.flush()

    def flush(self) -> None:
        """Write all queued records with one ``write`` call."""
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            self._write_locked(data)

    def write_header_if_empty(self, header: Mapping[str, Any]) -> dict[str, Any] | None:
        """Write ``header`` as the first record unless the log already has one.

        Returns:
            The existing first record when the log was not empty, else None.
        """
        self.flush()
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, encode_record(header))
                if self.fsync:
                    os.fsync(fd)
                return None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        for record in read_log(self.path):
            return record
        return None

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


_DECODER = json.JSONDecoder()
# The C scanner behind json.loads, called without its Python wrappers.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _decode_line(raw: bytes, lineno: int, path: Path) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8")
        try:  # fast path: one JSON value at the start of the line, then only "\n"
            record, end = _SCAN(text, 0)
            if end != len(text) and text[end:].strip():
                raise ValueError("extra data")
        except (StopIteration, ValueError):  # leading blanks, or not JSON: the full decoder
            record = _DECODER.decode(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        warnings.warn(f"{path}:{lineno}: skipped a torn or malformed log line", stacklevel=3)
        return None
    if not isinstance(record, dict) or "kind" not in record:
        warnings.warn(
            f"{path}:{lineno}: skipped a line that is not an hpprune record", stacklevel=3
        )
        return None
    version = record.get("v", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise LogFormatError(
            f"{path}:{lineno}: record has schema_version {version!r}; this hpprune reads "
            f"versions <= {SCHEMA_VERSION} (upgrade hpprune to read it)"
        )
    return record


def read_log(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the records of a log in order.

    A torn or malformed line (e.g. the last line after a crash) is skipped
    with a :class:`UserWarning`; it never raises.

    Args:
        path: The log file.

    Yields:
        Each record as a dict.

    Raises:
        FileNotFoundError: If the file does not exist.
        LogFormatError: If a record was written by a newer schema version.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            record = _decode_line(raw, lineno, p)
            if record is not None:
                yield record
