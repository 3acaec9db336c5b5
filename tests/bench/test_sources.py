"""Tests for the benchmark curve sources: CurveSet, LCBench, curves tables, sklearn."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpprune.bench import lcbench
from hpprune.bench import sklearn_curves as skc
from hpprune.bench.curves_table import load_curves_table, write_curves_table
from hpprune.bench.lcbench import (
    lcbench_curves,
    lcbench_curves_for_configs,
    repair_cumulative_time,
    sample_configs,
)
from hpprune.bench.sources import CurveSet

NAN = math.nan
INF = math.inf


def _curveset(**overrides: Any) -> CurveSet:
    fields: dict[str, Any] = {
        "task": "t",
        "direction": "maximize",
        "config_ids": ("a", "b", "c"),
        "values": np.array([[1.0, 2.0, NAN], [1.0, INF, NAN], [NAN, NAN, NAN]]),
        "elapsed": np.array([[1.0, NAN, 4.0], [0.5, 1.0, 1.5], [NAN, NAN, NAN]]),
        "params": ({"x": 1}, {"x": 2}, {"x": 3}),
        "steps": np.array([1, 2, 3]),
    }
    fields.update(overrides)
    return CurveSet(**fields)


# --------------------------------------------------------------------------- CurveSet


class TestCurveSet:
    def test_helpers(self) -> None:
        cs = _curveset()
        assert cs.n_configs == 3
        assert cs.n_steps == 3
        assert cs.max_step == 3
        final = cs.final_values()
        assert final[0] == 2.0
        assert final[1] == 1.0  # inf is skipped: last *finite* value
        assert math.isnan(final[2])

    def test_step_seconds_attributes_gaps_to_the_reporting_step(self) -> None:
        secs = _curveset().step_seconds()
        np.testing.assert_array_equal(secs[0], [1.0, NAN, 3.0])
        np.testing.assert_array_equal(secs[1], [0.5, 0.5, 0.5])
        assert np.all(np.isnan(secs[2]))
        assert np.nansum(secs[0]) == 4.0
        no_elapsed = _curveset(elapsed=None).step_seconds()
        assert no_elapsed.shape == (3, 3) and np.all(np.isnan(no_elapsed))

    def test_arrays_are_copied_and_read_only(self) -> None:
        values = np.array([[1.0, 2.0]])
        cs = CurveSet("t", "minimize", ("a",), values, None, None, np.array([1, 2]))
        values[0, 0] = 99.0
        assert cs.values[0, 0] == 1.0
        with pytest.raises(ValueError):
            cs.values[0, 0] = 5.0
        assert cs.values.dtype == np.float64 and cs.steps.dtype == np.int64

    def test_direction_normalised(self) -> None:
        assert _curveset(direction=" MAXIMIZE ").direction == "maximize"

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"task": ""}, "task"),
            ({"direction": "up"}, "direction"),
            ({"config_ids": ("a", "a", "b")}, "config_ids"),
            ({"config_ids": ("a", "", "b")}, "config_ids"),
            ({"config_ids": ("a", "b")}, "config_ids"),
            ({"values": np.zeros(3)}, "values"),
            ({"values": np.zeros((3, 0))}, "values"),
            ({"steps": np.array([1, 2])}, "steps"),
            ({"steps": np.array([1, 3, 2])}, "steps"),
            ({"steps": np.array([-1, 0, 1])}, "steps"),
            ({"steps": np.array([1.0, 1.5, 2.0])}, "steps"),
            ({"elapsed": np.zeros((3, 2))}, "elapsed"),
            ({"elapsed": np.array([[1.0, 0.5, 2.0], [0, 0, 0], [0, 0, 0]])}, "elapsed"),
            ({"elapsed": np.array([[1.0, NAN, 0.5], [0, 0, 0], [0, 0, 0]])}, "elapsed"),
            ({"elapsed": np.full((3, 3), -1.0)}, "elapsed"),
            ({"elapsed": np.full((3, 3), INF)}, "elapsed"),
            ({"params": ({"x": 1},)}, "params"),
        ],
    )
    def test_validation_names_the_field(self, overrides: dict[str, Any], field: str) -> None:
        with pytest.raises(ValueError, match=f"`{field}"):
            _curveset(**overrides)

    def test_subset(self) -> None:
        cs = _curveset()
        sub = cs.subset([2, 0])
        assert sub.config_ids == ("c", "a")
        np.testing.assert_array_equal(sub.values[1], cs.values[0])
        assert sub.params == ({"x": 3}, {"x": 1})
        assert sub.elapsed is not None and sub.elapsed[1, 2] == 4.0
        np.testing.assert_array_equal(sub.steps, cs.steps)
        assert cs.subset(np.array([False, True, False])).config_ids == ("b",)
        assert cs.subset([-1]).config_ids == ("c",)
        for bad in ([], [3], [0, 0], np.array([True, False])):
            with pytest.raises(ValueError, match="indices"):
                cs.subset(bad)


# --------------------------------------------------------------------------- LCBench

_HAVE_LCBENCH = importlib.util.find_spec("onnxruntime") is not None and all(
    (lcbench.default_data_dir() / f).is_file()
    for f in ("model.onnx", "encoding.json", "config_space.json")
)
needs_lcbench = pytest.mark.skipif(
    not _HAVE_LCBENCH and not os.environ.get(lcbench.ENV_VAR),
    reason="LCBench surrogate data or onnxruntime not available",
)


@needs_lcbench
class TestLCBench:
    def test_shapes_and_contents(self) -> None:
        cs = lcbench_curves("189906", 20, seed=0)
        assert cs.task == "189906"
        assert cs.direction == "maximize"
        assert cs.values.shape == (20, 52)
        np.testing.assert_array_equal(cs.steps, np.arange(1, 53))
        assert cs.max_step == 52
        assert np.all(np.isfinite(cs.values))
        assert cs.values.min() >= 0.0 and cs.values.max() <= 100.0  # percent
        assert cs.params is not None and len(cs.params) == 20
        assert set(cs.params[0]) == set(lcbench.HYPERPARAMETERS)
        assert len(set(cs.config_ids)) == 20

    def test_deterministic_and_seed_dependent(self) -> None:
        a = lcbench_curves("189906", 10, seed=3)
        b = lcbench_curves("189906", 10, seed=3)
        c = lcbench_curves("189906", 10, seed=4)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.elapsed is not None and b.elapsed is not None
        np.testing.assert_array_equal(a.elapsed, b.elapsed)
        assert a.params == b.params and a.params != c.params
        assert not np.allclose(a.values, c.values)

    def test_elapsed_is_strictly_increasing_and_positive(self) -> None:
        for task in ("167168", "189873", "189906", "126026"):  # 126026 has many raw dips
            cs = lcbench_curves(task, 100, seed=0)
            assert cs.elapsed is not None
            assert np.all(np.isfinite(cs.elapsed))
            assert np.all(cs.elapsed[:, 0] > 0)
            assert np.all(np.diff(cs.elapsed, axis=1) > 0)
            assert np.all(cs.step_seconds() > 0)

    def test_tasks_differ(self) -> None:
        a = lcbench_curves("167168", 30, seed=0)
        b = lcbench_curves("189906", 30, seed=0)
        assert a.params == b.params  # same configurations...
        assert np.mean(np.abs(a.values - b.values)) > 1.0  # ...different curves
        assert a.elapsed is not None and b.elapsed is not None
        assert not np.allclose(a.elapsed, b.elapsed)

    def test_other_metrics(self) -> None:
        ce = lcbench_curves("189906", 5, seed=0, metric="val_cross_entropy")
        assert ce.direction == "minimize"
        assert np.all(ce.values > 0)
        with pytest.raises(ValueError, match="metric"):
            lcbench_curves("189906", 5, seed=0, metric="time")
        with pytest.raises(ValueError, match="task"):
            lcbench_curves("does-not-exist", 5, seed=0)
        with pytest.raises(ValueError, match="n_configs"):
            lcbench_curves("189906", 0, seed=0)

    def test_sample_configs_respects_the_space(self) -> None:
        configs = sample_configs(2000, seed=1)
        assert sample_configs(5, seed=1) == configs[:5]  # prefix-stable
        assert sample_configs(5, seed=2) != configs[:5]
        bs = np.array([c["batch_size"] for c in configs])
        lr = np.array([c["learning_rate"] for c in configs])
        layers = np.array([c["num_layers"] for c in configs])
        assert all(isinstance(c["batch_size"], int) for c in configs)
        assert all(isinstance(c["learning_rate"], float) for c in configs)
        assert bs.min() == 16 and 480 <= bs.max() <= 512
        assert set(layers.tolist()) == {1, 2, 3, 4, 5}
        assert np.all((lr >= 1e-4) & (lr <= 0.1))
        # Log scale: the median sits near the geometric mean 10**-2.5, not near 0.05.
        assert 0.002 < np.median(lr) < 0.005
        assert 60 < np.median(bs) < 130  # geometric mean of 16..512 is ~90
        dropout = np.array([c["max_dropout"] for c in configs])
        assert 0.4 < np.median(dropout) < 0.6  # linear scale

    def test_explicit_configs_match_sampled_ones(self) -> None:
        configs = sample_configs(4, seed=9)
        a = lcbench_curves_for_configs("167168", configs)
        b = lcbench_curves("167168", 4, seed=9)
        np.testing.assert_array_equal(a.values, b.values)
        bad = [dict(configs[0], learning_rate=0.5)]
        with pytest.raises(ValueError, match="learning_rate"):
            lcbench_curves_for_configs("167168", bad)
        with pytest.raises(ValueError, match="num_layers"):
            lcbench_curves_for_configs("167168", [dict(configs[0], num_layers=2.5)])

    def test_data_dir_argument_and_env_var(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(lcbench.ENV_VAR, str(lcbench.resolve_data_dir()))
        assert len(lcbench_curves("189906", 2, seed=0).config_ids) == 2
        monkeypatch.setenv(lcbench.ENV_VAR, str(tmp_path / "nowhere"))
        with pytest.raises(FileNotFoundError, match="HPPRUNE_LCBENCH_DIR") as info:
            lcbench_curves("189906", 2, seed=0)
        assert str(tmp_path / "nowhere") in str(info.value)


def test_missing_data_dir_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-lcbench"
    with pytest.raises(FileNotFoundError) as info:
        lcbench_curves("189906", 3, seed=0, data_dir=missing)
    message = str(info.value)
    assert str(missing) in message and "HPPRUNE_LCBENCH_DIR" in message and "data_dir" in message
    (tmp_path / "encoding.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.onnx"):
        sample_configs(3, seed=0, data_dir=tmp_path)


def test_missing_optional_dependencies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lcbench._session.cache_clear()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    try:
        with pytest.raises(ImportError, match=r"pip install hpprune\[bench\]"):
            lcbench._session(str(tmp_path / "model.onnx"), 0)
    finally:
        lcbench._session.cache_clear()
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install hpprune\[bench\]"):
        load_curves_table(path, "minimize")


def test_curveset_accepts_the_direction_enum() -> None:
    from hpprune.types import Direction

    cs = _curveset(direction=Direction.MINIMIZE)
    assert cs.direction == "minimize" and type(cs.direction) is str


def test_default_data_dir_is_next_to_the_project() -> None:
    project_root = Path(lcbench.__file__).resolve().parents[2]
    assert lcbench.default_data_dir() == project_root.parent / "shared" / "data" / "lcbench"


def test_repair_cumulative_time() -> None:
    raw = np.array(
        [
            [1.0, 2.0, 3.0, 4.0],  # clean: unchanged
            [5.0, 4.0, 7.0, 8.0],  # first epoch predicted too slow
            [NAN, 1.0, 0.5, 2.0],  # a missing and a decreasing entry
            [-1.0, 3.0, 2.0, 1.0],  # negative start and a collapsing tail
        ]
    )
    elapsed, repaired = repair_cumulative_time(raw)
    np.testing.assert_array_equal(elapsed[0], raw[0])
    assert not repaired[0].any()
    # Row 1: positive increments 5, 3, 1 -> median rate 3.
    np.testing.assert_array_equal(elapsed[1], [5.0, 8.0, 11.0, 14.0])
    np.testing.assert_array_equal(repaired[1], [False, True, True, True])
    # Row 2: positive increments 1.5 -> rate 1.5.
    np.testing.assert_array_equal(elapsed[2], [1.5, 3.0, 4.5, 6.0])
    # Row 3: positive increment 4 -> rate 4.
    np.testing.assert_array_equal(elapsed[3], [4.0, 8.0, 12.0, 16.0])
    assert np.all(np.diff(elapsed, axis=1) > 0) and np.all(elapsed > 0)
    with pytest.raises(ValueError, match="raw"):
        repair_cumulative_time(np.zeros(3))


# --------------------------------------------------------------------------- curves tables

_MESSY_CSV = """\
config_id,step,value,elapsed_s,extra
007,3,0.7,3.0,x
007,1,0.5,1.0,x
"b,1",1,0.4,,
"b,1",2,nan,2.5,
"b,1",4,inf,,
007,2,,2.0,
z,2,-inf,,
007,3,0.75,3.5,dup

