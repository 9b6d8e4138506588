"""Adversarial edge cases of "one semantics, three executions": each program runs in the interpreter, the
LLVM JIT and a C plugin (built with -Werror and UBSan), and every backend must give the result (bitwise for
floats, NaN-ness only for NaNs) or the trap (code, function, location) derived by hand from LANGUAGE.md and
the IR docstring (rpsc.ir.ir)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from backend_matrix import engines as backend_engines
from backend_matrix import outcome, same_outcome
from rpsc.backends.engine import EngineError, format_result
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_RECURSION, Trap

LIMIT = 50
MIN, MAX = -(2**63), 2**63 - 1
NAN, INF = float("nan"), float("inf")
T, F = True, False

# One function per line: a trap's expected location is found from the function's line (see `at`).
EDGES = r"""module edges;
fn fneg(a: float) -> float { return -a; }
fn fadd(a: float, b: float) -> float { return a + b; }
fn fsub(a: float, b: float) -> float { return a - b; }
fn fmul(a: float, b: float) -> float { return a * b; }
fn fdiv(a: float, b: float) -> float { return a / b; }
fn lit_negzero() -> float { return -0.0; }
fn lit_negzero_mul() -> float { return 0.0 * -1.0; }
fn minf(a: float, b: float) -> float { return min(a, b); }
fn maxf(a: float, b: float) -> float { return max(a, b); }
fn absf(a: float) -> float { return abs(a); }
fn sq(a: float) -> float { return sqrt(a); }
fn self_ne(a: float) -> bool { return a != a; }
fn feq(a: float, b: float) -> bool { return a == b; }
fn fne(a: float, b: float) -> bool { return a != b; }
fn flt(a: float, b: float) -> bool { return a < b; }
fn fle(a: float, b: float) -> bool { return a <= b; }
fn fgt(a: float, b: float) -> bool { return a > b; }
fn fge(a: float, b: float) -> bool { return a >= b; }
fn tof(a: int) -> float { return float(a); }
fn toi(a: float) -> int { return int(a); }
fn lit_toi_min() -> int { return int(-9223372036854775808.0); }
fn lit_toi_big() -> int { return int(9223372036854775808.0); }
fn lit_huge() -> float { return 1.7976931348623157e308; }
fn lit_tiny() -> float { return 4.9406564584124654e-324; }
fn lit_min_normal() -> float { return 2.2250738585072014e-308; }
fn lit_sub_normal() -> float { return 2.225073858507201e-308; }
fn lit_round() -> float { return 123456789012345680.0; }
fn lit_nan_ne() -> bool { var x = 0.0 / 0.0; return x != x; }
fn lit_nan_eq() -> bool { var x = 0.0 / 0.0; return x == x; }
fn lit_min_nan() -> float { return min(0.0 / 0.0, 1.0); }
fn lit_max_nan() -> float { return max(1.0, 0.0 / 0.0); }
fn lit_sqrt_m1() -> float { return sqrt(-1.0); }
fn lit_abs_nz() -> float { return abs(-0.0); }
fn div(a: int, b: int) -> int { return a / b; }
fn rem(a: int, b: int) -> int { return a % b; }
fn shl(a: int, b: int) -> int { return a << b; }
fn shr(a: int, b: int) -> int { return a >> b; }
fn bnot(a: int) -> int { return ~a; }
fn ineg(a: int) -> int { return -a; }
fn iabs(a: int) -> int { return abs(a); }
fn mini(a: int, b: int) -> int { return min(a, b); }
fn maxi(a: int, b: int) -> int { return max(a, b); }
fn imul(a: int, b: int) -> int { return a * b; }
fn iadd(a: int, b: int) -> int { return a + b; }
fn isub(a: int, b: int) -> int { return a - b; }
fn lit_div_min() -> int { return -9223372036854775808 / -1; }
fn lit_rem_min() -> int { return -9223372036854775808 % -1; }
fn lit_shl_neg() -> int { return 1 << -1; }
fn lit_shl_min() -> int { return 1 << -9223372036854775808; }
fn lit_shr_65() -> int { return -8 >> 65; }
fn lit_neg_min() -> int { return -(-9223372036854775808); }
fn lit_abs_min() -> int { return abs(-9223372036854775808); }
fn lit_mul_wrap() -> int { return 9223372036854775807 * 9223372036854775807; }
fn lit_add_wrap() -> int { return 9223372036854775807 + 1; }
fn lit_div0() -> int { return 1 / 0; }
fn lit_rem0() -> int { return 7 % (3 - 3); }
fn lit_hex_min() -> int { return -0x8000000000000000; }
fn lit_max() -> int { return 0x7FFFFFFFFFFFFFFF; }
fn lit_bnot0() -> int { return ~0; }
fn band(a: bool, b: bool) -> bool { return a & b; }
fn bor(a: bool, b: bool) -> bool { return a | b; }
fn bxor(a: bool, b: bool) -> bool { return a ^ b; }
fn lnot(a: bool) -> bool { return !a; }
fn beq(a: bool, b: bool) -> bool { return a == b; }
fn bne(a: bool, b: bool) -> bool { return a != b; }
fn bid(a: bool) -> bool { return lnot(lnot(a)); }
fn sc_and(d: int) -> bool { return d != 0 && 10 / d > 1; }
fn sc_or(d: int) -> bool { return d == 0 || 10 / d > 1; }
fn sc_trap(d: int) -> bool { return d == 0 && 10 / d > 1; }
fn for_rev() -> int { var n = 0; for i in 5 .. 2 { n = n + 1; } return n; }
fn for_empty_min() -> int { var n = 0; for i in 9223372036854775807 .. -9223372036854775808 { n = n + 1; } return n; }
fn for_top() -> int { var n = 0; for i in 9223372036854775805 .. 9223372036854775807 { n = n + i - 9223372036854775800; } return n; }
fn for_once() -> int { var b = 3; var n = 0; for i in 0 .. b { b = b + 1; n = n + 1; } return n * 100 + b; }
fn bump(x: int) -> int { return x + 1; }
fn for_calls(c: int) -> int { var n = 0; for i in bump(c) .. bump(c) + 3 { n = n * 10 + i; } return n; }
fn nested() -> int { var s = 0; for i in 0 .. 5 { if i == 1 { continue; } var j = 0; while true { j = j + 1; if j > 3 { break; } if j == 2 { continue; } s = s + i * 10 + j; } if i == 3 { break; } } return s; }
fn ret_loop(n: int) -> int { var i = 0; while true { for k in 0 .. 100 { if k * i >= n { return k * 1000 + i; } } i = i + 1; } }
fn vcheck(x: int) { if x > 0 { return; } var y = 7 / x; }
fn call_void(x: int) -> int { vcheck(x); return 7; }
fn even(n: int) -> bool { if n == 0 { return true; } return odd(n - 1); }
fn odd(n: int) -> bool { if n == 0 { return false; } return even(n - 1); }
fn selfrec(n: int) -> int { if n == 0 { return 0; } return selfrec(n - 1) + 1; }
fn deep_div(n: int) -> int { if n == 0 { return 1 / n; } return deep_div(n - 1); }
fn callee_div(a: int, b: int) -> int { return a / b; }
fn caller_div(a: int) -> int { return 1 + callee_div(a, 0); }
fn callee_cvt(x: float) -> int { return int(x); }
fn caller_cvt() -> int { return callee_cvt(1.0 / 0.0); }
fn many(a: int, b: float, c: bool, d: int, e: float, f: bool, g: int, h: float, i: bool, j: int, k: float, l: bool, m: int, n: float, o: bool, p: int, q: float, r: bool, s: int, t: float) -> float { var acc = float(a + d + g + j + m + p + s) + b + e + h + k + n + q + t; if c { acc = acc + 1000.0; } if f { acc = acc + 2000.0; } if i { acc = acc + 4000.0; } if l { acc = acc + 8000.0; } if o { acc = acc + 16000.0; } if r { acc = acc + 32000.0; } return acc; }
fn fid(x: float) -> float { return x; }
fn kwsum(lambda: int, None: int, True: int, def: int, pass: int, yield: int, await: int, nonlocal: int, is: int, not: int, and: int, or: int, auto: int, register: int, volatile: int, restrict: int, sizeof: int, goto: int, switch: int, double: int, char: int, signed: int, unsigned: int, long: int, struct: int, union: int, typedef: int, extern: int, static: int, const: int, inline: int, self: int, rt: int, result: int, room: int, depth: int, math: int, sys: int, _: int, __builtins__: int, t0: int, L0: int, l0: int) -> int { return lambda + None + True + def + pass + yield + await + nonlocal + is + not + and + or + auto + register + volatile + restrict + sizeof + goto + switch + double + char + signed + unsigned + long + struct + union + typedef + extern + static + const + inline + self + rt + result + room + depth + math + sys + _ + __builtins__ + t0 + L0 + l0; }
"""

# Two more modules: calls across plugins / LLVM modules, where the depth is handed over through rps_rt.
DOWN = r"""module down;
requires edges;
fn down(n: int, k: int) -> int { if k == 0 { return selfrec(n); } return down(n, k - 1) + 1; }
fn down_trap(n: int, k: int) -> int { if k == 0 { return deep_div(n); } return down_trap(n, k - 1) + 1; }
fn use_bool(a: bool, b: bool) -> int { if bxor(a, b) == lnot(false) { return 1; } return 0; }
fn use_negzero() -> float { return fneg(0.0); }
fn use_void(x: int) -> int { vcheck(x); return 5; }
fn use_many() -> float { return many(1, 0.5, true, 2, 0.25, false, 3, 0.125, true, 4, 1.0, false, 5, 2.0, true, 6, 4.0, false, 7, 8.0); }
"""
TOP = r"""module top;
requires down;
fn top(n: int, k: int, j: int) -> int { if j == 0 { return down(n, k); } return top(n, k, j - 1) + 1; }
"""
KW_PARAMS = len(next(ln for ln in EDGES.splitlines() if ln.startswith("fn kwsum(")).split(": int")) - 1
SOURCES = [("edges.rps", EDGES), ("down.rps", DOWN), ("top.rps", TOP)]
TEXTS = dict(SOURCES)


def at(function: str, snippet: str | None = None) -> str:
    """`file:line:col` of `snippet` on the line defining `function` (its name when no snippet is given)."""
    for file, text in SOURCES:
        for n, line in enumerate(text.splitlines(), 1):
            if line.startswith(f"fn {function}("):
                col = line.index(snippet) if snippet is not None else 3
                assert snippet is None or line.count(snippet) == 1, (function, snippet)
                return f"{file}:{n}:{col + 1}"
    raise AssertionError(f"no function {function}")


def trap(code: int, function: str, snippet: str | None = None) -> tuple[str, object]:
    return "trap", (code, function, at(function, snippet))


def ok(value: object) -> tuple[str, object]:
    return "ok", value


def div0(function: str, snippet: str) -> tuple[str, object]:
    return trap(TRAP_DIVZERO, function, snippet)


def cvt(function: str, snippet: str = "int(") -> tuple[str, object]:
    return trap(TRAP_CONVERSION, function, snippet)


def rec(function: str) -> tuple[str, object]:
    return trap(TRAP_RECURSION, function)


# (function, args, expected), the expected outcome derived by hand from the semantics.
FLOAT_CASES = [
    ("fneg", [0.0], ok(-0.0)), ("fneg", [-0.0], ok(0.0)), ("fneg", [NAN], ok(NAN)),
    ("fadd", [-0.0, 0.0], ok(0.0)), ("fadd", [-0.0, -0.0], ok(-0.0)), ("fsub", [0.0, 0.0], ok(0.0)),
    ("fsub", [-0.0, 0.0], ok(-0.0)), ("fmul", [0.0, -1.0], ok(-0.0)), ("fmul", [1e308, 10.0], ok(INF)),
    ("fdiv", [1.0, -0.0], ok(-INF)), ("fdiv", [-1.0, -0.0], ok(INF)), ("fdiv", [0.0, 0.0], ok(NAN)),
    ("fsub", [INF, INF], ok(NAN)), ("fdiv", [5e-324, 2.0], ok(0.0)), ("fmul", [5e-324, -0.5], ok(-0.0)),
    ("fdiv", [1.0, 3.0], ok(0.3333333333333333)), ("fadd", [0.1, 0.2], ok(0.30000000000000004)),
    ("lit_negzero", [], ok(-0.0)), ("lit_negzero_mul", [], ok(-0.0)),
    # min(a, b) = b < a ? b : a; max(a, b) = a < b ? b : a: with a NaN or zeros of both signs, `a` wins.
    ("minf", [NAN, 1.0], ok(NAN)), ("minf", [1.0, NAN], ok(1.0)), ("minf", [-0.0, 0.0], ok(-0.0)),
    ("minf", [0.0, -0.0], ok(0.0)), ("minf", [NAN, -0.0], ok(NAN)), ("minf", [-0.0, NAN], ok(-0.0)),
    ("minf", [-INF, NAN], ok(-INF)), ("minf", [2.0, 1.0], ok(1.0)),
    ("maxf", [NAN, 1.0], ok(NAN)), ("maxf", [1.0, NAN], ok(1.0)), ("maxf", [-0.0, 0.0], ok(-0.0)),
    ("maxf", [0.0, -0.0], ok(0.0)), ("maxf", [NAN, -0.0], ok(NAN)), ("maxf", [-0.0, NAN], ok(-0.0)),
    ("maxf", [INF, NAN], ok(INF)), ("maxf", [1.0, 2.0], ok(2.0)),
    ("absf", [-0.0], ok(0.0)), ("absf", [-INF], ok(INF)), ("absf", [NAN], ok(NAN)), ("absf", [-5e-324], ok(5e-324)),
    ("sq", [-0.0], ok(-0.0)), ("sq", [0.0], ok(0.0)), ("sq", [-1.0], ok(NAN)), ("sq", [-5e-324], ok(NAN)),
    ("sq", [NAN], ok(NAN)), ("sq", [INF], ok(INF)), ("sq", [-INF], ok(NAN)), ("sq", [2.0], ok(1.4142135623730951)),
    ("self_ne", [NAN], ok(T)), ("self_ne", [INF], ok(F)), ("self_ne", [-0.0], ok(F)),
    ("feq", [NAN, NAN], ok(F)), ("feq", [0.0, -0.0], ok(T)), ("feq", [INF, INF], ok(T)),
    ("fne", [NAN, NAN], ok(T)), ("fne", [NAN, 1.0], ok(T)), ("fne", [0.0, -0.0], ok(F)),
    ("flt", [NAN, 1.0], ok(F)), ("flt", [1.0, NAN], ok(F)), ("flt", [-0.0, 0.0], ok(F)),
    ("fle", [NAN, NAN], ok(F)), ("fle", [-0.0, 0.0], ok(T)), ("fgt", [NAN, -INF], ok(F)),
    ("fge", [NAN, 1.0], ok(F)), ("fge", [1.0, NAN], ok(F)), ("fge", [0.0, -0.0], ok(T)),
    # int -> float rounds to nearest, ties to even.
    ("tof", [MIN], ok(-(2.0**63))), ("tof", [MAX], ok(2.0**63)), ("tof", [2**53 + 1], ok(2.0**53)),
    ("tof", [-(2**53 + 1)], ok(-(2.0**53))), ("tof", [2**53 + 3], ok(2.0**53 + 4)),
    ("tof", [2**63 - 512], ok(2.0**63)), ("tof", [2**63 - 513], ok(9223372036854774784.0)),
    ("tof", [0], ok(0.0)), ("tof", [-1], ok(-1.0)),
    # float -> int truncates; [-2**63, 2**63) converts, the rest (NaN, infinities) traps.
    ("toi", [9223372036854774784.0], ok(9223372036854774784)), ("toi", [9223372036854775808.0], cvt("toi")),
    ("toi", [-9223372036854775808.0], ok(MIN)), ("toi", [-9223372036854777856.0], cvt("toi")),
    ("toi", [0.9999], ok(0)), ("toi", [-0.9999], ok(0)), ("toi", [5e-324], ok(0)), ("toi", [-5e-324], ok(0)),
    ("toi", [-0.0], ok(0)), ("toi", [2.5], ok(2)), ("toi", [-2.5], ok(-2)), ("toi", [1e300], cvt("toi")),
    ("toi", [NAN], cvt("toi")), ("toi", [INF], cvt("toi")), ("toi", [-INF], cvt("toi")),
    ("lit_toi_min", [], ok(MIN)), ("lit_toi_big", [], cvt("lit_toi_big")),
    ("lit_huge", [], ok(1.7976931348623157e308)), ("lit_tiny", [], ok(5e-324)),
    ("lit_min_normal", [], ok(2.2250738585072014e-308)), ("lit_sub_normal", [], ok(2.225073858507201e-308)),
    ("lit_round", [], ok(1.2345678901234568e17)), ("lit_nan_ne", [], ok(T)), ("lit_nan_eq", [], ok(F)),
    ("lit_min_nan", [], ok(NAN)), ("lit_max_nan", [], ok(1.0)), ("lit_sqrt_m1", [], ok(NAN)),
    ("lit_abs_nz", [], ok(0.0)),
]

INT_CASES = [
    ("div", [MIN, -1], ok(MIN)), ("rem", [MIN, -1], ok(0)), ("div", [-7, 2], ok(-3)), ("rem", [-7, 2], ok(-1)),
    ("rem", [7, -2], ok(1)), ("rem", [-7, -2], ok(-1)), ("div", [7, -2], ok(-3)), ("rem", [12345, 1], ok(0)),
    ("rem", [MIN, 1], ok(0)), ("rem", [-5, 1], ok(0)), ("div", [MIN, 1], ok(MIN)), ("rem", [MAX, MIN], ok(MAX)),
    ("div", [MAX, MIN], ok(0)), ("div", [MIN, MAX], ok(-1)), ("rem", [MIN, MAX], ok(-1)),
    ("div", [1, 0], div0("div", "a / b")), ("rem", [MIN, 0], div0("rem", "a % b")),
    ("div", [0, 0], div0("div", "a / b")),
    # shift counts are taken modulo 64 (negative counts too); >> is arithmetic.
    ("shl", [1, 63], ok(MIN)), ("shl", [1, 64], ok(1)), ("shl", [1, 65], ok(2)), ("shl", [1, -1], ok(MIN)),
    ("shl", [1, MIN], ok(1)), ("shl", [1, MAX], ok(MIN)), ("shl", [1, -63], ok(2)), ("shl", [1, -64], ok(1)),
    ("shl", [3, 128], ok(3)), ("shl", [-1, 63], ok(MIN)), ("shl", [MAX, 1], ok(-2)),
    ("shr", [MIN, 63], ok(-1)), ("shr", [MIN, 64], ok(MIN)), ("shr", [MIN, 65], ok(-(2**62))),
    ("shr", [MIN, -1], ok(-1)), ("shr", [MIN, MIN], ok(MIN)), ("shr", [MAX, 63], ok(0)), ("shr", [MAX, -1], ok(0)),
    ("shr", [-7, 1], ok(-4)), ("shr", [-7, 65], ok(-4)), ("shr", [-1, 200], ok(-1)), ("shr", [-8, -63], ok(-4)),
    ("bnot", [0], ok(-1)), ("bnot", [MIN], ok(MAX)), ("bnot", [-1], ok(0)),
    ("ineg", [MIN], ok(MIN)), ("ineg", [MAX], ok(MIN + 1)), ("ineg", [0], ok(0)),
    ("iabs", [MIN], ok(MIN)), ("iabs", [MAX], ok(MAX)), ("iabs", [-1], ok(1)), ("iabs", [MIN + 1], ok(MAX)),
    ("mini", [MIN, MAX], ok(MIN)), ("mini", [MAX, MIN], ok(MIN)), ("maxi", [MIN, MAX], ok(MAX)),
    ("maxi", [MAX, MIN], ok(MAX)), ("mini", [-1, -1], ok(-1)),
    ("imul", [MAX, MAX], ok(1)), ("imul", [MIN, -1], ok(MIN)), ("imul", [MIN, MIN], ok(0)),
    ("imul", [2**40 + 3, 2**40 + 5], ok(8 * 2**40 + 15)), ("imul", [2**32, 2**32], ok(0)),
    ("imul", [3037000500, 3037000500], ok(3037000500**2 - 2**64)),
    ("iadd", [MAX, 1], ok(MIN)), ("iadd", [MIN, -1], ok(MAX)), ("isub", [MIN, 1], ok(MAX)), ("isub", [0, MIN], ok(MIN)),
    ("lit_div_min", [], ok(MIN)), ("lit_rem_min", [], ok(0)), ("lit_shl_neg", [], ok(MIN)),
    ("lit_shl_min", [], ok(1)), ("lit_shr_65", [], ok(-4)), ("lit_neg_min", [], ok(MIN)),
    ("lit_abs_min", [], ok(MIN)), ("lit_mul_wrap", [], ok(1)), ("lit_add_wrap", [], ok(MIN)),
    ("lit_div0", [], div0("lit_div0", "1 / 0")), ("lit_rem0", [], div0("lit_rem0", "7 % (3 - 3)")),
    ("lit_hex_min", [], ok(MIN)), ("lit_max", [], ok(MAX)), ("lit_bnot0", [], ok(-1)),
]

BOOL_CASES = (
    [("band", [a, b], ok(a and b)) for a in (T, F) for b in (T, F)]
    + [("bor", [a, b], ok(a or b)) for a in (T, F) for b in (T, F)]
    + [("bxor", [a, b], ok(a != b)) for a in (T, F) for b in (T, F)]
    + [("beq", [a, b], ok(a == b)) for a in (T, F) for b in (T, F)]
    + [("bne", [a, b], ok(a != b)) for a in (T, F) for b in (T, F)]
    + [("lnot", [T], ok(F)), ("lnot", [F], ok(T)), ("bid", [T], ok(T)), ("bid", [F], ok(F))]
    + [("use_bool", [a, b], ok(1 if a != b else 0)) for a in (T, F) for b in (T, F)]
)

CONTROL_CASES = [
    ("sc_and", [0], ok(F)), ("sc_and", [2], ok(T)), ("sc_or", [0], ok(T)), ("sc_or", [20], ok(F)),
    ("sc_trap", [0], div0("sc_trap", "10 / d")), ("sc_trap", [1], ok(F)),
    ("for_rev", [], ok(0)), ("for_empty_min", [], ok(0)), ("for_top", [], ok(5 + 6)),
    ("for_once", [], ok(306)), ("for_calls", [0], ok(123)), ("nested", [], ok(112)),
    ("ret_loop", [50], ok(50001)), ("ret_loop", [0], ok(0)),
    ("vcheck", [1], ok(None)), ("call_void", [1], ok(7)), ("call_void", [0], div0("vcheck", "7 / x")),
    ("use_void", [0], div0("vcheck", "7 / x")), ("use_void", [3], ok(5)), ("use_negzero", [], ok(-0.0)),
    ("caller_div", [1], div0("callee_div", "a / b")), ("caller_cvt", [], cvt("callee_cvt")),
    ("many", [1, 0.5, T, 2, 0.25, F, 3, 0.125, T, 4, 1.0, F, 5, 2.0, T, 6, 4.0, F, 7, 8.0], ok(21043.875)),
    ("use_many", [], ok(21043.875)),
    # parameters named after Python, C and generated-code words (lambda, None, register, rt, result, t0, ...)
    ("kwsum", list(range(KW_PARAMS)), ok(KW_PARAMS * (KW_PARAMS - 1) // 2)),
]

# Recursion limit 50: a chain of exactly 50 nested calls runs, the 51st traps at its own function's name.
# even(n)/odd(n) make n + 1 nested calls; the call at depth 51 (n = 50 from the top) is `even` when the
# depth is odd, counted from the top's function.
RECURSION_CASES = [
    ("even", [48], ok(T)), ("even", [49], ok(F)), ("odd", [49], ok(T)),
    ("even", [50], rec("even")), ("odd", [50], rec("odd")), ("even", [51], rec("even")), ("odd", [51], rec("odd")),
    ("even", [10_000], rec("even")),
    ("selfrec", [49], ok(49)), ("selfrec", [50], rec("selfrec")), ("selfrec", [51], rec("selfrec")),
    # deep_div(n): n + 1 calls, then a division by zero at the bottom, or the recursion trap first.
    ("deep_div", [48], div0("deep_div", "1 / n")), ("deep_div", [49], div0("deep_div", "1 / n")),
    ("deep_div", [50], rec("deep_div")),
    # Across modules: down(n, k) is k + 1 calls of down then n + 1 of selfrec; top adds j + 1 more.
    ("down", [38, 10], ok(48)), ("down", [39, 10], rec("selfrec")), ("down", [0, 48], ok(48)),
    ("down", [0, 49], rec("selfrec")), ("down", [0, 50], rec("down")), ("top", [0, 0, 47], ok(47)), ("top", [0, 0, 48], rec("selfrec")),
    ("top", [0, 0, 49], rec("down")), ("top", [0, 0, 50], rec("top")), ("top", [29, 10, 8], ok(47)),
    ("top", [30, 10, 8], rec("selfrec")), ("down_trap", [38, 10], div0("deep_div", "1 / n")),
    ("down_trap", [39, 10], rec("deep_div")),
    ("selfrec", [49], ok(49)),  # after all those traps the depth is back to 0
]

CASES = FLOAT_CASES + INT_CASES + BOOL_CASES + CONTROL_CASES + RECURSION_CASES


@pytest.fixture(scope="module")
def modules():  # type: ignore[no-untyped-def]
    """The three edge modules as typed IR, from source."""
    return ir_modules(compile_sources(SOURCES))


@pytest.fixture(scope="module")
def engines(modules, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The interpreter, the JIT (-O2) and the C plugins (three cc runs), all with recursion limit 50."""
    with backend_engines(modules, tmp_path_factory.mktemp("edges"), recursion_limit=LIMIT) as built:
        yield built


