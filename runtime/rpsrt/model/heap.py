"""The heap: OID -> object, spaces, global roots, constants, global names, plugins, and its structural equality."""

from __future__ import annotations

import functools
import operator
import time
from typing import Any

from rpsrt.model import wellknown as wk
from rpsrt.errors import Error
from rpsrt.model.objects import (
    CleanObject,
    Payload,
    PayloadSpace,
    PayloadSymbol,
    RpsObject,
    _all_slots,
    attrs_of,
    comps_of,
    extra_of,
    payload_of,
)
from rpsrt.model.oid import Oid
from rpsrt.model.values import VClosure, VInstance, VJson, VRaw, VSet, VTuple


_is_clean = functools.partial(operator.is_, CleanObject)


class Objects(dict):  # type: ignore[type-arg]
    """`Heap.objects`: a dict OID -> object that counts the changes a dump must know of (`changes`: an
    object removed or replaced) and makes every object entering it dirty, so that an incremental dump
    (docs/store.md "Incremental dumps") sees each new member of the heap. Reading is plain dict reading."""

    __slots__ = ("changes", "entered")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.changes = 0
        #: Counts the stores of objects (each may bring in an object no dump has seen).
        self.entered = 0
        if args or kwargs:
            self.update(*args, **kwargs)

    def __setitem__(self, key: Oid, obj: RpsObject) -> None:
        old = dict.get(self, key)
        if old is not None and old is not obj:
            self.changes += 1
        self.entered += 1
        if type(obj) is CleanObject:
            obj.__class__ = RpsObject
        dict.__setitem__(self, key, obj)

    def __delitem__(self, key: Oid) -> None:
        dict.__delitem__(self, key)
        self.changes += 1

    def pop(self, *args: Any) -> Any:
        self.changes += 1
        return dict.pop(self, *args)

    def popitem(self) -> Any:
        self.changes += 1
        return dict.popitem(self)

    def clear(self) -> None:
        self.changes += 1
        dict.clear(self)

    def setdefault(self, key: Oid, obj: Any = None) -> Any:
        if key not in self:
            self[key] = obj
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        if self:
            new = dict(*args, **kwargs)
            if not self.keys().isdisjoint(new):
                self.changes += 1  # may replace objects: the next incremental dump checks them all
        else:  # nothing to replace (the loader's case: kept at dict speed)
            dict.update(self, *args, **kwargs)
            new = self
        self.entered += 1
        if any(map(_is_clean, map(type, new.values()))):
            for obj in new.values():
                if type(obj) is CleanObject:
                    obj.__class__ = RpsObject
        if new is not self:
            dict.update(self, new)

    def __ior__(self, other: Any) -> Objects:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __reduce__(self) -> Any:
        return (Objects, (dict(self),))


