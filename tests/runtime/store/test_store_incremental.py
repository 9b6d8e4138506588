"""Incremental dumps: dirty tracking per object, the blocks of unchanged objects copied from the last dump's files,
and the bytes always those of a whole rendering (`render_store`)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import rpsrt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpsrt.model import objects as model
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import (
    CleanObject,
    PayloadAgenda,
    PayloadClassInfo,
    PayloadEnvironment,
    PayloadGccJit,
    PayloadObjMap,
    PayloadSetOb,
    PayloadStringBuffer,
    PayloadStringDict,
    PayloadSymbol,
    PayloadTasklet,
    PayloadUnknown,
    PayloadVectOb,
    PayloadVectVal,
    RpsObject,
)
from rpsrt.model.values import VClosure, VSet
from rpsrt.store.core import new_heap
from rpsrt.store.reader import load_store
from rpsrt.store import writer
from rpsrt.store.writer import dump_store, render_store
from store_heaps import CLOSURE, JSON, MTIMES, OPT_REF, PAYLOAD, REF, TEXT, UNKNOWN_KEYS, VALUE, heaps

SPACE = f"persistore/sp{wk.INITIAL_SPACE}-rps.json"


@pytest.fixture(autouse=True)
def check_dirty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every incremental dump here also scans the heap and fails if the hooks' notes missed a dirty object."""
    monkeypatch.setattr(writer, "CHECK_DIRTY", True)


def _state(heap: Heap, top: Path) -> Any:
    return heap.dumps[os.path.realpath(top)]


def _disk(top: Path, rels: Any) -> dict[str, bytes]:
    return {rel: (top / rel).read_bytes() for rel in rels}


def _check(heap: Heap, top: Path) -> None:
    """The store holds exactly what a whole rendering of `heap` gives, and loads back to the same bytes."""
    want = render_store(heap)
    assert _disk(top, want) == want
    assert render_store(load_store(top, lazy=False)) == want


def _sample_heap() -> Heap:
    """The core objects plus one object of each payload kind and a few plain ones, in two spaces."""
    heap = new_heap()
    sp = heap[wk.INITIAL_SPACE]
    other = heap.create_space()
    obj = heap[wk.OBJECT]
    sel = heap.create(heap[wk.NAMED_SELECTOR], space=sp, mtime=1.0)
    fn = heap.create(obj, space=sp, mtime=1.0)
    sym = heap.create(heap[wk.SYMBOL], space=sp, mtime=1.0)
    sym.payload = PayloadSymbol("zork_class", None, False)
    cls = heap.create(heap[wk.CLASS], space=sp, mtime=1.0)
    cls.payload = PayloadClassInfo(obj, {sel: VClosure(fn, [1])}, sym, "zork_class")
    sym.payload.value = cls
    payloads = [PayloadSetOb([fn]), PayloadVectOb([fn, None]), PayloadVectVal([1, "two"]), PayloadAgenda([fn]),
                PayloadTasklet(VClosure(fn, []), 2.5), PayloadStringDict({"k": 1}),
                PayloadStringBuffer(["a"], "b", 2), PayloadObjMap({"m": [1, {"n": 2}]}, "d"),
                PayloadEnvironment({"e": []}, None, fn), PayloadGccJit([fn]),
                PayloadUnknown("future_kind", {"zz_future": [1, {"x": [2]}]})]
    for pl in payloads:
        o = heap.create(obj, space=sp, mtime=2.0)
        o.payload = pl
    for i in range(6):
        o = heap.create(cls, space=other if i % 2 else sp, mtime=3.0)
        o.attrs[heap[wk.NAME]] = f"thing_{i}"
        o.comps = [i, fn]
    heap.roots.add(cls)
    return heap


def _by_kind(heap: Heap, t: type) -> RpsObject:
    """The sample's object of payload kind `t` (for classinfo, the class `zork_class` of `_sample_heap`)."""
    for o in heap.objects.values():
        pl = model.payload_of(o)
        if type(pl) is t and (t is not PayloadClassInfo or pl.methodict):
            return o
    raise LookupError(t)


def _thing(heap: Heap, i: int) -> RpsObject:
    name = heap[wk.NAME]
    return next(o for o in heap.objects.values() if o.get(name) == f"thing_{i}")


