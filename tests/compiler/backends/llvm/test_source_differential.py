"""Differential tests on random *source* programs (tests/strategies_rps.py): parse, check, lower, build IR,
then the JIT at -O0 and -O2 and the interpreter against each other and against the naive evaluator of the
un-lowered IR (tests/naive_ir.py), every function of each module."""

from __future__ import annotations

import math

import pytest
import strategies_rps as srps  # tests/ is on sys.path (tests/compiler/backends/llvm is a package)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive_ir import NaiveEvaluator
from rpsc.frontend import ast
from rpsc.frontend.printer import print_module
from rpsc.backends.interp.interp import Interpreter
from rpsc.backends.llvm.jit import JitEngine
from rpsc.driver.pipeline import program
from rpsrt.errors import Trap


def _outcome(engine: object, name: str, args: tuple) -> object:  # type: ignore[type-arg]
    try:
        v = engine.call(name, list(args))  # type: ignore[attr-defined]
    except Trap as t:
        return ("trap", t.code, t.function, t.location)
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else v.hex())
    return (type(v).__name__, v)


@st.composite
def module_and_calls(draw):  # type: ignore[no-untyped-def]
    m = draw(srps.function_modules(max_functions=5))
    calls = []
    for fn in (d for d in m.decls if isinstance(d, ast.FnDecl)):
        args = []
        for i, p in enumerate(fn.params):
            if i == 0 and p.name == "depth":
                args.append(draw(st.integers(-1, 4)))
            else:
                args.extend(draw(srps.arguments((p.type,))))
        calls.append((fn.name, tuple(args)))
    return m, calls


@pytest.mark.slow
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=module_and_calls())
def test_random_source_modules_agree(case) -> None:  # type: ignore[no-untyped-def]
    """Every function of a random checked module: same result or same trap (kind, function, location)."""
    module, calls = case
    modules = program(print_module(module), "gen.rps")
    with Interpreter(modules) as interp:
        want = [_outcome(interp, name, args) for name, args in calls]
    naive = NaiveEvaluator(modules)
    assert [_outcome(naive, name, args) for name, args in calls] == want, f"naive\n{print_module(module)}\n{calls}"
    for opt in (0, 2):
        with JitEngine(modules, opt_level=opt) as jit:
            got = [_outcome(jit, name, args) for name, args in calls]
        assert got == want, f"-O{opt}\n{print_module(module)}\n{calls}"
