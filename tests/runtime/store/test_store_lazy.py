"""Lazy loading: ghosts framed at open, filled on first touch, equal to an eager load; errors surface when touched."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest
import rpsrt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpsrt.errors import StoreError
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.store import reader
from rpsrt.store.reader import load_store
from rpsrt.store.writer import dump_store, render_store
from store_heaps import heaps

SPACE = f"persistore/sp{wk.INITIAL_SPACE}-rps.json"
EXTRA = Oid.parse("_5Q5E0Lw9v4f046uAKZ")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(heaps(), st.randoms(use_true_random=False))
def test_lazy_and_eager_loads_give_equal_heaps(tmp_path_factory: pytest.TempPathFactory, heap: Heap,
                                               rnd: object) -> None:
    """A lazy load touched in a random order equals the eager load of the same store, and dumps the same bytes."""
    top = tmp_path_factory.mktemp("lazy")
    dump_store(heap, top)
    eager = load_store(top, lazy=False)
    lazy = load_store(top, lazy=True)
    assert all(o.is_ghost for o in lazy.objects.values())
    objs = list(lazy.objects.values())
    rnd.shuffle(objs)  # type: ignore[attr-defined]
    for o in objs[: len(objs) // 2]:
        o.attrs  # noqa: B018 -- a touch fills the ghost
    assert eager.difference(lazy) is None
    assert not any(o.is_ghost for o in lazy.objects.values())
    assert render_store(eager) == render_store(load_store(top, lazy=True))


def _store(tmp_path: Path) -> Path:
    heap = new_heap()
    o = heap.create(heap[wk.OBJECT], oid=EXTRA, space=heap[wk.INITIAL_SPACE], mtime=1700000000.0)
    o.comps = ["a string", 7]
    top = tmp_path / "store"
    dump_store(heap, top)
    return top


def _break_extra(top: Path) -> int:
    """Give the extra object a dangling class; return the line the error must name."""
    p = top / SPACE
    text = p.read_text()
    start = text.index(f"//+ob{EXTRA}")
    pos = text.index('"class" : "', start)
    end = pos + len('"class" : "_') + 18
    text = text[:pos] + '"class" : "_7WsQyJK6lty02uz5KT' + text[end:]
    p.write_text(text)
    return text.count("\n", 0, pos) + 1


def test_open_frames_only_and_a_touch_fills(tmp_path: Path) -> None:
    """A lazy open leaves every object a ghost; touching one fills that one only, with the stored contents."""
    top = _store(tmp_path)
    heap = load_store(top, lazy=True)
    extra = heap[EXTRA]
    assert extra.is_ghost and extra.space is heap[wk.INITIAL_SPACE]  # space is set at open: no fill
    assert extra.comps == ["a string", 7]
    assert not extra.is_ghost
    assert sum(o.is_ghost for o in heap.objects.values()) == len(heap.objects) - 1


def test_error_in_untouched_object_surfaces_on_touch_with_file_and_line(tmp_path: Path) -> None:
    """A bad untouched object does not fail the lazy open; touching it raises at its file and line, every time."""
    top = _store(tmp_path)
    line = _break_extra(top)
    heap = load_store(top, lazy=True)
    assert heap[wk.OBJECT].attrs is not None  # other objects fill fine
    for _ in range(2):
        with pytest.raises(StoreError) as info:
            heap[EXTRA].cls  # noqa: B018
        err = info.value
        assert err.path.endswith(SPACE) and err.line == line and err.oid == str(EXTRA)
        assert "dangling reference" in err.message
    with pytest.raises(StoreError) as info:
        heap.materialize()
    assert info.value.line == line


def test_store_check_reports_error_in_untouched_object(tmp_path: Path) -> None:
    """`rpsc store check` fills every object, so a bad one nothing touched is reported at its line, exit 1."""
    top = _store(tmp_path)
    line = _break_extra(top)
    r = subprocess.run([sys.executable, "-m", "rpsc", "store", "check", str(top)], capture_output=True,
                       text=True, env={"RPSRT_LAZY_LOAD": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r.stderr
    assert f"{SPACE}:{line}: error: dangling reference" in r.stderr
    assert "Traceback" not in r.stderr


def test_assignment_before_first_read_wins(tmp_path: Path) -> None:
    """A field assigned on a ghost is kept when the ghost fills, as it would be after an eager load."""
    top = _store(tmp_path)
    heap = load_store(top, lazy=True)
    extra = heap[EXTRA]
    extra.comps = ["changed"]
    assert extra.is_ghost
    assert extra.mtime == 1700000000.0  # the first read fills the other fields
    assert extra.comps == ["changed"] and extra.cls is heap[wk.OBJECT]
    dump_store(heap, top)
    assert load_store(top, lazy=False)[EXTRA].comps == ["changed"]


def test_threads_touching_one_ghost_fill_it_once(tmp_path: Path) -> None:
    """Eight threads touching the same ghosts at once all see the filled contents, and no error."""
    top = _store(tmp_path)
    heap = load_store(top, lazy=True)
    seen: list[object] = []
    errors: list[BaseException] = []

    def touch() -> None:
        try:
            for o in heap.objects.values():
                seen.append(o.cls)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and None not in seen
    assert heap.difference(load_store(top, lazy=False)) is None


def test_env_var_makes_load_store_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RPSRT_LAZY_LOAD=1 makes rpsrt.load_store lazy by default; `check` fills every object before returning."""
    top = _store(tmp_path)
    monkeypatch.setenv("RPSRT_LAZY_LOAD", "1")
    assert rpsrt.load_store(str(top))[EXTRA].is_ghost
    monkeypatch.setenv("RPSRT_LAZY_LOAD", "check")
    line = _break_extra(top)
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(str(top))
    assert info.value.line == line
    monkeypatch.delenv("RPSRT_LAZY_LOAD")
    with pytest.raises(StoreError):
        rpsrt.load_store(str(top))


