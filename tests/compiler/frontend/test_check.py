"""Checker tests at the stage boundary: `check(modules, known_modules=...)` results and its diagnostics."""

from __future__ import annotations

import pytest
from rpsc import CompileError
from rpsc.frontend import ast
from rpsc.frontend.check import (
    WELLKNOWN,
    CheckedProgram,
    Definition,
    ModuleInterface,
    Signature,
    check,
    check_module,
    version_satisfies,
)
from rpsc.frontend.parser import parse


def checked(*sources: str, known: dict[str, ModuleInterface] | None = None) -> CheckedProgram:
    return check([parse(s, f"m{i}.rps") for i, s in enumerate(sources)], known_modules=known)


def messages(*sources: str, known: dict[str, ModuleInterface] | None = None) -> list[str]:
    with pytest.raises(CompileError) as info:
        checked(*sources, known=known)
    return [d.message for d in info.value.diagnostics]


def test_types_locals_and_callees() -> None:
    """type_of, local_of (shadowed variables are distinct) and callee_of describe a checked function."""
    src = """module m;
fn g(x: float) -> float { return x; }
fn f(n: int) -> float {
    var x = n;
    {
        var x = 2.5;
        x = g(x) + sqrt(x);
    }
    return float(x);
}"""
    cm = checked(src).module("m")
    cf = cm.functions["f"]
    fn = cf.decl
    outer = fn.body.stmts[0]
    inner_block = fn.body.stmts[1]
    assert isinstance(outer, ast.VarStmt) and isinstance(inner_block, ast.Block)
    inner, assign = inner_block.stmts
    assert isinstance(inner, ast.VarStmt) and isinstance(assign, ast.AssignStmt)
    assert cf.local_of(outer).type == "int" and cf.local_of(inner).type == "float"
    assert cf.local_of(outer).index != cf.local_of(inner).index
    assert cf.local_of(assign) is cf.local_of(inner)
    assert isinstance(assign.value, ast.Binary)
    call_g, call_sqrt = assign.value.left, assign.value.right
    assert isinstance(call_g, ast.Call) and isinstance(call_sqrt, ast.Call)
    assert cf.callee_of(call_g).kind == "function" and cf.callee_of(call_g).signature == Signature(("float",), "float")
    assert cf.callee_of(call_sqrt).kind == "builtin"
    ret = fn.body.stmts[2]
    assert isinstance(ret, ast.ReturnStmt) and isinstance(ret.value, ast.Call)
    assert cf.type_of(ret.value) == "float" and cf.type_of(ret.value.args[0]) == "int"
    assert cf.local_of(ret.value.args[0]) is cf.local_of(outer)
    assert [loc.kind for loc in cf.locals] == ["param", "var", "var"]
    assert cf.signature == Signature(("int",), "float")


def test_definition_order_and_wellknown() -> None:
    """Names resolve whatever the definition order; RefPerSys's well-known names resolve to upstream OIDs."""
    cm = checked("module m; object o : b { comment = \"x\"; } class b : a; class a : named_attribute;").module("m")
    assert cm.resolve("a") is not None and cm.resolve("a").kind == "class"  # type: ignore[union-attr]
    assert cm.resolve("comment") == WELLKNOWN["comment"]
    assert WELLKNOWN["object"].oid == "_5yhJGgxLwLp00X0xEQ"
    assert cm.interface.definitions["o"].kind == "object"


def test_modules_checked_together_in_dependency_order() -> None:
    """Modules may require each other on one command line; the result lists the required ones first."""
    prog = checked('module app; requires core >= "1.0"; fn f() -> int { return twice(2); }',
                   'module core version "1.2.0"; fn twice(x: int) -> int { return 2 * x; }')
    assert [m.name for m in prog.modules] == ["core", "app"]
    call_site = prog.module("app").functions["f"].decl.body.stmts[0]
    assert isinstance(call_site, ast.ReturnStmt) and isinstance(call_site.value, ast.Call)
    assert prog.module("app").functions["f"].callee_of(call_site.value).module == "core"


def test_known_modules_interface() -> None:
    """A module in the store (a ModuleInterface) satisfies `requires`, with its functions' signatures."""
    core = ModuleInterface("core", "2.0.0", {
        "twice": Definition("twice", "function", "core", Signature(("int",), "int")),
        "shape": Definition("shape", "class", "core"),
    })
    prog = checked('module app; requires core >= "1.5"; class c : shape; fn f() -> int { return twice(1); }',
                   known={"core": core})
    assert prog.module("app").resolve("twice").module == "core"  # type: ignore[union-attr]
    assert messages('module app; requires core >= "3"; fn f() -> int { return twice(1.0); }',
                    known={"core": core}) == [
        'module `core` has version 2.0.0, which does not satisfy `>= "3"`',
        "argument 1 of `twice` must be int, not float"]


def test_module_cycle_and_unknown_module() -> None:
    """Modules requiring each other in a cycle, and an unknown required module, are errors."""
    msgs = messages("module a; requires b;", "module b; requires a; requires zz;")
    assert "unknown module `zz`" in msgs
    assert any(m.startswith("modules require each other in a cycle") for m in msgs)


