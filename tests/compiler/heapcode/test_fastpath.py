"""The C fast path of the host heap API (runtime/rpsrt/native/heapfast.c) against the one semantics: a float
written into a typed attribute crosses the boundary as a number (the IR's `set_attr` takes the f64 operand,
docs/ir.md), the write through the fast path makes a clean object dirty, stamps its mtime and stores the same
float as the interpreter does, a null value or a missing attribute still reaches the Python entry's traps,
and the fast path refuses operation codes other than rpsrt.abi's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = """module fastp;
class probe;
attribute px : float;
attribute vx : float;
attribute tag : value;
fn bump(p: obj, d: float) { p.px = p.px + p.vx * d; }
fn make(x: float) -> obj { return new probe { px = x, vx = 2.0 * x }; }
fn tag_it(p: obj, v: value) { p.tag = v; }
fn read_px(p: obj) -> float { return p.px; }
"""

BACKENDS = ["interp", "jit", "c"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SRC compiled into a store holding one probe object, and built into its C plugin (real rpsc, real cc)."""
    d = tmp_path_factory.mktemp("fastp")
    (d / "fastp.rps").write_text(SRC)
    def rpsc(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr

    rpsc("compile", str(d / "fastp.rps"), "--store", str(d / "st"))
    import rpsrt
    from rpsrt.model.heapapi import HeapRuntime

    heap = rpsrt.load_store(str(d / "st"))
    probe, attrs = _names(heap)
    space = heap[rpsrt.model.wellknown.INITIAL_SPACE]
    HeapRuntime(heap, seed=1, clock=1.6e9).new("t", "", probe, space, attrs["px"], 4.0, attrs["vx"], 1.0)
    rpsrt.dump_store(heap, str(d / "st"))  # one probe persisted in the store
    rpsc("build", "--store", str(d / "st"))
    return d / "st"


def _names(heap):  # type: ignore[no-untyped-def]
    """The class `probe` and the named attributes of a loaded heap."""
    import rpsrt
    from rpsrt.model.objects import PayloadClassInfo

    name = heap[rpsrt.model.wellknown.NAME]
    attrs = {o.attrs.get(name): o for o in heap.objects.values() if isinstance(o.attrs.get(name), str)}
    probe = next(o for o in heap.objects.values() if isinstance(o.payload, PayloadClassInfo)
                 and o.payload.name == "probe")
    return probe, attrs


def _setup(store: Path, backend: str):  # type: ignore[no-untyped-def]
    """A fresh load of the store, with one probe made, dumped and loaded again (so a clean object), and the
    engine of `backend` on it."""
    import rpsrt
    from rpsc.backends.c.native import NativeEngine
    from rpsc.backends.interp.interp import Interpreter
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import ir_modules
    from rpsrt.model.heapapi import HeapRuntime
    from rpsrt.model.objects import RpsObject

    heap = rpsrt.load_store(str(store))
    probe, attrs = _names(heap)
    rt = HeapRuntime(heap, seed=3, clock=1.7e9)
    if backend == "interp":
        engine = Interpreter(ir_modules(heap), runtime=rt)
    elif backend == "jit":
        engine = JitEngine(ir_modules(heap), runtime=rt, interruptible=False)
    else:
        engine = NativeEngine(store, runtime=rt, interruptible=False)
    obj = rt.new("t", "", probe, None, attrs["px"], 1.5, attrs["vx"], 0.25)
    assert type(obj) is RpsObject
    return engine, rt, obj, attrs


def test_a_float_attribute_write_takes_the_number() -> None:
    """The IR of `p.px = expr` for a float attribute is one `set_attr` whose value operand is the f64 itself
    (no `box`), and so are `new`'s float fields; a `value` attribute still gets a value."""
    from rpsc.driver.pipeline import compile_sources, ir_modules, new_heap
    from rpsc.ir import ir

    heap = new_heap()
    compile_sources([("fastp.rps", SRC)], heap)
    (module,) = [m for m in ir_modules(heap) if m.name == "fastp"]
    fns = {f.name: f for f in module.functions}

    def ops(fn: str) -> list[ir.HeapOp]:
        return [i for b in fns[fn].blocks for i in b.instrs if isinstance(i, ir.HeapOp)]

    (set_px,) = [i for i in ops("bump") if i.op == "set_attr"]
    assert set_px.args[2].type is ir.F64
    assert not [i for i in ops("bump") if i.op == "box"]
    (new,) = [i for i in ops("make") if i.op == "new"]
    assert [a.type for a in new.args[2::2]] == [ir.F64, ir.F64]
    (set_tag,) = [i for i in ops("tag_it") if i.op == "set_attr"]
    assert set_tag.args[2].type is ir.VALUE


def test_float_writes_agree_and_dirty_a_clean_object(store: Path, tmp_path: Path) -> None:
    """Under every backend: `bump` on an object loaded clean from the store stores the same float, stamps
    the run's clock as its mtime and leaves it dirty (its class back to RpsObject, in the next dump);
    `make` gives float fields; `tag_it` stores a value."""
    import rpsrt
    from rpsrt.model.objects import CleanObject, RpsObject

    seen = {}
    for backend in BACKENDS:
        engine, rt, obj, attrs = _setup(store, backend)
        try:
            heap = rt.heap
            rpsrt.dump_store(heap, str(tmp_path / backend))  # seals what it wrote: the probe is now clean
            clean = next(o for o in heap.objects.values() if type(o) is CleanObject and o.cls is obj.cls)
            engine.call("bump", [clean, 0.5])  # the float write makes it dirty
            assert type(clean) is RpsObject and clean.mtime == rt.now()
            engine.call("tag_it", [clean, 1.0])
            engine.call("bump", [obj, 3.0])
            made = engine.call("make", [0.5])
            assert obj.mtime == rt.now()
            seen[backend] = (obj.attrs[attrs["px"]], made.attrs[attrs["px"]], made.attrs[attrs["vx"]],
                             clean.attrs[attrs["tag"]], engine.call("read_px", [obj]), clean.attrs[attrs["px"]])
            assert all(type(v) is float for v in seen[backend])
        finally:
            engine.close()
    assert seen["interp"] == (1.5 + 0.25 * 3.0, 0.5, 1.0, 1.0, 1.5 + 0.25 * 3.0, 4.5)
    assert seen["jit"] == seen["interp"] and seen["c"] == seen["interp"]


def _traps(store: Path, backend: str) -> list[object]:
    """The traps of `bump` on a null object and on an object without `vx`, under `backend`."""
    from rpsrt.errors import Trap

    engine, _rt, obj, attrs = _setup(store, backend)
    out: list[object] = []
    try:
        del obj.attrs[attrs["vx"]]
        for arg in (None, obj):
            with pytest.raises(Trap) as trap:
                engine.call("bump", [arg, 1.0])
            out.append(trap.value)
    finally:
        engine.close()
    return out


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_fast_path_declines_to_the_traps(store: Path, backend: str) -> None:
    """A null object and a missing attribute are not the fast path's to answer: the Python entry traps them
    at their sites, exactly as the interpreter does."""
    expected = _traps(store, "interp")
    got = [(t.kind, t.function, t.location.rsplit("/", 1)[-1]) for t in expected]  # type: ignore[attr-defined]
    assert got == [("null object", "bump", "fastp.rps:6:36"), ("missing attribute vx", "bump", "fastp.rps:6:43")]
    assert _traps(store, backend) == expected


def test_fast_path_checks_the_operation_codes() -> None:
    """heapfast's operation codes are fixed in its source; `setup` refuses codes that differ from rpsrt.abi's."""
    from rpsrt import heaphost
    from rpsrt.model.objects import PayloadClassInfo, RpsObject
    from rpsrt.model.values import VClosure

    fast = heaphost._fast_lib()
    if fast is None:
        pytest.skip("heapfast could not be built here (no C compiler)")
    codes = tuple(heaphost.abi.HEAP_OP_CODES[n] for n in heaphost.FAST_OPS)
    wrong = (codes[1], codes[0], *codes[2:])
    with pytest.raises(ValueError, match="code"):
        fast.setup(RpsObject, PayloadClassInfo, VClosure, None, None, 0, wrong)
