"""Policy SPECs: short strings, JSON and TOML files that name a policy and its parameters.

A SPEC is one of:

* a short string: ``median``, ``median:n_startup_trials=5,n_warmup_steps=2``,
  ``percentile:percentile=25``, ``anyof(median:n_startup_trials=5,percentile:percentile=10)``;
* an inline JSON object: ``{"type": "median", "params": {"n_startup_trials": 5}}``;
* the path of a ``.json`` or ``.toml`` file holding such an object (TOML: a top-level
  ``type = "median"`` and a ``[params]`` table).

Short names come from ``hpprune.__all__`` at run time: every exported policy class is
known by its lower-cased name, and a class ending in ``Pruner`` also without the
suffix (``MedianPruner`` -> ``median``, ``SuccessiveHalvingPruner`` ->
``successivehalving`` and ``successive_halving``). A few explicit aliases are added
(see :data:`ALIASES`). Full dotted names such as ``hpprune.pruners.percentile.MedianPruner``
(what the audit log's ``study`` record holds) are accepted too, so the ``policy``
object of a log header is itself a valid SPEC.

Values in short strings are read as JSON when they parse (``5``, ``2.5``, ``true``,
``null``, ``[1, 2]``, ``"text"``), ``True``/``False``/``None`` as Python spells them,
and anything else as a bare string. Non-finite numbers (``nan``, ``inf``) stay bare
strings, so the policy's own validation rejects them with a message that names the
parameter.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpprune.pruners.base import Policy, resolve_policy_class

__all__ = ["ALIASES", "SpecError", "load_policy", "parse_spec", "policy_names", "to_spec"]

ALIASES: dict[str, str] = {
    "none": "NoPruning",
    "noprune": "NoPruning",
    "pct": "PercentilePruner",
    "sha": "SuccessiveHalvingPruner",
    "hb": "HyperbandPruner",
    "any": "AnyOf",
    "all": "AllOf",
}
"""Extra short names -> exported class names (used only when that class is exported)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEY_EQ = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")


class SpecError(ValueError):
    """A policy SPEC that cannot be parsed or resolved; the message names the bad part."""


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def policy_names() -> dict[str, type[Policy]]:
    """The table of short names, built from ``hpprune.__all__``.

    Returns:
        ``{short name: policy class}``, e.g. ``{"median": MedianPruner, ...}``.
    """
    import hpprune

    table: dict[str, type[Policy]] = {}
    exported: dict[str, type[Policy]] = {}
    for name in hpprune.__all__:
        obj = getattr(hpprune, name, None)
        if not (isinstance(obj, type) and issubclass(obj, Policy)) or inspect.isabstract(obj):
            continue
        exported[name] = obj
        table[name.lower()] = obj
        table.setdefault(_snake(name), obj)
        if name.endswith("Pruner") and len(name) > len("Pruner"):
            short = name[: -len("Pruner")]
            table.setdefault(short.lower(), obj)
            table.setdefault(_snake(short), obj)
    for alias, target in ALIASES.items():
        if target in exported:
            table.setdefault(alias, exported[target])
    return table


