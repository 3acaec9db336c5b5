"""Plain-text explanations of an audit log, rendered from its facts.

The facts come from :mod:`hpprune.audit.facts` (one fold of the log);
:func:`describe_decision`, :func:`explain_trial` and :func:`summarise` only turn
them into words and numbers. They cover stops, pauses, resumes and compute
budgets. Values are printed on the user's metric scale, rounded to 4
significant digits; non-finite values are printed as logged (``nan``, ``inf``).
The fold's names are re-exported here for callers of earlier versions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from hpprune.audit.facts import (
    FATES,
    LogFacts,
    RecordsArg,
    TrialFacts,
    as_facts,
    decode_number,
    find_budget_s,
    fold_log,
    load_records,
    summary_dict,
    trial_facts,
)
from hpprune.types import Action, Decision, Reason

__all__ = [
    "FATES",
    "LogFacts",
    "RecordsArg",
    "TrialFacts",
    "as_facts",
    "decode_number",
    "describe_decision",
    "explain_trial",
    "find_budget_s",
    "fmt",
    "fold_log",
    "load_records",
    "one_line",
    "params_text",
    "policy_text",
    "summarise",
    "summary_dict",
    "trial_dict",
]


# ------------------------------------------------------------------------ text
_BREAKS_AS = {ord(c): f"\\u{ord(c):04x}" for c in "\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: object) -> str:
    """``text`` as one line: a line break or tab a log carries is shown as ``\\uNNNN``.

    A crafted reason, rule, parameter or study name cannot add a line that
    looks like another trial's sentence.
    """
    return str(text).translate(_BREAKS_AS)


def fmt(x: Any) -> str:
    """Format a number, list or mapping for a sentence (4 significant digits; NaN as ``nan``)."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    if isinstance(x, (list, tuple)):
        inner = ", ".join(fmt(v) for v in list(x)[:8])
        return f"[{inner}{', ...' if len(x) > 8 else ''}]"
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{one_line(k)}: {fmt(v)}" for k, v in x.items()) + "}"
    return one_line(x)


