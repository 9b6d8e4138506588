"""The one ABI description (`rpsrt.abi`) against its copies: the C header compiled by the real `cc`, the
ctypes structure, the LLVM type, and calls through the ctypes caller, interruptible ones included."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from rpsrt import abi
from rpsrt.errors import TRAP_INTERRUPT, PluginError, Trap
from rpsrt.plugins import include_dir

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "runtime" / "rpsrt" / "include" / "rps" / "runtime.h"
SOURCES = [p for root in ("compiler", "runtime", "templates") for p in (REPO / root).rglob("*")
           if p.suffix in (".py", ".h", ".j2", ".c")]


def _cc(tmp_path: Path, source: str, *, shared: bool = False) -> Path:
    c = tmp_path / ("lib.c" if shared else "prog.c")
    c.write_text(source)
    out = tmp_path / ("lib.so" if shared else "prog")
    flags = ["-fPIC", "-shared"] if shared else []
    subprocess.run(["cc", "-std=c11", "-O1", "-Wall", "-Werror", *flags, f"-I{include_dir()}", str(c),
                    "-o", str(out)], check=True)
    return out


def test_header_struct_is_the_description() -> None:
    """rps/runtime.h defines `struct rps_rt` exactly as `rt_c_struct()` writes it from RT_FIELDS."""
    text = HEADER.read_text()
    assert abi.rt_c_struct() in text, "rps/runtime.h's rps_rt differs from rpsrt.abi.rt_c_struct():\n" + \
        abi.rt_c_struct()
    assert text.count("typedef struct rps_rt {") == 1


def test_layout_agrees_in_c_ctypes_and_llvm(tmp_path: Path) -> None:
    """The offset and size of every rps_rt field, and the struct's size, are the same in C (the header,
    compiled by cc), in the ctypes structure and in the LLVM type on this host's data layout; so is the size
    of every ABI value type."""
    fields = [f.name for f in abi.RT_FIELDS]
    lines = "\n".join(f'    printf("{n} %zu %zu\\n", offsetof(rps_rt, {n}), sizeof(((rps_rt *)0)->{n}));'
                      for n in fields)
    types = "\n".join(f'    printf("type {t.code} %zu\\n", sizeof({t.c}));' for t in (abi.I64, abi.F64, abi.BOOL))
    prog = _cc(tmp_path, f"""#include <stddef.h>
#include <stdio.h>
#include <rps/runtime.h>
int main(void) {{
{lines}
    printf("struct %zu %zu\\n", sizeof(rps_rt), _Alignof(rps_rt));
{types}
    return 0;
}}
""")
    out = subprocess.run([str(prog)], check=True, capture_output=True, text=True).stdout.split("\n")
    c_fields = {w[0]: (int(w[1]), int(w[2])) for w in (line.split() for line in out[:len(fields)])}
    assert list(c_fields) == fields
    c_size, c_align = map(int, out[len(fields)].split()[1:])
    c_types = {w[1]: int(w[2]) for w in (line.split() for line in out[len(fields) + 1:] if line)}

    py_fields = {n: (getattr(abi.RpsRt, n).offset, getattr(abi.RpsRt, n).size) for n in fields}
    assert py_fields == c_fields
    assert (ctypes.sizeof(abi.RpsRt), ctypes.alignment(abi.RpsRt)) == (c_size, c_align)
    assert {t: ctypes.sizeof(abi.CTYPES[t]) for t in c_types} == c_types

    llvm = pytest.importorskip("llvmlite.binding")
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    td = llvm.Target.from_default_triple().create_target_machine().target_data
    mod = llvm.parse_assembly(f"@g = external global {abi.RT_LLVM_TYPE}\n"
                              + "".join(f"@t{i} = external global {t.llvm}\n"
                                        for i, t in enumerate((abi.I64, abi.F64, abi.BOOL))))
    rt_ty = mod.get_global_variable("g").global_value_type
    elements = list(rt_ty.elements)
    ll_fields = {n: (td.get_element_offset(rt_ty, i), td.get_abi_size(elements[i])) for i, n in enumerate(fields)}
    assert ll_fields == c_fields
    assert (td.get_abi_size(rt_ty), td.get_abi_alignment(rt_ty)) == (c_size, c_align)
    ll_types = {t.code: td.get_abi_size(mod.get_global_variable(f"t{i}").global_value_type)
                for i, t in enumerate((abi.I64, abi.F64, abi.BOOL))}
    assert ll_types == c_types


def test_plugin_api_layout_agrees_in_c_and_ctypes(tmp_path: Path) -> None:
    """rps/plugin.h's rps_plugin_api has PLUGIN_API_FIELDS' fields in that order, at the offsets and sizes of
    the ctypes PluginApi the manager hands out, with the same total size: rt, then rt_key, then the heap API
    (heap_fast last, version 2)."""
    fields = [f.name for f in abi.PLUGIN_API_FIELDS]
    assert fields[6:] == ["rt", "rt_key", "heap_version", "heap_reserved", "heap_op", "heap_fast"]
    lines = "\n".join(f'    printf("{n} %zu %zu\\n", offsetof(rps_plugin_api, {n}), '
                      f'sizeof(((rps_plugin_api *)0)->{n}));' for n in fields)
    prog = _cc(tmp_path, f"""#include <stddef.h>
