"""The audit log's record codec: one encoder and one line decoder.

Every record is one line of compact JSON with a schema version ``"v"`` and a
``"kind"`` (``study``, ``trial``, ``report``, ``decision``, ``complete``,
``fail``, ``stale``). Non-finite floats are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``.

A ``report`` record with ``"late": true`` holds a step below the trial's
highest reported step (Optuna lets objectives report steps in any order; see
``Engine.report(unordered=True)``): every reader keeps it out of the trial's
curve and counts it as one report.

This module sits at the bottom of the import graph (it imports only
:mod:`hpprune.types`): sinks, the engine and the audit tools build on it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from hpprune.types import SCHEMA_VERSION, jsonable

__all__ = ["LogFormatError", "decode_line", "encode_record"]


class LogFormatError(ValueError):
    """A log line is well-formed JSON but not a valid hpprune record."""


def encode_record(record: Mapping[str, Any]) -> bytes:
    """Serialise one record as a compact JSON line.

    Args:
        record: The record (a ``"v"`` schema version is added if missing).

    Returns:
        The UTF-8 line, ending in ``"\\n"``. Non-finite floats become strings.

    Raises:
        TypeError: If the record holds a value with no JSON form.
    """
    body = dict(record)
    body.setdefault("v", SCHEMA_VERSION)
    return (json.dumps(jsonable(body), separators=(",", ":"), allow_nan=False) + "\n").encode()


_DECODER = json.JSONDecoder()
# The C scanner behind json.loads, called without its Python wrappers.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_line(raw: bytes, lineno: int, where: object) -> dict[str, Any] | None:
    """Decode one log line.

    Args:
        raw: The line's bytes (with or without its newline).
        lineno: Its 1-based line number, for messages.
        where: The log's name (a path), for messages.

    Returns:
        The record, or None for a torn or malformed line or a JSON value
        that is not an hpprune record; those are skipped with a
        :class:`UserWarning` naming the line.

    Raises:
        LogFormatError: If the record was written by a newer schema version.
    """
    try:
        text = raw.decode("utf-8")
        try:  # fast path: one JSON value at the start of the line, then only "\n"
            record, end = _SCAN(text, 0)
            if end != len(text) and text[end:].strip():
                raise ValueError("extra data")
        except (StopIteration, ValueError):  # leading blanks, or not JSON: the full decoder
            record = _DECODER.decode(text)
    except (ValueError, UnicodeDecodeError):
        warnings.warn(f"{where}:{lineno}: skipped a torn or malformed log line", stacklevel=3)
        return None
    except RecursionError:
        warnings.warn(f"{where}:{lineno}: skipped a line nested too deeply", stacklevel=3)
        return None
    if not isinstance(record, dict) or "kind" not in record:
        warnings.warn(
            f"{where}:{lineno}: skipped a line that is not an hpprune record", stacklevel=3
        )
        return None
    version = record.get("v", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise LogFormatError(
            f"{where}:{lineno}: record has schema_version {version!r}; this hpprune reads "
            f"versions <= {SCHEMA_VERSION} (upgrade hpprune to read it)"
        )
    return record
