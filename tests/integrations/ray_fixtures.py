"""Ray Tune test helpers: a module-scoped local Ray session, a replay trainable, test policies.

Import the fixture into a test module with
``from tests.integrations.ray_fixtures import ray_session  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune
from ray.tune import Callback, Checkpoint

from hpprune import validate
from hpprune.curves import StudyView, TrialCurve
from hpprune.engine import Engine
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, cont

QUIET_ENV = {
    "RAY_DEDUP_LOGS": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}

TEST_PAUSE = "test_pause"
"""Reason code of :class:`PauseOnceAt` (test-only)."""


@contextlib.contextmanager
def quiet_ray() -> Iterator[None]:
    """Quiet Ray environment; on exit shut Ray down and put the signal handlers back.

    Tune installs its own SIGINT handler during a run and leaves it behind; the
    previous handlers are restored so later tests see Ctrl-C normally.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in QUIET_ENV.items():
            mp.setenv(key, value)
        try:
            yield
        finally:
            ray.shutdown()
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def start_ray() -> None:
    """A local Ray runtime: 2 CPUs, no dashboard, no log forwarding."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray runtime (see :func:`start_ray`) for the whole test module."""
    with quiet_ray():
        start_ray()
        yield


# ----------------------------------------------------------------------------- trainable
def curve_trainable(config: dict[str, Any]) -> None:
    """Replay ``config["curves"][config["i"]]``, one value per epoch, checkpointing each epoch.

    Reported keys: ``score`` (the curve value), ``epoch`` (the trainable's own
    counter), ``restored_from`` (epoch of the checkpoint it started from, 0 if
    none) and ``total`` (a running sum carried in the checkpoint, so a resumed
    trial shows whether its restored state was used).
    """
    curve = config["curves"][config["i"]]
    start, total = 0, 0.0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = json.loads(Path(folder, "state.json").read_text())
        start, total = int(state["epoch"]), float(state["total"])
    for epoch in range(start + 1, len(curve) + 1):
        value = curve[epoch - 1]
        total += value if value is not None and math.isfinite(value) else 0.0
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "state.json").write_text(json.dumps({"epoch": epoch, "total": total}))
            tune.report(
                {"score": value, "epoch": epoch, "restored_from": start, "total": total},
                checkpoint=Checkpoint.from_directory(folder),
            )


def run_tune(
    path: Path,
    name: str,
    scheduler: Any,
    curves: Sequence[Sequence[float]],
    *,
    mode: str,
    concurrency: int | None = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """Run :func:`curve_trainable` once per curve (grid order) and return the ResultGrid."""
    tuner = tune.Tuner(
        curve_trainable,
        param_space={"i": tune.grid_search(list(range(len(curves)))), "curves": list(curves)},
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            metric="score",
            mode=mode,
            max_concurrent_trials=concurrency,
            reuse_actors=True,  # sequential trials start much faster
        ),
        run_config=tune.RunConfig(
            storage_path=str(path), name=name, verbose=0, callbacks=list(callbacks)
        ),
    )
    return tuner.fit()


def tune_history(results: Any) -> dict[str, list[tuple[int, Any]]]:
    """Each trial's ``(training_iteration, score)`` sequence as Tune recorded it."""
    out: dict[str, list[tuple[int, Any]]] = {}
    for result in results:
        frame = result.metrics_dataframe
        out[result.metrics["trial_id"]] = [
            (int(it), float(v))
            for it, v in zip(frame["training_iteration"], frame["score"], strict=True)
        ]
    return out


class InterruptAfter(Callback):
    """Interrupt the Tune run (SIGUSR1, Tune's graceful stop) after ``n`` results, once.

    ``flag`` is a file created when the interrupt fires, so the same callback
    restored from ``tuner.pkl`` by ``Tuner.restore`` does not fire again.
    """

    def __init__(self, n: int, flag: str) -> None:
        self.n = n
        self.flag = flag
        self.count = 0

    def on_trial_result(
        self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
    ) -> None:
        self.count += 1
        if self.count == self.n and not os.path.exists(self.flag):
            Path(self.flag).touch()
            os.kill(os.getpid(), signal.SIGUSR1)


# ----------------------------------------------------------------------------- policies
class PauseOnceAt(Policy):
    """Test-only policy: PAUSE every trial when it reports exactly ``step``.

    After Tune resumes it, the trial reports later steps and continues.

    Args:
        step: The step at which every trial is paused once.
    """

    def __init__(self, step: int = 2) -> None:
        self.step = validate.int_param(step, "step", 0)

    def params(self) -> dict[str, Any]:
        return {"step": self.step}

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] == self.step:
            return Decision(Action.PAUSE, TEST_PAUSE, self.name, evidence={"step": self.step})
        return cont(self.name)


# ----------------------------------------------------------------------------- replays
def replay_records(
    records: Sequence[Mapping[str, Any]], policy: Policy, direction: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Feed a scheduler's audit records, in order, to a fresh Engine.

    Returns:
        ``(recorded, recomputed)`` decision dicts for every report and external
        decision, in log order.
    """
    header = records[0]
    engine = Engine(policy, direction, non_finite=header.get("non_finite", "stop"))
    pairs = []
    for record in records[1:]:
        kind = record["kind"]
        if kind == "trial":
            engine.add_trial(record["trial"], record.get("params"))
        elif kind == "report":
            decision = engine.report(
                record["trial"], record["step"], _decode(record["value"]), record.get("elapsed")
            )
            pairs.append(
                (
                    record["decision"],
                    decision.to_dict(with_evidence="evidence" in record["decision"]),
                )
            )
        elif kind == "decision":
            recorded = Decision.from_dict(record["decision"])
            decision = engine.decide_external(record["trial"], recorded)
            pairs.append((record["decision"], decision.to_dict()))
        elif kind == "complete":
            engine.complete(record["trial"], _decode(record.get("value")))
        elif kind == "fail":
            engine.fail(record["trial"], record.get("reason", "failed"))
        elif kind == "stale":
            engine.mark_stale(record["trial"])
    return pairs


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return value
