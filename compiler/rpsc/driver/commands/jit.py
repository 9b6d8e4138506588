"""`rpsc jit` (JIT-compile a store's modules, optionally call a function, report compile statistics) and
`rpsc emit` (ahead-of-time LLVM IR and position-independent object files, for CI).

llvmlite is imported inside the handlers only, so `rpsc --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rpsc.driver.commands import numbers_as_arguments


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("jit", help="JIT-compile a store's modules (MCJIT), call a function, show statistics",
                       description="Compile the modules of a store with the LLVM JIT, using the on-disk "
                                   "object cache, and optionally call FUNCTION with ARGS. Without FUNCTION "
                                   "every module is compiled. Ctrl-C interrupts a running loop.",
                       epilog="examples:\n  rpsc jit --store st --stats            compile every module, show times\n"
                              "  rpsc jit --store st numeric.gcd -12 18  call a function (negative numbers are "
                              "arguments)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("function", nargs="?", metavar="FUNCTION",
                   help="function to call: name, module.name or rpsfn_<oid>")
    p.add_argument("args", nargs="*", metavar="ARG", help="arguments (ints, floats, true/false)")
    p.add_argument("-O", dest="opt", type=int, default=2, choices=[0, 1, 2, 3], help="optimisation level (default 2)")
    p.add_argument("--eager", action="store_true", help="compile every module up front (default: what the call reaches)")
    p.add_argument("--stats", action="store_true", help="print per-module and per-function compile times and cache hits")
    p.add_argument("--json", action="store_true", help="print statistics (and the result) as JSON on stdout")
    p.add_argument("--cache-dir", metavar="D", help="object cache folder (default $RPSC_CACHE_DIR, else $XDG_CACHE_HOME/rpsc)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the object cache")
    p.add_argument("--recursion-limit", type=int, default=None, metavar="N",
                   help="nested calls allowed before a recursion trap (default 10000)")
    p.set_defaults(handler=cmd_jit)
    numbers_as_arguments(p)

    p = sub.add_parser("emit", help="write LLVM IR (.ll), a position-independent object (.o) and its C header",
                       description="Generate the LLVM IR of a store's modules (all, or --module NAME), "
                                   "optimised at -O N, and compile the same IR into a PIC object file.",
                       epilog="examples:\n  rpsc emit --store st --module numeric --llvm-ir numeric.ll --object numeric.o\n"
                              "  rpsc emit --store st --object st.o --header st.h   (then: cc host.c st.o)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("--module", action="append", metavar="NAME", help="only this module (repeatable)")
    p.add_argument("--llvm-ir", metavar="OUT.ll", help="write the LLVM IR here")
    p.add_argument("--object", metavar="OUT.o", help="write a position-independent object file here")
    p.add_argument("--header", metavar="OUT.h",
                   help="write a C header declaring the object's functions, an alias per source name "
                        "(#define module_name rpsfn_<oid>) and the status codes")
    p.add_argument("-O", dest="opt", type=int, default=2, choices=[0, 1, 2, 3], help="optimisation level (default 2)")
    p.add_argument("--native", action="store_true",
                   help="tune for this host's CPU (default: the generic CPU of the host triple)")
    p.set_defaults(handler=cmd_emit)


def _modules(store: str, names: list[str] | None) -> list[Any]:
    import rpsrt
    from rpsc import CompileError
    from rpsc.driver.pipeline import ir_modules

    if not Path(store, "rps_manifest.json").is_file():
        raise CompileError(f"{store}: error: not a store (no rps_manifest.json)")
    modules = ir_modules(rpsrt.load_store(store))
    if names:
        known = {m.name: m for m in modules}
        missing = [n for n in names if n not in known]
        if missing:
            raise CompileError(f"{store}: error: no module named {missing[0]} in the store "
                               f"(modules: {', '.join(sorted(known)) or 'none'})")
        modules = [known[n] for n in names]
    return modules


def cmd_jit(args: argparse.Namespace) -> int:
    import json

    from rpsc.backends.engine import EngineError, call_interruptibly, format_result, parse_args, resolve_function
    from rpsc.backends.llvm.cache import default_cache_dir
    from rpsc.backends.llvm.jit import JitEngine
    from rpsrt.errors import DEFAULT_RECURSION_LIMIT, Trap

    modules = _modules(args.store, None)
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    limit = args.recursion_limit if args.recursion_limit is not None else DEFAULT_RECURSION_LIMIT
    if not 1 <= limit < 2**31:
        raise EngineError(f"--recursion-limit must be between 1 and {2**31 - 1}, got {limit}")
    engine = JitEngine(modules, opt_level=args.opt, cache_dir=cache_dir,
                       eager=args.eager or args.function is None, recursion_limit=limit)
    try:
        result_text = None
        if args.function is not None:
            ref = resolve_function(modules, args.function)
            values = parse_args(ref, args.args)
            fn = engine.function(ref)
            ok, result = call_interruptibly(engine, fn, values)
            if not ok:
                if isinstance(result, Trap):   # reported like `rpsc run` does
                    print(f"{result.location}: trap: {result.kind} in {result.function}", file=sys.stderr)
                    if args.json:  # a CI consumer still gets a JSON document on stdout
                        trap = {"kind": result.kind, "function": result.function, "location": result.location}
                        print(json.dumps({"stats": engine.stats.as_dict(), "trap": trap}, indent=2))
                    return 3
                raise result
            result_text = format_result(result)
        stats = engine.stats.as_dict()
        if args.json:
            out: dict[str, object] = {"stats": stats}
            if result_text is not None:
                out["result"] = result_text
            print(json.dumps(out, indent=2))
            return 0
        if result_text is not None and result_text != "":
            print(result_text)
        if args.stats:
            _print_stats(engine, sys.stdout if args.function is None else sys.stderr)
        return 0
    finally:
        engine.close()


def _print_stats(engine: Any, out: Any) -> None:
    st = engine.stats
    print(f"engine: {st.engine_ms:.2f} ms; modules compiled: {st.compiled}, cache hits: {st.cache_hits}", file=out)
    print(f"{'module':<20} {'cache':<5} {'emit':>8} {'parse':>8} {'opt':>8} {'codegen':>8} {'link':>8} "
          f"{'total ms':>9}  functions", file=out)
    for m in st.modules:
        per_fn = m.total_ms / max(1, len(m.functions))
        print(f"{m.name:<20} {'hit' if m.cache_hit else 'miss':<5} {m.emit_ms:8.2f} {m.parse_ms:8.2f} "
              f"{m.opt_ms:8.2f} {m.codegen_ms:8.2f} {m.link_ms:8.2f} {m.total_ms:9.2f}  "
              f"{len(m.functions)} ({per_fn:.2f} ms each)", file=out)
        for name in m.functions:
            emit = m.function_emit_ms.get(name)
            what = f"IR emission {emit:.3f} ms" if emit is not None else "from the cache"
            print(f"  {name:<30} {what}", file=out)
    if st.tier_ups:
        print("tier-ups: " + ", ".join(f"{name} {n}" for name, n in sorted(st.tier_ups.items())), file=out)
        for m in st.tier2_modules:
            print(f"  {m.name:<20} tier 2 {'hit' if m.cache_hit else 'miss':<5} {m.total_ms:9.2f} ms", file=out)
    else:
        print("tier-ups: none", file=out)


def cmd_emit(args: argparse.Namespace) -> int:
    from rpsc import CompileError
    from rpsc.backends.llvm.aot import emit_object_and_ir

    if not args.llvm_ir and not args.object and not args.header:
        raise CompileError("rpsc emit: error: nothing to write: give --llvm-ir OUT.ll, --object OUT.o "
                           "and/or --header OUT.h")
    for out in (args.llvm_ir, args.object, args.header):
        if out is not None and os.path.isdir(out):
            raise CompileError(f"{out}: error: is a directory; give the path of the file to write")
    modules = _modules(args.store, args.module)
    if not modules:
        raise CompileError(f"{args.store}: error: the store holds no code module")
    if args.llvm_ir or args.object:
        emit_object_and_ir(modules, llvm_ir=Path(args.llvm_ir) if args.llvm_ir else None,
                           obj=Path(args.object) if args.object else None, opt_level=args.opt, native=args.native)
    if args.header:
        from rpsc.backends.llvm.cache import write_atomic
        from rpsc.backends.llvm.header import c_header

        text = c_header(modules, file_name=Path(args.header).name, origin=f"store {Path(args.store).name}")
        write_atomic(Path(args.header), text.encode())
    return 0