# -- every mutation path makes the object dirty, and the next dump writes the change ---------------------------


def _mutations() -> dict[str, Any]:
    """name -> (pick the object, change it): every way the project changes a filled object."""

    def payload(t: type, change: Any) -> Any:
        return (lambda h: _by_kind(h, t), change)

    thing = lambda h: _thing(h, 0)  # noqa: E731
    return {
        "attrs set": (thing, lambda h, o: o.attrs.__setitem__(h[wk.COMMENT], "new")),
        "attrs delete": (thing, lambda h, o: o.attrs.pop(h[wk.NAME])),
        "attrs assign": (thing, lambda h, o: setattr(o, "attrs", {h[wk.COMMENT]: 3})),
        "attrs clear": (thing, lambda h, o: o.attrs.clear()),
        "attrs update": (thing, lambda h, o: o.attrs.update({h[wk.COMMENT]: 1.5})),
        "comps append": (thing, lambda h, o: o.comps.append("more")),
        "comps setitem": (thing, lambda h, o: o.comps.__setitem__(0, 99)),
        "comps delete": (thing, lambda h, o: o.comps.pop()),
        "comps assign": (thing, lambda h, o: setattr(o, "comps", [])),
        "comps extend": (thing, lambda h, o: o.comps.extend([1, 2])),
        "comps reverse": (thing, lambda h, o: o.comps.reverse()),
        "class": (thing, lambda h, o: setattr(o, "cls", h[wk.OBJECT])),
        "mtime": (thing, lambda h, o: setattr(o, "mtime", 1234.5)),
        "magicattr": (thing, lambda h, o: setattr(o, "magicattr", True)),
        "applying": (thing, lambda h, o: setattr(o, "applying", True)),
        "extra assign": (thing, lambda h, o: setattr(o, "extra", {"zz_future": 1})),
        "payload assign": (thing, lambda h, o: setattr(o, "payload", PayloadVectVal([7]))),
        "symbol name": payload(PayloadSymbol, lambda h, o: setattr(o.payload, "name", "renamed")),
        "symbol value": payload(PayloadSymbol, lambda h, o: setattr(o.payload, "value", 42)),
        "symbol weak": payload(PayloadSymbol, lambda h, o: setattr(o.payload, "weak", True)),
        "methodict set": payload(PayloadClassInfo, lambda h, o: o.payload.methodict.__setitem__(
            h[wk.NAME], VClosure(h[wk.NAME], []))),
        "methodict delete": payload(PayloadClassInfo, lambda h, o: o.payload.methodict.clear()),
        "class symbol": payload(PayloadClassInfo, lambda h, o: setattr(o.payload, "symb", None)),
        "superclass": payload(PayloadClassInfo, lambda h, o: setattr(o.payload, "superclass", h[wk.CLASS])),
        "attrset": payload(PayloadClassInfo, lambda h, o: setattr(o.payload, "attrset", VSet([h[wk.NAME]]))),
        "setob add": payload(PayloadSetOb, lambda h, o: o.payload.elems.add(h[wk.NAME])),
        "setob discard": payload(PayloadSetOb, lambda h, o: o.payload.elems.clear()),
        "vectob append": payload(PayloadVectOb, lambda h, o: o.payload.elems.append(h[wk.NAME])),
        "vectval append": payload(PayloadVectVal, lambda h, o: o.payload.elems.append(3.5)),
        "agenda": payload(PayloadAgenda, lambda h, o: o.payload.high.append(h[wk.NAME])),
        "tasklet": payload(PayloadTasklet, lambda h, o: setattr(o.payload, "obsolete_delay", 9.0)),
        "string dictionary": payload(PayloadStringDict, lambda h, o: o.payload.dictionary.__setitem__("z", 2)),
        "string buffer lines": payload(PayloadStringBuffer, lambda h, o: o.payload.lines.append("c")),
        "string buffer string": payload(PayloadStringBuffer, lambda h, o: setattr(o.payload, "string", "s")),
        "objmap nested": payload(PayloadObjMap, lambda h, o: o.payload.objmap["m"][1].__setitem__("n", 3)),
        "objmap descr": payload(PayloadObjMap, lambda h, o: setattr(o.payload, "descr", 5)),
        "environment parent": payload(PayloadEnvironment, lambda h, o: setattr(o.payload, "parent_env", None)),
        "gccjit": payload(PayloadGccJit, lambda h, o: o.payload.jitseq.append(h[wk.NAME])),
        "unknown members nested": payload(PayloadUnknown,
                                          lambda h, o: o.payload.members["zz_future"][1]["x"].append(3)),
        "payload extra": payload(PayloadSetOb, lambda h, o: setattr(o.payload, "extra", {"zz_other": [1]})),
        "space move": (thing, lambda h, o: setattr(o, "space", next(s for s in h.spaces if s is not o.space))),
    }


