"""Compiled heap code keeps the GIL (rpsrt.heaphost, docs/plugin-abi.md "The GIL"), without taking Ctrl-C
or the other Python threads hostage: SIGINT stops a heap-typed function spinning in a loop that does no heap
operation (the flag is set from the signal itself), other threads run while a long heap loop runs (the fast
path gives the GIL up now and then), and object references give one handle per call."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SRC = """module gilt;
class probe;
attribute px : float;
fn spin_on(o: obj) {
  var i = 0;
  while true { i = i + 1; }
}
fn read_loop(o: obj, n: int) -> float {
  var s = 0.0;
  for i in 0 .. n { s = s + o.px; }
  return s;
}
fn plain_sig(n: int) -> int { return n + 1; }
fn heap_inside(n: int) -> float {
  var s = 0.0;
  for i in 0 .. n { s = s + 1.0; }
  var o = new probe { px = s };
  return o.px;
}
fn same_ref(n: int) -> bool {
  var first = probe;
  for i in 0 .. n {
    if probe != first { return false; }
  }
  return true;
}
"""


def _rpsc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SRC compiled into a store and built into its C plugin (real rpsc, real cc)."""
    d = tmp_path_factory.mktemp("gil")
    (d / "gilt.rps").write_text(SRC)
    for args in (("compile", str(d / "gilt.rps"), "--store", str(d / "st")), ("build", "--store", str(d / "st"))):
        proc = _rpsc(*args)
        assert proc.returncode == 0, proc.stderr
    return d / "st"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("backend", ["jit", "c"])
def test_sigint_stops_a_heap_function_spinning_without_heap_operations(store: Path, backend: str) -> None:
    """SIGINT to `rpsc run spin_on probe` (an obj parameter: called with the GIL kept; an endless loop with no
    heap operation, so the main thread never gets the GIL back) ends it with the INTERRUPT trap at the loop."""
    proc = subprocess.Popen([sys.executable, "-m", "rpsc", "run", "--store", str(store), "--backend", backend,
                             "spin_on", "probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)  # imports, store load, compile, and into the loop
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, (out, err)
    assert "gilt.rps:6:3: trap: interrupted in spin_on" in err


def _engine(store: Path, backend: str):  # type: ignore[no-untyped-def]
    import rpsrt
    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import ir_modules
    from rpsrt.model.heapapi import HeapRuntime
    from rpsrt.model.objects import PayloadClassInfo

    heap = rpsrt.load_store(str(store))
    rt = HeapRuntime(heap, seed=1, clock=1.7e9)
    probe = next(o for o in heap.objects.values() if isinstance(o.payload, PayloadClassInfo)
                 and o.payload.name == "probe")
    px = next(o for o in heap.objects.values() if o.attrs.get(heap[rpsrt.model.wellknown.NAME]) == "px")
    obj = rt.new("t", "", probe, None, px, 0.25)
    if backend == "jit":
        return JitEngine(ir_modules(heap), runtime=rt, interruptible=False), obj
    return NativeEngine(store, runtime=rt, interruptible=False), obj


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_other_threads_run_during_a_long_heap_loop(store: Path, backend: str) -> None:
    """While compiled code runs a long loop of heap operations with the GIL kept, a Python thread still runs
    (it records a stamp in the middle half of the call, away from its Python prologue and epilogue), and the
    result is right."""
    engine, obj = _engine(store, backend)
    n = 10_000_000
    assert engine.call("read_loop", [obj, 8]) == 2.0  # compiled and loaded before the timed call
    stamps: list[int] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter_ns())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        time.sleep(0.05)
        t0 = time.perf_counter_ns()
        result = engine.call("read_loop", [obj, n])
        t1 = time.perf_counter_ns()
    finally:
        stop.set()
        t.join()
        engine.close()
    assert result == 0.25 * n
    lo, hi = t0 + (t1 - t0) // 4, t1 - (t1 - t0) // 4
    assert any(lo < s < hi for s in stamps), "no other thread ran during the heap loop"


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_object_reference_is_one_handle_per_call(store: Path, backend: str) -> None:
    """An object reference evaluated again and again in one call is asked of the host once per invocation
    (the generated code memoizes it: one host call guarded by its slot, in the LLVM IR and in the C) and is
    the same object every time (`==` compares handles); the host holds nothing after the call."""
    import rpsrt
    from rpsc.backends.llvm.codegen import emit_llvm
    from rpsc.driver.pipeline import ir_modules

    if backend == "jit":
        (module,) = [m for m in ir_modules(rpsrt.load_store(str(store))) if m.name == "gilt"]
        assert "objref.ask." in emit_llvm(module)
    else:
        (c_file,) = (store / "generated").glob("*.c")
        assert "if (!rps_ref0)" in c_file.read_text()
    engine, _obj = _engine(store, backend)
    try:
        assert engine.call("same_ref", [1000]) is True
        assert engine.host.live() == 0
    finally:
        engine.close()


def test_heap_code_is_marked_and_keeps_the_gil(store: Path) -> None:
    """The C plugin's manifest marks exactly the functions doing heap operations `"heap": true` (a heap
    signature or heap operations inside), and the prototypes the hosts build for them keep the GIL
    (ctypes' PYFUNCTYPE flag) while pure version-1 code releases it."""
    import ctypes
    import json

    from rpsrt import abi

    manifest = json.loads(next((store / "plugins").glob("rps*-mod.json")).read_text())
    heap = {e["name"]: e.get("heap", False) for e in manifest["exports"]}
    assert heap == {"spin_on": True, "read_loop": True, "plain_sig": False, "heap_inside": True,
                    "same_ref": True}
    pyapi = ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    assert abi.cfunctype(["i64"], "f64", keep_gil=True)._flags_ & pyapi
    assert abi.cfunctype(["obj"], "void")._flags_ & pyapi
    assert not abi.cfunctype(["i64"], "i64")._flags_ & pyapi
    for backend in ("jit", "c"):
        engine, _obj = _engine(store, backend)
        try:
            assert engine.call("heap_inside", [4]) == 4.0 and engine.call("plain_sig", [4]) == 5
        finally:
            engine.close()
