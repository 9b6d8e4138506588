"""Heap API version 2's fast entry (`heap_fast`, docs/plugin-abi.md) from compiled code: the JIT and the C
backend route the operations of rpsrt.abi.HEAP_FAST_OPS through it, and a program using every one of them
gives the interpreter's result and byte-identical committed stores, with the fast entry and without it
(`RPSRT_NO_HEAPFAST_ENTRY=1`: every operation through `heap_op` and its C fast path; `RPSRT_NO_HEAPFAST=1`:
through `heap_op` in Python)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import rpsrt
from rpsrt import abi

FASTOPS = """module fastops;
attribute fx: float;
attribute ix: int;
attribute ox: obj;
attribute sx: str;
attribute vx;
attribute vi;
attribute tag;
class node;
fn fill(w: obj, n: int) {
    for i in 0 .. n {
        var p = new node { fx = float(i) * 0.5, ix = i, sx = "s" + str(i) };
        p.ox = w;
        p.vi = i * 2;
        append(w, p);
    }
}
fn step(w: obj) -> float {
    var s = 0.0;
    for i in 0 .. len(w) {
        var p = obj(w[i]);
        p.fx = p.fx * 2.0 + float(p.ix);
        p.ix = p.ix + int(p.vi) % 7;
        p.sx = p.sx + "!";
        if p.ox == w { s = s + p.fx; }
        p.vx = p.fx / 4.0;
        var v: value = p.fx;
        s = s + float(p.vx) + float(len(p.sx)) + float(v);
        if is_null(p.tag) { s = s + 1.0; } else { p.tag = null; }
    }
    return s;
}
fn main(n: int) -> float {
    var w = new node {};
    add_root(w);
    fill(w, n);
    return step(w) + step(w);
}
fn bad(w: obj) -> float {
    var p = obj(w[len(w)]);
    return p.fx;
}
"""


def _rpsc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=600,
                          env=env)


@pytest.fixture(scope="module")
def fast_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fast")
    (d / "fastops.rps").write_text(FASTOPS)
    st = d / "st"
    for cmd in (["compile", str(d / "fastops.rps"), "--store", str(st)], ["build", "--store", str(st)]):
        p = _rpsc(*cmd)
        assert p.returncode == 0, p.stderr
    return st


def test_every_fast_operation_is_routed_through_the_fast_entry(fast_store: Path) -> None:
    """The generated C calls `heap_fast` with every code of HEAP_FAST_OPS, and the JIT's IR at as many sites
    for each code."""
    from rpsc.backends.llvm.codegen import emit_llvm
    from rpsc.driver.pipeline import ir_modules

    c = "".join(p.read_text() for p in (fast_store / "generated").glob("*.c"))
    in_c = Counter(int(m) for m in re.findall(r"rps_module_heap_fast\((\d+),", c))
    heap = rpsrt.load_store(str(fast_store))
    ll = "".join(emit_llvm(m) for m in ir_modules(heap))
    in_ll = Counter(int(m) for m in re.findall(r"call i32 %r\d+\(i32 (\d+), i64", ll))
    assert in_c == in_ll  # the same sites, by operation
    assert set(in_c) == set(range(len(abi.HEAP_FAST_OPS)))


#: The ways native code reaches the heap: the fast entry first (the default); `heap_op` alone, with its C
#: fast path; `heap_op` alone, all in Python.
ENTRIES = {"fast": {}, "heap_op": {"RPSRT_NO_HEAPFAST_ENTRY": "1"}, "python": {"RPSRT_NO_HEAPFAST": "1"}}


def _commit_run(store: Path, work: Path, backend: str, fn: str, arg: str, entries: str
                ) -> tuple[int, str, str, dict]:
    st = work / f"{backend}-{fn}-{entries}"
    shutil.copytree(store, st)
    env = {**os.environ, **ENTRIES[entries]}
    p = _rpsc("run", "--store", str(st), "--backend", backend, "--commit", "--seed", "7", "--clock", "1700000000",
              fn, arg, env=env)
    files = {f.name: f.read_bytes() for f in sorted((st / "persistore").iterdir())}
    return p.returncode, p.stdout, p.stderr, files


def test_fast_and_generic_entries_agree_with_the_interpreter(fast_store: Path, tmp_path: Path) -> None:
    """`rpsc run --commit` of the program (and of a trap) under the interpreter, the JIT and C, the native ones
    through each way to the heap: the same output and the same store bytes. Then `step` again, on the store
    that the first run committed (its objects loaded from the files, its attributes read and written again)."""
    committed = tmp_path / "committed"
    runs = [("main", "40", fast_store), ("bad", "null", fast_store)]
    for fn, arg, store in runs:
        want = _commit_run(store, tmp_path, "interp", fn, arg, "fast")
        assert ("null object" in want[2]) if fn == "bad" else (want[0] == 0 and want[1].strip()), want[2]
        for backend in ("jit", "c"):
            for entries in ENTRIES:
                got = _commit_run(store, tmp_path, backend, fn, arg, entries)
                assert got[:3] == want[:3], (backend, entries, got[2])
                assert got[3] == want[3], (backend, entries)
        if fn == "main":
            shutil.copytree(tmp_path / "interp-main-fast", committed)
            heap = rpsrt.load_store(str(committed))
            world = next(o for o in heap.roots if o.comps)
            runs.append(("step", str(world.oid), committed))
    assert len(runs) == 3


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_a_float_attribute_is_written_in_place_from_native_code(fast_store: Path, backend: str) -> None:
    """From native code, a float attribute that nothing else refers to takes its new value in place (the fast
    entry's write); the interpreter makes a new float. A trap after fast operations is still the trap."""
    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.interp.interp import Interpreter
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import ir_modules
    from rpsrt.errors import Trap
    from rpsrt.model import wellknown as wk
    from rpsrt.model.heapapi import HeapRuntime

    heap = rpsrt.load_store(str(fast_store))
    rt = HeapRuntime(heap, seed=1, clock=1.7e9)
    engines = {"interp": Interpreter(ir_modules(heap), runtime=rt),
               "native": JitEngine(ir_modules(heap), runtime=rt) if backend == "jit"
               else NativeEngine(fast_store, runtime=rt)}
    try:
        w = rt.new("t", "", heap[wk.CLASS], None)
        engines["native"].call("fill", [w, 5])
        fx = next(a for a in w.comps[0].attrs if getattr(a, "attrs", {}).get(heap[wk.NAME]) == "fx")
        p = w.comps[3]
        same = {}
        for name in ("native", "interp"):
            before, value = id(p.attrs[fx]), p.attrs[fx]
            del value
            engines[name].call("step", [w])
            same[name] = id(p.attrs[fx]) == before
        assert same == {"native": True, "interp": False}
        with pytest.raises(Trap) as ei:
            engines["native"].call("bad", [w])
        assert ei.value.kind == "index out of range"
    finally:
        for e in engines.values():
            e.close()
