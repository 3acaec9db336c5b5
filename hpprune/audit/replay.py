"""What-if replay of a recorded study through another policy, and backtests over many.

:func:`replay` rebuilds the curves of a log in the order they were recorded and
feeds them to a fresh :class:`~hpprune.Engine` running another policy:

* when the other policy stops a trial earlier, the rest of that trial's curve is
  not fed (those steps and seconds are *saved*) and its completion is dropped, so
  later decisions see the study the other policy would have produced;
* when it would continue a trial that the log stopped, the curve past that point
  is unknown: the trial is counted as an *unknown continuation* and nothing is
  invented for it (it simply stays running in the replay);
* ``decision`` records made outside reports (a scheduler's pause, resume or
  budget stop) cannot be re-derived from a policy; they are re-applied verbatim
  and counted as *external*.

The replay of a log through its own recorded policy reproduces every decision
(action, reason, rule and evidence) when the log was written by one engine; that
is a strong check of determinism.

:func:`backtest` replays several past studies and reports, per policy, how often
it would have discarded each study's eventual best trial.

Non-finite reported values are fed as they were recorded; the replay engine
applies its ``non_finite`` mode (the log's, unless overridden).
"""

from __future__ import annotations

import math
import os
import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpprune.audit.explain import one_line
from hpprune.audit.facts import LogFacts, RecordsArg, facts_of, typed_records
from hpprune.audit.records import (
    CompleteRecord,
    DecisionRecord,
    FailRecord,
    Record,
    ReportRecord,
    StudyRecord,
    TrialRecord,
)
from hpprune.audit.spec import load_policy, to_spec
from hpprune.engine import Engine
from hpprune.pruners.base import Policy, policy_from_dict
from hpprune.types import Action, Decision, Reason, TrialState, jsonable

__all__ = [
    "BacktestResult",
    "BacktestRow",
    "DecisionDiff",
    "ReplayResult",
    "TrialOutcome",
    "backtest",
    "replay",
]

PolicyArg = Policy | str | os.PathLike[str] | Mapping[str, Any] | None


@dataclass(frozen=True)
class DecisionDiff:
    """A report whose replayed decision differs from the recorded one."""

    trial_id: str
    step: int
    recorded: dict[str, Any]
    replayed: dict[str, Any]


@dataclass(frozen=True)
class TrialOutcome:
    """One trial in the log and in the replay.

    Attributes:
        trial_id: The trial.
        log_fate: Its fate in the log (see :data:`hpprune.audit.explain.FATES`).
        log_last_step: Last step it reported in the log.
        log_stop_step: Step of the log's STOP, if any.
        log_reason: Reason of the log's STOP, if any.
        replay_fate: Its fate in the replay, or ``"unknown_continuation"`` when the
            replayed policy would have continued a trial the log stopped.
        replay_stop_step: Step of the replay's STOP, if any.
        replay_reason: Reason of the replay's STOP, if any.
        reports_saved: Reports of the log that the replay did not need.
        steps_saved: Step units between the replay's stop and the log's last step.
        seconds_saved: Compute seconds saved (None without timing data).
        log_final: Final value in the log, if completed.
    """

    trial_id: str
    log_fate: str
    log_last_step: int
    log_stop_step: int | None
    log_reason: str | None
    replay_fate: str
    replay_stop_step: int | None
    replay_reason: str | None
    reports_saved: int
    steps_saved: int
    seconds_saved: float | None
    log_final: float | None

    @property
    def differs(self) -> bool:
        """True when the trial was stopped at another step (or only by one side)."""
        return self.log_stop_step != self.replay_stop_step


