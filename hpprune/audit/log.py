"""The audit log's historical names, kept for callers of earlier versions.

The codec lives in :mod:`hpprune.audit.records`, the writers in
:mod:`hpprune.audit.sinks`; ``AuditLog`` is :class:`~hpprune.audit.sinks.FileSink`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from hpprune.audit.records import LogFormatError, encode_record
from hpprune.audit.sinks import FileSink, existing_log_file, is_url

AuditLog = FileSink

__all__ = ["AuditLog", "LogFormatError", "encode_record", "read_log"]


def read_log(path: str | os.PathLike[str], *, study: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records of a log file (or of a study's log in a database) in order.

    A torn or malformed line (e.g. the last line after a crash) is skipped
    with a :class:`UserWarning`.

    Args:
        path: The log file, or a database URL (``sqlite:///study.db``,
            ``postgresql+psycopg2://...``; see :mod:`hpprune.audit.dbsink`).
        study: The study of a database log (None: the only one there);
            ignored for a file.

    Yields:
        Each record as a dict.

    Raises:
        FileNotFoundError: If the file does not exist.
        IsADirectoryError: If the path is a directory.
        LogFormatError: If a record was written by a newer schema version.
        ValueError: If ``study`` is None and the database holds several studies.
    """
    if is_url(path):
        from hpprune.audit.dbsink import read_study

        yield from read_study(str(path), study)
        return
    yield from existing_log_file(path).read()
