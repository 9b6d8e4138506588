"""Frontend speed: parse + check (+ lower) of 1,000 generated functions, against a bare Lark parse of the same text.

    python bench/frontend_bench.py [--functions 1000] [--repeat 5]

Prints the best of `--repeat` runs of each step, all measured in the same process, and the ratio of the whole
frontend (our parse with its inline transformer, plus the checker) to Lark's own parse with the same grammar
and no transformer (which builds a Lark parse tree). Target: within 3x. Lowering into a heap is timed when
`rpsc.heapcode.encode.lower` is importable, and reported apart (it is not part of the ratio).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def generate(n: int) -> str:
    """A module of `n` small functions using every statement kind (about 70 KB for 1,000)."""
    out = ["module bench version \"1.0.0\";\n"]
    for i in range(n):
        k = i % 5
        if k == 0:
            out.append(f"fn f{i}(n: int) -> int {{ var x = n * {i} + 1; if x > 9 {{ x = 1; }} return x; }}\n")
        elif k == 1:
            out.append(f"fn f{i}(a: float, b: float) -> float {{ return a * b - {i}.5; }}\n")
        elif k == 2:
            out.append(f"fn f{i}(n: int) -> int {{ var s = 0; for j in 0 .. n {{ s = s ^ j; }} return s; }}\n")
        elif k == 3:
            out.append(f"fn f{i}(n: int) -> bool {{ var c = 0; while c < n {{ c = c + 1; }} return !(c < n); }}\n")
        else:
            out.append(f"fn f{i}(n: int) -> int {{ if n < 2 {{ return n; }} return f{i - 4}(n - 1); }}\n")
    return "".join(out)


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from rpsc.frontend import parser as rps_parser
    from rpsc.frontend.check import check

    text = generate(args.functions)
    print(f"source: {args.functions} functions, {len(text) / 1000:.1f} KB")

    t_build_cached, _ = best(lambda: rps_parser.make_lark(transformer=rps_parser._AstBuilder()), args.repeat)
    t_build_nocache, _ = best(lambda: rps_parser.make_lark(cache=False), 1)
    print(f"building the parser: {t_build_cached * 1000:.1f} ms from the cache, "
          f"{t_build_nocache * 1000:.0f} ms without it")

    bare_pp = rps_parser.make_lark(propagate_positions=True)
    bare = rps_parser.make_lark(propagate_positions=False)
    t_bare_pp, _ = best(lambda: bare_pp.parse(text, start="start"), args.repeat)
    t_bare, _ = best(lambda: bare.parse(text, start="start"), args.repeat)
    t_parse, module = best(lambda: rps_parser.parse(text, "bench.rps"), args.repeat)
    t_check, _ = best(lambda: check([module]), args.repeat)
    total = t_parse + t_check

    print(f"lark bare parse (tree, propagate_positions): {t_bare_pp * 1000:8.1f} ms")
    print(f"lark bare parse (tree, no positions):        {t_bare * 1000:8.1f} ms")
    print(f"rpsc parse (inline transformer -> AST):      {t_parse * 1000:8.1f} ms")
    print(f"rpsc check:                                  {t_check * 1000:8.1f} ms")
    print(f"frontend (parse + check):                    {total * 1000:8.1f} ms = "
          f"{total / t_bare_pp:.2f}x the bare Lark parse with positions "
          f"({total / t_bare:.2f}x without; target <= 3x)")

    try:
        from rpsc.heapcode.encode import lower
        from rpsc.driver.pipeline import new_heap
    except ImportError as exc:
        print(f"lowering: not measured (rpsc.heapcode.encode not importable: {exc})")
        return

    def lower_once() -> Any:
        return lower([module], new_heap())

    t_heap, _ = best(new_heap, args.repeat)
    t_lower, _ = best(lower_once, max(1, args.repeat // 2))
    t_lower -= t_heap
    print(f"rpsc lower into a fresh heap:                {t_lower * 1000:8.1f} ms "
          f"(heap creation of {t_heap * 1000:.1f} ms subtracted)")
    print(f"frontend with lowering:                      {(total + t_lower) * 1000:8.1f} ms = "
          f"{(total + t_lower) / t_bare_pp:.2f}x the bare Lark parse with positions")


if __name__ == "__main__":
    main()
