"""`rpsc demo`: the whole pipeline on the example modules, with every backend side by side.

Entry point: `run_demo(workdir, as_json=False) -> int`. Steps: compile the examples (shipped as package data
`rpsc.examples`, else the checkout's `plugins_src/`) into a store, build the C plugins with Ninja, load
them through the PluginManager, then run a few functions under the interpreter, the LLVM JIT and the C
plugins, printing results and times; finally dispatch an extension point through the C plugins.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: (function, arguments) tried in order; only those the examples define are run.
CALLS: list[tuple[str, list[Any]]] = [
    ("fib", [25]),
    ("fib_iter", [90]),
    ("gcd", [1071, 462]),
    ("count_primes", [20000]),
    ("collatz", [27]),
    ("pow_mod", [7, 1000000, 1000000007]),
    ("newton_sqrt", [2.0]),
    ("simpson_square", [0.0, 3.0, 100000]),
    ("mandel", [-0.75, 0.1, 20000]),
    ("circle_area", [2.0]),
    ("inscribed_square_side", [100]),
    ("tiles", [10, 10, 0]),
]


def examples_dir() -> Path:
    """The example `.rps` modules: the installed package data (`rpsc/examples/`, declared in
    pyproject.toml from `plugins_src/`), else the checkout's plugins_src/ (an editable install)."""
    import rpsc

    pkg = Path(rpsc.__file__).resolve().parent
    for candidate in (pkg / "examples", pkg.parent.parent / "plugins_src"):
        if any(candidate.glob("*.rps")):
            return candidate
    from rpsc import CompileError

    raise CompileError("error: the example modules are missing (neither rpsc/examples nor plugins_src/)")


def docs_dir() -> Path:
    """The documentation: the installed package data (`rpsc/docs/`, from `docs/`), else the checkout's docs/."""
    import rpsc

    pkg = Path(rpsc.__file__).resolve().parent
    for candidate in (pkg / "docs", pkg.parent.parent / "docs"):
        if (candidate / "language.md").is_file():
            return candidate
    from rpsc import CompileError

    raise CompileError("error: the documentation is missing (neither rpsc/docs nor docs/)")


def _timed(fn: Callable[[], Any]) -> tuple[str, Any, float]:
    from rpsrt.errors import Trap

    t0 = time.perf_counter()
    try:
        value: Any = fn()
        kind = "ok"
    except Trap as trap:
        value, kind = f"trap: {trap.kind} ({trap.location})", "trap"
    return kind, value, (time.perf_counter() - t0) * 1e3


