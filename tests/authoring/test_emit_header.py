"""`rpsc emit --object OUT.o --header OUT.h`: a C host includes the header, links the object and calls
functions by their readable aliases."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsrt.plugins import include_dir

from .conftest import EXAMPLES

HOST = r"""
#include <stdio.h>
%(before)s
#include "examples.h"
%(after)s

RPSC_DEFINE_RT(100);

int main(void) {
    int64_t g = 0, f = 0, t = 0;
    bool p = false;
    int32_t s1 = numeric_gcd(&g, 1071, 462);
    int32_t s2 = numeric_fib_iter(&f, 90);
    int32_t s3 = numeric_is_prime(&p, 7919);
    printf("%%d %%lld %%d %%lld %%d %%d\n", s1, (long long)g, s2, (long long)f, s3, (int)p);
    int32_t s4 = shapes_tiles(&t, 10, 7, 0);
    printf("%%d %%d %%s %%s %%d\n", s4, s4 == RPS_TRAP_DIVZERO, rpsc_rt.trap_function, rpsc_rt.trap_location,
           rpsc_rt.depth);
    int32_t s5 = numeric_fib(&f, 200);   /* 200 nested calls > the limit of 100 */
    printf("%%d %%d\n", s5 == RPS_TRAP_RECURSION, s5 == RPS_OK);
    return 0;
}
"""


@pytest.fixture(scope="module")
def emitted(examples_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples' object file and header, written by `rpsc emit` into a private folder."""
    out = tmp_path_factory.mktemp("emit")
    assert main(["emit", "--store", str(examples_store), "--object", str(out / "examples.o"),
                 "--header", str(out / "examples.h")]) == 0
    return out


@pytest.mark.parametrize(("compiler", "before", "after"), [
    ("cc", "", ""),                                   # the header alone is enough
    ("cc", '#include "rps/runtime.h"', ""),           # with the runtime header first ...
    ("cc", "", '#include "rps/runtime.h"'),           # ... or after
    ("c++", "", ""),                                  # and from C++
])
def test_a_c_host_calls_functions_by_alias(emitted: Path, tmp_path: Path, compiler: str, before: str,
                                           after: str) -> None:
    """The host compiles warning-free against the header, links the .o and gets gcd, fib_iter, is_prime,
    a division-by-zero trap with its site, and a recursion trap, through the aliases and status codes."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp_path / ("host.cc" if compiler == "c++" else "host.c")
    src.write_text(HOST % {"before": before, "after": after})
    exe = tmp_path / "host"
    std = ["-std=c++17"] if compiler == "c++" else ["-std=c11", "-pedantic"]
    subprocess.run([compiler, *std, "-Wall", "-Wextra", "-Werror", "-I", str(emitted), "-I", str(include_dir()),
                    "-o", str(exe), str(src), str(emitted / "examples.o")], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "0 21 0 2880067194370816120 0 1"
    status, is_divzero, function, location, depth = lines[1].split()
    assert (status, is_divzero, function, depth) == ("1", "1", "tiles", "0")
    shapes = (EXAMPLES / "shapes.rps").read_text().splitlines()
    line = next(n for n, t in enumerate(shapes, 1) if "var across = (w + tile - 1) / tile;" in t)
    assert location.endswith(f"shapes.rps:{line}:{shapes[line - 1].index('(w') + 2}")
    assert lines[2] == "1 0"


def test_header_declares_every_exported_symbol(emitted: Path) -> None:
    """Every global function symbol of the object is declared in the header, and each has one alias."""
    nm = subprocess.run(["nm", "-g", "--defined-only", str(emitted / "examples.o")], capture_output=True,
                        text=True, check=True).stdout
    symbols = {line.split()[-1] for line in nm.splitlines() if " T " in line}
    header = (emitted / "examples.h").read_text()
    declared = {line.split("(")[0].split()[-1] for line in header.splitlines() if line.startswith("int32_t rpsfn_")}
    aliased = [line.split()[2] for line in header.splitlines() if line.startswith("#define ") and "rpsfn_" in line]
    assert symbols and symbols == declared
    assert sorted(aliased) == sorted(declared)
    assert "#define events_tick_gcd rpsfn_" in header and re.search(r"#define RPS_TRAP_DIVZERO +1 ", header)


def test_header_alone_and_errors(examples_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--header works without --object; a folder given as the header is an error that writes nothing."""
    h = tmp_path / "only-numeric.h"
    assert main(["emit", "--store", str(examples_store), "--module", "numeric", "--header", str(h)]) == 0
    text = h.read_text()
    assert "#ifndef RPSC_ONLY_NUMERIC_H" in text and "numeric_gcd" in text and "events_" not in text
    assert main(["emit", "--store", str(examples_store), "--header", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_reserved_parameter_names_and_alias_clashes() -> None:
    """A parameter named like a C keyword is renamed; two functions with one alias keep only the first."""
    from rpsc.backends.llvm.header import c_header
    from rpsc.ir import ir

    def fn(name: str, params: tuple[str, ...], oid: str) -> ir.Function:
        ref = ir.FunctionRef(oid, f"rpsfn_{oid}", name, tuple(ir.I64 for _ in params), ir.VOID, "m")
        return ir.Function(ref, params, [], [], ir.SourceLoc("a.rps", 1, 1))

    a = ir.Module("m1", "a_b", "1.0.0", [], [fn("c", ("int", "x"), "o1")], [], [])
    b = ir.Module("m2", "a", "1.0.0", [], [fn("b_c", ("result",), "o2")], [], [])
    text = c_header([a, b])
    assert "int32_t rpsfn_o1(void *result, int64_t int_, int64_t x);" in text
    assert "int32_t rpsfn_o2(void *result, int64_t result_);" in text
    assert "#define a_b_c rpsfn_o1" in text and "/* no alias a_b_c: it already names rpsfn_o1 */" in text
