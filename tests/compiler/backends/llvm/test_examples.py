"""Every function of the example modules in plugins_src/ gives the same result or trap in the JIT and the
interpreter (the examples call across modules: events and shapes require numeric)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from rpsc.ir import ir
from rpsc.backends.interp.interp import Interpreter
from rpsc.backends.llvm.jit import JitEngine
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsrt.errors import Trap

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = sorted((REPO / "plugins_src").glob("*.rps"))
SAMPLES = {ir.I64: [0, 1, 7, -3, 12], ir.F64: [0.0, 1.5, -2.25, 10.0], ir.BOOL: [False, True]}


def _outcome(engine: object, fn: ir.FunctionRef, args: tuple) -> object:  # type: ignore[type-arg]
    try:
        v = engine.call(fn, list(args))  # type: ignore[attr-defined]
    except Trap as t:
        return ("trap", t.code, t.function, t.location)
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else v.hex())
    return (type(v).__name__, v)


@pytest.fixture(scope="module")
def example_modules() -> list[ir.Module]:
    if not EXAMPLES:
        pytest.fail("no plugins_src/*.rps examples found")
    heap = compile_sources([(str(p.relative_to(REPO)), p.read_text()) for p in EXAMPLES])
    return ir_modules(heap)


@pytest.mark.parametrize("opt", [0, 2])
def test_examples_agree_with_interpreter(example_modules: list[ir.Module], opt: int) -> None:
    """Each example function, on a few argument tuples per signature, matches the interpreter."""
    checked = 0
    with Interpreter(example_modules) as interp, JitEngine(example_modules, opt_level=opt) as jit:
        for m in example_modules:
            for fn in m.functions:
                combos = itertools.islice(itertools.product(*(SAMPLES[t] for t in fn.ref.params)), 6)
                for args in combos:
                    assert _outcome(jit, fn.ref, args) == _outcome(interp, fn.ref, args), (m.name, fn.name, args)
                    checked += 1
    assert checked >= 20
    assert {m.name for m in example_modules} >= {p.stem for p in EXAMPLES}
