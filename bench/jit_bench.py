"""Benchmark of the LLVM JIT: compile latency (cold, per function, warm from the cache) and the speed of the
generated code against gcc -O2 (a shared object called through ctypes), CPython and, when importable, numba.

    python bench/jit_bench.py [--quick] [--json]

Every figure comes from this one run; ratios are against peers measured in the same run. numba is looked
for in the venv, then in $RPSC_NUMBA_PATH (e.g. `pip install --target /tmp/rpsc-numba numba`, which keeps
the venv's llvmlite untouched). First-compile latencies (ours and numba's) are the best of three fresh
subprocesses each, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FIB_RPS = """
fn fib(n: int) -> int {
  if n < 2 { return n; }
  return fib(n - 1) + fib(n - 2);
}
"""
KERNELS_RPS = """
fn add1(n: int) -> int { return n + 1; }

fn ikernel(n: int) -> int {
  var s = 0;
  for i in 0 .. n {
    for j in 0 .. n {
      s = s + ((i * j) ^ (i + j)) % 7;
    }
  }
  return s;
}

fn fkernel(n: int) -> float {
  var s = 0.0;
  var x = 0.5;
  for i in 0 .. n {
    x = x * 0.999999 + 0.25 / (float(i) + 1.0);
    s = s + sqrt(x);
  }
  return s;
}
"""
KERNELS_C = r"""
#include <stdint.h>
#include <math.h>
int64_t add1(int64_t n) { return n + 1; }
int64_t fib(int64_t n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }
int64_t ikernel(int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++)
      s = s + ((i * j) ^ (i + j)) % 7;
  return s;
}
double fkernel(int64_t n) {
  double s = 0.0, x = 0.5;
  for (int64_t i = 0; i < n; i++) {
    x = x * 0.999999 + 0.25 / ((double)i + 1.0);
    s = s + sqrt(x);
  }
  return s;
}
"""


# The same fib as plain LLVM IR (no depth counter, no status), through the same llvmlite pipeline: it
# separates the cost of rpsc's run-time checks from LLVM's own code quality next to gcc's.
PLAIN_FIB_LL = """
define i64 @plain_fib(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %base, label %rec
base:
  ret i64 %n
rec:
  %a = sub i64 %n, 1
  %x = call i64 @plain_fib(i64 %a)
  %b = sub i64 %n, 2
  %y = call i64 @plain_fib(i64 %b)
  %s = add i64 %x, %y
  ret i64 %s
}
"""


def plain_llvm_fib():  # type: ignore[no-untyped-def]
    import llvmlite.binding as llvm
    from rpsc.backends.llvm.jit import create_target_machine, host_target_key, optimize, parse_ir

    key = host_target_key(2)
    mod = parse_ir(PLAIN_FIB_LL, "plain", create_target_machine(key, jit=True))
    optimize(mod, create_target_machine(key, jit=True), 2)
    ee = llvm.create_mcjit_compiler(mod, create_target_machine(key, jit=True))
    ee.finalize_object()
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(ee.get_function_address("plain_fib"))
    return fn, ee


def py_fib(n: int) -> int:
    return n if n < 2 else py_fib(n - 1) + py_fib(n - 2)


def py_ikernel(n: int) -> int:
    s = 0
    for i in range(n):
        for j in range(n):
            s += ((i * j) ^ (i + j)) % 7
    return s


def py_fkernel(n: int) -> float:
    s, x = 0.0, 0.5
    for i in range(n):
        x = x * 0.999999 + 0.25 / (float(i) + 1.0)
        s += x ** 0.5
    return s


def best(fn, *args, repeat: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), result


def many_functions_source(n: int) -> str:
    parts = ["module many;"]
    for i in range(n):
        parts.append(f"fn f{i}(x: int, y: int) -> int {{ var s = x; for k in 0 .. y {{ s = s * 3 + k ^ {i}; }}"
                     f" if s > {i} {{ return s - {i}; }} return s + y; }}")
    return "\n".join(parts)


def compile_c(workdir: Path) -> ctypes.CDLL | None:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return None
    src, lib = workdir / "kernels.c", workdir / "libkernels.so"
    src.write_text(KERNELS_C)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    dll = ctypes.CDLL(str(lib))
    dll.add1.argtypes = [ctypes.c_int64]
    dll.add1.restype = ctypes.c_int64
    dll.fib.argtypes = [ctypes.c_int64]
    dll.fib.restype = ctypes.c_int64
    dll.ikernel.argtypes = [ctypes.c_int64]
    dll.ikernel.restype = ctypes.c_int64
    dll.fkernel.argtypes = [ctypes.c_int64]
    dll.fkernel.restype = ctypes.c_double
    return dll


_COLD_CHILD = textwrap.dedent("""
    import json, sys, time
    from rpsc.driver.pipeline import program
    mods = program({src!r}, "fib.rps")
    from rpsc.backends.llvm.jit import JitEngine
    t0 = time.perf_counter()
    e = JitEngine(mods, opt_level=2, cache_dir={cache!r})
    f = e.function("fib")
    t1 = time.perf_counter()
    assert f(20) == 6765
    print(json.dumps({{"ms": (t1 - t0) * 1e3, "stats": e.stats.as_dict()}}))
