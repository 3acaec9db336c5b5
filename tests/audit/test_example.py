"""The documented three-command workflow runs end to end (examples/audit_workflow.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_audit_workflow_example(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "audit_workflow.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "$ hpprune import optuna" in out and "60 trials" in out
    # hpprune's median with Optuna's parameters reproduces the pruner: nothing discarded.
    row = re.search(r"^yesterday\.jsonl\s+median:n_warmup_steps=2\s+\S+\s+(\S+)", out, re.M)
    assert row is not None and row.group(1) == "no", out
    assert "best trial survived:" in out
    html = tmp_path / "yesterday.html"
    assert html.is_file() and 'id="hp-data"' in html.read_text()
