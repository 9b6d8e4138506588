"""C emission: the generated C compiles strictly, runs the IR's semantics, and loads through the host."""

from __future__ import annotations

import math
import subprocess
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsc.backends.c.emit import c_comment, c_const, c_string, emit_c, emit_headers
from rpsc.backends.c.native import NativeEngine
from rpsc.ir.ir import F64, I64, Const
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_RECURSION, Trap

from . import handir
from .util import compile_modules


@pytest.fixture(scope="module")
def sample(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The hand-built module of every instruction kind, compiled with -Werror and UBSan, in an engine."""
    folder = tmp_path_factory.mktemp("sample")
    mod = handir.sample_module()
    compile_modules([mod], folder)
    eng = NativeEngine(folder, interruptible=False)
    yield eng
    eng.close()


EDGE_CASES = [
    ("i_sdiv", (-2**63, -1), -2**63),
    ("i_srem", (-2**63, -1), 0),
    ("i_sdiv", (-7, 2), -3),
    ("i_srem", (-7, 2), -1),
    ("i_shl", (1, 64), 1),
    ("i_shl", (1, 63), -2**63),
    ("i_shl", (3, -1), -2**63),
    ("i_ashr", (-8, 65), -4),
    ("i_ashr", (-1, 63), -1),
    ("i_ashr", (2**62, 64 + 62), 1),
    ("i_add", (2**63 - 1, 1), -2**63),
    ("i_sub", (-2**63, 1), 2**63 - 1),
    ("i_mul", (2**62, 4), 0),
    ("i_mul", (-2**63, -1), -2**63),
    ("u_neg", (-2**63,), -2**63),
    ("u_abs", (-2**63,), -2**63),
    ("u_bnot", (0,), -1),
    ("u_fptosi", (-9.223372036854775808e18,), -2**63),
    ("u_fptosi", (-2.9,), -2),
    ("u_sitofp", (2**63 - 1,), 9.223372036854775808e18),
    ("f_fdiv", (1.0, 0.0), math.inf),
    ("f_fcmp_ne", (math.nan, math.nan), True),
    ("f_fcmp_eq", (math.nan, math.nan), False),
    ("f_min", (math.nan, 1.0), math.nan),
    ("f_min", (1.0, math.nan), 1.0),
    ("f_max", (-0.0, 0.0), 0.0),
    ("u_sqrt", (-1.0,), math.nan),
    ("b_xor", (True, True), False),
    ("b_icmp_ne", (True, False), True),
    ("fib", (20,), 6765),
    ("sum_squares", (1000,), 332833500),
]


@pytest.mark.parametrize("name,args,expected", EDGE_CASES)
def test_edge_cases(sample, name, args, expected):  # type: ignore[no-untyped-def]
    """The edge cases of LANGUAGE.md's semantics give the specified result under -Werror and UBSan."""
    got = sample.call(name, args)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("name,args,code,col", [
    ("i_sdiv", (1, 0), TRAP_DIVZERO, 12),
    ("i_srem", (-2**63, 0), TRAP_DIVZERO, 12),
    ("u_fptosi", (1e19,), TRAP_CONVERSION, 7),
    ("u_fptosi", (math.nan,), TRAP_CONVERSION, 7),
    ("u_fptosi", (-math.inf,), TRAP_CONVERSION, 7),
    ("u_fptosi", (9.223372036854775808e18,), TRAP_CONVERSION, 7),
])
def test_traps_name_function_and_location(sample, name, args, code, col):  # type: ignore[no-untyped-def]
    """A trapping operation raises Trap naming the function and the operation's file:line:col."""
    with pytest.raises(Trap) as info:
        sample.call(name, args)
    assert info.value.code == code
    assert info.value.function == name
    assert info.value.location is not None and info.value.location.startswith("hand.rps:")
    assert info.value.location.endswith(f":{col}")
    assert sample.rt.depth == 0


def test_recursion_limit_traps_and_restores_depth(tmp_path):
    """Recursion deeper than the limit traps RECURSION at the function's own location; depth is restored."""
    mod = handir.sample_module()
    compile_modules([mod], tmp_path)
    with NativeEngine(tmp_path, recursion_limit=50, interruptible=False) as eng:
        assert eng.call("fib", [10]) == 55  # depth 10 <= 50
        with pytest.raises(Trap) as info:
            eng.call("fib", [60])
        assert info.value.code == TRAP_RECURSION
        assert (info.value.function, info.value.location) == ("fib", "hand.rps:1:1")
        assert eng.rt.depth == 0
        assert eng.call("fib", [10]) == 55


def test_interrupt_stops_a_long_loop(tmp_path):
    """engine.interrupt() from another thread makes a running loop trap INTERRUPT at its back-edge."""
    import threading

    mod = handir.sample_module()
    compile_modules([mod], tmp_path)
    with NativeEngine(tmp_path, interruptible=False) as eng:
        timer = threading.Timer(0.2, eng.interrupt)
        timer.start()
        with pytest.raises(Trap) as info:
            eng.call("sum_squares", [2**62])
        timer.join()
        assert info.value.kind == "interrupted" and info.value.location == "hand.rps:11:3"
        assert eng.rt.interrupt == 0
        assert eng.call("sum_squares", [3]) == 5


def test_constants_are_exact():
    """Constants print exactly: hex floats round-trip, NaN/inf through builtins, INT64_MIN via a macro."""
    assert c_const(Const(I64, -2**63)) == "RPS_I64_MIN"
    assert c_const(Const(I64, -5)) == "(-INT64_C(5))"
    assert c_const(Const(F64, 0.1)) == f"({(0.1).hex()})"
    assert c_const(Const(F64, -0.0)) == "(-0x0.0p+0)"
    assert "nan" in c_const(Const(F64, math.nan)) and "inf" in c_const(Const(F64, -math.inf))


def test_strings_and_comments_are_escaped():
    """String literals escape quotes, backslashes and ?; comments drop */, newlines and non-ASCII."""
    assert c_string('a"b\\c??/') == '"a\\"b\\\\c\\?\\?/"'
    assert c_string("é\n") == '"\\303\\251\\012"'
    s = c_comment("x */ y /* z\n#include ??/ é")
    assert "*/" not in s and "/*" not in s and "\n" not in s and "??" not in s and "\\" not in s
    assert s.isascii()


def test_void_function_and_manifest(sample):
    """A void function returns None; the embedded manifest lists every export with its signature."""
    assert sample.call("noop", []) is None
    plugin = next(iter(sample.manager.loaded.values()))
    exports = {e.name: e.signature for e in plugin.candidate.manifest.exports}
    assert exports["fib"] == "i64(i64)" and exports["noop"] == "void()" and exports["b_xor"] == "bool(bool,bool)"


def test_generated_headers_compile_and_expand_to_oids(tmp_path):
    """rps_names.h/rps_roots.h/rps_constants.h compile together and each macro expands to its OID."""
    from rpsrt.model.heap import Heap
    from rpsrt.model.objects import PayloadSymbol

    heap = Heap()
    objs = []
    for name in ["alpha", "alpha", "x*/y", "EACH", "_1", "", "é"]:
        o = heap.create(None)
        o.payload = PayloadSymbol(name) if name else None
        objs.append(o)
    heap.roots.update(objs[:4])
    heap.constants.update(objs[3:])
    headers = emit_headers(heap)
    for name, text in headers.items():
        (tmp_path / name).write_text(text)
    prog = textwrap.dedent("""
        #include <stdio.h>
        #include "rps_names.h"
        #include "rps_roots.h"
        #include "rps_constants.h"
        #define SHOW(m, s) printf("%s %s\\n", #m, s);
        int main(void) { RPS_NAMED__EACH(SHOW) RPS_ROOT__EACH(SHOW) RPS_CONSTANT__EACH(SHOW)
          printf("%d %d %d\\n", RPS_NAMED__COUNT, RPS_ROOT__COUNT, RPS_CONSTANT__COUNT); return 0; }
    """)
    (tmp_path / "main.c").write_text(prog)
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "main"),
                    str(tmp_path / "main.c")], check=True, cwd=tmp_path)
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout.split("\n")
    pairs = [line.split(" ") for line in out if line.startswith("RPS_")]
    assert out[-2] == "6 4 4"  # named: the six objects with a name (the unnamed one is left out)
    oids = {str(o.oid) for o in objs}
    assert all(oid in oids for _m, oid in pairs)
    named = [p for p in pairs if p[0].startswith("RPS_NAMED_")]
    assert len({m for m, _ in named}) == 6 and len({o for _, o in named}) == 6


