"""The ``hpprune`` command: ``demo``, ``explain``, ``summary`` and dispatch to the tools.

``hpprune demo`` tunes a small scikit-learn network with the standalone loop
and writes an audit log; ``hpprune explain LOG`` says in words and numbers why
each trial was stopped or paused; ``hpprune summary LOG`` counts fates, stop
reasons and the steps pruning saved.

Other commands are dispatched lazily, so a missing optional module never
breaks the ones above: ``hpprune bench ...`` calls
``hpprune.bench.cli.main(argv_after_bench)`` and ``hpprune replay|backtest|
report|import ...`` call ``hpprune.audit.cli.main([command, *rest])``.

Exit codes: 0 success, 2 bad arguments or unreadable files (message on
stderr, no traceback), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from hpprune.audit.cli import (
    add_log,
    add_output,
    emit,
    input_error,
    int_at_least,
    json_text,
    load_log,
    log_inputs,
    log_name,
)
from hpprune.audit.explain import (
    LogFacts,
    explain_trial,
    fold_log,
    params_text,
    summarise,
    summary_dict,
    trial_dict,
)
from hpprune.audit.log import LogFormatError, read_log
from hpprune.audit.outputs import check_not_input
from hpprune.audit.sinks import is_url

__all__ = ["build_parser", "main"]

PROG = "hpprune"

DISPATCH: dict[str, tuple[str, bool]] = {
    "bench": ("hpprune.bench.cli", False),
    "replay": ("hpprune.audit.cli", True),
    "backtest": ("hpprune.audit.cli", True),
    "report": ("hpprune.audit.cli", True),
    "import": ("hpprune.audit.cli", True),
    "export": ("hpprune.audit.cli", True),
}
"""command -> (module with ``main(argv)``, whether the command name is passed on)."""

_DISPATCH_HELP = {
    "bench": "run the benchmark harness (hpprune.bench)",
    "replay": "replay an audit log through another policy (hpprune.audit)",
    "backtest": "backtest policies on recorded curves (hpprune.audit)",
    "report": "write an HTML report of an audit log (hpprune.audit)",
    "import": "import curves from another tool into an audit log (hpprune.audit)",
    "export": "write a log (e.g. from a database) to a .jsonl file (hpprune.audit)",
}


class CliError(Exception):
    """A user error: printed as ``hpprune <cmd>: error: <message>``, exit code 2."""


class _InputError(CliError):
    """A log that cannot be shown: printed as its message (``log error: ...``), exit code 2."""


# --------------------------------------------------------------------------- tables
def _table(rows: Sequence[Sequence[str]], out: TextIO, right: Sequence[bool]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if right[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


# --------------------------------------------------------------------------- commands
def _shown(log: str) -> str:
    """A LOG argument as printed: a database URL without its password."""
    return log_name(log) if is_url(log) else log


def _load(path: str, study: str | None = None) -> LogFacts:
    if is_url(path):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                folded = fold_log(load_log(path, study))
            except LogFormatError as exc:
                raise CliError(f"argument LOG: {exc}") from None
            except (OSError, ValueError, ImportError) as exc:
                raise CliError(f"argument LOG: {exc}") from None
        for w in caught:
            sys.stderr.write(f"{PROG}: warning: {w.message}\n")
        return folded
    p = Path(path)
    if not p.exists():
        raise CliError(f"argument LOG: file not found: {path}")
    if p.is_dir():
        raise CliError(f"argument LOG: {path} is a directory, not an audit log")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            folded = fold_log(p)
        except LogFormatError as exc:
            raise CliError(f"argument LOG: {path}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"argument LOG: cannot read {path}: {exc}") from None
    for w in caught:  # e.g. a torn last line after a crash: say so, without a traceback
        sys.stderr.write(f"{PROG}: warning: {w.message}\n")
    return folded


def _prepare_demo_log(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        raise CliError(f"argument -o/--output: {path} is a directory")
    if p.exists() and p.stat().st_size > 0:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                first = next(read_log(p), None)
        except (LogFormatError, OSError, UnicodeDecodeError):
            first = None
        if first is None or first.get("kind") != "study":
            raise CliError(
                f"argument -o/--output: {path} exists and is not an hpprune audit log; "
                f"refusing to overwrite it"
            )
        p.unlink()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError as exc:
        why = exc.strerror or exc
        raise CliError(f"argument -o/--output: cannot write {path}: {why}") from None
    return p


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune demo``: tune an MLP on digits, print the table, write the log."""
    try:
        from hpprune import demo
    except ImportError as exc:  # pragma: no cover - scikit-learn missing
        raise CliError(
            f"the demo needs scikit-learn ({exc}); install it with: pip install 'hpprune[bench]'"
        ) from None
    if args.record is not None:  # before anything is written: the record never replaces the log
        try:
            check_not_input(args.record, [args.output])
        except ValueError as exc:
            raise CliError(f"argument --record: {exc}") from None
    log = _prepare_demo_log(args.output)
    try:
        loop = demo.demo_loop(n_workers=args.workers, log=log, seed=args.seed)
    except ImportError as exc:  # pragma: no cover - scikit-learn missing
        raise CliError(
            f"the demo needs scikit-learn ({exc}); install it with: pip install 'hpprune[bench]'"
        ) from None
    policy = loop.policy
    out.write(
        f"hpprune demo: MLPClassifier (SGD) on scikit-learn digits, {args.trials} trials x "
        f"up to {demo.N_EPOCHS} epochs, {args.workers} worker(s), seed {args.seed}, "
        f"policy {policy.name} (the full spec is in the log header)\n"
    )
    out.flush()
    t0 = time.monotonic()
    interrupted = False
    with loop:
        try:
            result = loop.run(n_trials=args.trials, progress=not args.no_progress)
        except KeyboardInterrupt:
            interrupted = True
            result = loop.result(wall_s=time.monotonic() - t0)
    rows = [["trial", "params", "steps", "value", "fate", "reason"]]
    for t in result.trials:
        reason = ""
        if t.decision is not None:
            reason = f"{t.decision.reason} ({t.decision.rule}) @ step {t.decision.step}"
        elif t.error:
            reason = t.error.splitlines()[0][:60]
        rows.append(
            [
                str(t.number),
                params_text(t.params, 56),
                str(t.n_reports),
                "-" if t.value is None else f"{t.value:.4f}",
                t.state.value,
                reason,
            ]
        )
    out.write("\n")
    _table(rows, out, right=[True, False, True, True, False, False])
    n = len(result.trials)
    stops = result.n_stopped
    paused = result.counts.get("paused", 0)
    held = f"stopped {stops}" + (f" and paused {paused}" if paused else "")
    out.write(
        f"\n{held} of {n} trials ({(stops + paused) / max(n, 1):.0%}), each with its reason "
        f"and evidence in the log; {result.n_completed} completed"
    )
    failed = result.counts.get("failed", 0)
    out.write(f", {failed} failed" if failed else "")
    wall = time.monotonic() - t0
    out.write(f"; wall time {wall:.1f} s\n")
    run = sum(t.n_reports for t in result.trials)
    full = n * demo.N_EPOCHS
    saved = full - run
    out.write(
        f"steps run: {run} of the {full} a run without pruning would train "
        f"({n} x {demo.N_EPOCHS} epochs): {saved} saved ({saved / max(full, 1):.0%})\n"
    )
    best = result.best
    if best is not None:
        out.write(
            f"best: trial {best.number}, validation accuracy {best.value:.4f} "
            f"({params_text(best.params, 200)})\n"
        )
    out.write(f"\naudit log: {log.resolve()}\nnext:\n")
    out.write(f"  {PROG} explain {args.output}            # why each trial was stopped or paused\n")
    some = next((t for t in result.trials if t.decision is not None), None)
    if some is not None:
        out.write(f"  {PROG} explain {args.output} --trial {some.trial_id}\n")
    out.write(f"  {PROG} summary {args.output}            # fates, reasons, steps saved\n")
    if args.record is not None:
        record = {
            "command": "hpprune demo " + " ".join(args.argv),
            "trials": n,
            "workers": args.workers,
            "seed": args.seed,
            "epochs": demo.N_EPOCHS,
            "policy": policy.name,
            "fates": dict(result.counts),
            "stopped": stops,
            "completed": result.n_completed,
            "steps_run": run,
            "steps_full": full,
            "steps_saved": saved,
            "best_trial": None if best is None else best.number,
            "best_value": None if best is None else best.value,
            "wall_s": round(wall, 1),
            "cpu_count": os.cpu_count(),
            "deterministic": args.workers == 1,
        }
        where = argparse.Namespace(output=args.record, log=str(log))
        _emit(json.dumps(record, indent=1), where, out)
    if interrupted:
        out.write("interrupted: the log holds everything up to Ctrl-C\n")
        return 130
    return 0


