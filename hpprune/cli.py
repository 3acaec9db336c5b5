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
import importlib
import math
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hpprune.audit.log import LogFormatError, read_log
from hpprune.types import Action, Decision, Reason

__all__ = ["LogSummary", "TrialStory", "explain_trial", "fold_log", "main"]

PROG = "hpprune"

DISPATCH: dict[str, tuple[str, bool]] = {
    "bench": ("hpprune.bench.cli", False),
    "replay": ("hpprune.audit.cli", True),
    "backtest": ("hpprune.audit.cli", True),
    "report": ("hpprune.audit.cli", True),
    "import": ("hpprune.audit.cli", True),
}
"""command -> (module with ``main(argv)``, whether the command name is passed on)."""

_DISPATCH_HELP = {
    "bench": "run the benchmark harness (hpprune.bench)",
    "replay": "replay an audit log through another policy (hpprune.audit)",
    "backtest": "backtest policies on recorded curves (hpprune.audit)",
    "report": "write an HTML report of an audit log (hpprune.audit)",
    "import": "import curves from another tool into an audit log (hpprune.audit)",
}


class CliError(Exception):
    """A user error: printed as ``hpprune <cmd>: error: <message>``, exit code 2."""


# --------------------------------------------------------------------------- log folding
@dataclass
class TrialStory:
    """Everything an audit log says about one trial (built by :func:`fold_log`).

    Attributes:
        trial_id: The trial's id.
        params: Its hyperparameters (if logged).
        steps: Reported steps, in order.
        values: Reported values (None for non-finite reports).
        state: ``running``, ``completed``, ``stopped``, ``paused`` or ``failed``.
        events: Non-continue decisions (stop, pause, resume), in order.
        final_value: Value given at completion (None if none or not completed).
        fail_reason: Text of the fail record, for failed trials.
    """

    trial_id: str
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    state: str = "running"
    events: list[Decision] = field(default_factory=list)
    final_value: float | None = None
    fail_reason: str | None = None

    @property
    def last_step(self) -> int:
        """Last reported step (-1 if none)."""
        return self.steps[-1] if self.steps else -1

    @property
    def stop(self) -> Decision | None:
        """The STOP decision, if the trial was stopped."""
        for d in self.events:
            if d.action is Action.STOP:
                return d
        return None


@dataclass
class LogSummary:
    """A folded audit log.

    Attributes:
        path: The log file.
        header: Its ``study`` record.
        trials: Stories by trial id, in first-seen order.
    """

    path: Path
    header: dict[str, Any]
    trials: dict[str, TrialStory]

    @property
    def maximize(self) -> bool:
        """True when larger values are better."""
        return self.header.get("direction") == "maximize"

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b

    def best_value(self, story: TrialStory) -> float | None:
        """Best finite value the trial reported."""
        finite = [v for v in story.values if v is not None]
        if not finite:
            return None
        return max(finite) if self.maximize else min(finite)


