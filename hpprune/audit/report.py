"""``hpprune report``: one self-contained, interactive HTML file for an audit log.

The file needs no network and no extra package: the data is embedded as JSON and
drawn by a small inline script on ``<canvas>`` elements. It shows

* the learning curves coloured by fate (completed, stopped, paused, failed,
  stale, running), with a cross at every stop, the best trial highlighted, a
  tooltip on hover and a click that finds the trial in the table;
* the step and reason of every stop (one row of dots per reason);
* the survivors (completed trials ranked by final value);
* the compute spent over the course of the study against the budget, when the
  log names one (or one is given);
* a histogram of the reasons of every decision other than CONTINUE;
* a sortable, filterable per-trial table with each stop's evidence.

Summary numbers are also written as static HTML, so they read without
JavaScript. Curves are downsampled for drawing (at most ``max_points`` points in
total, at least 12 per trial, always keeping each curve's first, best and last
point), so a 10,000-trial log renders in seconds. Non-finite reported values
(NaN, ±inf) are not drawn; they are counted per trial in the table.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from hpprune.audit.calibration_view import calibration_view
from hpprune.audit.explain import (
    FATES,
    LogFacts,
    RecordsArg,
    as_facts,
    fmt,
    load_records,
    policy_text,
)
from hpprune.audit.outputs import write_text
from hpprune.types import Action, Decision, jsonable

__all__ = ["build_report", "write_report"]

DEFAULT_MAX_POINTS = 250_000
"""Default cap on the number of curve points embedded for drawing."""

MAX_PARAMS = 24
"""Hyperparameters drawn against the outcome at most (the first ones by name)."""

_DRAWN_EVIDENCE = (
    "cutoff",
    "rung_resource",
    "value",
    "best_so_far",
    "predicted_mean",
    "predicted_std",
    "incumbent",
    "credible_bound",
    "threshold",
)
"""Evidence numbers the trial detail draws against the curve (when a decision has them)."""


def _asset(name: str) -> str:
    """A file of the report's page (HTML, CSS, JS), shipped as package data."""
    return (resources.files("hpprune.audit") / "report_assets" / name).read_text("utf-8")


def _r(x: float | None) -> float | None:
    """Round for embedding (6 significant digits); non-finite -> None."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def _pick(n: int, k: int, must: tuple[int, ...]) -> list[int]:
    """Indices of a downsampled curve: ``k`` evenly spaced plus ``must`` (sorted, unique)."""
    if n <= k:
        return list(range(n))
    step = (n - 1) / (k - 1)
    idx = {round(i * step) for i in range(k)}
    idx.update(i for i in must if 0 <= i < n)
    return sorted(idx)


def _series(values: list[float], max_len: int) -> tuple[list[int], list[float | None]]:
    n = len(values)
    idx = _pick(n, max_len, (n - 1,)) if n else []
    return [i + 1 for i in idx], [_r(values[i]) for i in idx]


def _is_number(x: Any) -> bool:
    """A finite float, or an int that converts to one (a huge int is not a number here)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int beyond the largest float
        return False


def _deciding(stop: Decision | None, events: list[Decision]) -> Decision | None:
    """The decision a trial's row explains: its STOP, else its latest PAUSE."""
    if stop is not None:
        return stop
    pauses = [e for e in events if e.action is Action.PAUSE]
    return pauses[-1] if pauses else None


def _log_scale(name: str, values: list[float], space: Mapping[str, Any] | None) -> bool:
    """Log axis for a parameter: as its space says, else when positive values span 100x."""
    if space is not None and name in space:
        dist = space[name]
        return type(dist).__name__ == "LogUniform" or bool(getattr(dist, "log", False))
    return bool(values) and min(values) > 0 and max(values) >= 100 * min(values)


def _param_columns(trials: list[Any], space: Mapping[str, Any] | None) -> dict[str, Any]:
    """Each hyperparameter's value per trial, its kind (numeric/categorical) and axis scale."""
    names = sorted({k for t in trials for k in t.params})
    columns: list[dict[str, Any]] = []
    for name in names[:MAX_PARAMS]:
        raw = [t.params.get(name) for t in trials]
        numbers = [v for v in raw if _is_number(v)]
        numeric = len(numbers) == sum(1 for v in raw if v is not None) and bool(numbers)
        if numeric:
            values: list[Any] = [_r(float(v)) if _is_number(v) else None for v in raw]
            log = _log_scale(name, [float(v) for v in numbers], space)
            columns.append({"name": name, "kind": "num", "log": log, "values": values})
        else:
            text = [None if v is None else fmt(v) for v in raw]
            cats = sorted({v for v in text if v is not None})
            columns.append({"name": name, "kind": "cat", "log": False, "values": text,
                            "categories": cats[:50]})  # fmt: skip
    return {"columns": columns, "n_names": len(names)}


