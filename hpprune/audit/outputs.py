"""Safe output files: the one way every command writes a file.

:func:`atomic_output` creates a private temporary file in the target's folder
with ``mkstemp`` (``O_CREAT | O_EXCL``, mode 0600, an unpredictable name, so
a planted file or symlink is never followed), lets the caller write it, and
renames it over the target in one step. A failed write removes it: no partial
file is ever left, neither at the target nor beside it. A command never writes
over one of its own inputs (the audit log it reads, the database it imports).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

__all__ = ["atomic_output", "check_not_input", "sqlite_path", "write_text"]

PathArg = str | os.PathLike[str]


def check_not_input(target: PathArg, inputs: Iterable[PathArg]) -> None:
    """Refuse a target that is one of the command's inputs.

    Args:
        target: The file to write.
        inputs: The files the command reads.

    Raises:
        ValueError: If ``target`` is (a link to) one of ``inputs``.
    """
    t = Path(target)
    for given in inputs:
        i = Path(given)
        same = t.resolve() == i.resolve()
        if not same and t.exists() and i.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(t, i)
        if same:
            raise ValueError(
                f"refusing to write {t}: it is one of this command's inputs ({i}); "
                "choose another output file"
            )


@contextlib.contextmanager
def atomic_output(
    path: PathArg, *, inputs: Iterable[PathArg] = (), overwrite: bool = True
) -> Iterator[BinaryIO]:
    """Write ``path`` atomically through a private temporary file.

    Args:
        path: The file to write; its parent folders are created.
        inputs: Files the command reads; writing over one is refused.
        overwrite: Replace an existing file (False: refuse it, also when it
            appears while writing).

    Yields:
        The temporary file, open for binary writing.

    Raises:
        IsADirectoryError: If ``path`` is a directory.
        ValueError: If ``path`` is one of ``inputs``, or exists and is not a
            regular file or a symlink (``/dev/null``, a FIFO: renaming over it
            would replace the device).
        FileExistsError: If it exists and ``overwrite`` is False.
        OSError: If it cannot be written (nothing is left behind).
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; give a file name")
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(target).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a device, FIFO or socket
            raise ValueError(
                f"refusing to write {target}: it is not a regular file (a device, FIFO or "
                "socket would be replaced by a file); give a file name"
            )
    check_not_input(target, inputs)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise FileExistsError(f"{target} exists; choose another name or pass overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, 0o644)  # readable like any other output once complete
        if overwrite:
            os.replace(tmp, target)  # replaces a symlink itself, never its target
        else:
            os.link(tmp, target)  # fails if the name appeared meanwhile
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(
    path: PathArg, text: str, *, inputs: Iterable[PathArg] = (), overwrite: bool = True
) -> Path:
    """Write UTF-8 ``text`` to ``path`` with :func:`atomic_output`.

    Text that came from a non-UTF-8 file name (``os.fsdecode`` of its bytes)
    is written as those bytes; any other lone surrogate is an error.

    Returns:
        The path written.

    Raises:
        IsADirectoryError: If ``path`` is a directory.
        ValueError: If ``path`` is one of ``inputs`` or not a regular file.
        UnicodeEncodeError: If ``text`` holds another lone surrogate (nothing
            is written).
        FileExistsError: If it exists and ``overwrite`` is False.
        OSError: If it cannot be written.
    """
    with atomic_output(path, inputs=inputs, overwrite=overwrite) as fh:
        # A file name given in bytes that are not UTF-8 keeps its bytes (surrogateescape).
        fh.write(text.encode("utf-8", "surrogateescape"))
    return Path(path)


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other URLs and ``:memory:``)."""
    if not url.startswith("sqlite:///"):
        return None
    rest = unquote(url[len("sqlite:///") :].split("?", 1)[0])
    if not rest or rest == ":memory:":
        return None
    return Path(rest)