# ------------------------------------------------------------------ short strings
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> SpecError:
        return SpecError(
            f"policy spec {self.text!r}: {message} at position {self.pos} "
            f"(near {self.text[self.pos : self.pos + 12]!r})"
        )

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def spec(self) -> dict[str, Any]:
        self.skip_ws()
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.error("expected a policy name")
        self.pos = m.end()
        out: dict[str, Any] = {"type": m.group(0), "params": {}}
        if self.peek() == "(":
            self.pos += 1
            members = [self.spec()]
            while self.peek() == ",":
                self.pos += 1
                members.append(self.spec())
            if self.peek() != ")":
                raise self.error(f"expected ',' or ')' in the member list of {m.group(0)!r}")
            self.pos += 1
            out["params"]["policies"] = members
        if self.peek() == ":":
            self.pos += 1
            self.params(out["params"])
        return out

    def params(self, into: dict[str, Any]) -> None:
        while True:
            m = _KEY_EQ.match(self.text, self.pos)
            if m is None:
                raise self.error("expected key=value")
            key = m.group(1)
            if key in into:
                raise self.error(f"parameter {key!r} given twice")
            self.pos = m.end()
            into[key] = self.value(key)
            # A comma continues this parameter list only if a `key=` follows; otherwise
            # it separates members of an enclosing anyof(...)/allof(...).
            if self.peek() == "," and _KEY_EQ.match(self.text, self.pos + 1):
                self.pos += 1
                continue
            return

    def value(self, key: str) -> Any:
        self.skip_ws()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.error(f"missing value for {key!r}")
        ch = text[start]
        if ch in "\"'":
            end = text.find(ch, start + 1)
            if end < 0:
                raise self.error(f"unterminated string for {key!r}")
            self.pos = end + 1
            return text[start + 1 : end]
        if ch in "[{":
            depth = 0
            in_str = ""
            i = start
            while i < len(text):
                c = text[i]
                if in_str:
                    in_str = "" if c == in_str else in_str
                elif c in "\"'":
                    in_str = c
                elif c in "[{":
                    depth += 1
                elif c in "]}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if depth != 0:
                raise self.error(f"unbalanced brackets in the value of {key!r}")
            self.pos = i + 1
            raw = text[start : i + 1]
            try:
                return json.loads(raw)
            except ValueError:  # malformed, or an int of more than 4300 digits
                raise self.error(f"value of {key!r} is not valid JSON: {raw[:80]!r}") from None
        i = start
        while i < len(text) and text[i] not in ",()":
            i += 1
        raw = text[start:i].strip()
        self.pos = i
        if not raw:
            raise self.error(f"missing value for {key!r}")
        try:
            return _scalar(raw)
        except ValueError:  # an int of more than 4300 digits
            raise self.error(f"value of {key!r} is too long a number: {raw[:40]!r}...") from None


def _scalar(raw: str) -> Any:
    python_words = {"True": True, "False": False, "None": None}
    if raw in python_words:
        return python_words[raw]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:  # a bare word: the string itself
        return raw
    if isinstance(value, float) and value != value:  # pragma: no cover - json gives no NaN
        return raw
    return value


