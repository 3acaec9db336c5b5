"""Importing Optuna studies and Ray Tune experiments; round trips through replay."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpprune
from hpprune.audit.cli import main
from hpprune.audit.explain import fold_log
from hpprune.audit.importers import (
    ExternalPolicy,
    import_optuna,
    import_ray,
    redact_url,
    write_curves_csv,
    write_log,
)
from hpprune.audit.replay import replay
from hpprune.audit.spec import load_policy

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------ optuna
def _curve(x: float, n_steps: int, *, skip: bool, seed: int) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_steps):
        if skip and s % 3 == 1:
            continue
        out.append((s, (x - 0.3) ** 2 + 0.8 * math.exp(-0.4 * s) + float(rng.normal(0, 0.01))))
    return out


def _run_optuna(
    url: str,
    name: str,
    pruner: Any,
    direction: str,
    *,
    n_trials: int = 20,
    skip: bool = False,
    fail_trial: int | None = None,
) -> dict[int, int | None]:
    """Run a sequential study; return {trial number: pruned step or None}."""
    sign = 1.0 if direction == "minimize" else -1.0
    pruned: dict[int, int | None] = {}

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        pruned[trial.number] = None
        if trial.number == fail_trial:
            trial.report(0.0, 0)  # the best value either way: no pruner would stop it
            raise ValueError("boom")
        value = 0.0
        for step, v in _curve(x, 8, skip=skip, seed=trial.number):
            value = sign * v
            trial.report(value, step)
            if trial.should_prune():
                pruned[trial.number] = step
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(
        storage=url,
        study_name=name,
        direction=direction,
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    return pruned


def _optuna_cases() -> list[tuple[str, Any, str, str, bool]]:
    cases = [
        (
            "median",
            lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
            "median:n_startup_trials=3,n_warmup_steps=1",
            "minimize",
            False,
        ),
        (
            "percentile-max-skip",
            lambda: optuna.pruners.PercentilePruner(40.0, 2, 0, 2, n_min_trials=2),
            "percentile:percentile=40,n_startup_trials=2,interval_steps=2,n_min_trials=2",
            "maximize",
            True,
        ),
    ]
    if hasattr(hpprune, "SuccessiveHalvingPruner"):
        cases.append(
            (
                "sha",
                lambda: optuna.pruners.SuccessiveHalvingPruner(1, 2),
                "successivehalving:min_resource=1,reduction_factor=2",
                "minimize",
                False,
            )
        )
    return cases


@pytest.mark.parametrize(
    ("name", "make_pruner", "spec", "direction", "skip"),
    _optuna_cases(),
    ids=[c[0] for c in _optuna_cases()],
)
def test_optuna_round_trip_gives_the_pruners_decisions(
    tmp_path: Path, name: str, make_pruner: Any, spec: str, direction: str, skip: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    pruned = _run_optuna(url, name, make_pruner(), direction, skip=skip, fail_trial=6)
    assert sum(1 for s in pruned.values() if s is not None) >= 3  # the test means something
    records = import_optuna(url, name)
    log = write_log(records, tmp_path / "study.jsonl")
    facts = fold_log(log)
    assert facts.direction.value == direction
    assert facts.header["source"]["kind"] == "optuna"
    assert facts.header["non_finite"] == "ignore"
    for number, step in pruned.items():
        t = facts.trials[str(number)]
        if number == 6:
            assert t.state == "failed"
        elif step is None:
            assert t.state == "completed"
        else:
            assert t.state == "stopped" and t.stop is not None
            assert (t.stop.step, t.stop.reason, t.stop.rule) == (step, "external", "optuna")
        assert "x" in t.params
    # Replay with the matching hpprune policy: the pruner's original decisions.
    res = replay(log, spec)
    assert res.n_compared == facts.n_reports
    assert res.n_same_action == res.n_compared, res.differences[:3]
    assert not res.by_change()["unknown_continuation"]
    assert not res.by_change()["stopped_only_in_replay"]
    assert res.best_survived is True and res.regret == 0.0
    assert "external (optuna" in res.table()
    # A different policy gives a different what-if (and the check can fail).
    other = replay(log, "percentile:percentile=5,n_startup_trials=1")
    assert other.n_same_action < other.n_compared


def test_optuna_import_recorded_policy_and_curves_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    pruned = _run_optuna(url, "s", optuna.pruners.MedianPruner(3, 1), "minimize", n_trials=12)
    recorded = load_policy("median:n_startup_trials=3,n_warmup_steps=1")
    records = import_optuna(url, None, policy=recorded)  # the storage holds one study
    log = write_log(records, tmp_path / "s.jsonl")
    res = replay(log)  # now the recorded policy exists
    assert res.n_same_action == res.n_compared
    assert res.n_identical == 0  # imported decisions carry no reasons
    # Curves table: the format hpprune.bench.curves_table reads.
    table = write_curves_csv(records, tmp_path / "s.csv")
    header = table.read_text().splitlines()[0]
    assert header == "task,config_id,step,value,elapsed_s"
    study = optuna.load_study(study_name="s", storage=url)
    curves_table = pytest.importorskip("hpprune.bench.curves_table")
    (cs,) = curves_table.load_curves_table(table, "minimize")
    assert cs.task == "s"
    assert len(cs.config_ids) == len(pruned)
    for t in study.trials:
        row = cs.config_ids.index(str(t.number))
        for step, value in t.intermediate_values.items():
            col = int(np.searchsorted(cs.steps, step))
            assert cs.values[row, col] == value
    with pytest.raises(FileExistsError):
        write_curves_csv(records, table)
    gz = write_curves_csv(records, tmp_path / "s.csv.gz")
    (cs_gz,) = curves_table.load_curves_table(gz, "minimize")
    np.testing.assert_array_equal(cs_gz.values, cs.values)


def test_optuna_import_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    optuna.create_study(storage=url, study_name="multi", directions=["minimize", "maximize"])
    with pytest.raises(ValueError, match="2 objectives"):
        import_optuna(url, "multi")
    with pytest.raises(ValueError, match="'nope'"):
        import_optuna(url, "nope")
    assert redact_url("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact_url("sqlite:///a.db") == "sqlite:///a.db"


def test_imported_log_cannot_be_resumed_or_self_replayed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _run_optuna(url, "s", optuna.pruners.NopPruner(), "minimize", n_trials=4)
    log = write_log(import_optuna(url, "s"), tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match="imported from optuna"):
        replay(log)
    engine = hpprune.Engine.from_log(log, resume_logging=False)
    assert isinstance(engine.policy, ExternalPolicy)
    with pytest.raises(RuntimeError, match="imported from optuna"):
        engine.report("new", 0, 1.0)


def test_cli_import_optuna(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _run_optuna(url, "s", optuna.pruners.MedianPruner(2), "minimize", n_trials=6)
    out_log = tmp_path / "s.jsonl"
    argv = ["import", "optuna", "--storage", url, "--study", "s", "-o", str(out_log)]
    buf = io.StringIO()
    assert main(argv, out=buf) == 0
    assert "6 trials" in buf.getvalue()
    assert main(argv, out=io.StringIO()) == 2  # exists
    assert "exists" in capsys.readouterr().err
    assert main([*argv, "--force"], out=io.StringIO()) == 0
    assert main([*argv[:-2], "-o", str(tmp_path / "s.csv")], out=io.StringIO()) == 0
    assert (tmp_path / "s.csv").read_text().startswith("task,config_id,step,value,elapsed_s")
    assert main(["import", "optuna", "--storage", url, "--study", "zz", "-o", "x.jsonl"]) == 2
    assert "'zz'" in capsys.readouterr().err


# --------------------------------------------------------------------- ray
class _StubTrial:
    """The attributes Ray's CSV/JSON logger callbacks read from a Trial."""

    def __init__(self, folder: Path, trial_id: str, config: dict[str, Any]) -> None:
        self.local_path = str(folder)
        self.trial_id = trial_id
        self.config = config
        self.checkpoint = None

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)


