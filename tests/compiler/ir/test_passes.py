"""The IR passes: trap lowering (explicit `trap_if`, unchecked operations) and the one recursion-unrolling rule."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import pytest
from naive_ir import NaiveEvaluator
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import program
from rpsc.ir import ir, passes
from rpsc.ir.builder import ModuleBuilder, const
from rpsc.ir.ir import F64, I64, BinaryOp, ConvertOp, TrapCode
from rpsrt.errors import Trap

REPO = Path(__file__).resolve().parents[3]
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
INTS = [0, 1, -1, 2, -2, 3, -3, 7, -7, 100, -100, INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1, 2**32, -(2**32)]
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.9, -1.9, 1e18, -1e18, 2.0**63, -(2.0**63), math.nextafter(2.0**63, 0.0),
          math.nextafter(-(2.0**63), -math.inf), math.inf, -math.inf, math.nan, 1e300, -1e300]

SRC = """module lw version "1.0.0";
fn f(a: int, b: int, x: float) -> int {
  var q = a / b;
  var r = a % 3;
  return q + r + int(x) + a % b;
}
fn g(n: int) -> int { return n + 1; }
"""


def _edge_module() -> ir.Module:
    """div(a, b), rem(a, b), toint(x) and division by each constant divisor of INTS, built with ModuleBuilder."""
    mb = ModuleBuilder("edges", seed="test_passes", file="e.rps")
    line = 1
    for name, op in (("div", BinaryOp.SDIV), ("rem", BinaryOp.SREM)):
        b = mb.function(name, [("a", I64), ("b", I64)], I64, line)
        b.ret(b.binop(op, b.load(b.params[0]), b.load(b.params[1]), mb.loc(line, 12)))
        b.finish()
        line += 1
        for k in INTS:
            b = mb.function(f"{name}_by_{k & 0xFFFFFFFFFFFFFFFF:x}", [("a", I64)], I64, line)
            b.ret(b.binop(op, b.load(b.params[0]), const(k), mb.loc(line, 9)))
            b.finish()
            line += 1
    b = mb.function("toint", [("x", F64)], I64, line)
    b.ret(b.fptosi(b.load(b.params[0]), mb.loc(line, 5)))
    b.finish()
    return mb.finish()


def _calls(module: ir.Module) -> list[tuple[str, tuple[object, ...]]]:
    out: list[tuple[str, tuple[object, ...]]] = []
    for fn in module.functions:
        if fn.ref.params == (I64, I64):
            out += [(fn.symbol, (a, b)) for a in INTS for b in INTS]
        elif fn.ref.params == (I64,):
            out += [(fn.symbol, (a,)) for a in INTS]
        else:
            out += [(fn.symbol, (x,)) for x in FLOATS]
    return out


def _outcome(engine: object, fn: str, args: tuple[object, ...]) -> object:
    try:
        v = engine.call(fn, list(args))  # type: ignore[attr-defined]
    except Trap as t:
        return ("trap", t.code, t.function, t.location)
    if isinstance(v, float):
        return ("ok", struct.pack("<d", v))
    return ("ok", type(v).__name__, v)


def test_lowered_ir_has_no_checked_operation_and_keeps_every_trap_site() -> None:
    """After `lower`, no sdiv/srem/fptosi is left; each one became a `trap_if` of its kind at its own site."""
    (mod,) = program(SRC, "lw.rps")
    f = mod.functions[0]
    sites = [(TrapCode.CONVERSION if isinstance(i, ir.Convert) else TrapCode.DIVZERO, i.loc)
             for b in f.blocks for i in b.instrs if isinstance(i, (ir.BinOp, ir.Convert)) and i.op in ir.CHECKED_OPS]
    assert len(sites) == 4
    low = passes.lower(f)
    assert passes.is_lowered(low) and not passes.is_lowered(f)
    traps = [(i.code, i.loc) for b in low.blocks for i in b.instrs if isinstance(i, ir.TrapIf)]
    # `a % 3` has a constant divisor other than 0 and -1: it cannot trap, so it gets no trap_if.
    const_site = ir.SourceLoc("lw.rps", 4, SRC.splitlines()[3].index("a % 3") + 1)
    assert const_site in [loc for _, loc in sites]
    assert traps == [s for s in sites if s[1] != const_site]
    ops = {i.op for b in low.blocks for i in b.instrs if isinstance(i, (ir.BinOp, ir.Convert))}
    assert {BinaryOp.SDIV_UNCHECKED, BinaryOp.SREM_UNCHECKED, ConvertOp.FPTOSI_UNCHECKED} <= ops
    temps = [i.dest.name for b in low.blocks for i in b.instrs if getattr(i, "dest", None) is not None]
    assert len(temps) == len(set(temps))                                  # fresh names, no clash


def test_lowering_is_idempotent_and_keeps_trap_free_functions() -> None:
    """Lowering a lowered function, or one without a checked operation, returns the very same object."""
    (mod,) = program(SRC, "lw.rps")
    low = passes.lower(mod.functions[0])
    assert passes.lower(low) is low
    assert passes.lower(mod.functions[1]) is mod.functions[1]
    assert passes.lower_module(passes.lower_module(mod)).functions[0] is not mod.functions[0]


def test_lowered_division_and_conversion_agree_with_the_naive_evaluator() -> None:
    """On every edge pair (INT_MIN / -1, x / 0, NaN, +-2**63, ...) the interpreter and the JIT, which run the
    lowered IR, give the naive evaluator's result or trap (same kind, function, location) on the IR as built."""
    from rpsc.backends.llvm.jit import JitEngine

    mod = _edge_module()
    calls = _calls(mod)
    naive = NaiveEvaluator([mod])
    want = [_outcome(naive, s, a) for s, a in calls]
    kinds = {w[1] for w in want if w[0] == "trap"}
    assert kinds == {TrapCode.DIVZERO, TrapCode.CONVERSION}
    assert ("ok", "int", INT_MIN) == _outcome(naive, mod.functions[0].symbol, (INT_MIN, -1))
    with Interpreter([mod]) as it, JitEngine([mod], opt_level=2) as jit:
        for engine in (it, jit):
            got = [_outcome(engine, s, a) for s, a in calls]
            bad = [(c, w, g) for c, w, g in zip(calls, want, got, strict=True) if w != g]
            assert not bad, f"{type(engine).__name__}: {bad[:5]}"


