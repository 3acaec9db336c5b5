"""The standalone search loop: determinism, concurrency, failures, pause/resume, ask/tell."""

from __future__ import annotations

import _thread
import io
import json
import math
import runpy
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import hpprune
from hpprune import space as sp
from hpprune.audit.log import AuditLog, read_log
from hpprune.curves import StudyView, TrialCurve
from hpprune.loop import LoopTrial, NoTrialAvailableError, SearchLoop
from hpprune.pruners.base import Policy
from hpprune.types import Action, Decision, Reason, TrialState, cont

SPACE = {
    "rate": sp.LogUniform(0.02, 2.0),
    "floor": sp.Uniform(0.0, 0.5),
    "kind": sp.Categorical(["a", "b"]),
}
N_STEPS = 8


def curve(params: Any, step: int) -> float:
    """A loss curve that decays at ``rate`` towards ``floor`` (minimize)."""
    return float(params["floor"] + math.exp(-params["rate"] * (step + 1)))


def make_objective(
    n_steps: int = N_STEPS, sleep: float = 0.0, hook: Callable[[LoopTrial, int], None] | None = None
) -> Callable[[LoopTrial], float | None]:
    def objective(trial: LoopTrial) -> float | None:
        v = None
        for step in range(n_steps):
            if hook is not None:
                hook(trial, step)
            v = curve(trial.params, step)
            if sleep:
                time.sleep(sleep)
            if trial.report(step, v).action != "continue":
                return v
        return v

    return objective


def median() -> Policy:
    return hpprune.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def report_trace(path: Path) -> list[tuple[str, int, str, str]]:
    return [
        (r["trial"], r["step"], r["decision"]["action"], r["decision"]["reason"])
        for r in read_log(path)
        if r["kind"] == "report"
    ]


def assert_log_folds_back(path: Path, result: hpprune.loop.LoopResult, policy: Policy) -> None:
    engine = hpprune.Engine.from_log(path, policy, resume_logging=False)
    assert sorted(engine.trial_ids(), key=int) == [t.trial_id for t in result]
    for t in result:
        assert engine.state(t.trial_id) is t.state, t


# ----------------------------------------------------------------------------- determinism
def test_single_worker_is_deterministic(tmp_path: Path) -> None:
    traces, params = [], []
    for run in range(2):
        log = tmp_path / f"run{run}.jsonl"
        loop = SearchLoop(make_objective(), SPACE, median(), n_workers=1, log=log, seed=3)
        result = loop.run(n_trials=16)
        traces.append(report_trace(log))
        params.append([dict(t.params) for t in result])
        assert result.n_stopped > 0  # the policy really prunes this space
        assert result.n_completed + result.n_stopped == 16
        assert_log_folds_back(log, result, median())
    assert traces[0] == traces[1]
    assert params[0] == params[1]
    assert params[0][5] == sp.sample(SPACE, 3, 5)  # trial n gets the seeded draw for n


def test_two_workers_each_trial_one_fate_and_log_folds_back(tmp_path: Path) -> None:
    active, peak = [0], [0]
    lock = threading.Lock()

    def hook(trial: LoopTrial, step: int) -> None:
        if step == 0:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])

    base = make_objective(sleep=0.002, hook=hook)

    def objective(trial: LoopTrial) -> float | None:
        try:
            return base(trial)
        finally:
            with lock:
                active[0] -= 1

    log = tmp_path / "two.jsonl"
    loop = SearchLoop(objective, SPACE, median(), n_workers=2, log=log, seed=1)
    result = loop.run(n_trials=20)
    assert peak[0] == 2  # two trials really ran at the same time
    assert len(result) == 20 and [t.number for t in result] == list(range(20))
    assert set(result.counts) <= {"completed", "stopped"}
    assert sum(result.counts.values()) == 20
    records = list(read_log(log))
    ends = Counter(r["trial"] for r in records if r["kind"] == "complete")
    stops = Counter(
        r["trial"]
        for r in records
        if r["kind"] == "report"
        and r["decision"]["action"] == "stop"
        and r["step"] == r["decision"]["step"]
    )
    for t in result:
        # exactly one terminal event per trial: a completion or a (first) stop
        assert ends[t.trial_id] + (t.state is TrialState.STOPPED) == 1
        if t.state is TrialState.STOPPED:
            assert stops[t.trial_id] >= 1 and t.decision is not None and t.decision.stops
            assert t.decision.evidence  # stops carry their evidence
    assert_log_folds_back(log, result, median())


