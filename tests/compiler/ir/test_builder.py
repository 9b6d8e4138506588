"""The public IR construction API (`rpsc.ir`): ModuleBuilder's OIDs and symbols, enum opcodes, call/call_void."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rpsc import ir as rir
from rpsc.backends.interp.interp import Interpreter
from rpsc.ir import ir
from rpsc.ir.builder import IRTypeError, ModuleBuilder, const
from rpsc.ir.ir import F64, I64, VOID, BinaryOp, CmpOp, UnaryOp
from rpsrt.model.oid import Oid

REPO = Path(__file__).resolve().parents[3]


def test_module_builder_mints_valid_oids_and_symbols() -> None:
    """Module, function and extension-point OIDs parse as RefPerSys OIDs; symbols are `symbol_of(oid)`."""
    mb = ModuleBuilder("geo")
    ref = mb.function_ref("area", (F64, F64), F64)
    point = mb.extension_point("on_area", (F64,), VOID, "all")
    oids = [mb.oid, ref.oid, point.oid, mb.mint_oid()]
    assert all(str(Oid.parse(o)) == o for o in oids) and len(set(oids)) == 4
    assert ref.symbol == ir.symbol_of(ref.oid) and ir.oid_of_symbol(ref.symbol) == ref.oid
    assert ref.module_oid == mb.oid and ref.signature == "f64(f64,f64)"
    assert mb.function_ref("area", (F64, F64), F64) is ref          # one ref per name and signature
    again = mb.new_function_ref("area", (F64, F64), F64)            # unless a new one is asked for
    assert again.oid not in oids and again.name == "area" and Oid.parse(again.oid)


def test_seeded_builders_are_reproducible_and_unseeded_ones_random() -> None:
    """The same seed and names give the same OIDs (golden files); other seeds or no seed give others."""
    a, b, c = ModuleBuilder("m", seed="s"), ModuleBuilder("m", seed="s"), ModuleBuilder("m", seed="t")
    assert a.oid == b.oid != c.oid
    assert a.function_ref("f", (I64,), I64) == b.function_ref("f", (I64,), I64)
    assert a.function_ref("f", (I64,), I64).oid != a.function_ref("g", (I64,), I64).oid
    assert [a.mint_oid(), a.mint_oid()] == [b.mint_oid(), b.mint_oid()]
    assert a.new_function_ref("f", (I64,), I64) == b.new_function_ref("f", (I64,), I64)
    assert ModuleBuilder("m").oid != ModuleBuilder("m").oid


def test_a_module_built_with_the_api_runs() -> None:
    """fib and a void caller built through ModuleBuilder/FunctionBuilder (enum opcodes, call, call_void) run."""
    mb = rir.ModuleBuilder("api", seed=1)
    b = mb.function("fib", [("n", I64)], I64, 1)
    n = b.load(b.params[0])
    with b.if_then(b.icmp(CmpOp.LT, n, const(2))):
        b.ret(n)
    x = b.call(b.ref, [b.binop(BinaryOp.SUB, n, const(1))], mb.loc(3, 10))
    y = b.call(b.ref, [b.sub(n, const(2))], mb.loc(3, 20))
    b.ret(b.add(x, y))
    fib = b.finish()
    nop = mb.function("nop", [], VOID, 4)
    nop.ret()
    nop.finish()
    v = mb.function("touch", [], VOID, 5)
    assert v.call_void(nop.ref, [], mb.loc(6)) is None
    v.call(fib.ref, [const(3)], mb.loc(7))                            # result dropped
    v.ret()
    v.finish()
    module = mb.finish()
    assert [f.name for f in module.functions] == ["fib", "nop", "touch"] and module.oid == mb.oid
    assert isinstance(x, ir.Temp) and x.type is I64
    with Interpreter([module]) as it:
        assert it.call("fib", [20]) == 6765 and it.call("touch", []) is None


def test_opcodes_are_enums_and_strings_are_still_accepted() -> None:
    """`binop("sdiv")` and `binop(BinaryOp.SDIV)` build the same instruction, whose op is the enum member;
    an unknown opcode or a wrong operand type is an IRTypeError naming it."""
    mb = ModuleBuilder("ops", seed=2)
    b = mb.function("f", [("a", I64)], I64)
    a = b.load(b.params[0])
    s1 = b.binop("sdiv", a, const(3), mb.loc(1))
    s2 = b.binop(BinaryOp.SDIV, a, const(3), mb.loc(1))
    u = b.unop(UnaryOp.NEG, s2)
    ins = b.block.instrs  # type: ignore[union-attr]
    assert ins[1].op is BinaryOp.SDIV and ins[2].op is BinaryOp.SDIV and ins[1].op == "sdiv"
    assert ins[3].op is UnaryOp.NEG and s1.type is u.type is I64
    assert ir.BinOp(s1, "add", a, a).op is BinaryOp.ADD               # direct construction coerces too
    with pytest.raises(IRTypeError, match="unknown binary operation 'pow'"):
        b.binop("pow", a, a)
    with pytest.raises(IRTypeError, match="fadd: operand of type i64"):
        b.binop(BinaryOp.FADD, a, a)
    with pytest.raises(IRTypeError, match="needs a source location"):
        b.binop(BinaryOp.SREM, a, a)


def test_call_and_call_void_are_separate() -> None:
    """`call_void` refuses a callee that returns a value; `call` returns the result temp."""
    mb = ModuleBuilder("calls", seed=3)
    f = mb.function_ref("f", (I64,), I64)
    g = mb.function_ref("g", (), VOID)
    b = mb.function("h", [], I64)
    with pytest.raises(IRTypeError, match="call_void f: it returns i64"):
        b.call_void(f, [const(1)])
    b.call_void(g, [])
    r = b.call(f, [const(1)])
    assert isinstance(r, ir.Temp) and r.type is I64
    with pytest.raises(IRTypeError, match="argument 1 of type f64"):
        b.call(f, [const(1.0)])


def test_module_builder_checks_what_it_collects() -> None:
    """A function of another module, or an extension with another signature than its point, is refused."""
    mb, other = ModuleBuilder("a", seed=4), ModuleBuilder("b", seed=4)
    b = other.function("x", [], I64)
    b.ret(const(1))
    fn = b.finish()
    with pytest.raises(IRTypeError, match="belongs to module"):
        mb.add(fn)
    point = mb.extension_point("p", (I64,), I64)
    with pytest.raises(IRTypeError, match="extension x"):
        mb.extend(point, 1, fn.ref)
    mb.require("b", ">=1.0")
    assert mb.finish().requires == [("b", ">=1.0")]


def test_the_example_of_docs_ir_md_runs() -> None:
    """The ModuleBuilder example of docs/ir.md builds a module whose fib the interpreter runs."""
    text = (REPO / "docs" / "ir.md").read_text()
    section = text[text.index("## Building IR by hand"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    ns: dict[str, object] = {}
    exec(compile(code, "docs/ir.md", "exec"), ns)  # noqa: S102 - the documentation's own example
    module = ns["module"]
    assert isinstance(module, ir.Module) and [f.name for f in module.functions] == ["fib"]
    with Interpreter([module]) as it:
        assert it.call("fib", [15]) == 610
