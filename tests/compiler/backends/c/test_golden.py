"""Generated C: the golden text of a small module, also fed to its real consumer, the C compiler."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rpsc.backends.c.emit import emit_c
from rpsrt.plugins import include_dir

from .util import STRICT_CFLAGS, llvm_test_helper

GOLDEN = Path(__file__).parent / "golden"


def _irfactory():  # type: ignore[no-untyped-def]
    """The LLVM tests' hand-built IR with fixed OIDs (tests/compiler/backends/llvm/irfactory.py): the same fib as fib.ll."""
    return llvm_test_helper("irfactory")


def _fib_c() -> str:
    f = _irfactory()
    return emit_c(f.module([f.fib()], name="golden")).text


def test_golden_fib_c(update_golden: bool) -> None:
    """fib's generated C matches the golden file (refresh: RPSC_UPDATE_GOLDEN=1 or --update-golden)."""
    text = _fib_c()
    path = GOLDEN / "fib.c"
    if update_golden:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with RPSC_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


def test_golden_c_compiles_with_the_strict_flags(tmp_path: Path) -> None:
    """The golden C compiles with -Wall -Wextra -Werror and UBSan into an object exporting the function."""
    obj = tmp_path / "fib.o"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, *STRICT_CFLAGS, f"-I{include_dir()}", "-c", str(GOLDEN / "fib.c"), "-o", str(obj)],
                   check=True)
    symbols = subprocess.run(["nm", "-g", "--defined-only", str(obj)], capture_output=True, text=True,
                             check=True).stdout
    assert _irfactory().fib().symbol in symbols
    assert "rps_plugin_init" in symbols and "rps_plugin_manifest" in symbols
