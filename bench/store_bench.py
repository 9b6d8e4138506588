"""Benchmark of the store layer on synthetic stores of N objects shaped like upstream's (docs/store.md).

For every size, from one run with interleaved repeats (each round runs every contender once, so that the
load of the shared machine falls on all of them alike; the best round counts), it prints:

* eager load / the bare orjson parse of the same files (read, split at the framing lines, `orjson.loads`
  each text): the loader's overhead over parsing alone;
* lazy open + touching one object / eager load (`load_store(dir, lazy=True)`);
* dump after changing 10 objects / full dump (`dump_store` into the loaded store vs into an empty folder);
* peak RSS of a load and of a load + dump, each measured in a child process of its own (ru_maxrss), and
  their ratio (a fresh Python with rpsrt imported is about 20 MB of either);
* time per object of the eager load and of the full dump (compare the sizes: linear means equal);
* the time of freeing what the eager load and the orjson peer made, as columns of their own; and, as the bench
  measured them before, eager load + free / orjson + free and lazy open + 1 / (eager load + free).

How a load is timed: from the call until it returns its result (the heap, the peer's parsed values), i.e.
until the result is usable. Freeing the result is timed separately and printed as its own figure, for the
loader and the orjson peer alike: freeing a heap belongs to whoever drops it (a process that exits skips
it; a long-running one pays it whenever it drops the heap), and before this was measured apart the bench
counted it silently inside "load" (the result was dropped inside the timed call: 1.1-1.4 s of a 4-5 s load at
1M), while the lazy open + 1 it is compared with never counted its own free (a lazy heap is a cycle, freed
by the next gc.collect, outside the timing). The "load + free" figures are printed too, so the old measure
stays visible.

The loader runs its C accelerator (rpsrt.native.loadfast) when it can be built; `RPSRT_NO_LOADFAST=1`
measures the pure-Python path. The first line printed says which one ran.

Then `rpsc run` of a one-line function with a warm JIT cache against `python3 -c pass` (best of 5).

Usage: python bench/store_bench.py [--sizes 10000,100000] [--repeat 3] [--no-run]
       python bench/store_bench.py N            (one size, as before)
A size of 1,000,000 needs about 2 GB of RAM and some minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import orjson
import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol, RpsObject
from rpsrt.store.core import new_heap
from rpsrt.store.reader import _START
from rpsrt.store.writer import dump_store
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
            # No `name` of its own: the dumper writes a class's name from its symbol (docs/store.md).
            pl = PayloadClassInfo(rng.choice(classes))
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


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    """One run of fn, the cyclic GC off (rpsc's loader turns it off itself; the peers would otherwise pay
    for collections that have nothing to do with parsing or formatting)."""
    return _timed_free(fn)[0]


def _timed_free(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """One run of fn as `_timed`: the time until fn returns its result, and then the time of dropping that
    result (freeing it; cycles, if any, are left to the next gc.collect and not counted)."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        result = fn()
        t1 = time.perf_counter()
        del result
        return t1 - t, time.perf_counter() - t1
    finally:
        gc.enable()


