"""Pretty-printer tests: canonical layout, minimal parentheses, exact floats, and parse(print(ast)) == ast."""

from __future__ import annotations

import math

import pytest
from rpsc.frontend import ast
from rpsc.frontend.parser import parse
from rpsc.frontend.printer import print_expr, print_function, print_module, print_value, quote

from .test_parser import GEOMETRY


def test_canonical_module() -> None:
    """The LANGUAGE.md example prints in the canonical layout, which parses back to the same AST."""
    m = parse(GEOMETRY, "geometry.rps")
    text = print_module(m)
    assert text == '''module geometry version "1.2.0";
requires core >= "1.0";
space geometry;

class shape;
class circle : shape;
class square @_4pSwobFHGf301Qgwzh : object;
attribute radius;
selector area;
symbol tau = 6.283185307179586;

object unit_circle : circle {
    radius = 1.0;
    comps = [1, "two", unit_circle, {shape, circle}, [shape, circle], null];
}

fn fib(n: int) -> int {
    if n < 2 {
        return n;
    }
    return fib(n - 1) + fib(n - 2);
}

extension_point on_tick(t: int) -> int mode all;
extend on_tick priority 10 with fib;
method circle.area = fib;
'''
    assert parse(text, "again.rps") == m
    assert print_module(parse(text, "again.rps")) == text


def test_print_function_statements() -> None:
    """print_function lays out every statement kind, with `} else if ... {` chains."""
    src = ("module m; fn f(n: int, x: float) { var a: int = 1; var b = true; a = 2; "
           "if b { } else if !b { a = 3; } else { return; } while a > 0 { a = a - 1; continue; } "
           "for i in 0 .. n { break; } { g(a); } }")
    fn = parse(src, "m.rps").decls[0]
    assert isinstance(fn, ast.FnDecl)
    assert print_function(fn) == """fn f(n: int, x: float) {
    var a: int = 1;
    var b = true;
    a = 2;
    if b {} else if !b {
        a = 3;
    } else {
        return;
    }
    while a > 0 {
        a = a - 1;
        continue;
    }
    for i in 0 .. n {
        break;
    }
    {
        g(a);
    }
}
"""


@pytest.mark.parametrize("src", [
    "1 + 2 * 3", "(1 + 2) * 3", "1 - (2 - 3)", "1 - 2 - 3", "a || b && c", "(a || b) && c",
    "1 << (2 << 3)", "-(5)", "-5", "- -5", "-(-5)", "-x", "-(x + 1)", "!(a == b)", "~-1", "a < b == (c < d)",
    "f(1, g(2), -(2.5))", "x * -1", "1 - -1", "-9223372036854775808", "1e+16", "5e-324", "-0.0",
])
def test_expression_roundtrip(src: str) -> None:
    """Printed expressions parse back to the same tree and print identically."""
    e = parse(f"module m; fn f() {{ g({src}); }}", "m.rps").decls[0].body.stmts[0].expr.args[0]  # type: ignore[union-attr]
    text = print_expr(e)
    again = parse(f"module m; fn f() {{ g({text}); }}", "m.rps").decls[0].body.stmts[0].expr.args[0]  # type: ignore[union-attr]
    assert again == e
    assert print_expr(again) == text


def test_minimal_parentheses() -> None:
    """Only the parentheses that precedence and left associativity need are printed."""
    one, two, three = ast.IntLit(1), ast.IntLit(2), ast.IntLit(3)
    assert print_expr(ast.Binary("+", one, ast.Binary("*", two, three))) == "1 + 2 * 3"
    assert print_expr(ast.Binary("*", ast.Binary("+", one, two), three)) == "(1 + 2) * 3"
    assert print_expr(ast.Binary("-", one, ast.Binary("-", two, three))) == "1 - (2 - 3)"
    assert print_expr(ast.Binary("-", ast.Binary("-", one, two), three)) == "1 - 2 - 3"
    assert print_expr(ast.Unary("-", ast.IntLit(5))) == "-(5)"
    assert print_expr(ast.IntLit(-5)) == "-5"
    assert print_expr(ast.Unary("-", ast.Unary("-", ast.Name("x")))) == "- -x"


def test_floats_exact_and_finite() -> None:
    """Floats print with repr (exact round trip); a non-finite float literal cannot be printed."""
    for v in (0.1, 1 / 3, 1e300, 5e-324, 2.0**53 + 2, -0.0):
        e = parse(f"module m; symbol s = {print_value(ast.FloatValue(v))};", "m.rps").decls[0].value  # type: ignore[union-attr]
        assert isinstance(e, ast.FloatValue) and e.value == v and math.copysign(1, e.value) == math.copysign(1, v)
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError):
            print_expr(ast.FloatLit(bad))


def test_string_quoting() -> None:
    """Strings with quotes, backslashes and control characters print escaped and parse back."""
    s = 'a"b\\c\nd\te\x01\x7f\u00e9\U0001F600'
    text = quote(s)
    assert "\n" not in text
    m = parse(f"module m; symbol s = {text};", "m.rps")
    assert m.decls[0] == ast.SymbolDecl("s", ast.StringValue(s))
