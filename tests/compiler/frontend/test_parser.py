"""Parser tests at the stage boundary: `parse(text, path) -> ast.Module` or a CompileError with diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpsc import CompileError
from rpsc.frontend import ast
from rpsc.frontend.diagnostics import Diagnostic
from rpsc.frontend.parser import INT_MIN, make_lark, parse, parse_file

GEOMETRY = """\
// line comment; /* block comments */ too
module geometry version "1.2.0";          // one module = one plugin; the version is semver
requires core >= "1.0";
space geometry;

class shape;                               /* superclass defaults to `object` */
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
  if n < 2 { return n; }
  return fib(n - 1) + fib(n - 2);
}

extension_point on_tick(t: int) -> int mode all;
extend on_tick priority 10 with fib;
method circle.area = fib;
"""


def body_expr(src: str) -> ast.Expr:
    """The expression of `return <src>;` in a one-function module."""
    m = parse(f"module t;\nfn f() -> int {{ return {src}; }}\n", "t.rps")
    fn = m.decls[0]
    assert isinstance(fn, ast.FnDecl)
    ret = fn.body.stmts[0]
    assert isinstance(ret, ast.ReturnStmt) and ret.value is not None
    return ret.value


def errors(src: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        parse(src, "e.rps")
    diags = info.value.diagnostics
    assert diags and all(isinstance(d, Diagnostic) for d in diags)
    return diags


def test_language_card_example() -> None:
    """The example module of LANGUAGE.md parses into the expected declarations."""
    m = parse(GEOMETRY, "geometry.rps")
    assert (m.name, m.version, m.space) == ("geometry", "1.2.0", "geometry")
    assert m.requires == (ast.Requires("core", ">=", "1.0"),)
    kinds = [type(d).__name__ for d in m.decls]
    assert kinds == ["ClassDecl", "ClassDecl", "ClassDecl", "AttributeDecl", "SelectorDecl", "SymbolDecl",
                     "ObjectDecl", "FnDecl", "ExtensionPointDecl", "ExtendDecl", "MethodDecl"]
    square = m.decls[2]
    assert square == ast.ClassDecl("square", "object", "_4pSwobFHGf301Qgwzh")
    obj = m.decls[6]
    assert isinstance(obj, ast.ObjectDecl)
    assert obj.fields == (ast.FieldInit("radius", ast.FloatValue(1.0)),)
    assert obj.comps == (ast.IntValue(1), ast.StringValue("two"), ast.NameValue("unit_circle"),
                         ast.SetValue((ast.NameValue("shape"), ast.NameValue("circle"))),
                         ast.TupleValue((ast.NameValue("shape"), ast.NameValue("circle"))), ast.NullValue())
    assert m.decls[8] == ast.ExtensionPointDecl("on_tick", (ast.Param("t", "int"),), "int", "all")
    assert m.decls[9] == ast.ExtendDecl("on_tick", 10, "fib")
    assert m.decls[10] == ast.MethodDecl("circle", "area", "fib")


def test_defaults() -> None:
    """No version, no space, no superclass, no priority, no result type: the documented defaults."""
    m = parse("module m; class c; extend p with f; fn g() { }", "m.rps")
    assert m.version is None and m.space is None and m.requires == ()
    assert m.decls[0] == ast.ClassDecl("c", None)
    assert m.decls[1] == ast.ExtendDecl("p", 0, "f")
    assert m.decls[2] == ast.FnDecl("g", (), "void", ast.Block(()))


def test_spans() -> None:
    """Nodes carry 1-based spans with an exclusive end, taken from the source."""
    m = parse("module m;\nfn f(x: int) -> int {\n  return x + 12;\n}\n", "s.rps")
    fn = m.decls[0]
    assert isinstance(fn, ast.FnDecl)
    assert fn.span == ast.Span("s.rps", 2, 4, 2, 5)
    ret = fn.body.stmts[0]
    assert isinstance(ret, ast.ReturnStmt) and isinstance(ret.value, ast.Binary)
    assert ret.span == ast.Span("s.rps", 3, 3, 3, 16)
    assert ret.value.span == ast.Span("s.rps", 3, 10, 3, 16)
    assert ret.value.right.span == ast.Span("s.rps", 3, 14, 3, 16)
    assert fn.body.span == ast.Span("s.rps", 2, 21, 4, 2)


@pytest.mark.parametrize("src, expected", [
    ("1 + 2 * 3", ast.Binary("+", ast.IntLit(1), ast.Binary("*", ast.IntLit(2), ast.IntLit(3)))),
    ("1 - 2 - 3", ast.Binary("-", ast.Binary("-", ast.IntLit(1), ast.IntLit(2)), ast.IntLit(3))),
    ("1 << 2 + 3", ast.Binary("<<", ast.IntLit(1), ast.Binary("+", ast.IntLit(2), ast.IntLit(3)))),
    ("1 & 2 == 3", ast.Binary("&", ast.IntLit(1), ast.Binary("==", ast.IntLit(2), ast.IntLit(3)))),
    ("1 | 2 ^ 3 & 4", ast.Binary("|", ast.IntLit(1),
                                 ast.Binary("^", ast.IntLit(2), ast.Binary("&", ast.IntLit(3), ast.IntLit(4))))),
    ("a || b && c", ast.Binary("||", ast.Name("a"), ast.Binary("&&", ast.Name("b"), ast.Name("c")))),
    ("1 < 2 == true", ast.Binary("==", ast.Binary("<", ast.IntLit(1), ast.IntLit(2)), ast.BoolLit(True))),
    ("(1 + 2) * 3", ast.Binary("*", ast.Binary("+", ast.IntLit(1), ast.IntLit(2)), ast.IntLit(3))),
    ("-x * 2", ast.Binary("*", ast.Unary("-", ast.Name("x")), ast.IntLit(2))),
    ("!~-f(1, 2.5)", ast.Unary("!", ast.Unary("~", ast.Unary("-", ast.Call("f", (ast.IntLit(1),
                                                                                    ast.FloatLit(2.5))))))),
])
def test_precedence(src: str, expected: ast.Expr) -> None:
    """Binary operators follow C precedence and associate to the left."""
    assert body_expr(src) == expected


def test_negative_literal_folding() -> None:
    """`-` directly before a literal folds into it (INT_MIN is writable); `-(5)` and `- -5` stay unary."""
    assert body_expr("-9223372036854775808") == ast.IntLit(INT_MIN)
    assert body_expr("-5") == ast.IntLit(-5)
    assert body_expr("-2.5") == ast.FloatLit(-2.5)
    assert body_expr("-(5)") == ast.Unary("-", ast.IntLit(5))
    assert body_expr("- -5") == ast.Unary("-", ast.IntLit(-5))
    assert body_expr("3 - -5") == ast.Binary("-", ast.IntLit(3), ast.IntLit(-5))
    assert body_expr("3-5") == ast.Binary("-", ast.IntLit(3), ast.IntLit(5))


@pytest.mark.parametrize("src, value", [
    ("0x7fffffffffffffff", 2**63 - 1), ("0XfF", 255), ("0b101", 5), ("0", 0), ("-0x10", -16),
    ("9223372036854775807", 2**63 - 1),
])
def test_int_literals(src: str, value: int) -> None:
    """Decimal, hexadecimal and binary int literals within the i64 range."""
    assert body_expr(src) == ast.IntLit(value)


@pytest.mark.parametrize("src, value", [
    ("1.5", 1.5), ("1e3", 1000.0), ("2.5E-3", 0.0025), ("1e+16", 1e16), ("0.0", 0.0), ("5e-324", 5e-324),
])
def test_float_literals(src: str, value: float) -> None:
    """Float literals need digits on both sides of `.` or an exponent."""
    assert body_expr(src) == ast.FloatLit(value)


def test_string_escapes() -> None:
    """String escapes: \\n \\t \\r \\0 \\\\ \\" \\' \\xHH \\u{H...}, and raw Unicode."""
    m = parse('module m; symbol s = "a\\n\\t\\r\\0\\\\\\"\\\'\\x41\\u{1F600}é";', "m.rps")
    sym = m.decls[0]
    assert isinstance(sym, ast.SymbolDecl)
    assert sym.value == ast.StringValue("a\n\t\r\0\\\"'A\U0001F600é")


