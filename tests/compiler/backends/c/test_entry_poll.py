"""The C entry poll costs (almost) nothing: a polled body of pure arithmetic keeps GCC's merging of calls with
equal arguments, counted in instructions by callgrind (machine-independent), and every real call still polls."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.backends.c.emit import emit_c
from rpsc.driver.pipeline import program
from rpsrt.plugins.build import include_dir

FIB = "module fibm;\nfn fib(n: int) -> int {\n  if n < 2 { return n; }\n  return fib(n - 1) + fib(n - 2);\n}\n"


def _build(tmp: Path, poll: bool) -> tuple[Path, str]:
    mod = program(FIB, "fib.rps")[0]
    src = emit_c(mod, entry_poll=poll)
    c = tmp / f"{'poll' if poll else 'nopoll'}.c"
    c.write_text(src.text)
    so = c.with_suffix(".so")
    subprocess.run(["cc", "-O2", "-fPIC", "-shared", f"-I{include_dir()}", "-o", str(so), str(c)], check=True)
    symbol = next(f.ref.symbol for f in mod.functions if f.name == "fib")
    return so, symbol


def test_entry_poll_is_plain_and_loop_polls_stay_volatile() -> None:
    """The entry poll reads the flag without `volatile`, a loop back-edge poll with it, and the trap routine
    is out of line (what keeps a polled body pure to GCC)."""
    src = "module m;\nfn s(n: int) -> int {\n  var t = 0;\n  for i in 0 .. n { t = t + i; }\n  return t;\n}\n"
    text = emit_c(program(src, "m.rps")[0]).text
    assert "if (__builtin_expect(*(const int32_t *)&rt->interrupt, 0))" in text
    assert "if (rt->interrupt)" in text                      # the loop's poll
    assert "noinline)) static void rps_module_trap" in text


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("valgrind") is None, reason="needs cc and valgrind")
def test_entry_poll_keeps_gccs_call_merging(tmp_path: Path) -> None:
    """callgrind counts within 25% more instructions in the generated bodies for fib(25) with the entry poll
    than without (a volatile poll, which kept every call, counted 30x more), and both give fib(25)."""
    counts = {}
    for poll in (True, False):
        so, symbol = _build(tmp_path, poll)
        out = tmp_path / f"cg.{poll}.out"
        code = (f"import ctypes; lib = ctypes.CDLL({str(so)!r}); r = ctypes.c_int64(); "
                f"assert getattr(lib, {symbol!r})(ctypes.byref(r), ctypes.c_int64(25)) == 0; "
                f"assert r.value == 75025")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--toggle-collect=rpsb_*",
                        sys.executable, "-c", code], check=True, capture_output=True)
        summary = [ln for ln in out.read_text().splitlines() if ln.startswith(("summary:", "totals:"))]
        counts[poll] = int(summary[0].split()[1])
    assert counts[False] > 0
    assert counts[True] <= 1.25 * counts[False], counts


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs cc")
def test_a_set_flag_traps_at_the_first_entry_and_a_cleared_one_computes(tmp_path: Path) -> None:
    """With the host's flag set (the shared state handed over by rps_plugin_init), polled fib traps
    INTERRUPT at once; cleared, the same module computes fib(30): the plain entry read is really done."""
    from rpsrt.abi import PLUGIN_ABI_VERSION, PluginApi, new_rt
    from rpsrt.errors import TRAP_INTERRUPT

    so, symbol = _build(tmp_path, True)
    lib = ctypes.CDLL(str(so))
    rt = new_rt()
    api = PluginApi(abi_version=PLUGIN_ABI_VERSION, struct_size=ctypes.sizeof(PluginApi), rt=ctypes.pointer(rt))
    lib.rps_plugin_init.argtypes = [ctypes.POINTER(PluginApi)]
    assert lib.rps_plugin_init(ctypes.byref(api)) == 0
    fn = getattr(lib, symbol)
    r = ctypes.c_int64(-1)
    try:
        rt.interrupt = 1
        assert fn(ctypes.byref(r), ctypes.c_int64(30)) == TRAP_INTERRUPT and r.value == -1
        rt.interrupt = 0
        assert fn(ctypes.byref(r), ctypes.c_int64(30)) == 0 and r.value == 832040
    finally:
        lib.rps_plugin_fini()
