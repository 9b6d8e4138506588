"""A/B of two rpsrt source trees on one store, in alternating processes: eager load, and whole dumps of the
loaded heap into empty folders (its first dump, then a second one). Best of the rounds.

Usage: python bench/store_ab.py STORE A_RUNTIME B_RUNTIME [ROUNDS]
       (e.g. a worktree of main's runtime/ and this one's: the folders that hold `rpsrt`)
"""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = r"""
import gc, shutil, sys, tempfile, time
import rpsrt
from rpsrt.store.writer import dump_store
gc.collect(); gc.disable()
t = time.perf_counter(); heap = rpsrt.load_store(sys.argv[1], lazy=False); load = time.perf_counter() - t
gc.enable()
dumps = []
for _ in range(2):
    d = tempfile.mkdtemp()
    gc.collect(); gc.disable()
    t = time.perf_counter(); dump_store(heap, d); dumps.append(time.perf_counter() - t)
    gc.enable()
    shutil.rmtree(d)
print(load, dumps[0], dumps[1])
"""


def main() -> None:
    store, a, b = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    res: dict[str, list[list[float]]] = {a: [], b: []}
    for _ in range(rounds):
        for path in (a, b):
            env = dict(os.environ, PYTHONPATH=path, RPSRT_LAZY_LOAD="")
            out = subprocess.run([sys.executable, "-c", _CHILD, store], env=env, capture_output=True, text=True,
                                 check=True).stdout
            res[path].append([float(x) for x in out.split()[-3:]])
    for i, what in enumerate(("eager load", "first dump", "second dump")):
        ba, bb = min(r[i] for r in res[a]), min(r[i] for r in res[b])
        print(f"{what}: A {ba:.3f} s, B {bb:.3f} s, B/A {bb / ba:.3f}")


if __name__ == "__main__":
    main()