def test_keywords_are_contextual_names() -> None:
    """Well-known names that are keywords (`object`, `class`, `symbol`) work where only a name can stand."""
    m = parse("module m; class c : object; object o : class { comps = [symbol, object]; }", "m.rps")
    assert m.decls[0] == ast.ClassDecl("c", "object")
    o = m.decls[1]
    assert isinstance(o, ast.ObjectDecl) and o.cls == "class"
    assert o.comps == (ast.NameValue("symbol"), ast.NameValue("object"))


def test_statements() -> None:
    """Every statement kind parses to its node, including `else if` chains and nested blocks."""
    src = """module m;
fn f(n: int) {
    var a = 1;
    var b: float = 2.0;
    a = a + 1;
    if a < 2 { } else if a < 3 { } else { }
    while a > 0 { a = a - 1; continue; }
    for i in 0 .. n { break; }
    { g(); }
    return;
}"""
    fn = parse(src, "m.rps").decls[0]
    assert isinstance(fn, ast.FnDecl)
    s = fn.body.stmts
    assert s[0] == ast.VarStmt("a", None, ast.IntLit(1))
    assert s[1] == ast.VarStmt("b", "float", ast.FloatLit(2.0))
    assert s[2] == ast.AssignStmt("a", ast.Binary("+", ast.Name("a"), ast.IntLit(1)))
    assert s[3] == ast.IfStmt(ast.Binary("<", ast.Name("a"), ast.IntLit(2)), ast.Block(()),
                              ast.IfStmt(ast.Binary("<", ast.Name("a"), ast.IntLit(3)), ast.Block(()),
                                         ast.Block(())))
    assert isinstance(s[4], ast.WhileStmt) and s[4].body.stmts[1] == ast.ContinueStmt()
    assert s[5] == ast.ForStmt("i", ast.IntLit(0), ast.Name("n"), ast.Block((ast.BreakStmt(),)))
    assert s[6] == ast.Block((ast.ExprStmt(ast.Call("g", ())),))
    assert s[7] == ast.ReturnStmt(None)


