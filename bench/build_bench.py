"""Benchmark of the C backend's build and of the generated plugins' speed (not a test).

    python bench/build_bench.py [--quick] [--json] [-j N] [--no-speed]

From one run, for a store of 100 modules x 10 functions and one of 36 modules x 60 functions (issue 12):

- cold `rpsc build` against its floor: the same generated C compiled and linked directly, with the same
  compiler and flags (the commands of `compile_commands.json`) and as many parallel jobs as ninja runs
  (three interleaved rounds, each a cold build of a fresh copy of the compiled store then the floor;
  medians);
- a one-function edit's `rpsc compile && rpsc build` against its floor: the compile and link of that one
  module plus a bare `python3 -c pass`;
- the no-op `rpsc build` wall time (a subprocess, Python start included);

and the speed of the C plugins against the LLVM JIT on the kernels of bench/jit_bench.py (fib(30), the
nested-loop int kernel, the float kernel). Targets: cold build within 1.15x of its floor, one-function edit
within 2x of its floor, no-op under 80 ms, C within 1.2x of the JIT.
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The kernels are those of bench/jit_bench.py (this script's folder is first on sys.path when it runs).
from jit_bench import FIB_RPS, KERNELS_RPS, best  # noqa: E402


def module_source(i: int, variant: int = 0, functions: int = 10, edit: int = 0) -> str:
    """Module `m<i>`: `functions` functions mixing arithmetic, loops, floats and calls; `edit` changes the
    body of f0 only (a one-function edit), `variant` the version and several bodies."""
    fns = [f"module m{i} version \"1.0.{variant}\";"]
    for k in range(functions):
        if k % 3 == 0:
            body = f"""  var s = {k + variant + (edit if k == 0 else 0)};
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