def _id(case: tuple[str, list[object], object]) -> str:
    fn, args, _ = case
    return f"{fn}({','.join(map(repr, args))})"[:60]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_edge_case_in_all_three_backends(engines, case):  # type: ignore[no-untyped-def]
    """The call gives the hand-derived result or trap in the interpreter, the JIT and the C plugin alike."""
    fn, args, want = case
    got = {name: outcome(engine, fn, args) for name, engine in engines.items()}
    wrong = {name: g for name, g in got.items() if not same_outcome(g, want)}
    assert not wrong, f"{fn}{args}: expected {want}, got {got}"


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_engine_is_usable_after_deep_traps(engines, backend):
    """After a recursion trap, a trap 49 calls deep and a cross-module trap, the depth is back to 0: a chain of
    exactly the limit runs again (through `call` and, for the JIT, its low-overhead `function` path too)."""
    e = engines[backend]
    for _ in range(3):
        assert outcome(e, "selfrec", [LIMIT + 5])[0] == "trap"
        assert outcome(e, "deep_div", [LIMIT - 1])[1][0] == TRAP_DIVZERO  # type: ignore[index]
        assert outcome(e, "down_trap", [30, 15])[0] == "trap"
        assert e.call("selfrec", [LIMIT - 1]) == LIMIT - 1
        assert e.call("top", [0, 0, LIMIT - 3]) == LIMIT - 3
    if backend == "jit":
        f = e.function("selfrec")
        with pytest.raises(Trap, match="recursion"):
            f(LIMIT)
        assert f(LIMIT - 1) == LIMIT - 1


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_bad_arguments_are_engine_errors(engines, backend):
    """Arguments that do not fit the parameter types (an int too big even for a float, an int out of range, a
    bool for an int, an int for a bool) are EngineErrors, never a crash or a silently wrapped value."""
    e = engines[backend]
    for fn, args in [("fid", [10**400]), ("ineg", [2**63]), ("ineg", [True]), ("lnot", [1]), ("fid", ["1.0"])]:
        with pytest.raises(EngineError):
            e.call(fn, args)
    assert e.call("fid", [2**63 + 1]) == 2.0**63  # an int for a float converts (round to nearest)


