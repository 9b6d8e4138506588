"""Mutable heap objects and their payloads (STORE_FORMAT.md §3 and §5)."""

from __future__ import annotations

import sys
from operator import attrgetter
from typing import Any

from rpsrt.model.oid import Oid
from rpsrt.model.values import Value, VClosure, VSet


class RpsObject:
    """A mutable RefPerSys object. Identity is the OID; equality is identity (objects are unique in a heap).

    `attrs` maps attribute objects to values; `comps` is a list of values; `payload` is a `Payload` or None;
    `space` is the space object it is persisted in (None: transient); `extra` keeps unknown top-level
    members verbatim (name -> decoded JSON) so that a round trip never loses them.

    An object of a lazy load starts as a ghost (`is_ghost`): only `oid` and `space` are set, and the first
    read of another field fills it from the store (`ghost`, docs/store.md "Lazy loading").

    Dirty tracking (docs/store.md "Incremental dumps"): a dump turns every object it wrote, and that nothing
    outside it holds a container of, into a `CleanObject` (this class with hooks); the first assignment to any
    field of a clean object, or the first read of one of its mutable fields (`attrs`, `comps`, `payload`,
    `extra`: the caller may change what it gets), turns it back into a plain, dirty `RpsObject`.
    """

    __slots__ = ("oid", "cls", "mtime", "attrs", "comps", "payload", "space", "magicattr", "applying",
                 "extra", "_jar", "_born", "_v", "__weakref__")

    def __init__(self, oid: Oid, cls: RpsObject | None = None, *, mtime: float = 0.0,
                 space: RpsObject | None = None) -> None:
        self.oid = oid
        self.cls = cls
        self.mtime = mtime
        self.attrs: dict[RpsObject, Value] = {}
        self.comps: list[Value] = []
        self.payload: Payload | None = None
        self.space = space
        self.magicattr = False
        self.applying = False
        self.extra: dict[str, Any] | None = None
        #: Who fills this object on first touch when it is a ghost of a lazy load (None: it is filled).
        self._jar: Any = None
        #: The dump epoch in which the object was made (`_v`, set when a dump seals it: the epoch of that dump).
        self._born = EPOCH
        self._v = 0

    @classmethod
    def ghost(cls, oid: Oid, jar: Any) -> RpsObject:
        """An object whose contents are not loaded yet (a lazy load, docs/store.md): only `oid` and `space`
        are set; reading any other field calls `jar.fill(obj)` first, which sets each field the caller has
        not assigned meanwhile (an assignment before the first read wins, as it would after an eager load)."""
        obj = cls.__new__(cls)
        obj.oid = oid
        obj.space = None
        obj._jar = jar
        obj._born = EPOCH
        obj._v = 0
        return obj

    def __getattr__(self, name: str) -> Any:
        # Only reached for a slot that is not set: the fields of a ghost, and the `oid` of a ghost that the
        # store loader made without it (its jar makes it from the store's text on this first read).
        if name in _GHOST_FIELDS:
            jar = object.__getattribute__(self, "_jar")
            if jar is not None:
                jar.fill(self)
                return object.__getattribute__(self, name)
        elif name == "oid":
            jar = object.__getattribute__(self, "_jar")
            if jar is not None:
                return jar.oid_of(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def is_ghost(self) -> bool:
        """True while the object's contents are not loaded (a lazy load that has not touched it yet)."""
        return self._jar is not None

    def get(self, attr: RpsObject, default: Value = None) -> Value:
        """The value of attribute `attr` (`default` when absent). A read only: it leaves a clean object clean."""
        return attrs_of(self).get(attr, default)

    def __lt__(self, other: RpsObject) -> bool:
        return self.oid < other.oid

    def __repr__(self) -> str:
        return f"<RpsObject {self.oid}>"


#: The fields a ghost fills on first touch.
_GHOST_FIELDS = frozenset(("cls", "mtime", "attrs", "comps", "payload", "magicattr", "applying", "extra"))

#: The current dump epoch: every dump takes the current value as its own and increments it
#: (`rpsrt.store.writer`). An object records the epoch it was made in (`_born`) and, once a dump seals it,
#: the epoch of that dump (`_v`).
EPOCH = 1

_SCALARS = ("oid", "cls", "mtime", "space", "magicattr", "applying")
_CONTAINERS = ("attrs", "comps", "payload", "extra")
_RAW = {name: RpsObject.__dict__[name] for name in _SCALARS + _CONTAINERS}
_ATTRS = _RAW["attrs"].__get__
_COMPS = _RAW["comps"].__get__
_PAYLOAD = _RAW["payload"].__get__
_EXTRA = _RAW["extra"].__get__


def attrs_of(obj: RpsObject) -> dict[RpsObject, Value]:
    """`obj.attrs` for reading only: it does not make a clean object dirty (a ghost is filled, as by any read).
    Changing the dict returned is a change that no dump will see: use `obj.attrs` to change it."""
    try:
        return _ATTRS(obj)
    except AttributeError:
        return obj.attrs


def payload_of(obj: RpsObject) -> Payload | None:
    """`obj.payload` for reading only (as `attrs_of`)."""
    try:
        return _PAYLOAD(obj)
    except AttributeError:
        return obj.payload


def comps_of(obj: RpsObject) -> list[Value]:
    """`obj.comps` for reading only (as `attrs_of`)."""
    try:
        return _COMPS(obj)
    except AttributeError:
        return obj.comps


def extra_of(obj: RpsObject) -> dict[str, Any] | None:
    """`obj.extra` for reading only (as `attrs_of`)."""
    try:
        return _EXTRA(obj)
    except AttributeError:
        return obj.extra


#: Every clean object a hook made dirty, in order (`DIRTIED_BASE[0]` is the position of `DIRTIED[0]` since the
#: start): a dump finds the objects changed since the last one here instead of scanning the heap. Dumps trim
#: what no state needs any more; past `DIRTIED_CAP` entries nothing is added and `DIRTIED_DROPPED[0]` records
#: where, and dumps from a state before it scan the heap instead (rpsrt.store.writer).
DIRTIED: list[RpsObject] = []
DIRTIED_BASE = [0]
DIRTIED_DROPPED = [-1]
DIRTIED_CAP = 1 << 21


def _dirtied(obj: RpsObject) -> None:
    """`obj` (clean) becomes dirty: switch its class and note it."""
    obj.__class__ = RpsObject
    if len(DIRTIED) < DIRTIED_CAP:
        DIRTIED.append(obj)
    else:
        DIRTIED_DROPPED[0] = DIRTIED_BASE[0] + len(DIRTIED)


def _scalar(name: str) -> property:
    raw = _RAW[name]
    put, rm = raw.__set__, raw.__delete__

    def fset(self: RpsObject, value: Any) -> None:
        _dirtied(self)
        put(self, value)

    def fdel(self: RpsObject) -> None:
        _dirtied(self)
        rm(self)

    # The getter is the slot's own (C): reading a clean object's class, mtime or space costs no Python call.
    return property(raw.__get__, fset, fdel, f"`{name}`; assigning it makes the object dirty")


def _container(name: str) -> property:
    raw = _RAW[name]
    get, put, rm = raw.__get__, raw.__set__, raw.__delete__

    def fget(self: RpsObject) -> Any:
        _dirtied(self)  # the caller may change what it gets: dirty from now on
        return get(self)

    def fset(self: RpsObject, value: Any) -> None:
        _dirtied(self)
        put(self, value)

    def fdel(self: RpsObject) -> None:
        _dirtied(self)
        rm(self)

    return property(fget, fset, fdel, f"`{name}`; reading or assigning it makes the object dirty")


class CleanObject(RpsObject):
    """An `RpsObject` that no change has touched since a dump wrote it (`_v` is that dump's epoch).

    The same object in the same memory: `__class__` is switched between the two classes, which share their
    layout. Every field is a property here: assigning any field, or reading a mutable one (`attrs`, `comps`,
    `payload`, `extra`), switches the object back to `RpsObject` before it returns, so no change can reach a
    clean object without making it dirty first. `isinstance(o, RpsObject)` holds for both; code testing
    `type(o) is RpsObject` must accept this class too.
    """

    __slots__ = ()


for _name in _SCALARS:
    setattr(CleanObject, _name, _scalar(_name))
for _name in _CONTAINERS:
    setattr(CleanObject, _name, _container(_name))
del _name

#: Object classes (`type(v) in OBJECT_TYPES` tests for an object reference).
OBJECT_TYPES = (RpsObject, CleanObject)


# -- sealing: may a dump make an object clean? ----------------------------------------------------------------
#
# A dump seals an object it wrote only when nothing outside the object holds one of its mutable containers
# (its attrs dict, comps list, extra dict, payload, and the payload's dicts, lists and sets, nested JSON
# included): a caller that kept `d = o.attrs` from before could otherwise change `o` later without touching
# any hook. The test is CPython's reference count of each container: held only by its owner, a container
# shows exactly the references counted below (the owner, the local name, the argument of getrefcount);
# one more means someone else holds it, and the object stays dirty (it is then written again by every dump
# until it can be sealed). `_calibrate` checks these counts on this interpreter at import: if they do not
# hold (another implementation), nothing is ever sealed and every dump writes every object, as before.

_rc = sys.getrefcount
_TOP = 3  # owner slot + local variable + getrefcount's argument
_TREE = 4  # owner (slot or parent container) + caller's variable + parameter + getrefcount's argument
_SEALING = True
_PAYLOAD_SLOTS: dict[type, tuple[Any, ...]] = {}
#: The members of each payload kind that hold containers (the others hold values, objects, strings, numbers).
_CONTAINER_SLOTS = {"PayloadClassInfo": ("methodict",), "PayloadSetOb": ("elems",), "PayloadVectOb": ("elems",),
                    "PayloadVectVal": ("elems",), "PayloadAgenda": ("low", "normal", "high"),
                    "PayloadStringDict": ("dictionary",), "PayloadStringBuffer": ("lines",),
                    "PayloadObjMap": ("objmap",), "PayloadEnvironment": ("objmap",), "PayloadGccJit": ("jitseq",),
                    "PayloadUnknown": ("members",), "PayloadSymbol": (), "PayloadSpace": (), "PayloadTasklet": ()}


def _payload_slots(t: type) -> tuple[Any, ...]:
    """Readers of the members of payload class `t` that may hold a container (every member of a class this
    module does not define)."""
    got = _PAYLOAD_SLOTS.get(t)
    if got is None:
        names = _CONTAINER_SLOTS.get(t.__name__) if t.__module__ == __name__ else None
        slots = [(k, s) for k in t.__mro__ for s in k.__dict__.get("__slots__", ()) if s != "__weakref__"]
        got = _PAYLOAD_SLOTS[t] = tuple(k.__dict__[s].__get__ for k, s in slots
                                        if names is None or s == "extra" or s in names)
    return got


def _tree_private(x: Any) -> bool:
    if _rc(x) > _TREE:
        return False
    t = type(x)
    if t is dict:
        for c in x.values():
            tc = type(c)
            if (tc is dict or tc is list or tc is set) and not _tree_private(c):
                return False
    elif t is list:
        for c in x:
            tc = type(c)
            if (tc is dict or tc is list or tc is set) and not _tree_private(c):
                return False
    return True


def private(obj: RpsObject) -> bool:
    """True when no mutable container of `obj` (a filled, plain object) is referenced from outside it, so that
    every later change to it must go through one of `CleanObject`'s hooks (see above)."""
    if not _SEALING:
        return False
    a, c, e, p = _FOUR(obj)  # (a plain object: plain slot reads)
    if _rc(a) > _TOP or _rc(c) > _TOP or type(a) is not dict or type(c) is not list:
        return False
    if e is not None and not _tree_private(e):
        return False
    if p is not None:
        if _rc(p) > _TOP:
            return False
        for get in _payload_slots(type(p)):
            v = get(p)
            t = type(v)
            if (t is dict or t is list or t is set) and not _tree_private(v):
                return False
    return True


_FOUR = attrgetter("attrs", "comps", "extra", "payload")


def _calibrate() -> bool:
    """Do the reference counts `private` relies on hold on this interpreter? (Checked once, at import.)"""
    from rpsrt.model.oid import MIN_HI, MIN_LO

    def sample() -> RpsObject:
        o = RpsObject(Oid(MIN_HI, MIN_LO))
        o.attrs = {o: 1}
        o.comps = [1, "x"]
        o.extra = {"a": [{"b": [1]}], "c": {}}
        o.payload = PayloadUnknown("k", {"m": [[1], {"n": 2}]})
        o.payload.extra = {"e": [1]}
        return o

    if not private(sample()):
        return False
    probes = [lambda o: o.attrs, lambda o: o.comps, lambda o: o.extra, lambda o: o.extra["a"],
              lambda o: o.extra["a"][0]["b"], lambda o: o.extra["c"], lambda o: o.payload,
              lambda o: o.payload.members, lambda o: o.payload.members["m"][0], lambda o: o.payload.extra]
    for probe in probes:
        o = sample()
        held = probe(o)
        if private(o):
            return False
        del held
        if not private(o):
            return False
    return True


class Payload:
    """Base of payloads. `kind` is the store's `"payload"` text; `extra` keeps unknown members verbatim."""

    __slots__ = ("extra",)
    kind: str = ""

    def __init__(self) -> None:
        self.extra: dict[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in _all_slots(type(self)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in _all_slots(type(self)) if s != "extra")
        return f"{type(self).__name__}({fields})"


def _all_slots(cls: type) -> list[str]:
    out: list[str] = []
    for k in reversed(cls.__mro__):
        out.extend(getattr(k, "__slots__", ()))
    return [s for s in out if s != "__weakref__"]


class PayloadSymbol(Payload):
    __slots__ = ("name", "value", "weak")
    kind = "symbol"

    def __init__(self, name: str, value: Value = None, weak: bool = False) -> None:
        self.extra = None
        self.name = name
        self.value = value
        self.weak = weak


class PayloadClassInfo(Payload):
    """`classinfo`: superclass (required), method dictionary selector -> closure, symbol, name, attrset."""

    __slots__ = ("superclass", "methodict", "symb", "name", "attrset")
    kind = "classinfo"

    def __init__(self, superclass: RpsObject, methodict: dict[RpsObject, VClosure] | None = None,
                 symb: RpsObject | None = None, name: str | None = None, attrset: VSet | None = None) -> None:
        self.extra = None
        self.superclass = superclass
        self.methodict: dict[RpsObject, VClosure] = methodict if methodict is not None else {}
        self.symb = symb
        self.name = name
        self.attrset = attrset


class PayloadSetOb(Payload):
    __slots__ = ("elems",)
    kind = "setob"

    def __init__(self, elems: Any = ()) -> None:
        self.extra = None
        self.elems: set[RpsObject] = set(elems)


class PayloadVectOb(Payload):
    __slots__ = ("elems",)
    kind = "vectob"

    def __init__(self, elems: Any = ()) -> None:
        self.extra = None
        self.elems: list[RpsObject | None] = list(elems)


class PayloadVectVal(Payload):
    __slots__ = ("elems",)
    kind = "vectval"

    def __init__(self, elems: Any = ()) -> None:
        self.extra = None
        self.elems: list[Value] = list(elems)


class PayloadSpace(Payload):
    __slots__ = ()
    kind = "space"


class PayloadAgenda(Payload):
    __slots__ = ("low", "normal", "high")
    kind = "agenda"

    def __init__(self, low: Any = (), normal: Any = (), high: Any = ()) -> None:
        self.extra = None
        self.low: list[RpsObject] = list(low)
        self.normal: list[RpsObject] = list(normal)
        self.high: list[RpsObject] = list(high)


class PayloadTasklet(Payload):
    __slots__ = ("todo", "obsolete_delay")
    kind = "tasklet"

    def __init__(self, todo: VClosure | None = None, obsolete_delay: float | None = None) -> None:
        self.extra = None
        self.todo = todo
        self.obsolete_delay = obsolete_delay


class PayloadStringDict(Payload):
    __slots__ = ("dictionary",)
    kind = "string_dictionary"

    def __init__(self, dictionary: dict[str, Value] | None = None) -> None:
        self.extra = None
        self.dictionary: dict[str, Value] = dictionary if dictionary is not None else {}


class PayloadStringBuffer(Payload):
    __slots__ = ("lines", "string", "indent")
    kind = "string_buffer"

    def __init__(self, lines: list[str] | None = None, string: str | None = None, indent: int | None = None) -> None:
        self.extra = None
        self.lines = lines
        self.string = string
        self.indent = indent


class PayloadObjMap(Payload):
    """`objmap`: `objmap` kept as decoded JSON (upstream writes display strings as keys), `descr` value."""

    __slots__ = ("objmap", "descr")
    kind = "objmap"

    def __init__(self, objmap: Any = None, descr: Value = None) -> None:
        self.extra = None
        self.objmap = objmap if objmap is not None else {}
        self.descr = descr


class PayloadEnvironment(PayloadObjMap):
    __slots__ = ("parent_env",)
    kind = "environment"

    def __init__(self, objmap: Any = None, descr: Value = None, parent_env: RpsObject | None = None) -> None:
        super().__init__(objmap, descr)
        self.parent_env = parent_env


class PayloadGccJit(Payload):
    __slots__ = ("jitseq",)
    kind = "gccjit"

    def __init__(self, jitseq: Any = ()) -> None:
        self.extra = None
        self.jitseq: list[RpsObject] = list(jitseq)


class PayloadUnknown(Payload):
    """A payload kind rpsc does not know: its kind and members are kept verbatim (decoded JSON)."""

    __slots__ = ("unknown_kind", "members")

    def __init__(self, kind: str, members: dict[str, Any]) -> None:
        self.extra = None
        self.unknown_kind = kind
        self.members = members

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.unknown_kind


_SEALING = _calibrate()