def _ray_results(
    trial_id: str, losses: list[float], start: int, step_s: float, last_done: bool
) -> list[dict[str, Any]]:
    """Result dicts with the fields Ray's Trainable.train() fills in."""
    out = []
    for i, loss in enumerate(losses, start=1):
        out.append(
            {
                "val": {"loss": loss, "acc": 1.0 - loss},
                "timestamp": int(start + i * step_s),
                "checkpoint_dir_name": None,
                "done": last_done and i == len(losses),
                "training_iteration": i,
                "trial_id": trial_id,
                "date": "2024-05-01_12-00-00",
                "time_this_iter_s": step_s,
                "time_total_s": i * step_s,
                "pid": 4242,
                "hostname": "node",
                "node_ip": "127.0.0.1",
                "config": {"lr": 0.1, "layers": 2},
                "time_since_restore": i * step_s,
                "iterations_since_restore": i,
            }
        )
    return out


RAY_PLAN: dict[str, tuple[list[float], int, float, bool]] = {
    # trial id: (losses, start, seconds per iteration, done on the last result)
    "a0000": ([0.9, 0.7, 0.5, 0.4, 0.35, 0.3], 1000, 2.0, False),  # function returned
    "a0001": ([1.2, 1.1], 1001, 2.5, True),  # stopped by the scheduler
    "a0002": ([0.8, 0.6, 0.5, 0.45, 0.42, 0.41], 1002, 1.5, True),  # stopper at max
    "a0003": ([1.0, 0.9, 0.85], 1003, 3.0, False),  # raised: error.txt
    "a0004": ([0.95, 0.8, 0.7], 1004, 2.0, False),  # still running
}


