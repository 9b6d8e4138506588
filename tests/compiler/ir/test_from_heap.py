"""IR construction from stored functions: deterministic names, polls on back-edges, short-circuits, trap sites."""

from __future__ import annotations

import re

import strategies_rps as srps  # tests/ is on sys.path (tests/compiler/ir is a package)
from hypothesis import given, settings
from rpsc.frontend.printer import print_module
from rpsc.ir import ir
from rpsc.driver.pipeline import program

SRC = """module shape version "1.0.0";
fn f(a: int, b: int) -> int {
  var s = 0;
  for i in a .. b {
    if i % 3 == 0 { continue; }
    while s > 100 && b > 0 { s = s / 2; }
    s = s + i;
  }
  return s + int(1.5) + g(a > 0 || false);
}
fn g(x: bool) -> int { if x { return 1; } return 0; }
"""


def _at(needle: str) -> ir.SourceLoc:
    """The location of the first occurrence of `needle` in SRC."""
    idx = SRC.index(needle)
    return ir.SourceLoc("s.rps", SRC.count("\n", 0, idx) + 1, idx - SRC.rfind("\n", 0, idx))


def _canon(mods: list[ir.Module]) -> str:
    """The IR as text with OIDs replaced, to compare two builds."""
    text = repr([(m.name, [(f.param_names, f.locals, [(b.label, b.instrs, b.terminator) for b in f.blocks])
                           for f in m.functions]) for m in mods])
    return re.sub(r"_[0-9][0-9A-Za-z]{17}", "_OID", text)


def _back_edges(fn: ir.Function) -> list[tuple[str, str]]:
    """Edges to a block on the current DFS path from the entry (loop back-edges)."""
    succ = {}
    for b in fn.blocks:
        t = b.terminator
        succ[b.label] = [t.target] if isinstance(t, ir.Br) else [t.then_target, t.else_target] \
            if isinstance(t, ir.CondBr) else []
    out: list[tuple[str, str]] = []
    on_path: set[str] = set()
    seen: set[str] = set()

    def dfs(label: str) -> None:
        seen.add(label)
        on_path.add(label)
        for s in succ[label]:
            if s in on_path:
                out.append((label, s))
            elif s not in seen:
                dfs(s)
        on_path.discard(label)

    dfs(fn.blocks[0].label)
    return out


def test_names_are_deterministic() -> None:
    """Two compiles of the same source give the same IR (temps, locals, blocks), OIDs aside."""
    assert _canon(program(SRC, "s.rps")) == _canon(program(SRC, "s.rps"))
    f = program(SRC, "s.rps")[0].functions[0]
    assert [b.label for b in f.blocks][:4] == ["entry", "for.cond", "for.body", "for.latch"]
    assert [loc.name for loc in f.locals][:2] == ["a", "b"]


def test_loops_poll_on_their_single_back_edge() -> None:
    """Each loop has one back-edge, from its latch, which polls at the loop keyword's position."""
    f = program(SRC, "s.rps")[0].functions[0]
    edges = _back_edges(f)
    assert sorted(src for src, _ in edges) == ["for.latch", "while.latch"]
    polls = {b.label: [i.loc for i in b.instrs if isinstance(i, ir.Poll)] for b in f.blocks}
    assert polls["for.latch"] == [ir.SourceLoc("s.rps", 4, 3)]
    assert polls["while.latch"] == [ir.SourceLoc("s.rps", 6, 5)]


def test_short_circuit_is_control_flow() -> None:
    """`&&` and `||` become branches around the right operand, never a bool `and`/`or` instruction."""
    f = program(SRC, "s.rps")[0].functions[0]
    assert any(b.label.startswith("sc.rhs") for b in f.blocks)
    for b in f.blocks:
        for i in b.instrs:
            assert not (isinstance(i, ir.BinOp) and i.op in ("and", "or") and i.dest.type is ir.BOOL)


