"""Keep the numbers in docs/ equal to the files the benchmarks wrote.

A Markdown page marks a generated block with

    <!-- generated: results/lcbench/summary.md -->
    ...
    <!-- end generated -->

and ``python -m hpprune.bench.docs [DOCS_DIR]`` replaces every such block with
the named file (relative to the docs folder), so tables in the docs are never
copied by hand. ``--check`` exits 1 (and names the page) when a block differs
from its file; the test suite runs that check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

_BLOCK = re.compile(
    r"(<!-- generated: (?P<src>[^ >]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S
)


def render(page: Path) -> str:
    """The page's text with every generated block replaced by its source file.

    Raises:
        FileNotFoundError: If a block names a file that does not exist.
    """
    text = page.read_text(encoding="utf-8")

    def fill(m: re.Match[str]) -> str:
        src = page.parent / m.group("src")
        body = src.read_text(encoding="utf-8")
        body = _demote_headings(body if body.endswith("\n") else body + "\n")
        return m.group(1) + body + m.group(4)

    return _BLOCK.sub(fill, text)


def _demote_headings(md: str) -> str:
    """Turn the source's headings into level-4 ones so they nest under the page's."""
    return re.sub(r"^#{1,3} ", "#### ", md, flags=re.M)


def stale_pages(docs: Path) -> list[Path]:
    """Pages whose generated blocks differ from their files."""
    return [p for p in sorted(docs.glob("*.md")) if render(p) != p.read_text(encoding="utf-8")]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m hpprune.bench.docs")
    parser.add_argument("docs", nargs="?", default="docs", help="the docs folder")
    parser.add_argument("--check", action="store_true", help="only report stale pages")
    args = parser.parse_args(argv)
    docs = Path(args.docs)
    if not docs.is_dir():
        print(f"hpprune.bench.docs: {docs} is not a folder", file=sys.stderr)
        return 2
    try:
        stale = stale_pages(docs)
    except FileNotFoundError as exc:
        print(f"hpprune.bench.docs: a generated block names a missing file: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for page in stale:
            print(
                f"{page}: generated block differs from its file (run python -m hpprune.bench.docs)"
            )
        return 1 if stale else 0
    from hpprune.audit.outputs import write_text

    for page in stale:
        write_text(page, render(page))
        print(f"updated {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
