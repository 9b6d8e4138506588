"""Benchmark of the C backend's build and of the generated plugins' speed (not a test).

    python bench/build_bench.py [--quick] [--json] [-j N]

From one run: a store of 100 modules x 10 functions -- cold `rpsc build` time, no-op `rpsc build` wall time
(a subprocess, Python start included), one-change rebuild time (one function edited, then `rpsc build`);
and the speed of the C plugins against the LLVM JIT on the kernels of bench/jit_bench.py (fib(30), the
nested-loop int kernel, the float kernel), both measured here. Targets: no-op under 150 ms, one-change
rebuild under 1 s, C within 1.2x of the JIT.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The kernels are those of bench/jit_bench.py (this script's folder is first on sys.path when it runs).
from jit_bench import FIB_RPS, KERNELS_RPS, best  # noqa: E402


def module_source(i: int, variant: int = 0) -> str:
    """Module `m<i>`: ten functions mixing arithmetic, loops, floats and calls."""
    fns = [f"module m{i} version \"1.0.{variant}\";"]
    for k in range(10):
        if k % 3 == 0:
            body = f"""  var s = {k + variant};
  for j in 0 .. n {{ s = s * 31 + (j ^ {i}) % 7; }}
  return s;"""
            fns.append(f"fn f{k}(n: int) -> int {{\n{body}\n}}")
        elif k % 3 == 1:
            fns.append(f"fn f{k}(x: float) -> float {{\n  return x * {k}.5 + sqrt(abs(x)) - {i}.25;\n}}")
        else:
            fns.append(f"fn f{k}(n: int) -> int {{\n  if n < 1 {{ return {k}; }}\n"
                       f"  return f{k - 2}(n - 1) + n / (n + {k});\n}}")
    return "\n".join(fns) + "\n"


def rpsc(*args: str, capture: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the installed `rpsc` console script as a subprocess; (wall ms, process)."""
    exe = shutil.which("rpsc", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    cmd = [exe] if exe else [sys.executable, "-m", "rpsc"]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, *args], capture_output=capture, text=True)
    ms = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise SystemExit(f"rpsc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return ms, proc


def build_figures(work: Path, modules: int, jobs: int | None) -> dict[str, float]:
    src = work / "src"
    src.mkdir()
    for i in range(modules):
        (src / f"m{i}.rps").write_text(module_source(i))
    store = work / "store"
    files = sorted(str(p) for p in src.glob("*.rps"))
    t_compile, _ = rpsc("compile", "--store", str(store), *files)
    jobs_args = ["-j", str(jobs)] if jobs else []
    t_cold, proc = rpsc("build", "--store", str(store), "--json", *jobs_args)
    cold = json.loads(proc.stdout)
    assert cold["built"] == modules, cold["built"]
    noops = []
    for _ in range(7):
        ms, proc = rpsc("build", "--store", str(store), "--json")
        summary = json.loads(proc.stdout)
        assert summary["commands"] == [] and summary["fast_path"], summary
        noops.append(ms)
    t_python, _ = timed_python()
    (src / "m0.rps").write_text(module_source(0, variant=1))
    t_recompile, _ = rpsc("compile", "--store", str(store), *files)
    t_one, proc = rpsc("build", "--store", str(store), "--json", *jobs_args)
    one = json.loads(proc.stdout)
    assert one["built"] == 1, one["built"]
    return {
        "modules": modules,
        "functions": modules * 10,
        "compile_100_modules_ms": t_compile,
        "cold_build_ms": t_cold,
        "noop_build_ms_median": statistics.median(noops),
        "noop_build_ms_min": min(noops),
        "python_start_ms": t_python,
        "recompile_after_one_change_ms": t_recompile,
        "one_change_rebuild_ms": t_one,
        "one_change_plugins_rebuilt": one["built"],
    }


def timed_python() -> tuple[float, None]:
    """Wall time of a bare `python -c pass` (the floor of any Python command line), median of 5."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs), None


def speed_figures(work: Path, quick: bool) -> dict[str, float]:
    import rpsrt
    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import ir_modules

    fib_src, kern_src = (FIB_RPS, KERNELS_RPS)
    src = work / "kern"
    src.mkdir()
    (src / "benchfib.rps").write_text("module benchfib;" + fib_src)
    (src / "benchkern.rps").write_text("module benchkern;" + kern_src)
    store = work / "kstore"
    rpsc("compile", "--store", str(store), str(src / "benchfib.rps"), str(src / "benchkern.rps"))
    rpsc("build", "--store", str(store), "-O", "2")
    modules = ir_modules(rpsrt.load_store(str(store)))
    jit = JitEngine(modules)
    native = NativeEngine(store, interruptible=False)
    fib_n, ik_n, fk_n = (25, 300, 200_000) if quick else (30, 3000, 20_000_000)
    out: dict[str, float] = {}
    try:
        for name, n, rep in (("fib", fib_n, 5), ("ikernel", ik_n, 3), ("fkernel", fk_n, 3)):
            ref = native.function_ref(name)
            cfn = native.manager.function(ref.symbol, ref.signature)
            jfn = jit.function(name)
            t_j, r_j = best(jfn, n, repeat=rep)
            t_c, r_c = best(cfn, n, repeat=rep)
            assert r_j == r_c, (name, r_j, r_c)
            out[f"jit_{name}_s"] = t_j
            out[f"c_{name}_s"] = t_c
            out[f"c_over_jit_{name}"] = t_c / t_j
    finally:
        native.close()
        jit.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 modules and small kernels (a smoke run)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="ninja -j for the cold build")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpsc-build-bench-") as tmp:
        work = Path(tmp)
        figures = build_figures(work, 20 if args.quick else 100, args.jobs)
        figures.update(speed_figures(work, args.quick))
    checks = [
        ("no-op rpsc build under 150 ms (Python start included)", figures["noop_build_ms_median"] < 150),
        ("one-change rebuild under 1 s", figures["one_change_rebuild_ms"] < 1000),
        ("C plugins within 1.2x of the JIT (fib, ikernel, fkernel)",
         all(figures[f"c_over_jit_{k}"] <= 1.2 for k in ("fib", "ikernel", "fkernel"))),
    ]
    if args.json:
        print(json.dumps({"figures": figures, "targets": {k: v for k, v in checks}}, indent=2))
        return 0
    f = figures
    print(f"store: {f['modules']} modules x 10 functions ({f['functions']} functions)")
    print(f"  rpsc compile (all modules)      {f['compile_100_modules_ms']:8.0f} ms")
    print(f"  cold rpsc build                 {f['cold_build_ms']:8.0f} ms")
    print(f"  no-op rpsc build (median of 7)  {f['noop_build_ms_median']:8.1f} ms   "
          f"(bare python -c pass: {f['python_start_ms']:.1f} ms; ratio {f['noop_build_ms_median'] / f['python_start_ms']:.2f}x)")
    print(f"  one-change rebuild              {f['one_change_rebuild_ms']:8.0f} ms   "
          f"({f['one_change_plugins_rebuilt']} plugin rebuilt; cold/one-change {f['cold_build_ms'] / f['one_change_rebuild_ms']:.1f}x)")
    print("generated code (best of runs, same inputs, same results):")
    for k in ("fib", "ikernel", "fkernel"):
        print(f"  {k:8s} C plugin {f[f'c_{k}_s'] * 1e3:9.2f} ms   JIT {f[f'jit_{k}_s'] * 1e3:9.2f} ms   "
              f"C/JIT {f[f'c_over_jit_{k}']:.2f}x")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
