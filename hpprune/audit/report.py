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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hpprune.audit.explain import FATES, LogFacts, RecordsArg, as_facts, policy_text
from hpprune.types import Action, jsonable

__all__ = ["build_report", "write_report"]

DEFAULT_MAX_POINTS = 250_000
"""Default cap on the number of curve points embedded for drawing."""


def _r(x: float | None) -> float | None:
    """Round for embedding (6 significant digits); non-finite -> None."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def _short(obj: Any) -> Any:
    """Floats to 6 significant digits, recursively (for display only)."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _short(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_short(v) for v in obj]
    return obj


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


def _payload(
    facts: LogFacts, budget_s: float | None, max_points: int, title: str
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
        cols["evidence"].append(
            json.dumps(jsonable(dict(t.stop.evidence)), separators=(", ", ": "))
            if t.stop is not None and t.stop.evidence
            else ""
        )
        cols["params"].append(
            json.dumps(_short(jsonable(t.params)), separators=(", ", ": "))[:300]
            if t.params
            else ""
        )
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
        },
        "reasons": reasons,
        "reason_counts": facts.reason_counts(),
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
) -> str:
    """Render the HTML report of a log.

    Args:
        log: A log path, its records, or a :class:`~hpprune.audit.explain.LogFacts`.
        budget_s: Compute budget in seconds to draw (default: the one the log
            names, if any).
        title: Page title (default: from the study name).
        max_points: Cap on curve points embedded for drawing.

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
    facts = as_facts(log)
    name = facts.study_name or "study"
    page_title = title or f"hpprune report: {name}"
    payload = _payload(facts, budget_s, max_points, page_title)
    blob = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    blob = blob.replace("<", "\\u003c")  # no "</script>" or "<!--" inside the data block
    return (
        _TEMPLATE.replace("__TITLE__", html.escape(page_title))
        .replace("__STATIC__", _static_summary(payload))
        .replace("__CSS__", _CSS)
        .replace("__JS__", _JS)
        .replace("__DATA__", blob)
    )


def write_report(
    log: RecordsArg | LogFacts,
    out: str | os.PathLike[str],
    *,
    budget_s: float | None = None,
    title: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> Path:
    """Write the HTML report of a log to ``out`` (see :func:`build_report`).

    Args:
        log: A log path, its records, or LogFacts.
        out: The HTML file to write (parent folders are created).
        budget_s: Compute budget in seconds to draw.
        title: Page title.
        max_points: Cap on curve points embedded for drawing.

    Returns:
        The path written.

    Raises:
        ValueError: For a bad ``budget_s``/``max_points``.
        LogFormatError: If the log is malformed.
    """
    text = build_report(log, budget_s=budget_s, title=title, max_points=max_points)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__CSS__</style></head>
<body data-status="loading">
<header><h1>__TITLE__</h1>__STATIC__</header>
<noscript><p class="warn">The charts and the trial table need JavaScript.</p></noscript>
<pre id="hp-errors" class="warn" hidden></pre>
<section><h2>Learning curves by fate</h2>
<div class="controls" id="hp-legend"></div>
<div class="plot"><canvas id="hp-curves"></canvas>
<canvas id="hp-curves-over" class="over"></canvas>
<div id="hp-tip" class="tip" hidden></div></div>
<p class="note" id="hp-curves-note"></p></section>
<div class="two">
<section><h2>Stops: step and reason</h2><div class="plot"><canvas id="hp-stops"></canvas></div>
<p class="note" id="hp-stops-note"></p></section>
<section><h2>Reasons</h2><div class="plot"><canvas id="hp-reasons"></canvas></div>
<p class="note">Every decision other than CONTINUE, by action and reason.</p></section>
</div>
<div class="two">
<section><h2>Compute spent</h2><div class="plot"><canvas id="hp-compute"></canvas></div>
<p class="note" id="hp-compute-note"></p></section>
<section><h2>Survivors</h2><div id="hp-survivors"></div></section>
</div>
<section><h2>Trials</h2>
<div class="controls">
<input id="hp-filter" type="search" placeholder="filter: id, reason, evidence, params">
<select id="hp-fate"><option value="">all fates</option></select>
<span id="hp-count"></span>
<button id="hp-prev">&larr;</button><span id="hp-page"></span>
<button id="hp-next">&rarr;</button></div>
<div class="tablewrap"><table id="hp-table"><thead></thead><tbody></tbody></table></div>
</section>
<footer id="hp-footer"></footer>
<script type="application/json" id="hp-data">__DATA__</script>
<script>__JS__</script>
</body></html>
"""

