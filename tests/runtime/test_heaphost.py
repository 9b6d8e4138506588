"""The host heap API (version 2) against its C copies: rps/plugin.h's appended fields and rps/runtime.h's
constants compiled by the real `cc`, and a hand-written C function that works on the heap through it."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest
from rpsrt import abi
from rpsrt.errors import TRAP_FAILED, TRAP_NULL_OBJECT, Trap
from rpsrt.heaphost import HeapHost, heap_op_address, wrap_call
from rpsrt.model import wellknown as wk
from rpsrt.model.heapapi import HeapRuntime
from rpsrt.model.objects import CleanObject, RpsObject
from rpsrt.plugins import include_dir
from rpsrt.plugins.manager import PluginApi
from rpsrt.store.core import new_heap


def _cc(tmp_path: Path, source: str, *, shared: bool = False) -> Path:
    c = tmp_path / ("lib.c" if shared else "prog.c")
    c.write_text(source)
    out = tmp_path / ("lib.so" if shared else "prog")
    flags = ["-fPIC", "-shared"] if shared else []
    subprocess.run(["cc", "-std=c11", "-O1", "-Wall", "-Werror", *flags, f"-I{include_dir()}", str(c), "-o",
                    str(out)], check=True)
    return out


def test_header_agrees_with_the_description(tmp_path: Path) -> None:
    """The appended fields of rps_plugin_api sit where the host's ctypes table puts them, and the header's
    constants are rpsrt's (heap API version, str_const's code, the host error, the heap trap codes, the
    codes of heap_fast's operations)."""
    prog = _cc(tmp_path, """#include <stddef.h>
#include <stdio.h>
#include <rps/plugin.h>
int main(void) {
    printf("%zu %zu %zu %zu %zu\\n", offsetof(rps_plugin_api, heap_version), offsetof(rps_plugin_api, heap_op),
           offsetof(rps_plugin_api, heap_fast), sizeof(rps_plugin_api), sizeof(rps_handle));
    printf("%d %d %d %d %d\\n", RPS_HEAP_API_VERSION, RPS_HEAP_OP_STR_CONST, RPS_HEAP_HOST_ERROR,
           RPS_TRAP_NULL_OBJECT, RPS_TRAP_FAILED);
@FAST@    return 0;
}
""".replace("@FAST@", "".join(f'    printf("%d ", RPS_HEAP_FAST_{n.upper()});\n' for n, *_ in abi.HEAP_FAST_OPS)))
    out = subprocess.run([str(prog)], check=True, capture_output=True, text=True).stdout.split("\n")
    assert [int(x) for x in out[0].split()] == [PluginApi.heap_version.offset, PluginApi.heap_op.offset,
                                                PluginApi.heap_fast.offset, ctypes.sizeof(PluginApi), 8]
    assert [int(x) for x in out[1].split()] == [abi.HEAP_API_VERSION, abi.HEAP_OP_CODES["str_const"],
                                                abi.HEAP_HOST_ERROR, TRAP_NULL_OBJECT, TRAP_FAILED]
    assert [int(x) for x in out[2].split()] == list(range(len(abi.HEAP_FAST_OPS)))


C_PLUGIN_FN = """#include <rps/plugin.h>
/* A hand-written function on the heap: sym = make_symbol(name, false); sym.comment = name; return sym. */
int32_t make_commented(rps_handle *result, rps_heap_op_fn heap, rps_handle name, rps_handle comment_attr) {
    int64_t args[3];
    int64_t sym = 0, ignored = 0;
    int32_t st;
    args[0] = name; args[1] = 0;
    st = heap(%(make_symbol)d, "hhb|", &sym, 2, args, "make_commented", "plugin.c:5:5");
    if (st) return st;
    args[0] = sym; args[1] = comment_attr; args[2] = name;
    st = heap(%(set_attr)d, "vhhh|", &ignored, 3, args, "make_commented", "plugin.c:8:5");
    if (st) return st;
    *result = sym;
    return 0;
}
"""


def test_c_function_uses_the_heap_api(tmp_path: Path) -> None:
    """A C function given `heap_op` creates a symbol and sets an attribute on the host's heap through
    handles; a trap it meets (an invalid name) comes back as the host's Trap with its function and location."""
    lib = ctypes.CDLL(str(_cc(tmp_path, C_PLUGIN_FN % {"make_symbol": abi.HEAP_OP_CODES["make_symbol"],
                                                         "set_attr": abi.HEAP_OP_CODES["set_attr"]},
                              shared=True)))
    heap = new_heap()
    host = HeapHost(HeapRuntime(heap, seed=1, clock=5.0))
    proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_int64)
    fn = proto(ctypes.cast(lib.make_commented, ctypes.c_void_p).value)

    def native(name: int, attr: int) -> int:
        out = ctypes.c_int64()
        st = fn(ctypes.byref(out), heap_op_address(), name, attr)
        if st:
            raise Trap(st)
        return out.value

    call = wrap_call(host, [True, True], True, native)
    sym = call("Gizmo", heap[wk.COMMENT])
    assert sym.payload.name == "Gizmo" and sym.attrs[heap[wk.COMMENT]] == "Gizmo" and sym.mtime == 5.0
    assert host.live() == 0  # the arena is emptied after the outermost call
    with pytest.raises(Trap) as ei:
        call("9bad", heap[wk.COMMENT])
    assert (ei.value.kind, ei.value.function, ei.value.location) == ("invalid name", "make_commented",
                                                                      "plugin.c:5:5")


