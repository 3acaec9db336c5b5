"""DatabaseSink: the log-sink contract on SQLite and PostgreSQL, atomicity, kills, URLs as `log=`.

The contract tests of ``tests/test_sinks.py`` are imported and run here
against a database sink (this module's ``sink`` fixture).
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

import hpprune
from hpprune import cli
from hpprune.audit.dbsink import (
    EVENTS_TABLE,
    SCHEMA_TABLE,
    DatabaseSink,
    read_study,
    studies,
    write_study,
)
from hpprune.audit.records import LogFormatError
from hpprune.audit.sinks import FileSink, open_sink
from hpprune.integrations.optuna import STUDY_STORAGE, OptunaPruner
from tests.test_sinks import (  # noqa: F401 - collected here with this module's `sink`
    _counter,
    _rec,
    test_a_bad_batch_writes_nothing,
    test_append_then_read_gives_decoded_records,
    test_locked_yields_only_records_not_seen_yet,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sink(db_url: str, request: pytest.FixtureRequest) -> DatabaseSink:
    s = DatabaseSink(db_url, f"contract-{request.node.name}")
    request.addfinalizer(s.close)
    return s


def _study(request: pytest.FixtureRequest, tag: str = "") -> str:
    return f"{request.node.name}{tag}"


def test_other_handles_records_are_seen_in_order(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    name = _study(request)
    a, b = DatabaseSink(db_url, name), DatabaseSink(db_url, name)
    with a.locked() as new:
        assert list(new) == []
        a.append([_rec(0)])
    b.append([_rec(1)])
    a.append([_rec(2)])  # a catches up on b's record while it appends
    b.append([_rec(3)])
    with a.locked() as new:
        assert [r["trial"] for r in new] == ["t1", "t3"]
    assert [r["trial"] for r in b.read()] == ["t0", "t1", "t2", "t3"]
    other = DatabaseSink(db_url, name + "-other")  # studies are kept apart
    assert list(other.read()) == []
    for s in (a, b, other):
        s.close()


def test_an_exception_inside_locked_writes_nothing(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    name = _study(request)
    s = DatabaseSink(db_url, name)
    s.append([_rec(0)])
    with pytest.raises(RuntimeError, match="boom"), s.locked():
        s.append([_rec(1), _rec(2)])
        raise RuntimeError("boom")
    s.append([_rec(3)])  # the sequence continues where the committed log ends
    assert [r["trial"] for r in s.read()] == ["t0", "t3"]
    s.close()


@pytest.mark.slow
def test_fold_decide_append_is_atomic_across_processes(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    name = _study(request)
    DatabaseSink(db_url, name).close()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_counter, args=(db_url, 60, name)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    seen = [r["seen"] for r in DatabaseSink(db_url, name).read()]
    # Each writer had folded every earlier record when it appended: 0, 1, 2, ...
    assert seen == list(range(240))


_KILLED = """
import os, signal, sys
from hpprune.audit.dbsink import DatabaseSink
sink = DatabaseSink(sys.argv[1], sys.argv[2])
sink.append([{"kind": "complete", "trial": "kept"}])
with sink.locked():
    sink.append([{"kind": "complete", "trial": f"lost{i}"} for i in range(50)])
    os.kill(os.getpid(), signal.SIGKILL)  # killed before the commit
