"""Command line of the audit tools; the ``hpprune`` command forwards these subcommands here.

::

    hpprune replay LOG [--study NAME] --policy SPEC [--json] [-o FILE]
    hpprune backtest LOG [LOG ...] [--study NAME] --policy SPEC [--policy SPEC ...]
    hpprune report LOG [--study NAME] -o report.html [--budget-hours H]
    hpprune import optuna --storage URL [--study NAME] -o OUT
    hpprune import ray DIR --metric NAME --direction minimize|maximize -o OUT
    hpprune import jsonl LOG [--study NAME] -o OUT
    hpprune export LOG [--study NAME] -o OUT

``LOG`` is a JSON Lines file or a database URL (``sqlite:///study.db``,
``postgresql+psycopg2://user@host/db``) holding the table ``hpprune_events``;
``--study NAME`` picks the study there (optional when it holds one).

``OUT`` ending in ``.csv``/``.tsv`` (optionally ``.gz``) is written as a curves table,
a database URL as the study's log in that database (``--study`` or the log's
own study name; refused when that study already has records there), anything
else as a JSON Lines audit log. Exit status: 0 on success, 1 when a
backtest exceeds ``--max-discard-rate``, 2 for a usage or input error (the
message names the bad argument, file or value).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from hpprune.audit.log import LogFormatError, read_log
from hpprune.audit.outputs import check_not_input, sqlite_path, write_text
from hpprune.audit.sinks import is_url

__all__ = [
    "COMMANDS",
    "add_direction",
    "add_output",
    "build_parser",
    "input_error",
    "int_at_least",
    "json_text",
    "log_inputs",
    "main",
    "shown_text",
    "write_text",
]

COMMANDS = ("replay", "backtest", "report", "import", "export")
"""Subcommands handled by :func:`main` (the ``hpprune`` dispatcher forwards these)."""


_N = TypeVar("_N", int, float)


def _bounded(
    kind: Callable[[str], _N], what: str, rule: str, ok: Callable[[_N], bool]
) -> Callable[[str], _N]:
    """An argparse ``type`` parsing ``kind`` and checking ``ok`` (NaN fails every rule)."""

    def parse(text: str) -> _N:
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {rule}, got {text!r}") from None
        if not ok(x):
            raise argparse.ArgumentTypeError(f"expected {what} {rule}, got {text!r}")
        return x

    return parse


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` for an int >= ``low`` (the error names the rule and the text)."""
    return _bounded(int, "an int", f">= {low}", lambda x: x >= low)


DIRECTIONS = ("minimize", "maximize")
_SHORT_DIRECTIONS = {"min": "minimize", "max": "maximize"}


def _direction(text: str) -> str:
    """An argparse ``type``: ``minimize``/``maximize``, also spelt ``min``/``max``."""
    low = text.strip().lower()
    return _SHORT_DIRECTIONS.get(low, low)


def add_direction(
    parser: argparse.ArgumentParser, *aliases: str, required: bool = False, help: str = ""
) -> None:
    """Add ``--direction {minimize,maximize}`` (``min``/``max`` accepted) to ``parser``.

    Args:
        parser: The (sub)command parser.
        *aliases: Extra option strings kept for old command lines (e.g. ``--mode``).
        required: Whether the option is required.
        help: Help text; ``min``/``max`` spelling is mentioned automatically.
    """
    parser.add_argument(
        "--direction",
        *aliases,
        dest="direction",
        type=_direction,
        choices=DIRECTIONS,
        required=required,
        help=(help + " " if help else "") + "(min/max accepted)",
    )


def add_output(
    parser: argparse.ArgumentParser, *aliases: str, required: bool = False, help: str = ""
) -> None:
    """Add ``-o/--output FILE`` to ``parser``.

    Args:
        parser: The (sub)command parser.
        *aliases: Extra option strings kept for old command lines (e.g. ``--out``).
        required: Whether the option is required.
        help: Help text.
    """
    parser.add_argument(
        "-o",
        "--output",
        *aliases,
        dest="output",
        metavar="FILE",
        required=required,
        help=help or "write to FILE instead of printing",
    )


