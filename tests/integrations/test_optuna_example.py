"""examples/optuna_sklearn.py runs end to end and its log replays identically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hpprune.audit.replay import replay

ROOT = Path(__file__).resolve().parents[2]


def test_example_runs(tmp_path: Path) -> None:
    log = tmp_path / "digits.jsonl"
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "optuna_sklearn.py"),
            "--trials", "12", "--epochs", "6", "--log", str(log),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "12 trials" in proc.stdout and "pruned by hpprune" in proc.stdout
    result = replay(log)
    assert result.all_identical
