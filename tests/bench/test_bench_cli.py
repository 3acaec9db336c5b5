"""``hpprune bench``: end to end on a messy curves table, bad rows, options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpprune.bench.cli import main

FIELDS = {
    "speedup",
    "final_regret",
    "regret_at",
    "p_discard_best",
    "steps_saved",
    "decision_us_p50",
}


def messy_table(path: Path, n: int = 24, m: int = 8, seed: int = 0) -> Path:
    """Two tasks, shuffled rows, string ids, ragged curves, gaps, NaN/empty/inf cells."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in ("alpha", "beta"):
        for i in range(n):
            cid = f"{i:03d}" if i % 2 else f"cfg-{i}"
            length = m if i % 5 else int(rng.integers(2, m))  # ragged
            level = rng.uniform(0.3, 0.9)
            for step in range(1, length + 1):
                if i % 7 == 3 and step == 2:
                    continue  # missing step
                value = f"{level + 0.5 * np.exp(-step / 3) + rng.normal(0, 0.01):.4f}"
                if i % 11 == 4 and step == 3:
                    value = "nan"
                if i % 13 == 6 and step == 4:
                    value = ""
                if i == 9 and step == 5:
                    value = "-inf"
                elapsed = "" if (i % 4 == 1 and step == 3) else f"{step * (1 + i % 3):.2f}"
                rows.append(f"{task},{cid},{step},{value},{elapsed}")
    order = rng.permutation(len(rows))
    lines = ["task,config_id,step,value,elapsed_s"] + [rows[k] for k in order]
    path.write_text("\n".join(lines) + "\n")
    return path


BASE = ["--seeds", "2", "--jobs", "1", "--no-progress"]
FEW = ["--methods", "hpprune.median", "optuna.median", "ray.asha", "oracle", "top1step"]


def test_curves_table_end_to_end(tmp_path: Path) -> None:
    table = messy_table(tmp_path / "curves.csv")
    out = tmp_path / "out"
    args = ["curves", str(table), "--direction", "maximize", "--workers", "1", "3"]
    rc = main([*args, "--budget", "6x", *BASE, *FEW, "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    proto = doc["protocol"]
    assert sorted(proto["tasks"]) == ["alpha", "beta"]  # order of first appearance
    assert proto["workers"] == [1, 3]
    assert proto["per_task"]["alpha"]["budget"] == 6 * 8
    assert proto["command"].startswith("hpprune bench curves ")
    names = {"hpprune.median", "optuna.median", "ray.asha", "oracle", "top1step", "none"}
    assert set(doc["methods"]) == {f"{m}@w{w}" for m in names for w in (1, 3)}
    for entry in doc["methods"].values():
        assert set(entry) >= FIELDS
        assert set(entry["regret_at"]) == {"0.1", "0.25", "0.5", "1.0"}
        assert all(0.0 <= v <= 1.0 for v in entry["regret_at"].values())
        assert entry["speedup"] is None or entry["speedup"] > 0
        assert 0.0 <= entry["p_discard_best"] <= 1.0
        assert entry["n_runs"] == 4
    assert doc["methods"]["none@w1"]["speedup"] == 1.0
    assert doc["methods"]["oracle@w1"]["final_regret"] == 0.0
    assert doc["methods"]["none@w1"]["steps_saved"] == 0.0
    summary = (out / "summary.md").read_text()
    assert "| method | speedup |" in summary and "## 3 workers" in summary
    assert (out / "regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = (out / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 2 * 2 * 2 * len(names)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("x,abc,0.5,1.0", "not an integer step"),
        ("x,1.5,0.5,1.0", "not an integer step"),
        ("x,-1,0.5,1.0", "negative"),
        ("x,1,high,1.0", "'value'|not a number"),
        ("x,1,0.5,-3", "elapsed_s"),
    ],
)
def test_bad_rows_fail_with_a_message_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, message: str
) -> None:
    table = tmp_path / "bad.csv"
    good = [f"a,{s},{0.5 + s / 10},{s}.0" for s in range(1, 4)]
    bad_id, rest = cell.split(",", 1)
    table.write_text("config_id,step,value,elapsed_s\n" + "\n".join(good) + f"\n{cell}\n")
    del bad_id, rest
    rc = main(["curves", str(table), "--direction", "maximize", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "hpprune bench: error:" in err
    assert "row 4" in err
    import re

    assert re.search(message, err)
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["curves", "{table}", "--out", "{out}"], "--direction"),
        (["curves", "--direction", "maximize", "--out", "{out}"], "needs a FILE"),
        (["curves", "{missing}", "--direction", "maximize", "--out", "{out}"], "not found"),
        (
            ["curves", "{table}", "--direction", "maximize", "--methods", "nope", "--out", "{out}"],
            "matches no method",
        ),
        (
            ["curves", "{table}", "--direction", "maximize", "--tasks", "zzz", "--out", "{out}"],
            "not in",
        ),
        (
            ["curves", "{table}", "--direction", "maximize", "--budget", "lots", "--out", "{out}"],
            "budget",
        ),
        (
            ["curves", "{table}", "--direction", "maximize", "--seeds", "0", "--out", "{out}"],
            "--seeds",
        ),
        (
            ["curves", "{table}", "--direction", "maximize", "--workers", "0", "--out", "{out}"],
            "--workers",
        ),
        (["sklearn", "--tasks", "iris-svm", "--out", "{out}"], "unknown sklearn task"),
    ],
)
def test_invalid_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    table = messy_table(tmp_path / "t.csv", n=6)
    subs = {
        "{table}": str(table),
        "{out}": str(tmp_path / "o"),
        "{missing}": str(tmp_path / "no.csv"),
    }
    rc = main([subs.get(a, a) for a in args])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_out_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lcbench"])
    assert exc.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


def test_list_methods(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-methods"]) == 0
    out = capsys.readouterr().out
    for name in ("optuna.wilcoxon", "ray.median_stopping", "top1step", "hpprune.median"):
        assert name in out


def test_parallel_jobs_give_the_same_results(tmp_path: Path) -> None:
    table = messy_table(tmp_path / "c.csv", n=12)
    docs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"o{jobs}"
        args = ["curves", str(table), "--direction", "minimize", "--seeds", "2", "--jobs", jobs]
        args += ["--no-progress", "--methods", "hpprune.median", "oracle", "--out", str(out)]
        assert main(args) == 0
        docs.append(json.loads((out / "results.json").read_text())["methods"])
    for key, entry in docs[0].items():
        assert entry["regret_at"] == docs[1][key]["regret_at"]
        assert entry["speedup"] == docs[1][key]["speedup"]


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hpprune.bench", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "hpprune bench" in proc.stdout and "--quick" in proc.stdout


def test_lcbench_small_run(tmp_path: Path) -> None:
    from hpprune.bench.lcbench import default_data_dir

    if not (default_data_dir() / "model.onnx").is_file():
        pytest.skip("LCBench surrogate not available")
    out = tmp_path / "lc"
    args = ["lcbench", "--tasks", "189906", "--seeds", "1", "--workers", "2", "--configs", "80"]
    args += ["--budget", "4x", "--methods", "hpprune.median", "optuna.hyperband", "ray.hyperband"]
    rc = main([*args, "--jobs", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["methods"]) == {
        "hpprune.median@w2",
        "optuna.hyperband@w2",
        "ray.hyperband@w2",
        "none@w2",
    }
    assert doc["protocol"]["per_task"]["189906"]["budget"] == 4 * 52