_CSS = """
:root { --fg: #1d2330; --mut: #5b6475; --bg: #fff; --line: #e3e6ec; --completed: #2166ac;
  --stopped: #d6604d; --paused: #8e44ad; --failed: #555; --stale: #b8860b; --running: #1a9e77;
  --best: #111; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; max-width: 1400px; padding: 18px 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.sub { color: var(--mut); margin: 0 0 10px; }
code { background: #f3f4f7; padding: 1px 4px; border-radius: 3px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 90px; }
.card .v { font-size: 18px; font-weight: 600; }
.card .l { color: var(--mut); font-size: 12px; }
.card.completed .v { color: var(--completed); }
.card.stopped .v { color: var(--stopped); }
.card.paused .v { color: var(--paused); }
.card.failed .v { color: var(--failed); }
.card.best .v { color: var(--best); }
.plot { position: relative; width: 100%; }
canvas { display: block; width: 100%; }
canvas.over { position: absolute; left: 0; top: 0; pointer-events: none; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 4px 0; }
.controls label { cursor: pointer; user-select: none; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 4px;
  vertical-align: -1px; }
.note { color: var(--mut); font-size: 12px; margin: 4px 0; }
.tip { position: absolute; background: rgba(20, 24, 32, .92); color: #fff; padding: 6px 8px;
  border-radius: 4px; font-size: 12px; pointer-events: none; max-width: 420px;
  white-space: pre-wrap; z-index: 2; }
.tablewrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #f6f7f9; cursor: pointer; white-space: nowrap; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ev { min-width: 180px; max-width: 420px; font: 11.5px ui-monospace, Menlo, Consolas, monospace;
  word-break: break-word; }
tr.hl td { background: #fff6d5; }
.fate { font-weight: 600; }
.mini { width: auto; }
.warn { color: #a00; }
input[type=search] { min-width: 300px; padding: 4px 6px; }
footer { color: var(--mut); font-size: 12px; margin-top: 16px; }
details.static { margin: 8px 0; }
"""