def params_text(params: Mapping[str, Any], width: int = 200) -> str:
    """``k=v, k=v`` for hyperparameters, cut to ``width`` characters with an ellipsis."""
    text = ", ".join(f"{one_line(k)}={fmt(v)}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _ordinal(q: float) -> str:
    if q != int(q):
        return f"{q:g}th"
    k = int(q)
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _why_percentile(ev: Mapping[str, Any], step: int) -> str:
    q = float(ev["percentile"])
    which = "the median" if q == 50.0 else f"the {_ordinal(q)} percentile"
    n = int(ev["n_peers"])
    return (
        f"best so far {fmt(ev['best_so_far'])} was worse than {which} {fmt(ev['cutoff'])} "
        f"of {n} completed trial{'s' if n != 1 else ''} at step {step}"
    )


def _why_non_finite(ev: Mapping[str, Any], step: int) -> str:
    return (
        f"it reported a non-finite value ({fmt(ev['value'])}) at step {step}; such values "
        f"never enter other trials' statistics"
    )


def _why_non_finite_ignored(ev: Mapping[str, Any], step: int) -> str:
    return f"it reported a non-finite value ({fmt(ev['value'])}) at step {step}, which was ignored"


def _why_posterior(ev: Mapping[str, Any], step: int) -> str:
    text = (
        f"the probability that it ends better than the incumbent {fmt(ev['incumbent'])} was "
        f"{fmt(ev['p_improve'])}, below alpha {fmt(ev['alpha'])}"
    )
    if "predicted_mean" in ev and "predicted_std" in ev:
        peers = f" from {ev['n_peers']} peers" if "n_peers" in ev else ""
        text += f"; predicted final {fmt(ev['predicted_mean'])} ± {fmt(ev['predicted_std'])}{peers}"
    return text


def _standing(ev: Mapping[str, Any]) -> str:
    return (
        f"at rung {ev['rung']} (step {ev['rung_resource']}) its value {fmt(ev['value'])} ranked "
        f"{ev['rank']} of {ev['n_competitors']}; the best {ev['n_promoted']} go on "
        f"(cutoff {fmt(ev['cutoff'])})"
    )


def _why_rung_cut(ev: Mapping[str, Any], step: int) -> str:
    return _standing(ev)


def _why_bootstrap(ev: Mapping[str, Any], step: int) -> str:
    return f"{_standing(ev)}; fewer than {ev['bootstrap_count']} trials had reached the rung"


def _why_rung_paused(ev: Mapping[str, Any], step: int) -> str:
    return (
        f"{_standing(ev)}. It keeps its checkpoint and is resumed when it ranks within the "
        f"best {ev['n_promoted']} of its rung as more trials reach it"
    )


def _why_resumed(ev: Mapping[str, Any], step: int) -> str:
    why = {
        Reason.PROMOTED: "it now ranks among the trials promoted from its rung",
        Reason.BELOW_FIRST_RUNG: "the first rung moved above the step where it was paused",
    }.get(str(ev["why"]), str(ev["why"]))
    rest = {k: v for k, v in ev.items() if k != "why"}
    return why + (f"; {_evidence(rest)}" if rest else "")


def _why_gain(ev: Mapping[str, Any], step: int) -> str:
    return f"its expected gain per compute hour ({fmt(ev['gain_per_hour'])}) ranked below the cut"


def _why_external(ev: Mapping[str, Any], step: int) -> str:
    return f"{ev['source']} stopped it; the imported log records no reason"


_TEMPLATES: dict[str, Callable[[Mapping[str, Any], int], str]] = {
    Reason.BELOW_PERCENTILE: _why_percentile,
    Reason.NON_FINITE: _why_non_finite,
    Reason.NON_FINITE_IGNORED: _why_non_finite_ignored,
    Reason.POSTERIOR_LOW: _why_posterior,
    Reason.HALVING_RUNG_CUT: _why_rung_cut,
    Reason.HALVING_BOOTSTRAP: _why_bootstrap,
    Reason.RUNG_PAUSED: _why_rung_paused,
    Reason.LOW_GAIN_PER_HOUR: _why_gain,
    Reason.EXTERNAL: _why_external,
}
"""reason code -> sentence built from the evidence (KeyError etc. fall back to the phrase)."""

_PHRASES: dict[str, str] = {
    Reason.HALVING_RUNG_CUT: "it was not among the trials promoted from its rung",
    Reason.THRESHOLD: "its value crossed the threshold",
    Reason.PATIENCE: "it stopped improving for longer than the patience allows",
    Reason.MIN_ACCURACY: "it stayed below the minimum accuracy floor",
    Reason.POSTERIOR_LOW: "the probability that it beats the incumbent was too low",
    Reason.BUDGET_EXHAUSTED: "the compute budget was used up",
    Reason.LOW_GAIN_PER_HOUR: "its expected gain per compute hour ranked below the cut",
}
"""Wording for reason codes whose evidence lacks a template's numbers."""

_VERBS = {Action.STOP: "stopped", Action.PAUSE: "paused", Action.RESUME: "resumed"}


def _evidence(ev: Mapping[str, Any]) -> str:
    return ", ".join(f"{one_line(k)}={fmt(v)}" for k, v in ev.items())


def describe_decision(decision: Decision) -> str:
    """One sentence on why a decision was made, in words and numbers.

    A numeric template is used when the reason has one and the evidence holds
    its numbers; else a fixed phrase for known reasons plus the raw evidence;
    else the raw evidence alone. RESUME decisions list their evidence.

    Args:
        decision: Any decision (evidence values are on the user's scale; non-finite
            values are printed as they were logged, e.g. ``NaN``).

    Returns:
        E.g. ``"trial 7 stopped at step 3 by MedianPruner (below_percentile): best so
        far 0.81 was worse than the median 0.88 of 6 completed trials at step 3"``.
    """
    verb = _VERBS.get(decision.action, decision.action.value)
    head = (
        f"trial {decision.trial_id} {verb} at step {decision.step} by {one_line(decision.rule)} "
        f"({one_line(decision.reason)})"
    )
    ev = dict(decision.evidence)
    if decision.action is Action.RESUME:
        if "why" in ev:
            return f"{head}: {_why_resumed(ev, decision.step)}"
        return head + (f": {_evidence(ev)}" if ev else "")
    template = _TEMPLATES.get(decision.reason)
    if template is not None:
        try:
            return f"{head}: {template(ev, decision.step)}"
        except (KeyError, TypeError, ValueError):
            pass
    tail = f"; evidence: {_evidence(ev)}" if ev else ""
    phrase = _PHRASES.get(decision.reason)
    return f"{head}: {phrase}{tail}" if phrase is not None else head + tail


def _compute_text(seconds: float | None, unit: str = "s") -> str:
    if seconds is None:
        return "unknown"
    if unit != "s":
        return f"{seconds:.0f} steps"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds:.1f} s"


