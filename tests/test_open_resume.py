"""Open means resume; write-ahead; a log never chooses code to import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import hpprune
from hpprune.audit.records import LogFormatError
from hpprune.types import policy_digest


def _median() -> hpprune.MedianPruner:
    return hpprune.MedianPruner(n_startup_trials=1, n_warmup_steps=0)


def _readme_snippet(log: Path) -> None:
    engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=5), "maximize", log=log)
    for epoch in range(50):
        decision = engine.report("trial-7", epoch, 0.5 + epoch / 100)
        if decision.action != "continue":
            break
    else:
        engine.complete("trial-7")
    engine.close()


def test_running_the_readme_snippet_twice_does_not_log_trial_7_twice(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _readme_snippet(log)
    before = log.read_bytes()
    with pytest.raises(ValueError, match="'trial-7' is completed"):
        _readme_snippet(log)  # the engine continued the log: the trial is done
    assert log.read_bytes() == before
    steps = [r["step"] for r in hpprune.read_log(log) if r["kind"] == "report"]
    assert steps == list(range(50))


def test_an_engine_opened_on_a_log_continues_it_like_from_log(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    first = hpprune.Engine(_median(), log=log)
    for t, v in (("a", 0.2), ("b", 0.1)):
        first.report(t, 0, v)
        first.complete(t)
    first.report("c", 0, 0.9)
    first.close()
    reopened = hpprune.Engine(_median(), log=log)
    rebuilt = hpprune.Engine.from_log(log, resume_logging=False)
    assert reopened.trial_ids() == rebuilt.trial_ids() == ["a", "b", "c"]
    assert reopened.decisions("c") == rebuilt.decisions("c")
    assert reopened.report("c", 1, 0.95) == rebuilt.report("c", 1, 0.95)


def _mismatch(log: Path, **changes: Any) -> None:
    args: dict[str, Any] = {"policy": _median(), "direction": "minimize", "non_finite": "stop"}
    args.update(changes)
    policy = args.pop("policy")
    hpprune.Engine(policy, log=log, **args)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"policy": hpprune.MedianPruner(n_startup_trials=9)}, "policy"),
        ({"direction": "maximize"}, "direction"),
        ({"non_finite": "ignore"}, "non_finite"),
        ({"study_name": "other"}, "belongs to study"),
    ],
)
def test_reopening_with_another_setting_is_refused(
    tmp_path: Path, changes: dict[str, Any], match: str
) -> None:
    log = tmp_path / "a.jsonl"
    eng = hpprune.Engine(_median(), log=log, study_name="s")
    eng.report("a", 0, float("nan"))
    eng.close()
    before = log.read_bytes()
    with pytest.raises(ValueError, match=match):
        _mismatch(log, **{"study_name": "s", **changes})
    assert log.read_bytes() == before


def test_search_loop_refuses_another_non_finite_mode(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    hpprune.Engine(_median(), log=log, non_finite="stop").close()
    with pytest.raises(ValueError, match="non_finite"):
        hpprune.SearchLoop(
            lambda t: 0.0,
            {"x": hpprune.space.Categorical([1, 2])},
            _median(),
            log=log,
            non_finite="ignore",
        )


@pytest.mark.parametrize(
    "content",
    [b"my notes\nnot json\n", b'{"tool": "other", "row": 1}\n', b"[1, 2, 3]\n"],
    ids=["notes.txt", "another tool's JSONL", "a JSON array"],
)
def test_a_file_that_is_not_an_hpprune_log_is_refused_and_left_alone(
    tmp_path: Path, content: bytes
) -> None:
    p = tmp_path / "notes.txt"
    p.write_bytes(content)
    with pytest.warns(UserWarning), pytest.raises(LogFormatError, match="not an hpprune log"):
        hpprune.Engine(_median(), log=p)
    assert p.read_bytes() == content


_FSIZE = """
import resource, sys
import hpprune
log = sys.argv[1]
engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1, n_warmup_steps=0), log=log)
for t, v in (("a", 0.2), ("b", 0.1)):
    engine.report(t, 0, v)
    engine.report(t, 1, v)
    engine.complete(t)
