"""Dispatch overhead of the plugin host: extension-point calls against direct ctypes calls, same run.

Builds plugins_src/hello_c with the system `cc` into a temporary folder, loads it, and times:
  direct   a ctypes call of the native `combine` implementation (prototype and result buffer prebuilt),
           and the same allocating its result per call (what any reentrant caller must do)
  point    the same function through ExtensionPoint (mode `first`): `point(a, b)` -> int, traps checked
  all      the same through a mode-`all` point with that one implementation (returns a list)
  function mgr.function("hello_gcd", ...) against a direct ctypes call of hello_gcd
  python   a `first` point implemented by a Python lambda (the floor of dispatch cost)
Run: python bench/plugin_bench.py [--seconds S]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rpsrt.plugins import PluginManager, compile_c_plugin

HELLO = Path(__file__).resolve().parent.parent / "plugins_src" / "hello_c" / "hello.c"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn` (best of 3 rounds, each ~seconds/3, 1000 calls per check)."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(1000):
                fn()
            n += 1000
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        compile_c_plugin([HELLO], Path(tmp) / "hello_c.so")
        mgr = PluginManager([tmp], use_env=False)
        first = mgr.declare("combine", "i64(i64,i64)", "first")
        mgr.load("hello_c")
        impl = first.implementations[0]
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.c_int64)
        direct_fn = proto(impl.address)
        out = ctypes.c_int64()
        ref = ctypes.byref(out)

        def direct() -> int:
            direct_fn(ref, 20, 22)
            return out.value

        c_int64 = ctypes.c_int64

        def direct_fresh() -> int:
            result = c_int64()          # a result per call, as a reentrant caller must
            direct_fn(result, 20, 22)
            return result.value

        gcd = mgr.function("hello_gcd", "i64(i64,i64)")
        gcd_direct = proto(mgr.loaded["hello_c"].address("hello_gcd"))

        def gcd_raw() -> int:
            gcd_direct(ref, 84, 36)
            return out.value

        assert direct() == first(20, 22) == 42 and gcd(84, 36) == gcd_raw() == 12
        results = {
            "direct ctypes (combine impl)": rate(direct, args.seconds),
            "direct ctypes, fresh result buffer": rate(direct_fresh, args.seconds),
            "ExtensionPoint first": rate(lambda: first(20, 22), args.seconds),
            "direct ctypes (hello_gcd)": rate(gcd_raw, args.seconds),
            "mgr.function(hello_gcd)": rate(lambda: gcd(84, 36), args.seconds),
        }
        mgr.unload("hello_c")
        mgr2 = PluginManager([tmp], use_env=False)
        allp = mgr2.declare("combine", "i64(i64,i64)", "all")
        mgr2.load("hello_c")
        results["ExtensionPoint all (1 impl)"] = rate(lambda: allp(20, 22), args.seconds)
        mgr2.close()
        pyp = PluginManager(use_env=False).declare("combine", "i64(i64,i64)", "first")
        pyp.register("add", lambda a, b: a + b)
        results["ExtensionPoint first -> Python lambda"] = rate(lambda: pyp(20, 22), args.seconds)
    base = results["direct ctypes (combine impl)"]
    gbase = results["direct ctypes (hello_gcd)"]
    print(f"{'path':40} {'calls/s':>12} {'vs direct':>10}")
    for name, r in results.items():
        peer = gbase if "gcd" in name else base
        print(f"{name:40} {r:12,.0f} {r / peer:10.2f}x")


if __name__ == "__main__":
    main()
