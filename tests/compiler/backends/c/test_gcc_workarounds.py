"""Regression tests for C-compiler bugs that rpsc works around (docs/c-backend.md, "Compiler bugs")."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import pytest
from backend_matrix import outcome
from rpsc.driver.build import GCC_WORKAROUND_FLAGS, BuildOptions, build_store, compiler_workaround_flags
from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, const
from rpsc.ir.ir import F64, I64

from .conftest import compile_store
from .handir import loc, module, new_module_oid, ref
from .util import STRICT_CFLAGS


def nan_exit_loop(mod: str) -> ir.Function:
    """nan_exit(): x = NaN; n = 0; while n < 1 { if x <= 0.0 { return 0.0 }; x = 1e300; n = 1 }; return 1.0.

    The loop runs once: `NaN <= 0.0` is false. GCC 12's brute-force trip count evaluation inverts the exit
    test `x <= 0.0` as `x > 0.0` (not "unordered or greater"), decides that NaN leaves the loop through it
    in iteration 0, and at -O2 compiles the function to `return 0.0` (GCC bug; see docs/c-backend.md)."""
    r = ref("nan_exit", (), F64, mod)
    b = FunctionBuilder(r, (), loc(1))
    b.position_at_end(b.append_block("entry"))
    x = b.local("x", F64)
    n = b.local("n", I64)
    b.store(x, const(math.nan, F64))
    b.store(n, const(0))
    head, body, out, latch, done = (b.append_block(s) for s in ("head", "body", "out", "latch", "done"))
    b.br(head)
    b.position_at_end(head)
    b.cbranch(b.icmp("lt", b.load(n), const(1)), body, done)
    b.position_at_end(body)
    b.cbranch(b.fcmp("le", b.load(x), const(0.0)), out, latch)
    b.position_at_end(out)
    b.ret(const(0.0))
    b.position_at_end(latch)
    b.store(x, const(1e300))
    b.store(n, const(1))
    b.poll(loc(2, 3))
    b.br(head)
    b.position_at_end(done)
    b.ret(const(1.0))
    return b.finish()


def _three_way(matrix, m: ir.Module, cflags: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Compile `m` with `cflags` and check nan_exit() gives 1.0 in the interpreter, the JIT and C."""
    for name, engine in matrix([m], cflags=cflags).items():
        assert outcome(engine, "nan_exit", []) == ("ok", 1.0), name


@pytest.mark.parametrize("opt", ["-O2", "-O3"])
def test_nan_loop_exit_is_not_taken(backend_matrix, opt: str):  # type: ignore[no-untyped-def]
    """A loop whose float exit test sees a constant NaN runs its one iteration in the C plugin built with
    the tests' strict flags at -O2/-O3, as in the interpreter and the JIT (GCC 12 returned 0.0)."""
    mod = new_module_oid()
    _three_way(backend_matrix, module("nanexit", [nan_exit_loop(mod)], mod), [*STRICT_CFLAGS, opt])


def test_rpsc_build_flags_compile_the_nan_loop_right(tmp_path: Path, backend_matrix):  # type: ignore[no-untyped-def]
    """The C flags that `rpsc build` writes into build.ninja (default -O2) carry the workaround for the
    compiler in use and compile the NaN-exit loop right."""
    store = tmp_path / "store"
    compile_store(store, {"tiny.rps": 'module tiny version "1.0.0";\nfn one() -> int { return 1; }\n'})
    build_store(BuildOptions(store=store))
    ninja_text = re.sub(r" \$\n\s*", " ", (store / "build" / "build.ninja").read_text())
    line = next(x for x in ninja_text.splitlines() if x.startswith("cflags = "))
    flags = shlex.split(line[len("cflags = "):].replace("$$", "$"))
    assert "-O2" in flags
    assert set(compiler_workaround_flags(BuildOptions(store=store).toolchain()["cc"])) <= set(flags)
    mod = new_module_oid()
    _three_way(backend_matrix, module("nanexit", [nan_exit_loop(mod)], mod), flags)


def _fake_cc(path: Path, macros: str) -> str:
    path.write_text(f"#!/bin/sh\nprintf '{macros}'\n")
    path.chmod(0o755)
    return str(path)


def test_workaround_flags_are_for_gcc_only(tmp_path: Path):
    """The probe gives the GCC flags to a compiler that predefines __GNUC__ only, and none to one that
    also predefines __clang__, to a missing compiler, or to a command that is not a C compiler."""
    assert compiler_workaround_flags(_fake_cc(tmp_path / "gcc", "#define __GNUC__ 12\\n")) == GCC_WORKAROUND_FLAGS
    clang = _fake_cc(tmp_path / "clang", "#define __GNUC__ 4\\n#define __clang__ 1\\n")
    assert compiler_workaround_flags(clang) == ()
    assert compiler_workaround_flags(str(tmp_path / "no-such-cc")) == ()
    assert compiler_workaround_flags("false") == ()
