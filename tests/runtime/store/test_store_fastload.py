"""The store loader's C accelerator (rpsrt.native.loadfast) against its pure-Python path: the same heaps from
generated and real stores, eager and lazy, and the same errors on the fuzz harness's mutated stores."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rpsrt
from hypothesis import HealthCheck, given, settings
from rpsrt.model.heap import Heap, Objects
from rpsrt.model.objects import _GHOST_FIELDS
from rpsrt.native import loadfast
from rpsrt.store import reader
from rpsrt.store.writer import dump_store, render_store
from store_heaps import heaps

from conftest import STORE_DIRS
from test_store_fuzz import _cases, _sources, applied

#: Mutated stores loaded through both paths (each eagerly and lazily): about 15 s.
FUZZ_CASES = 250


@contextlib.contextmanager
def python_path() -> Iterator[None]:
    """Loads inside run the pure-Python path (RPSRT_NO_LOADFAST, read by every new load)."""
    old = os.environ.get(loadfast.DISABLE_ENV)
    os.environ[loadfast.DISABLE_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[loadfast.DISABLE_ENV]
        else:
            os.environ[loadfast.DISABLE_ENV] = old


def _load(top: Path, lazy: bool, fast: bool) -> Heap:
    """A load through one path; a lazy one is then filled entirely (the fills run through the same path)."""
    with contextlib.nullcontext() if fast else python_path():
        heap = rpsrt.load_store(top, lazy=lazy)
        heap.materialize()
    return heap


def _shape(heap: Heap) -> list[tuple[Any, ...]]:
    """What `Heap.difference` does not look at: the exact type of every field and the `extra` dicts."""
    return [(o.oid, tuple(type(getattr(o, f)).__name__ for f in sorted(_GHOST_FIELDS)), o.extra, type(o.payload),
             o.is_ghost) for o in sorted(heap.objects.values())]


def assert_same(a: Heap, b: Heap) -> None:
    assert a.difference(b) is None, a.difference(b)
    assert _shape(a) == _shape(b)
    assert (a.manifest_extra, a.prologues, a.headers) == (b.manifest_extra, b.prologues, b.headers)


def _outcome(top: Path, lazy: bool, fast: bool) -> tuple[str, Any]:
    try:
        heap = _load(top, lazy, fast)
    except rpsrt.Error as exc:
        return "refused", f"{type(exc).__name__}: {exc}"
    return "loaded", (heap.canonical(), _shape(heap))


def test_accelerator_is_built_and_does_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With cc present the accelerator builds, writes RpsObject's slots itself, and fills every object of a
    store of symbols, classes, closures and plain objects without handing one to the Python path."""
    mod = loadfast.module()
    assert mod is not None and mod.PLAIN
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    try:
        from store_bench import build_heap
    finally:
        sys.path.pop(0)
    top = tmp_path / "store"
    dump_store(build_heap(3000), top)
    handed: list[int] = []
    py_fill = reader._Loader._fill_py

    def counting(self: reader._Loader, sp: Any, items: Any) -> None:
        items = list(items)
        handed.extend(i for i, _ in items)
        py_fill(self, sp, items)

    monkeypatch.setattr(reader._Loader, "_fill_py", counting)
    heap = rpsrt.load_store(top, lazy=False)
    assert len(heap.objects) >= 3000 and handed == []
    lazy = rpsrt.load_store(top, lazy=True)
    # the heap keeps its `Objects` dict (what incremental dumps count changes with), filled in C
    assert type(lazy.objects) is Objects and all(o.is_ghost for o in lazy.objects.values())
    lazy.materialize()
    assert handed == []
    monkeypatch.setattr(reader._Loader, "_fill_py", py_fill)
    assert_same(heap, _load(top, False, fast=False))
    assert_same(lazy, heap)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(heaps())
def test_both_paths_give_equal_heaps(tmp_path_factory: pytest.TempPathFactory, heap: Heap) -> None:
    """Generated heaps (every value and payload kind, awkward strings and floats) load equal through the C
    accelerator and the Python path, eagerly and lazily, and dump the same bytes."""
    top = tmp_path_factory.mktemp("both")
    dump_store(heap, top)
    for lazy in (False, True):
        fast, slow = _load(top, lazy, fast=True), _load(top, lazy, fast=False)
        assert_same(fast, slow)
        assert render_store(fast) == render_store(slow)