@dataclass
class ReplayResult:
    """The what-if table of one replay (see :func:`replay`).

    Steps are step units (differences of step numbers), reports are counts of
    reports, seconds are compute seconds from the log's ``elapsed`` fields.
    ``steps_added_estimate``/``seconds_added_estimate`` guess the compute that
    unknown continuations would have used (up to the median last step of the
    log's completed trials, at each trial's own pace); they are estimates, not
    data. ``regret`` is the best final value in the log minus the best the replay
    keeps, on the user's scale and >= 0 (worse by that much); with unknown
    continuations it is an upper bound, since a continued trial might have won.
    """

    log_name: str
    policy: str
    recorded_policy: str
    direction: str
    n_trials: int
    n_reports_log: int
    n_reports_replay: int
    n_compared: int
    n_same_action: int
    n_identical: int
    n_external: int
    differences: list[DecisionDiff]
    trials: list[TrialOutcome]
    steps_log: int
    steps_saved: int
    steps_added_estimate: int
    seconds_log: float | None
    seconds_saved: float | None
    seconds_added_estimate: float | None
    best_trial: str | None
    best_value: float | None
    best_survived: bool | None
    replay_best_trial: str | None
    replay_best_value: float | None
    regret: float | None
    decisions: dict[str, list[Decision]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ summaries
    @property
    def all_identical(self) -> bool:
        """Every replayed decision equals the recorded one."""
        return self.n_identical == self.n_compared

    def by_change(self) -> dict[str, list[str]]:
        """Trial ids grouped by how the replay changed their fate.

        Returns:
            ``stopped_only_in_replay`` (the log let them run on), ``stopped_earlier``
            (both stopped, the replay earlier), ``unknown_continuation`` (the log
            stopped them, the replay would not have), and ``same``.
        """
        out: dict[str, list[str]] = {
            "stopped_only_in_replay": [],
            "stopped_earlier": [],
            "unknown_continuation": [],
            "same": [],
        }
        for t in self.trials:
            if t.replay_fate == "unknown_continuation":
                out["unknown_continuation"].append(t.trial_id)
            elif t.replay_stop_step is not None and t.log_stop_step is None:
                out["stopped_only_in_replay"].append(t.trial_id)
            elif t.replay_stop_step is not None and t.replay_stop_step != t.log_stop_step:
                out["stopped_earlier"].append(t.trial_id)
            else:
                out["same"].append(t.trial_id)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (decisions left out; non-finite floats as strings)."""
        data = asdict(self)
        data.pop("decisions", None)
        data["changes"] = {k: len(v) for k, v in self.by_change().items()}
        return jsonable(data)  # type: ignore[no-any-return]

    def table(self, max_rows: int = 20) -> str:
        """The what-if table as plain text.

        Args:
            max_rows: Most differing trials listed individually.

        Returns:
            Multi-line text.
        """
        ch = self.by_change()
        lines = [
            f"replay of {self.log_name}",
            f"  recorded policy: {self.recorded_policy}",
            f"  replayed policy: {self.policy}",
            "",
            f"{'':32s}{'log':>14s}{'replay':>14s}{'change':>14s}",
        ]

        def row(label: str, a: Any, b: Any, delta: str) -> None:
            lines.append(f"{label:32s}{_cell(a):>14s}{_cell(b):>14s}{delta:>14s}")

        fates_log = _count(t.log_fate for t in self.trials)
        fates_rep = _count(t.replay_fate for t in self.trials)
        for fate in ("completed", "stopped", "paused", "failed", "running", "stale"):
            a, b = fates_log.get(fate, 0), fates_rep.get(fate, 0)
            if a or b:
                row(f"trials {fate}", a, b, f"{b - a:+d}")
        if fates_rep.get("unknown_continuation"):
            n = fates_rep["unknown_continuation"]
            row("trials: unknown continuation", "-", n, "(no data)")
        row("reports fed", self.n_reports_log, self.n_reports_replay, "")
        steps_rep = self.steps_log - self.steps_saved
        row("steps", self.steps_log, steps_rep, f"-{self.steps_saved}")
        if self.steps_added_estimate:
            row("  + unknown continuations (est.)", "", f"~{self.steps_added_estimate}", "")
        if self.seconds_log is not None and self.seconds_saved is not None:
            row(
                "compute (s)",
                self.seconds_log,
                self.seconds_log - self.seconds_saved,
                f"-{self.seconds_saved:.4g}",
            )
            if self.seconds_added_estimate:
                row(
                    "  + unknown continuations (est.)",
                    "",
                    f"~{self.seconds_added_estimate:.4g}",
                    "",
                )
        row("best trial", self.best_trial, self.replay_best_trial, "")
        row("best final value", self.best_value, self.replay_best_value, "")
        lines.append("")
        survived = {True: "yes", False: "NO (discarded)", None: "n/a (no completed trial)"}
        lines.append(f"best trial survived: {survived[self.best_survived]}")
        if self.regret is not None:
            bound = " (upper bound: unknown continuations)" if ch["unknown_continuation"] else ""
            lines.append(f"final regret: {_cell(self.regret)}{bound}")
        lines.append(
            f"decisions: {self.n_compared} compared, {self.n_same_action} same action, "
            f"{self.n_identical} identical (reason, rule and evidence)"
            + (f"; {self.n_external} external decision(s) re-applied" if self.n_external else "")
        )
        lines.append(
            "trials stopped differently: "
            f"{len(ch['stopped_only_in_replay'])} stopped only by the replay, "
            f"{len(ch['stopped_earlier'])} stopped earlier, "
            f"{len(ch['unknown_continuation'])} unknown continuation"
        )
        diff = [t for t in self.trials if t.differs]
        if diff:
            lines.append("")
            lines.append(f"{'trial':>12s} {'log':>22s} {'replay':>26s} {'steps saved':>12s}")
            for t in diff[:max_rows]:
                was = _fate(t.log_fate, t.log_stop_step, t.log_reason)
                now = _fate(t.replay_fate, t.replay_stop_step, t.replay_reason)
                lines.append(f"{t.trial_id[-12:]:>12s} {was:>22s} {now:>26s} {t.steps_saved:>12d}")
            if len(diff) > max_rows:
                lines.append(f"  ... and {len(diff) - max_rows} more")
        return "\n".join(lines)


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _cell(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _fate(fate: str, step: int | None, reason: str | None) -> str:
    if fate == "unknown_continuation":
        return "continue (unknown)"
    if step is not None:
        return f"stop@{step} {one_line(reason or '')}".strip()[:26]
    return fate


def _same_decision(recorded: Decision, replayed: Decision) -> bool:
    if (recorded.action, recorded.reason, recorded.rule, recorded.trial_id, recorded.step) != (
        replayed.action,
        replayed.reason,
        replayed.rule,
        replayed.trial_id,
        replayed.step,
    ):
        return False
    # A CONTINUE's evidence is not written to the log.
    return recorded.action is Action.CONTINUE or dict(recorded.evidence) == dict(replayed.evidence)


def _typed_list(log: RecordsArg | Sequence[Record]) -> list[Record]:
    """The log's records through its one fold (records already folded pass as they are)."""
    if isinstance(log, list) and log and isinstance(log[0], StudyRecord):
        return log
    return list(typed_records(log))  # type: ignore[arg-type]


def _policy_of_header(header: Mapping[str, Any]) -> Policy:
    """The log's own policy, rebuilt exactly as ``Engine.from_log`` rebuilds it."""
    try:
        pol = policy_from_dict(header["policy"])
    except (TypeError, ValueError) as exc:
        recorded = _short(header["policy"])
        raise ValueError(f"cannot rebuild the log's policy {recorded}: {exc}") from None
    if getattr(pol, "is_external", False):
        raise ValueError(
            f"this log was imported from {pol.params().get('source', 'another tool')}: its "
            "decisions were not made by an hpprune policy, so there is no recorded policy to "
            "replay; pass the policy to evaluate (e.g. policy='median:n_startup_trials=5')"
        )
    return pol


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 120 else text[:117] + "..."


def _recorded_spec(header: Mapping[str, Any]) -> str:
    try:
        pol = policy_from_dict(header["policy"])
    except (ValueError, KeyError, TypeError):
        return str(header.get("policy", {}).get("type", "?"))
    if getattr(pol, "is_external", False):
        return f"external ({pol.params().get('source', '?')}; decisions carry no reasons)"
    return to_spec(pol)


def replay(
    log: RecordsArg | Sequence[Record],
    policy: PolicyArg = None,
    *,
    non_finite: str | None = None,
    log_name: str | None = None,
    keep_decisions: bool = False,
) -> ReplayResult:
    """Replay a recorded study through ``policy`` and compare with what happened.

    Args:
        log: A JSON Lines log path, or its records (header first).
        policy: The policy to evaluate: a Policy, a SPEC string/file, or a policy
            dict. None replays the log's own recorded policy.
        non_finite: Override the log's ``non_finite`` mode (``"stop"``/``"ignore"``).
        log_name: Name shown in the table (defaults to the file name).
        keep_decisions: Keep every replayed decision in ``result.decisions``.

    Returns:
        The :class:`ReplayResult` (what-if table).

    Raises:
        FileNotFoundError: If the log file is missing.
        LogFormatError: If the log is malformed.
        SpecError: If ``policy`` is an invalid SPEC.
        ValueError: If ``policy`` is None and the log was imported (it has no
            hpprune policy to replay).

    Non-finite values are fed as recorded; the replay engine's ``non_finite``
    mode decides about them.
    """
    name = log_name or (Path(log).name if isinstance(log, (str, os.PathLike)) else "<records>")
    records = _typed_list(log)
    facts = facts_of(records)
    header = facts.header
    pol = _policy_of_header(header) if policy is None else load_policy(policy)
    recorded_spec = _recorded_spec(header)
    engine = Engine(
        pol,
        direction=facts.direction,
        non_finite=non_finite if non_finite is not None else header.get("non_finite", "stop"),
        study_name=header.get("study"),
    )

    cut: dict[str, Decision] = {}  # trials the replay stopped
    unknown: set[str] = set()  # the log stopped them, the replay would continue
    reports_saved: dict[str, int] = {}
    n_compared = n_same = n_identical = n_external = n_fed = 0
    diffs: list[DecisionDiff] = []
    decisions: dict[str, list[Decision]] = {}

    with warnings.catch_warnings():
        # A replay is a what-if: the live study already warned about out-of-order steps.
        warnings.filterwarnings("ignore", message=r".*'out_of_order'", category=UserWarning)
        for rec in records[1:]:
            if isinstance(rec, StudyRecord):
                continue
            tid = rec.trial
            if tid in cut:
                logged = facts.trials[tid].stop
                if logged is not None and logged.step == cut[tid].step:
                    # The log stopped it at the same step: what its objective did after the
                    # STOP (values reported anyway, a value returned) happened in both worlds.
                    if isinstance(rec, ReportRecord):
                        engine.apply(rec)
                        n_fed += 1
                    elif (
                        isinstance(rec, CompleteRecord) and engine.state(tid) is TrialState.STOPPED
                    ):
                        engine.complete(tid, rec.value, after_stop=True)
                    continue
                if isinstance(rec, ReportRecord):
                    reports_saved[tid] = reports_saved.get(tid, 0) + 1
                continue
            if isinstance(rec, TrialRecord):
                if tid not in engine.study:
                    engine.add_trial(tid, rec.params)
            elif isinstance(rec, ReportRecord):
                recorded = rec.decision
                if recorded.reason == Reason.INGESTED:
                    # Reported but never asked about (e.g. an Optuna objective that
                    # did not call should_prune): fold it in, there is no decision.
                    engine.apply(rec)
                    n_fed += 1
                    continue
                dec = engine.report(
                    tid, rec.step, rec.value, rec.elapsed, rec.resources, unordered=rec.late
                )
                n_fed += 1
                n_compared += 1
                if keep_decisions:
                    decisions.setdefault(tid, []).append(dec)
                same_action = recorded.action is dec.action
                n_same += same_action
                if _same_decision(recorded, dec):
                    n_identical += 1
                elif len(diffs) < 1000:
                    diffs.append(DecisionDiff(tid, rec.step, recorded.to_dict(), dec.to_dict()))
                if dec.action is Action.STOP:
                    cut[tid] = dec
                elif recorded.action is Action.STOP:
                    unknown.add(tid)
            elif isinstance(rec, DecisionRecord):
                n_external += 1
                if tid not in engine.study or engine.state(tid).is_finished:
                    continue  # nothing to apply it to in the replayed study
                dec = engine.decide_external(tid, rec.decision)
                if dec.action is Action.STOP:
                    cut[tid] = dec
            elif isinstance(rec, (CompleteRecord, FailRecord)):
                if tid not in engine.study:
                    engine.add_trial(tid)
                state = engine.state(tid)
                if isinstance(rec, CompleteRecord) and state is TrialState.STOPPED:
                    engine.complete(tid, rec.value, after_stop=True)
                elif state.is_finished:
                    continue
                elif isinstance(rec, CompleteRecord):
                    engine.complete(tid, rec.value)
                else:
                    engine.fail(tid, rec.reason)
            elif tid in engine.study:  # StaleRecord
                engine.mark_stale(tid)

    return _summarise(
        name, pol, recorded_spec, facts, engine, cut, unknown, reports_saved,
        n_fed, n_compared, n_same, n_identical, n_external, diffs, decisions,
    )  # fmt: skip


def _summarise(
    name: str,
    pol: Policy,
    recorded_spec: str,
    facts: LogFacts,
    engine: Engine,
    cut: dict[str, Decision],
    unknown: set[str],
    reports_saved: dict[str, int],
    n_fed: int,
    n_compared: int,
    n_same: int,
    n_identical: int,
    n_external: int,
    diffs: list[DecisionDiff],
    decisions: dict[str, list[Decision]],
) -> ReplayResult:
    direction = facts.direction
    completed_last = [
        t.last_step for t in facts.trials.values() if t.state == "completed" and t.steps
    ]
    typical_last = int(statistics.median(completed_last)) if completed_last else None
    has_time = facts.compute_unit == "s"

    outcomes: list[TrialOutcome] = []
    steps_log = steps_saved = steps_added = 0
    seconds_saved = 0.0
    seconds_added = 0.0
    # Steps reported in any order (instance ids): a step is an evaluation, not a span.
    any_order = any(t.late for t in facts.trials.values())
    for tid, t in facts.trials.items():
        last = t.last_step
        first = t.steps[0] if t.steps else 0
        if any_order:
            steps_log += t.n_reports
        else:
            steps_log += max(0, last - first + 1) if t.steps else 0
        log_stop = t.stop.step if t.stop is not None else None
        log_reason = t.stop.reason if t.stop is not None else None
        rep_stop: int | None = None
        rep_reason: str | None = None
        saved_steps = 0
        saved_s: float | None = 0.0 if has_time else None
        if tid in cut and engine.state(tid) is TrialState.COMPLETED:
            # Stopped where the log stopped it, and ran to its end anyway, as in the log.
            d = cut[tid]
            rep_stop, rep_reason = d.step, d.reason
            replay_fate = TrialState.COMPLETED.value
        elif tid in cut:
            d = cut[tid]
            rep_stop, rep_reason = d.step, d.reason
            replay_fate = "stopped"
            saved_steps = reports_saved.get(tid, 0) if any_order else max(0, last - d.step)
            if has_time:
                at = t.elapsed_at(d.step)
                saved_s = max(0.0, (t.compute_s or 0.0) - (at or 0.0))
        elif tid in unknown:
            replay_fate = "unknown_continuation"
            if typical_last is not None and typical_last > last:
                steps_added += typical_last - last
                if has_time and t.compute_s is not None and last >= 0:
                    seconds_added += t.compute_s / (last + 1) * (typical_last - last)
        else:
            state = engine.state(tid) if tid in engine.study else TrialState.RUNNING
            replay_fate = state.value
        steps_saved += saved_steps
        if saved_s is not None:
            seconds_saved += saved_s
        outcomes.append(
            TrialOutcome(
                trial_id=tid,
                log_fate=t.state,
                log_last_step=last,
                log_stop_step=log_stop,
                log_reason=log_reason,
                replay_fate=replay_fate,
                replay_stop_step=rep_stop,
                replay_reason=rep_reason,
                reports_saved=reports_saved.get(tid, 0),
                steps_saved=saved_steps,
                seconds_saved=saved_s,
                log_final=t.final_value,
            )
        )

    best = facts.best_trial()
    rep_best_id = engine.study.incumbent_id
    rep_best_score = engine.study.incumbent()
    rep_best_value = direction.to_value(rep_best_score) if math.isfinite(rep_best_score) else None
    regret: float | None = None
    survived: bool | None = None
    if best is not None and best.final_value is not None:
        survived = best.trial_id not in cut and (
            best.trial_id in engine.study and engine.state(best.trial_id) is TrialState.COMPLETED
        )
        if rep_best_value is not None:
            regret = max(
                0.0, direction.to_score(rep_best_value) - direction.to_score(best.final_value)
            )
    return ReplayResult(
        log_name=name,
        policy=to_spec(pol),
        recorded_policy=recorded_spec,
        direction=direction.value,
        n_trials=len(facts.trials),
        n_reports_log=facts.n_reports,
        n_reports_replay=n_fed,
        n_compared=n_compared,
        n_same_action=n_same,
        n_identical=n_identical,
        n_external=n_external,
        differences=diffs,
        trials=outcomes,
        steps_log=steps_log,
        steps_saved=steps_saved,
        steps_added_estimate=steps_added,
        seconds_log=facts.total_compute() if has_time else None,
        seconds_saved=seconds_saved if has_time else None,
        seconds_added_estimate=seconds_added if has_time else None,
        best_trial=best.trial_id if best else None,
        best_value=best.final_value if best else None,
        best_survived=survived,
        replay_best_trial=rep_best_id,
        replay_best_value=rep_best_value,
        regret=regret,
        decisions=decisions,
    )


# ---------------------------------------------------------------------- backtest
@dataclass(frozen=True)
class BacktestRow:
    """One (log, policy) replay inside a backtest."""

    log_name: str
    policy: str
    best_trial: str | None
    best_discarded: bool | None
    regret: float | None
    steps_saved_fraction: float
    unknown_continuations: int
    stopped_only_in_replay: int


@dataclass
class BacktestResult:
    """Replays of several logs through several policies (see :func:`backtest`)."""

    policies: list[str]
    rows: list[BacktestRow]
    replays: list[ReplayResult] = field(default_factory=list, repr=False)

    def per_policy(self) -> dict[str, dict[str, Any]]:
        """Aggregates per policy.

        Returns:
            ``{policy: {n_logs, n_with_best, best_discarded, discard_rate,
            mean_regret, max_regret, mean_steps_saved_fraction,
            unknown_continuations}}``; ``discard_rate`` is None when no log has a
            completed best trial.
        """
        out: dict[str, dict[str, Any]] = {}
        for pol in self.policies:
            rows = [r for r in self.rows if r.policy == pol]
            with_best = [r for r in rows if r.best_discarded is not None]
            discarded = sum(1 for r in with_best if r.best_discarded)
            regrets = [r.regret for r in rows if r.regret is not None]
            out[pol] = {
                "n_logs": len(rows),
                "n_with_best": len(with_best),
                "best_discarded": discarded,
                "discard_rate": discarded / len(with_best) if with_best else None,
                "mean_regret": statistics.fmean(regrets) if regrets else None,
                "max_regret": max(regrets) if regrets else None,
                "mean_steps_saved_fraction": statistics.fmean(r.steps_saved_fraction for r in rows)
                if rows
                else 0.0,
                "unknown_continuations": sum(r.unknown_continuations for r in rows),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with rows and per-policy aggregates."""
        return jsonable(  # type: ignore[no-any-return]
            {
                "policies": self.policies,
                "rows": [asdict(r) for r in self.rows],
                "per_policy": self.per_policy(),
            }
        )

    def table(self) -> str:
        """Per-log rows then per-policy aggregates, as plain text."""
        pw = min(80, max([6, *(len(p) for p in self.policies)]))
        lw = min(40, max([3, *(len(r.log_name) for r in self.rows)]))
        lines = [
            f"{'log':{lw}s}  {'policy':{pw}s} {'best':>8s} {'discarded':>10s} {'regret':>10s} "
            f"{'saved':>7s} {'unknown':>8s}"
        ]
        for r in self.rows:
            disc = {True: "YES", False: "no", None: "-"}[r.best_discarded]
            lines.append(
                f"{r.log_name[-lw:]:{lw}s}  {r.policy[:pw]:{pw}s} {_cell(r.best_trial)[-8:]:>8s} "
                f"{disc:>10s} {_cell(r.regret):>10s} {r.steps_saved_fraction:>7.1%} "
                f"{r.unknown_continuations:>8d}"
            )
        lines.append("")
        lines.append(
            f"{'policy':{pw}s} {'logs':>5s} {'best discarded':>15s} {'rate':>7s} "
            f"{'mean regret':>12s} {'max regret':>11s} {'saved':>7s}"
        )
        for pol, agg in self.per_policy().items():
            rate = "-" if agg["discard_rate"] is None else f"{agg['discard_rate']:.0%}"
            lines.append(
                f"{pol[:pw]:{pw}s} {agg['n_logs']:>5d} "
                f"{agg['best_discarded']:>6d} of {agg['n_with_best']:<5d} {rate:>7s} "
                f"{_cell(agg['mean_regret']):>12s} {_cell(agg['max_regret']):>11s} "
                f"{agg['mean_steps_saved_fraction']:>7.1%}"
            )
        lines += [
            "",
            "discarded: the policy would have stopped the study's eventual best trial",
            "saved: share of the recorded steps the policy would not have run",
            "unknown: trials the log stopped that the policy would have continued "
            "(their curves past the stop are unknown)",
        ]
        return "\n".join(lines)


def backtest(
    logs: Sequence[RecordsArg],
    policies: Sequence[PolicyArg],
    *,
    non_finite: str | None = None,
) -> BacktestResult:
    """Replay every log through every policy; count discarded best trials.

    A user runs this on past studies before adopting a policy: a policy that
    would often have stopped a study's eventual best trial is too aggressive.

    Args:
        logs: Log paths (or record lists).
        policies: Policies or SPECs; None means each log's recorded policy.
        non_finite: Override of the logs' ``non_finite`` mode.

    Returns:
        The :class:`BacktestResult`.

    Raises:
        ValueError: If ``logs`` or ``policies`` is empty, or a SPEC is invalid.
        FileNotFoundError: If a log is missing.
        LogFormatError: If a log is malformed.
    """
    if not logs:
        raise ValueError("`logs` is empty: give at least one log to backtest")
    if not policies:
        raise ValueError("`policies` is empty: give at least one policy")
    loaded = [None if p is None else load_policy(p) for p in policies]
    rows: list[BacktestRow] = []
    replays: list[ReplayResult] = []
    names: list[str] = []
    for i, log in enumerate(logs):
        records = _typed_list(log)
        name = Path(log).name if isinstance(log, (str, os.PathLike)) else f"log{i}"
        for pol in loaded:
            res = replay(records, pol, non_finite=non_finite, log_name=name)
            if res.policy not in names:
                names.append(res.policy)
            ch = res.by_change()
            rows.append(
                BacktestRow(
                    log_name=name,
                    policy=res.policy,
                    best_trial=res.best_trial,
                    best_discarded=None if res.best_survived is None else not res.best_survived,
                    regret=res.regret,
                    steps_saved_fraction=res.steps_saved / res.steps_log if res.steps_log else 0.0,
                    unknown_continuations=len(ch["unknown_continuation"]),
                    stopped_only_in_replay=len(ch["stopped_only_in_replay"]),
                )
            )
            replays.append(res)
    return BacktestResult(policies=names, rows=rows, replays=replays)