z,1,0.1,0.2,
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestCurvesTable:
    def test_messy_csv(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "runs.csv", _MESSY_CSV)
        with pytest.warns(UserWarning, match="1 duplicate"):
            (cs,) = load_curves_table(path, "maximize")
        assert cs.task == "runs"
        assert cs.config_ids == ("007", "b,1", "z")  # first appearance, strings kept
        np.testing.assert_array_equal(cs.steps, [1, 2, 3, 4])
        expected = np.array(
            [
                [0.5, NAN, 0.75, NAN],  # empty value -> NaN; the duplicate keeps the last
                [0.4, NAN, NAN, INF],  # 'nan' -> NaN, 'inf' kept, step 3 missing
                [0.1, -INF, NAN, NAN],  # ragged
            ]
        )
        np.testing.assert_array_equal(cs.values, expected)
        assert cs.elapsed is not None
        np.testing.assert_array_equal(
            cs.elapsed,
            [[1.0, 2.0, 3.5, NAN], [NAN, 2.5, NAN, NAN], [0.2, NAN, NAN, NAN]],
        )
        np.testing.assert_array_equal(cs.final_values(), [0.75, 0.4, 0.1])
        assert cs.params is None

    @pytest.mark.parametrize(
        ("row", "pattern"),
        [
            ("a,-1,0.5", r"row 2 \(line 3\), column 'step'.*negative"),
            ("a,2.5,0.5", r"row 2 \(line 3\), column 'step'.*not an integer"),
            ("a,two,0.5", r"row 2 \(line 3\), column 'step'"),
            ("a,,0.5", r"row 2 \(line 3\), column 'step'.*missing"),
            ("a,2,abc", r"row 2 \(line 3\), column 'value'.*not a number"),
            (",2,0.5", r"row 2 \(line 3\), column 'config_id'"),
            ("a,2,0.5,1,2", r"row 2 \(line 3\): 5 fields"),
        ],
    )
    def test_bad_rows(self, tmp_path: Path, row: str, pattern: str) -> None:
        path = _write(tmp_path / "bad.csv", f"config_id,step,value\na,1,0.1\n{row}\n")
        with pytest.raises(ValueError, match=pattern):
            load_curves_table(path, "minimize")

    def test_integral_float_steps_and_trailing_empty_field(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "ok.csv", "config_id,step,value\na,1.0,0.1,\na,2,0.2\n")
        (cs,) = load_curves_table(path, "minimize")
        np.testing.assert_array_equal(cs.steps, [1, 2])
        assert cs.elapsed is None

    def test_bad_elapsed(self, tmp_path: Path) -> None:
        header = "config_id,step,value,elapsed_s\n"
        path = _write(tmp_path / "e.csv", header + "a,1,0.1,5\na,2,0.2,3\n")
        with pytest.raises(ValueError, match=r"row 2.*'elapsed_s'.*cumulative"):
            load_curves_table(path, "minimize")
        _write(path, header + "a,1,0.1,-1\n")
        with pytest.raises(ValueError, match=r"row 1.*'elapsed_s'.*negative"):
            load_curves_table(path, "minimize")
        _write(path, header + "a,1,0.1,inf\n")
        with pytest.raises(ValueError, match=r"row 1.*'elapsed_s'.*finite"):
            load_curves_table(path, "minimize")

    def test_missing_column_empty_file_and_no_rows(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "m.csv", "config_id,step,elapsed_s\na,1,1\n")
        with pytest.raises(ValueError, match=r"missing required column.*'value'"):
            load_curves_table(path, "minimize")
        _write(path, "")
        with pytest.raises(ValueError, match="empty file"):
            load_curves_table(path, "minimize")
        _write(path, "config_id,step,value\n\n")
        with pytest.raises(ValueError, match="no data rows"):
            load_curves_table(path, "minimize")
        with pytest.raises(FileNotFoundError):
            load_curves_table(tmp_path / "absent.csv", "minimize")
        _write(path, "config_id,step,value\na,1,1\n")
        with pytest.raises(ValueError, match="direction"):
            load_curves_table(path, "upwards")  # type: ignore[arg-type]

    def test_task_column(self, tmp_path: Path) -> None:
        text = "task,config_id,step,value\nB,x,1,1\nA,x,1,2\nA,y,2,3\nB,x,2,4\n"
        path = _write(tmp_path / "tasks.csv", text)
        sets = load_curves_table(path, "minimize")
        assert [s.task for s in sets] == ["B", "A"]
        np.testing.assert_array_equal(sets[0].values, [[1.0, 4.0]])
        np.testing.assert_array_equal(sets[1].values, [[2.0, NAN], [NAN, 3.0]])
        (only_a,) = load_curves_table(path, "minimize", task="A")
        assert only_a.task == "A" and only_a.config_ids == ("x", "y")
        with pytest.raises(ValueError, match="'C' not found"):
            load_curves_table(path, "minimize", task="C")
        no_task = _write(tmp_path / "plain.csv", "config_id,step,value\nx,1,1\n")
        assert load_curves_table(no_task, "minimize", task="named")[0].task == "named"

    def test_csv_round_trip(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(0)
        values = rng.normal(size=(3, 4))
        values[0, 3] = NAN
        values[1, 1] = INF
        values[2, 0] = -INF
        elapsed = np.cumsum(rng.uniform(0.1, 1.0, size=(3, 4)), axis=1)
        elapsed[0, 3] = NAN
        a = CurveSet(
            "t1", "minimize", ("p", "q,r", '"s"'), values, elapsed, None, np.array([1, 2, 5, 9])
        )
        b = CurveSet("t2", "minimize", ("p",), np.array([[0.1 + 0.2]]), None, None, np.array([0]))
        for name in ("round.csv", "round.csv.gz"):
            path = tmp_path / name
            write_curves_table([a, b], path)
            back = load_curves_table(path, "minimize")
            assert [s.task for s in back] == ["t1", "t2"]
            assert back[0].config_ids == a.config_ids
            np.testing.assert_array_equal(back[0].steps, a.steps)
            np.testing.assert_array_equal(back[0].values, a.values)  # bit-exact incl. inf
            assert back[0].elapsed is not None
            np.testing.assert_array_equal(back[0].elapsed, elapsed)
            assert back[1].values[0, 0] == 0.1 + 0.2
            assert back[1].elapsed is None
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        with pytest.raises(ValueError, match="more than once"):
            write_curves_table([a, a], tmp_path / "dup.csv")

    def test_parquet(self, tmp_path: Path) -> None:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        table = pa.table(
            {
                "config_id": [7, 7, 8, 7],
                "step": [2, 1, 1, 2],
                "value": [0.2, 0.1, None, 0.25],
                "elapsed_s": [2.0, 1.0, None, 2.5],
            }
        )
        path = tmp_path / "curves.parquet"
        pq.write_table(table, path)
        with pytest.warns(UserWarning, match="duplicate"):
            (cs,) = load_curves_table(path, "maximize")
        assert cs.config_ids == ("7", "8")
        np.testing.assert_array_equal(cs.values, [[0.1, 0.25], [NAN, NAN]])
        assert cs.elapsed is not None
        np.testing.assert_array_equal(cs.elapsed, [[1.0, 2.5], [NAN, NAN]])
        # Parquet without the suffix is detected by its magic bytes.
        renamed = path.rename(tmp_path / "curves.bin")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert load_curves_table(renamed, "maximize")[0].config_ids == ("7", "8")
        bad = pa.table({"config_id": ["a"], "step": [-3], "value": [1.0]})
        pq.write_table(bad, tmp_path / "bad.parquet")
        with pytest.raises(ValueError, match=r"row 1, column 'step'"):
            load_curves_table(tmp_path / "bad.parquet", "maximize")


# --------------------------------------------------------------------------- scikit-learn


class TestSklearnCurves:
    def test_small_run_and_cache(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        cs = skc.sklearn_curves("digits-sgd", n_configs=3, seed=0, max_step=3, cache_dir=tmp_path)
        assert cs.task == "digits-sgd" and cs.direction == "maximize"
        assert cs.values.shape == (3, 3)
        np.testing.assert_array_equal(cs.steps, [1, 2, 3])
        assert np.all((cs.values >= 0) & (cs.values <= 1))
        assert cs.values.max() > 0.5  # digits is learnable in a few epochs
        assert cs.elapsed is not None
        assert np.all(cs.elapsed > 0) and np.all(np.diff(cs.elapsed, axis=1) > 0)
        assert cs.params is not None and set(cs.params[0]) == {
            "alpha",
            "eta0",
            "learning_rate",
            "penalty",
            "loss",
        }

        path = skc.sklearn_cache_path("digits-sgd", 3, 0, 3, cache_dir=tmp_path)
        assert path.is_file() and path.suffix == ".npz"
        mtime = path.stat().st_mtime_ns

        def no_training(*args: object, **kwargs: object) -> None:
            raise AssertionError("trained again despite the cache")

        monkeypatch.setattr(skc, "_train_config", no_training)
        again = skc.sklearn_curves(
            "digits-sgd", n_configs=3, seed=0, max_step=3, cache_dir=tmp_path
        )
        np.testing.assert_array_equal(again.values, cs.values)
        assert again.elapsed is not None
        np.testing.assert_array_equal(again.elapsed, cs.elapsed)  # measured times come back
        assert again.params == cs.params and again.config_ids == cs.config_ids
        assert path.stat().st_mtime_ns == mtime
        # Different arguments -> different key -> trains (and here: fails).
        assert skc.sklearn_cache_path("digits-sgd", 3, 1, 3, cache_dir=tmp_path) != path
        with pytest.raises(AssertionError, match="trained again"):
            skc.sklearn_curves("digits-sgd", n_configs=3, seed=1, max_step=3, cache_dir=tmp_path)

    def test_deterministic_without_cache(self, tmp_path: Path) -> None:
        a = skc.sklearn_curves("wine-mlp", n_configs=2, seed=5, max_step=2, use_cache=False)
        b = skc.sklearn_curves("wine-mlp", n_configs=2, seed=5, max_step=2, use_cache=False)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.params == b.params
        assert a.params is not None and isinstance(a.params[0]["hidden_units"], int)
        c = skc.sklearn_curves("wine-mlp", n_configs=3, seed=5, max_step=2, use_cache=False)
        np.testing.assert_array_equal(c.values[:2], a.values)  # prefix-stable configs

    def test_corrupt_cache_is_recomputed(self, tmp_path: Path) -> None:
        path = skc.sklearn_cache_path("breast_cancer-sgd", 2, 0, 2, cache_dir=tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a zip file")
        with pytest.warns(UserWarning, match="unreadable cache"):
            cs = skc.sklearn_curves("breast_cancer-sgd", 2, 0, 2, cache_dir=tmp_path)
        assert cs.values.shape == (2, 2)
        assert path.stat().st_size > 100  # rewritten with real data

    def test_cache_dir_env_and_bad_arguments(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(skc.CACHE_ENV_VAR, str(tmp_path))
        assert skc.default_cache_dir() == tmp_path / "sklearn_curves"
        assert skc.sklearn_cache_path("digits-sgd", 1, 0, 1).parent == tmp_path / "sklearn_curves"
        with pytest.raises(ValueError, match="task"):
            skc.sklearn_curves("iris-svm", 1, 0, 1, use_cache=False)
        with pytest.raises(ValueError, match="max_step"):
            skc.sklearn_curves("digits-sgd", 1, 0, 0, use_cache=False)
        with pytest.raises(TypeError, match="n_configs"):
            skc.sklearn_curves("digits-sgd", 1.5, 0, 1, use_cache=False)  # type: ignore[arg-type]
