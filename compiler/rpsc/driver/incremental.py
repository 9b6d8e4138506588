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
#: Part of every fingerprint (`_version`): bump when what rpsc makes of the same stored code changes (the
#: generated C, as when it began to call the heap API's fast entry), so that builds made before emit again.
CACHE_VERSION = 3


def _version() -> str:
    from rpsc import __version__

    return f"{CACHE_VERSION}:{__version__}"


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def module_fingerprints(heap: Any) -> dict[str, str]:
    """Module name -> fingerprint of the stored module (its objects' OIDs and mtimes), for every code module."""
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.encode import module_objects, stored_definitions
    from rpsc.heapcode.index import fingerprint

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    return {name: fingerprint(mobj, cc, stored_definitions(mobj, cc)) for name, mobj in module_objects(heap, cc).items()}


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


def build_fingerprints(heap: Any, entries: dict[str, Any] | None = None) -> dict[str, str]:
    """Module name -> fingerprint of the module and, transitively, of the modules it requires (from the
    index `entries` when given, which must describe `heap`: see `LiveIndex`)."""
    if entries is not None:
        own = {n: e["fingerprint"] for n, e in entries.items()}
        reqs = {n: e["requires"] for n, e in entries.items()}
    else:
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
    from rpsc.driver.quick import write_if_changed

    data = json.dumps({"version": _version(), "sources": entries}, sort_keys=True, separators=(",", ":")) + "\n"
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
                        cache: dict[str, Any], rollback: bool = True, live: LiveIndex | None = None
                        ) -> tuple[dict[str, Any], list[str]]:
    """Compile into `heap` only the sources that changed since `cache` was written (all of them when it is
    empty), plus the sources of the modules requiring a module whose interface changed. Returns (the new
    cache entries, the paths compiled). Raises `CompileError` like `compile_sources` (the caller then does
    not dump the heap; with `rollback=False` the heap is then left half-compiled, see `compile_sources`).
    `live`: the code index of `heap` (a lazy load): fingerprints, interfaces and module objects come from
    it, and only the modules compiled are touched."""
    from rpsc.driver.pipeline import compile_sources
    from rpsc.heapcode.encode import stored_interfaces

    def fingerprints() -> dict[str, str]:
        return {n: e["fingerprint"] for n, e in live.entries.items()} if live is not None else module_fingerprints(heap)

    def interfaces() -> dict[str, Any]:
        if live is None:
            return stored_interfaces(heap)  # type: ignore[no-any-return]
        from rpsc.heapcode.index import interfaces as of_entries

        return of_entries(live.entries)

    def brought_up_to_date() -> None:
        if live is not None and not live.refresh(live.dirty_spaces()):
            raise _Doubt("the code index cannot follow this change")

    texts = dict(sources)
    hashes = {path: source_hash(text) for path, text in sources}
    fresh: dict[str, Any] = {}
    if cache and len(texts) == len(sources):
        fps = fingerprints()
        for path, _ in sources:
            e = cache.get(path)
            if (isinstance(e, dict) and e.get("sha256") == hashes[path] and isinstance(e.get("module"), str)
                    and e.get("fingerprint") is not None and fps.get(e["module"]) == e["fingerprint"]):
                fresh[path] = e
        if len({e["module"] for e in fresh.values()}) != len(fresh):
            fresh = {}
    changed = [p for p, _ in sources if p not in fresh]
    compiled: list[str] = []
    mods = live.module_objects if live is not None else None
    if changed and live is not None:
        names = live.module_sources()
        live.track_modules(names[p] for p in changed if p in names)
    if changed:
        before = interfaces() if fresh or live is not None else {}
        compile_sources([(p, texts[p]) for p in changed], heap, warnings, ir_check="given", rollback=rollback,
                        interfaces=before if fresh or live is not None else None,
                        stored=mods() if mods is not None else None)
        compiled += changed
        if fresh:
            brought_up_to_date()
            after = interfaces()
            names = live.module_sources() if live is not None else module_sources(heap)
            if {names.get(p) for p in changed} & {e["module"] for e in fresh.values()}:
                # a changed source now defines a module that an unchanged one defines: compile all together
                # to report it exactly as a full compile does
                compile_sources(sources, heap, warnings, rollback=rollback)
                compiled, fresh = [p for p, _ in sources], {}
                live = None  # every module was touched: from here on, as without an index
            moved = {m for m in set(before) | set(after) if _iface(before.get(m)) != _iface(after.get(m))}
            dependents = [p for p, e in fresh.items() if moved & set(e.get("requires", []))]
            if dependents:
                if live is not None:
                    live.track_modules(e["module"] for p, e in fresh.items() if p in dependents)
                compile_sources([(p, texts[p]) for p in dependents], heap, warnings, ir_check="given", rollback=rollback,
                                interfaces=after, stored=mods() if live is not None and mods is not None else None)
                compiled += dependents
    entries = {p: e for p, e in cache.items() if isinstance(e, dict)}
    if compiled:
        if live is not None:
            brought_up_to_date()
            fps = fingerprints()
            reqs = {n: e["requires"] for n, e in live.entries.items()}
            names = live.module_sources()
        else:
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


