"""Arbitrary names and strings from the heap never break or change the meaning of the generated C."""

from __future__ import annotations

import ctypes
import json
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpsc.backends.c.emit import emit_c, emit_headers
from rpsc.ir.builder import FunctionBuilder, const
from rpsc.ir.ir import I64, SourceLoc
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadSymbol
from rpsrt.plugins import ABI_VERSION, include_dir
from rpsrt.plugins.manager import PluginApi
from rpsrt.rt import new_rt

from . import handir

NASTY = ["*/", "/*", "\\", "\"", "'", "??/", "??=", "\n", "\r", "#include <stdio.h>", "\\\n", "%s", "é", "\u2028",
         "\x00"[:0], "$", "`", "}", "{", ";", "\t"]
names = st.lists(st.sampled_from(NASTY) | st.text(max_size=8), min_size=1, max_size=4).map("".join).filter(
    lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))


def _divider(name: str, file: str, mod: str, line: int):  # type: ignore[no-untyped-def]
    """`fn name(a: int) -> int { return 1 / a; }` with its source in `file` (traps on 0)."""
    r = handir.ref(name, (I64,), I64, mod)
    b = FunctionBuilder(r, ("a",), SourceLoc(file, line, 1))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.sdiv(const(1), b.load(b.params[0]), SourceLoc(file, line, 9)))
    return b.finish()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(module_name=names, version=names, fn_names=st.lists(names, min_size=1, max_size=4), file=names,
       symbols=st.lists(names, min_size=0, max_size=5))
def test_names_survive_the_c_compiler(tmp_path_factory, module_name, version, fn_names, file, symbols):  # type: ignore[no-untyped-def]
    """Names with quotes, backslashes, comment closers, newlines, #include and non-ASCII come back
    unchanged from the compiled plugin's manifest, trap reports and generated headers."""
    tmp = tmp_path_factory.mktemp("names")
    mod_oid = handir.new_module_oid()
    fns = [_divider(n, file, mod_oid, i + 1) for i, n in enumerate(fn_names)]
    mod = handir.module(module_name, fns, mod_oid, version=version, requires=[(module_name, version)])
    src = emit_c(mod)
    c, so = tmp / "m.c", tmp / "m.so"
    c.write_text(src.text)
    subprocess.run(["cc", "-std=c11", "-O0", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                    f"-I{include_dir()}", str(c), "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    try:
        raw = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(lib, "rps_plugin_manifest")))
        manifest = json.loads(raw.decode("utf-8"))
        assert manifest["name"] == module_name
        want_req = {"name": module_name, "version": version} if version else {"name": module_name}
        assert manifest["requires"] == [want_req]
        assert [e["name"] for e in manifest["exports"]] == fn_names
        assert [e["symbol"] for e in manifest["exports"]] == [f.symbol for f in fns]
        rt = new_rt()
        fields = dict(PluginApi._fields_)
        api = PluginApi(ABI_VERSION, ctypes.sizeof(PluginApi), None, fields["register_extension"](),
                        fields["log"](), fields["argument"](), ctypes.pointer(rt))
        assert lib.rps_plugin_init(ctypes.byref(api)) == 0
        for i, f in enumerate(fns):
            fn = getattr(lib, f.symbol)
            res = ctypes.c_int64()
            assert fn(ctypes.byref(res), ctypes.c_int64(0)) == 1
            assert rt.trap_function.decode("utf-8") == fn_names[i]
            assert rt.trap_location.decode("utf-8") == f"{file}:{i + 1}:9"
            assert fn(ctypes.byref(res), ctypes.c_int64(1)) == 0 and res.value == 1
    finally:
        import _ctypes

        _ctypes.dlclose(lib._handle)
    # The headers: one macro per named object, each expanding to its own OID.
    heap = Heap()
    objs = []
    for s in symbols:
        o = heap.create(None)
        o.payload = PayloadSymbol(s)
        objs.append(o)
    heap.roots.update(objs)
    headers = emit_headers(heap)
    for name, text in headers.items():
        (tmp / name).write_text(text)
    (tmp / "main.c").write_text(
        '#include <stdio.h>\n#include "rps_names.h"\n#include "rps_roots.h"\n#include "rps_constants.h"\n'
        '#define SHOW(m, s) printf("%s\\n", s);\n'
        "int main(void) { RPS_NAMED__EACH(SHOW) RPS_ROOT__EACH(SHOW) RPS_CONSTANT__EACH(SHOW) return 0; }\n")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp / "main"), str(tmp / "main.c")],
                   check=True, cwd=tmp)
    out = subprocess.run([str(tmp / "main")], capture_output=True, text=True, check=True).stdout.split()
    named = [str(o.oid) for o in objs if o.payload.name]
    assert sorted(out) == sorted(named + [str(o.oid) for o in objs])