MUTATIONS = _mutations()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_path_makes_the_object_dirty(tmp_path: Path, name: str) -> None:
    """Each way of changing a clean object makes it dirty, and the next (incremental) dump writes the change."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    pick, change = MUTATIONS[name]
    target = pick(heap)
    dump_store(heap, top)  # the reads of `pick` made it dirty: written again, then sealed
    assert type(target) is CleanObject
    before = render_store(heap)
    change(heap, target)
    assert type(target) is RpsObject, "the change did not make the object dirty"
    assert render_store(heap) != before, "the mutation changed nothing that is dumped"
    written = dump_store(heap, top)
    assert written and _state(heap, top).incremental
    _check(heap, top)


def test_reads_leave_objects_clean(tmp_path: Path) -> None:
    """Reading the fields that hold no container (class, mtime, space, oid, flags), `get`, the read-only
    accessors and `Heap.equivalent` leave a clean object clean; reading `attrs` (which the caller may change)
    makes it dirty."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    o = _thing(heap, 1)
    dump_store(heap, top)
    assert type(o) is CleanObject
    _ = (o.cls, o.mtime, o.space, o.oid, o.magicattr, o.applying, o.is_ghost, o.get(heap[wk.NAME]),
         model.attrs_of(o), model.payload_of(o), model.comps_of(o), model.extra_of(o))
    assert heap.equivalent(load_store(top)) and render_store(heap)
    assert type(o) is CleanObject
    o.attrs  # noqa: B018
    assert type(o) is RpsObject


@pytest.mark.parametrize("hold", ["attrs", "comps", "payload", "methodict", "extra nested"])
def test_a_container_held_across_a_dump_keeps_its_object_dirty(tmp_path: Path, hold: str) -> None:
    """A container obtained before a dump and changed after it still reaches the store: the dump does not seal
    an object while something outside holds one of its containers."""
    heap = _sample_heap()
    top = tmp_path / "s"
    o = _by_kind(heap, PayloadClassInfo)
    o.extra = {"zz_future": [{"deep": []}]}
    held = {"attrs": lambda: o.attrs, "comps": lambda: o.comps, "payload": lambda: o.payload,
            "methodict": lambda: o.payload.methodict, "extra nested": lambda: o.extra["zz_future"][0]["deep"]}[hold]()
    dump_store(heap, top)
    assert type(o) is RpsObject  # not sealed: `held` is out there
    if isinstance(held, dict):
        held[heap[wk.COMMENT]] = "changed later"
    elif isinstance(held, list):
        held.append("changed later")
    else:
        held.attrset = VSet([heap[wk.NAME]])  # written as class_attrset
    assert dump_store(heap, top) == [SPACE]
    _check(heap, top)
    del held
    dump_store(heap, top)
    assert type(o) is CleanObject  # sealed once nothing holds its containers