@pytest.mark.parametrize("fmt", sorted(STORE_DIRS))
def test_upstream_stores_load_equal_through_both_paths(fmt: str) -> None:
    """Each real upstream store (2019A, 2023A, 2024A) gives the same heap through both paths, eager and lazy."""
    top = STORE_DIRS[fmt]
    if not (top / "rps_manifest.json").is_file():
        pytest.skip(f"upstream store {fmt} not present at {top}")
    for lazy in (False, True):
        assert_same(_load(top, lazy, fast=True), _load(top, lazy, fast=False))


def test_mutated_stores_give_the_same_outcome_through_both_paths(tmp_path: Path) -> None:
    """The fuzz harness's mutated stores are refused with the same error (message, file, line) or loaded into
    the same heap by both paths, eagerly and lazily; enough of them are refused for the check to bite."""
    rng = random.Random(int(os.environ.get("RPSC_FUZZ_SEED", "14")) + 1)
    sources = _sources(tmp_path)
    ran = refused = 0
    diffs = []
    for n, src, mut, change in itertools.islice(_cases(rng, sources), FUZZ_CASES * 2):
        if not change or ran >= FUZZ_CASES:
            continue
        ran += 1
        with applied(src, change) as top:
            for lazy in (False, True):
                fast, slow = _outcome(top, lazy, True), _outcome(top, lazy, False)
                refused += fast[0] == "refused"
                if fast != slow:
                    diffs.append(f"case {n} ({src.name}, {mut.__name__}, lazy={lazy}): C {fast[1] if fast[0] == 'refused' else 'loaded'}"
                                 f" / Python {slow[1] if slow[0] == 'refused' else 'loaded'}")
    assert not diffs, f"{len(diffs)} of {ran} cases differ:\n" + "\n".join(diffs[:10])
    assert ran == FUZZ_CASES and refused >= ran // 2, (ran, refused)


#: JSON texts put in place of one attribute value, one component and one symbol value: values the C path
#: must leave to the Python path (ints beyond 64 bits read by orjson as floats, booleans, unknown or
#: malformed references, composite values it does not build) and values it builds itself.
EDGE_VALUES = ["18446744073709551616", "-9223372036854775809", "9223372036854775807", "1.8446744073709552e19",
               "-1e300", "true", "null", "[1, 2]", '{"vtype": "tuple", "comp": []}', '"_zzzzzzzzzzzzzzzzzz"',
               '"_0000000000000000000"', '"_ not an id at all "', '{"str": "_looks like an id"}', '{"string": 3}',
               '{"vtype": "closure", "fn": "_1EBVGSfW2m200z18rx", "env": [1, "x"], "metarank": 18446744073709551616}',
               '{"vtype": "closure", "fn": "_1EBVGSfW2m200z18rx", "env": [{"vtype": "set", "elem": []}]}',
               '{"vtype": "set", "elem": ["_1EBVGSfW2m200z18rx", 5]}', "1e999", '"\\ud800"']


@pytest.mark.parametrize("text", EDGE_VALUES)
def test_edge_values_give_the_same_outcome_through_both_paths(tmp_path: Path, text: str) -> None:
    """An edge value as an attribute, a component or a symbol's value is loaded alike or refused with the
    same located error by both paths, eagerly and lazily."""
    from rpsrt.model import wellknown as wk
    from rpsrt.model.objects import PayloadSymbol
    from rpsrt.store.core import new_heap

    heap = new_heap()
    sp = heap[wk.INITIAL_SPACE]
    o = heap.create(heap[wk.OBJECT], space=sp, mtime=1700000000.5)
    o.attrs[heap[wk.NAME]] = "MARK_ATTR"
    o.comps = ["MARK_COMP"]
    s = heap.create(heap[wk.SYMBOL], space=sp, mtime=1700000000.25)
    s.payload = PayloadSymbol("a_symbol", "MARK_SYMB")
    tops = []
    for mark in ("MARK_ATTR", "MARK_COMP", "MARK_SYMB"):
        top = tmp_path / mark
        dump_store(heap, top)
        space = next((top / "persistore").glob("*.json"))
        space.write_text(space.read_text().replace(f'"{mark}"', text))
        tops.append(top)
    for top in tops:
        for lazy in (False, True):
            assert _outcome(top, lazy, True) == _outcome(top, lazy, False), (top.name, lazy)


