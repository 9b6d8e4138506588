"""Mutable heap objects and their payloads (STORE_FORMAT.md §3 and §5)."""

from __future__ import annotations

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
    """

    __slots__ = ("oid", "cls", "mtime", "attrs", "comps", "payload", "space", "magicattr", "applying",
                 "extra", "_jar", "__weakref__")

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

    @classmethod
    def ghost(cls, oid: Oid, jar: Any) -> RpsObject:
        """An object whose contents are not loaded yet (a lazy load, docs/store.md): only `oid` and `space`
        are set; reading any other field calls `jar.fill(obj)` first, which sets each field the caller has
        not assigned meanwhile (an assignment before the first read wins, as it would after an eager load)."""
        obj = cls.__new__(cls)
        obj.oid = oid
        obj.space = None
        obj._jar = jar
        return obj

    def __getattr__(self, name: str) -> Any:
        # Only reached for a slot that is not set: the fields of a ghost.
        if name in _GHOST_FIELDS:
            jar = object.__getattribute__(self, "_jar")
            if jar is not None:
                jar.fill(self)
                return object.__getattribute__(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def is_ghost(self) -> bool:
        """True while the object's contents are not loaded (a lazy load that has not touched it yet)."""
        return self._jar is not None

    def get(self, attr: RpsObject, default: Value = None) -> Value:
        return self.attrs.get(attr, default)

    def __lt__(self, other: RpsObject) -> bool:
        return self.oid < other.oid

    def __repr__(self) -> str:
        return f"<RpsObject {self.oid}>"


#: The fields a ghost fills on first touch.
_GHOST_FIELDS = frozenset(("cls", "mtime", "attrs", "comps", "payload", "magicattr", "applying", "extra"))


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