def _outcome(t: TrialFacts) -> str | None:
    """The sentence on a trial's fate (None for a stop: its decision says it all)."""
    tid = t.trial_id
    if t.state == "completed":
        return f"trial {tid} completed at step {t.last_step} with value {fmt(t.final_value)}" + (
            "" if t.events else "; no stop or pause decision"
        )
    if t.state == "failed":
        return f"trial {tid} failed: {one_line(t.fail_reason)}"
    if t.state == "paused":
        return f"trial {tid} is still paused at the end of the log (it may be resumed later)"
    if t.state == "stale":
        return f"trial {tid} is stale: its worker stopped reporting; its values left the peer pools"
    if t.state == "running" and not t.events:
        return f"trial {tid} is still running (last step {t.last_step}); no stop or pause decision"
    return None


def explain_trial(
    log: RecordsArg | LogFacts, trial_id: object, *, brief: bool = False, params: bool = True
) -> str:
    """Explain, in words and numbers, what happened to one trial and why.

    Every STOP, PAUSE and RESUME gets a sentence (see :func:`describe_decision`); a
    stopped trial also gets the steps it saved against a completed trial, and every
    trial its fate. The full form adds a heading, its reports, pause/resume counts,
    the compute it used and (when the log names one) the budget.

    Args:
        log: A log path, its records, or a :class:`LogFacts`.
        trial_id: The trial (ints are turned into strings).
        brief: Only the decisions, steps saved, fate and parameters (what
            ``hpprune explain`` prints).
        params: Include the hyperparameters line.

    Returns:
        A multi-line explanation.

    Raises:
        ValueError: If the trial is not in the log (the message lists its trials).
        LogFormatError: If the log is malformed.

    Non-finite reports are counted as such and never count as best values.
    """
    facts = as_facts(log)
    tid = str(trial_id)
    t = facts.trials.get(tid)
    if t is None:
        known = list(facts.trials)
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise ValueError(f"trial {tid!r} is not in the log (trials: {shown or 'none'})")
    pad = "" if brief else "  "
    decisions = [pad + describe_decision(ev) for ev in t.events]
    full = facts.full_run_steps()
    if t.state == "stopped" and full is not None and t.n_reports < full:
        n_run = t.n_reports
        decisions.append(
            f"{pad}  it ran {n_run} of the {full} steps completed trials ran "
            f"({full - n_run} steps saved)"
        )
    outcome = _outcome(t)
    fate = [] if outcome is None else [pad + outcome]
    param_line = [f"  params: {params_text(t.params)}"] if params and t.params else []
    if brief:
        return "\n".join(decisions + fate + param_line)
    lines = [f"trial {tid}: {t.state}", *param_line]
    if t.steps:
        n_bad = sum(1 for v in t.values if not math.isfinite(v))
        lines.append(
            f"  reported {len(t.steps)} step(s) from {t.steps[0]} to {t.steps[-1]}; "
            f"best value {fmt(t.best_value(facts.direction))}, last value {fmt(t.values[-1])}"
            + (f"; {n_bad} non-finite report(s)" if n_bad else "")
            + (f"; {len(t.late)} more reported out of order" if t.late else "")
        )
    else:
        lines.append("  reported nothing")
    lines += decisions
    if t.n_pauses or t.n_resumes:
        lines.append(f"  paused {t.n_pauses} time(s), resumed {t.n_resumes} time(s)")
    lines.append(f"  compute used: {_compute_text(t.compute_s)}")
    lines += fate
    best_trial = facts.best_trial()
    if best_trial is not None and best_trial.trial_id == tid:
        lines.append("  this is the best trial of the study")
    if facts.budget_s is not None and facts.compute_unit == "s":
        total = facts.total_compute()
        share = (t.compute_s or 0.0) / facts.budget_s
        lines.append(
            f"  budget: {_compute_text(facts.budget_s)}, study used {_compute_text(total)} "
            f"({total / facts.budget_s:.0%}); this trial {share:.1%} of it"
        )
    return "\n".join(lines)


