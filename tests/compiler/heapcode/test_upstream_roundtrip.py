"""Code compiled into upstream's 2024A store survives upstream RefPerSys: it loads, dumps it back unchanged,
and rpsc runs every example from upstream's re-dump. Needs the kit's binary (RPSC_UPSTREAM_REFPERSYS=OUT of
its build.sh) and ../shared (override with RPSC_SHARED_DIR); skipped otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import rpsrt
import strategies_rps as srps  # tests/ is on sys.path (tests/lowering is a package)
from hypothesis import HealthCheck, given, settings
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsc.frontend.printer import print_module
from rpsc.heapcode.classes import find_code_classes, registered_modules
from rpsc.ir.ir import BOOL, F64, I64

from .conftest import REPO, example_sources

SHARED = Path(os.environ.get("RPSC_SHARED_DIR", REPO.parent / "shared"))
STORE_2024A = SHARED / "refpersys-stores" / "2026-08-16-format2024A"
KIT_SCRIPTS = SHARED / "upstream-refpersys"
VALUE_WARNING = re.compile(r"strange|unimplemented Rps_Value|bad closure|partly unimplemented|unknown oid")


def _kit() -> Path:
    out = os.environ.get("RPSC_UPSTREAM_REFPERSYS")
    if not out or not (Path(out) / "RefPerSys" / "refpersys").is_file():
        pytest.skip("RPSC_UPSTREAM_REFPERSYS does not name a built upstream kit")
    if not (KIT_SCRIPTS / "run.sh").is_file() or not (STORE_2024A / "rps_manifest.json").is_file():
        pytest.skip(f"{SHARED} lacks the upstream kit scripts or the 2024A store")
    return Path(out)


def _outcomes(heap: rpsrt.Heap) -> dict[str, object]:
    """Every function of every module called once with fixed arguments: name -> result or trap kind."""
    samples = {I64: 7, F64: 2.5, BOOL: True}
    out: dict[str, object] = {}
    modules = ir_modules(heap)
    with Interpreter(modules) as it:
        for m in modules:
            for f in m.functions:
                args = [samples[t] for t in f.ref.params]
                try:
                    out[f"{m.name}.{f.ref.name}"] = it.call(f.ref.name, args)
                except rpsrt.Trap as trap:
                    out[f"{m.name}.{f.ref.name}"] = ("trap", trap.kind)
    return out


def test_upstream_loads_and_dumps_back_compiled_examples(tmp_path: Path) -> None:
    """Upstream loads the 2024A store with every example compiled in (exit 0, no warning about a value),
    its re-dump equals rpsc's dump (provenance and mtimes masked), and the IR and results read back from
    upstream's re-dump are those of rpsc's store."""
    kit = _kit()
    store = tmp_path / "store"
    shutil.copytree(STORE_2024A, store)
    for p in [store, *store.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    heap = rpsrt.load_store(str(store))
    roots = len(heap.roots)
    compile_sources(example_sources(), heap)
    assert len(heap.roots) == roots  # upstream's root count is compiled into its binary
    rpsrt.dump_store(heap, str(store))
    redump = tmp_path / "redump"
    run = subprocess.run([str(KIT_SCRIPTS / "run.sh"), str(kit), str(store), str(redump)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not VALUE_WARNING.search(run.stderr), VALUE_WARNING.search(run.stderr)
    diff = subprocess.run([str(KIT_SCRIPTS / "normdiff.sh"), "--ignore-mtime", str(store), str(redump)],
                          capture_output=True, text=True, timeout=120)
    assert diff.returncode == 0, diff.stdout[-3000:]
    assert len(list((store / "persistore").glob("*.json"))) == len(list((redump / "persistore").glob("*.json")))
    back = rpsrt.load_store(str(redump))
    cc = find_code_classes(back)
    assert cc is not None and {m.attrs[cc.name] for m in registered_modules(cc)} >= {"numeric", "shapes", "events"}
    mine, theirs = rpsrt.load_store(str(store)), back
    assert [repr(f) for m in ir_modules(theirs) for f in m.functions] == \
        [repr(f) for m in ir_modules(mine) for f in m.functions]
    assert _outcomes(theirs) == _outcomes(mine)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(module=srps.function_modules())
def test_upstream_keeps_generated_code(tmp_path_factory: pytest.TempPathFactory, module) -> None:  # type: ignore[no-untyped-def]
    """Random checked modules (every statement and expression form, any literal) compiled into the 2024A
    store: upstream loads them without a value warning and its re-dump gives rpsc back the same IR."""
    kit = _kit()
    tmp = tmp_path_factory.mktemp("gen")
    store = tmp / "store"
    shutil.copytree(STORE_2024A, store)
    for p in [store, *store.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    heap = rpsrt.load_store(str(store))
    compile_sources([("gen.rps", print_module(module))], heap)
    rpsrt.dump_store(heap, str(store))
    redump = tmp / "redump"
    run = subprocess.run([str(KIT_SCRIPTS / "run.sh"), str(kit), str(store), str(redump)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not VALUE_WARNING.search(run.stderr)
    assert [repr(f) for m in ir_modules(rpsrt.load_store(str(redump))) for f in m.functions] == \
        [repr(f) for m in ir_modules(heap) for f in m.functions]
