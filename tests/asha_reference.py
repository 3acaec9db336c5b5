"""A deliberately naive reference of asynchronous successive halving (Optuna's rule).

It keeps, per rung, the list of values of the trials *judged* there, exactly as
Optuna's ``completed_rung_<k>`` system attributes do, and shares no code with
hpprune. The halving and Hyperband tests compare the Engine against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def run_reference(
    events: Sequence[tuple[str, int, float]],
    *,
    min_resource: int,
    reduction_factor: int,
    rate_of: Callable[[str], int],
    bootstrap_count: int = 0,
    maximize: bool = False,
) -> dict[str, list[tuple[int, str, str]]]:
    """Decide every report; a stopped trial's later reports are skipped.

    Args:
        events: ``(trial, step, value)`` reports in arrival order.
        min_resource: Rung-0 resource for rate 0.
        reduction_factor: Promotion ratio.
        rate_of: The min early-stopping rate (Hyperband bracket) of a trial;
            trials with different rates never compete.
        bootstrap_count: Optuna's bootstrap count.
        maximize: Whether larger values are better.

    Returns:
        ``{trial: [(step, action, reason), ...]}`` with reasons ``ok``,
        ``promoted``, ``halving_rung_cut`` or ``halving_bootstrap``.
    """
    judged: dict[tuple[int, int], list[float]] = {}
    last: dict[str, int] = {}
    stopped: set[str] = set()
    out: dict[str, list[tuple[int, str, str]]] = {}
    for trial, step, value in events:
        if trial in stopped:
            continue
        rate = rate_of(trial)
        previous = last.get(trial, -1)
        last[trial] = step
        score = -value if maximize else value
        action, reason = "continue", "ok"
        rung = 0
        while True:
            resource = min_resource * reduction_factor ** (rate + rung)
            if resource > step:
                break
            if resource > previous:
                pool = judged.setdefault((rate, rung), [])
                pool.append(score)
                ranked = sorted(pool)
                keep = max(len(ranked) // reduction_factor - 1, 0)
                if len(ranked) <= bootstrap_count:
                    action, reason = "stop", "halving_bootstrap"
                    break
                if score > ranked[keep]:
                    action, reason = "stop", "halving_rung_cut"
                    break
                reason = "promoted"
            rung += 1
        out.setdefault(trial, []).append((step, action, reason))
        if action == "stop":
            stopped.add(trial)
    return out