# ----------------------------------------------------------------------------- failures
def test_objective_exceptions_fail_the_trial_and_the_loop_goes_on(tmp_path: Path) -> None:
    def hook(trial: LoopTrial, step: int) -> None:
        if trial.number in (2, 5) and step == 3:
            raise RuntimeError(f"boom in {trial.number}")

    log = tmp_path / "fail.jsonl"
    loop = SearchLoop(make_objective(hook=hook), SPACE, hpprune.NoPruning(), log=log)
    result = loop.run(n_trials=8)
    failed = [t for t in result if t.state is TrialState.FAILED]
    assert [t.number for t in failed] == [2, 5]
    assert failed[0].error is not None and "RuntimeError: boom in 2" in failed[0].error
    assert "Traceback" in failed[0].error
    assert result.n_completed == 6
    fails = [r for r in read_log(log) if r["kind"] == "fail"]
    assert [(r["trial"], r["reason"]) for r in fails] == [
        ("2", "RuntimeError: boom in 2"),
        ("5", "RuntimeError: boom in 5"),
    ]
    assert_log_folds_back(log, result, hpprune.NoPruning())


@pytest.mark.parametrize("bad", ["0.5", [1.0], True])
def test_bad_return_value_fails_the_trial(bad: Any) -> None:
    loop = SearchLoop(lambda t: bad, SPACE, hpprune.NoPruning())
    result = loop.run(n_trials=2)
    assert result.counts == {"failed": 2}
    assert "bad return value" in (result.trials[0].error or "")


def test_keyboard_interrupt_single_worker_flushes_the_log(tmp_path: Path) -> None:
    def hook(trial: LoopTrial, step: int) -> None:
        if trial.number == 3 and step == 1:  # step 0 is warm-up: always continued
            raise KeyboardInterrupt

    path = tmp_path / "int.jsonl"
    loop = SearchLoop(
        make_objective(hook=hook), SPACE, median(), log=AuditLog(path, buffer_size=10_000)
    )
    with pytest.raises(KeyboardInterrupt):
        loop.run(n_trials=10)
    snap = loop.result()
    assert snap.interrupted
    assert [t.state.value for t in snap][3] == "failed"
    assert len(snap) == 4  # nothing started after Ctrl-C
    records = list(read_log(path))  # buffered records were flushed
    assert records[-1] == {"kind": "fail", "trial": "3", "reason": "interrupted", "v": 1}
    assert_log_folds_back(path, snap, median())


