"""LLVM IR generation: the golden text of a small function, and the IR LLVM's own parser accepts."""

from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
from rpsc.backends.llvm.codegen import emit_llvm
from rpsc.backends.llvm.jit import init_native

from . import irfactory as f
from .randprog import random_program

GOLDEN = Path(__file__).parent / "golden"


def test_golden_fib_ir(update_golden: bool) -> None:
    """fib's LLVM IR matches the golden file (refresh: RPSC_UPDATE_GOLDEN=1 or --update-golden)."""
    text = emit_llvm(f.module([f.fib()], name="golden"))
    path = GOLDEN / "fib.ll"
    if update_golden:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with RPSC_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


def test_golden_file_parses_and_verifies() -> None:
    """The golden IR text is valid LLVM: llvm.parse_assembly accepts it and the verifier passes."""
    init_native()
    mod = llvm.parse_assembly((GOLDEN / "fib.ll").read_text())
    mod.verify()
    names = [fn.name for fn in mod.functions]
    assert f.fib().symbol in names


def test_every_function_exported_with_status_abi() -> None:
    """Each IR function becomes `i32 @rpsfn_<oid>(ptr result, args...)`, bool params as i8 zeroext."""
    r = f.ref("pick", (f.BOOL, f.I64, f.F64), f.BOOL)
    from rpsc.ir.builder import FunctionBuilder

    b = FunctionBuilder(r, ["c", "i", "x"], f.loc(1))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.load(b.params[0]))
    init_native()
    mod = llvm.parse_assembly(emit_llvm(f.module([b.finish()])))
    mod.verify()
    fn = mod.get_function(r.symbol)
    assert fn.linkage == llvm.Linkage.external and not fn.is_declaration
    text = str(fn)
    header = text[text.index("define "):]
    assert header.startswith(f"define i32 @{r.symbol}(ptr %result, i8 zeroext %p0, i64 %p1, double %p2)")
    assert "store i8" in text                         # bool result stored as a byte


def test_rps_rt_declared_not_defined() -> None:
    """Every module declares @rps_rt external, so the text holds no process address."""
    text = emit_llvm(f.module([f.fib(), f.spin()]))
    assert '@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}' in text
    assert "inttoptr" not in text
    assert "load volatile i32" in text                # the interrupt poll is never hoisted


def test_no_poison_flags_or_fast_math() -> None:
    """Random programs' IR carries no nsw/nuw/exact or fast-math flags, and verifies."""
    init_native()
    for seed in range(20):
        text = emit_llvm(random_program(seed).module)
        for flag in (" nsw ", " nuw ", " exact ", " fast ", " nnan ", " ninf ", " reassoc "):
            assert flag not in text
        llvm.parse_assembly(text).verify()


def _fanout(calls: int):  # type: ignore[no-untyped-def]
    """g(n) = n < 1 ? 1 : g(n-1) + ... (`calls` self-calls)."""
    from rpsc.ir.builder import FunctionBuilder, const

    r = f.ref("g", (f.I64,), f.I64)
    b = FunctionBuilder(r, ["n"], f.loc(1))
    b.position_at_end(b.append_block("entry"))
    with b.if_then(b.icmp("lt", b.load(b.params[0]), const(1))):
        b.ret(const(1))
    total = None
    for _ in range(calls):
        x = b.call(r, [b.sub(b.load(b.params[0]), const(1))], f.loc(2))
        total = x if total is None else b.add(total, x)
    b.ret(total)
    return b.finish()


def test_recursion_copies_inlined_within_budget() -> None:
    """fib gets 3 copies (-O2) or 5 (-O3), copies 1.. `alwaysinline`; a body fanning out 4 ways gets fewer."""
    from rpsc.ir.passes import RECURSION_INLINE_BUDGET

    fib = f.fib()
    o2 = emit_llvm(f.module([fib]), recursion_copies=3)
    assert f'@"{fib.symbol}.body.2"(' in o2 and ".body.3" not in o2 and o2.count(") alwaysinline {") == 2
    o3 = emit_llvm(f.module([fib]), recursion_copies=5)
    assert f'@"{fib.symbol}.body.4"(' in o3 and o3.count(") alwaysinline {") == 4
    g = _fanout(4)
    text = emit_llvm(f.module([g]), recursion_copies=5)
    n = text.count("define internal fastcc i64")
    size = sum(len(blk.instrs) + 1 for blk in g.blocks)
    assert 1 < n < 5 and size * 4 ** (n - 1) <= RECURSION_INLINE_BUDGET < size * 4 ** n
    init_native()
    llvm.parse_assembly(text).verify()