def test_results_print_as_documented():
    """`rpsc run` prints float results with repr, keeping -0.0, infinities, subnormals and NaN readable."""
    assert [format_result(v) for v in (-0.0, INF, -INF, NAN, 5e-324, 1e16, 0.1, True, MIN, None)] == [
        "-0.0", "inf", "-inf", "nan", "5e-324", "1e+16", "0.1", "true", str(MIN), ""]


def test_edge_code_survives_the_store(tmp_path: Path):
    """The edge functions dumped to a store and loaded back give the same typed IR, constant for constant
    (-0.0 stays negative, subnormal and INT_MIN literals exact): what `rpsc build` compiles is what was tested."""
    import rpsrt

    heap = compile_sources(SOURCES)
    before = ir_modules(heap)
    rpsrt.dump_store(heap, tmp_path)
    again = ir_modules(rpsrt.load_store(tmp_path))
    assert repr(again) == repr(before)
    assert "value=-0.0" in repr(before) and f"value={MIN}" in repr(before)


@pytest.mark.parametrize("literal, message", [
    ("1e400", "1e400"), ("-1.8e308", "1.8e308"), ("9223372036854775808", "out of range"),
    ("-9223372036854775809", "out of range"), ("0x10000000000000000", "out of range"),
])
def test_literals_out_of_range_are_compile_errors(literal: str, message: str):
    """Float literals that round to infinity and int literals outside 64 bits are located compile errors,
    never a silently wrapped or infinite constant."""
    from rpsc import CompileError

    kind = "float" if "e" in literal else "int"
    src = f"module lits;\nfn f() -> {kind} {{ return {literal}; }}\n"
    with pytest.raises(CompileError, match=r"lits\.rps:2:\d+: error: .*" + message):
        compile_sources([("lits.rps", src)])


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_interrupt_traps_at_the_next_poll(engines, backend):
    """An interrupt requested between calls traps `interrupted` at the next poll: the entry of the next call,
    at the function's name, even for a function without loops; the flag is then clear, and a loop of zero
    iterations or a straight-line call runs normally."""
    from rpsrt.errors import TRAP_INTERRUPT

    e = engines[backend]
    e.interrupt()
    assert outcome(e, "fneg", [1.0]) == ("trap", (TRAP_INTERRUPT, "fneg", at("fneg")))
    assert e.call("fneg", [1.0]) == -1.0
    assert e.call("for_rev", []) == 0
    e.interrupt()
    assert outcome(e, "for_once", []) == ("trap", (TRAP_INTERRUPT, "for_once", at("for_once")))
    assert e.call("for_once", []) == 306


