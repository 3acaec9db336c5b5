"""The import graph has layers: the log layer sits below the engine, the engine below its users.

Every ``import`` in the package (module level or inside a function) is parsed
with :mod:`ast`; a module may import only from its own layer or lower ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hpprune"

LAYERS: list[tuple[str, ...]] = [
    ("hpprune.types",),
    ("hpprune.validate", "hpprune.registry", "hpprune.cache"),
    (
        "hpprune.audit.records",
        "hpprune.audit.headers",
        "hpprune.audit.sinks",
        "hpprune.audit.dbsink",
        "hpprune.audit.log",
    ),
    ("hpprune.curves", "hpprune.space"),
    ("hpprune.pruners", "hpprune.scheduler", "hpprune.defaults", "hpprune.next_trial"),
    ("hpprune.engine",),
]
"""Lowest first; every module not listed is in the top layer (front doors, audit tools, CLI)."""

# Upward imports inside a function, each with its reason.
EXCEPTIONS = {
    # BayesianPruner.from_logs folds earlier studies' logs into a prior: a
    # classmethod that builds a policy from data, called before any engine runs.
    ("hpprune.pruners.posterior", "hpprune.engine"),
    # The error message for a wrong `policy` argument names the exported equivalent.
    ("hpprune.pruners.base", "hpprune"),
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return len(LAYERS)


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("hpprune"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "hpprune":  # from hpprune import validate / __version__
                for a in node.names:
                    if not a.name.startswith("__"):
                        out.add(f"hpprune.{a.name}" if (ROOT / f"{a.name}.py").exists()
                                or (ROOT / a.name).is_dir() else "hpprune")  # fmt: skip
            elif node.module.startswith("hpprune"):
                out.add(node.module)
    return out


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module(p) for p in MODULES])
def test_a_module_imports_only_from_its_layer_or_below(path: Path) -> None:
    me = _module(path)
    mine = _layer(me)
    upward = sorted(
        dep
        for dep in _imports(path)
        if _layer(dep) > mine and (me, dep) not in EXCEPTIONS and not dep.startswith(me + ".")
    )
    assert not upward, f"{me} (layer {mine}) imports from higher layers: {upward}"


def test_the_log_layer_is_below_the_engine() -> None:
    assert _layer("hpprune.audit.sinks") < _layer("hpprune.engine")
    assert _layer("hpprune.audit.records") < _layer("hpprune.pruners.base")
