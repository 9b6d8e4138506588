"""`rpsc jit` and `rpsc emit` on a real store: results, statistics, cache hits, and AOT output that LLVM
parses and a C host links and runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.cli import main
from rpsc.driver.pipeline import compile_sources, ir_modules

SOURCE = """
module geo version "1.0.0";
fn fib(n: int) -> int { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }
fn half(x: float) -> float { return x / 2.0; }
fn div(a: int, b: int) -> int { return a / b; }
"""
OTHER = """
module calc version "1.0.0";
requires geo;
fn twice_fib(n: int) -> int { return 2 * fib(n); }
"""
INCLUDE = Path(rpsrt.__file__).parent / "include"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("store")
    heap = compile_sources([("geo.rps", SOURCE), ("calc.rps", OTHER)])
    rpsrt.dump_store(heap, str(d))
    return d


def test_jit_calls_a_function(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc jit --store S fib 20` prints 6765; a cross-module call works; a trap exits with status 3."""
    cache = str(tmp_path / "cache")
    assert main(["jit", "--store", str(store), "--cache-dir", cache, "fib", "20"]) == 0
    assert capsys.readouterr().out.strip() == "6765"
    assert main(["jit", "--store", str(store), "--cache-dir", cache, "twice_fib", "10"]) == 0
    assert capsys.readouterr().out.strip() == "110"
    assert main(["jit", "--store", str(store), "--no-cache", "div", "1", "0"]) == 3
    assert capsys.readouterr().err == "geo.rps:5:40: trap: division by zero in div\n"


def test_jit_stats_show_cache_hits(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc jit --stats --json`: the first run compiles both modules, the second only hits the cache."""
    args = ["jit", "--store", str(store), "--cache-dir", str(tmp_path / "c"), "--eager", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)["stats"]
    assert (first["compiled"], first["cache_hits"]) == (2, 0)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)["stats"]
    assert (second["compiled"], second["cache_hits"]) == (0, 2)
    assert main(["jit", "--store", str(store), "--cache-dir", str(tmp_path / "c"), "--stats", "-O", "2"]) == 0
    out = capsys.readouterr().out
    assert "cache hits: 2" in out and "fib" in out and "hit" in out


def test_jit_bad_input_is_a_diagnostic(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown function or a missing store is an error message and a non-zero status, no traceback."""
    assert main(["jit", "--store", str(store), "--no-cache", "fob", "1"]) == 1
    err = capsys.readouterr().err
    assert "no function named fob" in err and "Traceback" not in err
    assert main(["jit", "--store", str(tmp_path / "nowhere"), "fib", "1"]) == 1
    assert "not a store" in capsys.readouterr().err
    assert main(["jit", "--store", str(store), "--no-cache", "--recursion-limit", "0", "fib", "1"]) == 1
    assert "--recursion-limit must be between 1 and" in capsys.readouterr().err
    assert main(["jit", "--store", str(store), "--no-cache", "fib", "x"]) == 1
    assert "is not an int" in capsys.readouterr().err


def test_emit_ir_and_object_linked_into_a_c_host(store: Path, tmp_path: Path) -> None:
    """`rpsc emit` writes IR that LLVM verifies and a PIC object a C program links, calls and gets 2*fib(15)."""
    import llvmlite.binding as llvm

    ll, obj = tmp_path / "out.ll", tmp_path / "out.o"
    assert main(["emit", "--store", str(store), "--llvm-ir", str(ll), "--object", str(obj)]) == 0
    llvm.parse_assembly(ll.read_text()).verify()
    modules = ir_modules(rpsrt.load_store(str(store)))
    sym = next(f.symbol for m in modules for f in m.functions if f.name == "twice_fib")
    host = tmp_path / "host.c"
    host.write_text(f"""
#include <stdio.h>
#include <rps/runtime.h>
/* the typedef takes the name rps_rt in C: give the object that symbol with an asm label */
struct rps_rt rt_state __asm__("rps_rt") = {{0, 0, 100, 0, 0, 0}};
int32_t {sym}(int64_t *result, int64_t n);
int main(void) {{
    int64_t r = 0;
    int32_t st = {sym}(&r, 15);
    printf("%d %lld %d\\n", st, (long long)r, rt_state.depth);
    st = {sym}(&r, 200);   /* 201 nested calls > limit 100 */
    printf("%d %s %s\\n", st, rt_state.trap_function, rt_state.trap_location);
    return 0;
}}
""")
    exe = tmp_path / "host"
    subprocess.run(["cc", "-O1", f"-I{INCLUDE}", "-o", str(exe), str(host), str(obj)], check=True)
    subprocess.run(["cc", "-shared", "-o", str(tmp_path / "libout.so"), str(obj)], check=True)  # PIC
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "0 1220 0"
    assert out[1].startswith("3 fib geo.rps:")


def test_emit_one_module_and_errors(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--module NAME limits the output to that module; an unknown module or no output file is an error."""
    ll = tmp_path / "geo.ll"
    assert main(["emit", "--store", str(store), "--module", "geo", "--llvm-ir", str(ll), "-O", "0"]) == 0
    text = ll.read_text()
    assert "twice_fib" not in text and "geo.rps" in text
    assert main(["emit", "--store", str(store), "--module", "nope", "--llvm-ir", str(ll)]) == 1
    assert "no module named nope" in capsys.readouterr().err
    assert main(["emit", "--store", str(store)]) == 1
    assert "nothing to write" in capsys.readouterr().err


def test_run_defaults_to_the_jit(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc run` without --backend uses the JIT (rpsc.backends.llvm.jit is importable) and prints the result."""
    from rpsc.driver.commands.run import make_engine
    from rpsc.backends.llvm.jit import JitEngine

    modules = ir_modules(rpsrt.load_store(str(store)))
    engine = make_engine(None, str(store), modules, None)
    try:
        assert isinstance(engine, JitEngine)
    finally:
        engine.close()
    assert main(["run", "--store", str(store), "half", "3"]) == 0
    assert capsys.readouterr().out.strip() == "1.5"
