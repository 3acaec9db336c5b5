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
function pairsText(pairs) {
  return pairs.map(function (p) { return p[0] + " " + p[1]; }).join(", ");
}
function pairsHtml(pairs) {
  return pairs.map(function (p) {
    return '<span class="kv"><span class="k">' + esc(p[0]) + "</span> " + esc(p[1]) + "</span>";
  }).join(" ");
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
  var xt = X.log ? decades(X.d0, X.d1)
    : ticks(X.d0, X.d1, Math.max(2, Math.floor((box.r - box.l) / 80)));
  xt.forEach(function (t) {
    var x = X(t);
    if (x < box.l - 1 || x > box.r + 1) return;
    line(g, x, box.b, x, box.b + 4);
    g.fillText(X.log ? "1e" + Math.round(Math.log10(t)) : fmt(t), x, box.b + 6);
  });
  var yt = [];
  if (Y.log) {
    yt = decades(Y.d0, Y.d1);
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
function decades(lo, hi) {
  var out = [], e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  for (var e = e0; e <= e1; e++) out.push(Math.pow(10, e));
  return out;
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
  if (T.evidence[i].length) txt += "\n" + pairsText(T.evidence[i]).slice(0, 240);
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

// ------------------------------------------------------------ calibration
function drawCalibration() {
  var c = setup(document.getElementById("hp-calibration"), 300), g = c.g;
  var cal = D.calibration, note = document.getElementById("hp-calibration-note");
  if (!cal || !cal.n) {
    message(c, cal ? "No completed trial gave a prediction yet."
      : "Not available: the report was built from already folded facts.");
    note.textContent = "";
    return;
  }
  var side = Math.max(120, Math.min(c.w - 84, c.h - 52));
  var box = {l: 64, r: 64 + side, t: 12, b: 12 + side};
  var X = Scale(0, 1, box.l, box.r, false), Y = Scale(0, 1, box.b, box.t, false);
  axes(g, box, X, Y, "predicted P(final beats the incumbent)", "observed frequency");
  g.strokeStyle = "#9aa3b2";
  g.setLineDash([4, 4]);
  line(g, X(0), Y(0), X(1), Y(1));
  g.setLineDash([]);
  var most = 1;
  cal.bins.forEach(function (b) { most = Math.max(most, b.n); });
  g.fillStyle = COLOR.completed;
  cal.bins.forEach(function (b) {
    if (!b.n) return;
    g.beginPath();
    g.arc(X(b.mean_p), Y(b.observed), 3 + 9 * Math.sqrt(b.n / most), 0, 2 * Math.PI);
    g.fill();
  });
  var text = "ECE " + fmt(cal.ece) + " over " + cal.n + " predictions of " + cal.n_trials +
    " completed trials (model: " + cal.model + "). Each dot is a bin of the probabilities " +
    "the model gives at the pruner's decision steps when fitted on the trials completed " +
    "before (dot area = count); the diagonal is perfect calibration. Only completed trials " +
    "have an outcome, so this is conditional on completing.";
  if (cal.recalibration && cal.recalibration.n_trials) {
    text += " The pruner recalibrates with logit p' = " + fmt(cal.recalibration.a) + " + " +
      fmt(cal.recalibration.b) + " logit p (learnt from " + cal.recalibration.n_trials +
      " trials).";
  }
  note.textContent = text;
}

// ----------------------------------------------------------------- tables
var COLS = [
  ["id", "trial", false], ["fate", "fate", false], ["n", "reports", true],
  ["last_step", "last step", true], ["best", "best", true], ["final", "final", true],
  ["stop_step", "stop step", true], ["reason", "reason (rule)", false],
  ["compute", "compute", true], ["pauses", "pauses / resumes", true],
  ["n_bad", "non-finite", true], ["evidence", "evidence", false], ["params", "params", false]
].filter(function (c) {
  // Columns that are empty for every trial are left out, so the rest fit the page.
  if (c[0] !== "pauses" && c[0] !== "n_bad" && c[0] !== "final") return true;
  for (var i = 0; i < N; i++) if (T[c[0]][i]) return true;
  return false;
});
function cell(i, key) {
  var v = T[key][i];
  if (key === "fate") {
    return '<span class="fate" style="color:' + COLOR[FATES[v]] + '">' + FATES[v] + "</span>";
  }
  if (key === "reason") {
    return v < 0 ? "" : esc(D.reasons[v]) + '<br><span class="rule">' + esc(T.rule[i]) +
      "</span>";
  }
  if (key === "compute") return fmtCompute(v);
  if (key === "pauses") return v ? v + " / " + T.resumes[i] : "";
  if (key === "n_bad") return v ? String(v) : "";
  if (key === "evidence" || key === "params") return pairsHtml(v);
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
    FATES[T.fate[i]] + " " + pairsText(T.evidence[i]) + " " + pairsText(T.params[i])
  ).toLowerCase();
}
var table = {key: null, dir: 1, page: 0, size: 100, filter: "", fate: ""};
var opened = {};

// ----------------------------------------------------------- trial detail
function detailNote(i) {
  var d = T.decided[i], e = T.drawn[i], parts = [];
  if (!d) return "Trial " + T.id[i] + ": " + FATES[T.fate[i]] + "; no stop or pause decision.";
  parts.push("Trial " + T.id[i] + " " + (d[1] === "stop" ? "stopped" : "paused") +
    " at step " + d[0] + " by " + d[3] + " (" + d[2] + ").");
  if (e.cutoff !== undefined) {
    parts.push("The dashed line is the cutoff " + fmt(e.cutoff) +
      (e.rung_resource !== undefined ? " of the rung at step " + e.rung_resource : "") + ".");
  }
  if (e.predicted_mean !== undefined) {
    parts.push("The band is the predicted final value " + fmt(e.predicted_mean) + " \u00b1 " +
      fmt(e.predicted_std) + "; the dotted line the incumbent " + fmt(e.incumbent) + ".");
  }
  if (e.threshold !== undefined) parts.push("The dashed line is the threshold.");
  parts.push("Grey: the completed trials.");
  return parts.join(" ");
}
function drawTrial(canvas, i) {
  var c = setup(canvas, 220), g = c.g, e = T.drawn[i], d = T.decided[i];
  var box = {l: 64, r: c.w - 14, t: 10, b: c.h - 40};
  var fi = FATES.indexOf("completed"), lo = Infinity, hi = -Infinity, x1 = 1, j, k;
  function take(v) { if (v !== null && v !== undefined && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
  T.ys[i].forEach(take);
  ["cutoff", "incumbent", "threshold"].forEach(function (key) { take(e[key]); });
  if (e.predicted_mean !== undefined && e.predicted_std !== undefined) {
    take(e.predicted_mean - e.predicted_std);
    take(e.predicted_mean + e.predicted_std);
  }
  var peers = [];
  for (k = 0; k < N && peers.length < 200; k++) if (T.fate[k] === fi && k !== i) peers.push(k);
  var near = (T.xs[i].length ? T.xs[i][T.xs[i].length - 1] : 0) + 2;
  peers.forEach(function (k) {
    var xs = T.xs[k];
    if (xs.length) x1 = Math.max(x1, xs[xs.length - 1]);
    for (j = 0; j < xs.length && xs[j] <= near; j++) take(T.ys[k][j]);
  });
  if (T.xs[i].length) x1 = Math.max(x1, T.xs[i][T.xs[i].length - 1]);
  if (M.final_step !== null) x1 = Math.max(x1, M.final_step);
  if (!(hi > lo)) { if (isFinite(lo)) { hi = lo + 1; lo -= 1; } else { lo = 0; hi = 1; } }
  var pad = (hi - lo) * 0.08;
  var X = Scale(0, x1, box.l, box.r, false), Y = Scale(lo - pad, hi + pad, box.b, box.t, false);
  axes(g, box, X, Y, "step", "value");
  g.save();
  g.beginPath();
  g.rect(box.l, box.t, box.r - box.l, box.b - box.t);
  g.clip();
  g.strokeStyle = "#b9bec8";
  g.globalAlpha = 0.5;
  g.lineWidth = 1;
  g.beginPath();
  peers.forEach(function (k) { path(g, T.xs[k], T.ys[k], X, Y); });
  g.stroke();
  g.globalAlpha = 1;
  if (e.predicted_mean !== undefined && e.predicted_std !== undefined) {
    var xf = X(M.final_step !== null ? M.final_step : x1);
    g.fillStyle = "rgba(142, 68, 173, 0.25)";
    var y0 = Y(e.predicted_mean + e.predicted_std), y1 = Y(e.predicted_mean - e.predicted_std);
    g.fillRect(X(d ? d[0] : 0), y0, Math.max(4, xf - X(d ? d[0] : 0)), y1 - y0);
    g.strokeStyle = COLOR.paused;
    line(g, X(d ? d[0] : 0), Y(e.predicted_mean), xf, Y(e.predicted_mean));
  }
  if (e.incumbent !== undefined) {
    g.strokeStyle = COLOR.best;
    g.setLineDash([2, 3]);
    line(g, box.l, Y(e.incumbent), box.r, Y(e.incumbent));
    g.setLineDash([]);
  }
  ["cutoff", "threshold"].forEach(function (key) {
    if (e[key] === undefined) return;
    var at = e.rung_resource !== undefined ? e.rung_resource : (d ? d[0] : 0);
    g.strokeStyle = COLOR.stopped;
    g.lineWidth = 1.6;
    g.setLineDash([6, 4]);
    line(g, Math.max(box.l, X(at) - 40), Y(e[key]), Math.min(box.r, X(at) + 40), Y(e[key]));
    g.setLineDash([]);
  });
  g.strokeStyle = COLOR[FATES[T.fate[i]]];
  g.lineWidth = 2.2;
  g.beginPath();
  path(g, T.xs[i], T.ys[i], X, Y);
  g.stroke();
  if (d) {
    g.strokeStyle = "#000";
    g.lineWidth = 1;
    g.setLineDash([3, 3]);
    line(g, X(d[0]), box.t, X(d[0]), box.b);
    g.setLineDash([]);
  }
  g.restore();
}

// ------------------------------------------------- hyperparameters view
var PALETTE = ["#d6604d", "#f4a582", "#b2182b", "#e08214", "#8c510a", "#de77ae", "#c51b7d"];
var paramY = "best";
function reasonColor(i) {
  var f = FATES[T.fate[i]];
  if (f !== "stopped" || T.reason[i] < 0) return COLOR[f];
  return PALETTE[T.reason[i] % PALETTE.length];
}
function drawParams() {
  var P = D.params.columns, el = document.getElementById("hp-params");
  var note = document.getElementById("hp-params-note");
  if (!P.length) {
    el.innerHTML = '<p class="note">The log records no hyperparameters.</p>';
    return;
  }
  el.innerHTML = P.map(function (p, k) {
    return '<div class="cell"><div class="pname">' + esc(p.name) + (p.log ? " (log)" : "") +
      '</div><canvas class="param" data-k="' + k + '"></canvas></div>';
  }).join("");
  Array.prototype.forEach.call(el.querySelectorAll("canvas.param"), function (cv) {
    drawParam(cv, P[+cv.dataset.k]);
  });
  var text = "Each dot is a trial: x its value of the parameter, y " +
    (paramY === "best" ? "the best value it reported" : "the last step it reached") +
    "; colour its fate, stopped trials by stop reason. Log axes where the values span " +
    "two decades or more (or the space says so).";
  if (D.params.n_names > P.length) text += " First " + P.length + " of " + D.params.n_names + ".";
  note.textContent = text;
}
function drawParam(canvas, p) {
  var c = setup(canvas, 200), g = c.g, i;
  var box = {l: 56, r: c.w - 10, t: 8, b: c.h - 36};
  var ys = [], xs = [];
  for (i = 0; i < N; i++) {
    var y = paramY === "best" ? T.best[i] : T.last_step[i], x = p.values[i];
    if (x === null || y === null || y === undefined) continue;
    if (p.kind === "num" && p.log && !(x > 0)) continue;
    xs.push(i);
    ys.push(y);
  }
  if (!xs.length) { message(c, "no values"); return; }
  var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
  if (!(hi > lo)) { hi = lo + 1; lo -= 1; }
  var Y = Scale(lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05, box.b, box.t, false), X;
  if (p.kind === "num") {
    var vals = xs.map(function (i) { return p.values[i]; });
    var x0 = Math.min.apply(null, vals), x1 = Math.max.apply(null, vals);
    if (!(x1 > x0)) { x1 = x0 + 1; x0 = p.log ? x0 / 2 : x0 - 1; }
    X = Scale(x0, x1, box.l, box.r, p.log);
    axes(g, box, X, Y, p.name, paramY === "best" ? "best value" : "last step");
  } else {
    var cats = p.categories, w = (box.r - box.l) / Math.max(1, cats.length);
    X = function (v) { return box.l + w * (cats.indexOf(v) + 0.5); };
    axes(g, box, Scale(0, 1, box.l, box.r, false), Y, p.name, paramY === "best" ? "best value" : "last step");
    g.clearRect(box.l - 20, box.b + 2, box.r - box.l + 40, 14);
    g.fillStyle = "#1d2330";
    g.font = "11px system-ui, sans-serif";
    g.textAlign = "center";
    cats.forEach(function (cat, k) { g.fillText(cat.slice(0, 14), box.l + w * (k + 0.5), box.b + 6); });
  }
  g.globalAlpha = Math.max(0.3, Math.min(0.9, 20 / Math.sqrt(xs.length)));
  xs.forEach(function (i, k) {
    var px = X(p.values[i]);
    if (p.kind === "cat") px += ((((i * 2654435761) >>> 0) % 1000) / 1000 - 0.5) * 0.5 * (box.r - box.l) / Math.max(1, p.categories.length);
    g.fillStyle = reasonColor(i);
    g.beginPath();
    g.arc(px, Y(ys[k]), 2.8, 0, 2 * Math.PI);
    g.fill();
  });
  g.globalAlpha = 1;
}
function paramControls() {
  var el = document.getElementById("hp-params-controls"), h = "";
  h += '<label><input type="radio" name="hp-py" value="best" checked> y = best value</label>';
  h += '<label><input type="radio" name="hp-py" value="step"> y = last step reached</label>';
  FATES.forEach(function (f) {
    if (!M.counts[f] || f === "stopped") return;
    h += '<span><span class="sw" style="background:' + COLOR[f] + '"></span>' + f + "</span>";
  });
  D.reasons.forEach(function (r, k) {
    h += '<span><span class="sw" style="background:' + PALETTE[k % PALETTE.length] +
      '"></span>stopped: ' + esc(r) + "</span>";
  });
  el.innerHTML = h;
  el.addEventListener("change", function (ev) {
    if (ev.target.name === "hp-py") { paramY = ev.target.value; drawParams(); }
  });
}
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
    out.push("<tr data-row=\"" + i + "\"" + (i === bestIndex ? ' class="hl"' : "") + ">" +
      tds.join("") + "</tr>");
    if (opened[i]) {
      out.push('<tr class="detail" data-detail="' + esc(T.id[i]) + '"><td colspan="' +
        COLS.length + '"><canvas class="trial" data-i="' + i + '"></canvas>' +
        '<p class="note">' + esc(detailNote(i)) + "</p></td></tr>");
    }
  });
  document.querySelector("#hp-table tbody").innerHTML = out.join("");
  Array.prototype.forEach.call(document.querySelectorAll("canvas.trial"), function (cv) {
    drawTrial(cv, +cv.dataset.i);
  });
  document.getElementById("hp-count").textContent = rows.length + " of " + N + " trials" +
    (key === null ? " (log order)" : "");
  document.getElementById("hp-page").textContent = " page " + (table.page + 1) + " / " + pages;
}
function setupTable() {
  var th = document.querySelector("#hp-table thead");
  th.innerHTML = "<tr>" + COLS.map(function (c) {
    return '<th data-key="' + c[0] + '">' + c[1] + "</th>";
  }).join("") + "</tr>";
  document.querySelector("#hp-table tbody").addEventListener("click", function (ev) {
    var tr = ev.target.closest ? ev.target.closest("tr[data-row]") : null;
    if (!tr) return;
    var i = +tr.dataset.row;
    opened[i] = !opened[i];
    renderTable();
  });
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
      fmtCompute(T.compute[i]) + '</td><td class="ev">' + pairsHtml(T.params[i]) + "</td></tr>";
  });
  el.innerHTML = '<p class="note">' + done.length + " trial(s) ran to completion" +
    (done.length > 25 ? "; the best 25:" : ":") + '</p><div class="tablewrap"><table>' +
    "<thead><tr><th>#</th><th>trial</th><th>final</th><th>last step</th><th>compute</th>" +
    "<th>params</th></tr></thead><tbody>" + rows.join("") + "</tbody></table></div>";
}
function drawAll() {
  drawCurves(); drawStops(); drawReasons(); drawCompute(); drawCalibration(); drawParams();
}
yRange = computeRange();
legend();
bindHover();
paramControls();
drawAll();
var wanted = /[#&]trial=([^&]*)/.exec(window.location.hash);
if (wanted) {
  var wi = T.id.indexOf(decodeURIComponent(wanted[1]));
  if (wi >= 0) {
    opened[wi] = true;
  }
}
setupTable();
survivors();
// Layout check read by the tests: does the widest table fit the window?
var tw = document.querySelector("#hp-table");
body.setAttribute("data-table-fits",
  tw.getBoundingClientRect().right <= document.documentElement.clientWidth + 1 ? "yes" : "no");
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
