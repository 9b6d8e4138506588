"""Benchmark of the reference interpreter against CPython running the same algorithms written in Python.

    python bench/interp_bench.py [--quick]

Prints, per kernel, the interpreter's time and its ratio to plain CPython (with the same 64-bit wrapping
written out where the kernel needs it), both measured in this run; and how long building the interpreter
(IR from the store, Python code generation) takes.
"""

from __future__ import annotations

import argparse
import statistics
import time

SRC = """module bench;
fn fib(n: int) -> int { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }
fn loop_sum(n: int) -> int { var s = 0; for i in 0 .. n { s = s + i * i; } return s; }
fn mandel(cx: float, cy: float, limit: int) -> int {
  var x = 0.0; var y = 0.0; var i = 0;
  while i < limit && x * x + y * y <= 4.0 { var t = x * x - y * y + cx; y = 2.0 * x * y + cy; x = t; i = i + 1; }
  return i;
}
"""


def py_fib(n: int) -> int:
    return n if n < 2 else py_fib(n - 1) + py_fib(n - 2)


def py_loop_sum(n: int) -> int:
    s = 0
    for i in range(n):
        s = ((s + i * i + 2**63) & (2**64 - 1)) - 2**63
    return s


def py_mandel(cx: float, cy: float, limit: int) -> int:
    x = y = 0.0
    i = 0
    while i < limit and x * x + y * y <= 4.0:
        x, y = x * x - y * y + cx, 2.0 * x * y + cy
        i += 1
    return i


def best(f, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from rpsc.backends.interp.interp import Interpreter
    from rpsc.driver.pipeline import compile_sources, ir_modules

    heap = compile_sources([("bench.rps", SRC)])
    t = time.perf_counter()
    it = Interpreter(ir_modules(heap))
    build = time.perf_counter() - t
    n = 20 if args.quick else 25
    m = 100_000 if args.quick else 1_000_000
    cases = [
        (f"fib({n})", lambda: it.call("fib", [n]), lambda: py_fib(n)),
        (f"loop_sum({m})", lambda: it.call("loop_sum", [m]), lambda: py_loop_sum(m)),
        ("mandel(-0.5,0.5,200000)", lambda: it.call("mandel", [-0.5, 0.5, 200_000]),
         lambda: py_mandel(-0.5, 0.5, 200_000)),
    ]
    print(f"interpreter build (IR + codegen): {build * 1000:.1f} ms")
    ratios = []
    for name, fi, fp in cases:
        assert fi() == fp()
        ti, tp = best(fi, 3), best(fp, 3)
        ratios.append(ti / tp)
        print(f"{name:28s} interp {ti * 1000:8.1f} ms   cpython {tp * 1000:8.1f} ms   ratio {ti / tp:5.2f}x")
    print(f"geometric mean ratio vs CPython: {statistics.geometric_mean(ratios):.2f}x")
    it.close()


if __name__ == "__main__":
    main()
