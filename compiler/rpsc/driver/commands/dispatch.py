"""`rpsc dispatch`: load a store's built plugins and dispatch one of their extension points from the CLI.

Implementations run in dispatch order (priority, highest first; ties by plugin name, then registration
order), each called on its own so that every result is reported: mode `all` calls each one, mode `first`
only the first. A trap stops the dispatch (as it stops `ExtensionPoint.__call__`) and exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rpsc.driver.commands import numbers_as_arguments

#: The version of the JSON document `rpsc dispatch --json` prints (docs/json-output.md).
SCHEMA_VERSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "dispatch", help="dispatch an extension point through a store's built plugins",
        description="Load the plugins `rpsc build` made for a store (and any --plugin-path plugins named by "
                    "--load), then dispatch extension point POINT with ARGS parsed by its signature. Mode "
                    "`all` prints every implementation's result in dispatch order; mode `first` the first "
                    "one's. A trap prints its location and exits with status 3.",
        epilog="examples:\n  rpsc dispatch --store st on_tick 26\n  rpsc dispatch --store st --json score 100\n"
               "  rpsc dispatch --store st --list            (the store's extension points)\n"
               "A point with str, obj or value types runs against the store's heap: what its implementations\n"
               "change is reported on stderr, never written.\n"
               "exit status: 0 ok, 1 error, 3 trap",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory (built with `rpsc build`)")
    p.add_argument("--json", action="store_true", help="print the dispatch as one JSON document on stdout")
    p.add_argument("--list", action="store_true", help="list the extension points and their implementations")
    p.add_argument("--plugin-path", action="append", default=[], metavar="DIR",
                   help="also search DIR for plugins named by --load (repeatable)")
    p.add_argument("--load", action="append", default=[], metavar="NAME[:KEY=VALUE,...]",
                   help="also load this plugin (with its arguments), e.g. hello_c:priority=15 (repeatable)")
    p.add_argument("--recursion-limit", type=int, default=None, metavar="N",
                   help="calls nested deeper than N trap (default 10000)")
    p.add_argument("point", nargs="?", metavar="POINT", help="the extension point's name")
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="the arguments (ints, floats, true/false; a str verbatim, an obj as an OID text or a "
                        "symbol name, or null)")
    p.set_defaults(handler=run)
    numbers_as_arguments(p)


_TYPE_NAMES = {"i64": "int", "f64": "float", "bool": "bool", "void": "void", "str": "str", "obj": "obj",
               "val": "value"}
#: The signature codes of version 2's heap types: their values cross the ABI as the heap host's handles.


def _parse_load(text: str) -> tuple[str, dict[str, str]]:
    from rpsc.backends.engine import EngineError

    name, _, rest = text.partition(":")
    arguments: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise EngineError(f"--load {text}: expected NAME:KEY=VALUE,... (got {item!r})")
        arguments[key] = value
    return name, arguments


def _describe(impl: Any) -> dict[str, Any]:
    return {"plugin": impl.plugin, "name": impl.name, "priority": impl.priority}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.engine import EngineError, call_interruptibly, format_result, parse_arg
    from rpsc.ir import ir
    from rpsrt import abi
    from rpsrt.errors import DEFAULT_RECURSION_LIMIT, PluginError, StoreError, Trap

    store = Path(args.store)
    if not (store / "rps_manifest.json").is_file():
        raise StoreError("no store here (no rps_manifest.json); create one with `rpsc compile`", path=str(store))
    limit = DEFAULT_RECURSION_LIMIT if args.recursion_limit is None else args.recursion_limit
    if not 1 <= limit < 2**31:
        raise EngineError(f"--recursion-limit must be between 1 and {2**31 - 1}, got {limit}")
    if args.point is None and not args.list:
        raise EngineError("rpsc dispatch: give an extension point (POINT ARG...), or --list")
    loads = [_parse_load(x) for x in args.load]
    from rpsrt.plugins import PluginManager

    manager = PluginManager(args.plugin_path, store=store)
    engine = NativeEngine(store, recursion_limit=limit, manager=manager)
    try:
        for name, arguments in loads:
            manager.load(name, arguments)
        points = manager.points
        if args.list:
            return _list(points, args.json)
        point = points.get(args.point)
        if point is None:
            known = ", ".join(sorted(points)) or "none"
            raise PluginError(f"no extension point named {args.point} in the store's plugins (points: {known})",
                              path=str(store))
        sig = point.signature
        if len(args.args) != len(sig.params):
            n = len(sig.params)
            types = ", ".join(_TYPE_NAMES[t] for t in sig.params) or "none"
            raise EngineError(f"{point.name} takes {n} argument{'' if n == 1 else 's'} ({types}), got {len(args.args)}")
        types = {"i64": ir.I64, "f64": ir.F64, "bool": ir.BOOL, "str": ir.STR, "obj": ir.OBJ, "val": ir.VALUE}
        on_heap = abi.heap_typed(sig.params, sig.ret)
        heap = None
        if on_heap:  # version 2: the implementations work on the store's heap, through the engine's host
            import rpsrt

            heap = rpsrt.load_store(store)
            engine.attach_heap(heap)
        values = [parse_arg(a, types[t], heap) for a, t in zip(args.args, sig.params, strict=True)]
        impls = point.implementations
        if not impls and point.mode == "first":
            raise PluginError(f"extension point {point.name} has no implementation")
        to_call = impls if point.mode == "all" else impls[:1]
        rows: list[dict[str, Any]] = []
        trap: Trap | None = None
        with _heap_changes(heap) as diff:
            for impl in to_call:
                ok, value = call_interruptibly(engine, _caller(engine, impl, sig) if on_heap else impl.call, values)
                row = _describe(impl)
                if not ok:
                    if isinstance(value, Trap):
                        engine.rt.depth = 0
                        trap = value
                        row["trap"] = {"kind": value.kind, "function": value.function, "location": value.location}
                        rows.append(row)
                        break
                    raise value  # type: ignore[misc]
                row["result"] = None if sig.ret == "void" else _shown(value, sig.ret)
                rows.append(row)
        for line in diff:
            print(f"rpsc: {line} (not written: a dispatch never dumps)", file=sys.stderr)
        values = [_shown(v, t) for v, t in zip(values, sig.params, strict=True)]
        called = len(rows)
        skipped = [_describe(i) for i in impls[called:]]
        if args.json:
            doc: dict[str, Any] = {
                "schema": SCHEMA_VERSION, "point": point.name, "signature": str(sig), "mode": point.mode,
                "args": values, "calls": rows, "not_called": skipped,
                "result": (None if trap is not None else
                           [r["result"] for r in rows] if point.mode == "all" else rows[0]["result"]),
            }
            if trap is not None:
                doc["trap"] = rows[-1]["trap"]
            print(json.dumps(_jsonable(doc), indent=2))
        else:
            shown = ", ".join(format_result(v, types[t]) for v, t in zip(values, sig.params, strict=True))
            print(f"{point.name}({shown}) [mode {point.mode}, {len(impls)} implementation"
                  f"{'' if len(impls) == 1 else 's'}]")
            width = max([len(f"{i.plugin}.{i.name}") for i in impls] or [0])
            for n, r in enumerate(rows, 1):
                who = f"{r['plugin']}.{r['name']}".ljust(width)
                if "trap" in r:
                    t = r["trap"]
                    outcome = f"trap: {t['kind']} at {t['location']}"
                else:
                    outcome = format_result(r["result"], types[sig.ret]) if sig.ret != "void" else "(void)"
                print(f"  {n}. {who}  priority {r['priority']:>4}  -> {outcome}")
            for n, r in enumerate(skipped, called + 1):
                who = f"{r['plugin']}.{r['name']}".ljust(width)
                why = "not called (mode first)" if trap is None else "not called (after the trap)"
                print(f"  {n}. {who}  priority {r['priority']:>4}  -- {why}")
        if trap is not None:
            print(f"{trap.location}: trap: {trap.kind} in {trap.function}", file=sys.stderr)
            return 3
        return 0
    finally:
        engine.close()


def _caller(engine: Any, impl: Any, sig: Any) -> Any:
    """A heap point's implementation called with Python values: a native one through the engine's heap host
    (str/obj/value as handles, rpsrt.heaphost.wrap_call), a Python one as it is."""
    if impl.address is None:
        return impl.call
    from rpsrt.abi import HEAP_CODES
    from rpsrt.heaphost import wrap_call

    return wrap_call(engine.host, [t in HEAP_CODES for t in sig.params], sig.ret in HEAP_CODES, impl.call)


def _shown(value: Any, code: str) -> Any:
    """A value as the dispatch reports it: an object as its OID text (`rpsc run`'s form), the rest as is."""
    from rpsrt.abi import HEAP_CODES
    from rpsrt.model.objects import RpsObject

    return str(value.oid) if code in HEAP_CODES and isinstance(value, RpsObject) else value


class _heap_changes:
    """Around the calls of a heap point: the changes they make to `heap` (the lines of
    `rpsrt.model.heapapi.changes`, in the list it yields, filled on exit); the heap is then thrown away
    unwritten. Nothing without a heap."""

    def __init__(self, heap: Any) -> None:
        self.heap = heap
        self.lines: list[str] = []

    def __enter__(self) -> list[str]:
        if self.heap is not None:
            from rpsrt.model.heapapi import HeapSnapshot

            self.before = HeapSnapshot.take(self.heap)
        return self.lines

    def __exit__(self, *exc: object) -> None:
        if self.heap is not None and exc[0] is None:
            from rpsrt.model.heapapi import changes

            self.lines.extend(changes(self.before, self.heap).lines())


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (inf, -inf, nan) as the strings `rpsc run` prints for them."""
    from rpsc.backends.engine import format_result

    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else format_result(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _list(points: dict[str, Any], as_json: bool) -> int:
    doc = [{"point": p.name, "signature": str(p.signature), "mode": p.mode,
            "implementations": [_describe(i) for i in p.implementations]} for p in
           (points[k] for k in sorted(points))]
    if as_json:
        print(json.dumps({"schema": SCHEMA_VERSION, "points": doc}, indent=2))
        return 0
    for p in doc:
        print(f"{p['point']} {p['signature']} [mode {p['mode']}]")
        for n, i in enumerate(p["implementations"], 1):
            print(f"  {n}. {i['plugin']}.{i['name']}  priority {i['priority']}")
    return 0
