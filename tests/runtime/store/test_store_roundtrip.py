"""Store round trips: random heaps dump and load back equal; dumps are deterministic and incremental."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import rpsrt
from hypothesis import HealthCheck, given, settings
from rpsrt.model import wellknown as wk
from rpsrt.errors import StoreError
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadSymbol, PayloadUnknown
from rpsrt.store.core import CORE_CLASSES, new_heap
from rpsrt.store.reader import load_store
from rpsrt.store.writer import GENERATED_HEADERS, dump_store, render_store
from rpsrt.model.values import VClosure, VRaw
from store_heaps import heaps


def _files(top: Path) -> dict[str, bytes]:
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(heaps())
def test_random_heaps_round_trip(tmp_path_factory: pytest.TempPathFactory, heap: Heap) -> None:
    """dump -> load gives an equivalent heap, and dumping that again writes identical bytes."""
    top = tmp_path_factory.mktemp("rt")
    dump_store(heap, top)
    first = _files(top)
    loaded = load_store(top)
    assert heap.difference(loaded) is None
    again = render_store(loaded)
    for rel, data in again.items():
        assert first[rel] == data, rel
    assert dump_store(loaded, top) == []  # nothing changed: nothing rewritten


def test_space_files_and_spaceset(tmp_path: Path) -> None:
    """Each space is its own file holding its objects; the manifest's spaceset lists every space."""
    heap = new_heap()
    sp = heap.create_space()
    obj = heap.create(heap[wk.OBJECT], space=sp, mtime=12.5)
    obj.attrs[heap[wk.NAME]] = "in_module_space"
    dump_store(heap, tmp_path)
    files = _files(tmp_path)
    mine = files[f"persistore/sp{sp.oid}-rps.json"].decode()
    assert f"//+ob{obj.oid}:in_module_space//$in_module_space" in mine
    assert f"//+ob{sp.oid}" in mine and '"nbobjects" : 2' in mine
    initial = files[f"persistore/sp{wk.INITIAL_SPACE}-rps.json"].decode()
    assert str(obj.oid) not in initial
    loaded = load_store(tmp_path)
    assert {s.oid for s in loaded.spaces} == {sp.oid, wk.INITIAL_SPACE}
    assert loaded[obj.oid].space is loaded[sp.oid] and loaded[sp.oid].space is loaded[sp.oid]


def test_new_heap_core_objects(tmp_path: Path) -> None:
    """new_heap() holds the core classes with upstream's OIDs, superclasses and symbols, and dumps stably."""
    heap = new_heap()
    name = heap[wk.NAME]
    for cname, cls_oid, sup, sym_oid, _root in CORE_CLASSES:
        cls = heap[cls_oid]
        assert cls.cls is heap[wk.CLASS] and cls.attrs[name] == cname
        assert cls.payload.superclass.attrs[name] == sup  # type: ignore[union-attr]
        sym = heap[sym_oid]
        assert isinstance(sym.payload, PayloadSymbol) and sym.payload.name == cname and sym.payload.value is cls
    for oid in (wk.OBJECT, wk.CLASS, wk.SYMBOL, wk.NAMED_ATTRIBUTE, wk.NAMED_SELECTOR, wk.NAME, wk.COMMENT,
                wk.SPACE, wk.INITIAL_SPACE, wk.SYSTEM, wk.INT, wk.STRING, wk.DOUBLE, wk.SET, wk.TUPLE, wk.CLOSURE,
                wk.JSON):
        assert oid in heap
    dump_store(heap, tmp_path / "a")
    dump_store(new_heap(), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    manifest = (tmp_path / "a" / "rps_manifest.json").read_text()
    assert '"progname" : "rpsc"' in manifest and '"nam" : "RefPerSys_system"' in manifest
    assert load_store(tmp_path / "a").equivalent(heap)


def test_incremental_dump_rewrites_only_changed_files(tmp_path: Path) -> None:
    """A space file whose bytes would not change is not rewritten; a changed one is, with a `~` backup."""
    heap = new_heap()
    sp = heap.create_space()
    o = heap.create(heap[wk.OBJECT], space=sp, mtime=1.0)
    assert set(dump_store(heap, tmp_path)) == {"rps_manifest.json", f"persistore/sp{sp.oid}-rps.json",
                                                f"persistore/sp{wk.INITIAL_SPACE}-rps.json",
                                                *GENERATED_HEADERS}
    initial = tmp_path / f"persistore/sp{wk.INITIAL_SPACE}-rps.json"
    stat = initial.stat()
    o.comps.append("changed")
    assert dump_store(heap, tmp_path) == [f"persistore/sp{sp.oid}-rps.json"]
    assert initial.stat().st_mtime_ns == stat.st_mtime_ns and initial.stat().st_ino == stat.st_ino
    backup = tmp_path / f"persistore/sp{sp.oid}-rps.json~"
    assert backup.exists() and b"changed" not in backup.read_bytes()
    assert not [p for p in tmp_path.rglob("*%")]  # no temporary left
    assert not (tmp_path / "rpsc-dump-journal.json").exists()


def test_plugins_and_provenance_round_trip(tmp_path: Path) -> None:
    """The manifest's plugins array and the loaded provenance fields come back as they were."""
    heap = new_heap()
    plugin = heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=2.0)
    heap.plugins.add(plugin)
    heap.manifest_extra = {"dumpgmdate": "2026-Aug-16", "progname": "./refpersys", "zz_unknown": [1, "x"]}
    dump_store(heap, tmp_path)
    loaded = load_store(tmp_path)
    assert [p.oid for p in loaded.plugins] == [plugin.oid]
    assert loaded.manifest_extra == heap.manifest_extra
    assert f'"plugins" : [ "{plugin.oid}" ]' in (tmp_path / "rps_manifest.json").read_text()