def _fmt(value: Any) -> str:
    from rpsc.backends.engine import format_result

    return value if isinstance(value, str) else format_result(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def run_demo(workdir: Path | None, *, as_json: bool = False) -> int:
    """Run the demo in `workdir` (a temporary folder when None); 0 when every backend agreed."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="rpsc-demo-") as tmp:
            return _run(Path(tmp), as_json)
    workdir.mkdir(parents=True, exist_ok=True)
    return _run(workdir, as_json)


def _run(workdir: Path, as_json: bool) -> int:
    import rpsrt
    from rpsc.driver.build import BuildOptions, build_store
    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.engine import resolve_function
    from rpsc.backends.interp.interp import Interpreter
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import compile_sources, ir_modules, new_heap

    out = sys.stderr if as_json else sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    src = examples_dir()
    files = sorted(src.glob("*.rps"))
    store = workdir / "store"
    say(f"rpsc demo: {len(files)} example module(s) from {src}")
    say(f"  store: {store}")

    t0 = time.perf_counter()
    heap = rpsrt.load_store(str(store)) if (store / "rps_manifest.json").is_file() else new_heap()
    compile_sources([(f.name, f.read_text(encoding="utf-8")) for f in files], heap)
    store.mkdir(parents=True, exist_ok=True)
    rpsrt.dump_store(heap, str(store))
    t_compile = (time.perf_counter() - t0) * 1e3
    say(f"1. compiled {', '.join(f.name for f in files)} into the store ({t_compile:.0f} ms)")

    say("2. building the C plugins with Ninja:")
    t0 = time.perf_counter()
    result = build_store(BuildOptions(store=store), echo=out)
    t_build = (time.perf_counter() - t0) * 1e3
    built = sum(1 for m in result.modules if m.status == "built")
    say(f"   {built} plugin(s) built, {len(result.modules) - built} up to date ({t_build:.0f} ms)")

    t0 = time.perf_counter()
    modules = ir_modules(rpsrt.load_store(str(store)))
    interp = Interpreter(modules)
    native = NativeEngine(store, interruptible=False)
    t_load = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    jit = JitEngine(modules, eager=True)
    t_jit = (time.perf_counter() - t0) * 1e3
    say(f"3. loaded {len(native.manager.loaded)} plugin(s) through the plugin manager: "
        f"{', '.join(native.manager.loaded)} ({t_load:.0f} ms); JIT-compiled the same modules ({t_jit:.0f} ms)")

    engines: list[tuple[str, Any]] = [("interp", interp), ("jit", jit), ("c", native)]
    rows: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    ok = True
    try:
        for name, args in CALLS:
            try:
                resolve_function(modules, name)
            except Exception:  # noqa: BLE001 - not defined by these examples
                continue
            cells = []
            for _label, eng in engines:
                call = functools.partial(eng.call, name, list(args))
                kind, value, ms = _timed(call)
                cells.append((kind, value, ms))
            agree = all(c[0] == cells[0][0] and _same(c[1], cells[0][1]) for c in cells)
            ok &= agree
            rows.append({"function": name, "args": args, "agree": agree,
                         **{label: {"result": _fmt(v), "ms": round(ms, 3)}
                            for (label, _e), (_k, v, ms) in zip(engines, cells, strict=True)}})
        for pname, point in sorted(native.manager.points.items()):
            if not point.implementations:
                continue
            arg = 12
            value = point(*([arg] * len(point.signature.params)))
            points.append({"point": pname, "mode": point.mode, "args": [arg] * len(point.signature.params),
                           "implementations": [f"{i.plugin}.{i.name} (priority {i.priority})"
                                               for i in point.implementations],
                           "result": value})
    finally:
        native.close()
        jit.close()
        interp.close()

    if as_json:
        print(json.dumps({"store": str(store), "compile_ms": round(t_compile, 1), "build_ms": round(t_build, 1),
                          "plugin_load_ms": round(t_load, 1), "jit_compile_ms": round(t_jit, 1),
                          "calls": rows, "extension_points": points, "agree": ok}, indent=2))
        return 0 if ok else 1
    say("4. the same functions under each backend (result, wall time of the call):")
    headers = ["function", "interp", "jit", "c", ""]

    def cell(result: Any, ms: float) -> str:
        # A trap's location goes in the notes under the table, so that the columns stay narrow.
        text = str(result).split(" (", 1)[0] if str(result).startswith("trap: ") else result
        return f"{text}  {ms:.2f} ms"

    labels = [f"{r['function']}({', '.join(map(_fmt, r['args']))})" for r in rows]
    table = [[label, *(cell(r[b]["result"], r[b]["ms"]) for b in ("interp", "jit", "c")),
              "ok" if r["agree"] else "DIFFER"] for label, r in zip(labels, rows, strict=True)]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *table, strict=True)]
    for line in [headers, *table]:
        say("   " + "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for label, r in zip(labels, rows, strict=True):
        results = {str(r[b]["result"]) for b in ("interp", "jit", "c")}
        for trap_text in sorted(x for x in results if x.startswith("trap: ")):
            say(f"   note: {label}: {trap_text[len('trap: '):]}")
    if points:
        say("5. extension points, dispatched in priority order through the C plugins:")
        for p in points:
            say(f"   {p['point']}({', '.join(map(str, p['args']))}) [{p['mode']}] -> {p['result']}")
            say(f"      {' > '.join(p['implementations'])}")
    say("all backends agree" if ok else "BACKENDS DISAGREE (a bug: please report it)")
    return 0 if ok else 1
