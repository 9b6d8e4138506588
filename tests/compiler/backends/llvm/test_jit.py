"""The JIT engine: semantics at the edges, traps, recursion depth, interrupts, lazy compilation, the ABI."""

from __future__ import annotations

import math
import struct
import threading

import pytest
from rpsc.backends.engine import Engine, EngineError
from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, const
from rpsc.backends.llvm.jit import JitEngine
from rpsrt.errors import TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION, Trap

from . import irfactory as f

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
EDGE = [0, 1, -1, 2, -7, 7, 63, 64, 65, -64, INT_MIN, INT_MAX, INT_MIN + 1, 2**32, 12345678901]


def wrap(x: int) -> int:
    return (x + 2**63) % 2**64 - 2**63


def tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return wrap(q if (a < 0) == (b < 0) else -q)


SPEC = {
    "add": lambda a, b: wrap(a + b), "sub": lambda a, b: wrap(a - b), "mul": lambda a, b: wrap(a * b),
    "sdiv": tdiv, "srem": lambda a, b: wrap(a - wrap(b * tdiv(a, b))),
    "shl": lambda a, b: wrap(a << (b % 64)), "ashr": lambda a, b: a >> (b % 64),
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
}


@pytest.fixture(scope="module", params=[0, 2])
def arith(request: pytest.FixtureRequest) -> JitEngine:
    fns = [f.binop_fn(op, op) for op in SPEC]
    with JitEngine([f.module(fns)], opt_level=request.param) as e:
        yield e


def test_engine_protocol() -> None:
    """JitEngine implements the engine protocol of rpsc.backends.engine."""
    with JitEngine([f.module([f.fib()])]) as e:
        assert isinstance(e, Engine)


@pytest.mark.parametrize("op", sorted(SPEC))
def test_int_ops_at_edges(arith: JitEngine, op: str) -> None:
    """i64 operators wrap, divide toward zero, take shift counts mod 64 (INT_MIN / -1 == INT_MIN)."""
    fn = arith.function(op)
    for a in EDGE:
        for b in EDGE:
            if op in ("sdiv", "srem") and b == 0:
                continue
            assert fn(a, b) == SPEC[op](a, b), (op, a, b)


def test_division_by_zero_traps_with_site(arith: JitEngine) -> None:
    """x / 0 and x % 0 raise Trap(DIVZERO) naming the function and the operation's position."""
    for op in ("sdiv", "srem"):
        with pytest.raises(Trap) as ei:
            arith.call(op, [5, 0])
        assert ei.value == Trap(TRAP_DIVZERO, function=op, location="t.rps:11:5")
        assert arith.call(op, [7, 2]) == SPEC[op](7, 2)       # still usable afterwards


def _conv_module() -> ir.Module:
    r = f.ref("toint", (f.F64,), f.I64)
    b = FunctionBuilder(r, ["x"], f.loc(30))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.fptosi(b.load(b.params[0]), f.loc(31, 7)))
    fns = [b.finish()]
    for op in ("min", "max"):
        r = f.ref(f"f{op}", (f.F64, f.F64), f.F64)
        b = FunctionBuilder(r, ["a", "c"], f.loc(40))
        b.position_at_end(b.append_block("entry"))
        b.ret(b.minmax(op, b.load(b.params[0]), b.load(b.params[1])))
        fns.append(b.finish())
    r = f.ref("fne", (f.F64, f.F64), f.BOOL)
    b = FunctionBuilder(r, ["a", "c"], f.loc(50))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.fcmp("ne", b.load(b.params[0]), b.load(b.params[1])))
    fns.append(b.finish())
    return f.module(fns)


@pytest.mark.parametrize("opt", [0, 2])
def test_float_to_int_conversion(opt: int) -> None:
    """int(x) truncates toward zero; NaN, infinities and values outside [-2**63, 2**63) trap CONVERSION."""
    with JitEngine([_conv_module()], opt_level=opt) as e:
        toint = e.function("toint")
        assert toint(-2.9) == -2 and toint(2.9) == 2 and toint(-0.0) == 0
        assert toint(-9.223372036854775808e18) == INT_MIN
        assert toint(9.223372036854774784e18) == 2**63 - 1024
        for bad in (math.nan, math.inf, -math.inf, 9.223372036854775808e18, -9.223372036854777856e18, 1e300):
            with pytest.raises(Trap) as ei:
                toint(bad)
            assert (ei.value.kind, ei.value.function, ei.value.location) == \
                ("invalid conversion", "toint", "t.rps:31:7")


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