def parse_spec(text: str) -> dict[str, Any]:
    """Parse a short SPEC string into ``{"type": name, "params": {...}}`` (not resolved).

    Args:
        text: e.g. ``"anyof(median:n_startup_trials=5,percentile:percentile=10)"``.

    Returns:
        The nested dict; composite members sit in ``params["policies"]``.

    Raises:
        SpecError: If the string is malformed; the message gives the position.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str for `spec`, got {type(text).__name__}")
    parser = _Parser(text)
    out = parser.spec()
    if parser.peek():
        raise parser.error("unexpected text after the policy")
    return out


# --------------------------------------------------------------------- resolving
def _lookup(type_name: str, where: str) -> type[Policy]:
    table = policy_names()
    cls = table.get(type_name.lower()) or table.get(_snake(type_name))
    if cls is not None:
        return cls
    if "." in type_name:
        try:
            return resolve_policy_class(type_name)  # hpprune's own or registered: no import
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}") from None
    raise SpecError(
        f"{where}: unknown policy {type_name!r}; known names: {known_names_text(table)} "
        f"(snake_case forms such as successive_halving and class names such as "
        f"MedianPruner work too)"
    )


def known_names_text(table: Mapping[str, type[Policy]] | None = None) -> str:
    """Every policy's shortest name, with its explicit aliases in parentheses.

    Args:
        table: The name table (default :func:`policy_names`).

    Returns:
        Text such as ``"median, successive_halving (sha), ..."``.
    """
    names = policy_names() if table is None else table
    shortest: dict[type[Policy], str] = {}
    aliases: dict[type[Policy], list[str]] = {}
    for name, c in sorted(names.items(), key=lambda kv: (kv[0] in ALIASES, len(kv[0]), kv[0])):
        if name in ALIASES:
            aliases.setdefault(c, []).append(name)
        else:
            shortest.setdefault(c, name)
    parts = []
    for c, name in sorted(shortest.items(), key=lambda kv: kv[1]):
        extra = sorted(a for a in aliases.get(c, []) if a != name)
        parts.append(f"{name} ({', '.join(extra)})" if extra else name)
    return ", ".join(parts)


def _resolve(data: Any, where: str) -> Policy:
    if isinstance(data, Policy):
        return data
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected an object with 'type' and 'params', got {data!r}")
    extra = sorted(set(data) - {"type", "params"})
    if extra:
        raise SpecError(
            f"{where}: unknown key {extra[0]!r} (a policy object has 'type' and 'params')"
        )
    if "type" not in data or not isinstance(data["type"], str):
        raise SpecError(f"{where}: missing or non-string 'type'")
    type_name = data["type"]
    cls = _lookup(type_name, where)
    raw = data.get("params") or {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: 'params' of {type_name!r} must be an object, got {raw!r}")
    here = f"{where} -> {type_name}"
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping) and "type" in value:
            params[key] = _resolve(value, f"{here}.{key}")
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, Mapping) and "type" in v for v in value)
        ):
            params[key] = [_resolve(v, f"{here}.{key}[{i}]") for i, v in enumerate(value)]
        else:
            params[key] = value
    sig = inspect.signature(cls.__init__)
    accepted = [n for n in sig.parameters if n != "self"]
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if not var_kw:
        for key in params:
            if key not in accepted:
                raise SpecError(
                    f"{here}: unknown parameter {key!r} for {cls.__name__} "
                    f"(known: {', '.join(accepted) or 'none'})"
                )
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty and name not in params:
            raise SpecError(f"{here}: missing required parameter {name!r} for {cls.__name__}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{here}: {exc}") from None


def load_policy(spec: str | os.PathLike[str] | Mapping[str, Any] | Policy) -> Policy:
    """Turn a SPEC (short string, inline JSON, JSON/TOML file, dict or Policy) into a policy.

    Args:
        spec: See the module docstring. A string naming an existing file, or ending
            in ``.json``/``.toml``, is read as a file.

    Returns:
        The policy instance.

    Raises:
        SpecError: (a ValueError) for a malformed SPEC, an unknown policy name, an
            unknown or missing parameter, or a value the policy rejects; the
            message names the offending key or value.
        FileNotFoundError: If a ``.json``/``.toml`` path does not exist.
        TypeError: If ``spec`` has an unsupported type.

    Non-finite parameter values are passed to the policy, whose validation rejects
    them with a message naming the parameter.
    """
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, Mapping):
        return _resolve(spec, "policy spec")
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"expected a str, path or mapping for `policy`, got {type(spec).__name__}")
    text = os.fspath(spec)
    path = Path(text)
    is_file_name = path.suffix.lower() in (".json", ".toml")
    if is_file_name or (len(text) < 4096 and _is_file(path)):
        if not _is_file(path):
            raise FileNotFoundError(f"policy spec file not found: {path}")
        where = f"policy spec file {path}"
        try:
            if path.suffix.lower() == ".toml":
                with path.open("rb") as fh:
                    data: Any = tomllib.load(fh)
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:  # TOML/JSON errors, > 4300 digits
            raise SpecError(f"{where}: cannot be parsed: {exc}") from None
        if isinstance(data, Mapping) and "policy" in data and "type" not in data:
            data = data["policy"]  # a log's study record, or {"policy": {...}}
        return _resolve(data, where)
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:  # malformed, or an int of more than 4300 digits
            raise SpecError(f"policy spec {text[:80]!r}: invalid JSON: {exc}") from None
        return _resolve(data, "policy spec")
    return _resolve(parse_spec(text), f"policy spec {text!r}")


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a text no file can be named (too long a name)."""
    try:
        return path.is_file()
    except OSError:  # ENAMETOOLONG: a SPEC string, not a file
        return False


# ---------------------------------------------------------------------- printing
def _format_value(value: Any) -> str:
    if isinstance(value, str) and value and re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
        parsed = _scalar(value)
        if parsed == value:
            return value
    return json.dumps(value, separators=(",", ":"))


def to_spec(policy: Policy) -> str:
    """A short SPEC string for ``policy`` (parameters equal to their defaults are left out).

    ``load_policy(to_spec(p))`` rebuilds an equal policy when the policy's class is
    exported from ``hpprune``; otherwise the dotted class name is used.

    Args:
        policy: Any policy.

    Returns:
        e.g. ``"median:n_startup_trials=3"``.
    """
    cls = type(policy)
    names = policy_names()
    short = min(
        (n for n, c in names.items() if c is cls and n not in ALIASES),
        key=lambda n: (len(n), n),
        default=f"{cls.__module__}.{cls.__qualname__}",
    )
    params = policy.params()
    members = params.pop("policies", None)
    sig = inspect.signature(cls.__init__)
    parts = []
    for key, value in params.items():
        p = sig.parameters.get(key)
        if p is not None and p.default is not inspect.Parameter.empty and p.default == value:
            continue
        parts.append(f"{key}={_format_value(value)}")
    head = short
    member_policies = getattr(policy, "policies", None)
    if members is not None and isinstance(member_policies, tuple):
        head += "(" + ",".join(to_spec(m) for m in member_policies) + ")"
    return head + (":" + ",".join(parts) if parts else "")
