"""Shared plumbing of the scenario benchmarks (``hpprune bench calibration|drift|transfer``).

Each scenario is a subcommand with the options of ``hpprune bench lcbench``
(``--tasks``, ``--seeds``, ``--workers``, ``--quick``, ``--data-dir``,
``--jobs``, ``--no-progress``, ``-o/--output DIR``) and writes
``DIR/results.json``, ``DIR/summary.md`` and a PNG. This module holds the
option parser, the runner of independent work units (sequential or in worker
processes) and the atomic writers; the scenarios hold the science.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hpprune.audit.outputs import atomic_output, write_text

__all__ = [
    "atomic_write_text",
    "fmt_mean_se",
    "base_protocol",
    "jsonable",
    "run_units",
    "scenario_main",
    "scenario_parser",
]

U = TypeVar("U")
R = TypeVar("R")


def scenario_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The option parser shared by the scenario subcommands.

    Args:
        name: Subcommand name (``calibration``, ``drift``, ``transfer``).
        description: Help text.

    Returns:
        The parser (``out`` is the output directory).
    """
    p = argparse.ArgumentParser(prog=f"hpprune bench {name}", description=description)
    p.add_argument("--tasks", nargs="+", help="tasks or pairs (default: the scenario's set)")
    p.add_argument("--seeds", type=int, help="number of seeds 0..N-1")
    p.add_argument("--workers", type=int, nargs="+", default=None, help="worker settings")
    p.add_argument("--quick", action="store_true", help="a small run")
    p.add_argument(
        "--data-dir", help="LCBench surrogate directory (default ../shared/data/lcbench)"
    )
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", "--out", dest="output", help="output directory")
    return p


def check_common(args: argparse.Namespace, default_workers: Sequence[int]) -> tuple[int, ...]:
    """Validate the shared options; return the worker settings.

    Raises:
        ValueError: Naming the option that is out of range.
    """
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"expected an int >= 1 for `--seeds`, got {args.seeds}")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"expected an int >= 1 for `--jobs`, got {args.jobs}")
    workers = tuple(args.workers or default_workers)
    if any(w < 1 for w in workers):
        raise ValueError(f"expected ints >= 1 for `--workers`, got {list(workers)}")
    return workers


def run_units(
    fn: Callable[[U], R], units: Sequence[U], jobs: int | None, quiet: bool, desc: str
) -> list[R]:
    """Run ``fn`` on every unit, in order of ``units`` (processes when ``jobs`` > 1).

    Args:
        fn: A picklable module-level function.
        units: Picklable work units.
        jobs: Processes (None or 1: in this process).
        quiet: Hide the progress bar.
        desc: Progress-bar label.

    Returns:
        The results, one per unit, in the order of ``units``.
    """
    bar: Any = None
    with contextlib.suppress(ImportError):
        from tqdm import tqdm

        bar = tqdm(total=len(units), desc=desc, unit="unit", disable=quiet, file=sys.stderr)
    try:
        if (jobs or 1) <= 1 or len(units) <= 1:
            out = []
            for u in units:
                out.append(fn(u))
                if bar is not None:
                    bar.update(1)
            return out
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(fn, u) for u in units]
            results = []
            for fut in futures:
                results.append(fut.result())
                if bar is not None:
                    bar.update(1)
            return results
    finally:
        if bar is not None:
            bar.close()


def jsonable(x: Any) -> Any:
    """``x`` with numpy scalars/arrays converted and non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


def fmt_mean_se(mean: float | None, se: float | None, digits: int = 3) -> str:
    """``mean ± se`` for tables (``—`` for a missing mean, no ``±`` for a zero or missing se)."""
    if mean is None:
        return "—"
    if se is None or se == 0:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`hpprune.audit.outputs.write_text`)."""
    write_text(path, text)


def base_protocol(name: str, argv: Sequence[str], wall: float) -> dict[str, Any]:
    """The protocol fields every scenario records (command, versions, date, wall time)."""
    from hpprune import __version__

    versions = {
        "hpprune": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for mod in ("scipy", "onnxruntime", "sklearn"):
        with contextlib.suppress(Exception):
            versions[mod] = str(__import__(mod).__version__)
    return {
        "scenario": name,
        "command": "hpprune bench " + shlex.join([name, *argv]),
        "wall_seconds": round(wall, 1),
        "cpu_count": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions,
    }


def scenario_main(
    name: str,
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace, Sequence[str]], dict[str, Any]],
    argv: Sequence[str],
    png: str,
) -> int:
    """Parse, run and report one benchmark command; errors exit 2 with a message, no traceback.

    Args:
        name: Command name after ``hpprune`` (``bench`` or ``bench calibration``...).
        parser: Its parser (the output directory in ``output``).
        run: ``run(args, argv)`` writes the outputs and returns ``results.json``'s document.
        argv: The command's arguments.
        png: File name of the picture (for the closing message).

    Returns:
        0 on success, 2 for invalid options or data.
    """
    args = parser.parse_args(list(argv))
    if not args.output:
        parser.error("the following argument is required: -o/--output")
    try:
        doc = run(args, argv)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"hpprune {name}: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    print(f"wrote {out / 'results.json'}, summary.md, {png} ({doc['protocol']['wall_seconds']} s)")
    return 0


def write_outputs(out: Path, doc: dict[str, Any], summary: str) -> None:
    """Write ``results.json`` and ``summary.md`` atomically into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(jsonable(doc), indent=1) + "\n")
    atomic_write_text(out / "summary.md", summary)


def save_figure(fig: Any, path: Path) -> None:
    """Save a matplotlib figure as PNG atomically (:func:`hpprune.audit.outputs.atomic_output`)."""
    with atomic_output(path) as fh:
        fig.savefig(fh, dpi=110, format="png")