@pytest.fixture
def ray_experiment(tmp_path: Path) -> Path:
    pytest.importorskip("ray")
    from ray.tune.logger.csv import CSVLoggerCallback
    from ray.tune.logger.json import JsonLoggerCallback

    root = tmp_path / "exp"
    csv_cb, json_cb = CSVLoggerCallback(), JsonLoggerCallback()
    for k, (tid, (losses, start, step_s, done)) in enumerate(RAY_PLAN.items()):
        folder = root / f"train_fn_{tid}_{k:05d}_0_lr=0.1_2024-05-01_12-00-00"
        trial = _StubTrial(folder, tid, {"lr": 0.1 * (k + 1), "layers": 2})
        trial.init_local_path()  # Ray creates the trial folder before the loggers start
        json_cb.log_trial_start(trial)  # type: ignore[arg-type]
        for i, result in enumerate(_ray_results(tid, losses, start, step_s, done), start=1):
            csv_cb.log_trial_result(i, trial, result)  # type: ignore[arg-type]
            json_cb.log_trial_result(i, trial, result)  # type: ignore[arg-type]
        csv_cb.log_trial_end(trial)  # type: ignore[arg-type]
        json_cb.log_trial_end(trial)  # type: ignore[arg-type]
        if tid == "a0003":
            (folder / "error.txt").write_text("Failure # 1 (occurred at ...)\nValueError: boom\n")
    status = {"a0000": "TERMINATED", "a0001": "TERMINATED", "a0002": "TERMINATED",
              "a0003": "ERROR", "a0004": "RUNNING"}  # fmt: skip
    state = {
        "trial_data": [
            [json.dumps({"trial_id": t, "status": s, "results": "80049..."}), "{}"]
            for t, s in status.items()
        ],
        "runner_data": {},
        "stats": {"start_time": 1000.0},
    }
    (root / "experiment_state-2024-05-01_12-00-00.json").write_text(json.dumps(state))
    return root


def _fates(records: list[dict[str, Any]]) -> dict[str, tuple[str, int | None]]:
    facts = fold_log(records)
    return {tid: (t.state, t.stop.step if t.stop else None) for tid, t in facts.trials.items()}