def test_loads_in_threads_keep_their_own_references(tmp_path: Path) -> None:
    """Two loads of one store filled at once in two threads, with objects the C path hands to Python between
    objects it fills itself (so the threads interleave mid-fill): every reference of each heap is to an object
    of that heap, eagerly and lazily."""
    import sys
    import threading

    from rpsrt.model import wellknown as wk
    from rpsrt.store.core import new_heap

    heap = new_heap()
    sp = heap[wk.INITIAL_SPACE]
    made = []
    for i in range(1500):
        o = heap.create(heap[wk.OBJECT], space=sp, mtime=1700000000.0 + i)
        o.attrs[heap[wk.NAME]] = made[i // 2] if made else "first"
        o.comps = [made[-1] if made else None, i]
        if i % 3 == 0:
            o.extra = {"unknown_member": i}  # unknown to the C path: filled by the Python path
        made.append(o)
    top = tmp_path / "store"
    dump_store(heap, top)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for lazy in (False, True):
            heaps: list[Heap] = []
            errors: list[BaseException] = []

            def load() -> None:
                try:
                    h = rpsrt.load_store(top, lazy=lazy)
                    h.materialize()
                    heaps.append(h)
                except BaseException as exc:  # noqa: BLE001 -- reported below
                    errors.append(exc)

            threads = [threading.Thread(target=load) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors and len(heaps) == 2
            for h in heaps:
                for o in h.objects.values():
                    refs = [v for v in (*o.attrs, *o.attrs.values(), *o.comps, o.cls) if hasattr(v, "oid")]
                    assert all(h.objects[r.oid] is r for r in refs), (lazy, o)
    finally:
        sys.setswitchinterval(old)


@pytest.mark.skipif(loadfast.module() is None, reason="the accelerator could not be built")
def test_read_fd_reads_as_read_does(tmp_path: Path) -> None:
    """loadfast.read_fd (the loader's reading into pre-mapped pages) gives exactly f.read()'s bytes: empty,
    small and multi-megabyte files, from the start or from an offset, and a pipe (no size known)."""
    fast = loadfast.module()
    rng = random.Random(5)
    for size in (0, 1, 4095, 4096, 70_000, (3 << 20) + 17):
        p = tmp_path / f"f{size}"
        p.write_bytes(rng.randbytes(size))
        for offset in (0, size // 3):
            with open(p, "rb") as f, open(p, "rb") as g:
                f.seek(offset)
                g.seek(offset)
                assert fast.read_fd(f) == g.read()
    r, w = os.pipe()
    payload = rng.randbytes(200_000)
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child writes and exits
        os.close(r)
        os.write(w, payload)
        os._exit(0)
    os.close(w)
    try:
        assert fast.read_fd(r) == payload
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@pytest.mark.skipif(loadfast.module() is None, reason="the accelerator could not be built")
def test_populated_arenas_nest_and_are_put_back(tmp_path: Path) -> None:
    """loadfast.arenas: on while any load runs (nested loads count), off after, and a load that fails
    puts the allocator back too; the objects made meanwhile are ordinary objects (freed later as any)."""
    fast = loadfast.module()
    assert fast.arenas(False) is False  # off, and an extra off is harmless
    assert fast.arenas(True) is True
    assert fast.arenas(True) is True
    kept = [[i] for i in range(100_000)]  # made in populated arenas, freed after they are off
    assert fast.arenas(False) is True
    assert fast.arenas(False) is False
    del kept
    with pytest.raises(rpsrt.StoreError):
        rpsrt.load_store(tmp_path)  # no manifest: the load fails
    assert fast.arenas(True) is True and fast.arenas(False) is False  # the failed load put it back


@pytest.mark.skipif(loadfast.module() is None, reason="the accelerator could not be built")
def test_start_line_ids_decode_as_oid_parse() -> None:
    """loadfast's id decoding (scan, per start line) gives Oid.parse's numbers, and refuses what it refuses:
    random ids, the extremes of every digit position, and one bad byte at each position."""
    from rpsrt.model.oid import Oid, OidError

    fast = loadfast.module()
    rng = random.Random(11)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    texts = [str(Oid.random()) for _ in range(2000)]
    texts += ["_" + d + c * 17 for d in "09" for c in "0Z"]
    for k in range(1, 19):
        base = list(str(Oid.random()))
        for ch in ("Z", "0", "-", "!", "_"):
            t = base.copy()
            t[k] = ch
            texts.append("".join(t))
    texts += ["_" + "".join(rng.choice(alphabet) for _ in range(18)) for _ in range(500)]
    for text in texts:
        data = b"head\n//+ob" + text.encode() + b"\n{}\n"
        got = fast.scan(data)
        try:
            want = Oid.parse(text)
        except OidError:
            want = None
        if want is None:
            assert got is None, text
        else:
            assert got is not None, text
            hi, lo = memoryview(got[2]).cast("Q")
            assert (hi, lo) == (want[0], want[1]), text
