"""LANGUAGE.md's semantics, rule by rule, run through the reference interpreter from real `.rps` source."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import rpsrt
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsc.backends.engine import EngineError
from rpsc.backends.interp.interp import Interpreter
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION, Trap

from .conftest import interp_of

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
i64 = st.integers(INT_MIN, INT_MAX)

SRC = """module sem version "1.0.0";

fn add(a: int, b: int) -> int { return a + b; }
fn sub(a: int, b: int) -> int { return a - b; }
fn mul(a: int, b: int) -> int { return a * b; }
fn neg(a: int) -> int { return -a; }
fn div(a: int, b: int) -> int { return a / b; }
fn rem(a: int, b: int) -> int { return a % b; }
fn shl(a: int, b: int) -> int { return a << b; }
fn shr(a: int, b: int) -> int { return a >> b; }
fn band(a: int, b: int) -> int { return a & b; }
fn bor(a: int, b: int) -> int { return a | b; }
fn bxor(a: int, b: int) -> int { return a ^ b; }
fn bnot(a: int) -> int { return ~a; }
fn iabs(a: int) -> int { return abs(a); }
fn imin(a: int, b: int) -> int { return min(a, b); }
fn imax(a: int, b: int) -> int { return max(a, b); }
fn fadd(a: float, b: float) -> float { return a + b; }
fn fmul(a: float, b: float) -> float { return a * b; }
fn fdiv(a: float, b: float) -> float { return a / b; }
fn fneg(a: float) -> float { return -a; }
fn fsqrt(a: float) -> float { return sqrt(a); }
fn fabs(a: float) -> float { return abs(a); }
fn fmin(a: float, b: float) -> float { return min(a, b); }
fn fmax(a: float, b: float) -> float { return max(a, b); }
fn flt(a: float, b: float) -> bool { return a < b; }
fn feq(a: float, b: float) -> bool { return a == b; }
fn fne(a: float, b: float) -> bool { return a != b; }
fn toint(f: float) -> int { return int(f); }
fn tofloat(i: int) -> float { return float(i); }
fn lit_min() -> int { return -9223372036854775808; }
fn not_(b: bool) -> bool { return !b; }
fn beq(a: bool, b: bool) -> bool { return a == b; }
fn and_sc(a: int) -> bool { return a != 0 && 10 / a > 1; }
fn or_sc(a: int) -> bool { return a == 0 || 10 / a > 1; }
fn for_once(n: int) -> int {
  var count = 0;
  for i in 0 .. n { n = n - 1; count = count + 1; }
  return count;
}
fn for_sum(a: int, b: int) -> int {
  var s = 0;
  for i in a .. b { s = s + i; }
  return s;
}
fn loops(n: int) -> int {
  var s = 0;
  var i = 0;
  while true {
    i = i + 1;
    if i > n { break; }
    if i % 2 == 0 { continue; }
    s = s + i;
  }
  return s;
}
fn shadow(x: int) -> int {
  var y = x;
  { var y = 100; x = x + y; }
  return x + y;
}
fn depth(n: int) -> int {
  if n <= 1 { return 1; }
  return depth(n - 1) + 1;
}
fn calls_div(a: int) -> int { return div(1, a) + 1; }
fn spin() -> int {
  var i = 0;
  while i >= 0 { i = i + 1; if i == 2000000000 { i = 0; } }
  return i;
}
fn spin_for() -> int {
  var s = 0;
  for i in 0 .. 9223372036854775807 { s = s + 1; }
  return s;
}
fn noop(a: int) { if a > 0 { return; } }
fn use_void(a: int) -> int { noop(a); return a; }
fn else_chain(a: int) -> int {
  if a < 0 { return -1; } else if a == 0 { return 0; } else { return 1; }
}
"""


@pytest.fixture(scope="module")
def it() -> Iterator[Interpreter]:
    """One interpreter over SRC for the whole module."""
    interp = interp_of(SRC, "sem.rps")
    yield interp
    interp.close()


def where(needle: str) -> str:
    """`sem.rps:line:col` of the first occurrence of `needle` in SRC."""
    idx = SRC.index(needle)
    line = SRC.count("\n", 0, idx) + 1
    col = idx - (SRC.rfind("\n", 0, idx) + 1) + 1
    return f"sem.rps:{line}:{col}"


def trap_of(it: Interpreter, fn: str, *args: object) -> Trap:
    with pytest.raises(Trap) as info:
        it.call(fn, list(args))  # type: ignore[arg-type]
    return info.value


def wrap(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


def tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return wrap(q if (a < 0) == (b < 0) else -q)


# ---------------------------------------------------------------- int arithmetic wraps


def test_add_sub_mul_wrap_edges(it: Interpreter) -> None:
    """`+ - *` wrap modulo 2**64 at the edges of the int range."""
    assert it.call("add", [INT_MAX, 1]) == INT_MIN
    assert it.call("sub", [INT_MIN, 1]) == INT_MAX
    assert it.call("mul", [INT_MAX, 2]) == -2
    assert it.call("mul", [INT_MIN, -1]) == INT_MIN
    assert it.call("neg", [INT_MIN]) == INT_MIN
    assert it.call("lit_min", []) == INT_MIN


@settings(max_examples=200)
@given(a=i64, b=i64)
def test_wrapping_matches_modular_arithmetic(it: Interpreter, a: int, b: int) -> None:
    """For any ints, `+ - *` equal the exact result reduced modulo 2**64 (two's complement)."""
    assert it.call("add", [a, b]) == wrap(a + b)
    assert it.call("sub", [a, b]) == wrap(a - b)
    assert it.call("mul", [a, b]) == wrap(a * b)


# ---------------------------------------------------------------- division


def test_division_truncates_toward_zero(it: Interpreter) -> None:
    """`/` and `%` truncate toward zero: -7/2 == -3, -7%2 == -1, and the mixed-sign cases."""
    assert [it.call("div", [a, b]) for a, b in [(-7, 2), (7, -2), (-7, -2), (7, 2)]] == [-3, -3, 3, 3]
    assert [it.call("rem", [a, b]) for a, b in [(-7, 2), (7, -2), (-7, -2), (7, 2)]] == [-1, 1, -1, 1]


def test_int_min_div_minus_one(it: Interpreter) -> None:
    """INT_MIN / -1 is INT_MIN and INT_MIN % -1 is 0 (no trap)."""
    assert it.call("div", [INT_MIN, -1]) == INT_MIN
    assert it.call("rem", [INT_MIN, -1]) == 0


@settings(max_examples=200)
@given(a=i64, b=i64.filter(lambda x: x != 0))
def test_division_identity(it: Interpreter, a: int, b: int) -> None:
    """a == b*(a/b) + a%b (modulo 2**64), with the quotient truncated toward zero."""
    q, r = it.call("div", [a, b]), it.call("rem", [a, b])
    assert q == tdiv(a, b)
    assert wrap(b * q + r) == a  # type: ignore[operator]
    assert abs(r) < abs(b)  # type: ignore[arg-type]


def test_division_by_zero_traps_with_location(it: Interpreter) -> None:
    """x / 0 and x % 0 trap DIVZERO naming the function and the expression's file:line:col."""
    t = trap_of(it, "div", 5, 0)
    assert (t.code, t.kind, t.function, t.location) == (TRAP_DIVZERO, "division by zero", "div", where("a / b"))
    t = trap_of(it, "rem", 5, 0)
    assert (t.code, t.function, t.location) == (TRAP_DIVZERO, "rem", where("a % b"))
    assert isinstance(t, RuntimeError)


def test_trap_propagates_from_callee_unchanged(it: Interpreter) -> None:
    """A trap in a callee surfaces with the callee's name and location, not the caller's."""
    t = trap_of(it, "calls_div", 0)
    assert (t.function, t.location) == ("div", where("a / b"))
    assert it.call("calls_div", [1]) == 2


# ---------------------------------------------------------------- shifts and bits


def test_shift_counts_modulo_64(it: Interpreter) -> None:
    """`<<`/`>>` take the count modulo 64 (1 << 64 == 1) and `>>` is arithmetic."""
    assert it.call("shl", [1, 64]) == 1
    assert it.call("shl", [1, 65]) == 2
    assert it.call("shl", [1, 63]) == INT_MIN
    assert it.call("shl", [1, -1]) == INT_MIN
    assert it.call("shl", [3, 62]) == INT_MIN + 2**62
    assert it.call("shr", [-8, 1]) == -4
    assert it.call("shr", [-1, 63]) == -1
    assert it.call("shr", [INT_MIN, 64]) == INT_MIN
    assert it.call("shr", [INT_MAX, 62]) == 1


@settings(max_examples=100)
@given(a=i64, b=i64)
def test_bitwise_ops(it: Interpreter, a: int, b: int) -> None:
    """& | ^ ~ are two's-complement bitwise operations; shifts agree with a 64-bit model."""
    assert it.call("band", [a, b]) == a & b
    assert it.call("bor", [a, b]) == a | b
    assert it.call("bxor", [a, b]) == a ^ b
    assert it.call("bnot", [a]) == ~a
    assert it.call("shl", [a, b]) == wrap(a << (b % 64))
    assert it.call("shr", [a, b]) == a >> (b % 64)


def test_abs_min_max_int(it: Interpreter) -> None:
    """abs wraps at INT_MIN; min and max pick the smaller and larger int."""
    assert it.call("iabs", [-5]) == 5
    assert it.call("iabs", [INT_MIN]) == INT_MIN
    assert (it.call("imin", [3, -4]), it.call("imax", [3, -4])) == (-4, 3)


# ---------------------------------------------------------------- floats


def test_float_ieee(it: Interpreter) -> None:
    """Floats are IEEE binary64: rounding, infinities from division by zero, NaN, signed zero."""
    assert it.call("fadd", [0.1, 0.2]) == 0.30000000000000004
    assert it.call("fdiv", [1.0, 0.0]) == math.inf
    assert it.call("fdiv", [-1.0, 0.0]) == -math.inf
    assert it.call("fdiv", [1.0, -0.0]) == -math.inf
    assert math.isnan(it.call("fdiv", [0.0, 0.0]))  # type: ignore[arg-type]
    assert it.call("fmul", [1e308, 10.0]) == math.inf
    assert math.copysign(1.0, it.call("fneg", [0.0])) == -1.0  # type: ignore[arg-type]


def test_sqrt_and_abs_float(it: Interpreter) -> None:
    """sqrt is IEEE (NaN for negatives, -0.0 stays -0.0); abs clears the sign bit."""
    assert it.call("fsqrt", [2.0]) == math.sqrt(2.0)
    assert math.isnan(it.call("fsqrt", [-1.0]))  # type: ignore[arg-type]
    assert math.isnan(it.call("fsqrt", [-math.inf]))  # type: ignore[arg-type]
    assert math.copysign(1.0, it.call("fsqrt", [-0.0])) == -1.0  # type: ignore[arg-type]
    assert it.call("fabs", [-2.5]) == 2.5
    assert math.copysign(1.0, it.call("fabs", [-0.0])) == 1.0  # type: ignore[arg-type]


def test_nan_comparisons_and_minmax(it: Interpreter) -> None:
    """Comparisons with NaN are false except `!=`; min(a,b) is `b < a ? b : a`, max `a < b ? b : a`."""
    nan = math.nan
    assert it.call("flt", [nan, 1.0]) is False
    assert it.call("feq", [nan, nan]) is False
    assert it.call("fne", [nan, nan]) is True
    assert it.call("fmin", [1.0, nan]) == 1.0
    assert math.isnan(it.call("fmin", [nan, 1.0]))  # type: ignore[arg-type]
    assert it.call("fmax", [1.0, nan]) == 1.0
    assert math.isnan(it.call("fmax", [nan, 1.0]))  # type: ignore[arg-type]


def test_int_conversion_truncates(it: Interpreter) -> None:
    """int(f) truncates toward zero; float(i) rounds to nearest; the int range edge converts."""
    assert it.call("toint", [2.7]) == 2
    assert it.call("toint", [-2.7]) == -2
    assert it.call("toint", [-9.223372036854775808e18]) == INT_MIN
    assert it.call("toint", [9.223372036854774784e18]) == 9223372036854774784
    assert it.call("tofloat", [2**53 + 1]) == float(2**53)
    assert it.call("tofloat", [INT_MIN]) == -9.223372036854775808e18


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e19, -1e19, 9.223372036854775808e18])
def test_invalid_conversion_traps(it: Interpreter, value: float) -> None:
    """int(nan), int(±inf) and values outside [-2**63, 2**63) trap CONVERSION at the `int(...)` call."""
    t = trap_of(it, "toint", value)
    assert (t.code, t.kind, t.function, t.location) == (TRAP_CONVERSION, "invalid conversion", "toint",
                                                         where("int(f)"))


