"""What the default policy costs: decision latency and "what runs next" latency at scale.

Run ``python -m hpprune.bench.default_cost`` (``-o FILE`` writes the numbers as
JSON). A sequential freeze-thaw search over synthetic curves (one worker,
``hpprune.default_policy(max_step)``, new configurations until ``--trials``
have started) is driven exactly as the front doors drive it:
``Engine.report`` per step and :func:`hpprune.choose_next` whenever the
worker is free. Once ``--trials`` trials exist (most of them paused at a
rung), every later decision and choice is timed. Timings are wall-clock on
this machine: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import hpprune
from hpprune.next_trial import resume_decision
from hpprune.types import Action, TrialState


def measure(n_trials: int, n_steps: int, n_timed: int, seed: int = 0) -> dict[str, Any]:
    """Drive a search until ``n_trials`` trials exist, then time ``n_timed`` choices.

    Args:
        n_trials: Trials started before timing begins (and the pool size).
        n_steps: Steps of a full curve.
        n_timed: Choices (and their decisions) to time after that.
        seed: Seed of the synthetic curves.

    Returns:
        p50/p90 microseconds of ``Engine.report`` and of ``choose_next``,
        with the counts of trials and paused trials while timing.
    """
    rng = np.random.default_rng(seed)
    policy = hpprune.default_policy(max_step=n_steps)
    engine = hpprune.Engine(policy, direction="minimize")
    t = np.arange(1, n_steps + 1)
    report_us: list[float] = []
    choose_us: list[float] = []
    paused_seen: list[int] = []
    started = 0
    while len(choose_us) < n_timed:
        timing = started >= n_trials
        t0 = time.perf_counter()
        answer = hpprune.choose_next(policy, engine.study, can_start=True)
        dt = (time.perf_counter() - t0) * 1e6
        if timing:
            choose_us.append(dt)
            paused_seen.append(engine.study.n_in(TrialState.PAUSED))
        if answer.action == "resume" and answer.trial_id is not None:
            tid = answer.trial_id
            engine.decide_external(tid, resume_decision(policy, answer))
            first = engine.study.trial(tid).last_step + 1
        elif answer.action == "start":
            tid, first = f"t{started}", 1
            started += 1
        else:
            break
        final = float(rng.uniform(0.1, 1.0))
        for step in range(first, n_steps + 1):
            value = final + 0.5 * float(np.exp(-t[step - 1] / 3)) + float(rng.normal(0, 0.01))
            t0 = time.perf_counter()
            d = engine.report(tid, step, value)
            if timing:
                report_us.append((time.perf_counter() - t0) * 1e6)
            if d.action is not Action.CONTINUE:
                break
        else:
            engine.complete(tid)
    return {
        "n_trials": engine.study.n_trials,
        "paused_while_timing_min": min(paused_seen) if paused_seen else 0,
        "decision_us_p50": statistics.median(report_us),
        "decision_us_p90": float(np.percentile(report_us, 90)),
        "choose_next_us_p50": statistics.median(choose_us),
        "choose_next_us_p90": float(np.percentile(choose_us, 90)),
        "n_decisions_timed": len(report_us),
        "n_choices_timed": len(choose_us),
    }


def markdown(result: dict[str, Any]) -> str:
    """A small Markdown table of a measurement."""
    return (
        f"`{result['command']}` — `{result['policy']}`, {result['n_trials']} trials, "
        f"at least {result['paused_while_timing_min']} paused while timing\n\n"
        "| what | p50 µs | p90 µs | timed |\n|---|---|---|---|\n"
        f"| decision (`Engine.report`) | {result['decision_us_p50']:.0f} "
        f"| {result['decision_us_p90']:.0f} | {result['n_decisions_timed']} |\n"
        f"| what runs next (`choose_next`) | {result['choose_next_us_p50']:.0f} "
        f"| {result['choose_next_us_p90']:.0f} | {result['n_choices_timed']} |\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print (and optionally write) the measurements."""
    parser = argparse.ArgumentParser(prog="python -m hpprune.bench.default_cost")
    parser.add_argument("--trials", type=int, default=1000, help="trials before timing")
    parser.add_argument("--steps", type=int, default=52, help="steps of a full curve")
    parser.add_argument("--timed", type=int, default=300, help="choices to time")
    parser.add_argument("-o", "--output", help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    for name in ("trials", "steps", "timed"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    result = {
        "command": "python -m hpprune.bench.default_cost " + " ".join(argv or sys.argv[1:]),
        "policy": repr(hpprune.default_policy(max_step=args.steps)),
        **measure(args.trials, args.steps, args.timed),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        from hpprune.audit.outputs import write_text

        write_text(Path(args.output), text + "\n")
        write_text(Path(args.output.removesuffix(".json") + ".md"), markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