def test_missing_semicolons_do_not_cascade() -> None:
    """Two missing `;` give exactly two diagnostics, each just after the previous token."""
    diags = errors("module m;\nfn f() {\n  var x = 1\n  var y = 2\n  return;\n}\n")
    assert [(d.span.line, d.span.col, d.message) for d in diags] == [
        (3, 12, "expected `;`, found keyword `var`"), (4, 12, "expected `;`, found keyword `return`")]
    assert diags[0].hint == "add `;` here"


def test_independent_errors_all_reported() -> None:
    """Syntax errors in separate declarations and literal errors are all reported, sorted by position."""
    src = "module m;\nclass a : ;\nfn f() -> int { return 1 +; }\nsymbol s = 99999999999999999999;\nattribute 3;\n"
    lines = [d.span.line for d in errors(src)]
    assert lines == [2, 3, 4, 5]


def test_int_literal_out_of_range() -> None:
    """9223372036854775808 without a minus is out of range for int."""
    (d,) = errors("module m; fn f() -> int { return 9223372036854775808; }")
    assert "out of range" in d.message and d.span.col == 34


def test_float_literals_are_finite() -> None:
    """A float literal that would round to infinity is an error (inf and nan are not literals)."""
    (d,) = errors("module m; symbol s = 2e308;")
    assert "infinite" in d.message


def test_render_without_source_reads_the_file(tmp_path: Path) -> None:
    """Diagnostic.render() with no source reads the file to show the line and the caret."""
    f = tmp_path / "bad.rps"
    f.write_text("module m;\nclass a : ;\n", encoding="utf-8")
    with pytest.raises(CompileError) as info:
        parse_file(f)
    text = info.value.diagnostics[0].render()
    assert text.splitlines() == [f"{f}:2:11: error: expected a name, found `;`", " 2 | class a : ;",
                                 "   |           ^"]


def test_parse_file_rejects_invalid_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a diagnostic with its position, not a UnicodeDecodeError."""
    f = tmp_path / "latin.rps"
    f.write_bytes(b"module m;\nsymbol s = \"caf\xe9\";\n")
    with pytest.raises(CompileError) as info:
        parse_file(f)
    d = info.value.diagnostics[0]
    assert (d.span.line, d.span.col, d.message) == (2, 16, "the file is not valid UTF-8")


def test_parser_cache_written_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse table is cached under $XDG_CACHE_HOME/rpsc and a parser built from the cache parses."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    make_lark()
    files = list((tmp_path / "rpsc").glob("rps-*.lark-cache"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    again = make_lark()
    assert again.parse("module m; class a;", start="start") is not None
    assert list((tmp_path / "rpsc").iterdir()) == files  # no stray temporary files


def test_parser_cache_unwritable_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache location that cannot be created only disables the cache: the parser is built and works."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would go", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    lk = make_lark()
    assert lk.parse("module m;", start="start") is not None
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_no_lark_objects_in_the_ast() -> None:
    """Every value in a parsed AST is our own node, a tuple, or a plain str/int/float/bool/None (no Lark Token)."""
    import dataclasses

    allowed = (str, int, float, bool, type(None))

    def walk(x: object) -> None:
        if isinstance(x, tuple):
            for item in x:
                walk(item)
        elif dataclasses.is_dataclass(x):
            assert type(x).__module__ == "rpsc.frontend.ast", type(x)
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name))
        else:
            assert type(x) in allowed, (type(x), x)

    walk(parse(GEOMETRY + 'fn g(x: float) -> bool { var s = -x; return s < 2.5 && !false; }\n', "g.rps"))


def test_byte_order_mark_is_ignored() -> None:
    """A leading UTF-8 byte order mark is accepted and does not shift columns."""
    with pytest.raises(CompileError) as info:
        parse("\ufeffmodule m; class a : ;", "bom.rps")
    assert info.value.diagnostics[0].span.col == 22
    assert parse("\ufeffmodule m;", "bom.rps").name == "m"
