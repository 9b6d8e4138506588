"""Recording built plugins back into the heap: plugin file, checksum and native symbols.

A module object (class `code_module`) gets `plugin_file` (path relative to the store), `plugin_sha256`
and `plugin_symbols` (the exported symbols, space-separated); each function object gets `native_symbol`
and `code_hash` (the SHA-256 of the typed IR that was compiled; rpsc's attributes of
`rpsc.heapcode.classes`). The three plugin attributes are rpsc objects with fixed OIDs, created in rpsc's
space when missing; upstream's dumper keeps them because they are attribute keys of the module objects.

The records live in the heap only: the manifest's `"plugins"` stays as upstream writes it (`[]`). Upstream's
loader would dlopen every module listed there (and needs `generated/rps<oid>-mod.cc` beside it) and its
dumper always writes an empty list, so listing rpsc's modules there would make upstream's re-dump differ
from rpsc's dump (docs/store.md, "Plugins"). A store built by an earlier rpsc, which listed its modules
there, loses those entries at its next build.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from rpsc.ir import ir
from rpsrt.model.oid import Oid

#: rpsc's attributes for built plugins (class `named_attribute`, in rpsc's space).
PLUGIN_ATTRIBUTES: dict[str, str] = {
    "plugin_file": "_17OLazhM5tP03Ckjw5",
    "plugin_sha256": "_3KUoVHyLOcW003WB9q",
    "plugin_symbols": "_2spy7pf9V4p01TAxwt",
}


def plugin_attributes(heap: Any) -> dict[str, Any]:
    """The plugin attribute objects of `heap`, created (with their names) when missing."""
    from rpsc.heapcode.classes import RPSC_MTIME, ensure_code_classes
    from rpsrt.model import wellknown as wk

    cc = ensure_code_classes(heap)
    out = {}
    for name, oid in PLUGIN_ATTRIBUTES.items():
        obj = heap.get(oid)
        if obj is None:
            obj = heap.create(heap[wk.NAMED_ATTRIBUTE], oid=Oid.parse(oid), space=cc.space, mtime=RPSC_MTIME)
            obj.attrs[cc.name] = name
        out[name] = obj
    out["native_symbol"] = cc.attr["native_symbol"]
    out["code_hash"] = cc.attr["code_hash"]
    return out


def code_hash(fn: Any) -> str:
    """The hex SHA-256 of a typed IR function (`ir.Function`): what the backends compile."""
    import hashlib

    return hashlib.sha256(repr(fn).encode()).hexdigest()


def _set(obj: Any, attr: Any, value: Any, touched: set[Any] | None = None) -> bool:
    if obj.attrs.get(attr) == value:
        return False
    obj.attrs[attr] = value
    if touched is not None:
        touched.add(obj)
    return True


def record(heap: Any, results: Sequence[Any], store: Path, modules: Sequence[Any] = (),
           touched: set[Any] | None = None, skip: Collection[str] = ()) -> bool:
    """Record every module of `results` (ModuleResult) in `heap`, with the code hashes of the functions of
    `modules` (the IR that was compiled); True when anything changed. The objects changed are added to
    `touched` (the attribute objects created go to rpsc's space). `skip`: OIDs of modules whose records
    the caller knows the store holds already (their objects are not touched)."""
    attrs = plugin_attributes(heap) if results else {}
    changed = False
    built_oids = {str(r.oid) for r in results}
    for m in modules:
        if m.oid not in built_oids:
            continue
        for f in m.functions:
            fobj = heap.get(f.ref.oid)
            if fobj is not None:
                changed |= _set(fobj, attrs["code_hash"], code_hash(f), touched)
    for r in results:
        if r.oid in skip:
            continue
        mod = heap.get(r.oid)
        if mod is None:
            continue
        rel = str(Path(r.plugin).absolute().relative_to(store.absolute())) if Path(r.plugin).is_absolute() else r.plugin
        changed |= _set(mod, attrs["plugin_file"], rel, touched)
        changed |= _set(mod, attrs["plugin_sha256"], r.sha256, touched)
        changed |= _set(mod, attrs["plugin_symbols"], " ".join(r.symbols), touched)
        for sym in r.symbols:
            oid = ir.oid_of_symbol(sym)
            fn = heap.get(oid) if oid else None
            if fn is not None:
                changed |= _set(fn, attrs["native_symbol"], sym, touched)
    # Migration: rpsc up to 0.1 listed its modules in the manifest's `plugins`; they leave it (as entries
    # whose object is gone from the store do), other programs' entries stay.
    pfile = attrs.get("plugin_file") or heap.get(PLUGIN_ATTRIBUTES["plugin_file"])
    for obj in list(heap.plugins):
        ours = (pfile is not None and pfile in obj.attrs) or str(obj.oid) in built_oids
        if heap.get(obj.oid) is not obj or ours:
            heap.plugins.discard(obj)
            changed = True
    return changed


def built_modules(heap: Any) -> list[Any]:
    """The module objects of `heap` that `rpsc build` recorded (those with a `plugin_file`), by OID."""
    pfile = heap.get(PLUGIN_ATTRIBUTES["plugin_file"])
    if pfile is None:
        return []
    return sorted((o for o in heap.objects.values() if type(o.attrs.get(pfile)) is str), key=lambda o: o.oid)