def _payload(
    facts: LogFacts,
    budget_s: float | None,
    max_points: int,
    title: str,
    space: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    d = facts.direction
    trials = list(facts.trials.values())
    n = len(trials)
    per_curve = max(12, min(400, max_points // max(n, 1)))
    reasons: list[str] = []
    reason_index: dict[str, int] = {}

    def ridx(reason: str) -> int:
        if reason not in reason_index:
            reason_index[reason] = len(reasons)
            reasons.append(reason)
        return reason_index[reason]

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "id", "fate", "n", "last_step", "best", "final", "stop_step", "reason", "rule",
            "compute", "evidence", "params", "pauses", "resumes", "n_bad", "xs", "ys", "marks",
            "drawn", "decided",
        )
    }  # fmt: skip
    downsampled = False
    for t in trials:
        finite = [i for i, v in enumerate(t.values) if math.isfinite(v)]
        best_i = min(finite, key=lambda i: d.to_score(t.values[i])) if finite else None
        must = (0, len(finite) - 1) + ((finite.index(best_i),) if best_i is not None else ())
        keep = _pick(len(finite), per_curve, must)
        downsampled = downsampled or len(keep) < len(finite)
        cols["id"].append(t.trial_id)
        cols["fate"].append(FATES.index(t.state))
        cols["n"].append(t.n_reports)
        cols["last_step"].append(t.last_step)
        cols["best"].append(_r(t.best_value(d)))
        cols["final"].append(_r(t.final_value))
        cols["stop_step"].append(t.stop.step if t.stop is not None else None)
        cols["reason"].append(ridx(t.stop.reason) if t.stop is not None else -1)
        cols["rule"].append(t.stop.rule if t.stop is not None else "")
        cols["compute"].append(_r(t.compute_s))
        deciding = _deciding(t.stop, t.events)
        ev = dict(deciding.evidence) if deciding is not None else {}
        cols["evidence"].append([[str(k), fmt(v)] for k, v in ev.items()])
        cols["drawn"].append(
            {k: _r(float(ev[k])) for k in _DRAWN_EVIDENCE if _is_number(ev.get(k))}
        )
        cols["decided"].append(
            [deciding.step, deciding.action.value, deciding.reason, deciding.rule]
            if deciding is not None
            else None
        )
        cols["params"].append([[str(k), fmt(v)] for k, v in t.params.items()])
        cols["pauses"].append(t.n_pauses)
        cols["resumes"].append(t.n_resumes)
        cols["n_bad"].append(len(t.values) - len(finite))
        cols["xs"].append([t.steps[finite[i]] for i in keep])
        cols["ys"].append([_r(t.values[finite[i]]) for i in keep])
        marks = [
            [e.step, e.action.value] for e in t.events if e.action in (Action.PAUSE, Action.RESUME)
        ]
        cols["marks"].append(marks[:50])

    budget = budget_s if budget_s is not None else facts.budget_s
    cx, cy = _series(facts.compute, 4000)
    budget_marks = []
    for t in trials:
        for e in t.events:
            if e.reason == "budget_exhausted":
                budget_marks.append(e.step)
    best = facts.best_trial()
    counts = facts.counts()
    return {
        "title": title,
        "fates": list(FATES),
        "meta": {
            "study": facts.study_name,
            "policy": policy_text(facts.policy),
            "policy_raw": jsonable(dict(facts.policy)),
            "direction": d.value,
            "non_finite": facts.header.get("non_finite"),
            "started_at": facts.header.get("started_at"),
            "versions": jsonable(facts.header.get("versions", {})),
            "source": jsonable(facts.header.get("source")),
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_trials": n,
            "n_reports": facts.n_reports,
            "counts": counts,
            "best_id": best.trial_id if best else None,
            "best_value": _r(best.final_value) if best else None,
            "compute_unit": facts.compute_unit,
            "total_compute": _r(facts.total_compute()),
            "budget": _r(budget) if facts.compute_unit == "s" else None,
            "budget_marks": len(budget_marks),
            "downsampled": downsampled,
            "per_curve": per_curve,
            "final_step": max(
                (t.last_step for t in trials if t.state == "completed"), default=None
            ),
        },
        "reasons": reasons,
        "reason_counts": facts.reason_counts(),
        "params": _param_columns(trials, space),
        "compute": {"x": cx, "y": cy},
        "trials": cols,
    }


def _static_summary(p: dict[str, Any]) -> str:
    m = p["meta"]
    e = html.escape

    def card(label: str, value: Any, cls: str = "") -> str:
        return (
            f'<div class="card {cls}"><div class="v">{e(str(value))}</div>'
            f'<div class="l">{e(label)}</div></div>'
        )

    unit = m["compute_unit"]
    total = m["total_compute"] or 0.0
    compute = (
        f"{total / 3600:.2f} h"
        if unit == "s" and total >= 3600
        else (f"{total:.1f} s" if unit == "s" else f"{total:.0f} steps")
    )
    cards = [card("trials", m["n_trials"]), card("reports", m["n_reports"])]
    cards += [
        card(f, m["counts"][f], f) for f in FATES if m["counts"][f] or f in ("completed", "stopped")
    ]
    cards.append(card("compute", compute))
    if m["budget"] is not None:
        used = total / m["budget"] if m["budget"] else 0.0
        cards.append(card("of budget used", f"{used:.0%}"))
    if m["best_id"] is not None:
        cards.append(card(f"best trial ({m['best_id']})", m["best_value"], "best"))
    rows = "".join(
        f"<tr><td>{e(k)}</td><td class=num>{v}</td></tr>" for k, v in p["reason_counts"].items()
    )
    reasons = (
        f'<table class="mini"><tr><th>decision:reason</th><th>count</th></tr>{rows}</table>'
        if rows
        else "<p>No decision other than CONTINUE was recorded.</p>"
    )
    src = m["source"]
    source = ""
    if isinstance(src, dict):
        source = " · imported from " + e(", ".join(f"{k}={v}" for k, v in src.items()))
    return (
        f'<p class="sub">policy <code>{e(m["policy"])}</code> · direction {e(m["direction"])}'
        f" · non-finite values: {e(str(m['non_finite']))}"
        f" · started {e(str(m['started_at']))}{source}</p>"
        f'<div class="cards">{"".join(cards)}</div>'
        f'<details class="static"><summary>Reasons (static table)</summary>{reasons}</details>'
    )


def build_report(
    log: RecordsArg | LogFacts,
    *,
    budget_s: float | None = None,
    title: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    space: Mapping[str, Any] | None = None,
) -> str:
    """Render the HTML report of a log.

    Args:
        log: A log path, its records, or a :class:`~hpprune.audit.explain.LogFacts`.
        budget_s: Compute budget in seconds to draw (default: the one the log
            names, if any).
        title: Page title (default: from the study name).
        max_points: Cap on curve points embedded for drawing.
        space: The search space (``{name: hpprune.space distribution}``), when
            known: its log-scaled parameters get a log axis. Without it a
            numeric parameter whose positive values span 100x or more does.

    Returns:
        The complete HTML document (no external resources).

    Raises:
        ValueError: If ``budget_s`` or ``max_points`` is not positive.
        LogFormatError: If the log is malformed.

    Non-finite values are not drawn; each trial's count of them is in the table.
    """
    if budget_s is not None and not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"expected a finite number > 0 for `budget_s`, got {budget_s!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1000:
        raise ValueError(f"expected an int >= 1000 for `max_points`, got {max_points!r}")
    records = None if isinstance(log, LogFacts) else load_records(log)
    facts = as_facts(log if records is None else records)
    name = facts.study_name or "study"
    page_title = title or f"hpprune report: {name}"
    payload = _payload(facts, budget_s, max_points, page_title, space)
    # The posterior's calibration on the study's completed trials (needs the records).
    payload["calibration"] = None if records is None else calibration_view(records).to_dict()
    blob = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    blob = blob.replace("<", "\\u003c")  # no "</script>" or "<!--" inside the data block
    # One pass over the page's own template: the inserted texts are never scanned
    # again, so a study name or parameter that looks like a slot stays data.
    return Template(_asset("report.html")).substitute(
        title=html.escape(page_title),
        static=_static_summary(payload),
        css=_asset("report.css"),
        js=_asset("report.js"),
        data=blob,
    )


def write_report(
    log: RecordsArg | LogFacts,
    out: str | os.PathLike[str],
    *,
    budget_s: float | None = None,
    title: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    space: Mapping[str, Any] | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write the HTML report of a log to ``out`` (see :func:`build_report`).

    Args:
        log: A log path, its records, or LogFacts.
        out: The HTML file to write (parent folders are created).
        budget_s: Compute budget in seconds to draw.
        title: Page title.
        max_points: Cap on curve points embedded for drawing.
        space: The search space, when known (log axes for its log parameters).
        inputs: More files the report was read from (a database's file),
            which ``out`` must not replace; a log path is one already.

    Returns:
        The path written.

    Raises:
        ValueError: For a bad ``budget_s``/``max_points``, or ``out`` being
            one of the inputs.
        LogFormatError: If the log is malformed.
    """
    text = build_report(log, budget_s=budget_s, title=title, max_points=max_points, space=space)
    read = [log] if isinstance(log, (str, os.PathLike)) else []
    return write_text(out, text, inputs=[*read, *inputs])  # atomic; never over what it reads
