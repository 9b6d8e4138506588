"""Immutable RefPerSys values: int, float, string, null, object reference, set, tuple, closure, instance, json.

Scalars are plain Python values: `int` (63-bit tagged in RefPerSys), `float`, `str`, and `None` for null.
An object reference is the `RpsObject` itself. The composite values below are immutable and hashable;
their equality compares referenced objects by identity (use `Heap.equivalent` to compare two heaps).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from rpsrt.model.objects import RpsObject


class VSet:
    """A set of objects, kept sorted by OID."""

    __slots__ = ("elems",)
    elems: tuple[RpsObject, ...]

    def __init__(self, elems: Any = ()) -> None:
        object.__setattr__(self, "elems", tuple(sorted(set(elems), key=_oid_key)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VSet) and self.elems == other.elems

    def __hash__(self) -> int:
        return hash(("set", self.elems))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.elems)

    def __len__(self) -> int:
        return len(self.elems)

    def __repr__(self) -> str:
        return "VSet({" + ", ".join(str(o.oid) for o in self.elems) + "})"


class VTuple:
    """A tuple of objects or nulls, in order."""

    __slots__ = ("comps",)
    comps: tuple[RpsObject | None, ...]

    def __init__(self, comps: Any = ()) -> None:
        object.__setattr__(self, "comps", tuple(comps))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VTuple) and self.comps == other.comps

    def __hash__(self) -> int:
        return hash(("tuple", self.comps))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.comps)

    def __len__(self) -> int:
        return len(self.comps)

    def __repr__(self) -> str:
        return "VTuple([" + ", ".join("null" if o is None else str(o.oid) for o in self.comps) + "])"


class VClosure:
    """A closure: a function object, an environment of values, and an optional meta object and rank."""

    __slots__ = ("fn", "env", "metaobj", "metarank")
    fn: RpsObject
    env: tuple[Value, ...]
    metaobj: RpsObject | None
    metarank: int | None

    def __init__(self, fn: RpsObject, env: Any = (), metaobj: RpsObject | None = None,
                 metarank: int | None = None) -> None:
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "env", tuple(env))
        object.__setattr__(self, "metaobj", metaobj)
        object.__setattr__(self, "metarank", metarank)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, VClosure) and self.fn is other.fn and self.env == other.env
                and self.metaobj is other.metaobj and self.metarank == other.metarank)

    def __hash__(self) -> int:
        return hash(("closure", id(self.fn), self.env))

    def __repr__(self) -> str:
        return f"VClosure({self.fn.oid}, {list(self.env)!r})"


class VInstance:
    """An immutable instance: a class, attributes (sorted by attribute OID), components, optional meta."""

    __slots__ = ("cls", "attrs", "comps", "metaobj", "metarank")
    cls: RpsObject
    attrs: tuple[tuple[RpsObject, Value], ...]
    comps: tuple[Value, ...]
    metaobj: RpsObject | None
    metarank: int | None

    def __init__(self, cls: RpsObject, attrs: Any = (), comps: Any = (),
                 metaobj: RpsObject | None = None, metarank: int | None = None) -> None:
        items = attrs.items() if isinstance(attrs, dict) else attrs
        object.__setattr__(self, "cls", cls)
        object.__setattr__(self, "attrs", tuple(sorted(items, key=lambda kv: _oid_key(kv[0]))))
        object.__setattr__(self, "comps", tuple(comps))
        object.__setattr__(self, "metaobj", metaobj)
        object.__setattr__(self, "metarank", metarank)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def get(self, attr: RpsObject, default: Value = None) -> Value:
        for a, v in self.attrs:
            if a is attr:
                return v
        return default

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, VInstance) and self.cls is other.cls and self.attrs == other.attrs
                and self.comps == other.comps and self.metaobj is other.metaobj
                and self.metarank == other.metarank)

    def __hash__(self) -> int:
        return hash(("instance", id(self.cls), self.attrs, self.comps))

    def __repr__(self) -> str:
        return f"VInstance({self.cls.oid}, attrs={len(self.attrs)}, comps={list(self.comps)!r})"


class VJson:
    """A JSON value held verbatim (`{"vtype":"json","json":...}`); `data` is the decoded JSON."""

    __slots__ = ("data", "_key")
    data: Any
    _key: str

    def __init__(self, data: Any) -> None:
        import json

        object.__setattr__(self, "data", data)
        object.__setattr__(self, "_key", json.dumps(data, sort_keys=True, ensure_ascii=False))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VJson) and self._key == other._key

    def __hash__(self) -> int:
        return hash(("json", self._key))

    def __repr__(self) -> str:
        return f"VJson({self._key})"


class VRaw:
    """A JSON value rpsc does not understand (an unknown `vtype`, a bare array or boolean), kept verbatim.

    `data` is the decoded JSON; the dumper writes it back unchanged so that a round trip loses nothing.
    """

    __slots__ = ("data", "_key")
    data: Any
    _key: str

    def __init__(self, data: Any) -> None:
        import json

        object.__setattr__(self, "data", data)
        object.__setattr__(self, "_key", json.dumps(data, sort_keys=True, ensure_ascii=False))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("values are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VRaw) and self._key == other._key

    def __hash__(self) -> int:
        return hash(("raw", self._key))

    def __repr__(self) -> str:
        return f"VRaw({self._key})"


#: Sort key of an object: its OID (compared in C).
_oid_key = attrgetter("oid")


#: A RefPerSys value as rpsrt represents it.
Value = Union[None, int, float, str, "RpsObject", VSet, VTuple, VClosure, VInstance, VJson, VRaw]