@pytest.mark.parametrize("opt", [0, 2])
def test_float_min_max_and_ne_follow_the_select_rule(opt: int) -> None:
    """min(a,b) = b < a ? b : a and max(a,b) = a < b ? b : a exactly (NaN, signed zeros); != is unordered."""
    vals = [0.0, -0.0, 1.5, -2.0, math.nan, math.inf, -math.inf]
    with JitEngine([_conv_module()], opt_level=opt) as e:
        fmin, fmax, fne = e.function("fmin"), e.function("fmax"), e.function("fne")
        for a in vals:
            for c in vals:
                want_min = c if c < a else a
                want_max = c if a < c else a
                got_min, got_max = fmin(a, c), fmax(a, c)
                assert _bits(got_min) == _bits(want_min) or (math.isnan(got_min) and math.isnan(want_min))
                assert _bits(got_max) == _bits(want_max) or (math.isnan(got_max) and math.isnan(want_max))
                assert fne(a, c) is (a != c)


def test_recursion_limit_traps_and_engine_survives() -> None:
    """Calls deeper than the limit trap RECURSION at the callee's own position; the depth is restored."""
    with JitEngine([f.module([f.fib()])], recursion_limit=25) as e:
        assert e.call("fib", [25]) == 75025            # fib(25) nests 25 calls: allowed
        with pytest.raises(Trap) as ei:
            e.call("fib", [26])                        # 26 nested calls: one too many
        assert ei.value == Trap(TRAP_RECURSION, function="fib", location="t.rps:1:1")
        assert e.rt.depth == 0
        assert e.call("fib", [20]) == 6765


def _countdown() -> ir.Function:
    r = f.ref("down", (f.I64,), f.I64)
    b = FunctionBuilder(r, ["n"], f.loc(60))
    b.position_at_end(b.append_block("entry"))
    n = b.load(b.params[0])
    with b.if_then(b.icmp("le", n, const(0))):
        b.ret(const(0))
    res = b.call(r, [b.sub(b.load(b.params[0]), const(1))], f.loc(62))
    assert res is not None
    b.ret(b.add(res, const(1)))
    return b.finish()


def test_deep_recursion_default_limit() -> None:
    """10,000 nested native calls run; 10,001 trap cleanly instead of overflowing the stack."""
    with JitEngine([f.module([_countdown()])], opt_level=0) as e:
        assert e.call("down", [9_999]) == 9_999
        with pytest.raises(Trap) as ei:
            e.call("down", [10_000])
        assert ei.value.code == TRAP_RECURSION and ei.value.function == "down"
        assert e.call("down", [100]) == 100


def test_interrupt_infinite_loop_from_timer_thread() -> None:
    """An infinite loop is interrupted from another thread (the GIL is released in native code)."""
    with JitEngine([f.module([f.spin(), f.fib()])]) as e:
        spin = e.function("spin")
        timer = threading.Timer(0.05, e.interrupt)
        timer.start()
        try:
            with pytest.raises(Trap) as ei:
                spin()
        finally:
            timer.cancel()
        assert ei.value == Trap(TRAP_INTERRUPT, function="spin", location="t.rps:21:3")
        assert e.rt.interrupt == 0                     # cleared when reported
        assert e.call("fib", [10]) == 55               # the engine stays usable


def test_bool_abi_round_trip() -> None:
    """bool parameters and results cross the ABI as 0/1 bytes and come back as Python bools."""
    r = f.ref("both", (f.BOOL, f.BOOL), f.BOOL)
    b = FunctionBuilder(r, ["x", "y"], f.loc(70))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.and_(b.load(b.params[0]), b.not_(b.load(b.params[1]))))
    with JitEngine([f.module([b.finish()])]) as e:
        assert [e.call("both", [x, y]) for x in (False, True) for y in (False, True)] == \
            [False, False, True, False]


def _two_modules() -> tuple[ir.Module, ir.Module, ir.Module]:
    fib_ref = f.ref("fib", (f.I64,), f.I64, module_oid=f.module_oid("lib"))
    lib = f.module([f.fib(fib_ref)], name="lib")
    r = f.ref("twice", (f.I64,), f.I64, module_oid=f.module_oid("app"))
    b = FunctionBuilder(r, ["n"], f.loc(80))
    b.position_at_end(b.append_block("entry"))
    x = b.call(fib_ref, [b.load(b.params[0])], f.loc(81))
    assert x is not None
    b.ret(b.mul(x, const(2)))
    app = f.module([b.finish()], name="app")
    other = f.module([f.binop_fn("plus", "add")], name="other", oid=f.module_oid("other"))
    return app, lib, other


