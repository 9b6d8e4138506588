"""`rpsc run`: call a stored function and print its result.

The slow path is here: load the store, rebuild the IR, make the engine (the JIT's code from its object
cache), call. After a JIT run of version-1 code it records the function's native code in the store's
warm-start index (`rpsc.backends.llvm.runrecord.record`), which the next `rpsc run` of the same store
state uses without loading anything (`rpsc.driver.runwarm`, tried first by `rpsc.driver.cli.main`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from rpsc.driver.commands import numbers_as_arguments

BACKENDS = ("interp", "jit", "c")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "run", help="call a function of a store and print its result",
        description="Call a stored function with arguments parsed by its parameter types (int, float, "
                    "true/false; str verbatim; obj as an OID or a name, as `find` does, or null; value as an int, "
                    "a float, else a string) and print the result (str raw, obj as its OID or null). Without "
                    "--commit the heap changes are reported and not written. A trap writes nothing and prints `file:line:col: trap: KIND in FUNC` "
                    "and exits with status 3; Ctrl-C interrupts a running loop (an `interrupted` trap). "
                    "A function that a JIT run compiled, of a store unchanged since, starts from its native "
                    "code (an index in the cache folder; RPSC_WARM_RUN=0 turns it off).",
        epilog="examples:\n  rpsc run --store st fib 20\n  rpsc run --store st --backend c numeric.gcd -12 18\n"
               "  rpsc run --store st newton_sqrt 2.5e3    (floats: 1.5, -1e3, inf, -inf, nan)\n"
               "  rpsc run --store st --commit --seed 1 --clock 1700000000 createclass shape object 'a class'\n"
               "exit status: 0 ok, 1 error, 3 trap",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="interp (reference interpreter), jit (LLVM) or c (native plugins); "
                        "default: jit when available, else interp")
    p.add_argument("--recursion-limit", type=int, default=None, metavar="N",
                   help="calls nested deeper than N trap (default 10000)")
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="JIT object cache (default: $RPSC_CACHE_DIR, else $XDG_CACHE_HOME/rpsc)")
    p.add_argument("--no-cache", action="store_true", help="JIT: neither read nor write the object cache")
    p.add_argument("--commit", action="store_true",
                   help="dump the heap's changes into the store after the function returns (atomically); "
                        "without it the changes are only reported")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="make new OIDs deterministic")
    p.add_argument("--clock", type=float, default=None, metavar="T",
                   help="the mtime that changes write (default: the wall clock)")
    p.add_argument("--json", action="store_true", help="print the result or the trap as JSON (docs/json-output.md)")
    p.add_argument("function", metavar="FUNC", help="`name`, `module.name` or `rpsfn_<oid>`")
    p.add_argument("args", nargs="*", metavar="ARG", help="the arguments")
    p.set_defaults(handler=run_run)
    numbers_as_arguments(p)


def _load(store: str) -> Any:
    """The store's heap, its code migrated in memory (as `rpsc show` loads it: commands/lang.py)."""
    import rpsrt
    from rpsrt.errors import StoreError

    if not os.path.isfile(os.path.join(store, "rps_manifest.json")):
        raise StoreError("no store here (no rps_manifest.json); create one with `rpsc compile`", path=store)
    from rpsc.driver.pipeline import migrate_code

    heap = rpsrt.load_store(store)
    migrate_code(heap)  # in memory only: the next `rpsc compile` or `rpsc store dump` writes it
    return heap


def make_engine(backend: str | None, store: str, modules: list[Any], recursion_limit: int | None,
                cache_dir: str | None = None, use_cache: bool = True) -> Any:
    """The engine of a backend name (None: jit when importable, else interp)."""
    from rpsrt.errors import DEFAULT_RECURSION_LIMIT

    limit = DEFAULT_RECURSION_LIMIT if recursion_limit is None else recursion_limit
    if backend is None:
        try:
            import rpsc.backends.llvm.jit  # noqa: F401
            backend = "jit"
        except ImportError:
            backend = "interp"
    if backend == "interp":
        from rpsc.backends.interp.interp import Interpreter

        return Interpreter(modules, recursion_limit=limit)
    if backend == "jit":
        from rpsc.backends.llvm.cache import default_cache_dir
        from rpsc.backends.llvm.jit import JitEngine

        cache = (cache_dir or default_cache_dir()) if use_cache else None
        return JitEngine(modules, recursion_limit=limit, cache_dir=cache)
    from rpsc.backends.c.native import NativeEngine

    return NativeEngine(store, recursion_limit=limit)


