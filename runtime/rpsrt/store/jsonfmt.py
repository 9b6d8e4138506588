"""jsoncpp-exact JSON text: string quoting, number formatting and the two writer styles upstream uses.

Upstream writes with jsoncpp's `BuiltStyledStreamWriter`:
* object blocks of space files: indentation `"\\t"`, commentStyle All (every non-empty array on several lines),
  and every newline followed by two spaces (STORE_FORMAT.md §6), which `STYLE_OBJECT` encodes;
* manifest and space prologue: indentation `" "`, commentStyle None (`STYLE_MANIFEST`), where an array of
  scalars stays on one line when it is short enough.

Also here: reading "commented JSON" the way jsoncpp does (comments stripped outside strings, the first JSON
value taken, trailing text ignored), with errors carrying a line number.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

import orjson

from rpsrt.errors import StoreError

#: A surrogate code point: never part of valid Unicode text on its own.
_SURROGATE = re.compile("[\ud800-\udfff]")

#: jsoncpp's right margin for single-line arrays.
_RIGHT_MARGIN = 74


def quote(s: str) -> str:
    """A JSON string literal exactly as jsoncpp writes it: non-ASCII as lowercase `\\uXXXX`, DEL raw.

    A string holding a lone surrogate (a Python str can, UTF-8 cannot) is refused with a `StoreError`: its
    `\\udXXX` escape would not load in upstream, and two lone halves would come back as one other character.
    """
    if not s.isascii():
        m = _SURROGATE.search(s)
        if m is not None:
            raise StoreError(f"cannot dump string {s[:40]!r}: it holds the lone surrogate "
                             f"U+{ord(m.group()):04X}, which UTF-8 cannot encode")
    q: str = encode_basestring_ascii(s)
    if "\x7f" in s:
        q = q.replace("\\u007f", "\x7f")
    return q


def fmt_float(x: float) -> str:
    """A double as jsoncpp writes it: `%.17g`, `.0` added to an integral text; non-finite as jsoncpp does."""
    if x != x:
        return "null"
    if math.isinf(x):
        return "1e+9999" if x > 0 else "-1e+9999"
    s = f"{x:.17g}"
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def scalar_text(v: Any) -> str | None:
    """The text of a JSON scalar or empty container, or None for a non-empty container."""
    if v is None:
        return "null"
    t = type(v)
    if t is str:
        return quote(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return fmt_float(v)
    if t is list or t is tuple:
        return None if v else "[]"
    if t is dict:
        return None if v else "{}"
    raise TypeError(f"cannot write a {t.__name__} as JSON")


@dataclass(frozen=True, slots=True)
class Style:
    """A jsoncpp writer configuration: `newline` (what ends a line), `unit` (one indentation level), and
    `all_multiline` (commentStyle All: every non-empty array spans several lines)."""

    newline: str
    unit: str
    all_multiline: bool

    def prefix(self, depth: int) -> str:
        """The text that starts a line at `depth` indentation levels."""
        return self.newline + self.unit * depth


STYLE_OBJECT = Style("\n  ", "\t", True)
STYLE_MANIFEST = Style("\n", " ", False)


def write_root(v: Any, style: Style) -> str:
    """`v` written as a root value (its opening bracket on the current line)."""
    return write_at(v, 0, style)


def write_at(v: Any, depth: int, style: Style) -> str:
    """`v` written where the current line is already indented to `depth` (a root value, or an array element)."""
    s = scalar_text(v)
    if s is not None:
        return s
    out: list[str] = []
    _container(v, depth, style, out)
    return "".join(out)


def write_member(v: Any, depth: int, style: Style) -> str:
    """`v` written as an object member's value whose key sits at `depth` (a container starts a new line)."""
    s = scalar_text(v)
    if s is not None:
        return s
    out: list[str] = []
    if type(v) is not dict and not style.all_multiline:
        one = _single_line(v)
        if one is not None:
            return one
    out.append(style.prefix(depth))
    _body(v, depth, style, out)
    return "".join(out)


def _container(v: Any, depth: int, style: Style, out: list[str]) -> None:
    if type(v) is not dict and not style.all_multiline:
        one = _single_line(v)
        if one is not None:
            out.append(one)
            return
    _body(v, depth, style, out)