class Heap:
    """All objects of one store, with the manifest's sets. Objects are unique by OID.

    Besides the manifest's sets, a heap loaded from a store keeps the store's provenance so that dumping
    an unchanged heap gives back the same bytes: `manifest_extra` (manifest members such as `dumpgmdate`),
    `prologues` (space OID -> the members of that space file's prologue other than format, nbobjects and
    spaceid) and `headers` (file path relative to the store -> the comment text before its first JSON value).

    Threads: a heap takes no lock. The rule is one writer: any number of threads may read a heap that no
    thread changes, but a change (objects, attributes, sets), and a `dump_store` of it, must not overlap
    any other use. Share a changing heap between threads under one lock of your own around every use
    (dumps queued on `rpsrt.agenda` included), or give each thread a heap of its own (docs/concurrency.md).
    """

    __slots__ = ("objects", "spaces", "roots", "constants", "plugins", "manifest_extra", "prologues",
                 "headers", "jars", "dumps", "_index", "__weakref__")

    def __init__(self) -> None:
        self.objects: dict[Oid, RpsObject] = Objects()
        #: Space objects, in the manifest's `spaceset`.
        self.spaces: set[RpsObject] = set()
        #: Global roots (`globalroots`).
        self.roots: set[RpsObject] = set()
        #: Constants (`constset`).
        self.constants: set[RpsObject] = set()
        #: The manifest's `plugins` (upstream loads each as `plugins/rps<oid>-mod.so`; `rpsc build` lists
        #: nothing here and keeps its plugin records on the module objects, docs/store.md).
        self.plugins: set[RpsObject] = set()
        #: Other manifest members (provenance and unknown ones), kept for the next dump.
        self.manifest_extra: dict[str, Any] = {}
        #: Space OID -> other prologue members of its file (provenance), kept for the next dump.
        self.prologues: dict[Oid, dict[str, Any]] = {}
        #: Store-relative file path -> its leading comment lines, kept for the next dump.
        self.headers: dict[str, str] = {}
        #: The fillers of a lazy load (`load_store(dir, lazy=True)`): each fills its ghosts on first touch.
        self.jars: list[Any] = []
        #: What the last dumps into each store directory wrote (`rpsrt.store.writer`: store path -> its state),
        #: from which the next dump there renders only what changed (docs/store.md "Incremental dumps").
        self.dumps: dict[str, Any] = {}
        #: A lazy load's loader while `objects` is not made yet (None: `objects` is there). A lazy load
        #: leaves `objects` unset: its first read makes it (`_index.enter_objects`), and until then `get`,
        #: `[]`, `in` and `len` ask the loader's id table (docs/store.md "Lazy loading").
        self._index: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for an unset slot: `objects` of a lazily loaded heap, made on its first read.
        if name == "objects":
            index = object.__getattribute__(self, "_index")
            if index is not None:
                index.enter_objects(self)
                return object.__getattribute__(self, "objects")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def materialize(self) -> Heap:
        """Fill every object a lazy load has not filled yet (in file order), so that each stored error surfaces
        now, as a StoreError at its file and line; a no-op for an eagerly loaded heap. Returns the heap."""
        for jar in self.jars:
            jar.fill_all()
        self.jars = [j for j in self.jars if j.pending()]
        return self

    def __len__(self) -> int:
        index = self._index
        return index.count() if index is not None else len(self.objects)

    def get(self, oid: Oid | str) -> RpsObject | None:
        if isinstance(oid, str):
            oid = Oid.parse(oid)
        index = self._index
        if index is not None and type(oid) is Oid:
            return index.find(oid)  # type: ignore[no-any-return]
        return self.objects.get(oid)

    def __getitem__(self, oid: Oid | str) -> RpsObject:
        obj = self.get(oid)
        if obj is None:
            raise KeyError(str(oid))
        return obj

    def __contains__(self, oid: Oid | str) -> bool:
        return self.get(oid) is not None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.objects.values())

    def create(self, cls: RpsObject | Oid | None = None, *, oid: Oid | None = None,
               space: RpsObject | None = None, mtime: float | None = None) -> RpsObject:
        """Create and add an object (a fresh random OID unless given). Raise Error on a duplicate OID."""
        if isinstance(cls, Oid):
            cls = self[cls]
        if oid is None:
            oid = Oid.random()
            while oid in self.objects:
                oid = Oid.random()
        elif oid in self.objects:
            raise Error(f"duplicate object id {oid}", oid=str(oid))
        obj = RpsObject(oid, cls, mtime=round(time.time(), 2) if mtime is None else mtime, space=space)
        self.objects[oid] = obj
        return obj

    def add(self, obj: RpsObject) -> RpsObject:
        if obj.oid in self.objects:
            raise Error(f"duplicate object id {obj.oid}", oid=str(obj.oid))
        self.objects[obj.oid] = obj
        return obj

    def create_space(self, oid: Oid | None = None) -> RpsObject:
        """A new space object, added to the space set. It is persisted in its own file (its space is itself)."""
        sp = self.create(self.get(wk.SPACE), oid=oid)
        sp.payload = PayloadSpace()
        sp.space = sp
        self.spaces.add(sp)
        return sp

    def global_names(self) -> list[tuple[str, RpsObject]]:
        """`(name, object)` of the roots holding a non-weak symbol payload, by OID (the manifest's globalnames)."""
        out = []
        for obj in sorted(self.roots, key=_by_oid):
            pl = payload_of(obj)
            if type(pl) is PayloadSymbol and not pl.weak:
                out.append((pl.name, obj))
        return out

    # -- structural equality across heaps (references compared by OID) --------------------------------------

    def equivalent(self, other: Heap) -> bool:
        """True when both heaps hold the same objects, values, payloads and manifest sets, comparing by OID."""
        return self.difference(other) is None

    def difference(self, other: Heap) -> str | None:
        """A description of the first structural difference with `other`, or None when equivalent."""
        for what in ("spaces", "roots", "constants", "plugins"):
            a = sorted(o.oid for o in getattr(self, what))
            b = sorted(o.oid for o in getattr(other, what))
            if a != b:
                return f"{what} differ: {sorted(map(str, set(a) ^ set(b)))[:5]}"
        mine, theirs = set(self.objects), set(other.objects)
        if mine != theirs:
            return f"object sets differ: {sorted(map(str, mine ^ theirs))[:5]}"
        for oid in sorted(mine):
            ca, cb = canonical_object(self.objects[oid]), canonical_object(other.objects[oid])
            if ca != cb:
                for field, x, y in zip(_FIELDS, ca, cb, strict=True):
                    if x != y:
                        return f"object {oid}: {field} differ: {x!r} != {y!r}"
                return f"object {oid} differs"  # pragma: no cover
        return None

    def canonical(self) -> tuple[Any, ...]:
        """A hashable canonical form of the whole heap (objects by OID, references as OIDs)."""
        sets = tuple(tuple(sorted(o.oid for o in getattr(self, w))) for w in ("spaces", "roots", "constants",
                                                                               "plugins"))
        return sets + tuple(canonical_object(self.objects[k]) for k in sorted(self.objects))


