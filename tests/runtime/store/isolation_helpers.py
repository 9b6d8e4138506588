"""Helpers of test_store_isolation: two heaps that differ in every file, a dumper loop and a loader loop.

Run as a script for the processes of the cross-process test:
  python isolation_helpers.py dumper STORE STOPFILE    # dump heap A, B, A, ... until STOPFILE exists
  python isolation_helpers.py loader STORE N           # load N times, print one JSON line per load
"""

from __future__ import annotations

import json
import os
import sys
import time

import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.store.writer import dump_store

#: Objects per extra space: enough that a dump takes a while, few enough that a load stays quick.
PER_SPACE = 150
SPACES = ("_4d0Sp6GrLbL02JvL0G", "_5e1Tq7HsMcM03KwM1H")


def make_heap(state: str) -> Heap:
    """Heap `state` ("A" or "B"): the same objects in two extra spaces, each holding components marked with the
    state, cross-referencing the other space; B also has one more object per space and one more root."""
    heap = new_heap()
    spaces = []
    for text in SPACES:
        sp = heap.create(heap[wk.SPACE], oid=Oid.parse(text), mtime=1700000000.0)
        sp.payload = rpsrt.PayloadSpace()
        sp.space = sp
        heap.spaces.add(sp)
        spaces.append(sp)
    n = PER_SPACE + (1 if state == "B" else 0)
    objs: list[list[rpsrt.RpsObject]] = [[], []]
    for k, sp in enumerate(spaces):
        for i in range(n):
            oid = Oid(4000000000000000000 + k * 1000 + i + 1, 100000 + i)
            objs[k].append(heap.create(heap[wk.OBJECT], oid=oid, space=sp, mtime=1700000000.0))
    for k in (0, 1):
        for i, o in enumerate(objs[k]):
            o.comps = [state, i, objs[1 - k][i], f"{state}-{k}-{i}" * 3]
    heap.roots.add(objs[0][0])
    if state == "B":
        heap.roots.add(objs[1][-1])
    return heap


def classify(heap: Heap) -> str:
    """"A" or "B" when the loaded heap is exactly that state, else a description of the mix."""
    marks = {o.comps[0] for o in heap.objects.values() if o.comps and o.comps[0] in ("A", "B")}
    counts = sorted(sum(1 for o in heap.objects.values() if o.space is sp) for sp in heap.spaces)
    if len(marks) != 1:
        return f"mix: marks {sorted(marks)}, objects per space {counts}"
    state = marks.pop()
    n = PER_SPACE + (1 if state == "B" else 0)
    roots = len(heap.roots) - len(new_heap().roots)
    want_roots = 2 if state == "B" else 1
    if counts.count(n + 1) != 2 or roots != want_roots:
        return f"mix: marks {state}, objects per space {counts}, extra roots {roots}"
    return state


def dumper(store: str, stop: str) -> None:
    heaps = [make_heap("A"), make_heap("B")]
    k = 0
    while not os.path.exists(stop):
        dump_store(heaps[k % 2], store)
        k += 1
    print(k)


def loader(store: str, n: int) -> None:
    for _ in range(n):
        try:
            result = classify(rpsrt.load_store(store))
        except rpsrt.Error as exc:
            result = f"error: {exc}"
        print(json.dumps(result), flush=True)
        time.sleep(0.002)


if __name__ == "__main__":
    if sys.argv[1] == "dumper":
        dumper(sys.argv[2], sys.argv[3])
    else:
        loader(sys.argv[2], int(sys.argv[3]))