"""


def test_a_worker_killed_inside_a_transaction_leaves_nothing(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    name = _study(request)
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED), db_url, name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert res.returncode == -9, res.stderr
    s = DatabaseSink(db_url, name)
    s.append([_rec(1)])  # the lock was released with the dead connection
    assert [r["trial"] for r in s.read()] == ["kept", "t1"]
    s.close()


def test_tables_created_on_first_use_and_a_newer_layout_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    DatabaseSink(url, "s").append([_rec(0)])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert sa.inspect(conn).has_table(EVENTS_TABLE)
        conn.execute(sa.text(f"UPDATE {SCHEMA_TABLE} SET version = 99"))
    engine.dispose()
    with pytest.raises(LogFormatError, match="layout version 99"):
        list(DatabaseSink(url, "s").read())


def test_reading_studies_import_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert studies(url) == []
    engine = hpprune.Engine(hpprune.MedianPruner(), log=url, study_name="a")
    engine.report("0", 0, 1.0)
    engine.close()
    assert studies(url) == ["a"]
    records = read_study(url, None)  # the only study
    assert records[0]["study"] == "a" and records[1]["kind"] == "report"
    assert write_study(records, url, "b") == url
    with pytest.raises(FileExistsError, match="already has a log"):
        write_study(records, url, "b")
    with pytest.raises(ValueError, match="several studies"):
        read_study(url, None)
    with pytest.raises(FileNotFoundError, match="no audit log for study 'zzz'"):
        read_study(url, "zzz")
    copy = read_study(url, "b")
    assert copy[0] == {**records[0], "study": "b"} and copy[1:] == records[1:]
    resumed = hpprune.Engine.from_log(url, study="a")  # keeps logging to the database
    resumed.report("0", 1, 0.5)
    assert len(read_study(url, "a")) == len(records) + 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "{url}"], "several studies; choose one with --study: 'a', 'b'"),
        (["explain", "{url}", "--study", "nope"], "no audit log for study 'nope'"),
        (["replay", "{url}", "--study", "nope"], "no audit log for study 'nope'"),
        (["summary", "postgresql+psycopg2://u:secret@127.0.0.1:1/db"], "u:***@127.0.0.1"),
    ],
)
def test_cli_errors_name_the_problem_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    for name in ("a", "b"):
        hpprune.Engine(hpprune.MedianPruner(), log=url, study_name=name).report("0", 0, 1.0)
    code = cli.main([a.format(url=url) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and "secret" not in err


def test_urls_as_log_become_database_sinks_or_clear_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert isinstance(open_sink(url, study="s"), DatabaseSink)
    with pytest.raises(ValueError, match="study_name"):
        hpprune.Engine(hpprune.MedianPruner(), log="postgresql+psycopg2://u@h/db")
    with pytest.raises(ValueError, match="database URL"):
        FileSink("postgresql+psycopg2://u@h/db")
    # The bug of the issue: a URL used to become a folder named "postgresql+psycopg2:".
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=1), log=url)
    assert pruner.log_path is None
    assert pickle.loads(pickle.dumps(pruner))._log_url == url
    study = optuna.create_study(study_name="u", pruner=pruner)
    for _ in range(3):
        trial = study.ask()
        for step in range(3):
            trial.report(float(trial.number + step), step)
            trial.should_prune()
        study.tell(trial, float(trial.number))
    assert read_study(url, "u")[0]["study"] == "u"
    assert not any(p.name.startswith("sqlite") for p in Path.cwd().iterdir())
    memory = optuna.create_study(pruner=OptunaPruner(hpprune.MedianPruner(), log=STUDY_STORAGE))
    trial = memory.ask()
    trial.report(1.0, 0)
    with pytest.raises(ValueError, match="STUDY_STORAGE"):
        trial.should_prune()


def test_study_storage_puts_the_log_in_the_studys_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'own.db'}"
    pruner = OptunaPruner(hpprune.MedianPruner(n_startup_trials=1), log=STUDY_STORAGE)
    study = optuna.create_study(storage=url, study_name="own", pruner=pruner)
    trial = study.ask()
    trial.report(1.0, 0)
    assert trial.should_prune() is False
    assert [r["kind"] for r in read_study(url, "own")] == ["study", "report"]


def test_search_loop_with_a_database_log_matches_the_file_log_and_resumes(tmp_path: Path) -> None:
    from tests.test_loop import SPACE, make_objective, median

    url = f"sqlite:///{tmp_path / 'loop.db'}"
    traces = []
    for log in (tmp_path / "loop.jsonl", url):
        loop = hpprune.SearchLoop(
            make_objective(), SPACE, median(), n_workers=1, log=log, seed=3, study_name="loop"
        )
        loop.run(n_trials=10)
        loop.close()
        records = list(hpprune.read_log(log, study="loop"))
        traces.append([(r["kind"], r.get("trial"), r.get("decision")) for r in records[1:]])
    assert traces[0] == traces[1]
    again = hpprune.SearchLoop(
        make_objective(), SPACE, median(), n_workers=1, log=url, seed=3, study_name="loop"
    )
    result = again.run(n_trials=4)  # continues the study the database holds
    again.close()
    assert [t.trial_id for t in result][-4:] == ["10", "11", "12", "13"]


def test_asynchronous_commit_is_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durable=False"):
        DatabaseSink(f"sqlite:///{tmp_path / 'a.db'}", "s", durable=False)
    with pytest.raises(TypeError, match="durable"):
        DatabaseSink(f"sqlite:///{tmp_path / 'a.db'}", "s", durable=1)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_asynchronous_commit_sessions_see_each_other_at_once(pg_url: str) -> None:
    a = DatabaseSink(pg_url, "async-commit", durable=False)
    b = DatabaseSink(pg_url, "async-commit")
    with a.locked() as new:
        assert list(new) == []
        a.append([_rec(0), _rec(1)])
    with b.locked() as new:
        assert [r["trial"] for r in new] == ["t0", "t1"]
    assert a._connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    a.close()
    b.close()


def test_cli_export_and_import_jsonl_round_trip(tmp_path: Path) -> None:
    url, other = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    engine = hpprune.Engine(hpprune.MedianPruner(), log=url, study_name="s")
    for step in range(3):
        engine.report("0", step, 1.0 / (1 + step))
    engine.complete("0")
    out = tmp_path / "s.jsonl"
    assert cli.main(["export", url, "-o", str(out)]) == 0
    assert cli.main(["import", "jsonl", str(out), "-o", other, "--study", "copy"]) == 0
    assert cli.main(["import", "jsonl", str(out), "-o", other, "--study", "copy"]) == 2
    original, copy = read_study(url, "s"), read_study(other, "copy")
    assert copy[0] == {**original[0], "study": "copy"} and copy[1:] == original[1:]
