"""`rpsc compile`, `rpsc show`: sources into a store, printing code back (`rpsc run`: commands/run.py)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from rpsc.driver.commands.store import add_lock_timeout


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
    from rpsc.frontend.parser import read_source
    from rpsrt.errors import StoreError
    from rpsrt.store.writer import update_lock

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
            from rpsc.driver import incremental

            cache = {} if args.no_incremental or not exists else incremental.read_compile_cache(store)
            # Lazily loaded when few sources changed (a lazy load pays when it touches few objects).
            changed = sum(1 for p, text in sources if not isinstance(cache.get(p), dict)
                          or cache[p].get("sha256") != incremental.source_hash(text))
            live = (incremental.LiveIndex.open(store, lazy=changed <= max(4, len(sources) // 4)) if cache else None)
            try:
                found = _compile_into(args, store, sources, exists, cache, live)
            except incremental._Doubt:  # the index cannot follow this change: the whole-store path
                found = _compile_into(args, store, sources, exists, cache, None)
            if warnings is not None:
                warnings.extend(found)
            if args.stamp:
                _write_compile_stamp(args.stamp, args.files, read)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(store)  # only when still empty: a failed first compile leaves nothing behind
        raise
    return 0


def _compile_into(args: argparse.Namespace, store: str, sources: list[tuple[str, str]], exists: bool,
                  cache: dict[str, Any], live: Any) -> list[Any]:
    """Load, compile the changed sources, dump the changed spaces, write the caches; the warnings found.
    With `live` (a `LiveIndex`: the store loaded lazily with its code index), only the modules compiled are
    touched, and the index is kept up to date; without, the whole store is loaded."""
    import rpsrt
    from rpsc.driver import incremental
    from rpsc.driver.pipeline import migrate_code, new_heap
    from rpsrt.store.writer import dump_store

    notice = None
    if live is not None:
        heap = live.heap  # the index holds no module of rpsc 0.1.0 (else it is not used): nothing to migrate
    else:
        heap = rpsrt.load_store(store) if exists else new_heap()
        notice = migrate_code(heap)
        if notice:
            print(notice, file=sys.stderr)
            cache = {}
    found: list[Any] = []
    before = incremental.snapshot(heap) if exists and not notice and live is None else None
    # On an error nothing is dumped and the heap is dropped: no rollback copy of it is needed.
    entries, compiled = incremental.compile_incremental(sources, heap, found, cache, rollback=False, live=live)
    for w in found:
        print(w.render(), file=sys.stderr)
    if live is not None:
        spaces = live.dirty_spaces() if compiled else set()
    else:
        spaces = incremental.dirty_spaces(heap, before) if before is not None else None
    if compiled or (before is None and live is None):  # nothing recompiled: the heap is the one loaded
        dump_store(heap, store, locked=True, lock_timeout=args.lock_timeout, spaces=spaces)
    incremental.write_compile_cache(store, entries)
    incremental.write_index_of(store, heap, live, spaces or ())
    return found


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
