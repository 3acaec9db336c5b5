"""Error messages that say what to do, one table row per mistake a user makes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpprune

ROOT = Path(__file__).resolve().parents[1]


def _optuna_pruner(name: str) -> Any:
    optuna = pytest.importorskip("optuna")
    return getattr(optuna.pruners, name)()


def _ray_scheduler(name: str) -> Any:
    schedulers = pytest.importorskip("ray.tune.schedulers")
    return getattr(schedulers, name)()


POLICY_MISTAKES: list[tuple[str, Callable[[], object], str]] = [
    ("optuna MedianPruner", lambda: _optuna_pruner("MedianPruner"), "hpprune.MedianPruner(...)"),
    ("optuna NopPruner", lambda: _optuna_pruner("NopPruner"), "hpprune.NoPruning()"),
    (
        "optuna SuccessiveHalvingPruner",
        lambda: _optuna_pruner("SuccessiveHalvingPruner"),
        "hpprune.SuccessiveHalvingPruner(...)",
    ),
    (
        "optuna WilcoxonPruner",
        lambda: _optuna_pruner("WilcoxonPruner"),
        "hpprune.WilcoxonPruner(...)",
    ),
    (
        "ray ASHAScheduler",
        lambda: _ray_scheduler("ASHAScheduler"),
        "hpprune.SuccessiveHalvingPruner(...)",
    ),
    ("uncalled default_policy", lambda: hpprune.default_policy, "call it: default_policy(...)"),
    ("a policy class", lambda: hpprune.MedianPruner, "create one: MedianPruner(...)"),
]

FRONT_DOORS: list[tuple[str, Callable[[object], object]]] = [
    ("Engine", lambda p: hpprune.Engine(p, "minimize")),  # type: ignore[arg-type]
    ("SearchLoop", lambda p: hpprune.SearchLoop(None, {}, p)),  # type: ignore[arg-type]
    ("AnyOf", lambda p: hpprune.AnyOf([p])),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("what", "make", "hint"), POLICY_MISTAKES, ids=[r[0] for r in POLICY_MISTAKES]
)
@pytest.mark.parametrize(("door", "build"), FRONT_DOORS, ids=[r[0] for r in FRONT_DOORS])
def test_wrong_policy_object_names_what_to_use(
    what: str, make: Callable[[], object], hint: str, door: str, build: Callable[[object], object]
) -> None:
    value = make()
    with pytest.raises(TypeError, match="expected an hpprune Policy") as info:
        build(value)
    assert hint in str(info.value)


def test_optuna_pruner_in_the_optuna_front_door_names_the_equivalent() -> None:
    pytest.importorskip("optuna")
    from hpprune.integrations.optuna import OptunaPruner

    with pytest.raises(TypeError, match=re.escape("hpprune.MedianPruner(...)")):
        OptunaPruner(_optuna_pruner("MedianPruner"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [
        ("hpprune.integrations.optuna", "optuna", "optuna"),
        ("hpprune.integrations.ray_tune", "ray", "ray"),
    ],
)
def test_missing_optional_package_says_what_to_install(
    module: str, package: str, extra: str
) -> None:
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"
        f"try:\n    import {module}\n"
        f"except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ImportError ")
    assert f"pip install 'hpprune[{extra}]'" in res.stdout


def test_demo_install_hint_matches_the_readme() -> None:
    readme_first = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].splitlines()[0]
    extra = re.search(r'\.\[(\w+)\]"\s*&&\s*hpprune demo', readme_first)
    assert extra is not None, readme_first
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from hpprune import cli\n"
        "sys.exit(cli.main(['demo', '--trials', '1', '-o', sys.argv[1]]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / ".no-demo.jsonl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    (ROOT / ".no-demo.jsonl").unlink(missing_ok=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"pip install 'hpprune[{extra.group(1)}]'" in res.stderr


def test_multi_objective_study_without_objective_index_points_at_pruner_report() -> None:
    optuna = pytest.importorskip("optuna")
    from hpprune.integrations.optuna import OptunaPruner

    pruner = OptunaPruner(hpprune.MedianPruner())
    study = optuna.create_study(directions=["minimize", "maximize"], pruner=pruner)
    trial = study.ask()
    with pytest.raises(ValueError, match="objective_index") as info:
        pruner.report(trial, 0.5, 0)
    assert "pruner.report(trial, value, step)" in str(info.value)
    assert "docs/optuna.md" in str(info.value)


def test_docs_show_the_multi_objective_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    optuna_md = (ROOT / "docs" / "optuna.md").read_text()
    for text in (readme, optuna_md):
        assert "objective_index" in text and "pruner.report(trial" in text
    assert "not yet released" not in optuna_md


def _log_doors() -> list[tuple[str, Callable[[Path], object]]]:
    doors: list[tuple[str, Callable[[Path], object]]] = [
        ("Engine", lambda d: hpprune.Engine(hpprune.MedianPruner(), "minimize", log=d)),
        ("Engine.from_log", lambda d: hpprune.Engine.from_log(d)),
        ("AuditLog", lambda d: hpprune.AuditLog(d)),
        ("read_log", lambda d: list(hpprune.read_log(d))),
        ("SearchLoop", lambda d: hpprune.SearchLoop(None, {}, hpprune.MedianPruner(), log=d)),
    ]
    try:
        from hpprune.integrations.optuna import OptunaPruner

        doors.append(("OptunaPruner", lambda d: OptunaPruner(hpprune.MedianPruner(), log=d)))
    except ImportError:
        pass
    try:
        from hpprune.integrations.ray_tune import RayTuneScheduler

        doors.append(
            ("RayTuneScheduler", lambda d: RayTuneScheduler(hpprune.MedianPruner(), log=d))
        )
    except ImportError:
        pass
    return doors


@pytest.mark.parametrize(("door", "build"), _log_doors(), ids=[d[0] for d in _log_doors()])
def test_log_path_that_is_a_directory(
    door: str, build: Callable[[Path], object], tmp_path: Path
) -> None:
    with pytest.raises(IsADirectoryError, match="expected a file path for `log`") as info:
        build(tmp_path)
    assert "name a file" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing was written next to it


# ------------------------------------------------ a finished trial is completed
@pytest.mark.parametrize(
    "make",
    [
        lambda: hpprune.default_policy(max_step=9),
        lambda: hpprune.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3),
    ],
    ids=["default_policy(max_step=9)", "HyperbandPruner(max_resource=9)"],
)
def test_optuna_trial_reporting_its_last_step_is_never_pruned(
    make: Callable[[], hpprune.Policy],
) -> None:
    optuna = pytest.importorskip("optuna")
    from hpprune.integrations.optuna import OptunaPruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = OptunaPruner(make())
    study = optuna.create_study(
        direction="minimize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=1)
    )

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        value = 1.0
        for step in range(10):  # steps 0..9: 9 is the last
            value = x + 1.0 / (step + 1) + (0.5 * x if step == 9 else 0.0)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=30)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned  # the policy does prune, just never at the last step
    assert all(max(t.intermediate_values) < 9 for t in pruned)