def test_fast_path_is_built_and_falls_back() -> None:
    """With a C compiler the heap_op entry is the C fast path (rpsrt/native/heapfast.c), whose operations it
    does not do itself (a trap here) reach the Python entry with the same outcome."""
    from rpsrt import heaphost

    assert heaphost._fast_lib() is not None
    assert heaphost.heap_op_address() != heaphost.trampoline_address()
    heap = new_heap()
    host = HeapHost(HeapRuntime(heap, seed=1, clock=5.0))
    heaphost.install(host)
    try:
        entry = abi.HEAP_OP_FN(heaphost.heap_op_address())
        out = (ctypes.c_int64 * 1)()
        thing = host.runtime.new("f", "", heap[wk.CLASS], None, heap[wk.NAME], "comment")
        args = (ctypes.c_int64 * 2)(host.handle(thing), host.handle(heap[wk.NAME]))
        aux = ctypes.c_char_p(b"hhh|value")
        fn, loc = ctypes.c_char_p(b"f"), ctypes.c_char_p(b"x.rps:1:2")
        addr = ctypes.cast
        # thing.name is a string: read by the C fast path, a handle of the host's table
        assert entry(abi.HEAP_OP_CODES["get_attr"], addr(aux, ctypes.c_void_p), out, 2, args,
                     addr(fn, ctypes.c_void_p), addr(loc, ctypes.c_void_p)) == 0
        assert host.value(out[0]) == "comment"
        # a null object: the fast path passes it on, the Python entry traps
        args[0] = 0
        status = entry(abi.HEAP_OP_CODES["get_attr"], addr(aux, ctypes.c_void_p), out, 2, args,
                       addr(fn, ctypes.c_void_p), addr(loc, ctypes.c_void_p))
        assert status == TRAP_NULL_OBJECT
        assert host.take_pending() == Trap(TRAP_NULL_OBJECT, "f", "x.rps:1:2")
    finally:
        heaphost.install(None)


def test_arena_hands_out_by_appending_and_stays_bounded() -> None:
    """The C fast path's arena: a handle is the object's address, valid (its object alive) until `reset`,
    whether or not the address set has been filled yet; an address never handed out is refused; one object
    handed out again and again (2.5 million times) keeps at most about a million references (the pending
    handles are entered into the set, each object once, the others let go), and `reset` lets every one go."""
    import sys

    from rpsrt import heaphost

    fast = heaphost._fast_lib()
    if fast is None:
        pytest.skip("heapfast could not be built here (no C compiler)")
    fast.reset()
    x = object()
    base = sys.getrefcount(x)
    objs = [x, *(object() for _ in range(2999))]
    hs = [fast.handle(o) for o in objs]
    assert fast.live() == 3000
    assert hs == list(map(id, objs))
    assert sys.getrefcount(x) == base + 2  # the list's and the arena's
    assert fast.value(hs[1234]) is objs[1234]  # pending until asked: found all the same
    stranger = object()
    with pytest.raises(KeyError):
        fast.value(id(stranger))  # never handed out
    one = object()
    base_one = sys.getrefcount(one)
    for _ in range(2_500_000):
        fast.handle(one)
    assert sys.getrefcount(one) - base_one <= (1 << 20) + 1
    assert fast.live() <= 3000 + (1 << 20) + 1
    assert fast.value(id(one)) is one
    fast.reset()
    assert fast.live() == 0
    assert sys.getrefcount(one) == base_one and sys.getrefcount(x) == base + 1
    with pytest.raises(KeyError):
        fast.value(hs[0])


