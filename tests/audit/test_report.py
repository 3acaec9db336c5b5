"""The HTML report: self-contained, correct data, and it renders in a real headless Chromium."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune.audit.cli import main
from hpprune.audit.explain import FATES, fmt, fold_log, load_records
from hpprune.audit.report import build_report, write_report
from hpprune.types import policy_digest
from tests.audit.logs import make_log

HOSTILE = '</script><script>document.title="pwned"</script><!-- & "q" \'s'


def _data(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="hp-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def _hostile_log(path: Path) -> Path:
    log = make_log(path, hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=2), seed=7)
    eng = hpprune.Engine.from_log(log)
    eng.add_trial(HOSTILE, {"note": HOSTILE})
    eng.report(HOSTILE, 0, 0.5, elapsed_s=1.0)
    eng.complete(HOSTILE)
    eng.close()
    return log


def test_report_is_self_contained_and_matches_the_log(tmp_path: Path) -> None:
    log = _hostile_log(tmp_path / "a.jsonl")
    html = build_report(log, budget_s=500.0)
    for needle in ("<link", " src=", "@import", "url(", "http://", "https://"):
        assert needle not in html, needle
    assert html.count("</script>") == 2  # the hostile id stays inside the data block
    data = _data(html)
    facts = fold_log(log)
    meta = data["meta"]
    assert meta["n_trials"] == len(facts.trials) and meta["n_reports"] == facts.n_reports
    assert meta["counts"] == facts.counts()
    assert meta["budget"] == 500.0
    assert meta["best_id"] == facts.best_trial().trial_id  # type: ignore[union-attr]
    assert data["reason_counts"] == facts.reason_counts()
    t = data["trials"]
    assert t["id"] == list(facts.trials)
    assert HOSTILE in t["id"]
    for i, tid in enumerate(t["id"]):
        tf = facts.trials[tid]
        assert data["fates"][t["fate"][i]] == tf.state
        finite = [(s, v) for s, v in zip(tf.steps, tf.values, strict=True) if np.isfinite(v)]
        assert list(zip(t["xs"][i], t["ys"][i], strict=True)) == [
            (s, float(f"{v:.6g}")) for s, v in finite
        ]
        if tf.stop is not None:
            assert t["stop_step"][i] == tf.stop.step
            assert data["reasons"][t["reason"][i]] == tf.stop.reason
            # Evidence is shown as key/value pairs rounded for reading (4 significant digits).
            assert t["evidence"][i] == [[k, fmt(v)] for k, v in tf.stop.evidence.items()]
            assert t["decided"][i] == [tf.stop.step, "stop", tf.stop.reason, tf.stop.rule]
            for v in (v for _, v in t["evidence"][i]):
                assert not re.search(r"\d\.\d{5,}", v), v
        assert t["params"][i] == [[k, fmt(v)] for k, v in tf.params.items()]
    assert t["n_bad"][t["id"].index("t00007")] == 1  # the NaN report is counted, not drawn
    assert data["compute"]["y"][-1] == pytest.approx(facts.total_compute(), rel=1e-5)


def test_downsampling_keeps_first_best_and_last_points(tmp_path: Path) -> None:
    log = make_log(tmp_path / "n.jsonl", hpprune.NoPruning(), n_trials=300, n_steps=80, seed=1,
                   buffer_size=1000, extras=False)  # fmt: skip
    data = _data(build_report(log, max_points=3000))
    facts = fold_log(log)
    assert data["meta"]["downsampled"] is True and data["meta"]["per_curve"] == 12
    for i, tid in enumerate(data["trials"]["id"]):
        tf = facts.trials[tid]
        xs, ys = data["trials"]["xs"][i], data["trials"]["ys"][i]
        assert 12 <= len(xs) <= 15 and xs == sorted(xs)
        assert xs[0] == tf.steps[0] and xs[-1] == tf.steps[-1]
        assert min(ys) == float(f"{tf.best_value(facts.direction):.6g}")


def test_budget_from_the_log_and_validation(tmp_path: Path) -> None:
    log = make_log(tmp_path / "b.jsonl", seed=2)
    records = load_records(log)
    records[0]["policy"] = {"type": "x.Scheduler", "params": {"budget_hours": 0.05}}
    records[0]["policy_hash"] = policy_digest(records[0]["policy"])  # a consistent header
    assert _data(build_report(records))["meta"]["budget"] == 180.0
    records[0]["budget_s"] = 90  # a header-level budget wins
    assert _data(build_report(records))["meta"]["budget"] == 90.0
    assert _data(build_report(records, budget_s=10.0))["meta"]["budget"] == 10.0
    with pytest.raises(ValueError, match="budget_s"):
        build_report(records, budget_s=-1.0)
    with pytest.raises(ValueError, match="max_points"):
        build_report(records, max_points=10)


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = make_log(tmp_path / "c.jsonl", seed=3)
    out = tmp_path / "sub" / "r.html"
    buf = io.StringIO()
    assert main(["report", str(log), "-o", str(out), "--budget-hours", "1"], out=buf) == 0
    assert out.is_file() and "wrote" in buf.getvalue()
    assert _data(out.read_text())["meta"]["budget"] == 3600.0
    assert main(["report", str(log), "-o", str(out), "--budget-s", "-3"], out=buf) == 2
    assert "expected a finite number > 0" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.jsonl"), "-o", str(out)], out=buf) == 2


# ----------------------------------------------------------------- browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _need_chromium() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed")
    return path


def _run_chromium(
    binary: str, tmp: Path, page: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}", "--window-size=1280,2000",
        "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run(
        [binary, *flags, *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check_page(binary: str, tmp: Path, page: Path) -> tuple[str, np.ndarray]:
    dom = _run_chromium(binary, tmp, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    assert 'data-status="ok"' in dom.stdout, dom.stdout[:3000]
    assert re.search(r'<pre id="hp-errors" class="warn" hidden="">\s*</pre>', dom.stdout)
    png = tmp / f"{page.stem}.png"
    shot = _run_chromium(binary, tmp, page, f"--screenshot={png}")
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"))
    return dom.stdout, pixels


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = _need_chromium()
    log = _hostile_log(tmp_path / "a.jsonl")
    page = write_report(log, tmp_path / "report.html", budget_s=400.0)
    dom, pixels = _check_page(binary, tmp_path, page)
    assert "<title>hpprune report: synthetic-7</title>" in dom  # the hostile id did not run
    assert "pwned" not in dom.split("<body", 1)[0]
    assert re.search(r"\d+ of \d+ trials", dom)  # the table was rendered by the script
    assert "ran to completion" in dom  # survivors
    assert pixels.shape[:2] == (2000, 1280)
    assert float(pixels.std()) > 20.0
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200
    # The fate colours are drawn (legend swatches and bars are solid fills).
    for rgb in ((0x21, 0x66, 0xAC), (0xD6, 0x60, 0x4D)):
        assert int(np.all(pixels == rgb, axis=-1).sum()) > 100, rgb


@pytest.mark.browser
@pytest.mark.slow
def test_ten_thousand_trials_render_in_seconds(tmp_path: Path) -> None:
    binary = _need_chromium()
    log = make_log(
        tmp_path / "big.jsonl",
        hpprune.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
        n_trials=10_000, n_steps=30, n_workers=16, seed=3, buffer_size=5000,
    )  # fmt: skip
    t0 = time.perf_counter()
    page = write_report(log, tmp_path / "big.html")
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    dom, pixels = _check_page(binary, tmp_path, page)
    browser_s = time.perf_counter() - t1
    print(f"10k trials: report written in {build_s:.2f} s, two Chromium runs {browser_s:.2f} s")
    assert build_s < 20.0  # about 1-2 s on an idle machine; generous for shared CI
    assert "10000 of 10000 trials" in dom
    assert page.stat().st_size < 8_000_000
    assert float(pixels.std()) > 20.0
    assert set(FATES) >= {"completed", "stopped"}


# ------------------------------------------------------- look and slots
SLOTS = "__JS__ __DATA__ __CSS__ __TITLE__ __STATIC__ $data ${js} $$ $title"
"""Text that looked like a slot of the old str.replace template (issue 14's finding)."""


def _look_log(path: Path) -> tuple[Path, dict[str, Any]]:
    """A halving study with a log-scale, a categorical and an integer parameter."""
    space = {
        "lr": hpprune.space.LogUniform(1e-5, 1.0),
        "opt": hpprune.space.Categorical(["sgd", "adam", SLOTS]),
        "width": hpprune.space.IntUniform(8, 256),
    }
    engine = hpprune.Engine(
        hpprune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "maximize",
        log=path,
        study_name=f"look {SLOTS}",
    )
    rng = np.random.default_rng(4)
    for n in range(40):
        params = hpprune.space.sample(space, 4, n)
        tid = str(n)
        engine.add_trial(tid, params)
        quality = 1.0 - abs(math.log10(params["lr"]) + 2.5) / 3.0 + rng.normal(0, 0.05)
        for step in range(12):
            value = quality * (1.0 - 0.6 ** (step + 1)) + 1e-9 * rng.random()
            if engine.report(tid, step, value, elapsed_s=0.5 * (step + 1)).stops:
                break
        else:
            engine.complete(tid)
    engine.close()
    return path, space


def test_slot_names_in_the_data_stay_data(tmp_path: Path) -> None:
    log, space = _look_log(tmp_path / "slots.jsonl")
    html = build_report(log, space=space)
    assert html.count("</script>") == 2
    assert html.count('id="hp-data"') == 1
    data = _data(html)  # the data block is whole: nothing was spliced into it
    assert data["title"] == f"hpprune report: look {SLOTS}"
    opt = next(c for c in data["params"]["columns"] if c["name"] == "opt")
    assert SLOTS in opt["categories"]
    js = (Path(hpprune.__file__).parent / "audit" / "report_assets" / "report.js").read_text()
    assert js in html  # the script is inserted once, unchanged


def test_parameter_columns_kind_and_scale(tmp_path: Path) -> None:
    log, space = _look_log(tmp_path / "p.jsonl")
    cols = {c["name"]: c for c in _data(build_report(log, space=space))["params"]["columns"]}
    assert (cols["lr"]["kind"], cols["lr"]["log"]) == ("num", True)
    assert (cols["width"]["kind"], cols["width"]["log"]) == ("num", False)
    assert cols["opt"]["kind"] == "cat"
    # Without the space, a positive parameter spanning 100x or more still gets a log axis.
    cols = {c["name"]: c for c in _data(build_report(log))["params"]["columns"]}
    assert cols["lr"]["log"] and not cols["width"]["log"]


@pytest.mark.browser
def test_report_look_in_headless_chromium(tmp_path: Path) -> None:
    """At 1,400 px the table fits, a row opens on its curve and cutoff, parameters are drawn."""
    binary = _need_chromium()
    log, space = _look_log(tmp_path / "look.jsonl")
    facts = fold_log(log)
    stopped = next(t for t in facts.trials.values() if t.state == "stopped")
    page = write_report(log, tmp_path / "look.html", space=space)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,3200",
        "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    url = page.resolve().as_uri() + f"#trial={stopped.trial_id}"
    dom = subprocess.run(
        [binary, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not [ln for ln in dom.stderr.splitlines() if "Uncaught" in ln]
    out = dom.stdout
    assert 'data-status="ok"' in out and 'data-table-fits="yes"' in out, out[:2000]
    assert f'data-detail="{stopped.trial_id}"' in out  # the row opened on its curve
    assert "cutoff" in out and "of the rung at step" in out
    assert len(re.findall(r'<canvas class="param" data-k="\d+"', out)) == 3
    assert re.search(r'<div class="pname">lr \(log\)</div>', out)
    assert re.search(r'<div class="pname">width</div>', out)
    body = out.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    for number in re.findall(r"\d+\.\d+", body):  # rounded for reading, no 16-digit floats
        assert len(number.replace(".", "").lstrip("0")) <= 6, number
    png = tmp_path / "look.png"
    shot = subprocess.run(
        [binary, *flags, f"--screenshot={png}", url], capture_output=True, text=True, timeout=120
    )
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape[:2] == (3200, 1400)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    for rgb in ((0x21, 0x66, 0xAC), (0xD6, 0x60, 0x4D)):  # completed and stopped are drawn
        assert int(np.all(pixels == rgb, axis=-1).sum()) > 100, rgb


def test_extras_list_what_they_need() -> None:
    """The report needs no extra package; its page files ship as package data."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["report"] == []
    data = project["tool"]["setuptools"]["package-data"]["hpprune"]
    for name in ("report.html", "report.css", "report.js"):
        assert (root / "hpprune" / "audit" / "report_assets" / name).is_file()
        assert any(Path("audit/report_assets", name).match(glob) for glob in data), name
    source = (root / "hpprune" / "audit" / "report.py").read_text()
    assert "matplotlib" not in source and '.replace("__' not in source