def test_ray_import_fates_curves_and_order(ray_experiment: Path) -> None:
    records = import_ray(ray_experiment, "val/loss", "min")
    assert _fates(records) == {
        "a0000": ("completed", None),
        "a0001": ("stopped", 2),
        "a0002": ("completed", None),
        "a0003": ("failed", None),
        "a0004": ("running", None),
    }
    facts = fold_log(records)
    a0 = facts.trials["a0000"]
    assert a0.steps == [1, 2, 3, 4, 5, 6]
    assert a0.values == [0.9, 0.7, 0.5, 0.4, 0.35, 0.3]
    assert a0.elapsed == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    assert a0.final_value == 0.3
    assert a0.params == {"layers": 2, "lr": 0.1}
    assert facts.trials["a0001"].stop.rule == "ray"  # type: ignore[union-attr]
    assert facts.compute_unit == "s"
    # Reports are interleaved in wall-clock order (to Ray's 1-second timestamp resolution).
    true_time = {
        (tid, i): start + i * step_s
        for tid, (_, start, step_s, _) in RAY_PLAN.items()
        for i in range(1, 7)
    }
    order = [true_time[r["trial"], r["step"]] for r in records if r["kind"] == "report"]
    assert len({r["trial"] for r in records[1:8] if r["kind"] == "report"}) >= 3
    for i, t in enumerate(order):
        assert all(t <= later + 1.0 for later in order[i + 1 :])
    # Maximizing another column works too.
    acc = fold_log(import_ray(ray_experiment, "val/acc", "max"))
    assert acc.direction.value == "maximize"
    assert acc.best_trial().trial_id == "a0000"  # type: ignore[union-attr]
    # max_step: with 10, the stopper-ended a0002 (done at 6) counts as stopped.
    assert _fates(import_ray(ray_experiment, "val/loss", "min", max_step=10))["a0002"] == (
        "stopped",
        6,
    )


def test_ray_progress_csv_gives_the_same_log(ray_experiment: Path) -> None:
    from_json = import_ray(ray_experiment, "val/loss", "min")
    for f in ray_experiment.glob("*/result.json"):
        f.unlink()
    from_csv = import_ray(ray_experiment, "val/loss", "min")
    strip = [r for r in from_json if r["kind"] != "study"]
    assert strip == [r for r in from_csv if r["kind"] != "study"]


def test_ray_import_replays_and_writes_curves(ray_experiment: Path, tmp_path: Path) -> None:
    records = import_ray(ray_experiment, "val/loss", "min")
    log = write_log(records, tmp_path / "ray.jsonl")
    res = replay(log, "median:n_startup_trials=1")
    assert res.n_compared == fold_log(log).n_reports == 20
    table = write_curves_csv(records, tmp_path / "ray.csv")
    curves_table = pytest.importorskip("hpprune.bench.curves_table")
    (cs,) = curves_table.load_curves_table(table, "minimize")
    assert cs.elapsed is not None
    row = cs.config_ids.index("a0001")
    assert list(cs.values[row, :2]) == [1.2, 1.1] and math.isnan(cs.values[row, 2])


def test_ray_import_errors(ray_experiment: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"metric 'loss' is not a column.*val/loss"):
        import_ray(ray_experiment, "loss", "min")
    with pytest.raises(ValueError, match="mode"):
        import_ray(ray_experiment, "val/loss", "sideways")
    with pytest.raises(ValueError, match="no step column 'epoch'"):
        import_ray(ray_experiment, "val/loss", "min", step_column="epoch")
    with pytest.raises(FileNotFoundError):
        import_ray(tmp_path / "missing", "val/loss", "min")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trial folders"):
        import_ray(tmp_path / "empty", "val/loss", "min")


def test_cli_import_ray(ray_experiment: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    argv = ["import", "ray", str(ray_experiment), "--metric", "val/loss", "--mode", "min"]
    assert main([*argv, "-o", str(out)], out=io.StringIO()) == 0
    assert fold_log(out).counts()["stopped"] == 1
    assert (
        main([*argv, "-o", str(tmp_path / "r.tsv"), "--format", "curves"], out=io.StringIO()) == 0
    )
    assert (tmp_path / "r.tsv").read_text().startswith("task\tconfig_id\tstep\tvalue\telapsed_s")