# ---------------------------------------------------------------- control flow


def test_bool_ops(it: Interpreter) -> None:
    """`!` negates a bool; `==` compares bools."""
    assert it.call("not_", [True]) is False
    assert it.call("beq", [True, True]) is True
    assert it.call("beq", [True, False]) is False


def test_short_circuit(it: Interpreter) -> None:
    """`&&` and `||` do not evaluate their right side when the left decides (no division by zero)."""
    assert it.call("and_sc", [0]) is False
    assert it.call("and_sc", [5]) is True
    assert it.call("or_sc", [0]) is True
    assert it.call("or_sc", [20]) is False


def test_for_evaluates_bounds_once(it: Interpreter) -> None:
    """`for i in a .. b` evaluates b once: changing `n` in the body does not change the trip count."""
    assert it.call("for_once", [10]) == 10
    assert it.call("for_sum", [3, 7]) == 3 + 4 + 5 + 6
    assert it.call("for_sum", [5, 5]) == 0
    assert it.call("for_sum", [5, -5]) == 0


def test_while_break_continue(it: Interpreter) -> None:
    """break leaves the loop, continue goes to the next iteration."""
    assert it.call("loops", [10]) == 1 + 3 + 5 + 7 + 9


def test_block_scoping_and_param_assignment(it: Interpreter) -> None:
    """An inner `var` shadows without touching the outer variable; parameters are assignable."""
    assert it.call("shadow", [1]) == 101 + 1