def add_log(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Add the positional ``LOG`` (a file or a database URL) and ``--study NAME``.

    Args:
        parser: The (sub)command parser.
        many: Accept one or more logs (``args.logs``) instead of one (``args.log``).
    """
    what = "audit log: a JSON Lines file or a database URL (e.g. sqlite:///study.db)"
    if many:
        parser.add_argument("logs", nargs="+", metavar="LOG", help=what + "; several allowed")
    else:
        parser.add_argument("log", metavar="LOG", help=what)
    parser.add_argument(
        "--study",
        metavar="NAME",
        help="study of a database log (optional when the database holds one)",
    )


def load_log(log: str, study: str | None) -> str | list[dict[str, Any]]:
    """A ``LOG`` argument as the audit functions take it: a file path, or a URL's records.

    Args:
        log: The argument: a file path or a database URL.
        study: ``--study`` (used for a URL only).

    Returns:
        The path unchanged, or the study's records read from the database.

    Raises:
        FileNotFoundError: If the database has no log for the study, or a
            ``sqlite:///`` URL names no file (none is created).
        ValueError: If ``study`` is None and the database holds several studies.
        OSError: If the database cannot be read.
        ImportError: If SQLAlchemy is not installed.
    """
    if not is_url(log):
        return log
    db = sqlite_path(log)
    if db is not None and not db.is_file():
        raise FileNotFoundError(f"no SQLite database at {db} (from {log_name(log)})")
    return list(read_log(log, study=study))


def log_inputs(*logs: str) -> list[str | os.PathLike[str]]:
    """The files behind ``LOG`` arguments, which no output may replace.

    Args:
        *logs: File paths or database URLs.

    Returns:
        The paths, and the database file of each ``sqlite:///`` URL (other
        database URLs have no file here).
    """
    out: list[str | os.PathLike[str]] = []
    for log in logs:
        if not is_url(log):
            out.append(log)
        elif (db := sqlite_path(log)) is not None:
            out.append(db)
    return out


def log_name(log: str) -> str:
    """How a ``LOG`` argument is shown: a file's name, a URL without its password."""
    if not is_url(log):
        return Path(log).name
    from hpprune.audit.dbsink import display_url

    return display_url(log)


def emit(
    text: str, output: str | None, out: TextIO, inputs: Sequence[str | os.PathLike[str]] = ()
) -> None:
    """Print ``text``, or write it to ``output`` (atomically) and say so.

    Args:
        text: The result, ending without a newline.
        output: File to write, or None to print to ``out``.
        out: The stream results are printed on.
        inputs: The command's input files, which ``output`` must not be.

    Raises:
        ValueError: If ``output`` is one of ``inputs``.
        OSError: If it cannot be written (no partial file is left).
    """
    text = shown_text(text)
    if output is None:
        out.write(text + "\n")
        return
    path = write_text(output, text + "\n", inputs=inputs)
    out.write(f"wrote {path}\n")


_UNSHOWN = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_UNSHOWN_WIDE = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
# As JSON escapes: a JSON result stays valid JSON meaning the same (json.dumps leaves DEL raw).
_SHOWN_AS = {c: f"\\u{c:04x}" for c in [*_UNSHOWN, *_UNSHOWN_WIDE]}


def shown_text(text: str) -> str:
    """``text`` for a terminal: control characters a log could carry shown as escapes.

    A crafted reason, trial id or parameter must not move the cursor, clear
    the screen, recolour the output (ANSI escapes), reorder it (bidi
    overrides) or rewrite a line (``\\r``); tabs and line ends stay.

    Args:
        text: A command's text result.

    Returns:
        The text with C0/C1 controls (but ``\\t`` and ``\\n``), DEL, the
        bidi embeddings/overrides/isolates and U+2028/U+2029 as ``\\uNNNN``
        (a JSON result stays valid JSON with the same meaning).
    """
    return text.translate(_SHOWN_AS)