def _emit(text: str, args: argparse.Namespace, out: TextIO) -> None:
    try:
        emit(text, args.output, out, log_inputs(args.log) if getattr(args, "log", None) else [])
    except UnicodeEncodeError as exc:  # text from the log that no file or terminal can hold
        raise _InputError(input_error(exc)) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"argument -o/--output: cannot write {args.output}: {exc}") from None


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune explain LOG [--trial ID] [--json] [-o FILE]``."""
    log = _load(args.log, args.study)
    if args.trial is not None:
        if args.trial not in log.trials:
            try:
                explain_trial(log, args.trial, brief=True)
            except ValueError as exc:
                raise CliError(f"argument --trial: {exc} in {_shown(args.log)}") from None
        if args.json:
            _emit(json_text(trial_dict(log, args.trial)), args, out)
        else:
            _emit(explain_trial(log, args.trial, brief=True), args, out)
        return 0
    chosen = [t for t in log.trials.values() if t.events]
    if args.json:
        _emit(json_text([trial_dict(log, t.trial_id) for t in chosen]), args, out)
        return 0
    if not chosen:
        text = f"no trial in {_shown(args.log)} was stopped or paused ({len(log.trials)} trials)"
        _emit(text, args, out)
        return 0
    parts = [explain_trial(log, t.trial_id, brief=True, params=False) for t in chosen]
    n_stop = sum(1 for t in chosen if t.state == "stopped")
    parts.append(
        f"\n{n_stop} of {len(log.trials)} trials stopped; "
        f"`{PROG} explain {_shown(args.log)} --trial ID` shows one trial with its parameters"
    )
    _emit("\n".join(parts), args, out)
    return 0


def cmd_summary(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune summary LOG [--json] [-o FILE]``."""
    log = _load(args.log, args.study)
    if args.json:
        _emit(json_text({"log": _shown(args.log), **summary_dict(log)}), args, out)
    else:
        _emit(f"log: {_shown(args.log)}\n{summarise(log)}", args, out)
    return 0


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (dispatched commands appear in the help only)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Decide, while a hyperparameter search runs, which trials deserve more "
        "compute.",
        epilog=f"Start with `{PROG} demo`, then `{PROG} explain hpprune-demo.jsonl`.",
    )
    from hpprune import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="tune a small scikit-learn network with pruning and write an audit log",
        description="Tune an MLPClassifier on scikit-learn's digits, epoch by epoch, "
        "stopping hopeless trials; print a table of trials and write the audit log.",
    )
    demo.add_argument("--trials", type=int_at_least(1), default=40, help="trials (default 40)")
    demo.add_argument(
        "--workers",
        type=int_at_least(1),
        default=2,
        help="worker threads (default 2); with 2 or more the decisions vary with thread "
        "timing, with 1 and a fixed --seed every run gives the same trials and decisions",
    )
    add_output(
        demo,
        "--log",
        help="audit log to write; an existing hpprune log there is replaced "
        "(default ./hpprune-demo.jsonl)",
    )
    demo.set_defaults(output="hpprune-demo.jsonl")
    demo.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument(
        "--record",
        metavar="FILE",
        help="also write the run's numbers as JSON (docs/results/demo.json is written so)",
    )
    demo.set_defaults(func=cmd_demo)

    explain = sub.add_parser(
        "explain",
        help="say why each trial was stopped or paused",
        description="For each stopped or paused trial (or the one given), say which rule "
        "decided, why, and with which numbers.",
    )
    add_log(explain)
    explain.add_argument("--trial", metavar="ID", help="explain only this trial")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_output(explain)
    explain.set_defaults(func=cmd_explain)

    summary = sub.add_parser(
        "summary",
        help="fates, stop reasons, steps saved and the best trial of a log",
        description="Count trials by fate and stop reason, compare the steps run with a "
        "no-pruning run, and show the best trial.",
    )
    add_log(summary)
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_output(summary)
    summary.set_defaults(func=cmd_summary)

    for name, text in _DISPATCH_HELP.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _dispatch(command: str, rest: list[str]) -> int:
    module_name, pass_command = DISPATCH[command]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing and module_name.startswith(missing):
            why = f"{module_name} is not available in this installation"
        else:
            why = f"{module_name} could not be imported ({exc})"
        sys.stderr.write(f"{PROG} {command}: error: {why}\n")
        return 2
    entry = getattr(module, "main", None)
    if not callable(entry):
        sys.stderr.write(f"{PROG} {command}: error: {module_name} has no main(argv)\n")
        return 2
    try:
        code = entry([command, *rest] if pass_command else rest)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:  # like the commands run here: one line, no traceback
        sys.stderr.write(f"{PROG} {command}: interrupted\n")
        return 130
    return _exit_code(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hpprune`` command.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The exit code: 0 ok, 2 user error (message on stderr), 130 Ctrl-C.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list else PROG
    with warnings.catch_warnings():
        # Library warnings (a torn log line skipped, say) become one plain line.
        warnings.showwarning = functools.partial(_show_warning, command)
        if args_list and args_list[0] in DISPATCH:
            return _dispatch(args_list[0], args_list[1:])
        return _main(args_list)


def _show_warning(
    command: str,
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    del category, filename, lineno, line
    (file or sys.stderr).write(f"{PROG} {command}: warning: {message}\n")


def _main(args_list: list[str]) -> int:
    parser = build_parser()
    if not args_list:
        parser.print_help(sys.stdout)
        return 0
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return _exit_code(exc.code)
    func: Callable[[argparse.Namespace, TextIO], int] = args.func
    args.argv = args_list[1:]
    try:
        return func(args, sys.stdout)
    except _InputError as exc:
        sys.stderr.write(f"{PROG} {args.command}: {exc}\n")
        return 2
    except CliError as exc:
        sys.stderr.write(f"{PROG} {args.command}: error: {exc}\n")
        return 2
    except RecursionError as exc:
        sys.stderr.write(f"{PROG} {args.command}: {input_error(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
