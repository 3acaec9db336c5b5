"""hpprune.registry: a file names only registered code; nothing else is imported."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hpprune.registry import Registry

Fn = Callable[[], int]


def _name(fn: Fn) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _registry(group: str = "hpprune.test_registry_none") -> Registry[Fn]:
    return Registry("test hook", name_of=_name, accepts=callable, group=group, how="reg(fn)")


def one() -> int:
    return 1


def two() -> int:
    return 2


def test_registered_objects_resolve_and_are_named() -> None:
    reg = _registry()
    assert reg.register(one) is one
    assert reg.resolve(f"{__name__}:one", "hook") is one
    assert reg.name(one, "hook") == f"{__name__}:one"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (f"{__name__}:two", r"unknown test hook .* in `hook`"),  # importable, not registered
        ("os:getcwd", "unknown test hook"),
        (None, "`hook` must name a test hook"),
        (["x"], "`hook` must name a test hook"),
    ],
)
def test_unregistered_names_are_refused(name: object, match: str) -> None:
    reg = _registry()
    reg.register(one)
    with pytest.raises(ValueError, match=match):
        reg.resolve(name, "hook")


def test_naming_an_unregistered_object_is_refused() -> None:
    with pytest.raises(ValueError, match=r"`hook` .*two is not a registered test hook"):
        _registry().name(two, "hook")


def test_only_acceptable_objects_register() -> None:
    with pytest.raises(TypeError, match="expected a test hook"):
        _registry().register(3)  # type: ignore[arg-type]


def test_an_entry_point_of_an_installed_package_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hpprune_ep_hooks.py").write_text("def hook():\n    return 7\n")
    info = tmp_path / "hpprune_ep_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpprune-ep-hooks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hpprune.test_registry_hooks]\nhook = hpprune_ep_hooks:hook\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = _registry("hpprune.test_registry_hooks")
    fn = reg.resolve("hpprune_ep_hooks:hook", "hook")
    assert fn() == 7
    monkeypatch.delitem(sys.modules, "hpprune_ep_hooks")