def test_no_change_renders_nothing_and_writes_nothing(tmp_path: Path) -> None:
    """A dump after no change renders no object and writes no file; one after changing one object renders
    that object only and writes its space file only."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    assert _state(heap, top).rendered == len([o for o in heap.objects.values() if o.space is not None])
    assert dump_store(heap, top) == []
    assert _state(heap, top).incremental and _state(heap, top).rendered == 0
    mtimes = {p: p.stat().st_mtime_ns for p in top.rglob("*")}
    assert dump_store(heap, top) == [] and _state(heap, top).rendered == 0
    assert {p: p.stat().st_mtime_ns for p in top.rglob("*")} == mtimes
    _thing(heap, 0).comps.append(1)  # `_thing` reads attributes through `get`: only this object is dirty
    assert dump_store(heap, top) == [SPACE]
    assert _state(heap, top).incremental and _state(heap, top).rendered == 1
    _check(heap, top)


def test_class_symbol_rename_rewrites_the_framing_of_its_instances(tmp_path: Path) -> None:
    """Renaming the symbol of a class changes the framing lines (`∈name`) of all its instances, in every space,
    and the class's `class_name`: the incremental dump writes them all, as a whole rendering does."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    dump_store(heap, top)
    sym = next(o for o in heap.objects.values() if model.payload_of(o).__class__ is PayloadSymbol
               and model.payload_of(o).name == "zork_class")
    sym.payload.name = "frobnicated"
    written = dump_store(heap, top)
    # both space files, and the roots header (its comment on the class root names the class)
    assert written == sorted(["generated/rps-roots.hh", SPACE,
                              *(f"persistore/sp{sp.oid}-rps.json" for sp in heap.spaces if sp.oid != wk.INITIAL_SPACE)])
    assert _state(heap, top).incremental
    _check(heap, top)
    assert "\u2208frobnicated" in (top / SPACE).read_text()


def test_full_dump_and_foreign_changes(tmp_path: Path) -> None:
    """`full=True` renders everything again; a file another program changed since the last dump is rendered
    whole and compared (its blocks are not copied from it); a removed object makes the dump render all."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    n = _state(heap, top).rendered
    assert dump_store(heap, top, full=True) == [] and _state(heap, top).rendered == n
    assert not _state(heap, top).incremental
    p = top / SPACE
    p.write_bytes(p.read_bytes().replace(b"thing_0", b"thing_X"))
    assert dump_store(heap, top) == [SPACE]
    _check(heap, top)
    victim = _thing(heap, 2)
    del heap.objects[victim.oid]
    dump_store(heap, top)
    assert not _state(heap, top).incremental
    _check(heap, top)


def test_dumps_into_two_directories_each_see_every_change(tmp_path: Path) -> None:
    """A change written by a dump into one directory is still written by the next dump into another one."""
    heap = _sample_heap()
    a, b = tmp_path / "a", tmp_path / "b"
    dump_store(heap, a)
    dump_store(heap, b)
    _thing(heap, 3).comps.append("x")
    assert dump_store(heap, a) == [f"persistore/sp{_thing(heap, 3).space.oid}-rps.json"]
    _thing(heap, 4).mtime = 77.0
    assert len(dump_store(heap, b)) == 2  # both changes: the second space and the initial one
    assert _state(heap, b).incremental
    _check(heap, b)
    assert dump_store(heap, a) == [SPACE]  # the second change only
    _check(heap, a)


def test_lazy_heap_first_dump_renders_all_then_incremental(tmp_path: Path) -> None:
    """A lazily loaded heap's first dump renders every object (its text on disk is not proven to be the
    writer's), writes nothing when nothing changed, and its next dumps are incremental."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    lazy = load_store(top, lazy=True)
    persisted = len([o for o in lazy.objects.values() if o.space is not None])
    assert dump_store(lazy, top) == []
    assert not _state(lazy, top).incremental and _state(lazy, top).rendered == persisted
    _thing(lazy, 5).mtime = 9.0
    assert dump_store(lazy, top) == [f"persistore/sp{_thing(lazy, 5).space.oid}-rps.json"]
    assert _state(lazy, top).incremental and _state(lazy, top).rendered == 1
    _check(lazy, top)