def run_run(args: argparse.Namespace) -> int:
    from rpsc.backends.engine import EngineError, call_interruptibly, format_result, parse_args, resolve_function
    from rpsc.driver.pipeline import ir_modules
    from rpsrt.errors import Trap

    if args.recursion_limit is not None and not 1 <= args.recursion_limit < 2**31:
        raise EngineError(f"--recursion-limit must be between 1 and {2**31 - 1}, got {args.recursion_limit}")
    from rpsc.backends.llvm import runindex, runrecord
    from rpsc.ir import ir as _ir

    # The warm-start index (rpsc.driver.runwarm) is written only for the state the store had before it was
    # loaded, and only when it still has it after the call.
    indexing = (args.backend in (None, "jit") and not args.no_cache and not args.commit and args.seed is None
                and args.clock is None and os.environ.get("RPSC_WARM_RUN") != "0")
    state = runindex.store_state(args.store) if indexing else None
    heap = _load(args.store)
    modules = ir_modules(heap)
    ref = resolve_function(modules, args.function)
    heap_code = any(_ir.uses_heap(f) for m in modules for f in m.functions)
    if heap_code or args.commit or args.seed is not None or args.clock is not None:
        return _run_on_heap(args, heap, modules, ref)
    values = parse_args(ref, args.args)
    engine = make_engine(args.backend, args.store, modules, args.recursion_limit,
                         cache_dir=args.cache_dir, use_cache=not args.no_cache)
    ok = False
    value: object = None
    # The call runs in a worker thread; Ctrl-C in the main thread sets the engine's interrupt flag, and the
    # next loop back-edge of the running code traps INTERRUPT, which is reported like any other trap.
    try:
        ok, value = call_interruptibly(engine, lambda: engine.call(ref, values), ())
        doc = {"function": ref.name, "module_oid": ref.module_oid, "symbol": ref.symbol,
               "backend": {"Interpreter": "interp", "JitEngine": "jit", "NativeEngine": "c"}.get(type(engine).__name__, type(engine).__name__), "args": values}
        if not ok:
            if isinstance(value, Trap):
                print(f"{value.location}: trap: {value.kind} in {value.function}", file=sys.stderr)
                if getattr(args, "json", False):
                    from rpsc.driver.commands.jsonout import emit

                    emit({**doc, "ok": False, "trap": {"kind": value.kind, "code": value.code,
                                                       "function": value.function, "location": value.location}})
                return 3
            raise value
        if getattr(args, "json", False):
            from rpsc.driver.commands.jsonout import emit

            emit({**doc, "ok": True, "result": value, "text": format_result(value)})
            return 0
        text = format_result(value)
        if text:
            print(text)
        return 0
    finally:
        if state is not None and type(engine).__name__ == "JitEngine" and (ok or _ordinary_trap(value)):
            runrecord.record(str(engine.cache.directory), args.store, state, modules, engine)
        engine.close()


def _ordinary_trap(value: object) -> bool:
    """Whether a call that did not return ended in a trap other than an interrupt (after Ctrl-C the
    command ends at once, without writing the warm-start index)."""
    from rpsrt.errors import TRAP_INTERRUPT, Trap

    return isinstance(value, Trap) and value.code != TRAP_INTERRUPT


def _run_on_heap(args: argparse.Namespace, heap: Any, modules: list[Any], ref: Any) -> int:
    """`rpsc run` of version-2 code: the call runs against the loaded heap inside a transaction; a trap
    writes nothing (exit 3); `--commit` dumps the changes atomically, else they are reported."""
    from rpsrt.store.writer import update_lock

    with update_lock(args.store) if args.commit else contextlib.nullcontext():
        if args.commit:  # load again under the store's lock: no concurrent update is lost
            heap = _load(args.store)
        return _run_locked(args, heap, modules, ref)


def _heap_run_doc(ref: Any, backend: str, values: list[Any]) -> dict[str, Any]:
    """The common members of `rpsc run --json` (docs/json-output.md) for a call of heap code: an object
    argument as its OID text."""
    from rpsrt.model.objects import RpsObject

    return {"function": ref.name, "module_oid": ref.module_oid, "symbol": ref.symbol, "backend": backend,
            "args": [str(v.oid) if isinstance(v, RpsObject) else "null" if v is None else v for v in values]}


def _run_locked(args: argparse.Namespace, heap: Any, modules: list[Any], ref: Any) -> int:
    from rpsc.backends.engine import call_interruptibly, format_result, parse_args
    from rpsc.ir import ir as _ir
    from rpsrt.errors import DEFAULT_RECURSION_LIMIT, Trap
    from rpsrt.model.heapapi import HeapRuntime, changes, transaction
    from rpsrt.store.writer import dump_store

    values = parse_args(ref, args.args, heap)
    runtime = HeapRuntime(heap, seed=args.seed, clock=args.clock)
    limit = DEFAULT_RECURSION_LIMIT if args.recursion_limit is None else args.recursion_limit
    backend = args.backend or "interp"
    if backend == "interp":
        from rpsc.backends.interp.interp import Interpreter

        engine: Any = Interpreter(modules, recursion_limit=limit, runtime=runtime)
    elif backend == "c":
        from rpsc.backends.c.native import NativeEngine

        engine = NativeEngine(args.store, recursion_limit=limit, runtime=runtime)
    else:
        from rpsc.backends.llvm.cache import default_cache_dir
        from rpsc.backends.llvm.jit import JitEngine

        cache = (args.cache_dir or default_cache_dir()) if not args.no_cache else None
        engine = JitEngine(modules, recursion_limit=limit, cache_dir=cache, runtime=runtime)
    try:
        try:
            with transaction(heap) as before:
                ok, value = call_interruptibly(engine, lambda: engine.call(ref, values), ())
                if not ok:
                    raise value  # type: ignore[misc]  # undone by the transaction
        except Trap as trap:
            print(f"{trap.location}: trap: {trap.kind} in {trap.function}", file=sys.stderr)
            if getattr(args, "json", False):
                from rpsc.driver.commands.jsonout import emit

                emit({**_heap_run_doc(ref, backend, values), "ok": False,
                      "trap": {"kind": trap.kind, "code": trap.code, "function": trap.function,
                               "location": trap.location}})
            return 3
        text = format_result(value, ref.ret)  # type: ignore[arg-type]
        if getattr(args, "json", False):
            from rpsc.driver.commands.jsonout import emit

            # a str, obj or value result as the plain command prints it (an object as its OID; null as null)
            result = value if ref.ret not in _ir.HEAP_TYPES else (None if value is None else text)
            emit({**_heap_run_doc(ref, backend, values), "ok": True, "result": result, "text": text})
        elif text:
            print(text)
        diff = changes(before, heap)
        if args.commit:
            if not diff.empty():
                dump_store(heap, args.store, locked=True)
        else:
            for line in diff.lines():
                print(f"rpsc: {line} (not written: run with --commit to dump)", file=sys.stderr)
    finally:
        engine.close()
    return 0
