"""Input validation shared by the engine, the loop and the integrations.

Every function raises ``TypeError`` (wrong type) or ``ValueError`` (bad value)
with a message that names the field and the value received.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from hpprune.types import MAX_STEP as MAX_STEP  # (defined there, for the log's schema)
from hpprune.types import jsonable

MAX_ID_LENGTH = 512
"""Longest accepted trial id, in characters."""

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted in params and evidence."""

MAX_TEXT_LENGTH = 1_000_000
"""Longest accepted reason, rule or study name, in characters."""

# Line breaks, C0/C1 controls, DEL and the bidi controls: an id shown in a terminal or a
# table must not move the cursor, recolour the screen or reorder what is printed.
_ID_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def trial_id(value: object, field: str = "trial_id") -> str:
    """Normalise a trial id: a non-empty string (ints are turned into strings).

    Raises:
        TypeError: For bools, floats and other non-str/int types.
        ValueError: For empty, whitespace-only or over-long ids, and ids with
            line breaks, control characters (C0, DEL, C1), bidi controls or a
            lone surrogate.
    """
    if isinstance(value, bool) or not isinstance(value, (str, Integral)):
        raise TypeError(f"expected a str (or int) for `{field}`, got {type(value).__name__}")
    text = value if isinstance(value, str) else str(int(value))
    if not text.strip():
        raise ValueError(f"`{field}` must be a non-empty string, got {value!r}")
    if len(text) > MAX_ID_LENGTH:
        raise ValueError(
            f"`{field}` is {len(text)} characters long; at most {MAX_ID_LENGTH} are accepted"
        )
    if _ID_CONTROLS.search(text):
        raise ValueError(
            f"`{field}` must not contain line breaks (\\n, \\r, \\u2028, ...) or control "
            f"characters (NUL, ESC, bidi overrides, ...), got {text!r}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"`{field}` must be valid Unicode text (no lone surrogates), got {text!r}"
        ) from None
    return text


def _unicode_error(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8 (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate {text[exc.start]!r} at position {exc.start}"
    return None


def text(value: object, field: str, *, optional: bool = False) -> str | None:
    """Check a free-text field (a reason, a rule, a study name).

    Args:
        value: The text.
        field: Its name, for messages.
        optional: Accept None (returned as is).

    Returns:
        ``value`` unchanged.

    Raises:
        TypeError: If it is not a str (or None when ``optional``).
        ValueError: If it holds a lone surrogate (it could not be written
            as UTF-8) or is longer than :data:`MAX_TEXT_LENGTH`.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str):
        what = "a str or None" if optional else "a str"
        raise TypeError(f"expected {what} for `{field}`, got {type(value).__name__}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(
            f"`{field}` is {len(value)} characters long; at most {MAX_TEXT_LENGTH} are accepted"
        )
    why = _unicode_error(value)
    if why is not None:
        raise ValueError(f"`{field}` must be valid Unicode text, got {why}")
    return value


def json_value(value: Any, field: str = "") -> None:
    """Check a decoded JSON value (params, evidence, a whole record) that a log holds.

    Walks ``value`` without recursion, so a crafted value cannot exhaust the
    stack. Elements are named as the decoder names fields: ``params.lr[0]``,
    ``decision.reason`` (``field=""`` for a whole record).

    Args:
        value: A value made of dicts, lists, str, int, float, bool and None
            (as :func:`json.loads` returns, or :func:`hpprune.types.jsonable`).
        field: Its name, for messages.

    Raises:
        ValueError: Naming the element, for nesting deeper than
            :data:`MAX_DEPTH`, a str (or key) holding a lone surrogate, or an
            int too large for a float.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        x, where, depth = stack.pop()
        if isinstance(x, str):
            why = _unicode_error(x)
            if why is not None:
                raise ValueError(f"`{where}` must be valid Unicode text, got {why}")
        elif isinstance(x, bool) or x is None or isinstance(x, float):
            continue
        elif isinstance(x, int):
            try:
                float(x)
            except OverflowError:
                raise ValueError(f"`{where}` is an int too large for a float") from None
        elif isinstance(x, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                shown = where if len(where) <= 60 else where[:57] + "..."
                raise ValueError(f"`{shown}` is nested more than {MAX_DEPTH} levels deep")
            if isinstance(x, dict):
                for k, v in x.items():
                    key = str(k)
                    why = _unicode_error(key)
                    if why is not None:
                        raise ValueError(
                            f"a key of `{where or 'the record'}` must be valid Unicode text, "
                            f"got {why}"
                        )
                    stack.append((v, _member(where, key), depth + 1))
            else:
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(x))


def _member(where: str, key: str) -> str:
    """``where.key`` (``where[key!r]`` when the key is not a plain name)."""
    if not key.isidentifier():
        return f"{where}[{key!r}]"
    return f"{where}.{key}" if where else key


def step(value: object, field: str = "step") -> int:
    """Check a step: an int (or numpy integer) in ``[0, 2**53)``; bools are rejected.

    Raises:
        TypeError: If it is not an integer (``3.0`` is rejected too).
        ValueError: If it is negative or too large.
    """
    if type(value) is int and 0 <= value <= MAX_STEP:  # fast path
        return value
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"expected an int >= 0 for `{field}`, got {value!r} ({type(value).__name__})"
        )
    n = int(value)
    if n < 0:
        raise ValueError(f"expected an int >= 0 for `{field}`, got {n}")
    if n > MAX_STEP:
        raise ValueError(f"`{field}` = {n} is larger than the maximum {MAX_STEP}")
    return n


def metric(value: object, field: str = "value") -> float | None:
    """Normalise a metric value to a float, or None.

    Accepts Python and numpy numbers and 0-d arrays. NaN and ±inf are returned
    as floats (the engine applies the non-finite policy to them); None stays
    None.

    Raises:
        TypeError: For bools, strings, sequences and other types.
    """
    if value is None:
        return None
    if type(value) is float:  # fast path
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number for `{field}`, got a bool ({value!r})")
    shape = getattr(value, "shape", None)
    if shape is not None and shape == () and hasattr(value, "item"):
        value = value.item()
        if isinstance(value, bool):
            raise TypeError(f"expected a number for `{field}`, got a bool ({value!r})")
    if not isinstance(value, Real):
        raise TypeError(f"expected a number (or None) for `{field}`, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"`{field}` is too large for a float (got an int of {value.bit_length()} bits)"  # type: ignore[attr-defined]
        ) from None


def elapsed(value: object, field: str = "elapsed_s") -> float | None:
    """Check elapsed compute seconds: None or a finite float >= 0.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is negative or non-finite.
    """
    x = metric(value, field)
    if x is None:
        return None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"expected a finite number >= 0 for `{field}`, got {x!r}")
    return x


