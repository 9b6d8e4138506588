"""Benchmark of the store layer: load and dump a synthetic store of N objects shaped like upstream's.

Prints, from one run: load and dump times, objects per second, memory per loaded object, and two ratios
against peers measured in the same run on the same data:
* load: rpsc's `load_store` against the bare parse of the same files with orjson: read each file, split it
  at the framing lines (the same fast scan rpsc uses), `orjson.loads` every JSON text;
* dump: rpsc's rendering of the store text against the standard library's
  `json.dumps(data, indent=1, sort_keys=True)` of the same data (the store's objects as plain JSON).

Usage: python bench/store_bench.py [N]   (default 100000)
"""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc

import orjson
import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol, RpsObject
from rpsrt.store.core import new_heap
from rpsrt.store.reader import _START
from rpsrt.store.writer import dump_store, render_store
from rpsrt.model.values import VClosure


def build_heap(n: int, seed: int = 1) -> Heap:
    """A heap of about n objects: symbols, classes, named attributes, plain objects, with strings and closures."""
    rng = random.Random(seed)
    heap = new_heap()
    space = heap[wk.INITIAL_SPACE]
    name = heap[wk.NAME]
    comment = heap[wk.COMMENT]
    cls_class, sym_class, attr_class = heap[wk.CLASS], heap[wk.SYMBOL], heap[wk.NAMED_ATTRIBUTE]
    obj_class, sel_class = heap[wk.OBJECT], heap[wk.NAMED_SELECTOR]
    classes = [obj_class]
    attrs = [name, comment]
    selectors: list[RpsObject] = []
    functions: list[RpsObject] = []
    made = len(heap.objects)
    i = 0
    while made < n:
        i += 1
        r = rng.random()
        mtime = round(1.6e9 + rng.random() * 1e8, 2)
        if r < 0.35:  # a symbol naming something
            o = heap.create(sym_class, space=space, mtime=mtime)
            o.payload = PayloadSymbol(f"symbol_{i}", rng.choice(classes) if rng.random() < 0.8 else None)
        elif r < 0.55:  # a class with a name, a comment and sometimes methods
            o = heap.create(cls_class, space=space, mtime=mtime)
            o.attrs[name] = f"class_{i}"
            if rng.random() < 0.5:
                o.attrs[comment] = f"the class number {i}, with a comment ° that is long enough"
            pl = PayloadClassInfo(rng.choice(classes), name=f"class_{i}")
            if selectors and functions and rng.random() < 0.2:
                for _ in range(rng.randint(1, 3)):
                    pl.methodict[rng.choice(selectors)] = VClosure(rng.choice(functions),
                                                                   [None, f"closed in {i}"])
            o.payload = pl
            classes.append(o)
        elif r < 0.70:  # a named attribute
            o = heap.create(attr_class, space=space, mtime=mtime)
            o.attrs[name] = f"attribute_{i}"
            o.attrs[comment] = f"an attribute giving {i}"
            attrs.append(o)
        elif r < 0.75:  # a selector
            o = heap.create(sel_class, space=space, mtime=mtime)
            o.attrs[name] = f"selector_{i}"
            selectors.append(o)
        elif r < 0.80:  # a function, sometimes applying
            o = heap.create(heap[wk.FUNCTION] if wk.FUNCTION in heap else obj_class, space=space, mtime=mtime)
            o.attrs[name] = f"function_{i}"
            o.applying = rng.random() < 0.5
            functions.append(o)
        else:  # an instance of some class with a few attributes
            o = heap.create(rng.choice(classes), space=space, mtime=mtime)
            for _ in range(rng.randint(1, 3)):
                a = rng.choice(attrs)
                o.attrs[a] = rng.choice([f"value {i}", rng.randint(0, 1000), rng.choice(classes)])
            if rng.random() < 0.1:
                o.comps = [rng.choice(classes), f"component {i}", rng.randint(0, 9)]
        if rng.random() < 0.3:
            heap.roots.add(o)
        made += 1
    return heap


def _store_files(directory: str) -> list[str]:
    out: list[str] = []
    for root, _dirs, files in os.walk(directory):
        out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".json"))
    return out


def _split(data: bytes) -> list[bytes]:
    """The JSON texts of one store file (its head value, then every object), found by the same fast scan
    rpsc's loader uses (split at the `//+ob` framing lines, each object from its `{` line to its `}` line)."""
    chunks = data.split(_START)
    head = chunks[0]
    texts = [head[head.find(b"\n{") + 1:head.rfind(b"\n}") + 2]]
    for c in chunks[1:]:
        s = c.find(b"\n{")
        texts.append(c[s + 1:c.find(b"\n}", s) + 2])
    return texts


def _orjson_peer(paths: list[str]) -> list[object]:
    """The bare parse: read the files, split out their JSON texts, parse each with orjson."""
    out: list[object] = []
    loads = orjson.loads
    for p in paths:
        with open(p, "rb") as f:
            out.extend(loads(t) for t in _split(f.read()))
    return out


def _best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Best of `repeat` runs, with the cyclic GC off for every contender (rpsc's loader turns it off itself;
    the peers would otherwise pay for collections that have nothing to do with parsing or formatting)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        finally:
            gc.enable()
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"building a synthetic heap of {n} objects ...", flush=True)
    heap = build_heap(n)
    n = len(heap.objects)
    tmp = tempfile.mkdtemp(prefix="rpsc-bench-")
    try:
        store = os.path.join(tmp, "store")
        dump_store(heap, store)
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(store) for f in fs)
        print(f"store: {n} objects, {size / 1e6:.1f} MB")

        # Load, and its peer: orjson parsing the same JSON texts.
        paths = _store_files(store)
        t_orjson = _best(lambda: _orjson_peer(paths))
        t_load = _best(lambda: rpsrt.load_store(store))
        loaded = rpsrt.load_store(store)
        assert loaded.equivalent(heap), loaded.difference(heap)

        # Dump, and its peer: json.dumps(indent=1, sort_keys=True) of the same data as plain JSON.
        data = _orjson_peer(paths)
        t_render = _best(lambda: render_store(loaded))
        t_json = _best(lambda: json.dumps(data, indent=1, sort_keys=True))
        out = os.path.join(tmp, "out")

        def full_dump() -> None:
            shutil.rmtree(out, ignore_errors=True)
            dump_store(loaded, out)

        t_dump = _best(full_dump)

        # Memory per loaded object (tracemalloc: Python allocations made by the load, kept after it).
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = rpsrt.load_store(store)
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del kept

        print(f"load:  {t_load:.3f} s  ({n / t_load:,.0f} objects/s)")
        print(f"       orjson alone on the same bytes: {t_orjson:.3f} s  -> ratio {t_load / t_orjson:.2f} "
              f"(target <= 3)")
        print(f"dump:  render {t_render:.3f} s  ({n / t_render:,.0f} objects/s); "
              f"full dump_store with fsync {t_dump:.3f} s")
        print(f"       json.dumps(indent=1, sort_keys=True) of the same data: {t_json:.3f} s  -> ratio render "
              f"{t_render / t_json:.2f}, full dump {t_dump / t_json:.2f} (target <= 1)")
        print(f"memory: {(after - before) / n:,.0f} bytes per loaded object kept, "
              f"{(peak - before) / n:,.0f} bytes per object at peak during the load (target < 2048)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