#include <stdio.h>
#include <rps/plugin.h>
int main(void) {{
{lines}
    printf("struct %zu %d\\n", sizeof(rps_plugin_api), RPS_PLUGIN_ABI_VERSION);
    return 0;
}}
""")
    out = subprocess.run([str(prog)], check=True, capture_output=True, text=True).stdout.split("\n")
    c_fields = {w[0]: (int(w[1]), int(w[2])) for w in (line.split() for line in out[:len(fields)])}
    offsets = [c_fields[n][0] for n in fields]
    assert offsets == sorted(offsets)
    py_fields = {n: (getattr(abi.PluginApi, n).offset, getattr(abi.PluginApi, n).size) for n in fields}
    assert py_fields == c_fields
    c_size, c_version = map(int, out[len(fields)].split()[1:])
    assert (ctypes.sizeof(abi.PluginApi), abi.PLUGIN_ABI_VERSION) == (c_size, c_version)
    from rpsrt.plugins import manager, manifest

    assert manager.PluginApi is abi.PluginApi and manifest.ABI_VERSION == abi.PLUGIN_ABI_VERSION


def test_llvm_backend_uses_the_description() -> None:
    """The LLVM backend's rps_rt type and field indices are those of the description."""
    codegen = pytest.importorskip("rpsc.backends.llvm.codegen")
    assert codegen.RT_TYPE == abi.RT_LLVM_TYPE == "{i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}"
    assert (codegen.RT_INTERRUPT, codegen.RT_DEPTH, codegen.RT_LIMIT, codegen.RT_TRAP_FUNCTION,
            codegen.RT_TRAP_LOCATION) == (0, 1, 2, 4, 5)
    assert codegen.RT_SYMBOL == abi.RT_SYMBOL


def test_defined_once_in_the_sources() -> None:
    """The rps_rt layout and the signature grammar are written once: no other source spells the LLVM type,
    a ctypes field list of rps_rt, or a signature regular expression; runtime.h's struct is the checked copy."""
    offenders = []
    for p in SOURCES:
        text = p.read_text(encoding="utf-8", errors="replace")
        rel = p.relative_to(REPO).as_posix()
        if rel == "runtime/rpsrt/abi.py":
            continue
        if re.search(r"\{\s*i32,\s*i32,\s*i32,\s*i32,\s*ptr,\s*ptr\s*\}", text) or \
                re.search(r"\(\s*\"depth_limit\"\s*,\s*ctypes", text) or \
                re.search(r"i64\|f64\|bool", text) or \
                (re.search(r"typedef struct rps_rt\b", text) and rel != "runtime/rpsrt/include/rps/runtime.h"):
            offenders.append(rel)
    assert offenders == []


def test_signature_strings() -> None:
    """Signature strings parse to type codes of TYPES and back; ctypes prototypes use the ABI's ctypes."""
    s = abi.Signature.parse(" bool ( i64 , f64,bool ) ")
    assert (s.ret, s.params, str(s)) == ("bool", ("i64", "f64", "bool"), "bool(i64,f64,bool)")
    assert all(t in abi.TYPES for t in (s.ret, *s.params))
    proto = s.prototype()
    assert proto._restype_ is ctypes.c_int32
    assert proto._argtypes_ == (ctypes.POINTER(ctypes.c_bool), ctypes.c_int64, ctypes.c_double, ctypes.c_bool)
    assert abi.cfunctype(["bool"])._argtypes_ == (ctypes.c_void_p, ctypes.c_bool)
    for bad in ("int(int)", "i64(void)", "i64", "i64(i64,)", "(i64)", "u8()", 3):
        with pytest.raises(PluginError, match="invalid signature"):
            abi.Signature.parse(bad)


_LIB = r"""
#include <stdbool.h>
#include <rps/runtime.h>
rps_rt *rt_ptr;
int32_t negate(bool *result, bool a) { *result = !a; return RPS_OK; }
int32_t both(bool *result, bool a, int64_t pad, bool b) { (void)pad; *result = a && b; return RPS_OK; }
int32_t spin(int64_t *result, int64_t n) {
    int64_t i = 0;
    while (i < n) {
        if (rt_ptr->interrupt) return rps_trap(rt_ptr, RPS_TRAP_INTERRUPT, "spin", "lib.c:8:5");
        i++;
    }
    *result = i;
    return RPS_OK;
}
"""