# ------------------------------------------------------------------- every pair of edge operands


def _wrap(x: int) -> int:
    return (x + 2**63) % 2**64 - 2**63


def _int_model(op: str, a: int, b: int) -> tuple[str, object]:
    """LANGUAGE.md's int semantics written out in Python (wrapping, truncating division, counts modulo 64)."""
    if op in ("div", "rem"):
        if b == 0:
            return "divzero", None
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        return "ok", _wrap(q) if op == "div" else a - b * q
    return "ok", {
        "iadd": lambda: _wrap(a + b), "isub": lambda: _wrap(a - b), "imul": lambda: _wrap(a * b),
        "shl": lambda: _wrap(a << (b & 63)), "shr": lambda: a >> (b & 63),
        "mini": lambda: b if b < a else a, "maxi": lambda: b if a < b else a,
    }[op]()


def _float_model(op: str, a: float, b: float) -> object:
    """IEEE-754 binary64 as the IR docstring fixes it (min/max as `b < a ? b : a` / `a < b ? b : a`)."""
    if op == "fdiv" and b == 0.0:
        if a == 0.0 or math.isnan(a):
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)
    return {
        "fadd": lambda: a + b, "fsub": lambda: a - b, "fmul": lambda: a * b, "fdiv": lambda: a / b,
        "minf": lambda: b if b < a else a, "maxf": lambda: b if a < b else a,
        "feq": lambda: a == b, "fne": lambda: a != b, "flt": lambda: a < b, "fle": lambda: a <= b,
        "fgt": lambda: a > b, "fge": lambda: a >= b,
    }[op]()