def test_void_and_else_if(it: Interpreter) -> None:
    """A void function returns None; `else if` chains pick the right branch."""
    assert it.call("noop", [1]) is None
    assert it.call("use_void", [7]) == 7
    assert [it.call("else_chain", [v]) for v in (-5, 0, 5)] == [-1, 0, 1]


# ---------------------------------------------------------------- recursion limit


def test_recursion_exactly_at_the_limit(it: Interpreter) -> None:
    """10,000 nested calls (the default limit) run; 10,001 trap RECURSION at the function's position."""
    assert it.recursion_limit == rpsrt.errors.DEFAULT_RECURSION_LIMIT == 10_000
    assert it.call("depth", [10_000]) == 10_000
    t = trap_of(it, "depth", 10_001)
    assert (t.code, t.kind, t.function, t.location) == (TRAP_RECURSION, "recursion too deep", "depth",
                                                         where("depth(n: int)"))
    assert it.call("depth", [3]) == 3  # the depth counter is reset after a trap


def test_recursion_limit_is_configurable(make_interp) -> None:  # type: ignore[no-untyped-def]
    """With recursion_limit=50, 50 nested calls run and 51 trap."""
    small = make_interp(SRC, "sem.rps", recursion_limit=50)
    assert small.call("depth", [50]) == 50
    assert trap_of(small, "depth", 51).code == TRAP_RECURSION


