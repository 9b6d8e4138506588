"""Differential testing: random well-typed programs through the interpreter, the JIT and C (which run the
lowered IR), checked against the naive evaluator of the un-lowered IR (tests/naive_ir.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from backend_matrix import engines, outcome, same_outcome
from naive_ir import NaiveEvaluator

from .util import randprog

FUNCTIONS_PER_MODULE = 50
LIMIT = 200
#: Examples per run: 8 IR modules (400 functions) and 40 source modules (400 programs) unless raised with
#: RPSC_DIFF_SCALE=N (N times as many) for a longer bug hunt.
SCALE = max(1, int(os.environ.get("RPSC_DIFF_SCALE", "1")))


def _check_calls(modules, folder, calls) -> None:  # type: ignore[no-untyped-def]
    """Each call gives the naive evaluator's outcome in the interpreter, and the interpreter's in the JIT and C."""
    naive = NaiveEvaluator(modules, recursion_limit=LIMIT)
    with engines(modules, folder, recursion_limit=LIMIT) as eng:
        for symbol, args in calls:
            truth = outcome(naive, symbol, args)
            want = outcome(eng["interp"], symbol, args)
            assert same_outcome(truth, want), f"{symbol}{args}: naive {truth}, interpreter {want}"
            for name in ("c", "jit"):
                got = outcome(eng[name], symbol, args)
                assert same_outcome(got, want), f"{symbol}{args}: interpreter {want}, {name} {got}"


@pytest.mark.slow
@settings(max_examples=8 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_interpreter_jit_and_c_agree(tmp_path_factory, seed):  # type: ignore[no-untyped-def]
    """Every function of a random 50-function module gives the same result or the same trap (kind,
    function, location) in the naive evaluator, the interpreter, the LLVM JIT and the C plugin built with
    -Werror and UBSan."""
    rp = randprog()
    prog = rp.random_program(seed, functions=FUNCTIONS_PER_MODULE)
    assert len(prog.calls) == FUNCTIONS_PER_MODULE
    _check_calls([prog.module], tmp_path_factory.mktemp("diff"), prog.calls)


# ---------------------------------------------------------------------------------- from .rps source


def _renamed(node, prefix: str, names: set[str]):  # type: ignore[no-untyped-def]
    """A copy of an AST node with the functions in `names` (definitions and calls) renamed prefix+name."""
    import dataclasses

    from rpsc.frontend import ast

    if isinstance(node, tuple):
        return tuple(_renamed(n, prefix, names) for n in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        new = _renamed(value, prefix, names)
        if new is not value:
            changes[f.name] = new
    if isinstance(node, ast.FnDecl):
        changes["name"] = prefix + node.name
    if isinstance(node, ast.Call) and node.func in names:
        changes["func"] = prefix + node.func
    return dataclasses.replace(node, **changes) if changes else node


def merge_programs(programs):  # type: ignore[no-untyped-def]
    """One `.rps` module holding every program's functions (renamed p<i>_...), and the calls to make."""
    from rpsc.frontend import ast

    decls, calls = [], []
    for i, prog in enumerate(programs):
        names = {d.name for d in prog.module.decls if isinstance(d, ast.FnDecl)}
        prefix = f"p{i}_"
        decls.extend(_renamed(d, prefix, names) for d in prog.module.decls)
        calls.append((prefix + prog.entry, prog.args))
    return ast.Module("diffsrc", "1.0.0", (), None, tuple(decls)), calls


PROGRAMS_PER_MODULE = 10


@pytest.mark.slow
@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_random_rps_programs_agree_in_all_three_backends(tmp_path_factory, data):  # type: ignore[no-untyped-def]
    """Random well-typed `.rps` programs (tests/strategies_rps.py), ten per module, compiled through the
    frontend, give the same result or trap in the naive evaluator, the interpreter, the JIT and the C plugin."""
    import sys

    from .conftest import REPO

    sys.path.insert(0, str(REPO / "tests"))
    try:
        import strategies_rps as srps
    finally:
        sys.path.pop(0)
    from rpsc.driver.pipeline import compile_sources, ir_modules
    from rpsc.frontend.printer import print_module

    progs = data.draw(st.lists(srps.programs(max_functions=3), min_size=PROGRAMS_PER_MODULE,
                               max_size=PROGRAMS_PER_MODULE), label="programs")
    module, calls = merge_programs(progs)
    modules = ir_modules(compile_sources([("diffsrc.rps", print_module(module))]))
    _check_calls(modules, tmp_path_factory.mktemp("diffsrc"), calls)