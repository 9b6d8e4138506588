"""The heap change between two loaded stores, described independently of OIDs of new objects (matched by
class and name) and of mtimes: what the upstream-plugin tests compare."""

from __future__ import annotations

from typing import Any

from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import Payload, PayloadSymbol, RpsObject, _all_slots
from rpsrt.model.values import VClosure, VInstance, VSet, VTuple


def _name(heap: Heap, o: RpsObject) -> Any:
    n = o.attrs.get(heap.objects.get(wk.NAME))  # type: ignore[arg-type]
    if isinstance(n, str):
        return n
    if isinstance(o.payload, PayloadSymbol):
        return o.payload.name
    return None


class _Norm:
    def __init__(self, before: Heap, heap: Heap) -> None:
        self.before, self.heap = before, heap

    def key(self, o: RpsObject | None) -> Any:
        if o is None:
            return None
        if o.oid in self.before.objects:
            return str(o.oid)
        return ("new", self.key(o.cls), _name(self.heap, o))

    def value(self, v: Any) -> Any:
        if isinstance(v, RpsObject):
            return self.key(v)
        if isinstance(v, VSet):
            return ("set", tuple(sorted(map(repr, (self.key(e) for e in v.elems)))))
        if isinstance(v, VTuple):
            return ("tuple", tuple(self.value(e) for e in v.elems))
        if isinstance(v, VClosure):
            return ("closure", self.key(v.fn), tuple(self.value(e) for e in v.env))
        if isinstance(v, VInstance):
            return ("instance", repr(v))
        if isinstance(v, (set, frozenset)):
            return ("pset", tuple(sorted(map(repr, (self.value(e) for e in v)))))
        if isinstance(v, dict):
            return ("dict", tuple(sorted(((repr(self.value(k)), repr(self.value(x))) for k, x in v.items()))))
        if isinstance(v, list):
            return ("list", tuple(self.value(e) for e in v))
        if isinstance(v, Payload):
            return (type(v).__name__, tuple((s, self.value(getattr(v, s))) for s in _all_slots(type(v))))
        return v

    def state(self, o: RpsObject) -> Any:
        attrs = tuple(sorted((repr(self.key(a)), repr(self.value(v))) for a, v in o.attrs.items()))
        return (self.key(o.cls), self.key(o.space), attrs, tuple(self.value(c) for c in o.comps),
                self.value(o.payload))


def heap_change(before: Heap, after: Heap) -> dict[str, Any]:
    """New objects (by class and name) with their state, removed and changed objects (state after, mtime
    aside), roots and constants added and removed."""
    nb, na = _Norm(before, before), _Norm(before, after)
    new = {repr(na.key(o)): na.state(o) for k, o in after.objects.items() if k not in before.objects}
    removed = sorted(str(k) for k in before.objects if k not in after.objects)
    changed = {}
    for k, o in after.objects.items():
        b = before.objects.get(k)
        if b is not None and nb.state(b) != na.state(o):
            changed[str(k)] = _delta(nb, b, na, o)

    def keys(h: Heap, n: _Norm, what: str) -> set[str]:
        return {repr(n.key(o)) for o in getattr(h, what)}

    out: dict[str, Any] = {"new": new, "removed": removed, "changed": changed}
    for what in ("roots", "constants"):
        b, a = keys(before, nb, what), keys(after, na, what)
        out[f"{what} added"] = sorted(a - b)
        out[f"{what} removed"] = sorted(b - a)
    return out


def _set_delta(nb: _Norm, b: Any, na: _Norm, a: Any) -> Any:
    """Elements added and removed between two sets (of objects), by key."""
    kb = {repr(nb.key(x)) for x in b}
    ka = {repr(na.key(x)) for x in a}
    return ("+", sorted(ka - kb), "-", sorted(kb - ka))


def _delta(nb: _Norm, b: RpsObject, na: _Norm, a: RpsObject) -> dict[str, Any]:
    """What changed in one object, mtime aside: attributes put or removed (a set-valued attribute as its
    added and removed elements), components, payload (a set payload as its added and removed elements)."""
    out: dict[str, Any] = {}
    if nb.key(b.cls) != na.key(a.cls):
        out["class"] = na.key(a.cls)
    if nb.key(b.space) != na.key(a.space):
        out["space"] = na.key(a.space)
    battrs = {repr(nb.key(k)): (k, v) for k, v in b.attrs.items()}
    aattrs = {repr(na.key(k)): (k, v) for k, v in a.attrs.items()}
    for k in sorted(set(battrs) | set(aattrs)):
        old, new = battrs.get(k), aattrs.get(k)
        if new is None:
            out[f"attr {k}"] = "removed"
        elif old is None or nb.value(old[1]) != na.value(new[1]):
            if old is not None and isinstance(old[1], VSet) and isinstance(new[1], VSet):
                out[f"attr {k}"] = _set_delta(nb, old[1].elems, na, new[1].elems)
            else:
                out[f"attr {k}"] = na.value(new[1])
    if [nb.value(c) for c in b.comps] != [na.value(c) for c in a.comps]:
        out["comps"] = tuple(na.value(c) for c in a.comps)
    if nb.value(b.payload) != na.value(a.payload):
        pb, pa = b.payload, a.payload
        if pb is not None and pa is not None and type(pb) is type(pa) and isinstance(getattr(pa, "elems", None), set):
            out["payload"] = _set_delta(nb, pb.elems, na, pa.elems)  # type: ignore[attr-defined]
        else:
            out["payload"] = na.value(pa)
    return out