def _body(v: Any, depth: int, style: Style, out: list[str]) -> None:
    inner = style.prefix(depth + 1)
    if type(v) is dict:
        out.append("{")
        first = True
        for k in sorted(v):
            if not first:
                out.append(",")
            first = False
            out.append(inner)
            out.append(quote(k))
            out.append(" : ")
            val = v[k]
            s = scalar_text(val)
            if s is not None:
                out.append(s)
            elif type(val) is not dict and not style.all_multiline and (one := _single_line(val)) is not None:
                out.append(one)
            else:
                out.append(inner)
                _body(val, depth + 1, style, out)
        out.append(style.prefix(depth))
        out.append("}")
    else:
        out.append("[")
        first = True
        for e in v:
            if not first:
                out.append(",")
            first = False
            out.append(inner)
            s = scalar_text(e)
            if s is not None:
                out.append(s)
            else:
                _container(e, depth + 1, style, out)
        out.append(style.prefix(depth))
        out.append("]")


def _single_line(v: Any) -> str | None:
    """jsoncpp's `isMultilineArray` test: the one-line text `[ a, b ]`, or None when it must span lines."""
    n = len(v)
    if n * 3 >= _RIGHT_MARGIN:
        return None
    texts = []
    for e in v:
        s = scalar_text(e)
        if s is None:
            return None
        texts.append(s)
    if 4 + 2 * (n - 1) + sum(len(t) for t in texts) >= _RIGHT_MARGIN:
        return None
    return "[ " + ", ".join(texts) + " ]"


# -- reading commented JSON -----------------------------------------------------------------------------------

_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/|^#[^\n]*', re.S | re.M)


class JsonTextError(ValueError):
    """Bad commented JSON: `line` and `col` are 1-based, relative to the text given."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def _blank(m: re.Match[str]) -> str:
    s = m.group(0)
    if s[0] == '"':
        return s
    return re.sub(r"[^\n]", " ", s)


def strip_comments(text: str, hash_lines: bool = False) -> str:
    """`text` with `//` and `/* */` comments (and, when asked, lines starting with `#`) blanked out outside
    strings; line and column positions are kept."""
    if not hash_lines:
        return _TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in '"#' else _blank(m), text)
    return _TOKENS.sub(_blank, text)


_DECODER = json.JSONDecoder()


#: Deepest nesting handed to Python's json decoder, whose C recursion could overflow the C stack (a crash, not
#: an exception) long before Python's raised recursion limit; deeper text is refused before decoding.
MAX_NESTING = 5000
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(clean: str, start: int, limit: int) -> int | None:
    """Offset where `clean` (comments blanked) first nests deeper than `limit`, or None (strings skipped)."""
    if clean.count("[", start) + clean.count("{", start) <= limit:
        return None
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(lambda s: " " * len(s.group()), clean), start):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        else:
            depth -= 1
            if depth <= 0:
                return None  # the first value ended: trailing text is not read
    return None


def first_value(text: str, hash_lines: bool = False) -> tuple[Any, int]:
    """The first JSON value of commented `text` and the offset just after it (trailing text is ignored)."""
    clean = strip_comments(text, hash_lines)
    i = 0
    n = len(clean)
    while i < n and clean[i] in " \t\r\n":
        i += 1
    if i == n:
        raise JsonTextError("no JSON value", text.count("\n") + 1, 1)
    deep = _too_deep(clean, i, MAX_NESTING)
    if deep is not None:
        raise JsonTextError(f"bad JSON: nested too deeply (more than {MAX_NESTING} levels)",
                            clean.count("\n", 0, deep) + 1, deep - clean.rfind("\n", 0, deep))
    try:
        value, end = _DECODER.raw_decode(clean, i)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"bad JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        m = _DEEP.search(clean, i)
        pos = m.start() if m is not None else i
        raise JsonTextError("bad JSON: nested too deeply", clean.count("\n", 0, pos) + 1,
                            pos - clean.rfind("\n", 0, pos)) from None
    except ValueError:  # Python's int-from-text limit (4,300 digits): far beyond what a store may hold
        m = _LONG_NUMBER.search(clean, i)
        pos = m.start() if m is not None else i
        line = clean.count("\n", 0, pos) + 1
        raise JsonTextError("bad JSON: a number of thousands of digits", line,
                            pos - clean.rfind("\n", 0, pos)) from None
    return value, end


_LONG_NUMBER = re.compile(r"[0-9]{4000,}")
#: Where a deep nest starts: 500 brackets in a row (blanks between them allowed).
_DEEP = re.compile(r"(?:[\[{]\s*){500}")


_VALUE_LINE = re.compile(r"^[ \t]*[^ \t\r\n/#]", re.M)


def fast_first_value(text: str) -> Any:
    """`first_value(text)[0]`, trying orjson first on the text from the first non-comment line to the last `}`."""
    m = _VALUE_LINE.search(text)
    end = text.rfind("}")
    if m is not None and end > m.start():
        try:
            return orjson.loads(text[m.start():end + 1])
        except orjson.JSONDecodeError:
            pass
    return first_value(text)[0]