def policy_text(policy: Mapping[str, Any]) -> str:
    """The recorded policy as a SPEC (``median:n_startup_trials=5``) usable by ``replay``.

    Args:
        policy: The ``{"type": ..., "params": ...}`` object of a log header.

    Returns:
        The SPEC; for an imported study, which tool decided; for a policy that
        cannot be rebuilt here, its type and parameters.
    """
    from hpprune.audit.spec import load_policy, to_spec

    try:
        pol = load_policy(policy)
    except (ValueError, TypeError, KeyError):
        return f"{one_line(policy.get('type', '?'))} {fmt(policy.get('params', {}))}"
    if getattr(pol, "is_external", False):
        return f"external ({pol.params().get('source', '?')}): decisions imported, no reasons"
    return to_spec(pol)


def _reason_table(facts: LogFacts, action: Action) -> list[str]:
    counts = Counter(
        (one_line(d.reason), one_line(d.rule))
        for t in facts.trials.values()
        for d in t.events
        if d.action is action
    )
    if not counts:
        return []
    width = max(len(f"{r} ({rule})") for r, rule in counts)
    return [f"{action.value} reasons:"] + [
        f"  {f'{r} ({rule})'.ljust(width)}  {n:>4}  {'#' * min(n, 50)}"
        for (r, rule), n in counts.most_common()
    ]


def summarise(log: RecordsArg | LogFacts) -> str:
    """A plain-text summary of a study (what ``hpprune summary`` prints).

    Fates, the reasons of stops, pauses and resumes (with the rule that decided),
    the steps pruning saved against a no-pruning run, compute and budget, and the
    best trial.

    Args:
        log: A log path, its records, or a :class:`LogFacts`.

    Returns:
        A multi-line summary.

    Raises:
        LogFormatError: If the log is malformed.

    Non-finite values never count as best values.
    """
    facts = as_facts(log)
    s = summary_dict(facts)
    fates = [f"{k} {v}" for k, v in s["fates"].items() if v]
    lines = [
        f"study: {one_line(s['study'] or '-')}  direction: {s['direction']}  "
        f"policy: {policy_text(facts.policy)}",
        "  ".join([f"trials: {s['n_trials']}", *fates, f"({s['n_reports']} reports)"]),
    ]
    for action in (Action.STOP, Action.PAUSE, Action.RESUME):
        lines += _reason_table(facts, action)
    if s["stop_steps"]:
        st = s["stop_steps"]
        lines.append(f"stop steps: min {st['min']}, median {st['median']}, max {st['max']}")
    if s["pauses"] or s["resumes"]:
        lines.append(f"pauses: {s['pauses']}, resumes: {s['resumes']}")
    run, full = s["steps_run"], s["full_run_steps"]
    if full is None:
        lines.append(f"steps run: {run} (no completed trial to estimate a no-pruning run)")
    else:
        need = full * s["n_trials"]
        lines.append(
            f"steps run: {run} of ~{need} a no-pruning run would need "
            f"({full} steps x {s['n_trials']} trials): {need - run} saved "
            f"({(need - run) / need:.0%})"
        )
    if s["compute_unit"] == "s":
        lines.append(f"compute spent: {_compute_text(s['compute'])}")
    if s["budget_s"] is not None:
        used = s["budget_used"]
        lines.append(
            f"budget: {_compute_text(s['budget_s'])}"
            + (f" ({used:.0%} used)" if used is not None else " (no timing data in the log)")
        )
    best = facts.best_trial()
    if best is None:
        lines.append("best trial: none completed with a finite value")
    else:
        lines.append(
            f"best trial: {best.trial_id}  value {fmt(best.final_value)} at step {best.last_step}"
            + (f"  ({params_text(best.params)})" if best.params else "")
        )
    return "\n".join(lines)


def trial_dict(log: RecordsArg | LogFacts, trial_id: object) -> dict[str, Any]:
    """:func:`~hpprune.audit.facts.trial_facts` plus ``text``: the sentence for each decision.

    Args:
        log: A log path, its records, or a :class:`LogFacts`.
        trial_id: The trial.

    Returns:
        What ``hpprune explain --json`` prints for the trial.

    Raises:
        ValueError: If the trial is not in the log.
    """
    facts = as_facts(log)
    out = trial_facts(facts, trial_id)
    out["text"] = [describe_decision(d) for d in facts.trials[str(trial_id)].events]
    return out