def _sources() -> dict[str, str]:
    """Every source file of the compiler, the C runtime header and the C templates, by repository path."""
    files = [*(REPO / "compiler" / "rpsc").rglob("*.py"), *(REPO / "runtime" / "rpsrt" / "include").rglob("*.h"),
             *(REPO / "templates").glob("*.j2")]
    return {str(p.relative_to(REPO)): p.read_text() for p in files}


def test_trap_rules_and_the_recursion_rule_are_written_once() -> None:
    """grep: the float->int range, the uses of the division and conversion trap codes and the recursion-copies
    constants appear in rpsc.ir.passes only (besides the trap codes' own definitions)."""
    passes_py = "compiler/rpsc/ir/passes.py"
    bound = re.compile(r"2\.0\s*\*\*\s*63|9223372036854775808\.0|9\.223372036854775808e18|0x43E0000000000000"
                       r"|0xC3E0000000000000|float\(_M\)")
    code_use = re.compile(r"(?:TrapCode\.|TRAP_|RPS_TRAP_)(?:DIVZERO|CONVERSION)\b")
    definition = re.compile(r"^\s*(?:#define\s+RPS_TRAP_\w+|(?:DIVZERO|CONVERSION)\s*=|from rpsrt\.errors import)")
    copies = re.compile(r"^(RECURSION_\w+)\s*=|def _copies_of|def _self_recursive", re.M)
    found_bounds, found_codes, found_copies = set(), set(), set()
    for path, text in _sources().items():
        for line in text.splitlines():
            if bound.search(line):
                found_bounds.add(path)
            if code_use.search(line) and not definition.search(line):
                found_codes.add(path)
        for m in copies.finditer(text):
            found_copies.add((path, m.group(0)))
    assert found_bounds == {passes_py}
    assert found_codes == {passes_py}
    assert {p for p, _ in found_copies} == {passes_py}
    assert len(found_copies) == len({m for _, m in found_copies})    # each constant defined once


