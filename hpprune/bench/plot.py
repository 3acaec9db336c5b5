"""``regret.png``: mean normalised regret against the budget, one line per method."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["plot_regret"]

_STYLE = {"hpprune": "-", "optuna": "--", "ray": ":", "baseline": "-."}
_FLOOR = 1e-3


def _family(name: str) -> str:
    head = name.split(".")[0]
    return head if head in ("hpprune", "optuna", "ray") else "baseline"


def plot_regret(doc: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Draw one panel per worker setting from a results document.

    Regret is drawn on a log scale whose floor is half the lowest final regret
    of any method but the oracle (at least 0.001); lower values, including exact
    zeros, are drawn at the floor. Missing (None) points are skipped.

    Args:
        doc: The ``results.json`` document (needs ``regret_curve`` per method).
        path: Output PNG path.

    Raises:
        ImportError: If matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = doc["protocol"]["workers"]
    fig, axes = plt.subplots(1, len(workers), figsize=(6.5 * len(workers), 5.2), squeeze=False)
    cmap = plt.get_cmap("tab20")
    names = sorted({e["method"] for e in doc["methods"].values()})
    colours = {n: cmap(i % 20) for i, n in enumerate(names)}
    finals = [
        e["final_regret"]
        for e in doc["methods"].values()
        if e["method"] != "oracle" and e.get("final_regret")
    ]
    floor = max(_FLOOR, 0.5 * min(finals)) if finals else _FLOOR
    for ax, w in zip(axes[0], workers, strict=True):
        for entry in doc["methods"].values():
            if entry["workers"] != w:
                continue
            curve = entry["regret_curve"]
            xs = curve["budget_fraction"]
            ys = [max(y, floor) if y is not None else None for y in curve["regret"]]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            name = entry["method"]
            fam = _family(name)
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                _STYLE[fam],
                color="black" if name == "hpprune.default" else colours[name],
                linewidth=2.4 if name == "hpprune.default" else 1.3,
                label=name,
            )
        ax.set_yscale("log")
        ax.set_ylim(floor * 0.9, 1.05)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"fraction of budget ({doc['protocol']['budget']})")
        ax.set_ylabel("mean normalised regret (log)")
        tasks = ", ".join(doc["protocol"]["tasks"])
        ax.set_title(f"{doc['protocol']['source']}: {tasks} — {w} worker(s)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    from hpprune.audit.outputs import atomic_output

    with atomic_output(path) as fh:
        fig.savefig(fh, dpi=110, format="png")
    plt.close(fig)
