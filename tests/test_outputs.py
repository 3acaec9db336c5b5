"""Safe outputs: private temp file, atomic rename, never over an input, never a partial file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hpprune
from hpprune import cli
from hpprune.audit.outputs import atomic_output, sqlite_path, write_text


def _log(path: Path) -> Path:
    engine = hpprune.Engine(hpprune.MedianPruner(n_startup_trials=1), log=path)
    engine.report("a", 0, 0.5)
    engine.complete("a")
    engine.close()
    return path


def _optuna_db(path: Path) -> str:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{path}"
    study = optuna.create_study(storage=url, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return url


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


ROWS = [
    ("report over its own log", ["report", "{LOG}", "-o", "{LOG}"], "inputs"),
    ("explain over its own log", ["explain", "{LOG}", "-o", "{LOG}"], "inputs"),
    ("summary over its own log", ["summary", "{LOG}", "-o", "{LOG}"], "inputs"),
    ("replay over its own log", ["replay", "{LOG}", "-o", "{LOG}"], "inputs"),
    ("report over a link to its log", ["report", "{LOG}", "-o", "{LINK}"], "inputs"),
    ("report into a directory", ["report", "{LOG}", "-o", "{DIR}"], "directory"),
    (
        "import over its own database",
        ["import", "optuna", "--storage", "{DBURL}", "-o", "{DB}", "--force"],
        "inputs",
    ),
    (
        "import from a missing database",
        ["import", "optuna", "--storage", "sqlite:///{MISSING}", "-o", "{OUT}"],
        "no SQLite database",
    ),
]


@pytest.mark.parametrize(("what", "argv", "text"), ROWS, ids=[r[0] for r in ROWS])
def test_a_command_refuses_and_leaves_every_file_as_it_was(
    what: str, argv: list[str], text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(tmp_path / "study.jsonl")
    (tmp_path / "link.jsonl").symlink_to(log)
    (tmp_path / "dir").mkdir()
    db = tmp_path / "o.db"
    names = {
        "LOG": log,
        "LINK": tmp_path / "link.jsonl",
        "DIR": tmp_path / "dir",
        "DB": db,
        "DBURL": _optuna_db(db) if "{DBURL}" in argv else "",
        "MISSING": tmp_path / "missing.db",
        "OUT": tmp_path / "out.jsonl",
    }
    before = _listing(tmp_path)
    code = cli.main([a.format(**names) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, (what, err)
    assert text in err and "Traceback" not in err
    assert _listing(tmp_path) == before  # nothing created, nothing changed, no temp file
    assert _listing(tmp_path / "dir") == {}


def test_a_planted_temp_name_or_symlink_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "report.html"
    (tmp_path / ".report.html.tmp").symlink_to(victim)  # the name the old code used
    write_text(out, "<html>1</html>")
    assert victim.read_text() == "precious"
    out.unlink()
    out.symlink_to(victim)  # the target itself is a planted link: the link is replaced
    write_text(out, "<html>2</html>")
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and out.read_text() == "<html>2</html>"


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(out) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert _listing(tmp_path) == {"x.jsonl": b"old"}
    with pytest.raises(FileExistsError), atomic_output(out, overwrite=False) as fh:
        fh.write(b"new")
    assert _listing(tmp_path) == {"x.jsonl": b"old"}


def test_outputs_are_readable_like_other_files(tmp_path: Path) -> None:
    out = write_text(tmp_path / "a.txt", "x")
    assert os.stat(out).st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///o.db", "o.db"),
        ("sqlite:////abs/o.db", "/abs/o.db"),
        ("sqlite:///:memory:", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_sqlite_path(url: str, path: str | None) -> None:
    got = sqlite_path(url)
    assert (None if got is None else str(got)) == path
