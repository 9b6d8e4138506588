"""Incremental compiles and builds: redo only what changed (issue 12).

Two caches, both plain JSON files that only ever save work (a missing, stale or damaged cache means a full
compile or build, never a wrong result):

- **compile** (`DIR/.rpsc/compile-cache.json`): for each source path, the SHA-256 of the bytes last compiled,
  the module it defined, the modules it requires, and the module's *fingerprint* in the store (below). A
  source whose bytes and fingerprint both match is neither parsed, checked, lowered nor validated again;
  the modules requiring a module whose interface (`stored_interfaces`) changed are recompiled with it.
- **build** (`rpsc-build.json`'s `"cache"`, in the build folder): for each module, the fingerprint of the
  module and of everything it requires, and the name, symbols and SHA-256 of the C emitted for it. A module
  whose fingerprint matches and whose generated C is still on disk with those bytes gets neither IR nor C.

A module's fingerprint hashes its OID and modification time and those of its definitions' objects (the
lowering gives an object a new, strictly later mtime whenever its state changes), so it changes whenever
`rpsc compile` changes the module; `rpsc build`'s records (plugin file, checksums, symbols) do not change
it. The build fingerprint also covers the modules required (calls across modules embed their signatures).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_DIR = ".rpsc"
COMPILE_CACHE = "compile-cache.json"
CACHE_VERSION = 1


def _version() -> str:
    from rpsc import __version__

    return f"{CACHE_VERSION}:{__version__}"


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def module_fingerprints(heap: Any) -> dict[str, str]:
    """Module name -> fingerprint of the stored module (its objects' OIDs and mtimes), for every code module."""
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.encode import module_objects, stored_definitions

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    out = {}
    for name, mobj in module_objects(heap, cc).items():
        h = hashlib.sha256(f"{mobj.oid}@{mobj.mtime!r}".encode())
        for dname, (kind, obj) in sorted(stored_definitions(mobj, cc).items()):
            h.update(f";{kind}:{dname}={obj.oid}@{obj.mtime!r}".encode("utf-8", "surrogateescape"))
        out[name] = h.hexdigest()
    return out


def module_requires(heap: Any) -> dict[str, list[str]]:
    """Module name -> the names of the modules it requires, for every code module."""
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.ir.from_heap import _requirements, code_modules
    from rpsc.heapcode.classes import dec_str

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    return {str(m.attrs.get(cc.name)): sorted(str(dec_str(cc, r[4])) for r in _requirements(m, cc))
            for m in code_modules(heap)}


def build_fingerprints(heap: Any) -> dict[str, str]:
    """Module name -> fingerprint of the module and, transitively, of the modules it requires."""
    own = module_fingerprints(heap)
    reqs = module_requires(heap)
    memo: dict[str, str] = {}

    def fp(name: str, stack: tuple[str, ...]) -> str:
        if name in memo:
            return memo[name]
        h = hashlib.sha256((_version() + name + own.get(name, "-")).encode("utf-8", "surrogateescape"))
        for r in reqs.get(name, []):
            h.update(b";" + (fp(r, (*stack, name)) if r not in stack else "cycle:" + r).encode())
        memo[name] = h.hexdigest()
        return memo[name]

    return {name: fp(name, ()) for name in own}


# ------------------------------------------------------------------------------------------ compile cache


def read_compile_cache(store: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(Path(store) / CACHE_DIR / COMPILE_CACHE, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _version() or not isinstance(data.get("sources"), dict):
        return {}
    return data["sources"]  # type: ignore[no-any-return]


def write_compile_cache(store: str | os.PathLike[str], entries: dict[str, Any]) -> None:
    """Write the cache (best effort: a cache that cannot be written only costs a full compile next time)."""
    from rpsc.driver.build import write_if_changed

    data = json.dumps({"version": _version(), "sources": entries}, indent=1, sort_keys=True) + "\n"
    try:
        write_if_changed(Path(store) / CACHE_DIR / COMPILE_CACHE, data.encode("utf-8", "surrogateescape"))
    except OSError:
        pass


def module_sources(heap: Any) -> dict[str, str]:
    """Source path -> the module compiled from it, for every code module of `heap`."""
    from rpsc.heapcode.classes import dec_str, find_code_classes
    from rpsc.heapcode.encode import module_objects

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    out = {}
    for name, mobj in module_objects(heap, cc).items():
        path = dec_str(cc, mobj.attrs.get(cc.attr["source_file"]))
        if isinstance(path, str):
            out[path] = name
    return out


def compile_incremental(sources: list[tuple[str, str]], heap: Any, warnings: list[Any],
                        cache: dict[str, Any], rollback: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Compile into `heap` only the sources that changed since `cache` was written (all of them when it is
    empty), plus the sources of the modules requiring a module whose interface changed. Returns (the new
    cache entries, the paths compiled). Raises `CompileError` like `compile_sources` (the caller then does
    not dump the heap; with `rollback=False` the heap is then left half-compiled, see `compile_sources`)."""
    from rpsc.driver.pipeline import compile_sources
    from rpsc.heapcode.encode import stored_interfaces

    texts = dict(sources)
    hashes = {path: source_hash(text) for path, text in sources}
    fresh: dict[str, Any] = {}
    if cache and len(texts) == len(sources):
        fps = module_fingerprints(heap)
        for path, _ in sources:
            e = cache.get(path)
            if (isinstance(e, dict) and e.get("sha256") == hashes[path] and isinstance(e.get("module"), str)
                    and e.get("fingerprint") is not None and fps.get(e["module"]) == e["fingerprint"]):
                fresh[path] = e
        if len({e["module"] for e in fresh.values()}) != len(fresh):
            fresh = {}
    changed = [p for p, _ in sources if p not in fresh]
    compiled: list[str] = []
    if changed:
        before = stored_interfaces(heap) if fresh else {}
        compile_sources([(p, texts[p]) for p in changed], heap, warnings, ir_check="given", rollback=rollback,
                        interfaces=before if fresh else None)
        compiled += changed
        if fresh:
            after = stored_interfaces(heap)
            names = module_sources(heap)
            if {names.get(p) for p in changed} & {e["module"] for e in fresh.values()}:
                # a changed source now defines a module that an unchanged one defines: compile all together
                # to report it exactly as a full compile does
                compile_sources(sources, heap, warnings, rollback=rollback)
                compiled, fresh = [p for p, _ in sources], {}
            moved = {m for m in set(before) | set(after) if _iface(before.get(m)) != _iface(after.get(m))}
            dependents = [p for p, e in fresh.items() if moved & set(e.get("requires", []))]
            if dependents:
                compile_sources([(p, texts[p]) for p in dependents], heap, warnings, ir_check="given", rollback=rollback,
                                interfaces=after)
                compiled += dependents
    entries = {p: e for p, e in cache.items() if isinstance(e, dict)}
    if compiled:
        fps = module_fingerprints(heap)
        reqs = module_requires(heap)
        names = module_sources(heap)
        for path in compiled:
            name = names.get(path)
            if name is None:
                entries.pop(path, None)
                continue
            entries[path] = {"sha256": hashes[path], "module": name, "fingerprint": fps.get(name),
                             "requires": reqs.get(name, [])}
    return entries, compiled


def _iface(i: Any) -> Any:
    if i is None:
        return None
    return (i.name, i.version, sorted((k, d.kind, d.module, d.signature, d.mode, d.oid)
                                      for k, d in i.definitions.items()))


# ------------------------------------------------------------------------------------------ dirty spaces


def snapshot(heap: Any) -> dict[Any, tuple[Any, Any]]:
    """(mtime, space) of every object: what `dirty_spaces` compares with."""
    return {o: (o.mtime, o.space) for o in heap.objects.values()}


def dirty_spaces(heap: Any, before: dict[Any, tuple[Any, Any]], touched: Iterable[Any] = ()) -> set[Any]:
    """The spaces whose file may differ from the one loaded: those of the objects created, removed, moved or
    given a new mtime since `before` (the lowering gives every object it changes a new mtime), of the
    `touched` objects (changed without a new mtime: `rpsc build`'s records), of the instances of all these
    (a space file names each object's class), of every mutable set (`setob`) holding a new object, and rpsc's
    own space."""
    from rpsc.heapcode.classes import RPSC_SPACE
    from rpsrt.model.objects import PayloadSetOb

    out: set[Any] = set()
    changed = set(touched)
    for o in heap.objects.values():
        old = before.get(o)
        if old is None or old[0] != o.mtime or old[1] is not o.space:
            changed.add(o)
            out.add(o.space)
            if old is not None:
                out.add(old[1])
    for o in heap.objects.values():  # a space file names the class of each of its objects
        if o.cls in changed:
            out.add(o.space)
    for o, (_, space) in before.items():
        if heap.objects.get(o.oid) is not o:
            out.add(space)
    # A mutable set that gained a new object changed without a new mtime: rpsc files its classes in
    # upstream's `the_mutable_set_of_classes`, which keeps everything rpsc adds reachable from upstream's roots.
    for o in heap.objects.values():
        pl = o.payload
        if type(pl) is PayloadSetOb and any(e not in before for e in pl.elems):
            out.add(o.space)
    out.update(o.space for o in touched)
    rpsc = heap.objects.get(RPSC_SPACE)
    if rpsc is not None:
        out.add(rpsc)
    out.discard(None)
    return out