@pytest.mark.slow
def test_deep_limit_does_not_crash_python(make_interp) -> None:  # type: ignore[no-untyped-def]
    """A limit far above Python's default recursion limit still traps cleanly, exactly at the limit."""
    big = make_interp(SRC, "sem.rps", recursion_limit=100_000)
    assert big.call("depth", [100_000]) == 100_000
    assert trap_of(big, "depth", 100_001).code == TRAP_RECURSION


# ---------------------------------------------------------------- interrupts


@pytest.mark.parametrize("fn,needle", [("spin", "while i >= 0"), ("spin_for", "for i in 0 .. 9223372036854775807")])
def test_interrupt_from_another_thread(it: Interpreter, fn: str, needle: str) -> None:
    """engine.interrupt() from another thread makes the next loop back-edge trap INTERRUPT at the loop."""
    timer = threading.Timer(0.2, it.interrupt)
    timer.start()
    t = trap_of(it, fn)
    timer.join()
    assert (t.code, t.kind, t.function, t.location) == (TRAP_INTERRUPT, "interrupted", fn, where(needle))
    assert it.call("add", [1, 2]) == 3  # the flag was cleared by the trap


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_in_python_traps_interrupt(it: Interpreter) -> None:
    """A KeyboardInterrupt (SIGINT) while Python waits in call() interrupts the loop: an INTERRUPT trap."""
    assert threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t = trap_of(it, "spin")
    timer.join()
    assert (t.code, t.function, t.location) == (TRAP_INTERRUPT, "spin", where("while i >= 0"))