EDGE_INTS = [0, 1, -1, 2, -2, 7, -7, 63, 64, 65, 2**32, -(2**32), 3037000500, MIN, MIN + 1, MAX, MAX - 1]
EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, INF, -INF, NAN, 5e-324, -5e-324, 1.7976931348623157e308, 2.0**53,
               2.2250738585072014e-308]


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_every_pair_of_edge_ints(engines, backend):
    """Each int operation on every pair of 17 edge operands (0, ±1, ±2, ±7, 63..65, ±2**32, INT_MIN(+1),
    INT_MAX(-1), ...) gives what the semantics written out in Python give; division by zero traps."""
    e = engines[backend]
    bad = []
    for op in ("div", "rem", "iadd", "isub", "imul", "shl", "shr", "mini", "maxi"):
        for a in EDGE_INTS:
            for b in EDGE_INTS:
                kind, want = _int_model(op, a, b)
                got = outcome(e, op, [a, b])
                ok_ = (got[0] == "trap" and got[1][0] == TRAP_DIVZERO) if kind == "divzero" else got == ("ok", want)  # type: ignore[index]
                if not ok_:
                    bad.append((op, a, b, want, got))
    assert not bad, bad[:10]


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_every_pair_of_edge_floats(engines, backend):
    """Each float operation and comparison on every pair of 13 edge operands (signed zeros, infinities, NaN,
    subnormals, the largest double, 2**53, ...) gives the IEEE result (same bits; NaN-ness for NaNs)."""
    e = engines[backend]
    bad = []
    for op in ("fadd", "fsub", "fmul", "fdiv", "minf", "maxf", "feq", "fne", "flt", "fle", "fgt", "fge"):
        for a in EDGE_FLOATS:
            for b in EDGE_FLOATS:
                want = ("ok", _float_model(op, a, b))
                got = outcome(e, op, [a, b])
                if not same_outcome(got, want):
                    bad.append((op, a, b, want, got))
    assert not bad, bad[:10]
