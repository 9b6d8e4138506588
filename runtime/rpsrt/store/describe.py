"""How store error messages name a decoded JSON value: its kind (`an array`, `the string 'x'`) and a short repr."""

from __future__ import annotations

from typing import Any


def _kind(v: Any) -> str:
    """The JSON kind of a decoded value, as an error message names it."""
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "a boolean"
    if t is int or t is float:
        return f"the number {_short(v)}"
    if t is str:
        return f"the string {_short(v)}"
    if t is list:
        return "an array"
    if t is dict:
        return "an object"
    return t.__name__


def _short(v: Any) -> str:
    """`repr(v)` cut to 60 characters (ints of thousands of digits included)."""
    if type(v) is int and not -10**40 < v < 10**40:
        digits = len(str(abs(v)))
        return f"{'-' if v < 0 else ''}{str(abs(v))[:12]}... ({digits} digits)"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