def test_lazy_compilation_compiles_only_reachable_modules() -> None:
    """Calling a function compiles its module and the modules it calls, not the others."""
    app, lib, other = _two_modules()
    with JitEngine([app, lib, other]) as e:
        assert e.stats.modules == []
        assert e.call("twice", [10]) == 110
        assert sorted(m.name for m in e.stats.modules) == ["app", "lib"]
        assert e.call("app.twice", [1]) == 2 and e.call("lib.fib", [7]) == 13
        assert len(e.stats.modules) == 2               # nothing recompiled
        assert e.call("plus", [2, 3]) == 5
        assert sorted(m.name for m in e.stats.modules) == ["app", "lib", "other"]


def test_eager_compiles_everything_up_front() -> None:
    """eager=True compiles every module when the engine is created."""
    with JitEngine(list(_two_modules()), eager=True) as e:
        assert sorted(m.name for m in e.stats.modules) == ["app", "lib", "other"]


def test_missing_callee_module_is_a_compile_error() -> None:
    """A module calling a function no loaded module defines is refused before MCJIT links it."""
    from rpsc import CompileError

    app, _lib, _other = _two_modules()
    with JitEngine([app]) as e, pytest.raises(CompileError, match="no loaded module defines"):
        e.call("twice", [1])


def test_bad_calls_are_engine_errors() -> None:
    """Unknown names and wrong arguments raise EngineError, not a crash."""
    with JitEngine([f.module([f.fib()])]) as e:
        with pytest.raises(EngineError, match="no function named"):
            e.call("fob", [1])
        with pytest.raises(EngineError):
            e.call("fib", [1, 2])
        with pytest.raises(EngineError):
            e.call("fib", [2**64])
        assert e.call(f.fib().ref, [12]) == 144          # a FunctionRef works too
        assert e.call(f.fib().symbol, [12]) == 144        # and the native symbol


def test_engines_have_independent_state() -> None:
    """Two engines have their own rps_rt: one's recursion limit and interrupt do not affect the other."""
    m = f.module([f.fib(), f.spin()])
    with JitEngine([m], recursion_limit=5) as small, JitEngine([m]) as big:
        with pytest.raises(Trap):
            small.call("fib", [10])
        assert big.call("fib", [10]) == 55
        small.interrupt()
        assert big.call("fib", [11]) == 89
        with pytest.raises(Trap):
            small.call("spin", [])


def test_recursion_depth_is_exact_across_modules() -> None:
    """Depth counts across modules exactly as in the interpreter (limit 11: twice(10) runs, twice(11) traps)."""
    from rpsc.backends.interp.interp import Interpreter

    modules = list(_two_modules())
    with JitEngine(modules, recursion_limit=11) as jit, Interpreter(modules, recursion_limit=11) as interp:
        assert jit.call("twice", [10]) == interp.call("twice", [10]) == 110
        with pytest.raises(Trap) as got:
            jit.call("twice", [11])
        with pytest.raises(Trap) as want:
            interp.call("twice", [11])
        assert got.value == want.value and got.value.function == "fib"
        assert jit.rt.depth == 0
        assert jit.call("fib", [11]) == 89               # fib alone nests 11 calls: allowed


@pytest.mark.parametrize("opt", [2, 3])
def test_recursion_limit_exact_through_unrolled_copies(opt: int) -> None:
    """With recursion copies (3 inlined at -O2, 5 at -O3) every limit 1..12 lets exactly `limit` calls nest."""
    with JitEngine([f.module([_countdown(), f.fib()])], opt_level=opt, recursion_limit=1) as e:
        for limit in range(1, 13):
            e.rt.depth_limit = limit
            assert e.call("down", [limit - 1]) == limit - 1    # limit nested calls: allowed
            with pytest.raises(Trap) as ei:
                e.call("down", [limit])                         # one more: traps at the callee's site
            assert ei.value == Trap(TRAP_RECURSION, function="down", location="t.rps:60:1")
            assert e.call("fib", [limit]) == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144][limit]
            with pytest.raises(Trap):
                e.call("fib", [limit + 1])
            assert e.rt.depth == 0