engine.report("c", 0, 0.12)
size = engine.log.path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, resource.RLIM_INFINITY))
for call in (lambda: engine.report("c", 1, 0.9), lambda: engine.complete("c"),
             lambda: engine.fail("c"), lambda: engine.add_trial("d", {"lr": 0.1})):
    try:
        call()
        print("no error")
    except OSError:
        print("failed", engine.state("c").value, len(engine.decisions("c")),
              engine.study.trial("c").last_step, engine.trial_ids())
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("retry", engine.report("c", 1, 0.9).action.value)
print("log", len(engine.decisions("c")), size < engine.log.path.stat().st_size)
"""


def test_a_failed_write_leaves_the_engine_unchanged_and_the_call_can_be_retried(
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.jsonl"
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FSIZE), str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    unchanged = "failed running 1 0 ['a', 'b', 'c']"
    assert lines[:4] == [unchanged] * 4, lines
    assert lines[4] == "retry continue"  # best so far 0.12 beats the median 0.15
    assert lines[5] == "log 2 True"
    again = hpprune.Engine.from_log(log, resume_logging=False)
    assert [d.action.value for d in again.decisions("c")] == ["continue", "continue"]
    assert again.trial_ids() == ["a", "b", "c"]


def test_a_log_never_chooses_code_to_import(tmp_path: Path) -> None:
    """``"type": "this.x"`` used to import the module ``this`` (the Zen of Python printed)."""
    header = hpprune.Engine(_median()).header()
    header["policy"] = {"type": "this.x", "params": {}}
    header["policy_hash"] = policy_digest(header["policy"])  # passes the header's own check
    p = tmp_path / "evil.jsonl"
    p.write_text(json.dumps(header) + "\n")
    code = textwrap.dedent(
        f"""
        import sys, hpprune
        from hpprune.audit.explain import policy_text, fold_log
        from hpprune.audit.replay import replay
        for read in (lambda: hpprune.Engine.from_log({str(p)!r}),
                     lambda: replay({str(p)!r}),
                     lambda: hpprune.policy_from_dict({{"type": "this.x"}})):
            try:
                read()
            except ValueError as exc:
                assert "unknown policy type" in str(exc), exc
        print("this" in sys.modules)
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
    assert "Zen of Python" not in res.stdout


class _Mine(hpprune.NoPruning):
    """A user's policy, allowed once registered."""


def test_a_registered_policy_resolves(tmp_path: Path) -> None:
    p = tmp_path / "mine.jsonl"
    hpprune.Engine(_Mine(), log=p).close()
    with pytest.raises(ValueError, match="unknown policy type"):
        hpprune.Engine.from_log(p)
    hpprune.register_policy(_Mine)
    assert isinstance(hpprune.Engine.from_log(p).policy, _Mine)
    with pytest.raises(TypeError, match="expected a policy type"):
        hpprune.register_policy(int)  # type: ignore[arg-type]


class _Model:
    """A custom gain model: what it predicts depends on ``gain``."""

    def __init__(self, gain: float) -> None:
        self.gain = gain

    def params(self) -> dict[str, float]:
        return {"gain": self.gain}

    def predict(self, trial: Any, study: Any) -> Any:
        return hpprune.scheduler.PeerDeltaModel().predict(trial, study)


def test_pre_registration_covers_a_custom_scheduler_model(tmp_path: Path) -> None:
    """``ResourceScheduler(model=...)`` used to hash the same whatever the model."""

    def sched(model: object = None) -> hpprune.ResourceScheduler:
        return hpprune.ResourceScheduler(hpprune.MedianPruner(), 1.0, model=model)  # type: ignore[arg-type]

    hashes = {hpprune.policy_hash(p) for p in (sched(), sched(_Model(1.0)), sched(_Model(2.0)))}
    assert len(hashes) == 3
    assert hpprune.policy_hash(sched(_Model(1.0))) == hpprune.policy_hash(sched(_Model(1.0)))
    log = tmp_path / "s.jsonl"
    hpprune.Engine(sched(_Model(1.0)), log=log).close()
    with pytest.raises(ValueError, match="custom model"):  # never silently the default model
        hpprune.Engine.from_log(log)
    assert isinstance(hpprune.Engine.from_log(log, sched(_Model(1.0))).policy, type(sched()))
    with pytest.raises(ValueError, match="policy"):
        hpprune.Engine.from_log(log, sched(_Model(2.0)))
