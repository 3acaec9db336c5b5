"""A rejected line is named by its own line number, whatever comes before it.

Blank lines, a torn line and lines skipped with a warning count as lines: every
reader of a file (``Engine.from_log``, an engine opened on the log,
explain/summary/report's fold and ``load_records``) names the line a bad
record is on, not its position among the records read.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpprune
from hpprune.audit.facts import fold_log, load_records
from hpprune.audit.records import LogFormatError

HEADER = json.dumps(hpprune.Engine(hpprune.MedianPruner()).header())


def _report(step: int) -> str:
    return json.dumps(
        {
            "kind": "report",
            "trial": "a",
            "step": step,
            "value": 1.0,
            "decision": {"action": "continue", "reason": "ok", "rule": "MedianPruner"},
        }
    )


READERS: dict[str, Callable[[Path], Any]] = {
    "from_log": lambda p: hpprune.Engine.from_log(p, resume_logging=False),
    "open": lambda p: hpprune.Engine(hpprune.MedianPruner(), log=p),
    "fold_log": fold_log,
    "load_records": load_records,
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(
    "before, line",
    [
        ([], 3),
        (["", "   "], 5),
        (['{"kind": "report", "trial": "a", "st'], 4),  # torn
        (["[1, 2]", "not json"], 5),  # not records: skipped with a warning
    ],
)
def test_a_rejected_line_is_named_by_its_line_number(
    tmp_path: Path, reader: str, before: list[str], line: int
) -> None:
    log = tmp_path / "study.jsonl"
    lines = [HEADER, *before, _report(1), _report(0)]  # the last step does not increase
    log.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LogFormatError, match=rf"study\.jsonl:line {line}: `step` 0"):
            READERS[reader](log)