def _needs_loadfast() -> None:
    from rpsrt.native import loadfast

    if loadfast.module() is None:
        pytest.skip("the C accelerator of the loader is not built here (no cc, or RPSRT_NO_LOADFAST set)")


def test_lazy_open_defers_oids_and_the_objects_dict(tmp_path: Path) -> None:
    """A lazy open makes neither the ghosts' Oids nor heap.objects; get, [], in and len answer from the id
    table, the first read of a ghost's oid makes the same Oid an eager load holds, and heap.objects, made on
    its first read, equals the eager load's (keys, order, objects)."""
    _needs_loadfast()
    top = _store(tmp_path)
    eager = load_store(top, lazy=False)
    heap = load_store(top, lazy=True)
    with pytest.raises(AttributeError):
        object.__getattribute__(heap, "objects")  # not made at open
    raw_oid = rpsrt.RpsObject.__dict__["oid"].__get__
    assert len(heap) == len(eager) and EXTRA in heap and Oid.random() not in heap
    extra = heap[EXTRA]
    assert heap.get(str(EXTRA)) is extra and extra.is_ghost
    with pytest.raises(AttributeError):
        raw_oid(extra)  # the ghost has no Oid yet
    oid = extra.oid
    assert raw_oid(extra) is oid and oid == EXTRA and hash(oid) == hash(EXTRA) and str(oid) == str(EXTRA)
    assert oid.hi == EXTRA.hi and oid.lo == EXTRA.lo and type(oid) is Oid and {oid: 1}[EXTRA] == 1
    assert extra.comps == ["a string", 7]  # the fill finds it by its address
    objects = heap.objects
    assert heap.objects is objects and type(objects) is type(eager.objects)
    assert list(objects) == list(eager.objects)
    assert all(type(k) is Oid and raw_oid(v) is k and heap[k] is v for k, v in objects.items())
    assert sorted(heap) == sorted(objects.values())  # ghosts order by their (now made) Oids
    assert heap.difference(eager) is None


def test_threads_reading_a_lazy_heaps_objects_at_once_share_one_dict(tmp_path: Path) -> None:
    """Eight threads reading heap.objects and ghosts' oids of a fresh lazy heap at once see one dict and one
    Oid per object."""
    top = _store(tmp_path)
    heap = load_store(top, lazy=True)
    got: list[object] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        try:
            barrier.wait()
            d = heap.objects
            got.append((d, [o.oid for o in d.values()]))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 8
    first_dict, first_oids = got[0]  # type: ignore[misc]
    for d, oids in got:  # type: ignore[misc]
        assert d is first_dict and all(a is b for a, b in zip(oids, first_oids, strict=True))


def test_touch_finds_its_ghost_in_a_file_whose_ids_do_not_increase(tmp_path: Path) -> None:
    """In a space file whose objects are not in id order, each touched ghost fills with its own contents."""
    top = _store(tmp_path)
    p = top / SPACE
    text = p.read_text()
    head, *blocks = text.split("\n//+ob")
    tail_at = blocks[-1].index("\n//// end of")
    end = blocks[-1][tail_at:]
    blocks[-1] = blocks[-1][:tail_at]
    blocks.reverse()
    blocks[-1] += end
    p.write_text("\n//+ob".join([head, *blocks]))
    eager = load_store(top, lazy=False)
    heap = load_store(top, lazy=True)
    for o in reversed(list(eager.objects.values())):
        assert heap[o.oid].is_ghost
        heap[o.oid].cls  # noqa: B018 -- a touch fills the ghost
    assert heap.difference(eager) is None


def _young_ids() -> set[int]:
    return {id(x) for g in (0, 1) for x in gc.get_objects(g)}


@pytest.mark.parametrize("lazy", [False, True])
def test_a_large_load_files_its_objects_as_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lazy: bool) -> None:
    """A load of at least AGE_AT objects leaves them in the collector's oldest generation (no young collection
    walks them again), still collectable: a dropped heap is freed by a full collection."""
    top = _store(tmp_path)
    monkeypatch.setattr(reader, "AGE_AT", 1)
    heap = load_store(top, lazy=lazy)
    objs = list(heap.objects.values()) if not lazy else [heap[EXTRA], heap[wk.OBJECT]]
    assert not {id(o) for o in objs} & _young_ids()
    assert gc.get_freeze_count() == 0
    probe = weakref.ref(heap[EXTRA])
    del heap, objs
    gc.collect()
    assert probe() is None


def test_a_load_leaves_the_callers_frozen_objects_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the process keeps frozen objects, the load does not age its own (unfreeze would release them)."""
    top = _store(tmp_path)
    monkeypatch.setattr(reader, "AGE_AT", 1)
    gc.collect()
    gc.disable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        heap = load_store(top, lazy=False)
        assert gc.get_freeze_count() == frozen
        assert {id(o) for o in heap.objects.values()} & _young_ids()
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_small_load_leaves_its_objects_young(tmp_path: Path) -> None:
    top = _store(tmp_path)
    gc.disable()  # (no collection of the test's own moves them meanwhile)
    try:
        heap = load_store(top, lazy=False)
        assert len(heap.objects) < reader.AGE_AT
        assert {id(o) for o in heap.objects.values()} & _young_ids()
    finally:
        gc.enable()