""")

_NUMBA_CHILD = textwrap.dedent("""
    import json, time
    import numba
    @numba.njit(cache=False)
    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)
    t0 = time.perf_counter()
    fib(20)
    t1 = time.perf_counter()
    t2 = time.perf_counter(); fib(30); t3 = time.perf_counter()
    print(json.dumps({"first_call_ms": (t1 - t0) * 1e3, "fib30_s": t3 - t2, "version": numba.__version__}))
""")


def child(code: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "child failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def numba_env() -> dict[str, str] | None:
    try:
        import importlib.util

        if importlib.util.find_spec("numba") is not None:
            return dict(os.environ)
    except ImportError:
        pass
    path = os.environ.get("RPSC_NUMBA_PATH", "/tmp/rpsc-numba")
    if Path(path, "numba").is_dir():
        env = dict(os.environ)
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
        return env
    return None


def entry_poll_cost(mods: list, n: int, work: Path) -> dict[str, object]:  # type: ignore[type-arg]
    """fib(n) with and without the entry poll, JIT (-O2, tier 1) and generated C (cc -O2), runs interleaved
    (best of 7 each) in this process, next to a hand-written C fib (gcc -O2); plus callgrind's instruction
    counts for the C pair when valgrind is installed. Costs are `with / without - 1`.

    Without the poll, generated C fib is a looping-pure function, and gcc -O2 merges the calls with equal
    arguments of its inlined ring of copies (fib(40) in ~1 ms); the entry poll is a plain read and the trap
    routine is out of line, so the polled body stays pure and keeps that transformation (docs/concurrency.md,
    "Interrupts"); `c_fib_poll_over_gcc_fib` compares with the plain hand-written recursion."""
    from rpsc.backends.c.emit import emit_c
    from rpsc.backends.llvm.jit import JitEngine
    from rpsrt.abi import Signature, native_caller
    from rpsrt.plugins.build import include_dir

    out: dict[str, object] = {}
    engines = {flag: JitEngine(mods, tier_up_calls=0, entry_poll=flag) for flag in (True, False)}
    contenders = {f"jit_{'poll' if flag else 'nopoll'}": engines[flag].function("fib") for flag in engines}
    sos: dict[bool, Path] = {}
    cc = os.environ.get("CC", "cc")
    fib_mod = next(m for m in mods if any(f.name == "fib" for f in m.functions))
    symbol = next(f.ref.symbol for f in fib_mod.functions if f.name == "fib")
    if shutil.which(cc):
        for flag in (True, False):
            src = emit_c(fib_mod, entry_poll=flag)
            c = work / f"poll_{flag}_{src.file_name}"
            c.write_text(src.text)
            so = c.with_suffix(".so")
            subprocess.run([cc, "-O2", "-fPIC", "-shared", f"-I{include_dir()}", "-o", str(so), str(c)], check=True)
            sos[flag] = so
            lib = ctypes.CDLL(str(so))
            addr = ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value
            # Not initialised by a host: the module's default state (limit 10,000, nothing bound).
            contenders[f"c_{'poll' if flag else 'nopoll'}"] = native_caller(addr, Signature.parse("i64(i64)"), None)
        dll = compile_c(work)
        if dll is not None:
            contenders["gcc_fib"] = dll.fib
    times: dict[str, float] = {}
    results = {}
    for _ in range(7):
        for name, fn in contenders.items():
            t, results[name] = best(fn, n, repeat=1)
            times[name] = min(times.get(name, t), t)
    assert len(set(results.values())) == 1, results
    out["entry_poll_cost_jit_fib"] = times["jit_poll"] / times["jit_nopoll"] - 1
    if sos:
        out["entry_poll_cost_c_fib"] = times["c_poll"] / times["c_nopoll"] - 1
        if "gcc_fib" in times:
            out["c_fib_poll_over_gcc_fib"] = times["c_poll"] / times["gcc_fib"]
            out["jit_fib_poll_over_gcc_fib"] = times["jit_poll"] / times["gcc_fib"]
        if shutil.which("valgrind"):
            # Instructions executed inside the generated bodies (`rpsb_*`) for fib(25), with and without.
            counts = {}
            for flag, so in sos.items():
                code = (f"import ctypes; lib = ctypes.CDLL({str(so)!r}); r = ctypes.c_int64(); "
                        f"assert getattr(lib, {symbol!r})(ctypes.byref(r), ctypes.c_int64(25)) == 0")
                outf = work / f"callgrind.{flag}.out"
                subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={outf}",
                                "--toggle-collect=rpsb_*", sys.executable, "-c", code], check=True,
                               capture_output=True)
                summary = [ln for ln in outf.read_text().splitlines() if ln.startswith(("summary:", "totals:"))]
                counts[flag] = int(summary[0].split()[1])
            out["c_fib25_instructions_poll"], out["c_fib25_instructions_nopoll"] = counts[True], counts[False]
    for e in engines.values():
        e.close()
    return out


def interrupt_latency(mods: list) -> dict[str, object]:  # type: ignore[type-arg]
    """Milliseconds from `engine.interrupt()` (a timer thread) to the INTERRUPT trap of a running fib(45),
    loop-free recursion, under the JIT and the interpreter (target 0.1 s; `rpsc run` and the C backend
    are measured by tests/compiler/backends/test_interrupts.py)."""
    import threading

    from rpsc.backends.interp.interp import Interpreter
    from rpsc.backends.llvm.jit import JitEngine
    from rpsrt.errors import TRAP_INTERRUPT, Trap

    out: dict[str, object] = {}
    for name, engine in (("jit", JitEngine(mods, tier_up_calls=0)), ("interp", Interpreter(mods))):
        fired: list[float] = []

        def fire(e=engine) -> None:  # type: ignore[no-untyped-def]
            fired.append(time.perf_counter())
            e.interrupt()

        timer = threading.Timer(0.3, fire)
        timer.start()
        try:
            engine.call("fib", [45])
            raise AssertionError("fib(45) was not interrupted")
        except Trap as trap:
            assert trap.code == TRAP_INTERRUPT
        out[f"interrupt_latency_{name}_fib45_ms"] = (time.perf_counter() - fired[0]) * 1e3
        timer.join()
        engine.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    from rpsc.backends.llvm.jit import DEFAULT_TIER_UP_CALLS, JitEngine
    from rpsc.driver.pipeline import program

    fib_n, ik_n, fk_n = (25, 300, 200_000) if args.quick else (30, 3000, 20_000_000)
    py_fib_n = 25 if args.quick else 30
    out: dict[str, object] = {}
    work = Path(tempfile.mkdtemp(prefix="rpsc-bench-"))
    try:
        fib_mods = program("module fibm;" + FIB_RPS, "fib.rps")
        kern_mods = program("module kern;" + KERNELS_RPS, "kernels.rps")
        many_mods = program(many_functions_source(200), "many.rps")

        # -- compile latency
        warmup = JitEngine(fib_mods)
        warmup.function("fib")
        warmup.close()
        def cold(mods: list, name: str, opt: int = 2) -> tuple[float, float, float]:  # type: ignore[type-arg]
            """Median wall and CPU milliseconds, and the best wall time, of 15 fresh engines compiling `name`."""
            walls, cpus = [], []
            for _ in range(15):
                w0, c0 = time.perf_counter(), time.process_time()
                e = JitEngine(mods, opt_level=opt)
                e.function(name)
                walls.append((time.perf_counter() - w0) * 1e3)
                cpus.append((time.process_time() - c0) * 1e3)
                e.close()
            return statistics.median(walls), statistics.median(cpus), min(walls)

        (out["cold_one_function_ms_median"], out["cold_one_function_cpu_ms_median"],
         out["cold_one_function_ms_best"]) = cold(fib_mods, "fib")
        _, out["cold_one_function_O3_cpu_ms_median"], _ = cold(fib_mods, "fib", 3)
        sum_mods = program("module summ; fn sum(n: int) -> int { var s = 0; for i in 0 .. n { s = s + i; } "
                           "return s; }", "sum.rps")
        (out["cold_loop_function_ms_median"], out["cold_loop_function_cpu_ms_median"],
         out["cold_loop_function_ms_best"]) = cold(sum_mods, "sum")
        # The first compile in a fresh process (LLVM's one-time set-up included): best of 3 processes.
        first = min((child(_COLD_CHILD.format(src="module fibm;" + FIB_RPS, cache=None)) for _ in range(3)),
                    key=lambda r: r["ms"])
        out["cold_one_function_first_in_process_ms"] = first["ms"]

        t0 = time.perf_counter()
        e = JitEngine(many_mods, cache_dir=work / "cache")
        e.compile_all()
        cold_many = (time.perf_counter() - t0) * 1e3
        cold_compile = sum(m.total_ms for m in e.stats.modules)
        e.close()
        out["module200_cold_ms"] = cold_many
        out["module200_per_function_ms"] = cold_many / 200
        t0 = time.perf_counter()
        e = JitEngine(many_mods, cache_dir=work / "cache")
        e.compile_all()
        warm_many = (time.perf_counter() - t0) * 1e3
        warm_compile = sum(m.total_ms for m in e.stats.modules)
        assert e.stats.compiled == 0 and e.stats.cache_hits == 1
        e.close()
        out["module200_warm_ms"] = warm_many
        out["module200_compile_step_cold_ms"] = cold_compile
        out["module200_compile_step_warm_ms"] = warm_compile
        out["warm_vs_cold_compile_step"] = cold_compile / warm_compile

        # -- generated code speed: JIT, plain LLVM IR and gcc runs interleaved, best of 7 each, so that
        # load from other processes on a shared machine hits every contender alike.
        # `jit` is the default engine (-O2, tiering on) in its steady state: warm-up calls make fib's
        # module hot, so it is recompiled at tier 2; `jit1` keeps fib at tier 1 (tiering off).
        jit = JitEngine([*fib_mods, *kern_mods])
        jfib, jik, jfk = jit.function("fib"), jit.function("ikernel"), jit.function("fkernel")
        for _ in range(DEFAULT_TIER_UP_CALLS):
            jfib(10)
        assert jit.wait_tier_ups(120)   # tier 2 is compiled in the background (rpsrt.agenda)
        assert jit.stats.tier_ups == {"fibm": 1}, jit.stats.tier_ups
        out["jit_fib_tier_ups"] = jit.stats.tier_ups["fibm"]
        out["tier_up_compile_ms"] = jit.stats.tier2_modules[0].total_ms
        jit1 = JitEngine(fib_mods, tier_up_calls=0)
        jit3 = JitEngine(fib_mods, opt_level=3)   # -O3: recursion unrolled deeper (slower to compile)
        plain, _plain_ee = plain_llvm_fib()
        dll = compile_c(work)
        contenders = {"jit_fib": (jfib, fib_n), "jit_ikernel": (jik, ik_n), "jit_fkernel": (jfk, fk_n),
                      "plain_llvm_fib": (plain, fib_n), "jit_o3_fib": (jit3.function("fib"), fib_n),
                      "jit_tier1_fib": (jit1.function("fib"), fib_n)}
        if dll is not None:
            contenders.update(gcc_fib=(dll.fib, fib_n), gcc_ikernel=(dll.ikernel, ik_n),
                              gcc_fkernel=(dll.fkernel, fk_n))
        times: dict[str, float] = {}
        results: dict[str, object] = {}
        for _ in range(7):
            for name, (fn, arg) in contenders.items():
                t, results[name] = best(fn, arg, repeat=1)
                times[name] = min(times.get(name, t), t)
        assert results["plain_llvm_fib"] == results["jit_fib"] == results["jit_o3_fib"] == results["jit_tier1_fib"]
        assert jit1.stats.tier_ups == {}
        t_jfib, t_jik, t_jfk, t_plain = (times[k] for k in ("jit_fib", "jit_ikernel", "jit_fkernel", "plain_llvm_fib"))
        out["jit_fib_is"] = "steady state after tier-up (jit_fib_s, jit_over_gcc_fib); tier 1: jit_tier1_*"
        out.update(jit_fib_s=t_jfib, jit_tier1_fib_s=times["jit_tier1_fib"], jit_o3_fib_s=times["jit_o3_fib"], jit_ikernel_s=t_jik, jit_fkernel_s=t_jfk,
                   plain_llvm_fib_s=t_plain,
                   jit_over_plain_llvm_fib=t_jfib / t_plain)
        if dll is not None:
            for k in ("fib", "ikernel", "fkernel"):
                assert results[f"gcc_{k}"] == results[f"jit_{k}"], f"JIT and C disagree on {k}"
            t_cfib, t_cik, t_cfk = (times[k] for k in ("gcc_fib", "gcc_ikernel", "gcc_fkernel"))
            out.update(gcc_fib_s=t_cfib, gcc_ikernel_s=t_cik, gcc_fkernel_s=t_cfk,
                       plain_llvm_over_gcc_fib=t_plain / t_cfib,
                       jit_over_gcc_fib=t_jfib / t_cfib, jit_tier1_over_gcc_fib=times["jit_tier1_fib"] / t_cfib,
                       jit_o3_over_gcc_fib=times["jit_o3_fib"] / t_cfib,
                       jit_over_gcc_ikernel=t_jik / t_cik,
                       jit_over_gcc_fkernel=t_jfk / t_cfk)
            calls = 100_000
            jadd, cadd = jit.function("add1"), dll.add1
            t_jcall, _ = best(lambda: [jadd(i) for i in range(calls)], repeat=3)
            t_ccall, _ = best(lambda: [cadd(i) for i in range(calls)], repeat=3)
            out.update(jit_call_overhead_us=t_jcall / calls * 1e6, ctypes_c_call_us=t_ccall / calls * 1e6)
        t_pfib, r_pfib = best(py_fib, py_fib_n, repeat=2)
        t_jfib_same, _ = best(jfib, py_fib_n)
        py_ik_n, py_fk_n = max(ik_n // 10, 10), max(fk_n // 100, 10)
        t_pik, r_pik = best(py_ikernel, py_ik_n, repeat=1)
        t_pfk, _ = best(py_fkernel, py_fk_n, repeat=1)
        assert r_pfib == jfib(py_fib_n) and r_pik == jik(py_ik_n)
        t_jik_small, _ = best(jik, py_ik_n)
        t_jfk_small, _ = best(jfk, py_fk_n)
        out.update(cpython_fib_s=t_pfib, cpython_over_jit_fib=t_pfib / t_jfib_same,
                   cpython_over_jit_ikernel=t_pik / t_jik_small, cpython_over_jit_fkernel=t_pfk / t_jfk_small)
        jit.close()
        jit1.close()
        jit3.close()

        # -- the entry poll (every call checks the interrupt flag) on fib, JIT and C, and interrupt latency
        out.update(entry_poll_cost(fib_mods, fib_n, work))
        out.update(interrupt_latency(fib_mods))

        # -- numba's first-call compile latency for the same fib
        env = numba_env()
        if env is not None:
            try:
                nb = min((child(_NUMBA_CHILD, env) for _ in range(3)), key=lambda r: r["first_call_ms"])
                out["numba_version"] = nb["version"]
                out["numba_first_call_ms"] = nb["first_call_ms"]
                out["numba_over_jit_first_compile"] = nb["first_call_ms"] / first["ms"]
                out["numba_fib30_s"] = nb["fib30_s"]
            except (RuntimeError, ValueError) as exc:
                out["numba"] = f"unavailable: {exc}"
        else:
            out["numba"] = "not installed (pip install --target /tmp/rpsc-numba numba)"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for k, v in out.items():
        print(f"{k:40} {v:.4g}" if isinstance(v, float) else f"{k:40} {v}")
    targets = [
        ("generated code at -O2 within 1.1x of gcc -O2 (fib, ikernel, fkernel; fib after tier-up)",
         all(out.get(k, 99) <= 1.1 for k in ("jit_over_gcc_fib", "jit_over_gcc_ikernel", "jit_over_gcc_fkernel"))),
        (">= 50x faster than CPython on fib", out["cpython_over_jit_fib"] >= 50),  # type: ignore[operator]
        ("cold compile of one small function (fib) < 10 ms (median CPU time)",
         out["cold_one_function_cpu_ms_median"] < 10),  # type: ignore[operator]
        ("first compile >= 10x faster than numba's", out.get("numba_over_jit_first_compile", 0) >= 10),  # type: ignore[operator]
        ("warm compile step >= 10x faster than cold", out["warm_vs_cold_compile_step"] >= 10),  # type: ignore[operator]
        ("entry poll costs < 5% on fib (JIT, interleaved runs)", out.get("entry_poll_cost_jit_fib", 1) < 0.05),  # type: ignore[operator]
        ("entry poll costs < 5% on fib (C, interleaved runs; see entry_poll_cost)",
         out.get("entry_poll_cost_c_fib", 1) < 0.05),  # type: ignore[operator]
        ("interrupt stops loop-free recursion within 0.1 s (JIT, interpreter)",
         max(out.get("interrupt_latency_jit_fib45_ms", 1e9), out.get("interrupt_latency_interp_fib45_ms", 1e9)) < 100),  # type: ignore[call-overload]
    ]
    print()
    for what, ok in targets:
        print(f"[{'met' if ok else 'MISSED'}] {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