def test_interrupt_flag_is_consumed_once(it: Interpreter) -> None:
    """An interrupt set while nothing runs traps the next loop once, then the flag is clear."""
    it.interrupt()
    assert trap_of(it, "loops", 5).code == TRAP_INTERRUPT
    assert it.call("loops", [5]) == 9


# ---------------------------------------------------------------- the engine interface


def test_call_errors(it: Interpreter) -> None:
    """Unknown functions, wrong arity and wrong argument types are EngineErrors (rpsrt.Error), not crashes."""
    with pytest.raises(EngineError, match="did you mean"):
        it.call("ad", [1, 2])
    with pytest.raises(EngineError, match="takes 2"):
        it.call("add", [1])
    with pytest.raises(EngineError, match="must be an int"):
        it.call("add", [1.5, 2])
    with pytest.raises(EngineError, match="range"):
        it.call("add", [2**63, 2])


def test_call_by_symbol_and_qualified_name(it: Interpreter) -> None:
    """A function is callable by `name`, `module.name`, its `rpsfn<oid>` symbol and its FunctionRef."""
    ref = next(f.ref for m in it.modules for f in m.functions if f.name == "add")
    from rpsc.ir.ir import symbol_of

    assert ref.symbol == symbol_of(ref.oid)
    assert it.call("sem.add", [1, 2]) == it.call(ref.symbol, [1, 2]) == it.call(ref, [1, 2]) == 3


def test_interrupt_does_not_linger_after_close() -> None:
    """close() stops the worker thread; a closed interpreter can still be garbage collected quietly."""
    interp = interp_of("module c; fn one() -> int { return 1; }", "c.rps")
    assert interp.call("one", []) == 1
    interp.close()
    time.sleep(0.05)
    assert not any(t.name == "rpsc-interp" and t.is_alive() and t is interp._worker for t in threading.enumerate())


def test_missing_callee_module_is_a_clear_error() -> None:
    """An interpreter given a module without the module it calls into refuses with an EngineError."""
    from rpsc.driver.pipeline import compile_sources, ir_modules

    heap = compile_sources([("a.rps", "module a; fn one() -> int { return 1; }"),
                            ("b.rps", "module b; requires a; fn two() -> int { return one() + 1; }")])
    mods = ir_modules(heap)
    with Interpreter(mods) as both:
        assert both.call("two", []) == 2
    with pytest.raises(EngineError, match="not loaded"):
        Interpreter([m for m in mods if m.name == "b"])