def test_unknown_payload_and_members_preserved(tmp_path: Path) -> None:
    """An unknown payload kind, unknown members and unknown value shapes are written back verbatim."""
    heap = new_heap()
    o = heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=3.0)
    o.payload = PayloadUnknown("zz_kind", {"zz_a": {"k": [1, 2.5, None]}, "zz_b": "_notanoid"})
    o.extra = {"loadrout": "rpsldpy_zz"}
    o.comps = [VRaw({"vtype": "zz_future", "x": 1}), VRaw(True), VRaw([1, 2])]
    dump_store(heap, tmp_path)
    loaded = load_store(tmp_path)
    lo = loaded[o.oid]
    assert isinstance(lo.payload, PayloadUnknown) and lo.payload.kind == "zz_kind"
    assert lo.payload.members == o.payload.members and lo.extra == o.extra
    assert lo.comps == o.comps


def test_transient_references_are_dropped(tmp_path: Path) -> None:
    """An object with no space is not dumped: an attribute holding it is dropped, a component becomes null."""
    heap = new_heap()
    kept = heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=4.0)
    transient = heap.create(heap[wk.OBJECT], mtime=4.0)
    kept.attrs[heap[wk.COMMENT]] = transient
    kept.comps = [transient, VClosure(transient, [1])]
    dump_store(heap, tmp_path)
    loaded = load_store(tmp_path)
    assert transient.oid not in loaded
    assert loaded[kept.oid].attrs == {} and loaded[kept.oid].comps == [None, None]


def test_dump_refuses_objects_outside_the_space_set(tmp_path: Path) -> None:
    """An object in a space object that is not in heap.spaces is a StoreError, and nothing is written."""
    heap = new_heap()
    rogue = heap.create(heap[wk.SPACE], mtime=5.0)
    rogue.space = rogue
    with pytest.raises(StoreError, match="not in the heap's spaces"):
        dump_store(heap, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_integral_floats_stay_floats(tmp_path: Path) -> None:
    """3.0 is written `3.0` and loads back as the float 3.0 in rpsc (upstream's jsoncpp would read an int)."""
    heap = new_heap()
    o = heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=6.0)
    o.comps = [3.0, 3, -0.0]
    dump_store(heap, tmp_path)
    text = (tmp_path / f"persistore/sp{wk.INITIAL_SPACE}-rps.json").read_text()
    assert "\t3.0,\n" in text and "\t-0.0\n" in text
    comps = load_store(tmp_path)[o.oid].comps
    assert [type(c) for c in comps] == [float, int, float] and str(comps[2]) == "-0.0"


def test_load_store_entry_point(tmp_path: Path) -> None:
    """rpsrt.load_store / rpsrt.dump_store are the store layer's entry points."""
    rpsrt.dump_store(new_heap(), os.fspath(tmp_path))
    assert len(rpsrt.load_store(os.fspath(tmp_path))) == len(new_heap())