def test_trap_sites_carry_source_locations() -> None:
    """sdiv/srem at the binary expression, fptosi at `int(`, calls at the call, entry at the function name."""
    mod = program(SRC, "s.rps")[0]
    f = mod.functions[0]
    sites = {(type(i).__name__, getattr(i, "op", "")): i.loc for b in f.blocks for i in b.instrs
             if isinstance(i, (ir.BinOp, ir.Convert, ir.Call)) and i.loc is not None}
    assert sites[("BinOp", "srem")] == _at("i % 3")
    assert sites[("BinOp", "sdiv")] == _at("s / 2")
    assert sites[("Convert", "fptosi")] == _at("int(1.5)")
    assert sites[("Call", "")] == _at("g(a > 0")
    assert f.loc == _at("f(a: int")
    assert mod.functions[1].ref.symbol == ir.symbol_of(mod.functions[1].ref.oid)


@settings(max_examples=60, deadline=None)
@given(module=srps.function_modules())
def test_generated_programs_build_valid_ir(module) -> None:  # type: ignore[no-untyped-def]
    """For random well-typed modules: every block terminates, every back-edge polls, every trap op has a loc."""
    (mod,) = program(print_module(module), "gen.rps")
    for f in mod.functions:
        by_label = {b.label: b for b in f.blocks}
        for b in f.blocks:
            assert b.terminator is not None
            for i in b.instrs:
                if isinstance(i, ir.BinOp) and i.op in ("sdiv", "srem"):
                    assert i.loc is not None and i.loc.file == "gen.rps"
                if isinstance(i, ir.Call) or (isinstance(i, ir.Convert) and i.op == "fptosi"):
                    assert i.loc is not None
        for src, _dst in _back_edges(f):
            assert any(isinstance(i, ir.Poll) for i in by_label[src].instrs)


def _outcome(call):  # type: ignore[no-untyped-def]
    import math

    import rpsrt

    try:
        v = call()
    except rpsrt.Trap as t:
        return ("trap", t.code, t.function, t.location)
    if isinstance(v, float) and math.isnan(v):
        return ("ok", "nan")
    if isinstance(v, float):
        return ("ok", v, math.copysign(1.0, v))
    return ("ok", type(v).__name__, v)


@settings(max_examples=150, deadline=None)
@given(prog=srps.programs())
def test_interpreter_agrees_with_a_naive_ast_evaluator(prog) -> None:  # type: ignore[no-untyped-def]
    """The IR interpreter (from the store) and an independent AST evaluator give the same result or trap."""
    from rpsc.frontend.parser import parse
    from rpsc.backends.interp.interp import Interpreter

    from .ast_eval import AstEvaluator

    text = print_module(prog.module)
    parsed = parse(text, "gen.rps")
    with Interpreter(program(text, "gen.rps")) as it:
        got = _outcome(lambda: it.call(prog.entry, list(prog.args)))
    want = _outcome(lambda: AstEvaluator(parsed).call(prog.entry, list(prog.args)))
    assert got == want


SHADOW = """module sh;
fn h(x: int) -> int {
  var y = x * 10;
  if x > 0 { var y = y + 1; x = y; }
  for y in 0 .. 2 { x = x + y; }
  return x + y;
}
"""


def test_shadowed_variables_take_their_stored_slots() -> None:
    """Each declaration of a shadowed name is its own local (the slot the checker stored), so reads inside and
    after the inner scopes see the right one."""
    (mod,) = program(SHADOW, "sh.rps")
    (fn,) = mod.functions
    assert [loc.name for loc in fn.locals] == ["x", "y", "y.2", "for.i", "for.stop", "y.4"]
    from rpsc.backends.interp.interp import Interpreter

    with Interpreter([mod]) as it:
        assert it.call("h", [3]) == (31 + 0 + 1) + 30
        assert it.call("h", [-2]) == (-2 + 0 + 1) + -20
