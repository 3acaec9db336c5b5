"""Learning curves from a long-format table (CSV or Parquet).

One row per (configuration, step) observation::

    task,config_id,step,value,elapsed_s
    189906,a,1,51.2,3.1
    189906,a,2,55.0,6.0

Required columns: ``config_id``, ``step``, ``value``. Optional: ``elapsed_s``
(cumulative seconds since the configuration started) and ``task`` (one
:class:`~hpprune.bench.sources.CurveSet` is built per distinct task). Other
columns are ignored. Column names are matched after stripping whitespace.

How awkward input is treated:

* Rows may come in any order; curves may be ragged and have gaps. The columns of a
  CurveSet are the sorted union of the steps seen for that task; a step missing
  from a configuration is NaN.
* ``value`` cells that are empty or ``nan``/``na``/``n/a``/``null``/``none`` (any
  case) become NaN, i.e. "missing". ``inf``/``-inf``/``infinity`` are kept as ±inf:
  the trial reported a non-finite value, which the engine's ``non_finite`` policy is
  meant to see. Anything else that is not a number is an error.
* ``elapsed_s`` cells may be missing (NaN); they must otherwise be finite, ``>= 0``
  and non-decreasing along each configuration's steps (per-step durations instead of
  cumulative times are the usual cause of an error here).
* A repeated (task, config_id, step) keeps the last row in file order and emits one
  ``UserWarning`` that counts the repeats.
* Steps must be integers ``>= 0`` (``"3.0"`` is accepted as 3); anything else raises
  ``ValueError`` naming the row and column. Config ids are kept as strings
  (``"007"`` stays ``"007"``).
* Files that are empty, have no data rows, or lack a required column raise
  ``ValueError``.

Parquet is detected by the ``.parquet``/``.pq`` suffix or the file's magic bytes and
read with pyarrow (or pandas) imported on demand. CSV uses only the standard
library; ``.tsv`` files are tab-separated and a ``.gz`` suffix means gzip.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from hpprune.bench.sources import CurveSet, DirectionName

__all__ = ["load_curves_table", "write_curves_table"]

_REQUIRED: tuple[str, ...] = ("config_id", "step", "value")
_MISSING_TOKENS = frozenset({"", "nan", "-nan", "+nan", "na", "n/a", "null", "none"})
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class _Cell:
    value: float
    elapsed: float
    where: str


def _location(path: Path, where: str, column: str) -> str:
    return f"{path}: {where}, column {column!r}"


def _open_text(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    if gz if gz is not None else path.suffix.lower() == ".gz":
        encoding = "utf-8-sig" if mode == "r" else "utf-8"
        return cast(IO[str], gzip.open(path, mode + "t", encoding=encoding, newline=""))
    return path.open(mode, encoding="utf-8-sig" if mode == "r" else "utf-8", newline="")


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        return True
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _check_header(path: Path, header: Sequence[str]) -> list[str]:
    names = [h.strip() for h in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ValueError(f"{path}: column {name!r} appears more than once in the header")
        seen.add(name)
    missing = [c for c in _REQUIRED if c not in seen]
    if missing:
        raise ValueError(
            f"{path}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(n) for n in names if n) or 'none'})"
        )
    return names


def _iter_csv(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    delimiter = "\t" if ".tsv" in path.suffixes[-2:] else ","
    fh = _open_text(path, "r")
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        fh.close()
        raise ValueError(f"{path}: malformed CSV header: {exc}") from None
    if header is None or not any(h.strip() for h in header):
        fh.close()
        raise ValueError(f"{path}: empty file (expected a header with {', '.join(_REQUIRED)})")
    try:
        names = _check_header(path, header)
    except ValueError:
        fh.close()
        raise

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with fh:
            number = 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ValueError(
                        f"{path}: line {reader.line_num}: malformed CSV: {exc}"
                    ) from None
                if not fields or all(not f.strip() for f in fields):
                    continue  # blank line
                number += 1
                where = f"row {number} (line {reader.line_num})"
                if len(fields) > len(names) and any(f.strip() for f in fields[len(names) :]):
                    raise ValueError(
                        f"{path}: {where}: {len(fields)} fields but the header has {len(names)}"
                    )
                padded = [*fields, *([""] * (len(names) - len(fields)))]
                yield where, {n: padded[k] for k, n in enumerate(names) if n}

    return names, rows()


def _iter_parquet(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    columns: dict[str, list[Any]]
    try:
        import pyarrow.parquet as pq
    except ImportError:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "reading Parquet curves tables needs pyarrow (or pandas with a Parquet "
                "engine): pip install hpprune[bench]"
            ) from exc
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:  # pandas without a Parquet engine
            raise ImportError(
                "reading Parquet curves tables needs pyarrow: pip install hpprune[bench]"
            ) from exc
        columns = {str(c): frame[c].tolist() for c in frame.columns}
    else:
        table = pq.read_table(path)
        columns = {str(name): table.column(name).to_pylist() for name in table.column_names}
    names = _check_header(path, list(columns))
    columns = {n.strip(): v for n, v in columns.items()}
    n_rows = len(columns[_REQUIRED[0]])
    if n_rows == 0:
        raise ValueError(f"{path}: no data rows")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for i in range(n_rows):
            yield f"row {i + 1}", {n: columns[n][i] for n in names}

    return names, rows()


def _parse_label(raw: Any, path: Path, where: str, column: str) -> str:
    if raw is None or (isinstance(raw, float) and not math.isfinite(raw)):
        text = ""
    elif isinstance(raw, float):
        text = str(int(raw)) if raw == int(raw) else repr(raw)
    else:
        text = str(raw).strip()
    if not text:
        raise ValueError(f"{_location(path, where, column)}: empty {column}")
    return text


def _parse_step(raw: Any, path: Path, where: str) -> int:
    loc = _location(path, where, "step")
    if isinstance(raw, bool):
        raise ValueError(f"{loc}: {raw!r} is not an integer step")
    if isinstance(raw, int | np.integer):
        step = int(raw)
    else:
        text = "" if raw is None else str(raw).strip()
        if not text:
            raise ValueError(f"{loc}: missing step")
        try:
            step = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{loc}: {text!r} is not an integer step") from None
            if not math.isfinite(number) or number != int(number):
                raise ValueError(f"{loc}: {text!r} is not an integer step") from None
            step = int(number)
    if step < 0:
        raise ValueError(f"{loc}: step {step} is negative; steps must be integers >= 0")
    return step


def _parse_number(raw: Any, path: Path, where: str, column: str) -> float:
    if raw is None:
        return math.nan
    if isinstance(raw, bool):
        raise ValueError(f"{_location(path, where, column)}: {raw!r} is not a number")
    if isinstance(raw, int | float | np.number):
        return float(raw)
    text = str(raw).strip()
    if text.lower() in _MISSING_TOKENS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{_location(path, where, column)}: {text!r} is not a number") from None


def _parse_elapsed(raw: Any, path: Path, where: str) -> float:
    seconds = _parse_number(raw, path, where, "elapsed_s")
    if math.isinf(seconds):
        raise ValueError(
            f"{_location(path, where, 'elapsed_s')}: {seconds!r} is not a finite time "
            "(leave the cell empty if unknown)"
        )
    if seconds < 0:
        raise ValueError(f"{_location(path, where, 'elapsed_s')}: {seconds!r} is negative")
    return seconds


def _default_task_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".parquet", ".pq"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name or "curves"


def _normalise_direction(direction: object) -> DirectionName:
    if not isinstance(direction, str):
        raise TypeError(
            f"`direction` must be 'minimize' or 'maximize', got {type(direction).__name__}"
        )
    text = str(direction).strip().lower()
    if text == "minimize":
        return "minimize"
    if text == "maximize":
        return "maximize"
    raise ValueError(f"`direction` must be 'minimize' or 'maximize', got {direction!r}")


def load_curves_table(
    path: str | os.PathLike[str],
    direction: DirectionName,
    task: str | None = None,
) -> list[CurveSet]:
    """Read learning curves from a long-format CSV or Parquet table.

    See the module docstring for the columns and for how ragged curves, gaps,
    duplicates and NaN/inf cells are handled: NaN/empty values become missing
    steps (NaN), ±inf values are preserved, and elapsed times must be finite.

    Args:
        path: The table (``.csv``, ``.tsv``, optionally ``.gz``; or Parquet).
        direction: ``"minimize"`` or ``"maximize"`` for the ``value`` column.
        task: With a ``task`` column, load only this task. Without one, the name
            of the single CurveSet (default: the file name without suffixes).

    Returns:
        One CurveSet per task, in order of first appearance (exactly one without a
        ``task`` column). Configurations are in order of first appearance;
        ``params`` is None.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ImportError: If a Parquet file is given and neither pyarrow nor pandas is
            installed.
        TypeError: If ``direction`` is not a string.
        ValueError: If the file is empty or lacks a required column, a row has a
            bad step/value/elapsed time (the message names the row and column), an
            elapsed time decreases, ``direction`` is invalid, or ``task`` is not in
            the table.
    """
    direction_name = _normalise_direction(direction)
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"curves table not found: {file}")
    if file.stat().st_size == 0:
        raise ValueError(f"{file}: empty file")

    names, rows = _iter_parquet(file) if _is_parquet(file) else _iter_csv(file)
    has_task = "task" in names
    has_elapsed = "elapsed_s" in names
    fallback_task = task if task is not None else _default_task_name(file)

    # task -> config_id -> step -> cell, all in order of first appearance.
    tables: dict[str, dict[str, dict[int, _Cell]]] = {}
    n_duplicates = 0
    first_duplicate = ""
    n_rows = 0
    for where, row in rows:
        n_rows += 1
        row_task = _parse_label(row["task"], file, where, "task") if has_task else fallback_task
        config_id = _parse_label(row["config_id"], file, where, "config_id")
        step = _parse_step(row["step"], file, where)
        value = _parse_number(row["value"], file, where, "value")
        elapsed = _parse_elapsed(row["elapsed_s"], file, where) if has_elapsed else math.nan
        curve = tables.setdefault(row_task, {}).setdefault(config_id, {})
        if step in curve:
            n_duplicates += 1
            if not first_duplicate:
                first_duplicate = (
                    f"config {config_id!r} step {step} at {curve[step].where} and {where}"
                )
        curve[step] = _Cell(value, elapsed, where)
    if n_rows == 0:
        raise ValueError(f"{file}: no data rows")
    if n_duplicates:
        warnings.warn(
            f"{file}: {n_duplicates} duplicate (config_id, step) row(s); kept the last of each "
            f"(first: {first_duplicate})",
            UserWarning,
            stacklevel=2,
        )

    if has_task and task is not None:
        if task not in tables:
            raise ValueError(
                f"{file}: task {task!r} not found; tasks in the table: {', '.join(tables)}"
            )
        tables = {task: tables[task]}

    return [
        _build(file, name, curves, direction_name, has_elapsed) for name, curves in tables.items()
    ]


def _build(
    path: Path,
    task: str,
    curves: dict[str, dict[int, _Cell]],
    direction: DirectionName,
    has_elapsed: bool,
) -> CurveSet:
    steps = sorted({s for curve in curves.values() for s in curve})
    column = {s: j for j, s in enumerate(steps)}
    values = np.full((len(curves), len(steps)), np.nan)
    elapsed = np.full_like(values, np.nan)
    for i, (config_id, curve) in enumerate(curves.items()):
        previous: tuple[float, int] | None = None
        for step in sorted(curve):
            cell = curve[step]
            values[i, column[step]] = cell.value
            if math.isnan(cell.elapsed):
                continue
            if previous is not None and cell.elapsed < previous[0]:
                raise ValueError(
                    f"{_location(path, cell.where, 'elapsed_s')}: {cell.elapsed!r} is less than "
                    f"{previous[0]!r} at step {previous[1]} of config {config_id!r}; elapsed_s "
                    "must be cumulative seconds since the configuration started, not per-step "
                    "durations"
                )
            previous = (cell.elapsed, step)
            elapsed[i, column[step]] = cell.elapsed
    keep_elapsed = has_elapsed and not np.all(np.isnan(elapsed))
    return CurveSet(
        task=task,
        direction=direction,
        config_ids=tuple(curves),
        values=values,
        elapsed=elapsed if keep_elapsed else None,
        params=None,
        steps=np.asarray(steps, dtype=np.int64),
    )


def _format(number: float) -> str:
    if math.isnan(number):
        return ""
    return repr(float(number))  # shortest round-tripping form; 'inf'/'-inf' for infinities


def write_curves_table(
    curvesets: CurveSet | Sequence[CurveSet], path: str | os.PathLike[str]
) -> None:
    """Write CurveSets to a long-format CSV that :func:`load_curves_table` reads back.

    Columns: ``task, config_id, step, value`` and ``elapsed_s`` when any CurveSet
    has elapsed times. A row is written for every (configuration, step) whose value
    or elapsed time is known; NaN is written as an empty cell, ±inf as
    ``inf``/``-inf``, and floats in their shortest exact form, so a round trip
    reproduces ``values`` and ``elapsed`` bit for bit. Not stored: ``direction``,
    ``params``, and step columns that are NaN for every configuration. The file
    is written to a temporary name and then renamed, so readers never see half a
    file. A ``.gz`` suffix writes gzip.

    Args:
        curvesets: One CurveSet or several with distinct task names.
        path: Destination file (overwritten).

    Raises:
        ValueError: If no CurveSet is given or two share a task name.
        TypeError: If an element is not a CurveSet.
    """
    items = [curvesets] if isinstance(curvesets, CurveSet) else list(curvesets)
    if not items:
        raise ValueError("`curvesets` is empty; nothing to write")
    tasks: set[str] = set()
    for k, item in enumerate(items):
        if not isinstance(item, CurveSet):
            raise TypeError(f"`curvesets[{k}]` must be a CurveSet, got {type(item).__name__}")
        if item.task in tasks:
            raise ValueError(f"`curvesets` has the task {item.task!r} more than once")
        tasks.add(item.task)
    with_elapsed = any(item.elapsed is not None for item in items)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _open_text(tmp, "w", gz=target.suffix.lower() == ".gz") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            header = ["task", "config_id", "step", "value"]
            writer.writerow([*header, "elapsed_s"] if with_elapsed else header)
            for item in items:
                elapsed = item.elapsed
                for i, config_id in enumerate(item.config_ids):
                    for j, step in enumerate(item.steps):
                        value = float(item.values[i, j])
                        seconds = math.nan if elapsed is None else float(elapsed[i, j])
                        if math.isnan(value) and math.isnan(seconds):
                            continue
                        row = [item.task, config_id, str(int(step)), _format(value)]
                        writer.writerow([*row, _format(seconds)] if with_elapsed else row)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