def _num(x: Any) -> float | None:
    """Decode a logged number (non-finite values were written as strings)."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(float(x)) else None
    return None


def fold_log(path: str | Path) -> LogSummary:
    """Read an audit log into per-trial stories (works for any policy's log).

    Args:
        path: The JSON Lines audit log.

    Returns:
        The folded log. Non-finite reported values are kept as None.

    Raises:
        FileNotFoundError: If the file is missing.
        LogFormatError: If it is not an hpprune log.
    """
    p = Path(path)
    records = read_log(p)
    header = next(records, None)
    if header is None or header.get("kind") != "study":
        raise LogFormatError(f"{p} is not an hpprune audit log (no study record first)")
    trials: dict[str, TrialStory] = {}

    def story(tid: Any) -> TrialStory:
        key = str(tid)
        if key not in trials:
            trials[key] = TrialStory(key)
        return trials[key]

    for rec in records:
        kind = rec.get("kind")
        if "trial" not in rec:
            continue
        st = story(rec["trial"])
        try:
            if kind == "trial":
                st.params = dict(rec.get("params") or {})
            elif kind == "report":
                st.steps.append(int(rec["step"]))
                st.values.append(_num(rec.get("value")))
                dec = Decision.from_dict(rec["decision"])
                _apply(st, dec)
            elif kind == "decision":
                _apply(st, Decision.from_dict(rec["decision"]))
            elif kind == "complete":
                st.state = "completed"
                st.final_value = _num(rec.get("value"))
            elif kind == "fail":
                if st.state != "stopped":
                    st.state = "failed"
                st.fail_reason = str(rec.get("reason", "failed"))
        except (KeyError, TypeError, ValueError) as exc:
            raise LogFormatError(f"{p}: malformed {kind!r} record: {exc}") from None
    return LogSummary(p, header, trials)


def _apply(st: TrialStory, dec: Decision) -> None:
    if st.state == "stopped":
        return  # sticky: repeated STOP answers are not new events
    if dec.action is Action.CONTINUE:
        if st.state == "paused":
            st.state = "running"
        return
    st.events.append(dec)
    st.state = {Action.STOP: "stopped", Action.PAUSE: "paused", Action.RESUME: "running"}[
        dec.action
    ]


# --------------------------------------------------------------------------- explain
def _fmt(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(_fmt(v) for v in list(x)[:8])
        return f"[{inner}{', ...' if len(x) > 8 else ''}]"
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in x.items()) + "}"
    return str(x)


def _ordinal(q: float) -> str:
    n = f"{q:g}"
    if q != int(q):
        return f"{n}th"
    k = int(q)
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _evidence(ev: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in ev.items()) or "no evidence recorded"


def _why_percentile(ev: Mapping[str, Any], log: LogSummary, step: int) -> str:
    q = float(ev["percentile"])
    which = "the median" if q == 50.0 else f"the {_ordinal(q)} percentile"
    n = int(ev["n_peers"])
    return (
        f"best so far {_fmt(ev['best_so_far'])} was worse than {which} {_fmt(ev['cutoff'])} "
        f"of {n} completed trial{'s' if n != 1 else ''} at step {step}"
    )


def _why_non_finite(ev: Mapping[str, Any], log: LogSummary, step: int) -> str:
    return (
        f"it reported a non-finite value ({_fmt(ev.get('value'))}) at step {step}; such "
        f"values never enter other trials' statistics"
    )


_TEMPLATES: dict[str, Callable[[Mapping[str, Any], LogSummary, int], str]] = {
    Reason.BELOW_PERCENTILE: _why_percentile,
    Reason.NON_FINITE: _why_non_finite,
}
"""reason code -> sentence built from the evidence (KeyError falls back to the generic form)."""

_PHRASES: dict[str, str] = {
    Reason.HALVING_RUNG_CUT: "it was not among the trials promoted from its rung",
    Reason.THRESHOLD: "its value crossed the threshold",
    Reason.PATIENCE: "it stopped improving for longer than the patience allows",
    Reason.MIN_ACCURACY: "it stayed below the minimum accuracy floor",
    Reason.POSTERIOR_LOW: "the probability that it beats the incumbent was too low",
    Reason.BUDGET_EXHAUSTED: "the compute budget was used up",
    Reason.LOW_GAIN_PER_HOUR: "its expected gain per compute hour ranked below the cut",
}
"""Generic wording for reason codes without a numeric template."""


def explain_decision(dec: Decision, log: LogSummary) -> str:
    """One sentence on why ``dec`` was taken, in words and numbers.

    Args:
        dec: A STOP or PAUSE (or RESUME) decision from the log.
        log: The folded log (for the direction and peers).

    Returns:
        E.g. ``"trial 7 stopped at step 3 by MedianPruner (below_percentile):
        best so far 0.81 was worse than the median 0.88 of 6 completed trials
        at step 3"``.
    """
    verb = {Action.STOP: "stopped", Action.PAUSE: "paused", Action.RESUME: "resumed"}.get(
        dec.action, dec.action.value
    )
    head = f"trial {dec.trial_id} {verb} at step {dec.step} by {dec.rule} ({dec.reason})"
    ev = dict(dec.evidence)
    template = _TEMPLATES.get(dec.reason)
    if template is not None:
        try:
            return f"{head}: {template(ev, log, dec.step)}"
        except (KeyError, TypeError, ValueError):
            pass
    phrase = _PHRASES.get(dec.reason)
    if dec.action is Action.RESUME:
        return f"{head}" + (f": {_evidence(ev)}" if ev else "")
    if phrase is not None:
        return f"{head}: {phrase}; evidence: {_evidence(ev)}"
    return f"{head}; evidence: {_evidence(ev)}"


def _reference_steps(log: LogSummary) -> int | None:
    done = [s.last_step + 1 for s in log.trials.values() if s.state == "completed" and s.steps]
    return max(done) if done else None


def explain_trial(story: TrialStory, log: LogSummary) -> list[str]:
    """Lines explaining one trial's fate.

    Args:
        story: The trial.
        log: The folded log.

    Returns:
        One or more lines: the reason of each stop/pause/resume, or the
        trial's outcome when it was never stopped.
    """
    lines = [explain_decision(d, log) for d in story.events]
    full = _reference_steps(log)
    n_run = len(story.steps)
    if story.state == "stopped" and full is not None and n_run < full:
        lines.append(
            f"  it ran {n_run} of the {full} steps completed trials ran "
            f"({full - n_run} steps saved)"
        )
    if story.state == "completed":
        lines.append(
            f"trial {story.trial_id} completed at step {story.last_step} with value "
            f"{_fmt(_final_value(story))}" + ("" if story.events else "; no stop or pause decision")
        )
    elif story.state == "failed":
        lines.append(f"trial {story.trial_id} failed: {story.fail_reason}")
    elif story.state == "running" and not story.events:
        lines.append(
            f"trial {story.trial_id} is still running (last step {story.last_step}); "
            f"no stop or pause decision"
        )
    if story.params:
        lines.append(f"  params: {_short_params(story.params, 200)}")
    return lines


# --------------------------------------------------------------------------- tables
def _short_params(params: Mapping[str, Any], width: int = 44) -> str:
    text = " ".join(f"{k}={f'{v:.2g}' if isinstance(v, float) else v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


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
def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {n}")
    return n


def _nonneg_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {n}")
    return n


def _load(path: str) -> LogSummary:
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
            raise CliError(f"argument LOG: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"argument LOG: cannot read {path}: {exc}") from None
    for w in caught:  # e.g. a torn last line after a crash: say so, without a traceback
        sys.stderr.write(f"{PROG}: warning: {w.message}\n")
    return folded


def _prepare_demo_log(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        raise CliError(f"argument --log: {path} is a directory")
    if p.exists() and p.stat().st_size > 0:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                first = next(read_log(p), None)
        except (LogFormatError, OSError, UnicodeDecodeError):
            first = None
        if first is None or first.get("kind") != "study":
            raise CliError(
                f"argument --log: {path} exists and is not an hpprune audit log; "
                f"refusing to overwrite it"
            )
        p.unlink()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError as exc:
        raise CliError(f"argument --log: cannot write {path}: {exc.strerror or exc}") from None
    return p


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune demo``: tune an MLP on digits, print the table, write the log."""
    try:
        from hpprune import demo
    except ImportError as exc:  # pragma: no cover - scikit-learn missing
        raise CliError(
            f"the demo needs scikit-learn ({exc}); install it with: pip install 'hpprune[dev]'"
        ) from None
    log = _prepare_demo_log(args.log)
    try:
        loop = demo.demo_loop(n_workers=args.workers, log=log, seed=args.seed)
    except ImportError as exc:  # pragma: no cover - scikit-learn missing
        raise CliError(
            f"the demo needs scikit-learn ({exc}); install it with: pip install 'hpprune[dev]'"
        ) from None
    policy = loop.policy
    out.write(
        f"hpprune demo: MLPClassifier (SGD) on scikit-learn digits, {args.trials} trials x "
        f"up to {demo.N_EPOCHS} epochs, {args.workers} worker(s), policy {policy!r}\n"
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
                _short_params(t.params, 56),
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
    out.write(
        f"\nstopped {stops} of {n} trials ({stops / max(n, 1):.0%}), each with its reason and "
        f"evidence in the log; {result.n_completed} completed"
    )
    failed = result.counts.get("failed", 0)
    out.write(f", {failed} failed" if failed else "")
    out.write(f"; wall time {time.monotonic() - t0:.1f} s\n")
    best = result.best
    if best is not None:
        out.write(
            f"best: trial {best.number}, validation accuracy {best.value:.4f} "
            f"({_short_params(best.params, 200)})\n"
        )
    out.write(f"\naudit log: {log.resolve()}\nnext:\n")
    out.write(f"  {PROG} explain {args.log}            # why each trial was stopped\n")
    some = next((t for t in result.trials if t.decision is not None), None)
    if some is not None:
        out.write(f"  {PROG} explain {args.log} --trial {some.trial_id}\n")
    out.write(f"  {PROG} summary {args.log}            # fates, reasons, steps saved\n")
    if interrupted:
        out.write("interrupted: the log holds everything up to Ctrl-C\n")
        return 130
    return 0


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune explain LOG [--trial ID]``."""
    log = _load(args.log)
    if args.trial is not None:
        story = log.trials.get(args.trial)
        if story is None:
            known = list(log.trials)
            shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise CliError(
                f"argument --trial: no trial {args.trial!r} in {args.log} "
                f"(trials: {shown or 'none'})"
            )
        for line in explain_trial(story, log):
            out.write(line + "\n")
        return 0
    chosen = [s for s in log.trials.values() if s.events]
    if not chosen:
        out.write(f"no trial in {args.log} was stopped or paused ({len(log.trials)} trials)\n")
        return 0
    for story in chosen:
        for line in explain_trial(story, log):
            if not line.startswith("  params"):
                out.write(line + "\n")
    n_stop = sum(1 for s in chosen if s.state == "stopped")
    out.write(
        f"\n{n_stop} of {len(log.trials)} trials stopped; "
        f"`{PROG} explain {args.log} --trial ID` shows one trial with its parameters\n"
    )
    return 0


def cmd_summary(args: argparse.Namespace, out: TextIO) -> int:
    """``hpprune summary LOG``."""
    log = _load(args.log)
    header = log.header
    policy = header.get("policy", {})
    out.write(
        f"log: {log.path}\nstudy: {header.get('study') or '-'}  direction: "
        f"{header.get('direction', '?')}  policy: {_policy_text(policy)}\n"
    )
    fates = Counter(s.state for s in log.trials.values())
    order = ["completed", "stopped", "paused", "failed", "running"]
    out.write(
        f"trials: {len(log.trials)}  "
        + "  ".join(f"{k} {fates[k]}" for k in order if fates.get(k))
        + "\n"
    )
    reasons = Counter(
        (s.stop.reason, s.stop.rule) for s in log.trials.values() if s.stop is not None
    )
    pauses = Counter(
        (d.reason, d.rule)
        for s in log.trials.values()
        for d in s.events
        if d.action is Action.PAUSE
    )
    for title, counter in (("stop reasons", reasons), ("pause reasons", pauses)):
        if counter:
            out.write(f"{title}:\n")
            width = max(len(f"{r} ({rule})") for r, rule in counter)
            for (r, rule), n in counter.most_common():
                out.write(f"  {f'{r} ({rule})'.ljust(width)}  {n:>4}  {'#' * min(n, 50)}\n")
    run = sum(len(s.steps) for s in log.trials.values())
    full = _reference_steps(log)
    if full is None:
        out.write(f"steps run: {run} (no completed trial to estimate a no-pruning run)\n")
    else:
        need = full * len(log.trials)
        saved = need - run
        out.write(
            f"steps run: {run} of ~{need} a no-pruning run would need "
            f"({full} steps x {len(log.trials)} trials): {saved} saved ({saved / need:.0%})\n"
        )
    best = _best_trial(log)
    if best is None:
        out.write("best trial: none completed with a finite value\n")
    else:
        story, value = best
        out.write(
            f"best trial: {story.trial_id}  value {_fmt(value)} at step {story.last_step}"
            + (f"  ({_short_params(story.params, 200)})" if story.params else "")
            + "\n"
        )
    return 0


def _policy_text(policy: Any) -> str:
    if not isinstance(policy, Mapping):
        return "?"
    name = str(policy.get("type", "?")).rpartition(".")[2]
    params = policy.get("params") or {}
    if "policies" in params and isinstance(params["policies"], list):
        return f"{name}[{', '.join(_policy_text(p) for p in params['policies'])}]"
    inner = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
    return f"{name}({inner})"


def _final_value(story: TrialStory) -> float | None:
    """The completion value, else the last finite value reported (what the engine uses)."""
    if story.final_value is not None:
        return story.final_value
    finite = [v for v in story.values if v is not None]
    return finite[-1] if finite else None


def _best_trial(log: LogSummary) -> tuple[TrialStory, float] | None:
    best: tuple[TrialStory, float] | None = None
    for s in log.trials.values():
        if s.state != "completed":
            continue
        value = _final_value(s)
        if value is None:
            continue
        if best is None or log.better(value, best[1]):
            best = (s, value)
    return best


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
    sub.required = True
    demo = sub.add_parser(
        "demo",
        help="tune a small scikit-learn network with pruning and write an audit log",
        description="Tune an MLPClassifier on scikit-learn's digits, epoch by epoch, "
        "stopping hopeless trials; print a table of trials and write the audit log.",
    )
    demo.add_argument("--trials", type=_positive_int, default=40, help="trials (default 40)")
    demo.add_argument("--workers", type=_positive_int, default=2, help="worker threads (default 2)")
    demo.add_argument(
        "--log",
        default="hpprune-demo.jsonl",
        help="audit log to write; an existing hpprune log there is replaced "
        "(default ./hpprune-demo.jsonl)",
    )
    demo.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    explain = sub.add_parser(
        "explain",
        help="say why each trial was stopped or paused",
        description="For each stopped or paused trial (or the one given), say which rule "
        "decided, why, and with which numbers.",
    )
    explain.add_argument("log", metavar="LOG", help="audit log (JSON Lines)")
    explain.add_argument("--trial", metavar="ID", help="explain only this trial")
    explain.set_defaults(func=cmd_explain)

    summary = sub.add_parser(
        "summary",
        help="fates, stop reasons, steps saved and the best trial of a log",
        description="Count trials by fate and stop reason, compare the steps run with a "
        "no-pruning run, and show the best trial.",
    )
    summary.add_argument("log", metavar="LOG", help="audit log (JSON Lines)")
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
    if args_list and args_list[0] in DISPATCH:
        return _dispatch(args_list[0], args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return _exit_code(exc.code)
    func: Callable[[argparse.Namespace, TextIO], int] = args.func
    try:
        return func(args, sys.stdout)
    except CliError as exc:
        sys.stderr.write(f"{PROG} {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