def test_emission_is_deterministic():
    """Emitting the same module twice gives the same bytes (so rebuilds are driven by real changes)."""
    mod = handir.sample_module()
    assert emit_c(mod).text == emit_c(mod).text


def test_ctrl_c_interrupts_a_call_in_the_main_thread(tmp_path):
    """SIGINT during a long compiled loop called from the main thread stops it: KeyboardInterrupt, and the
    engine stays usable."""
    import os
    import signal
    import threading

    mod = handir.sample_module()
    compile_modules([mod], tmp_path)
    with NativeEngine(tmp_path) as eng:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            eng.call("sum_squares", [2**62])
        timer.join()
        assert eng.rt.interrupt == 0 and eng.rt.depth == 0
        assert eng.call("sum_squares", [3]) == 5


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100, 1000])
def test_recursion_limit_is_exact_like_the_interpreter(tmp_path, limit):  # type: ignore[no-untyped-def]
    """With limit L, L nested calls run and the (L+1)-th traps, in C (ring copies included) as in the
    interpreter."""
    from rpsc.backends.interp.interp import Interpreter

    mod_oid = handir.new_module_oid()
    mod = handir.module("deep", [handir.down_fn(mod_oid)], mod_oid)
    compile_modules([mod], tmp_path)
    with NativeEngine(tmp_path, recursion_limit=limit, interruptible=False) as eng, \
            Interpreter([mod], recursion_limit=limit) as interp:
        assert eng.call("down", [limit - 1]) == interp.call("down", [limit - 1]) == limit - 1
        for engine in (eng, interp):
            with pytest.raises(Trap) as info:
                engine.call("down", [limit])
            assert info.value.code == TRAP_RECURSION and info.value.location == "hand.rps:1:1"
        assert eng.rt.depth == 0