# VmHWM, not ru_maxrss: a child forked from this big process inherits its maximum in ru_maxrss; exec starts a
# new address space, whose high-water mark VmHWM is the child's own.
_CHILD = r"""
import resource, sys, rpsrt
from rpsrt.store.writer import dump_store
heap = rpsrt.load_store(sys.argv[1])
if sys.argv[2] == "dump":
    dump_store(heap, sys.argv[3])
try:
    print([ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0])
except (OSError, IndexError):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _child_rss(store: str, dump_to: str | None) -> float:
    """Peak RSS in MB of a child process that loads `store` (and dumps it into `dump_to`), measured before
    the parent holds anything big: a child inherits nothing but the page tables it throws away at exec."""
    args = [sys.executable, "-c", _CHILD, store, "dump" if dump_to else "load", dump_to or ""]
    env = dict(os.environ, RPSRT_LAZY_LOAD="")
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    return int(out.split()[-1]) / 1024


def bench_size(n: int, repeat: int, tmp: str) -> dict[str, float]:
    heap = build_heap(n)
    n = len(heap.objects)
    store = os.path.join(tmp, f"store-{n}")
    dump_store(heap, store)
    del heap
    size = sum(os.path.getsize(p) for p in _store_files(store))
    paths = _store_files(store)
    loaded = rpsrt.load_store(store, lazy=False)
    some = sorted(loaded.objects)[len(loaded.objects) // 2]
    rng = random.Random(7)
    plain = [o for o in loaded.objects.values() if not o.comps and o.payload is None]
    work = os.path.join(tmp, f"work-{n}")
    fresh = os.path.join(tmp, f"fresh-{n}")

    def eager() -> Heap:
        return rpsrt.load_store(store, lazy=False)  # freed by _timed_free, timed apart

    def lazy_one() -> None:
        h = rpsrt.load_store(store, lazy=True)
        h[some].attrs  # noqa: B018 -- the touch fills the ghost

    def full_dump() -> None:
        shutil.rmtree(fresh, ignore_errors=True)
        dump_store(loaded, fresh)

    changed = []

    def dump_10() -> None:
        for o in rng.sample(plain, 10):
            o.comps = [f"changed {time.perf_counter_ns()}"]
        changed.append(dump_store(loaded, work))

    shutil.copytree(store, work)
    times: dict[str, list[float]] = {k: [] for k in ("orjson", "eager", "lazy1", "full", "dump10", "orjson_free",
                                                     "eager_free", "orjson_all", "eager_all")}
    for _ in range(repeat):  # interleaved: one run of each per round
        for key, fn in (("orjson", lambda: _orjson_peer(paths)), ("eager", eager)):
            load, free = _timed_free(fn)
            times[key].append(load)
            times[key + "_free"].append(free)
            times[key + "_all"].append(load + free)  # the figure the bench printed before (free included)
        times["lazy1"].append(_timed(lazy_one))
        times["full"].append(_timed(full_dump))
        times["dump10"].append(_timed(dump_10))
    best = {k: min(v) for k, v in times.items()}
    rss_load = min(_child_rss(store, None) for _ in range(2))
    rss_dump = min(_child_rss(store, os.path.join(tmp, f"rss-{n}-{i}")) for i in range(2))
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(fresh, ignore_errors=True)
    best.update(n=n, mb=size / 1e6, rss_load=rss_load, rss_dump=rss_dump, files10=len(changed[-1]))
    return best


_RPS = "module one;\nfn one(n: int) -> int { return n + 1; }\n"


def bench_run(tmp: str) -> tuple[float, float] | None:
    """Best of 5 of `rpsc run` (warm JIT cache) of a one-line function, and of `python3 -c pass`."""
    src = os.path.join(tmp, "one.rps")
    with open(src, "w") as f:
        f.write(_RPS)
    st = os.path.join(tmp, "run-store")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "xdg"))
    rpsc = [sys.executable, "-m", "rpsc"]
    try:
        subprocess.run(rpsc + ["compile", src, "--store", st], check=True, capture_output=True, env=env)
        subprocess.run(rpsc + ["run", "--store", st, "one", "41"], check=True, capture_output=True, env=env)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"rpsc run: skipped ({exc})")
        return None

    def best(cmd: list[str]) -> float:
        out = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            out = min(out, time.perf_counter() - t)
        return out

    return best(rpsc + ["run", "--store", st, "one", "41"]), best([sys.executable, "-c", "pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, help="one size (same as --sizes N)")
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated store sizes (default 10000,100000)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds per size (default 3)")
    ap.add_argument("--no-run", action="store_true", help="skip the `rpsc run` start-up measurement")
    args = ap.parse_args()
    sizes = [args.n] if args.n else [int(s.replace("_", "")) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="rpsc-bench-")
    rows = []
    from rpsrt.native import loadfast

    print("loader:", "C accelerator (rpsrt.native.loadfast)" if loadfast.module() is not None
          else "pure Python (RPSRT_NO_LOADFAST set, or loadfast.c could not be built)", flush=True)
    try:
        for n in sizes:
            print(f"size {n:,} ...", flush=True)
            r = bench_size(n, args.repeat, tmp)
            rows.append(r)
            print(f"  {r['n']:,} objects, {r['mb']:.1f} MB: eager load {r['eager']:.3f} s (its free "
                  f"{r['eager_free']:.3f} s), orjson {r['orjson']:.3f} s (its free {r['orjson_free']:.3f} s),"
                  f" lazy open+1 {r['lazy1']:.3f} s, full dump {r['full']:.3f} s, dump of 10 changed "
                  f"{r['dump10']:.3f} s ({r['files10']:.0f} files written)", flush=True)
        print()
        print("| N | eager load / orjson | lazy open + 1 / eager | dump 10 changed / full dump "
              "| peak RSS load / load+dump (ratio) | load, dump per object | free of the heap, of the peer's "
              "values, per object | load + free / orjson + free | lazy open + 1 / (eager load + free) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            n = r["n"]
            print(f"| {n:,} | {r['eager'] / r['orjson']:.2f} | {r['lazy1'] / r['eager']:.3f} "
                  f"| {r['dump10'] / r['full']:.2f} | {r['rss_load']:,.0f} / {r['rss_dump']:,.0f} MB "
                  f"({r['rss_dump'] / r['rss_load']:.2f}) | {r['eager'] / n * 1e6:.2f} us, "
                  f"{r['full'] / n * 1e6:.2f} us | {r['eager_free'] / n * 1e6:.2f} us, "
                  f"{r['orjson_free'] / n * 1e6:.2f} us | {r['eager_all'] / r['orjson_all']:.2f} "
                  f"| {r['lazy1'] / r['eager_all']:.3f} |")
        if len(rows) > 1:
            a, b = rows[0], rows[-1]

            def growth(key: str) -> float:
                return (b[key] / b["n"]) / (a[key] / a["n"])

            print(f"per-object load time at {b['n']:,} / at {a['n']:,}: {growth('eager'):.2f} (orjson peer: "
                  f"{growth('orjson'):.2f}); load + free: {growth('eager_all'):.2f} (orjson peer + free: "
                  f"{growth('orjson_all'):.2f}); free alone: {growth('eager_free'):.2f}; dump: {growth('full'):.2f}")
        if not args.no_run:
            got = bench_run(tmp)
            if got is not None:
                run, py = got
                print(f"rpsc run (warm JIT cache) of a one-line function: {run:.3f} s; python3 -c pass: {py:.3f} s"
                      f" -> ratio {run / py:.1f} (target <= 3)")
        print(json.dumps(rows), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
