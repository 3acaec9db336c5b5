"""``hpprune bench calibration|drift|transfer``: small end-to-end runs and bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpprune.bench.cli import main


def _lcbench_available() -> bool:
    from hpprune.bench.lcbench import default_data_dir

    return (default_data_dir() / "model.onnx").is_file()


needs_lcbench = pytest.mark.skipif(not _lcbench_available(), reason="LCBench surrogate missing")
QUICK = ["--quick", "--seeds", "1", "--workers", "1", "--jobs", "1", "--no-progress"]


@needs_lcbench
def test_calibration_small_run(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    assert main(["calibration", "--tasks", "189906", *QUICK, "-o", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["ece"]) == {"lcbench"}
    assert 0.0 <= doc["ece"]["lcbench"] <= 1.0
    assert 0.0 <= doc["ece_raw"]["lcbench"] <= 1.0
    assert doc["reliability"]["lcbench"]["n"] > 1000
    assert "inloop_w1" in doc["ece_inloop"]
    assert (out / "summary.md").read_text().startswith("# hpprune bench calibration")
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG"


@needs_lcbench
def test_drift_small_run(tmp_path: Path) -> None:
    out = tmp_path / "drift"
    assert main(["drift", "--tasks", "126026>167168", *QUICK, "-o", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["methods"]) == {
        "hpprune.conservative@w1",
        "hpprune.conservative_drift@w1",
        "hpprune.default@w1",
        "none@w1",
    }
    for key in ("hpprune.conservative@w1", "hpprune.conservative_drift@w1"):
        row = doc["methods"][key]
        assert 0.0 <= row["regret_after_shift"] <= 1.0
        assert 0.0 <= row["regret_before_shift"] <= 1.0
    det = doc["methods"]["hpprune.conservative_drift@w1"]["detections"]["126026>167168"]
    assert det["runs"] == 1 and det["control"] is False
    assert (out / "regret_after_shift.png").read_bytes()[:4] == b"\x89PNG"


@needs_lcbench
def test_transfer_small_run(tmp_path: Path) -> None:
    out = tmp_path / "transfer"
    args = ["transfer", "--tasks", "189906>189905", "168329>3945", *QUICK, "-o", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["methods"]) == {
        "hpprune.conservative@w1",
        "hpprune.conservative_warm@w1",
        "none@w1",
    }
    warm = doc["methods"]["hpprune.conservative_warm@w1"]
    assert set(warm["per_task"]) == {"189906>189905", "168329>3945"}
    for row in warm["per_task"].values():
        assert set(row["regret_at"]) == {"0.1", "0.25", "0.5", "1.0"}
    assert warm["warm_start"]["168329>3945"]["kind"] == "unrelated"
    assert warm["warm_start"]["168329>3945"]["runs_dropped"] == 1  # the scales differ
    assert warm["warm_start"]["189906>189905"]["borrowed_curves_median"] >= 1
    assert (out / "transfer.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calibration", "--seeds", "0", "-o", "{out}"], "--seeds"),
        (["calibration", "--workers", "0", "-o", "{out}"], "--workers"),
        (["calibration", "--jobs", "0", "-o", "{out}"], "--jobs"),
        (["calibration", "--tasks", "nope", "-o", "{out}"], "unknown task"),
        (["drift", "--tasks", "nope>189906", "-o", "{out}"], "unknown LCBench task"),
        (["drift", "--seeds", "0", "-o", "{out}"], "--seeds"),
        (["transfer", "--tasks", "189906", "-o", "{out}"], "SOURCE>TARGET"),
        (["transfer", "--tasks", "189906>nope", "-o", "{out}"], "unknown task"),
    ],
)
def test_bad_options_exit_2_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    rc = main([str(tmp_path / "o") if a == "{out}" else a for a in args])
    assert rc == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["calibration", "drift", "transfer"])
def test_output_is_required(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name])
    assert exc.value.code == 2
    assert "--output" in capsys.readouterr().err