@pytest.fixture
def lib(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A shared library of C functions with the native ABI, compiled by cc, bound to a fresh rps_rt."""
    handle = ctypes.CDLL(str(_cc(tmp_path, _LIB, shared=True)))
    rt = abi.new_rt()
    ctypes.c_void_p.in_dll(handle, "rt_ptr").value = ctypes.addressof(rt)
    yield handle, rt
    import _ctypes

    _ctypes.dlclose(handle._handle)


def _caller(handle, name: str, sig: str, rt: abi.RpsRt):  # type: ignore[no-untyped-def]
    return abi.native_caller(ctypes.cast(getattr(handle, name), ctypes.c_void_p).value, abi.Signature.parse(sig),
                             rt, name=name)


def test_bool_crosses_the_c_abi(lib) -> None:  # type: ignore[no-untyped-def]
    """bool arguments and results pass as C's _Bool through the ctypes caller, and come back as bool."""
    handle, rt = lib
    negate, both = _caller(handle, "negate", "bool(bool)", rt), _caller(handle, "both", "bool(bool,i64,bool)", rt)
    assert negate(True) is False and negate(False) is True
    assert [both(a, -1, b) for a in (False, True) for b in (False, True)] == [False, False, False, True]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_ctrl_c_stops_a_call_through_call_with_rt(lib) -> None:  # type: ignore[no-untyped-def]
    """SIGINT while the main thread waits in call_with_rt sets rt.interrupt, the C loop traps INTERRUPT,
    KeyboardInterrupt is raised from that trap, the flag is cleared, and later calls work."""
    handle, rt = lib
    spin = _caller(handle, "spin", "i64(i64)", rt)
    assert threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt) as info:
        abi.call_with_rt(rt, spin, (2**62,))
    timer.join()
    assert isinstance(info.value.__cause__, Trap) and info.value.__cause__.code == TRAP_INTERRUPT
    assert info.value.__cause__.function == "spin"
    assert rt.interrupt == 0
    assert abi.call_with_rt(rt, spin, (5,)) == 5


def test_call_interruptibly_reports_results_and_errors() -> None:
    """call_interruptibly returns (True, result, False) or (False, exception, False) when not interrupted,
    and runs the function on another thread."""
    seen = []

    def f(x: int) -> int:
        seen.append(threading.current_thread() is threading.main_thread())
        if x < 0:
            raise ValueError("negative")
        return x * 2

    assert abi.call_interruptibly(f, (21,), lambda: None) == (True, 42, False)
    ok, err, interrupted = abi.call_interruptibly(f, (-1,), lambda: None)
    assert (ok, type(err), interrupted) == (False, ValueError, False)
    assert seen == [False, False]


def test_call_with_rt_off_the_main_thread_calls_directly(lib) -> None:  # type: ignore[no-untyped-def]
    """From a thread other than the main one, call_with_rt calls the function in that same thread."""
    handle, rt = lib
    spin = _caller(handle, "spin", "i64(i64)", rt)
    out: list[object] = []

    def work() -> None:
        me = threading.current_thread()
        out.append(abi.call_with_rt(rt, lambda n: (threading.current_thread() is me, spin(n)), (7,)))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert out == [(True, 7)]


def test_interruptible_calls_share_one_worker_thread() -> None:
    """`call_interruptibly` runs its calls on one worker thread (started once, with its big stack), not on a
    thread started per call; a call made while the worker runs another (from inside it here; from a signal
    handler of the waiting main thread in real life) gets a thread of its own instead of waiting for it."""
    import threading as th

    from rpsrt import abi as abi_mod

    seen = []
    for _ in range(3):
        ok, value, interrupted = abi_mod.call_interruptibly(th.get_ident, (), lambda: None)
        assert ok and not interrupted
        seen.append(value)
    assert len(set(seen)) == 1 and seen[0] != th.get_ident()
    inner: list[int] = []

    def outer() -> int:
        ok2, value2, _ = abi_mod.call_interruptibly(th.get_ident, (), lambda: None)
        assert ok2
        inner.append(value2)
        return th.get_ident()

    ok, value, _ = abi_mod.call_interruptibly(outer, (), lambda: None)
    assert ok and value == seen[0] and inner and inner[0] not in (value, th.get_ident())
    ok, value, _ = abi_mod.call_interruptibly(lambda: 1 / 0, (), lambda: None)
    assert not ok and isinstance(value, ZeroDivisionError)
    assert abi_mod.call_interruptibly(th.get_ident, (), lambda: None)[1] == seen[0]  # free again after a raise