def test_fast_entry_does_or_declines() -> None:
    """`heap_fast` (heap API version 2) does its operations on the host's objects, an attribute found
    wherever it sits in the dictionary (a remembered index is only a hint), and otherwise declines having
    done nothing; a float written in place is one nothing else refers to."""
    from rpsrt import heaphost

    if heaphost._fast_lib() is None:
        pytest.skip("heapfast could not be built here (no C compiler)")
    assert heaphost.heap_fast_address() != 0
    heap = new_heap()
    rt = HeapRuntime(heap, seed=1, clock=5.0)
    host = HeapHost(rt)
    cls = heap[wk.CLASS]
    a1, a2 = rt.new("f", "", cls, None), rt.new("f", "", cls, None)
    others = [rt.new("f", "", cls, None) for _ in range(10)]
    o1 = rt.new("f", "", cls, None, a1, 1.5, a2, 2.5)
    o2 = rt.new("f", "", cls, None, a2, -2.5, a1, -1.5)  # the other order
    o3 = rt.new("f", "", cls, None, *[x for b in others for x in (b, 0.0)], a1, 3.5)  # past the first entries
    heaphost.install(host)
    try:
        generic = abi.HEAP_OP_FN(heaphost.heap_op_address())
        out = (ctypes.c_int64 * 1)()
        aux, fn, loc = (ctypes.cast(ctypes.c_char_p(t), ctypes.c_void_p) for t in (b"ih|", b"f", b"x.rps:1:2"))
        args = (ctypes.c_int64 * 1)(host.handle(o1))
        assert generic(abi.HEAP_OP_CODES["length"], aux, out, 1, args, fn, loc) == 0  # (the thread is known)
        proto = ctypes.PYFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                  ctypes.POINTER(ctypes.c_int64))
        fast = proto(heaphost.heap_fast_address())
        code = {n: i for i, (n, *_) in enumerate(abi.HEAP_FAST_OPS)}
        h = host.handle

        def get_float(o: object, a: object) -> float | None:  # (o = 0: the null handle)
            r = ctypes.c_int64(0)
            if fast(code["get_float"], 0 if o == 0 else h(o), h(a), 0, ctypes.byref(r)) != 0:
                return None
            return ctypes.c_double.from_buffer(r).value

        for _ in range(2):  # the second time through the remembered indexes
            assert [get_float(o, a) for o in (o1, o2, o3) for a in (a1, a2)] == [1.5, 2.5, -1.5, -2.5, 3.5, None]
        del o1.attrs[a1]
        o1.attrs[a1] = 4.0  # now after a2
        assert (get_float(o1, a1), get_float(o1, a2)) == (4.0, 2.5)
        # declined, nothing done: a null object, a missing attribute, a value of another type, an index out of
        # range, a null value to write, a write to a clean object (its Python hook is heap_op's to run)
        o1.attrs[a2] = "text"
        o1.mtime = 1.0
        o4 = rt.new("f", "", cls, None, a1, float(o1.mtime))
        o4.__class__ = CleanObject  # as a dump leaves it
        assert get_float(0, a1) is None and get_float(o1, others[0]) is None and get_float(o1, a2) is None
        r = ctypes.c_int64(0)
        assert fast(code["comp"], h(o1), 0, 0, ctypes.byref(r)) != 0
        assert fast(code["set_handle"], h(o1), h(a1), 0, ctypes.byref(r)) != 0
        assert fast(len(abi.HEAP_FAST_OPS), h(o1), 0, 0, ctypes.byref(r)) != 0  # no such operation
        bits = ctypes.c_int64.from_buffer(ctypes.c_double(8.0)).value
        assert fast(code["set_float"], h(o4), h(a1), bits, ctypes.byref(r)) != 0
        assert type(o4) is CleanObject and o4.mtime == 5.0  # (a scalar read leaves it clean)
        assert o1.attrs == {a2: "text", a1: 4.0} and o1.mtime == 1.0
        faux = ctypes.cast(ctypes.c_char_p(b"vhhf|"), ctypes.c_void_p)
        assert generic(abi.HEAP_OP_CODES["set_attr"], faux, out, 3, (ctypes.c_int64 * 3)(h(o4), h(a1), bits), fn,
                       loc) == 0
        assert type(o4) is RpsObject and o4.attrs[a1] == 8.0
        assert fast(code["length"], h(o1), 0, 0, ctypes.byref(r)) == 0 and r.value == 0
        # a float nothing else holds takes the new value in place; one held elsewhere is replaced
        o1.attrs[a1] = float(o1.mtime) * 4  # (a float of its own: a literal's is held by the code object too)
        before = id(o1.attrs[a1])
        bits = ctypes.c_int64.from_buffer(ctypes.c_double(9.0)).value
        assert fast(code["set_float"], h(o1), h(a1), bits, ctypes.byref(r)) == 0
        assert o1.attrs[a1] == 9.0 and id(o1.attrs[a1]) == before and o1.mtime == 5.0
        kept = o1.attrs[a1]
        bits = ctypes.c_int64.from_buffer(ctypes.c_double(10.0)).value
        assert fast(code["set_float"], h(o1), h(a1), bits, ctypes.byref(r)) == 0
        assert kept == 9.0 and o1.attrs[a1] == 10.0
        # without the GIL (a prototype that releases it) the fast entry declines
        unlocked = abi.HEAP_FAST_FN(heaphost.heap_fast_address())
        assert unlocked(code["get_float"], h(o2), h(a1), 0, ctypes.byref(r)) != 0
    finally:
        host.reset()
        heaphost.install(None)
