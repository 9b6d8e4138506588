"""Would parallel loading of independent spaces pay? Sequential vs threads vs processes, on a store of 4 spaces.

Builds a synthetic store of N objects spread over 4 space files (bench/store_bench.py's heap), then times,
best of 3 in 2 interleaved rounds: the bare orjson parse of the four files sequentially, in 4 threads, in 2
processes returning only counts (the parse alone), in 2 processes returning the parsed objects (what a
loader would need), and rpsc's sequential eager load. docs/store.md reports the figures.

Usage: python bench/store_parallel_bench.py [N]   (default 200000)
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import orjson
import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.store.writer import dump_store

sys.path.insert(0, os.path.dirname(__file__))
from store_bench import _split, _store_files, build_heap  # noqa: E402


def parse(path: str) -> list[object]:
    with open(path, "rb") as f:
        return [orjson.loads(t) for t in _split(f.read())]


def parse_count(path: str) -> int:
    return len(parse(path))


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    out = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tmp = tempfile.mkdtemp(prefix="rpsc-par-")
    try:
        heap = build_heap(n)
        spaces = [heap[wk.INITIAL_SPACE]] + [heap.create_space() for _ in range(3)]
        for i, o in enumerate(sorted(heap.objects.values(), key=lambda o: o.oid)):
            if o.space is spaces[0] and o.payload is None and i % 4:
                o.space = spaces[i % 4]
        store = os.path.join(tmp, "store")
        dump_store(heap, store)
        del heap
        files = [f for f in _store_files(store) if "/persistore/" in f]
        print("space files (MB):", [round(os.path.getsize(f) / 1e6, 1) for f in files])
        with ThreadPoolExecutor(4) as tp, ProcessPoolExecutor(2) as pp:
            list(pp.map(parse_count, files))  # start the workers
            res: dict[str, list[float]] = {}
            for _ in range(2):
                res.setdefault("sequential parse", []).append(best(lambda: [parse(p) for p in files]))
                res.setdefault("4 threads parse", []).append(best(lambda: list(tp.map(parse, files))))
                res.setdefault("2 processes parse, counts back", []).append(
                    best(lambda: list(pp.map(parse_count, files))))
                res.setdefault("2 processes parse, objects back", []).append(
                    best(lambda: list(pp.map(parse, files))))
                res.setdefault("rpsc eager load (sequential)", []).append(
                    best(lambda: rpsrt.load_store(store, lazy=False)))
        for k, v in res.items():
            print(f"{k}: {min(v):.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