@pytest.fixture
def python_sigint_handler() -> Iterator[None]:
    """Python's own Ctrl-C handler, whatever an earlier test (Ray, say) installed.

    ``_thread.interrupt_main`` does nothing unless Python handles SIGINT.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint_handler")
def test_keyboard_interrupt_with_threads_stops_at_the_next_report(tmp_path: Path) -> None:
    fired = threading.Event()

    def hook(trial: LoopTrial, step: int) -> None:
        if trial.number == 4 and step == 1 and not fired.is_set():
            fired.set()
            _thread.interrupt_main()  # what Ctrl-C does
            time.sleep(0.3)  # the main thread flags the workers meanwhile

    path = tmp_path / "int2.jsonl"
    loop = SearchLoop(
        make_objective(hook=hook, sleep=0.001), SPACE, median(), n_workers=2, log=path
    )
    with pytest.raises(KeyboardInterrupt):
        loop.run(n_trials=50)
    snap = loop.result()
    assert snap.interrupted and fired.is_set()
    assert len(snap) < 50
    assert "running" not in snap.counts  # every trial got a fate
    interrupted = [r["trial"] for r in read_log(path) if r.get("reason") == "interrupted"]
    assert "4" in interrupted
    assert_log_folds_back(path, snap, median())


# ----------------------------------------------------------------------------- pause / resume
class PauseAtStep2(Policy):
    """Test-only policy: pause every trial at step 2 (once, since steps increase)."""

    def decide(self, trial: TrialCurve, study: StudyView) -> Decision:
        if trial.steps[-1] == 2:
            return Decision(Action.PAUSE, "test_pause", self.name, evidence={"at": 2})
        return cont(self.name)

    def params(self) -> dict[str, Any]:
        return {}


def checkpointing_objective(seen: list[tuple[int, Any]]) -> Callable[[LoopTrial], float]:
    def objective(trial: LoopTrial) -> float:
        state = trial.restore()
        seen.append((trial.number, None if state is None else (state["next"], len(state["trace"]))))
        assert (state is not None) == trial.is_resumed
        start, trace = (0, []) if state is None else (state["next"], state["trace"])
        v = math.nan
        for step in range(start, N_STEPS):
            v = curve(trial.params, step)
            trace.append(v)
            d = trial.report(step, v)
            if d.action == "pause":
                trial.checkpoint({"next": step + 1, "trace": trace})
            if d.action != "continue":
                return v
        assert trace == [curve(trial.params, s) for s in range(N_STEPS)]
        return v

    return objective


@pytest.mark.parametrize("on_disk", [False, True])
def test_pause_resume_with_checkpoint(tmp_path: Path, on_disk: bool) -> None:
    seen: list[tuple[int, Any]] = []
    ckpt = tmp_path / "ckpt" if on_disk else None
    log = tmp_path / "pause.jsonl"
    loop = SearchLoop(
        checkpointing_objective(seen), SPACE, PauseAtStep2(), log=log, checkpoint_dir=ckpt
    )
    result = loop.run(n_trials=4)
    assert result.counts == {"completed": 4}
    for t in result:
        assert t.runs == 2 and t.n_reports == N_STEPS and t.last_step == N_STEPS - 1
        assert t.value == curve(t.params, N_STEPS - 1)
    # new trials first, then paused ones best score at the pause first (hpprune.choose_next);
    # resumed runs saw their checkpoint
    by_score = sorted(range(4), key=lambda n: (curve(result.trials[n].params, 2), n))
    assert [n for n, _ in seen] == [0, 1, 2, 3, *by_score]
    assert all(s is None for _, s in seen[:4])
    assert all(s == (3, 3) for _, s in seen[4:])  # next step 3, three values so far
    actions = [
        (r["trial"], r["decision"]["action"], r["decision"]["reason"])
        for r in read_log(log)
        if r["kind"] in ("report", "decision") and r["decision"]["action"] != "continue"
    ]
    assert actions[:4] == [(str(i), "pause", "test_pause") for i in range(4)]
    assert actions[4:] == [(str(i), "resume", Reason.RESUMED) for i in by_score]
    assert_log_folds_back(log, result, PauseAtStep2())
    if ckpt is not None:
        assert list(ckpt.iterdir()) == []  # checkpoints are deleted when trials finish


def test_paused_trials_resume_in_a_new_process_from_log_and_checkpoints(tmp_path: Path) -> None:
    log, ckpt = tmp_path / "study.jsonl", tmp_path / "ckpt"
    seen: list[tuple[int, Any]] = []
    first = SearchLoop(
        checkpointing_objective(seen),
        SPACE,
        PauseAtStep2(),
        log=log,
        checkpoint_dir=ckpt,
        chooser=lambda paused, study, can_new: None,  # never resume here
    )
    r1 = first.run(n_trials=3)
    first.close()
    assert r1.counts == {"paused": 3}
    assert first.paused_trials() == ["0", "1", "2"]
    assert sorted(p.name for p in ckpt.iterdir()) == [f"trial-{i}.pkl" for i in range(3)]

    second = SearchLoop(
        checkpointing_objective(seen), SPACE, PauseAtStep2(), log=log, checkpoint_dir=ckpt
    )
    assert second.paused_trials() == ["0", "1", "2"]
    r2 = second.run(n_trials=1)  # one new trial (number 3), then the three paused ones
    assert [(t.number, t.state.value) for t in r2] == [(i, "completed") for i in range(4)]
    assert [t.params for t in r2][:3] == [t.params for t in r1]
    by_score = sorted(range(4), key=lambda n: (curve(r2.trials[n].params, 2), n))
    assert [n for n, _ in seen[3:]] == [3, *by_score]  # best score at the pause first
    assert_log_folds_back(log, r2, PauseAtStep2())


def test_resume_without_checkpoint_replaying_steps_fails_clearly() -> None:
    loop = SearchLoop(make_objective(), SPACE, PauseAtStep2())
    result = loop.run(n_trials=1)
    t = result.trials[0]
    assert t.state is TrialState.FAILED and t.runs == 2
    assert "continues from trial.last_step + 1" in (t.error or "")


def test_scheduler_hook_next_trial() -> None:
    class Answer:
        def __init__(self, action: str, trial_id: str | None = None) -> None:
            self.action, self.trial_id, self.reason = action, trial_id, "test_reason"

    class Sched(PauseAtStep2):
        answers: ClassVar[list[Answer]] = []

        def next_trial(self, study: StudyView, can_start: bool = True) -> Answer:
            return self.answers.pop(0) if self.answers else Answer("start")

        def resume_decision(self, answer: Answer) -> Decision:
            return Decision(Action.RESUME, Reason.RESUMED, "Sched", evidence={"why": "test"})

    loop = SearchLoop(None, SPACE, hpprune.AnyOf([Sched()]))
    a = loop.ask()
    for s in range(3):
        a.report(s, 1.0)
    assert loop.tell(a) is TrialState.PAUSED
    Sched.answers[:] = [Answer("resume", "0")]
    again = loop.ask()
    assert again is a and again.runs == 2
    assert loop.engine.decisions("0")[-1].evidence == {"why": "test"}
    Sched.answers[:] = [Answer("none")]
    with pytest.raises(NoTrialAvailableError, match="test_reason"):
        loop.ask()


# ----------------------------------------------------------------------------- ask / tell
def test_ask_tell_by_hand(tmp_path: Path) -> None:
    log = tmp_path / "at.jsonl"
    loop = SearchLoop(None, SPACE, median(), log=log, seed=5)
    done = []
    for _ in range(6):
        trial = loop.ask()
        assert trial.restore() is None and not trial.should_stop()
        for step in range(N_STEPS):
            d = trial.report(step, curve(trial.params, step))
            if d.action != "continue":
                assert trial.should_stop()
                break
        done.append(loop.tell(trial))
        with pytest.raises(ValueError, match="already told"):
            loop.tell(trial)
        with pytest.raises(ValueError, match="already told"):
            trial.report(99, 1.0)
    assert done[:3] == [TrialState.COMPLETED] * 3  # startup trials
    assert [dict(t.params) for t in loop.result()] == [sp.sample(SPACE, 5, n) for n in range(6)]
    # explicit states
    t = loop.ask()
    t.report(0, 0.1)
    assert loop.tell(t, 0.05, "completed") is TrialState.COMPLETED
    assert loop.result().trials[-1].value == 0.05
    t = loop.ask()
    with pytest.raises(ValueError, match="only the policy"):
        loop.tell(t, None, "stopped")
    assert loop.tell(t, None, "failed", error="oom") is TrialState.FAILED
    other = SearchLoop(None, SPACE, median()).ask()
    with pytest.raises(ValueError, match="not asked from this loop"):
        loop.tell(other)
    with pytest.raises(ValueError, match="state"):
        loop.tell(loop.ask(), None, "running")
    loop.close()
    assert_log_folds_back(log, loop.result(), median())


def test_tell_completed_for_a_stopped_trial_is_refused() -> None:
    loop = SearchLoop(None, SPACE, median())
    for _ in range(3):
        t = loop.ask()
        for s in range(3):
            t.report(s, 0.1)
        loop.tell(t)
    bad = loop.ask()
    bad.report(0, 1.0)
    assert bad.report(1, 1.0).action is Action.STOP
    with pytest.raises(ValueError, match="stopped by the policy"):
        loop.tell(bad, 1.0, "completed")
    assert loop.tell(bad, 1.0) is TrialState.STOPPED


def test_elapsed_is_measured_when_not_given(tmp_path: Path) -> None:
    log = tmp_path / "el.jsonl"
    loop = SearchLoop(make_objective(sleep=0.01, n_steps=3), SPACE, hpprune.NoPruning(), log=log)
    loop.run(n_trials=1)
    el = [r["elapsed"] for r in read_log(log) if r["kind"] == "report"]
    assert el == sorted(el) and el[0] >= 0.01 and el[-1] >= 0.03
    # an explicit value is kept as given
    t = loop.ask()
    t.report(0, 1.0, elapsed_s=123.0)
    assert loop.engine.study.trial(t.trial_id).elapsed == [123.0]


def test_non_finite_report_stops_the_trial() -> None:
    loop = SearchLoop(lambda t: t.report(0, math.nan) and None, SPACE, hpprune.NoPruning())
    result = loop.run(n_trials=2)
    assert result.counts == {"stopped": 2}
    assert result.trials[0].decision is not None
    assert result.trials[0].decision.reason == Reason.NON_FINITE


# ----------------------------------------------------------------------------- run options
def test_timeout_stops_starting_trials() -> None:
    loop = SearchLoop(make_objective(sleep=0.01, n_steps=3), SPACE, hpprune.NoPruning())
    t0 = time.monotonic()
    result = loop.run(timeout_s=0.15)
    assert 1 <= len(result) <= 10
    assert time.monotonic() - t0 < 1.0
    assert result.counts == {"completed": len(result)}


def test_nothing_resumes_after_the_timeout() -> None:
    loop = SearchLoop(make_objective(sleep=0.02), SPACE, PauseAtStep2())
    result = loop.run(timeout_s=0.1)
    assert len(result) >= 1
    assert result.counts == {"paused": len(result)}
    assert all(t.runs == 1 for t in result)
    assert loop.paused_trials() == [t.trial_id for t in result]


def test_run_continues_the_same_study() -> None:
    loop = SearchLoop(make_objective(), SPACE, median(), seed=2)
    loop.run(n_trials=3)
    result = loop.run(n_trials=2)
    assert [t.number for t in result] == [0, 1, 2, 3, 4]


def test_progress_bar_writes_to_the_given_stream() -> None:
    out = io.StringIO()
    SearchLoop(make_objective(), SPACE, median()).run(n_trials=5, progress=out)
    text = out.getvalue()
    assert "5/5" in text and "stopped=" in text


def test_optuna_sampler_path_is_deterministic() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = []
    for _ in range(2):
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=4)
        loop = SearchLoop(make_objective(), SPACE, median(), sampler=sampler)
        result = loop.run(n_trials=10)
        runs.append([dict(t.params) for t in result])
        for t in result:
            assert all(SPACE[k].contains(v) for k, v in t.params.items())
        study = loop._sampling.study  # type: ignore[union-attr]
        states = Counter(ot.state.name for ot in study.trials)
        assert states["COMPLETE"] == result.n_completed
        assert states["PRUNED"] == result.n_stopped
        assert sum(states.values()) == 10
    assert runs[0] == runs[1]
    assert runs[0] != [sp.sample(SPACE, 0, n) for n in range(10)]


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        ({"n_workers": 0}, ValueError, "n_workers"),
        ({"n_workers": 1.5}, TypeError, "n_workers"),
        ({"seed": -1}, ValueError, "seed"),
        ({"objective": 3}, TypeError, "objective"),
        ({"policy": "median"}, TypeError, "policy"),
        ({"direction": "up"}, ValueError, "direction"),
        ({"space": {"a": 1}}, TypeError, "space"),
        ({"sampler": object()}, TypeError, "sampler"),
        ({"chooser": 1}, TypeError, "chooser"),
        ({"checkpoint_dir": 5}, TypeError, "checkpoint_dir"),
    ],
)
def test_constructor_validation(kwargs: dict[str, Any], exc: type, text: str) -> None:
    args: dict[str, Any] = {"objective": make_objective(), "space": SPACE, "policy": median()}
    args.update(kwargs)
    with pytest.raises(exc, match=text):
        SearchLoop(**args)


def test_run_validation(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="objective"):
        SearchLoop(None, SPACE, median()).run(n_trials=1)
    loop = SearchLoop(make_objective(), SPACE, median())
    with pytest.raises(ValueError, match="n_trials"):
        loop.run()
    with pytest.raises(ValueError, match="n_trials"):
        loop.run(n_trials=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        loop.run(n_trials=1, timeout_s=-1.0)
    for workers in (1, 2):  # errors of the loop itself reach the caller, from threads too
        bad_chooser = SearchLoop(
            make_objective(),
            SPACE,
            PauseAtStep2(),
            n_workers=workers,
            chooser=lambda p, s, c: "nope" if p else None,
        )
        with pytest.raises(ValueError, match="not a paused trial"):
            bad_chooser.run(n_trials=2)
    # a log written for another direction or policy is refused
    log = tmp_path / "d.jsonl"
    SearchLoop(make_objective(), SPACE, median(), log=log).run(n_trials=1)
    with pytest.raises(ValueError, match="direction"):
        SearchLoop(make_objective(), SPACE, median(), direction="maximize", log=log)
    with pytest.raises(ValueError, match="policy"):
        SearchLoop(make_objective(), SPACE, hpprune.NoPruning(), log=log)
    header = json.loads(log.read_text().splitlines()[0])
    assert header["kind"] == "study"


# ----------------------------------------------------------------------------- examples
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_ask_tell_loop_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = runpy.run_path(str(EXAMPLES / "ask_tell_loop.py"))
    log = tmp_path / "ex.jsonl"
    module["main"](n_trials=10, log=str(log))
    out = capsys.readouterr().out
    assert "callback: 10 trials" in out and "ask/tell:" in out
    assert sum(1 for r in read_log(log) if r["kind"] == "trial") == 10


def test_example_demo_digits_runs(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    module = runpy.run_path(str(EXAMPLES / "demo_digits.py"))
    result = module["main"](n_trials=6, log=str(tmp_path / "digits.jsonl"))
    assert len(result) == 6 and result.n_completed >= 5
    assert all(0.0 <= (t.value or 0.0) <= 1.0 for t in result)