_positive_float: Callable[[str], float] = _bounded(
    float, "a finite number", "> 0", lambda x: 0 < x < math.inf
)
_rate: Callable[[str], float] = _bounded(float, "a number", "in [0, 1]", lambda x: 0 <= x <= 1)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the audit subcommands.

    Returns:
        An ``argparse`` parser whose first positional argument is the subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="hpprune",
        description="Audit tools: replay/backtest past studies, import them, and report.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "replay",
        help="re-run a log's curves through another policy and print a what-if table",
        description="Re-run the recorded curves of a study through another policy.",
    )
    add_log(p)
    p.add_argument(
        "--policy",
        metavar="SPEC",
        help="policy SPEC: e.g. 'median:n_startup_trials=5' or a .json/.toml file "
        "(default: the log's own policy)",
    )
    p.add_argument("--non-finite", choices=("stop", "ignore"), help="override the log's mode")
    p.add_argument(
        "--rows", type=int_at_least(0), default=20, help="differing trials to list (default 20)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_output(p)

    p = sub.add_parser(
        "backtest",
        help="replay several past studies; count how often each policy discards the best trial",
        description="Replay past studies through one or more policies before adopting one.",
    )
    add_log(p, many=True)
    p.add_argument(
        "--policy",
        metavar="SPEC",
        action="append",
        required=True,
        help="policy SPEC (repeat to compare several policies)",
    )
    p.add_argument("--non-finite", choices=("stop", "ignore"), help="override the logs' mode")
    p.add_argument(
        "--max-discard-rate",
        type=_rate,
        help="exit with status 1 if a policy discards the best trial in more than this "
        "fraction of the studies",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_output(p)

    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a log",
        description="Write one self-contained HTML file (no network needed to open it).",
    )
    add_log(p)
    add_output(p, required=True, help="HTML file to write")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-s", type=_positive_float, help="compute budget in seconds")
    budget.add_argument("--budget-hours", type=_positive_float, help="compute budget in hours")
    p.add_argument("--title", help="page title")
    p.add_argument(
        "--max-points", type=int, default=250_000, help="curve points drawn at most (>= 1000)"
    )

    p = sub.add_parser(
        "import",
        help="turn an Optuna study or a Ray Tune experiment into a log or curves table",
        description="Import a past study as an hpprune log (.jsonl) or curves table (.csv).",
    )
    isub = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    for name in ("optuna", "ray", "jsonl"):
        if name == "jsonl":
            q = isub.add_parser("jsonl", help="copy an hpprune log (e.g. a .jsonl file) to OUT")
            add_log(q)
            _add_copy_options(q)
            continue
        what = "an Optuna storage" if name == "optuna" else "a Ray Tune experiment directory"
        q = isub.add_parser(name, help=f"import from {what}")
        if name == "optuna":
            q.add_argument("--storage", required=True, help="storage URL, e.g. sqlite:///study.db")
            q.add_argument("--study", help="study name (optional if the storage holds one)")
        else:
            q.add_argument(
                "dir", metavar="DIR", help="the experiment directory (one folder per trial)"
            )
            q.add_argument("--metric", required=True, help="result column to import")
            add_direction(q, "--mode", required=True, help="direction of the metric")
            q.add_argument("--step-column", default="training_iteration", help="step column")
            q.add_argument(
                "--max-step", type=int, help="step reached by a trial that ran to the end"
            )
        _add_copy_options(q)
        q.add_argument(
            "--recorded-policy",
            help="SPEC of the hpprune policy equivalent to the pruner that was used "
            "(recorded in the log header)",
        )

    p = sub.add_parser(
        "export",
        help="write a log (e.g. a study's log in a database) to a .jsonl file or .csv table",
        description="Copy an audit log from a database (or a file) to a JSON Lines file, a "
        "curves table, or another database.",
    )
    add_log(p)
    _add_copy_options(p)
    return parser


def _add_copy_options(q: argparse.ArgumentParser) -> None:
    q.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help=".jsonl log, .csv table, or database URL",
    )
    q.add_argument("--format", choices=("log", "curves"), help="override the OUT suffix")
    q.add_argument("--force", action="store_true", help="overwrite OUT (a file)")