def floor_ms(store: Path, names: set[str] | None, jobs: int) -> float:
    """Wall time of compiling and linking the generated C of the modules `names` (all when None) directly,
    with the exact compile commands of `rpsc build --compdb` and its link flags, `jobs` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    bdir = store / "build"
    db = json.loads((bdir / "compile_commands.json").read_text())
    ninja_text = (bdir / "build.ninja").read_text()
    ld = next(line.split("=", 1)[1].strip() for line in ninja_text.splitlines() if line.startswith("ld ="))
    ldflags = next(line.split("=", 1)[1].strip() for line in ninja_text.splitlines()
                   if line.startswith("ldflags ="))
    out = Path(tempfile.mkdtemp(prefix="floor-", dir=store.parent))
    state = json.loads((bdir / "rpsc-build.json").read_text())
    by_c = {os.path.basename(m["c_path"]): m["name"] for m in state["modules"]}
    jobs_list = []
    for k, e in enumerate(db):
        if names is not None and by_c.get(os.path.basename(e["file"])) not in names:
            continue
        obj = out / f"{k}.o"
        cmd = e["command"].replace(f"-o {e['output']}", f"-o {obj}").replace(f"-MF {e['output']}.d", f"-MF {obj}.d")
        link = f"{ld} {ldflags} -o {out / f'{k}.so'} {obj} -lm"
        jobs_list.append((e["directory"], f"{cmd} && {link}"))

    def run(job: tuple[str, str]) -> None:
        subprocess.run(job[1], shell=True, cwd=job[0], check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, jobs_list))
    ms = (time.perf_counter() - t0) * 1e3
    shutil.rmtree(out, ignore_errors=True)
    return ms


def build_figures(work: Path, modules: int, jobs: int | None, functions: int = 10) -> dict[str, float]:
    src = work / f"src{modules}x{functions}"
    src.mkdir()
    for i in range(modules):
        (src / f"m{i}.rps").write_text(module_source(i, functions=functions))
    store = work / f"store{modules}x{functions}"
    files = sorted(str(p) for p in src.glob("*.rps"))
    t_compile, _ = rpsc("compile", "--store", str(store), *files)
    pristine = work / f"pristine{modules}x{functions}"  # the compiled store before any build
    shutil.copytree(store, pristine, symlinks=True)
    jobs_args = ["-j", str(jobs)] if jobs else []
    parallel = jobs or (os.cpu_count() or 1) + 2  # ninja's default
    colds, floors = [], []
    for r in range(3):  # interleaved rounds: a cold build (of a fresh copy of the compiled store), its floor
        target = store if r == 0 else work / f"cold{r}-{modules}x{functions}"
        if r:
            shutil.copytree(pristine, target, symlinks=True)
        t, proc = rpsc("build", "--store", str(target), "--json", "--compdb", *jobs_args)
        cold = json.loads(proc.stdout)
        assert cold["built"] == modules, cold["built"]
        colds.append(t)
        floors.append(floor_ms(store, None, parallel))
        if r:
            shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(pristine, ignore_errors=True)
    t_cold, t_floor = statistics.median(colds), statistics.median(floors)
    noops = []
    for _ in range(7):
        ms, proc = rpsc("build", "--store", str(store), "--json", "--compdb")
        summary = json.loads(proc.stdout)
        assert summary["commands"] == [] and summary["fast_path"], summary
        noops.append(ms)
    t_python, _ = timed_python()
    edits = []
    for n in range(1, 4):  # median of three one-function edits of m0
        (src / "m0.rps").write_text(module_source(0, functions=functions, edit=n))
        t_recompile, _ = rpsc("compile", "--store", str(store), *files)
        t_one, proc = rpsc("build", "--store", str(store), "--json", "--compdb", *jobs_args)
        one = json.loads(proc.stdout)
        assert one["built"] == 1, one["built"]
        edits.append((t_recompile + t_one, t_recompile, t_one))
    edits.sort()
    t_edit, t_recompile, t_one = edits[1]
    t_edit_floor = statistics.median(floor_ms(store, {"m0"}, 1) for _ in range(3)) + t_python
    return {
        "modules": modules,
        "functions_per_module": functions,
        "functions": modules * functions,
        "compile_all_modules_ms": t_compile,
        "cold_build_ms": t_cold,
        "cold_build_floor_ms": t_floor,
        "cold_over_floor": t_cold / t_floor,
        "one_function_edit_ms": t_edit,
        "one_function_edit_floor_ms": t_edit_floor,
        "edit_over_floor": t_edit / t_edit_floor,
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
    ap.add_argument("--quick", action="store_true", help="small stores and small kernels (a smoke run)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="ninja -j for the cold build")
    ap.add_argument("--no-speed", action="store_true", help="skip the C-against-JIT speed figures")
    args = ap.parse_args()
    shapes = [(20, 10), (6, 60)] if args.quick else [(100, 10), (36, 60)]
    with tempfile.TemporaryDirectory(prefix="rpsc-build-bench-") as tmp:
        work = Path(tmp)
        stores = [build_figures(work, m, args.jobs, n) for m, n in shapes]
        figures: dict[str, Any] = {"stores": stores}
        if not args.no_speed:
            figures.update(speed_figures(work, args.quick))
    checks = []
    for f in stores:
        shape = f"{f['modules']}x{f['functions_per_module']}"
        checks += [
            (f"{shape}: cold build within 1.15x of the floor", f["cold_over_floor"] <= 1.15),
            (f"{shape}: one-function edit within 2x of its floor", f["edit_over_floor"] <= 2.0),
            (f"{shape}: no-op rpsc build under 80 ms (Python start included)", f["noop_build_ms_median"] < 80),
        ]
    if not args.no_speed:
        checks.append(("C plugins within 1.2x of the JIT (fib, ikernel, fkernel)",
                       all(figures[f"c_over_jit_{k}"] <= 1.2 for k in ("fib", "ikernel", "fkernel"))))
    if args.json:
        print(json.dumps({"figures": figures, "targets": {k: v for k, v in checks}}, indent=2))
        return 0
    for f in stores:
        print(f"store: {f['modules']} modules x {f['functions_per_module']} functions ({f['functions']} functions)")
        print(f"  rpsc compile (all modules)         {f['compile_all_modules_ms']:8.0f} ms")
        print(f"  cold rpsc build (median of 3)      {f['cold_build_ms']:8.0f} ms   floor (same C, cc directly, "
              f"same -j, median of 3 interleaved) {f['cold_build_floor_ms']:.0f} ms: {f['cold_over_floor']:.2f}x")
        print(f"  one-function edit, compile+build   {f['one_function_edit_ms']:8.0f} ms   "
              f"(compile {f['recompile_after_one_change_ms']:.0f} + build {f['one_change_rebuild_ms']:.0f}; floor: "
              f"cc+link of one module + python -c pass {f['one_function_edit_floor_ms']:.0f} ms: "
              f"{f['edit_over_floor']:.2f}x)")
        print(f"  no-op rpsc build (median of 7)     {f['noop_build_ms_median']:8.1f} ms   "
              f"(bare python -c pass: {f['python_start_ms']:.1f} ms)")
    if args.no_speed:
        for text, ok in checks:
            print(f"  [{'ok' if ok else 'MISSED'}] {text}")
        return 0
    f = figures
    print("generated code (best of runs, same inputs, same results):")
    for k in ("fib", "ikernel", "fkernel"):
        print(f"  {k:8s} C plugin {f[f'c_{k}_s'] * 1e3:9.2f} ms   JIT {f[f'jit_{k}_s'] * 1e3:9.2f} ms   "
              f"C/JIT {f[f'c_over_jit_{k}']:.2f}x")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