def test_one_mistake_one_diagnostic() -> None:
    """An erroneous expression poisons what uses it: one unknown name gives one diagnostic."""
    assert messages("module m; fn f() -> int { var x = nope; var y = x * 2 + x; return -y % x; }") == [
        "unknown variable `nope`"]


@pytest.mark.parametrize("body, message", [
    ("return 1 + 2.0;", "mismatched types int and float for `+`"),
    ("return 7 % 2 + int(1.5 % 2.0);", "`%` takes int operands, not float"),
    ("var b = true && 1; return 0;", "`&&` takes bool operands, not bool and int"),
    ("return abs(true);", "`abs` takes an int or a float, not bool"),
    ("return int(sqrt(4));", "`sqrt` takes a float, not int"),
    ("return min(1, 2, 3);", "`min` takes 2 arguments but 3 were given"),
    ("return int(float(2.0));", "`float()` converts an int, not float"),
    ("var b = 1 < 2; return b;", "the returned value must be int, not bool"),
    ("if 1 { } return 0;", "the condition of `if` must be bool, not int"),
    ("var z = ~1.5; return 0;", "unary `~` takes int, not float"),
    ("return 1 << 2.0;", "mismatched types int and float for `<<`"),
    ("continue;", "`continue` outside of a loop"),
    ("return;", "`return` without a value in a function returning int"),
    ("for i in 0 .. 1.5 { } return 0;", "the end of a `for` range must be int, not float"),
    ("while true { } return 1;", "unreachable statement"),
    ("x = 1; return 0;", "unknown variable `x`"),
    ("return f;", "`f` is a function, not a variable"),
    ("var k = 1; return k(2);", "`k` is a variable, not a function"),
])
def test_type_errors(body: str, message: str) -> None:
    """Each ill-typed body gives its one diagnostic."""
    assert messages(f"module m; fn f() -> int {{ {body} }}") == [message]


@pytest.mark.parametrize("body", [
    "return 1 & 3 ^ 5 | 7;",
    "if (true & false) | (true ^ false) { return 1; } return 0;",
    "while true { return 1; }",
    "if true { return 1; } else { return 2; }",
    "var x: float = -2.5; return int(abs(x) + max(x, 1.0));",
    "var b = 1.0 == 2.0 || 1 != 2 && !(1.5 >= 0.5); if b { return 1; } return 0;",
    "for i in 0 .. 3 { if i == 1 { continue; } if i == 2 { break; } } return -9223372036854775808;",
    "var n = 0; while n < 10 { n = n + 1; } return n >> 1 << 2;",
])
def test_well_typed_bodies(body: str) -> None:
    """Well-typed bodies using every operator family are accepted."""
    checked(f"module m; fn f() -> int {{ {body} }}")


def test_extension_points_and_methods() -> None:
    """extend requires the point's exact signature; method needs a class, a selector and a function."""
    ok = ("module m; class c; selector s; extension_point p(a: int) -> int mode first;"
          " fn f(a: int) -> int { return a; } extend p priority -3 with f; method c.s = f;")
    cm = check_module(parse(ok, "m.rps"))
    assert cm.interface.definitions["p"].signature == Signature(("int",), "int")
    assert cm.interface.definitions["p"].mode == "first"
    assert messages("module m; extension_point p(a: int) mode all; fn f(a: int) -> int { return a; }"
                    " extend p with f; method f.p = f;") == [
        "`f` has the signature (int) -> int but extension point `p` takes (int) -> void",
        "`f` is a function, not a class", "`p` is an extension point, not a selector"]


def test_version_constraints() -> None:
    """Version constraints compare numerically, with caret and tilde as in semver tools."""
    assert version_satisfies("1.10.0", ">=", "1.9")
    assert not version_satisfies("1.2.0", ">", "1.2")
    assert version_satisfies("1.4.2", "^", "1.2") and not version_satisfies("2.0.0", "^", "1.2")
    assert version_satisfies("0.2.5", "^", "0.2.1") and not version_satisfies("0.3.0", "^", "0.2.1")
    assert version_satisfies("1.2.9", "~", "1.2.3") and not version_satisfies("1.3.0", "~", "1.2.3")
    assert version_satisfies("1.0.0", "==", "1") and version_satisfies("0.9.0", "<", "1.0")


def test_plugin_examples_check_and_roundtrip() -> None:
    """The example modules in plugins_src/ check together and print back to the same ASTs."""
    from pathlib import Path

    from rpsc.frontend.printer import print_module

    files = sorted((Path(__file__).resolve().parents[3] / "plugins_src").rglob("*.rps"))
    if not files:
        pytest.skip("no plugins_src/*.rps examples")
    mods = [parse(f.read_text(encoding="utf-8"), str(f)) for f in files]
    prog = check(mods)
    assert {m.name for m in prog.modules} == {m.name for m in mods}
    for m in mods:
        assert parse(print_module(m), "again.rps") == m
