"""LLVM IR generation: the golden text of a small function, and the IR LLVM's own parser accepts."""

from __future__ import annotations

import os
from pathlib import Path

import llvmlite.binding as llvm
import pytest
from rpsc.llvm.codegen import build_llvm_module, emit_llvm
from rpsc.llvm.jit import init_native

from . import irfactory as f
from .randprog import random_program

GOLDEN = Path(__file__).parent / "golden"


def _update_golden(request: pytest.FixtureRequest) -> bool:
    try:
        opt = request.config.getoption("--update-golden")
    except ValueError:
        opt = False
    return bool(opt) or os.environ.get("RPSC_UPDATE_GOLDEN") == "1"


def test_golden_fib_ir(request: pytest.FixtureRequest) -> None:
    """fib's LLVM IR matches the golden file (refresh: RPSC_UPDATE_GOLDEN=1 or --update-golden)."""
    text = emit_llvm(f.module([f.fib()], name="golden"))
    path = GOLDEN / "fib.ll"
    if _update_golden(request):
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
    llm = build_llvm_module(f.module([b.finish()]))
    fn = llm.get_global(r.symbol)
    text = str(fn)
    assert text.startswith(f'define i32 @"{r.symbol}"(ptr %"result", i8 zeroext %"c", i64 %"i", double %"x")')
    assert "store i8" in text                         # bool result stored as a byte


def test_rps_rt_declared_not_defined() -> None:
    """Every module declares @rps_rt external, so the text holds no process address."""
    text = emit_llvm(f.module([f.fib(), f.spin()]))
    assert '@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr}' in text
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
