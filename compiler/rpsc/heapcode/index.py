"""An index of the code modules of a heap: per module, what the incremental compile and build need of it.

`module_entry(mobj, cc)` describes one stored module as plain JSON data:

    {"oid": module OID, "spaces": [the space OIDs of the module object and of its definitions' objects],
     "fingerprint": SHA-256 of the OIDs and mtimes of those objects, "requires": [module names],
     "source": its source file, "old": True when stored in rpsc 0.1.0's encoding,
     "interface": [version, [[name, kind, module, params, ret, mode, oid, type], ...]]}

`scan(heap)` gives the entry of every code module (what `rpsc.heapcode.encode.module_objects` finds);
`refresh(heap, entries, spaces)` updates entries for a heap of which only the objects in `spaces` may
have changed: the modules with an object there are described again (touching only their objects), the
code modules found there are added, those gone are dropped; every other entry is kept without touching
any of its objects. rpsc.driver.incremental keeps the index beside the store, keyed by the store files'
state, so that a command on a lazily loaded store (docs/store.md "Lazy loading") touches only the modules
that changed. The index reads the encoding; it never writes anything into the heap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from rpsrt.model.heap import Heap
from rpsrt.model.objects import RpsObject
from rpsrt.model.values import VInstance

from rpsc.heapcode.classes import CodeClasses, dec_str, parts


def object_name(obj: RpsObject) -> str | None:
    """The name of a heap object, as the generated headers give it: its symbol's name, its class name, or
    its `name` attribute (a string)."""
    from rpsrt.model import wellknown as wk
    from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol

    p = obj.payload
    if isinstance(p, PayloadSymbol) and p.name:
        return p.name
    if isinstance(p, PayloadClassInfo) and p.name:
        return p.name
    for attr, value in obj.attrs.items():
        if attr.oid == wk.NAME and isinstance(value, str) and value:
            return value
    return None


def fingerprint(mobj: RpsObject, cc: CodeClasses, definitions: Mapping[str, tuple[str, RpsObject]]) -> str:
    """The fingerprint of a stored module: its OID and mtime and those of its definitions' objects (the
    lowering gives an object a new, strictly later mtime whenever its state changes)."""
    h = hashlib.sha256(f"{mobj.oid}@{mobj.mtime!r}".encode())
    for dname, (kind, obj) in sorted(definitions.items()):
        h.update(f";{kind}:{dname}={obj.oid}@{obj.mtime!r}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def stored_requirements(mobj: RpsObject, cc: CodeClasses) -> list[str]:
    """The names of the modules a stored module requires, sorted."""
    seq = parts(mobj.attrs.get(cc.attr["requires"]))
    recs = [p[1] for r in (seq[1] if seq is not None else ()) if (p := parts(r)) is not None]
    return sorted(str(dec_str(cc, r[4])) for r in recs)


def module_entry(mobj: RpsObject, cc: CodeClasses) -> dict[str, Any]:
    """The index entry of one stored module object (raises on malformed stored code, as its readers do)."""
    from rpsc.heapcode.encode import interface_record, stored_definitions

    name = mobj.attrs.get(cc.name)
    defs = stored_definitions(mobj, cc)
    spaces = {str(o.space.oid) for o in (mobj, *(obj for _k, obj in defs.values())) if o.space is not None}
    source = dec_str(cc, mobj.attrs.get(cc.attr["source_file"]))
    return {
        "oid": str(mobj.oid),
        "spaces": sorted(spaces),
        "fingerprint": fingerprint(mobj, cc, defs),
        "requires": stored_requirements(mobj, cc),
        "source": source if isinstance(source, str) else None,
        "old": isinstance(mobj.attrs.get(cc.attr["decls"]), VInstance),
        "interface": interface_record(str(name), mobj, cc),
    }


#: (module name, id of an entry's interface record) -> (the record, its ModuleInterface): a compile asks for
#: every entry's interface before and after it compiles, and `refresh` keeps the unchanged entries' records
#: (the same objects, never changed in place); the record is held so that its id is not reused.
_INTERFACES: dict[tuple[str, int], tuple[Any, Any]] = {}


def interfaces(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The checker's `ModuleInterface` of every entry: what `stored_interfaces(heap)` gives for them."""
    from rpsc.heapcode.encode import interface_from_record

    if len(_INTERFACES) > 4 * len(entries) + 256:  # a long-lived process (the language server): stay bounded
        _INTERFACES.clear()
    out = {}
    for mname, e in entries.items():
        rec = e["interface"]
        known = _INTERFACES.get((mname, id(rec)))
        if known is None or known[0] is not rec:
            known = _INTERFACES[(mname, id(rec))] = (rec, interface_from_record(mname, rec))
        out[mname] = known[1]
    return out


def definition_objects(mobj: RpsObject, cc: CodeClasses) -> list[RpsObject]:
    """The objects of a stored module's declaration records, without reading them (nor filling a ghost)."""
    seq = parts(mobj.attrs.get(cc.attr["decls"]))
    out = []
    for rec in seq[1] if seq is not None else ():
        p = parts(rec)
        if p is not None and p[0] is cc.cls["code_decl"] and len(p[1]) > 5 and isinstance(p[1][5], RpsObject):
            out.append(p[1][5])
    return out


def _module_of(obj: RpsObject, cc: CodeClasses) -> str | None:
    if obj.cls is cc.cls["code_module"]:
        name = obj.attrs.get(cc.name)
        if isinstance(name, str):
            return name
    return None


def scan(heap: Heap, cc: CodeClasses) -> dict[str, dict[str, Any]]:
    """The entry of every code module of `heap` (touches every object)."""
    from rpsc.heapcode.encode import module_objects

    return {name: module_entry(m, cc) for name, m in module_objects(heap, cc).items()}


def refresh(heap: Heap, cc: CodeClasses, entries: Mapping[str, Mapping[str, Any]],
            spaces: Collection[str]) -> dict[str, dict[str, Any]] | None:
    """`entries` brought up to date for `heap`, of which only the objects in the spaces `spaces` (OID texts)
    may differ from what the entries describe. None when that cannot be told apart from a whole scan (two
    modules of one name)."""
    changed = set(spaces)
    out: dict[str, dict[str, Any]] = {}
    again: list[str] = []
    for name, e in entries.items():
        if changed.intersection(e["spaces"]):
            again.append(name)
        else:
            out[name] = dict(e)
    objects = heap.objects
    found: dict[str, RpsObject] = {}
    for name in again:
        obj = heap.get(entries[name]["oid"])
        if obj is not None and _module_of(obj, cc) == name:
            found[name] = obj
    for obj in objects.values():  # the code modules now in a changed space (a ghost's space is known)
        sp = obj.space
        if sp is not None and str(sp.oid) in changed:
            name = _module_of(obj, cc)
            if name is None:
                continue
            if found.get(name, obj) is not obj or name in out:
                return None
            found[name] = obj
    for name, obj in found.items():
        out[name] = module_entry(obj, cc)
    return out


def module_order(entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The module names in `rpsc.ir.from_heap.code_modules`' order: each after those it requires, ties by name."""
    out: list[str] = []
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done or name in stack or name not in entries:
            return
        for r in entries[name]["requires"]:
            visit(r, (*stack, name))
        done.add(name)
        out.append(name)

    for name in sorted(entries):
        visit(name, ())
    return out