_JS = r"""
(function () {
"use strict";
var body = document.body;
function fail(msg) {
  body.setAttribute("data-status", "error");
  var el = document.getElementById("hp-errors");
  el.hidden = false;
  el.textContent += msg + "\n";
}
window.addEventListener("error", function (ev) { fail("error: " + ev.message); });
try {
var D = JSON.parse(document.getElementById("hp-data").textContent);
var M = D.meta, T = D.trials, FATES = D.fates, N = T.id.length;
var CSSV = getComputedStyle(document.documentElement);
var COLOR = {};
FATES.concat(["best"]).forEach(function (f) {
  COLOR[f] = CSSV.getPropertyValue("--" + f).trim() || "#888";
});
var ACTION_COLOR = {stop: COLOR.stopped, pause: COLOR.paused, resume: COLOR.running};
var shown = {};
FATES.forEach(function (f) { shown[f] = true; });
var bestIndex = M.best_id === null ? -1 : T.id.indexOf(M.best_id);
var maximize = M.direction === "maximize";
var CURVES_H = 420;

function esc(s) {
  return String(s).replace(/[&<>"']/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
  });
}
function fmt(v) {
  if (v === null || v === undefined || v === "") return "\u2013";
  if (typeof v !== "number") return String(v);
  if (!isFinite(v)) return String(v);
  var a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(+v.toPrecision(6));
}
function fmtCompute(v) {
  if (v === null) return "\u2013";
  if (M.compute_unit !== "s") return fmt(v) + " steps";
  return v >= 3600 ? (v / 3600).toFixed(2) + " h" : fmt(v) + " s";
}
function setup(canvas, h) {
  var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 600;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.height = h + "px";
  var g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  return {g: g, w: w, h: h};
}
function message(c, text) {
  c.g.fillStyle = "#5b6475";
  c.g.font = "13px system-ui, sans-serif";
  c.g.fillText(text, 20, 40);
}
function ticks(lo, hi, n) {
  if (!(hi > lo)) hi = lo + 1;
  var raw = (hi - lo) / Math.max(1, n), mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var step = 10 * mag;
  [1, 2, 5].forEach(function (m) { if (step === 10 * mag && m * mag >= raw) step = m * mag; });
  var out = [];
  for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(+t.toPrecision(12));
  }
  return out;
}
function Scale(d0, d1, r0, r1, log) {
  var f = log ? Math.log10 : function (x) { return x; };
  var a = f(d0), b = f(d1);
  if (b === a) b = a + 1;
  var s = function (x) { return r0 + (f(x) - a) / (b - a) * (r1 - r0); };
  s.d0 = d0;
  s.d1 = d1;
  s.log = log;
  return s;
}
function line(g, x0, y0, x1, y1) {
  g.beginPath();
  g.moveTo(x0, y0);
  g.lineTo(x1, y1);
  g.stroke();
}
function axes(g, box, X, Y, xlabel, ylabel) {
  g.save();
  g.strokeStyle = "#c9ced8";
  g.fillStyle = "#5b6475";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  line(g, box.l, box.t, box.l, box.b);
  line(g, box.l, box.b, box.r, box.b);
  g.textAlign = "center";
  g.textBaseline = "top";
  ticks(X.d0, X.d1, Math.max(2, Math.floor((box.r - box.l) / 80))).forEach(function (t) {
    var x = X(t);
    if (x < box.l - 1 || x > box.r + 1) return;
    line(g, x, box.b, x, box.b + 4);
    g.fillText(fmt(t), x, box.b + 6);
  });
  var yt = [];
  if (Y.log) {
    var e0 = Math.floor(Math.log10(Y.d0)), e1 = Math.ceil(Math.log10(Y.d1));
    for (var e = e0; e <= e1; e++) yt.push(Math.pow(10, e));
  } else {
    yt = ticks(Y.d0, Y.d1, Math.max(2, Math.floor((box.b - box.t) / 45)));
  }
  g.strokeStyle = "#eef0f4";
  g.textAlign = "right";
  g.textBaseline = "middle";
  yt.forEach(function (t) {
    var y = Y(t);
    if (y < box.t - 1 || y > box.b + 1) return;
    line(g, box.l, y, box.r, y);
    g.fillText(fmt(t), box.l - 6, y);
  });
  g.textAlign = "center";
  g.textBaseline = "bottom";
  g.fillText(xlabel, (box.l + box.r) / 2, box.b + 34);
  g.translate(12, (box.t + box.b) / 2);
  g.rotate(-Math.PI / 2);
  g.textBaseline = "top";
  g.fillText(ylabel, 0, 0);
  g.restore();
}
function path(g, xs, ys, X, Y) {
  for (var j = 0; j < ys.length; j++) {
    var px = X(xs[j]), py = Y(ys[j]);
    if (j === 0) g.moveTo(px, py); else g.lineTo(px, py);
  }
  if (ys.length === 1) g.lineTo(px + 1, py);
}

// ---------------------------------------------------------------- curves
var logY = false, clipY = true, yRange = null, CX = null, CY = null;
function computeRange() {
  var vals = [], xmax = -Infinity, xmin = Infinity, total = 0, k = 0, i, j;
  for (i = 0; i < N; i++) total += T.ys[i].length;
  var stride = Math.max(1, Math.floor(total / 60000));
  for (i = 0; i < N; i++) {
    var xs = T.xs[i], ys = T.ys[i];
    for (j = 0; j < ys.length; j++) {
      if (xs[j] > xmax) xmax = xs[j];
      if (xs[j] < xmin) xmin = xs[j];
      if ((k++ % stride) === 0) vals.push(ys[j]);
    }
  }
  if (!vals.length) return {x0: 0, x1: 1, lo: 0, hi: 1, min: 0, max: 1, pos: false};
  vals.sort(function (a, b) { return a - b; });
  var q = function (p) { return vals[Math.floor(p * (vals.length - 1))]; };
  return {x0: xmin, x1: Math.max(xmax, xmin + 1), lo: q(0.005), hi: q(0.995),
    min: vals[0], max: vals[vals.length - 1], pos: vals[0] > 0};
}
function drawCurves() {
  var c = setup(document.getElementById("hp-curves"), CURVES_H), g = c.g;
  setup(document.getElementById("hp-curves-over"), CURVES_H);
  var lo = clipY ? yRange.lo : yRange.min, hi = clipY ? yRange.hi : yRange.max;
  var useLog = logY && yRange.pos;
  var pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
  var box = {l: 64, r: c.w - 14, t: 10, b: c.h - 40};
  var X = Scale(yRange.x0, yRange.x1, box.l, box.r, false);
  var Y = useLog ? Scale(lo / 1.1, hi * 1.1, box.b, box.t, true)
                 : Scale(lo - pad, hi + pad, box.b, box.t, false);
  var Yc = useLog ? function (v) { return Y(Math.max(v, lo / 1.1)); } : Y;
  CX = X;
  CY = Yc;
  axes(g, box, X, Y, "step", "value (" + M.direction + ")");
  g.save();
  g.beginPath();
  g.rect(box.l, box.t - 2, box.r - box.l + 2, box.b - box.t + 4);
  g.clip();
  var alpha = Math.max(0.06, Math.min(0.85, 12 / Math.sqrt(Math.max(1, N))));
  ["running", "stale", "failed", "stopped", "paused", "completed"].forEach(function (f) {
    var fi = FATES.indexOf(f), i;
    if (!shown[f]) return;
    g.strokeStyle = COLOR[f];
    g.globalAlpha = f === "completed" ? Math.min(1, alpha * 1.6) : alpha;
    g.lineWidth = N > 2000 ? 0.7 : 1.1;
    g.beginPath();
    for (i = 0; i < N; i++) if (T.fate[i] === fi) path(g, T.xs[i], T.ys[i], X, Yc);
    g.stroke();
    if (f !== "stopped" && f !== "paused") return;
    g.globalAlpha = Math.min(1, alpha * 2);
    g.beginPath();
    for (i = 0; i < N; i++) {
      var n = T.ys[i].length;
      if (T.fate[i] !== fi || !n) continue;
      var x = X(T.xs[i][n - 1]), y = Yc(T.ys[i][n - 1]);
      if (f === "stopped") {
        g.moveTo(x - 3, y - 3); g.lineTo(x + 3, y + 3);
        g.moveTo(x - 3, y + 3); g.lineTo(x + 3, y - 3);
      } else {
        g.moveTo(x + 3, y); g.arc(x, y, 3, 0, 2 * Math.PI);
      }
    }
    g.stroke();
  });
  g.globalAlpha = 1;
  g.lineWidth = 1.4;
  ["pause", "resume"].forEach(function (kind) {
    g.strokeStyle = kind === "pause" ? COLOR.paused : COLOR.running;
    g.beginPath();
    for (var i = 0; i < N; i++) {
      var marks = T.marks[i], xs = T.xs[i];
      if (!marks.length || !xs.length || !shown[FATES[T.fate[i]]]) continue;
      marks.forEach(function (m) {
        if (m[1] !== kind) return;
        var j = 0;
        while (j + 1 < xs.length && xs[j + 1] <= m[0]) j++;
        var x = X(m[0]), y = Yc(T.ys[i][j]);
        g.moveTo(x + 3.5, y);
        g.arc(x, y, 3.5, 0, 2 * Math.PI);
      });
    }
    g.stroke();
  });
  if (bestIndex >= 0 && shown.completed && T.ys[bestIndex].length) {
    var bx = T.xs[bestIndex], by = T.ys[bestIndex];
    g.strokeStyle = COLOR.best;
    g.lineWidth = 2.4;
    g.beginPath();
    path(g, bx, by, X, Yc);
    g.stroke();
    g.fillStyle = COLOR.best;
    g.font = "bold 11px system-ui, sans-serif";
    g.textAlign = "right";
    g.fillText("best: " + M.best_id, X(bx[bx.length - 1]) - 4, Yc(by[by.length - 1]) - 6);
  }
  g.restore();
  var note = "";
  if (M.downsampled) note += "Curves downsampled to at most " + M.per_curve + " points each. ";
  if (clipY) note += "Y axis clipped to the 0.5\u201399.5% range of values. ";
  note += "Crosses mark stops; purple circles pauses, green circles resumes; the thick " +
    "line is the best trial. Hover for details; click to find a trial in the table.";
  document.getElementById("hp-curves-note").textContent = note;
}
function legend() {
  var el = document.getElementById("hp-legend"), h = "";
  FATES.forEach(function (f) {
    if (!M.counts[f]) return;
    h += '<label><input type="checkbox" data-fate="' + f + '" checked> <span class="sw" ' +
      'style="background:' + COLOR[f] + '"></span>' + f + " (" + M.counts[f] + ")</label>";
  });
  h += '<label><input type="checkbox" id="hp-log"' + (yRange.pos ? "" : " disabled") +
    "> log y</label>";
  h += '<label><input type="checkbox" id="hp-clip" checked> clip outliers</label>';
  el.innerHTML = h;
  el.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.id === "hp-log") logY = t.checked;
    else if (t.id === "hp-clip") clipY = t.checked;
    else if (t.dataset.fate) shown[t.dataset.fate] = t.checked;
    drawCurves();
  });
}
var pending = false, lastEv = null, hovered = -1;
function nearest(mx, my) {
  var best = -1, bd = 64;
  for (var i = 0; i < N; i++) {
    if (!shown[FATES[T.fate[i]]]) continue;
    var xs = T.xs[i], ys = T.ys[i];
    for (var j = 0; j < ys.length; j++) {
      var dx = CX(xs[j]) - mx;
      if (dx > 8 || dx < -8) continue;
      var dy = CY(ys[j]) - my, d = dx * dx + dy * dy;
      if (d < bd) { bd = d; best = i; }
    }
  }
  return best;
}
function hover() {
  pending = false;
  if (!lastEv || !CX) return;
  var r = document.getElementById("hp-curves").getBoundingClientRect();
  var mx = lastEv.clientX - r.left, my = lastEv.clientY - r.top, i = nearest(mx, my);
  var g = setup(document.getElementById("hp-curves-over"), CURVES_H).g;
  var tip = document.getElementById("hp-tip");
  hovered = i;
  if (i < 0) { tip.hidden = true; return; }
  g.strokeStyle = "#000";
  g.lineWidth = 2.5;
  g.beginPath();
  path(g, T.xs[i], T.ys[i], CX, CY);
  g.stroke();
  var txt = "trial " + T.id[i] + " \u2014 " + FATES[T.fate[i]] + "\nreports " + T.n[i] +
    ", best " + fmt(T.best[i]) + (T.final[i] !== null ? ", final " + fmt(T.final[i]) : "");
  if (T.stop_step[i] !== null) {
    txt += "\nstopped at step " + T.stop_step[i] + ": " + D.reasons[T.reason[i]] +
      " (" + T.rule[i] + ")";
  }
  if (T.evidence[i]) txt += "\n" + T.evidence[i].slice(0, 240);
  tip.textContent = txt;
  tip.hidden = false;
  tip.style.left = Math.min(mx + 14, r.width - 300) + "px";
  tip.style.top = (my + 14) + "px";
}
function bindHover() {
  var canvas = document.getElementById("hp-curves");
  canvas.addEventListener("mousemove", function (ev) {
    lastEv = ev;
    if (!pending) { pending = true; requestAnimationFrame(hover); }
  });
  canvas.addEventListener("mouseleave", function () {
    document.getElementById("hp-tip").hidden = true;
    setup(document.getElementById("hp-curves-over"), CURVES_H);
  });
  canvas.addEventListener("click", function () {
    if (hovered < 0) return;
    var f = document.getElementById("hp-filter");
    f.value = T.id[hovered];
    table.filter = f.value;
    table.fate = "";
    table.page = 0;
    document.getElementById("hp-fate").value = "";
    renderTable();
    document.getElementById("hp-table").scrollIntoView({behavior: "smooth"});
  });
}

// ----------------------------------------------------------------- stops
function drawStops() {
  var idx = [], rs = {}, i;
  for (i = 0; i < N; i++) if (T.stop_step[i] !== null) idx.push(i);
  idx.forEach(function (i) { var r = D.reasons[T.reason[i]]; rs[r] = (rs[r] || 0) + 1; });
  var names = Object.keys(rs).sort(function (a, b) { return rs[b] - rs[a]; });
  var h = Math.max(120, 50 + 34 * names.length);
  var c = setup(document.getElementById("hp-stops"), h), g = c.g;
  var note = document.getElementById("hp-stops-note");
  if (!idx.length) { message(c, "No trial was stopped."); note.textContent = ""; return; }
  var box = {l: 150, r: c.w - 14, t: 8, b: h - 40}, x0 = Infinity, x1 = -Infinity;
  idx.forEach(function (i) {
    x0 = Math.min(x0, T.stop_step[i]);
    x1 = Math.max(x1, T.stop_step[i]);
  });
  var X = Scale(Math.min(0, x0), Math.max(x1, x0 + 1), box.l, box.r, false);
  var rowH = (box.b - box.t) / names.length;
  g.strokeStyle = "#c9ced8";
  line(g, box.l, box.b, box.r, box.b);
  g.fillStyle = "#5b6475";
  g.font = "11px system-ui, sans-serif";
  g.textAlign = "center";
  g.textBaseline = "top";
  ticks(X.d0, X.d1, Math.max(2, Math.floor((box.r - box.l) / 80))).forEach(function (t) {
    g.fillText(fmt(t), X(t), box.b + 6);
  });
  g.fillText("step of the stop", (box.l + box.r) / 2, box.b + 22);
  g.textAlign = "right";
  g.textBaseline = "middle";
  g.fillStyle = "#1d2330";
  names.forEach(function (r, k) {
    g.fillText(r + " (" + rs[r] + ")", box.l - 8, box.t + rowH * (k + 0.5));
  });
  g.fillStyle = COLOR.stopped;
  g.globalAlpha = Math.max(0.15, Math.min(0.9, 20 / Math.sqrt(idx.length)));
  idx.forEach(function (i) {
    var k = names.indexOf(D.reasons[T.reason[i]]);
    var jitter = (((i * 2654435761) >>> 0) % 1000) / 1000 - 0.5;
    g.beginPath();
    g.arc(X(T.stop_step[i]), box.t + rowH * (k + 0.5 + jitter * 0.6), 2.6, 0, 2 * Math.PI);
    g.fill();
  });
  g.globalAlpha = 1;
  var s = idx.map(function (i) { return T.stop_step[i]; }).sort(function (a, b) { return a - b; });
  note.textContent = idx.length + " stops; median stop step " + s[Math.floor(s.length / 2)] +
    ", earliest " + s[0] + ", latest " + s[s.length - 1] + ".";
}

// --------------------------------------------------------------- reasons
function drawReasons() {
  var keys = Object.keys(D.reason_counts);
  var h = Math.max(120, 30 + 26 * keys.length);
  var c = setup(document.getElementById("hp-reasons"), h), g = c.g;
  if (!keys.length) { message(c, "Only CONTINUE decisions were recorded."); return; }
  var max = Math.max.apply(null, keys.map(function (k) { return D.reason_counts[k]; }));
  var box = {l: 190, r: c.w - 60, t: 10, b: h - 10};
  var rowH = Math.min(28, (box.b - box.t) / keys.length);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "middle";
  keys.forEach(function (k, i) {
    var v = D.reason_counts[k], y = box.t + rowH * i, w = (box.r - box.l) * v / max;
    g.fillStyle = ACTION_COLOR[k.split(":")[0]] || "#888";
    g.fillRect(box.l, y + 3, Math.max(1, w), rowH - 6);
    g.fillStyle = "#1d2330";
    g.textAlign = "right";
    g.fillText(k, box.l - 8, y + rowH / 2);
    g.textAlign = "left";
    g.fillText(String(v), box.l + w + 6, y + rowH / 2);
  });
}

// --------------------------------------------------------------- compute
function drawCompute() {
  var c = setup(document.getElementById("hp-compute"), 260), g = c.g;
  var xs = D.compute.x, ys = D.compute.y, note = document.getElementById("hp-compute-note");
  if (!xs.length) { message(c, "No reports."); return; }
  var used = ys[ys.length - 1], budget = M.budget, top = Math.max(used || 1, budget || 0);
  var box = {l: 64, r: c.w - 14, t: 12, b: c.h - 40};
  var X = Scale(0, Math.max(1, xs[xs.length - 1]), box.l, box.r, false);
  var Y = Scale(0, top * 1.05, box.b, box.t, false);
  axes(g, box, X, Y, "reports, in log order",
    M.compute_unit === "s" ? "compute (s)" : "compute (steps)");
  g.strokeStyle = COLOR.completed;
  g.lineWidth = 2;
  g.beginPath();
  path(g, xs, ys, X, Y);
  g.stroke();
  if (budget !== null) {
    g.strokeStyle = COLOR.stopped;
    g.setLineDash([6, 4]);
    line(g, box.l, Y(budget), box.r, Y(budget));
    g.setLineDash([]);
    g.fillStyle = COLOR.stopped;
    g.textAlign = "left";
    g.font = "11px system-ui, sans-serif";
    g.fillText("budget " + fmtCompute(budget), box.l + 6, Y(budget) - 6);
  }
  var text = "Total " + fmtCompute(used);
  if (budget !== null) {
    text += " of a budget of " + fmtCompute(budget) + " (" + Math.round(100 * used / budget) +
      "%)";
  } else {
    text += " (the log names no budget)";
  }
  text += M.compute_unit === "s" ? "; from each report's elapsed seconds."
    : "; the log has no timing data, so compute is counted in steps.";
  if (M.budget_marks) text += " " + M.budget_marks + " budget_exhausted decision(s).";
  note.textContent = text;
}

// ----------------------------------------------------------------- tables
var COLS = [
  ["id", "trial", false], ["fate", "fate", false], ["n", "reports", true],
  ["last_step", "last step", true], ["best", "best", true], ["final", "final", true],
  ["stop_step", "stop step", true], ["reason", "reason", false], ["rule", "rule", false],
  ["compute", "compute", true], ["pauses", "pauses / resumes", true],
  ["n_bad", "non-finite", true], ["evidence", "evidence", false], ["params", "params", false]
];
function cell(i, key) {
  var v = T[key][i];
  if (key === "fate") {
    return '<span class="fate" style="color:' + COLOR[FATES[v]] + '">' + FATES[v] + "</span>";
  }
  if (key === "reason") return v < 0 ? "" : esc(D.reasons[v]);
  if (key === "compute") return fmtCompute(v);
  if (key === "pauses") return v ? v + " / " + T.resumes[i] : "";
  if (key === "n_bad") return v ? String(v) : "";
  if (typeof v === "number" || v === null) return fmt(v);
  return esc(v);
}
function sortValue(i, key) {
  var v = T[key][i];
  if (key === "reason") return v < 0 ? "" : D.reasons[v];
  if (key === "fate") return FATES[v];
  return v;
}
function haystack(i) {
  return (T.id[i] + " " + (T.reason[i] >= 0 ? D.reasons[T.reason[i]] : "") + " " +
    FATES[T.fate[i]] + " " + T.evidence[i] + " " + T.params[i]).toLowerCase();
}
var table = {key: null, dir: 1, page: 0, size: 100, filter: "", fate: ""};
function renderTable() {
  var q = table.filter.toLowerCase(), rows = [], i;
  for (i = 0; i < N; i++) {
    if (table.fate !== "" && FATES[T.fate[i]] !== table.fate) continue;
    if (q && haystack(i).indexOf(q) < 0) continue;
    rows.push(i);
  }
  var key = table.key, dir = table.dir;
  if (key !== null) {
    rows.sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }
  var pages = Math.max(1, Math.ceil(rows.length / table.size));
  table.page = Math.min(table.page, pages - 1);
  var start = table.page * table.size, out = [];
  rows.slice(start, start + table.size).forEach(function (i) {
    var tds = COLS.map(function (c) {
      var cls = c[2] ? "num" : (c[0] === "evidence" || c[0] === "params" ? "ev" : "");
      return "<td" + (cls ? ' class="' + cls + '"' : "") + ">" + cell(i, c[0]) + "</td>";
    });
    out.push("<tr" + (i === bestIndex ? ' class="hl"' : "") + ">" + tds.join("") + "</tr>");
  });
  document.querySelector("#hp-table tbody").innerHTML = out.join("");
  document.getElementById("hp-count").textContent = rows.length + " of " + N + " trials" +
    (key === null ? " (log order)" : "");
  document.getElementById("hp-page").textContent = " page " + (table.page + 1) + " / " + pages;
}
function setupTable() {
  var th = document.querySelector("#hp-table thead");
  th.innerHTML = "<tr>" + COLS.map(function (c) {
    return '<th data-key="' + c[0] + '">' + c[1] + "</th>";
  }).join("") + "</tr>";
  th.addEventListener("click", function (ev) {
    var k = ev.target.dataset.key;
    if (!k) return;
    table.dir = table.key === k ? -table.dir : 1;
    table.key = k;
    renderTable();
  });
  var sel = document.getElementById("hp-fate");
  FATES.forEach(function (f) {
    if (!M.counts[f]) return;
    var o = document.createElement("option");
    o.value = f;
    o.textContent = f + " (" + M.counts[f] + ")";
    sel.appendChild(o);
  });
  sel.addEventListener("change", function () {
    table.fate = sel.value;
    table.page = 0;
    renderTable();
  });
  var inp = document.getElementById("hp-filter"), timer = null;
  inp.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      table.filter = inp.value;
      table.page = 0;
      renderTable();
    }, 150);
  });
  document.getElementById("hp-prev").addEventListener("click", function () {
    table.page = Math.max(0, table.page - 1);
    renderTable();
  });
  document.getElementById("hp-next").addEventListener("click", function () {
    table.page += 1;
    renderTable();
  });
  renderTable();
}
function survivors() {
  var done = [], fi = FATES.indexOf("completed"), el = document.getElementById("hp-survivors");
  for (var i = 0; i < N; i++) if (T.fate[i] === fi && T.final[i] !== null) done.push(i);
  done.sort(function (a, b) {
    return maximize ? T.final[b] - T.final[a] : T.final[a] - T.final[b];
  });
  if (!done.length) {
    el.innerHTML = '<p class="note">No trial completed with a finite value.</p>';
    return;
  }
  var rows = done.slice(0, 25).map(function (i, r) {
    return "<tr" + (i === bestIndex ? ' class="hl"' : "") + '><td class="num">' + (r + 1) +
      "</td><td>" + esc(T.id[i]) + '</td><td class="num">' + fmt(T.final[i]) +
      '</td><td class="num">' + T.last_step[i] + '</td><td class="num">' +
      fmtCompute(T.compute[i]) + '</td><td class="ev">' + esc(T.params[i]) + "</td></tr>";
  });
  el.innerHTML = '<p class="note">' + done.length + " trial(s) ran to completion" +
    (done.length > 25 ? "; the best 25:" : ":") + '</p><div class="tablewrap"><table>' +
    "<thead><tr><th>#</th><th>trial</th><th>final</th><th>last step</th><th>compute</th>" +
    "<th>params</th></tr></thead><tbody>" + rows.join("") + "</tbody></table></div>";
}
function drawAll() { drawCurves(); drawStops(); drawReasons(); drawCompute(); }
yRange = computeRange();
legend();
bindHover();
drawAll();
setupTable();
survivors();
document.getElementById("hp-footer").textContent = "Generated " + M.generated + " by hpprune " +
  (M.versions.hpprune || "") + " from " + N + " trials and " + M.n_reports +
  " reports. Self-contained: no network needed.";
var rt = null;
window.addEventListener("resize", function () { clearTimeout(rt); rt = setTimeout(drawAll, 120); });
if (body.getAttribute("data-status") !== "error") body.setAttribute("data-status", "ok");
} catch (e) {
  fail("error: " + (e && e.stack ? e.stack : e));
}
})();
"""
