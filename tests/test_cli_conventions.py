"""CLI conventions, checked over every subcommand of ``hpprune`` (one table row each).

Every command shows its log argument as ``LOG``, every command that writes a
file takes ``-o/--output``, commands that print results take ``--json``, and
a metric direction is always ``--direction {minimize,maximize}`` (``min`` and
``max`` accepted). A subcommand missing from the table fails the test.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import hpprune
from hpprune import cli
from hpprune.audit import cli as audit_cli
from hpprune.audit.spec import ALIASES, load_policy, policy_names
from hpprune.bench import cli as bench_cli
from hpprune.engine import Engine


@dataclass(frozen=True)
class Row:
    argv: tuple[str, ...]
    log: bool  # takes an audit log positional
    output: bool  # takes -o/--output
    json: bool  # takes --json
    direction: bool  # takes --direction


ROWS = [
    Row(("demo",), log=False, output=True, json=False, direction=False),
    Row(("explain",), log=True, output=True, json=True, direction=False),
    Row(("summary",), log=True, output=True, json=True, direction=False),
    Row(("replay",), log=True, output=True, json=True, direction=False),
    Row(("backtest",), log=True, output=True, json=True, direction=False),
    Row(("report",), log=True, output=True, json=False, direction=False),
    Row(("export",), log=True, output=True, json=False, direction=False),
    Row(("import", "optuna"), log=False, output=True, json=False, direction=False),
    Row(("import", "ray"), log=False, output=True, json=False, direction=True),
    Row(("import", "jsonl"), log=True, output=True, json=False, direction=False),
    Row(("bench", "lcbench"), log=False, output=True, json=False, direction=True),
]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_table_covers_every_subcommand() -> None:
    listed = {r.argv[0] for r in ROWS}
    assert set(_subcommands(cli.build_parser())) == listed
    imports = _subcommands(_subcommands(audit_cli.build_parser())["import"])
    assert {r.argv[1] for r in ROWS if r.argv[0] == "import"} == set(imports)


def _help(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main([*argv, "--help"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("row", ROWS, ids=[" ".join(r.argv) for r in ROWS])
def test_conventions(row: Row, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(row.argv, capsys)
    usage = text.split("\n\n")[0].replace("usage: hpprune " + " ".join(row.argv), "", 1)
    assert re.search(r"\blogs?\b", re.sub(r"\{[^}]*\}", "", usage)) is None, usage
    positionals = text.partition("positional arguments:\n")[2].split("\n\n")[0]
    for line in positionals.splitlines():
        name = line.split()[0] if line.startswith("  ") and not line.startswith("   ") else ""
        assert name == "" or name.isupper() or name.startswith("{"), line
    assert ("LOG" in usage) is row.log, usage
    assert (re.search(r"-o \w+, --output \w+", text) is not None) is row.output, text
    assert ("--json" in usage) is row.json, usage
    assert ("--direction {minimize,maximize}" in usage) is row.direction, usage


def test_bare_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: hpprune") and "demo" in out and err == ""


@pytest.mark.parametrize(
    ("argv", "direction"),
    [
        (("import", "ray", "D", "--metric", "m", "--direction", "max", "-o", "x"), "maximize"),
        (("import", "ray", "D", "--metric", "m", "--direction", "minimize", "-o", "x"), "minimize"),
        (("import", "ray", "D", "--metric", "m", "--mode", "min", "-o", "x"), "minimize"),
    ],
)
def test_import_ray_direction_spellings(argv: tuple[str, ...], direction: str) -> None:
    assert audit_cli.build_parser().parse_args(list(argv)).direction == direction


@pytest.mark.parametrize(
    ("argv", "direction", "output"),
    [
        (("curves", "f.csv", "--direction", "min", "-o", "d"), "minimize", "d"),
        (("curves", "f.csv", "--direction", "maximize", "--output", "d"), "maximize", "d"),
        (("curves", "f.csv", "--direction", "max", "--out", "d"), "maximize", "d"),
    ],
)
def test_bench_direction_and_output_spellings(
    argv: tuple[str, ...], direction: str, output: str
) -> None:
    args = bench_cli.build_parser().parse_args(list(argv))
    assert (args.direction, args.output) == (direction, output)


def test_bad_direction_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["import", "ray", "D", "--metric", "m", "--direction", "up", "-o", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "--direction" in err and "minimize" in err and "Traceback" not in err


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "study.jsonl"
    engine = Engine(hpprune.MedianPruner(n_startup_trials=2), "maximize", log=path)
    for tid, values in {"0": [0.5, 0.8], "1": [0.6, 0.9], "2": [0.1, 0.2]}.items():
        for step, v in enumerate(values):
            if engine.report(tid, step, v).stops:
                break
        if tid != "2":
            engine.complete(tid)
    engine.close()
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ("summary",),
        ("summary", "--json"),
        ("explain",),
        ("explain", "--json"),
        ("explain", "--trial", "2"),
        ("explain", "--trial", "2", "--json"),
        ("replay", "--policy", "none"),
        ("replay", "--policy", "none", "--json"),
    ],
)
def test_output_file_holds_what_would_be_printed(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(_log(tmp_path))
    command, rest = argv[0], list(argv[1:])
    assert cli.main([command, log, *rest]) == 0
    printed = capsys.readouterr().out
    target = tmp_path / "out" / "result.txt"
    assert cli.main([command, log, *rest, "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    assert target.read_text() == printed
    if "--json" in argv:
        data = json.loads(printed)
        assert data  # a non-empty document
        if command == "explain" and "--trial" in argv:
            assert data["state"] == "stopped" and data["decisions"][0]["action"] == "stop"


def test_output_that_is_a_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(_log(tmp_path))
    code = cli.main(["summary", log, "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "-o/--output" in err and "directory" in err and "Traceback" not in err


def test_unknown_policy_lists_every_short_name_and_alias() -> None:
    with pytest.raises(ValueError, match="unknown policy") as info:
        load_policy("nosuch")
    message = str(info.value)
    for alias, target in ALIASES.items():
        if target in hpprune.__all__:
            assert alias in message, alias
    table = policy_names()
    listed = message.split("known names: ")[1].split(" (snake_case")[0]
    names = re.findall(r"[a-z_]+", listed)
    assert set(names) <= set(table)
    assert {table[n] for n in names} == set(table.values())