def test_recursion_limit_is_exact_across_modules(tmp_path):
    """A call into another module's plugin counts its depth like a local call: with limit L, top(L-1)
    (1 + L-1 nested calls) runs and top(L) traps, in C as in the interpreter."""
    from rpsc.ir.builder import FunctionBuilder, const
    from rpsc.backends.interp.interp import Interpreter

    b_oid, a_oid = handir.new_module_oid(), handir.new_module_oid()
    down = handir.down_fn(b_oid)
    lib = handir.module("lowmod", [down], b_oid)
    r = handir.ref("top", (I64,), I64, a_oid)
    fb = FunctionBuilder(r, ("n",), handir.loc(40))
    fb.position_at_end(fb.append_block("entry"))
    res = fb.call(down.ref, [fb.sub(fb.load(fb.params[0]), const(1))], handir.loc(41, 3))
    assert res is not None
    fb.ret(fb.add(res, const(1)))
    app = handir.module("highmod", [fb.finish()], a_oid, requires=[("lowmod", None)])
    compile_modules([lib, app], tmp_path)
    limit = 20
    with NativeEngine(tmp_path, recursion_limit=limit, interruptible=False) as eng, \
            Interpreter([lib, app], recursion_limit=limit) as interp:
        assert eng.call("top", [limit - 1]) == interp.call("top", [limit - 1]) == limit - 1
        for engine in (eng, interp):
            with pytest.raises(Trap) as info:
                engine.call("top", [limit])
            assert (info.value.code, info.value.function) == (TRAP_RECURSION, "down")
        assert eng.rt.depth == 0


def _c_string_parts_by_byte(text: str, chunk: int = 0) -> list[str]:
    """The byte-by-byte definition of `c_string_parts` (its docstring), to check the fast one against."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-./:;<=>@[]^_`{|}~")
    short = {ord('"'): '\\"', ord("\\"): "\\\\", ord("?"): "\\?"}
    parts: list[str] = []
    cur: list[str] = []
    size = 0
    for byte in text.encode("utf-8", "surrogatepass"):
        piece = chr(byte) if byte in safe else short.get(byte) or f"\\{byte:03o}"
        if chunk and size + len(piece) > chunk and cur:
            parts.append('"' + "".join(cur) + '"')
            cur, size = [], 0
        cur.append(piece)
        size += len(piece)
    parts.append('"' + "".join(cur) + '"')
    return parts


@given(st.text(max_size=60), st.sampled_from([0, 1, 3, 8, 64]))
@settings(max_examples=200)
def test_c_string_parts_matches_its_byte_by_byte_definition(text: str, chunk: int) -> None:
    """The translate-based `c_string_parts` gives exactly the literals of the byte-by-byte definition, for
    any text (escapes, UTF-8, surrogates) and chunk size."""
    from rpsc.backends.c.emit import c_string_parts

    assert c_string_parts(text, chunk) == _c_string_parts_by_byte(text, chunk)