def test_loaded_text_is_not_reused_by_the_first_dump(tmp_path: Path) -> None:
    """An object's text that the loader accepts but the writer would not write (other spacing) loads fine, and
    the loaded heap's first dump renders every object instead of copying that text, so its bytes are a whole
    rendering's; copying the text of such an object would not have been."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    p = top / SPACE
    data = p.read_bytes()
    assert data.count(b'"mtime": 3.00,') >= 3
    p.write_bytes(data.replace(b'"mtime": 3.00,', b'"mtime"  :  3.00 ,', 1))
    lazy = load_store(top, lazy=True)
    assert render_store(lazy)[SPACE] == data != p.read_bytes()
    assert dump_store(lazy, top) == [SPACE]
    _check(lazy, top)


def test_objects_entering_the_heap_and_partial_dumps(tmp_path: Path) -> None:
    """A clean object of another heap added to this one is dirty (and written); a dump with `spaces=` leaves
    no state behind, and the next dump is whole again and exact."""
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    other = new_heap()
    stranger = other.create(other[wk.OBJECT], space=other[wk.INITIAL_SPACE], mtime=4.0)
    dump_store(other, tmp_path / "o")
    assert type(stranger) is CleanObject
    heap.objects[stranger.oid] = stranger
    assert type(stranger) is RpsObject
    stranger.cls, stranger.space = heap[wk.OBJECT], heap[wk.INITIAL_SPACE]
    assert SPACE in dump_store(heap, top)
    _check(heap, top)
    assert stranger.oid in load_store(top)
    _thing(heap, 0).comps.append("partial")
    dump_store(heap, top, spaces={_thing(heap, 0).space})
    _check(heap, top)
    assert _state(heap, top).incremental  # a valid state: exact, whatever `spaces` said
    heap.dumps.clear()
    _thing(heap, 2).comps.append("partial again")
    dump_store(heap, top, spaces={_thing(heap, 2).space})
    assert os.path.realpath(top) not in heap.dumps  # a dump of some spaces only leaves no state
    _thing(heap, 2).comps.append("whole")
    dump_store(heap, top)
    assert not _state(heap, top).incremental
    _check(heap, top)


def test_sealing_is_calibrated() -> None:
    """On CPython the reference counts that sealing relies on hold (else no object would ever be sealed)."""
    assert model._SEALING is (sys.implementation.name == "cpython")


def test_heap_fast_path_marks_objects_dirty(tmp_path: Path) -> None:
    """The C fast path of the heap API (rpsrt/native/heapfast.c) reads a clean object's attribute without
    making it dirty, and an attribute it writes makes the object dirty, so that the next dump writes it."""
    from rpsrt import abi, heaphost
    from rpsrt.model.heapapi import HeapRuntime

    if heaphost._fast_lib() is None:
        pytest.skip("no C compiler: no fast path")
    heap = _sample_heap()
    top = tmp_path / "s"
    dump_store(heap, top)
    host = heaphost.HeapHost(HeapRuntime(heap, seed=1, clock=5.0))
    thing = _thing(heap, 0)
    dump_store(heap, top)
    assert type(thing) is CleanObject
    heaphost.install(host)
    try:
        entry = abi.HEAP_OP_FN(heaphost.heap_op_address())
        out = (ctypes.c_int64 * 1)()
        addr = ctypes.cast
        fn, loc = ctypes.c_char_p(b"f"), ctypes.c_char_p(b"x.rps:1:2")
        aux = ctypes.c_char_p(b"hhh|value")
        args = (ctypes.c_int64 * 3)(host.handle(thing), host.handle(heap[wk.NAME]), host.handle("renamed"))
        assert entry(abi.HEAP_OP_CODES["get_attr"], addr(aux, ctypes.c_void_p), out, 2, args,
                     addr(fn, ctypes.c_void_p), addr(loc, ctypes.c_void_p)) == 0
        assert host.value(out[0]) == "thing_0"
        assert type(thing) is CleanObject
        aux = ctypes.c_char_p(b"vhhh|")
        assert entry(abi.HEAP_OP_CODES["set_attr"], addr(aux, ctypes.c_void_p), out, 3, args,
                     addr(fn, ctypes.c_void_p), addr(loc, ctypes.c_void_p)) == 0
    finally:
        heaphost.install(None)
    assert type(thing) is RpsObject and model.attrs_of(thing)[heap[wk.NAME]] == "renamed" and thing.mtime == 5.0
    assert dump_store(heap, top) == [SPACE]
    _check(heap, top)


# -- random sequences of changes of every kind, eager and lazy heaps --------------------------------------------


def _mutate(heap: Heap, data: st.DataObject, order: list[Any], made: list[RpsObject], held: list[Any]) -> None:
    """One random change of the heap, drawn among every kind the project makes. `order`: the OIDs in an order
    that does not depend on their random values (hypothesis replays draws)."""
    objs = [heap.objects[k] for k in order if k in heap.objects]
    spaces = [x for x in objs if x in heap.spaces]
    o = data.draw(st.sampled_from(objs))
    pl = model.payload_of(o)
    kind = data.draw(st.sampled_from([
        "attr set", "attr delete", "attrs assign", "comps append", "comps pop", "comps assign", "payload assign",
        "payload edit", "class", "mtime", "flags", "extra", "create", "remove", "transient", "persist",
        "roots", "constants", "space move", "new space", "hold", "change held", "rename class symbol",
        "system constant", "prologue"]))
    if kind == "attr set":
        o.attrs[data.draw(REF)(objs)] = data.draw(VALUE)(objs)
    elif kind == "attr delete" and model.attrs_of(o):
        del o.attrs[data.draw(st.sampled_from(list(model.attrs_of(o))))]
    elif kind == "attrs assign":
        o.attrs = {data.draw(REF)(objs): data.draw(VALUE)(objs)}
    elif kind == "comps append":
        o.comps.append(data.draw(VALUE)(objs))
    elif kind == "comps pop" and model.comps_of(o):
        o.comps.pop(0)
    elif kind == "comps assign":
        o.comps = [data.draw(VALUE)(objs)]
    elif kind == "payload assign" and not isinstance(pl, (PayloadClassInfo, PayloadSymbol)) and o not in spaces:
        new = data.draw(PAYLOAD)(objs)
        if isinstance(new, PayloadUnknown):
            new.members.pop("loadrout", None)
            o.extra = None
        o.payload = new
    elif kind == "payload edit" and pl is not None:
        _edit_payload(heap, o, pl, data, objs)
    elif kind == "class":
        o.cls = data.draw(REF)(objs)
    elif kind == "mtime":
        o.mtime = data.draw(MTIMES)
    elif kind == "flags":
        o.magicattr, o.applying = data.draw(st.booleans()), data.draw(st.booleans())
    elif kind == "extra" and not isinstance(pl, PayloadUnknown):
        o.extra = data.draw(st.one_of(st.none(), st.dictionaries(UNKNOWN_KEYS.filter(lambda k: k != "loadrout"),
                                                                 JSON, min_size=1, max_size=2)))
    elif kind == "create":
        new = heap.create(data.draw(REF)(objs), space=data.draw(st.sampled_from(spaces)), mtime=data.draw(MTIMES))
        new.attrs[data.draw(REF)(objs)] = data.draw(VALUE)(objs)
        made.append(new)
        order.append(new.oid)
    elif kind in ("remove", "transient") and made:
        leaf = data.draw(st.sampled_from(made))
        used = {x.cls for x in objs} | {model.payload_of(x).superclass for x in objs
                                         if isinstance(model.payload_of(x), PayloadClassInfo)}
        if leaf not in used and leaf not in heap.spaces:
            if kind == "remove":
                heap.objects.pop(leaf.oid, None)
                made.remove(leaf)
            else:
                leaf.space = None
    elif kind == "persist" and made:
        leaf = data.draw(st.sampled_from(made))
        if leaf.space is None:
            leaf.space = data.draw(st.sampled_from(spaces))
    elif kind == "roots":
        (heap.roots.discard if o in heap.roots else heap.roots.add)(o)
    elif kind == "constants":
        (heap.constants.discard if o in heap.constants else heap.constants.add)(o)
    elif kind == "space move" and o.space is not None and o not in heap.spaces:
        o.space = data.draw(st.sampled_from(spaces))
    elif kind == "new space" and len(spaces) < 4:
        sp = heap.create_space()
        sp.mtime = data.draw(MTIMES)
        order.append(sp.oid)
    elif kind == "hold":
        held.append(data.draw(st.sampled_from([lambda: o.attrs, lambda: o.comps, lambda: o.payload]))())
    elif kind == "change held" and held:
        h = data.draw(st.sampled_from(held))
        if isinstance(h, dict):
            h[data.draw(REF)(objs)] = data.draw(VALUE)(objs)
        elif isinstance(h, list):
            h.append(data.draw(VALUE)(objs))
        elif h is not None and hasattr(h, "extra") and not isinstance(h, PayloadUnknown):
            h.extra = {"zz_other": data.draw(JSON)}
    elif kind == "rename class symbol" and isinstance(pl, PayloadClassInfo) and pl.symb is not None:
        spl = model.payload_of(pl.symb)
        if isinstance(spl, PayloadSymbol):
            spl = pl.symb.payload
            spl.name = data.draw(TEXT)
    elif kind == "system constant":
        heap[wk.SYSTEM].attrs[heap[wk.CONSTANT]] = VSet([data.draw(REF)(objs)])
    elif kind == "prologue":
        heap.prologues.setdefault(data.draw(st.sampled_from(spaces)).oid, {})["zz_note"] = data.draw(TEXT)


def _edit_payload(heap: Heap, o: RpsObject, pl: Any, data: st.DataObject, objs: list[RpsObject]) -> None:
    pl = o.payload  # the read that a change makes
    t = type(pl)
    if t is PayloadSymbol:
        pl.value = data.draw(VALUE)(objs)
        pl.weak = data.draw(st.booleans())
    elif t is PayloadClassInfo:
        if data.draw(st.booleans()):
            pl.methodict[data.draw(REF)(objs)] = data.draw(CLOSURE)(objs)
        elif pl.methodict:
            pl.methodict.popitem()
        else:
            pl.symb = data.draw(OPT_REF)(objs)
    elif t is PayloadSetOb:
        pl.elems.add(data.draw(REF)(objs))
    elif t in (PayloadVectOb, PayloadGccJit):
        (pl.elems if t is PayloadVectOb else pl.jitseq).append(data.draw(REF)(objs))
    elif t is PayloadVectVal:
        pl.elems.append(data.draw(VALUE)(objs))
    elif t is PayloadAgenda:
        data.draw(st.sampled_from([pl.low, pl.normal, pl.high])).append(data.draw(REF)(objs))
    elif t is PayloadTasklet:
        pl.todo = data.draw(CLOSURE)(objs)
    elif t is PayloadStringDict:
        pl.dictionary[data.draw(TEXT)] = data.draw(VALUE)(objs)
    elif t is PayloadStringBuffer:
        pl.lines = (pl.lines or []) + [data.draw(TEXT)]
        pl.string = data.draw(st.one_of(st.none(), TEXT))
    elif t in (PayloadObjMap, PayloadEnvironment):
        pl.objmap[data.draw(TEXT)] = data.draw(JSON)
        if t is PayloadEnvironment:
            pl.parent_env = data.draw(OPT_REF)(objs)
    elif t is PayloadUnknown:
        pl.members[data.draw(UNKNOWN_KEYS.filter(lambda k: k != "loadrout"))] = data.draw(JSON)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(heap=heaps(max_objects=6), data=st.data(), lazy=st.booleans())
def test_incremental_dumps_equal_whole_renderings(tmp_path_factory: pytest.TempPathFactory, heap: Heap,
                                                  data: st.DataObject, lazy: bool) -> None:
    """After random sequences of changes of every kind (attributes, components, each payload kind, classes,
    mtimes, flags, new, removed, transient and moved objects, roots, constants, spaces, changes through
    containers held across dumps, class symbols renamed), each dump into either of two directories leaves
    there exactly the bytes of a whole rendering, on eager and on lazily loaded heaps."""
    base = tmp_path_factory.mktemp("inc")
    a, b = base / "a", base / "b"
    order = list(heap.objects)
    dump_store(heap, a)
    if lazy:
        heap = rpsrt.load_store(a, lazy=True)
    made: list[RpsObject] = []
    held: list[Any] = []
    for _step in range(data.draw(st.integers(1, 5), label="steps")):
        for _ in range(data.draw(st.integers(0, 3), label="changes")):
            _mutate(heap, data, order, made, held)
        top = data.draw(st.sampled_from([a, b]), label="directory")
        dump_store(heap, top)
        _check(heap, top)
    # Whatever came before, a dump after no change starts from the last one and writes nothing.
    dump_store(heap, a)
    assert dump_store(heap, a) == [] and _state(heap, a).incremental
    _check(heap, a)