def resources(value: object, field: str = "resources") -> dict[str, float] | None:
    """Check resource readings: None or a mapping of str to finite floats >= 0.

    Raises:
        TypeError: If it is not a mapping of str to numbers.
        ValueError: If a reading is negative or non-finite, or a key holds a
            lone surrogate.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping for `{field}`, got {type(value).__name__}")
    out: dict[str, float] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise TypeError(f"keys of `{field}` must be str, got {type(k).__name__}")
        why = _unicode_error(k)
        if why is not None:
            raise ValueError(f"a key of `{field}` must be valid Unicode text, got {why}")
        x = elapsed(v, f"{field}[{k!r}]")
        if x is not None:
            out[k] = x
    return out


def choice(value: object, options: tuple[str, ...], field: str) -> str:
    """Check that ``value`` is one of ``options``.

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is not one of the options.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected one of {options} for `{field}`, got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"expected one of {options} for `{field}`, got {value!r}")
    return value


def int_param(value: object, field: str, minimum: int = 0) -> int:
    """Check an integer constructor parameter (bools rejected).

    Raises:
        TypeError: If it is not an int.
        ValueError: If it is below ``minimum``, or too large for a float
            (over 1023 bits).
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"expected an int >= {minimum} for `{field}`, got {value!r}")
    n = int(value)
    if n < minimum:
        raise ValueError(f"expected an int >= {minimum} for `{field}`, got {n}")
    if n.bit_length() > 1023:  # the log holds parameters as JSON numbers a float can read
        raise ValueError(f"`{field}` is too large (an int of {n.bit_length()} bits)")
    return n


def float_param(
    value: object,
    field: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check a finite float constructor parameter within ``[low, high]``.

    Raises:
        TypeError: If it is not a real number (bools rejected).
        ValueError: If it is non-finite or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"expected a number for `{field}`, got {value!r}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"`{field}` is too large for a float, got an int of that size") from None
    ok_low = x >= low if low_inclusive else x > low
    ok_high = x <= high if high_inclusive else x < high
    if not math.isfinite(x) or not ok_low or not ok_high:
        lo = "[" if low_inclusive else "("
        hi = "]" if high_inclusive else ")"
        raise ValueError(f"expected a number in {lo}{low}, {high}{hi} for `{field}`, got {value!r}")
    return x


def any_jsonable(value: Any, field: str) -> Any:
    """Check that ``value`` can be written to the audit log (and read back).

    Args:
        value: Params or evidence: mappings, sequences, numbers (numpy ones
            too), str, bool and None.
        field: Its name, for messages.

    Returns:
        Its JSON form (see :func:`hpprune.types.jsonable`; NaN and ±inf
        become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``).

    Raises:
        TypeError: Naming ``field`` when a part has no JSON form.
        ValueError: Naming the part, when it refers to itself, is nested
            deeper than :data:`MAX_DEPTH`, holds a lone surrogate, or holds an
            int too large for a float.
    """
    try:
        out = jsonable(value)
    except TypeError as exc:
        raise TypeError(f"`{field}` cannot be written to the audit log: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"`{field}` cannot be written to the audit log: it refers to itself or is "
            "nested too deeply"
        ) from None
    try:
        json_value(out, field)
    except ValueError as exc:
        raise ValueError(f"cannot write to the audit log: {exc}") from None
    return out
