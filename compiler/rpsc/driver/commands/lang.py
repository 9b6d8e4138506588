"""`rpsc compile`, `rpsc run`, `rpsc show`: sources into a store, calling a stored function, printing code back."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from rpsc.driver.commands import numbers_as_arguments
from rpsc.driver.commands.store import add_lock_timeout

BACKENDS = ("interp", "jit", "c")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "compile", help="compile .rps modules into a store",
        description="Parse, check and lower .rps modules into a RefPerSys store (created when missing). "
                    "Re-compiling keeps OIDs (new objects get OIDs derived from module and definition names, "
                    "so fresh stores get the same ones); only the sources whose bytes changed, and those "
                    "requiring a module whose interface changed, are compiled again; an unchanged module "
                    "rewrites no file; on any error the store is left untouched. Concurrent compiles into "
                    "one store take turns (a lock).",
        epilog="example:\n  rpsc compile numeric.rps shapes.rps --store st   (modules that require one another "
               "go together)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE.rps", help="the modules to compile")
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    add_lock_timeout(p)
    p.add_argument("--json", action="store_true",
                   help="print the outcome and every diagnostic as JSON (docs/json-output.md)")
    p.add_argument("--no-incremental", action="store_true",
                   help="parse, check and lower every source, even those unchanged since the last compile")
    p.add_argument("--stamp", metavar="F",
                   help="after a successful compile, touch F and write F.d, a depfile naming every source "
                        "and store file read (for a build system driving rpsc)")
    p.set_defaults(handler=run_compile)

    p = subparsers.add_parser(
        "run", help="call a function of a store and print its result",
        description="Call a stored function with arguments parsed by its parameter types (int, float, "
                    "true/false) and print the result. A trap prints `file:line:col: trap: KIND in FUNC` "
                    "and exits with status 3; Ctrl-C interrupts a running loop (an `interrupted` trap).",
        epilog="examples:\n  rpsc run --store st fib 20\n  rpsc run --store st --backend c numeric.gcd -12 18\n"
               "  rpsc run --store st newton_sqrt 2.5e3    (floats: 1.5, -1e3, inf, -inf, nan)\n"
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

    p = subparsers.add_parser(
        "show", help="print stored code back as .rps source",
        description="Print a stored function (`name` or `module.name`) or a whole module back as .rps "
                    "source; with no NAME, every module of the store.")
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("name", nargs="?", metavar="NAME", help="a function or a module")
    p.set_defaults(handler=run_show)


def _load(store: str) -> Any:
    import rpsrt
    from rpsrt.errors import StoreError

    if not os.path.isfile(os.path.join(store, "rps_manifest.json")):
        raise StoreError("no store here (no rps_manifest.json); create one with `rpsc compile`", path=store)
    from rpsc.driver.pipeline import migrate_code

    heap = rpsrt.load_store(store)
    migrate_code(heap)  # in memory only: the next `rpsc compile` or `rpsc store dump` writes it
    return heap


def run_compile(args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        from rpsc.driver.commands.jsonout import emit, failed
        from rpsrt.errors import Error

        from rpsc.driver.commands.jsonout import diagnostic_json

        warnings: list[Any] = []
        try:
            _compile(args, warnings)
        except Error as exc:
            return failed(exc, store=args.store, files=args.files)
        emit({"store": args.store, "files": args.files, "ok": True,
              "diagnostics": [diagnostic_json(w) for w in warnings]})
        return 0
    return _compile(args)


def _compile(args: argparse.Namespace, warnings: list[Any] | None = None) -> int:
    """Compile into the store; print warnings on stderr (and collect them into `warnings` when given)."""
    import rpsrt
    from rpsc.frontend.parser import read_source
    from rpsc.driver.pipeline import migrate_code, new_heap
    from rpsrt.errors import StoreError
    from rpsrt.store.writer import dump_store, update_lock

    # The file name is stored with the code (trap locations): a name that is not UTF-8 is kept readable
    # (U+FFFD for its undecodable bytes) instead of making the store impossible to dump.
    sources = [(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), read_source(path))
               for path in args.files]
    store = args.store
    if os.path.exists(store) and not os.path.isdir(store):
        raise StoreError("not a directory: --store names the store's folder (created when missing)", path=store)
    created = not os.path.exists(store)
    os.makedirs(store, exist_ok=True)
    try:
        # One lock across load, compile and dump: concurrent compiles into one store take turns, and none
        # loses the modules another one added.
        with update_lock(store, timeout=args.lock_timeout):
            exists = os.path.isfile(os.path.join(store, "rps_manifest.json"))
            read = _store_files(store) if exists and args.stamp else []
            heap = rpsrt.load_store(store) if exists else new_heap()
            notice = migrate_code(heap)
            if notice:
                print(notice, file=sys.stderr)
            found: list[Any] = []
            from rpsc.driver import incremental

            cache = {} if args.no_incremental or notice or not exists else incremental.read_compile_cache(store)
            before = incremental.snapshot(heap) if exists and not notice else None
            # On an error nothing is dumped and the heap is dropped: no rollback copy of it is needed.
            entries, compiled = incremental.compile_incremental(sources, heap, found, cache, rollback=False)
            for w in found:
                print(w.render(), file=sys.stderr)
            if warnings is not None:
                warnings.extend(found)
            spaces = incremental.dirty_spaces(heap, before) if before is not None else None
            if compiled or before is None:  # nothing recompiled: the heap is the one loaded
                dump_store(heap, store, locked=True, lock_timeout=args.lock_timeout, spaces=spaces)
            incremental.write_compile_cache(store, entries)
            if args.stamp:
                _write_compile_stamp(args.stamp, args.files, read)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(store)  # only when still empty: a failed first compile leaves nothing behind
        raise
    return 0


def _store_files(store: str) -> list[str]:
    from pathlib import Path

    from rpsc.driver.build import store_files

    return [str(p.absolute()) for p in store_files(Path(store)) if p.exists()]


def _write_compile_stamp(stamp: str, files: list[str], read: list[str]) -> None:
    """`rpsc compile --stamp F`: F and its depfile F.d, naming the sources and the store files that the
    compile read (those that existed before it; a fresh store's files are its outputs, not inputs)."""
    from pathlib import Path

    from rpsc.driver.build import write_depfile

    write_depfile(Path(stamp), [os.path.abspath(f) for f in files] + [p for p in read if os.path.exists(p)])


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
    from rpsc.ir import ir as _ir

    heap = _load(args.store)
    modules = ir_modules(heap)
    ref = resolve_function(modules, args.function)
    heap_code = any(_ir.uses_heap(f) for m in modules for f in m.functions)
    if heap_code or args.commit or args.seed is not None or args.clock is not None:
        return _run_on_heap(args, heap, modules, ref)
    values = parse_args(ref, args.args)
    engine = make_engine(args.backend, args.store, modules, args.recursion_limit,
                         cache_dir=args.cache_dir, use_cache=not args.no_cache)
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
        engine.close()


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


def run_show(args: argparse.Namespace) -> int:
    """`rpsc show`: damaged stored code the decoder lets through and the printer cannot print is a StoreError."""
    from rpsrt.errors import StoreError

    try:
        return _show(args)
    except (IndexError, KeyError, TypeError, ValueError, AttributeError, AssertionError):
        raise StoreError("malformed stored code: it cannot be printed back (a part is missing or of the wrong "
                         "kind)", path=args.store) from None


def _show(args: argparse.Namespace) -> int:
    from rpsc.backends.engine import EngineError
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.decode import decode_function, decode_module
    from rpsc.heapcode.encode import module_objects
    from rpsc.ir.from_heap import code_modules

    heap = _load(args.store)
    cc = find_code_classes(heap)
    if cc is None:
        raise EngineError("this store holds no rpsc code: add some with `rpsc compile FILE.rps --store DIR`")
    printer = _printer()
    if args.name is None:
        texts = [printer.module(decode_module(m, cc)) for m in code_modules(heap)]
        print("\n".join(texts), end="")
        return 0
    mods = module_objects(heap, cc)
    if args.name in mods:
        print(printer.module(decode_module(mods[args.name], cc)), end="")
        return 0
    mname, _, fname = args.name.rpartition(".")
    found = []
    for name, m in sorted(mods.items()):
        if mname and name != mname:
            continue
        for d in decode_module(m, cc).decls:
            if getattr(d, "name", None) == fname and type(d).__name__ == "FnDecl":
                found.append((name, d))
    if not found:
        raise EngineError(f"no module or function named {args.name}")
    if len(found) > 1:
        raise EngineError(f"{args.name} is ambiguous: write one of "
                          + ", ".join(f"{m}.{fname}" for m, _ in found))
    del decode_function
    print(printer.decl(found[0][1]), end="")
    return 0


class _Printer:
    """Adapter over `rpsc.frontend.printer` (module -> text, declaration -> text)."""

    def __init__(self, mod: Any) -> None:
        self.mod = mod

    def module(self, m: Any) -> str:
        for name in ("print_module", "format_module", "pretty_module", "module_text"):
            f = getattr(self.mod, name, None)
            if f is not None:
                return str(f(m))
        return str(self.mod.pretty(m))

    def decl(self, d: Any) -> str:
        for name in ("print_decl", "format_decl", "pretty_decl", "decl_text"):
            f = getattr(self.mod, name, None)
            if f is not None:
                return str(f(d))
        return str(self.mod.pretty(d))


def _printer() -> _Printer:
    from rpsc.frontend import printer

    return _Printer(printer)