_FIELDS = ("oid", "class", "mtime", "space", "magicattr", "applying", "attrs", "comps", "payload", "extra")


def _by_oid(obj: RpsObject) -> Oid:
    return obj.oid


def _ref(obj: RpsObject | None) -> Oid | None:
    return None if obj is None else obj.oid


def canonical_object(obj: RpsObject) -> tuple[Any, ...]:
    """The canonical form of one object: every field, references replaced by OIDs, floats by their hex."""
    attrs = tuple(sorted((a.oid, canonical(v)) for a, v in attrs_of(obj).items()))  # reads: obj stays clean
    return (obj.oid, _ref(obj.cls), canonical(obj.mtime), _ref(obj.space), bool(obj.magicattr),
            bool(obj.applying), attrs, tuple(canonical(v) for v in comps_of(obj)), canonical(payload_of(obj)),
            canonical(extra_of(obj) or {}))


def canonical(x: Any) -> Any:
    """Canonical, hashable form of a value, payload or decoded JSON (references as OIDs)."""
    t = type(x)
    if x is None:
        return None
    if t is RpsObject or t is CleanObject or isinstance(x, RpsObject):
        return ("o", x.oid)
    if t is float:
        return ("f", x.hex())
    if t is bool or t is int or t is str:
        return (t.__name__, x)
    if t is VSet:
        return ("set", tuple(o.oid for o in x.elems))
    if t is VTuple:
        return ("tuple", tuple(_ref(o) for o in x.comps))
    if t is VClosure:
        return ("closure", x.fn.oid, tuple(canonical(v) for v in x.env), _ref(x.metaobj), x.metarank)
    if t is VInstance:
        return ("instance", x.cls.oid, tuple((a.oid, canonical(v)) for a, v in x.attrs),
                tuple(canonical(v) for v in x.comps), _ref(x.metaobj), x.metarank)
    if t is VJson or t is VRaw:
        return (t.__name__, x._key)
    if isinstance(x, Payload):
        return ("payload", x.kind, tuple((s, canonical(getattr(x, s))) for s in _all_slots(type(x))))
    if t is dict:
        return ("dict", tuple(sorted(((canonical(k), canonical(v)) for k, v in x.items()), key=repr)))
    if t is list or t is tuple:
        return ("list", tuple(canonical(v) for v in x))
    if t is set or t is frozenset:
        return ("set", tuple(sorted((canonical(v) for v in x), key=repr)))
    raise TypeError(f"no canonical form for {t.__name__}")