def _error_base() -> type:
    from rpsc import Error

    return Error


class _Doubt(_error_base()):  # type: ignore[misc]
    """The code index cannot follow a change (rpsc.heapcode.index.refresh): the caller redoes the compile
    without the index (never shown: `rpsc compile` catches it)."""


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
    return _with_touched(heap, out, touched)


def _with_touched(heap: Any, out: set[Any], touched: Iterable[Any]) -> set[Any]:
    """`out` with the spaces of the objects `touched` and rpsc's own space (where the code index's and the
    build's records live), without None (objects in no space)."""
    from rpsc.heapcode.classes import RPSC_SPACE

    out.update(o.space for o in touched)
    rpsc = heap.objects.get(RPSC_SPACE)
    if rpsc is not None:
        out.add(rpsc)
    out.discard(None)
    return out


# ------------------------------------------------------------------------------------------ the code index

INDEX_FILE = "code-index.json"


def read_index(store: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The code index last written beside the store (`write_index`), or None (missing, other version, damaged)."""
    try:
        with open(Path(store) / CACHE_DIR / INDEX_FILE, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("version") != _version() or not isinstance(data.get("store"), dict)
            or not isinstance(data.get("modules"), dict) or not isinstance(data.get("names"), dict)):
        return None
    return data


def write_index(store: str | os.PathLike[str], entries: dict[str, Any], names: dict[str, Any]) -> None:
    """Record the index entries and the named objects (`space_names`) of the store as its files are now
    (best effort: an index that cannot be written only costs the whole-store path next time). Call it after
    the dump, under the store's lock."""
    from rpsc.driver.quick import store_stamps, write_if_changed

    data = {"version": _version(), "store": store_stamps(Path(store)), "modules": entries, "names": names}
    try:
        write_if_changed(Path(store) / CACHE_DIR / INDEX_FILE,
                         (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8", "surrogateescape"))
    except (OSError, ValueError):
        pass


def drop_index(store: str | os.PathLike[str]) -> None:
    try:
        os.unlink(Path(store) / CACHE_DIR / INDEX_FILE)
    except OSError:
        pass


def index_delta(store: str | os.PathLike[str], index: dict[str, Any] | None) -> set[str] | None:
    """The OIDs (text) of the spaces whose files changed since `index` was written; None when the index
    cannot be used: none, the manifest changed, or space files were added or removed."""
    from rpsc.driver.quick import MANIFEST, store_stamps

    if index is None:
        return None
    now = store_stamps(Path(store))
    old = index["store"]
    if set(now) != set(old) or MANIFEST not in now or now[MANIFEST] != old[MANIFEST]:
        return None
    out = set()
    for rel, st in now.items():
        if st != old[rel]:
            name = os.path.basename(rel)
            if not (name.startswith("sp") and name.endswith("-rps.json")):
                return None
            out.add(name[2:-len("-rps.json")])
    return out


def space_names(heap: Any, spaces: set[str] | None = None) -> dict[str, list[list[str]]]:
    """Space OID -> [[oid, name], ...] of the named objects in it (what the generated headers list,
    `rpsc.heapcode.index.object_name`), for the spaces `spaces` (OID texts; None: every space; the others
    are not touched)."""
    from rpsc.heapcode.index import object_name

    out: dict[str, list[list[str]]] = {s: [] for s in spaces} if spaces is not None else {}
    for o in heap.objects.values():
        sp = o.space
        if sp is None:
            continue
        key = sp.oid[2]
        if spaces is not None and key not in spaces:
            continue
        name = object_name(o)
        if name is not None:
            out.setdefault(key, []).append([o.oid[2], name])
    return out


def write_index_of(store: str | os.PathLike[str], heap: Any, live: LiveIndex | None, spaces: Iterable[Any]) -> None:
    """Keep the code index of the store as the command leaves it (after its dump, which changed at most
    `spaces` when `live`): brought up to date when `live`, else made from the whole heap; dropped when it
    cannot be made (no rpsc code, rpsc 0.1.0's encoding, malformed code)."""
    if live is not None and live.refresh(spaces):
        write_index(store, live.entries, live.names)
        return
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.index import scan

    cc = find_code_classes(heap)
    try:
        entries = scan(heap, cc) if cc is not None else None
    except Exception:  # malformed stored code (not rpsc's): no index, every command takes the whole store
        entries = None
    if entries is None or any(e["old"] for e in entries.values()):
        drop_index(store)
    else:
        write_index(store, entries, space_names(heap))


class LiveIndex:
    """A lazily loaded heap with the code index that describes it (docs/build-systems.md, "The edit path").

    `open(store)` loads the store lazily when its index is usable and brings the entries up to date for the
    space files changed since (touching only their objects); otherwise it returns None and the caller takes
    the whole-store path. `entries` then describes every code module of `heap` as `index.scan` would;
    `mark()` records the objects filled so far with their (mtime, space), and `dirty_spaces()` gives the
    spaces that may differ from their files since: those of objects created, removed, moved or given a new
    mtime, and those of every object filled after `mark()` (maybe changed: its space is rendered and
    compared, never skipped). A ghost is unchanged."""

    def __init__(self, heap: Any, cc: Any, entries: dict[str, Any], names: dict[str, Any]) -> None:
        self.heap = heap
        self.cc = cc
        self.entries = entries
        self.names = names  # space_names of the heap
        self.filled: dict[Any, tuple[Any, Any]] = {}
        self.ids: set[Any] = set()

    @classmethod
    def open(cls, store: str, index: dict[str, Any] | None = None, lazy: Any = True) -> LiveIndex | None:
        """`lazy`: load lazily (True), eagerly (False: the entries still spare the scans), or ask
        `lazy(entries, changed_spaces)` (the entries as recorded, the space OIDs changed since)."""
        import rpsrt

        from rpsc.heapcode.classes import find_code_classes
        from rpsc.heapcode.index import refresh

        index = read_index(store) if index is None else index
        delta = index_delta(store, index)
        if delta is None or index is None:
            return None
        if callable(lazy):
            lazy = lazy(index["modules"], delta)
        heap = rpsrt.load_store(store, lazy=bool(lazy))
        cc = find_code_classes(heap)
        if cc is None:
            return None
        try:
            entries = refresh(heap, cc, index["modules"], delta)
        except Exception:  # malformed stored code: the whole-store path reports it as it does
            return None
        if entries is None or any(e["old"] for e in entries.values()):
            return None
        names = dict(index["names"])
        names.update(space_names(heap, delta))
        live = cls(heap, cc, entries, names)
        for sp in list(heap.spaces):  # the lowering looks spaces up by name: fill them before the mark
            sp.attrs  # noqa: B018
        live.mark()
        return live

    def mark(self) -> None:
        self.filled = {o: (o.mtime, o.space) for o in self.heap.objects.values() if not o.is_ghost}
        self.ids = set(self.heap.objects)

    def track(self, objs: Iterable[Any]) -> None:
        """Fill the ghosts among `objs` as they are in the store, before anything changes them, so that
        `dirty_spaces` compares them instead of taking them as maybe changed."""
        for o in objs:
            if o is not None and o.is_ghost:
                self.filled[o] = (o.mtime, o.space)

    def track_modules(self, names: Iterable[str]) -> None:
        """`track` the objects of these modules (module object, definitions, class symbols): those that
        compiling them changes."""
        from rpsc.heapcode.index import definition_objects
        from rpsrt.model.objects import PayloadClassInfo

        for n in names:
            e = self.entries.get(n)
            m = self.heap.get(e["oid"]) if e is not None else None
            if m is None:
                continue
            self.track([m])
            for obj in definition_objects(m, self.cc):
                self.track([obj])
                if type(obj.payload) is PayloadClassInfo:
                    self.track([obj.payload.symb])

    def module_objects(self) -> dict[str, Any]:
        return {n: self.heap[e["oid"]] for n, e in self.entries.items()}

    def dirty_spaces(self, touched: Iterable[Any] = ()) -> set[Any]:
        """Like `dirty_spaces` (the module function), without filling a ghost: see the class docstring."""
        from rpsrt.model.objects import PayloadClassInfo, PayloadSetOb, PayloadSymbol

        heap = self.heap
        out: set[Any] = set()
        changed = set(touched)
        namers = False  # a class or symbol maybe changed: the instances' files name their class
        for o in heap.objects.values():
            if o.is_ghost:
                continue
            old = self.filled.get(o)
            if old is None or old[0] != o.mtime or old[1] is not o.space:
                changed.add(o)
                out.add(o.space)
                if old is not None:
                    out.add(old[1])
                if type(o.payload) in (PayloadClassInfo, PayloadSymbol):
                    namers = True
            pl = o.payload
            if type(pl) is PayloadSetOb and any(e.oid not in self.ids for e in pl.elems):
                out.add(o.space)
        if namers:  # rare (a class or symbol touched): the instances' spaces, filling what it must
            for o in heap.objects.values():
                if o.cls in changed:
                    out.add(o.space)
        for o, (_, space) in self.filled.items():
            if heap.objects.get(o.oid) is not o:
                out.add(space)
        if len(heap.objects) < len(self.ids) or any(heap.objects.get(i) is None for i in self.ids):
            return set(heap.spaces)  # objects removed that were never filled: render every space
        return _with_touched(heap, out, touched)

    def refresh(self, spaces: Iterable[Any]) -> bool:
        """Bring the entries up to date after changes confined to `spaces`; False when they cannot be."""
        from rpsc.heapcode.index import refresh

        spaces = set(spaces)
        self.track(o for o in self.heap.objects.values() if o.is_ghost and o.space in spaces)
        entries = refresh(self.heap, self.cc, self.entries, {str(sp.oid) for sp in spaces})
        if entries is None:
            return False
        self.entries = entries
        self.names.update(space_names(self.heap, {str(sp.oid) for sp in spaces}))
        return True

    def named(self) -> list[tuple[str, str]]:
        """(oid, name) of every named object of the heap (`emit_headers`' list), touching only what a
        change may have renamed: the objects made since the load (transient ones included)."""
        from rpsc.heapcode.index import object_name

        out = [(oid, name) for rows in self.names.values() for oid, name in rows]
        seen = {oid for oid, _ in out}
        for o in self.heap.objects.values():
            if o.oid not in self.ids or (o.space is None and not o.is_ghost):
                name = object_name(o)
                if name is not None and o.oid[2] not in seen:
                    out.append((o.oid[2], name))
        return out

    def module_sources(self) -> dict[str, str]:
        """Source path -> module, as `module_sources(heap)` gives it (the last module object wins)."""
        by_oid = {e["oid"]: n for n, e in self.entries.items() if e["source"] is not None}
        out = {}
        for oid in self.heap.objects:  # heap order, as a scan would meet them (no object is filled)
            n = by_oid.get(oid[2])
            if n is not None:
                out[self.entries[n]["source"]] = n
        return out