def json_text(data: Any) -> str:
    """A command's ``--json`` result: indented, non-finite numbers as the log writes them.

    Args:
        data: The result (dicts, lists, numbers, str, None).

    Returns:
        The JSON text; NaN and ±inf become ``"NaN"``/``"Infinity"``/``"-Infinity"``.
    """
    from hpprune.types import jsonable

    return json.dumps(jsonable(data), indent=2, allow_nan=False)


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "replay":
        from hpprune.audit.replay import replay

        res = replay(
            load_log(args.log, args.study),
            args.policy,
            non_finite=args.non_finite,
            log_name=log_name(args.log),
        )
        text = json_text(res.to_dict()) if args.json else res.table(max_rows=args.rows)
        emit(text, args.output, out, log_inputs(args.log))
        return 0
    if args.command == "backtest":
        from hpprune.audit.replay import backtest

        logs = [load_log(log, args.study) for log in args.logs]
        bt = backtest(logs, args.policy, non_finite=args.non_finite)
        emit(
            json_text(bt.to_dict()) if args.json else bt.table(),
            args.output,
            out,
            log_inputs(*args.logs),
        )
        if args.max_discard_rate is not None:
            worst = [
                (pol, agg["discard_rate"])
                for pol, agg in bt.per_policy().items()
                if agg["discard_rate"] is not None and agg["discard_rate"] > args.max_discard_rate
            ]
            for pol, rate in worst:
                sys.stderr.write(
                    f"hpprune backtest: {pol} discarded the best trial in {rate:.0%} of the "
                    f"studies (more than --max-discard-rate {args.max_discard_rate:.0%})\n"
                )
            return 1 if worst else 0
        return 0
    if args.command == "report":
        from hpprune.audit.report import write_report

        budget = (
            args.budget_s
            if args.budget_s is not None
            else (args.budget_hours * 3600.0 if args.budget_hours is not None else None)
        )
        check_not_input(args.output, log_inputs(args.log))  # before reading anything
        path = write_report(
            load_log(args.log, args.study),
            args.output,
            budget_s=budget,
            title=args.title,
            max_points=args.max_points,
            inputs=log_inputs(args.log),
        )
        out.write(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)\n")
        return 0
    if args.command == "import":
        from hpprune.audit.importers import import_optuna, import_ray
        from hpprune.audit.spec import load_policy

        if args.source == "jsonl":
            return _copy_log(args, out)
        recorded = load_policy(args.recorded_policy) if args.recorded_policy else None
        inputs: list[str | os.PathLike[str]] = []
        if args.source == "optuna":
            db = sqlite_path(args.storage)
            inputs = [db] if db is not None else []
            check_not_input(args.output, inputs)  # before reading anything
            records = import_optuna(args.storage, args.study, policy=recorded)
        else:
            inputs = [args.dir]
            check_not_input(args.output, inputs)
            records = import_ray(
                args.dir,
                args.metric,
                args.direction,
                step_column=args.step_column,
                max_step=args.max_step,
                policy=recorded,
            )
        _write(records, args, out, inputs=inputs)
        return 0
    if args.command == "export":
        return _copy_log(args, out)
    raise ValueError(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks


def _copy_log(args: argparse.Namespace, out: TextIO) -> int:
    from hpprune.audit.explain import load_records

    # Through the log's one fold: a log that other readers reject is not copied.
    records = load_records(load_log(args.log, args.study), log_name(args.log))
    _write(records, args, out, study=getattr(args, "study", None), inputs=log_inputs(args.log))
    return 0


def _write(
    records: Sequence[dict[str, Any]],
    args: argparse.Namespace,
    out: TextIO,
    *,
    study: str | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    from hpprune.audit.importers import write_output

    target, fmt = write_output(
        records,
        args.output,
        fmt=args.format,
        overwrite=args.force,
        study=study,
        inputs=inputs,
        checked=args.command == "export" or args.source == "jsonl",
    )
    n_trials = len({r["trial"] for r in records if "trial" in r})
    what = "curves table" if fmt == "curves" else "log"
    out.write(f"wrote {what} {target}: {n_trials} trials, {len(records) - 1} records\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run an audit subcommand.

    Args:
        argv: Arguments after the program name, starting with the subcommand
            (``["replay", "study.jsonl", "--policy", "median"]``); default ``sys.argv[1:]``.
        out: Stream for results (default stdout); errors go to stderr.

    Returns:
        The exit status: 0 success, 1 backtest over ``--max-discard-rate``, 2 error.
    """
    stream = out if out is not None else sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        return _run(args, stream)
    except (ValueError, OSError, ImportError, RecursionError) as exc:
        sys.stderr.write(f"hpprune {args.command}: {input_error(exc)}\n")
        return 2


def input_error(exc: BaseException) -> str:
    """The one-line message for an error a command's input caused (no traceback).

    Args:
        exc: A ValueError (LogFormatError, UnicodeError, ...), OSError,
            ImportError or RecursionError.

    Returns:
        ``"log error: ..."`` for a log that cannot be read or shown,
        ``"error: ..."`` otherwise.
    """
    if isinstance(exc, LogFormatError):
        return f"log error: {exc}"
    if isinstance(exc, UnicodeEncodeError):
        return (
            "log error: the log holds text that is not valid Unicode (a lone surrogate "
            f"{exc.object[exc.start : exc.end]!r}); nothing was written"
        )
    if isinstance(exc, RecursionError):
        return (
            "error: an input (the log, or a policy SPEC) holds a value nested too deeply to "
            "process; nothing was written"
        )
    return f"error: {exc}"


if __name__ == "__main__":
    raise SystemExit(main())
