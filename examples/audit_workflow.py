"""Yesterday's Optuna study -> backtest two policies on it -> open a report. Three commands.

The script first plays "yesterday": it runs a small Optuna study (a toy training
curve, Optuna's own MedianPruner, SQLite storage). Then it runs the three audit
commands a user would type, through the real ``hpprune`` command line:

    hpprune import optuna --storage sqlite:///yesterday.db --study yesterday -o yesterday.jsonl
    hpprune backtest yesterday.jsonl --policy median:n_startup_trials=5,n_warmup_steps=2 \\
        --policy percentile:percentile=25,n_startup_trials=5,n_warmup_steps=2
    hpprune report yesterday.jsonl -o yesterday.html

Run it:  python examples/audit_workflow.py [OUTPUT_DIR]   (default: ./audit-example)
Then open OUTPUT_DIR/yesterday.html in any browser (no network needed).
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

import optuna

from hpprune.cli import main as hpprune


def yesterdays_study(storage: str) -> None:
    """A sequential Optuna study whose trials report a validation loss every epoch."""

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        width = trial.suggest_int("width", 16, 256, log=True)
        floor = 0.05 + (math.log10(lr) + 2.0) ** 2 / 8 + 8.0 / width
        loss = 2.0
        for epoch in range(20):
            loss = floor + (2.0 - floor) * math.exp(-0.25 * (epoch + 1) * math.sqrt(lr * 30))
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(
        storage=storage,
        study_name="yesterday",
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=60)


def run(argv: list[str]) -> int:
    """Print a command as a user would type it, then run it."""
    print("\n$ hpprune " + " ".join(shlex.quote(a) for a in argv), flush=True)
    code = hpprune(argv)
    if code not in (0, 1):
        raise SystemExit(code)
    return code


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "audit-example")
    out.mkdir(parents=True, exist_ok=True)
    db = out / "yesterday.db"
    db.unlink(missing_ok=True)
    storage = f"sqlite:///{db}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yesterdays_study(storage)

    log = str(out / "yesterday.jsonl")
    # 1. Import the study as an hpprune audit log.
    run(["import", "optuna", "--storage", storage, "--study", "yesterday", "-o", log, "--force"])
    # 2. Backtest two policies on it: how often would each have discarded the best trial?
    run(
        [
            "backtest",
            log,
            "--policy",
            "median:n_startup_trials=5,n_warmup_steps=2",
            "--policy",
            "percentile:percentile=25,n_startup_trials=5,n_warmup_steps=2",
        ]
    )
    # (The what-if table of one policy, trial by trial.)
    run(["replay", log, "--policy", "percentile:percentile=25,n_startup_trials=5,n_warmup_steps=2"])
    # 3. One self-contained HTML report.
    run(["report", log, "-o", str(out / "yesterday.html")])
    print(f"\nOpen {out / 'yesterday.html'} in a browser.")


if __name__ == "__main__":
    main()
