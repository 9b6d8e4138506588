"""The heap and object model: creation, spaces, global names, and structural equality across heaps."""

from __future__ import annotations

import sys

import pytest
from rpsrt.model import wellknown as wk
from rpsrt.errors import Error
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol, RpsObject
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.model.values import VClosure, VInstance, VJson, VSet, VTuple


def _pair() -> tuple[Heap, Heap, RpsObject, RpsObject]:
    a, b = new_heap(), new_heap()
    oid = Oid.parse("_5Q5E0Lw9v4f046uAKZ")
    oa = a.create(a[wk.OBJECT], oid=oid, space=a[wk.INITIAL_SPACE], mtime=1.0)
    ob = b.create(b[wk.OBJECT], oid=oid, space=b[wk.INITIAL_SPACE], mtime=1.0)
    for h, o in ((a, oa), (b, ob)):
        o.attrs[h[wk.NAME]] = "thing"
        o.comps = [VClosure(h[wk.CLASS], [1, "x", h[wk.SYMBOL]]), VSet([h[wk.CLASS], h[wk.SYMBOL]]),
                   VTuple([None, h[wk.NAME]]), VInstance(h[wk.OBJECT], {h[wk.NAME]: 2}, [0.5]), VJson({"k": [1]})]
    return a, b, oa, ob


def test_equivalent_compares_by_oid() -> None:
    """Two separately built heaps with the same contents are equivalent although their objects differ."""
    a, b, oa, ob = _pair()
    assert oa is not ob and a.equivalent(b) and a.difference(b) is None
    assert a.canonical() == b.canonical()


@pytest.mark.parametrize("change", ["attr", "class", "comp", "float zero", "payload", "root", "flag", "space", "extra"])
def test_equivalent_sees_each_difference(change: str) -> None:
    """Every kind of change makes the heaps differ, and the difference names what changed."""
    a, b, oa, ob = _pair()
    if change == "attr":
        ob.attrs[b[wk.NAME]] = "other"
    elif change == "class":
        ob.cls = b[wk.CLASS]
    elif change == "comp":
        ob.comps[0] = VClosure(b[wk.CLASS], [1, "x", b[wk.CLASS]])
    elif change == "float zero":
        oa.comps.append(0.0)
        ob.comps.append(-0.0)
    elif change == "payload":
        ob.payload = PayloadSymbol("thing")
    elif change == "root":
        b.roots.add(ob)
    elif change == "flag":
        ob.applying = True
    elif change == "space":
        ob.space = b.create_space()
    elif change == "extra":
        ob.extra = {"loadrout": "x"}
    assert not a.equivalent(b)
    assert a.difference(b)


def test_create_and_duplicates() -> None:
    """create() gives fresh OIDs, or the one asked for, and refuses a duplicate."""
    heap = Heap()
    o = heap.create(None, mtime=1.5)
    assert heap[o.oid] is o and heap[str(o.oid)] is o and o.oid in heap
    with pytest.raises(Error, match="duplicate"):
        heap.create(None, oid=o.oid)
    with pytest.raises(KeyError):
        heap["_5Q5E0Lw9v4f046uAKZ"]


def test_create_space_is_its_own_space() -> None:
    """A created space holds a space payload, is in the space set and persists in its own file."""
    heap = new_heap()
    sp = heap.create_space()
    assert sp in heap.spaces and sp.space is sp and sp.cls is heap[wk.SPACE] and sp.payload.kind == "space"


def test_global_names() -> None:
    """globalnames: the roots holding a non-weak symbol payload, by OID."""
    heap = new_heap()
    names = dict((n, o.oid) for n, o in heap.global_names())
    assert names["name"] == wk.NAME and names["RefPerSys_system"] == wk.SYSTEM
    sym = heap.create(heap[wk.SYMBOL], space=heap[wk.INITIAL_SPACE])
    sym.payload = PayloadSymbol("weakling", weak=True)
    heap.roots.add(sym)
    assert "weakling" not in dict(heap.global_names())


def test_objects_are_slotted_and_small() -> None:
    """Objects and ids use __slots__ (no per-instance dict), which keeps a large heap small."""
    heap = new_heap()
    o = heap.create(heap[wk.OBJECT])
    assert not hasattr(o, "__dict__") and not hasattr(o.oid, "__dict__")
    assert not hasattr(PayloadClassInfo(o), "__dict__")
    assert sys.getsizeof(o) < 200