def _recursive(mb: ModuleBuilder, name: str, calls: int, padding: int) -> ir.Function:
    """g(n) = n < 1 ? 1 : g(n-1) + ... (`calls` self-calls), with `padding` extra additions."""
    b = mb.function(name, [("n", I64)], I64)
    with b.if_then(b.icmp("lt", b.load(b.params[0]), const(1))):
        b.ret(const(1))
    total = b.load(b.params[0])
    for _ in range(padding):
        total = b.add(total, const(1))
    for _ in range(calls):
        total = b.add(total, b.call(b.ref, [b.sub(b.load(b.params[0]), const(1))], mb.loc(2)))
    b.ret(total)
    return b.finish()


def test_both_backends_take_the_one_recursion_rule() -> None:
    """LLVM and C emit exactly `passes.recursion_copies(fn, k)` bodies for small, fanning-out, large and
    non-recursive functions, at -O2's and -O3's request."""
    from rpsc.backends.c.emit import emit_c
    from rpsc.backends.llvm.codegen import emit_llvm

    mb = ModuleBuilder("rings", seed="rings")
    fns = [_recursive(mb, "small", 2, 0), _recursive(mb, "wide", 4, 0), _recursive(mb, "large", 2, 80),
           _recursive(mb, "flat", 0, 3)]
    mod = mb.finish()
    want_o2 = [passes.recursion_copies(f, passes.copies_for_level(2)) for f in fns]
    want_o3 = [passes.recursion_copies(f, passes.copies_for_level(3)) for f in fns]
    assert want_o2 == [3, 2, 1, 1] and want_o3[0] == 5 and 2 <= want_o3[1] < 5
    for k, want in ((passes.copies_for_level(2), want_o2), (passes.copies_for_level(3), want_o3)):
        llvm_text = emit_llvm(mod, recursion_copies=k)
        c_text = emit_c(mod, recursion_copies=k).text
        for i, (fn, n) in enumerate(zip(fns, want, strict=True)):
            assert len(re.findall(rf'^define internal fastcc i64 @"{fn.symbol}\.body[.\d]*"\(', llvm_text, re.M)) == n
            assert len(re.findall(rf"^static (?:inline )?int64_t rpsb_{i}(?:_\d+)?\(.*\)$", c_text, re.M)) == n


def test_unrolled_ring_calls_the_next_copy() -> None:
    """In a ring of n bodies, each self-call of body i targets body (i+1) mod n; nothing else changes."""
    mb = ModuleBuilder("ring", seed=1)
    fn = _recursive(mb, "fib", 2, 0)
    ring = passes.unroll_recursion(fn, 3)
    assert passes.unroll_recursion(fn, 1) == (fn,)
    for i, body in enumerate(ring):
        calls = [ins for b in body.blocks for ins in b.instrs if isinstance(ins, ir.Call)]
        assert [c.copy for c in calls] == [(i + 1) % 3] * 2
        others = [ins for b in body.blocks for ins in b.instrs if not isinstance(ins, ir.Call)]
        assert others == [ins for b in fn.blocks for ins in b.instrs if not isinstance(ins, ir.Call)]


def test_tier_up_eligibility_is_the_shared_rule() -> None:
    """A module gains copies from -O2 to -O3 (the JIT's tier 2) iff a function of it is small and self-recursive."""
    mb = ModuleBuilder("tier", seed=2)
    _recursive(mb, "fib", 2, 0)
    hot = mb.finish()
    mb2 = ModuleBuilder("cold", seed=2)
    _recursive(mb2, "flat", 0, 1)
    cold = mb2.finish()
    lo, hi = passes.copies_for_level(2), passes.copies_for_level(3)
    assert passes.gains_copies(hot, lo, hi) and not passes.gains_copies(cold, lo, hi)
    assert passes.copies_for_level(1) == passes.copies_for_level(0) == 1


@pytest.mark.parametrize("bad", ["sdiv", "fptosi"])
def test_backends_refuse_checked_operations(bad: str) -> None:
    """A backend handed a checked operation without the pass (a bug in the pipeline) fails loudly."""
    from rpsc.backends.llvm import codegen

    mb = ModuleBuilder("raw", seed=3)
    b = mb.function("f", [("x", F64 if bad == "fptosi" else I64)], I64)
    v = b.load(b.params[0])
    b.ret(b.fptosi(v, mb.loc(1)) if bad == "fptosi" else b.sdiv(v, v, mb.loc(1)))
    fn = b.finish()
    em = codegen._FunctionEmitter(fn, "f.body", codegen._Module(), {fn.symbol})
    with pytest.raises(TypeError, match="lowered"):
        em.emit()
