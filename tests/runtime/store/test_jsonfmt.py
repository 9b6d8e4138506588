"""jsoncpp-exact JSON text: string escapes, doubles, the two writer styles, and commented-JSON reading."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsrt.store.jsonfmt import (
    STYLE_MANIFEST,
    STYLE_OBJECT,
    JsonTextError,
    first_value,
    fmt_float,
    quote,
    write_member,
    write_root,
)


@pytest.mark.parametrize("text,expected", [
    ("plain", '"plain"'),
    ("°", '"\\u00b0"'),
    ("😀", '"\\ud83d\\ude00"'),
    ("\x7f", '"\x7f"'),
    ("\x00\x1f", '"\\u0000\\u001f"'),
    ('"\\/', '"\\"\\\\/"'),
    ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
    ("\u00e9\u2028", '"\\u00e9\\u2028"'),
])
def test_quote_escapes_like_jsoncpp(text: str, expected: str) -> None:
    """Non-ASCII as lowercase \\uXXXX (pairs above U+FFFF), short escapes, other controls as \\u00XX, DEL raw."""
    assert quote(text) == expected


@settings(max_examples=300)
@given(st.text())
def test_quote_is_ascii_json(text: str) -> None:
    """Every quoted string is ASCII (bar DEL, allowed raw) and decodes back to itself."""
    q = quote(text)
    assert all(ord(c) < 128 for c in q)
    assert json.loads(q) == text and orjson.loads(q) == text


@pytest.mark.parametrize("x,expected", [
    (3.0, "3.0"), (-0.0, "-0.0"), (1e300, "1.0000000000000001e+300"), (0.1, "0.10000000000000001"),
    (1.5, "1.5"), (1e16, "10000000000000000.0"), (1e17, "1e+17"), (float("inf"), "1e+9999"),
    (float("-inf"), "-1e+9999"), (float("nan"), "null"), (5e-324, "4.9406564584124654e-324"),
])
def test_doubles_like_jsoncpp(x: float, expected: str) -> None:
    """`%.17g` with `.0` added to integral texts; non-finite as jsoncpp without special floats."""
    assert fmt_float(x) == expected


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_doubles_round_trip(x: float) -> None:
    """A written double reads back as the same float (an integral one stays a float in rpsc)."""
    y = orjson.loads(fmt_float(x))
    assert type(y) is float and y == x and str(y)[0] == str(x)[0]


def test_manifest_style_short_arrays_stay_on_one_line() -> None:
    """jsoncpp's rule: scalars on one line when 4+2(n-1)+sum(len) < 74, else one per line."""
    short = ["_8J6vNYtP5E800eCr5q"] * 3
    long = ["_8J6vNYtP5E800eCr5q"] * 4
    text = write_root({"a": short, "b": long, "c": [], "d": {}, "e": [[1], []]}, STYLE_MANIFEST)
    assert '"a" : [ "_8J6vNYtP5E800eCr5q", "_8J6vNYtP5E800eCr5q", "_8J6vNYtP5E800eCr5q" ]' in text
    assert '"b" : \n [\n  "_8J6vNYtP5E800eCr5q",' in text
    assert '"c" : [],\n "d" : {},' in text
    assert '"e" : \n [\n  [ 1 ],\n  []\n ]' in text
    assert json.loads(text) == {"a": short, "b": long, "c": [], "d": {}, "e": [[1], []]}


def test_object_style_nesting() -> None:
    """Object blocks: every array on several lines, nested values start a new line, two spaces after newlines."""
    text = write_member({"env": [None, "x"], "fn": "_5Q5E0Lw9v4f046uAKZ"}, 2, STYLE_OBJECT)
    assert text == ('\n  \t\t{\n  \t\t\t"env" : \n  \t\t\t[\n  \t\t\t\tnull,\n  \t\t\t\t"x"\n  \t\t\t],'
                    '\n  \t\t\t"fn" : "_5Q5E0Lw9v4f046uAKZ"\n  \t\t}')
    assert write_root([1], STYLE_OBJECT) == "[\n  \t1\n  ]"


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False,
              allow_infinity=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=200)
@given(json_values)
def test_styles_write_valid_json(value: object) -> None:
    """Both styles write JSON that reads back equal, keys byte-sorted."""
    for style in (STYLE_MANIFEST, STYLE_OBJECT):
        assert orjson.loads(write_root(value, style)) == value


def test_first_value_reads_commented_json() -> None:
    """Comments outside strings are ignored, a `//` inside a string is kept, trailing text is ignored."""
    text = '//!! header\n/* block\ncomment */ {"a": "x//y", // tail\n "b": [1, 2]}\n\ntrailing text {'
    value, _end = first_value(text)
    assert value == {"a": "x//y", "b": [1, 2]}


def test_first_value_reports_lines() -> None:
    """A syntax error names its line and column in the text."""
    with pytest.raises(JsonTextError) as info:
        first_value('// c\n{\n "a": 1,\n "b": ]\n}')
    assert info.value.line == 4
