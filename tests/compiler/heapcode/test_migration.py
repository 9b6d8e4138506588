"""Stores written by rpsc 0.1.0 (code as instances, modules as roots) still load, and migrate one way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.cli import main
from rpsc.heapcode.classes import find_code_classes, registered_modules
from rpsc.heapcode.encode import module_objects
from rpsc.heapcode.migrate import old_modules
from rpsrt.model.values import VClosure, VInstance

from .conftest import EXAMPLES, REPO, fingerprint

FIXTURE = REPO / "tests" / "data" / "store-rpsc-0.1.0"
NOTICE = "rpsc: note: migrated 3 modules of this store from the rpsc 0.1.0 encoding"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A writable copy of the committed rpsc 0.1.0 store (`rpsc store new` + the examples compiled)."""
    dst = tmp_path / "old"
    shutil.copytree(FIXTURE, dst)
    return dst


def _instances(heap: rpsrt.Heap) -> int:
    """How many attribute values of rpsc's code objects are still instances."""
    cc = find_code_classes(heap)
    assert cc is not None
    return sum(isinstance(v, VInstance) for o in heap.objects.values() for v in o.attrs.values())


def test_fixture_is_an_rpsc_0_1_0_store() -> None:
    """The committed fixture really is in the old encoding: instances, and its modules among the roots."""
    heap = rpsrt.load_store(str(FIXTURE))
    old = old_modules(heap)
    assert {m.attrs[heap["_1EBVGSfW2m200z18rx"]] for m in old} == {"numeric", "events", "shapes"}
    assert all(m in heap.roots for m in old) and _instances(heap) > 0


def test_run_and_show_work_on_the_old_store_without_writing_it(old_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc run` and `rpsc show` read an unmigrated store (migrated in memory) and leave its files alone."""
    before = fingerprint(old_store)
    assert main(["run", "--store", str(old_store), "--backend", "interp", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out == "6\n"
    assert main(["show", "--store", str(old_store), "numeric.gcd"]) == 0
    assert "fn gcd(a: int, b: int) -> int {" in capsys.readouterr().out
    assert fingerprint(old_store) == before


def test_store_dump_migrates_with_a_notice(old_store: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc store dump` rewrites the code once (one-line notice), keeping OIDs; the result runs and shows."""
    old_heap = rpsrt.load_store(str(old_store))
    old_oids = {n: o.oid for n, o in module_objects(old_heap, find_code_classes(old_heap)).items()}  # type: ignore[arg-type]
    new = tmp_path / "new"
    assert main(["store", "dump", str(old_store), str(new)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(NOTICE) and err.count("\n") == 1
    heap = rpsrt.load_store(str(new))
    cc = find_code_classes(heap)
    assert cc is not None and not old_modules(heap) and _instances(heap) == 0
    mods = module_objects(heap, cc)
    assert {n: o.oid for n, o in mods.items()} == old_oids
    assert set(registered_modules(cc)) == set(mods.values()) and not set(mods.values()) & heap.roots
    assert isinstance(mods["numeric"].attrs[cc.attr["decls"]], VClosure)
    assert main(["run", "--store", str(new), "--backend", "interp", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out == "6\n"
    assert main(["show", "--store", str(new), "shapes"]) == 0
    assert "module shapes" in capsys.readouterr().out
    assert main(["store", "dump", str(new), str(tmp_path / "again")]) == 0
    assert capsys.readouterr().err == ""  # nothing left to migrate


def test_compile_migrates_with_a_notice(old_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The next `rpsc compile` into an old store migrates it (notice once), then compiles as usual."""
    src = old_store.parent / "extra.rps"
    src.write_text("module extra;\nrequires numeric;\nfn g(a: int) -> int { return gcd(a, 18); }\n")
    assert main(["compile", str(src), "--store", str(old_store)]) == 0
    assert capsys.readouterr().err.startswith(NOTICE)
    assert main(["run", "--store", str(old_store), "--backend", "interp", "g", "12"]) == 0
    assert capsys.readouterr().out == "6\n"
    assert main(["compile", str(src), "--store", str(old_store)]) == 0
    assert NOTICE not in capsys.readouterr().err
    heap = rpsrt.load_store(str(old_store))
    assert not old_modules(heap) and _instances(heap) == 0
    assert main(["compile", *map(str, sorted(EXAMPLES.glob("*.rps"))), "--store", str(old_store)]) == 0


def test_build_migrates_with_a_notice(old_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc build` on an old store (which it writes, recording its plugins) migrates it with the notice, and
    the store keeps its three modules, now in the current encoding, and runs under the C backend."""
    assert main(["build", "--store", str(old_store)]) == 0
    assert NOTICE in capsys.readouterr().err
    heap = rpsrt.load_store(str(old_store))
    cc = find_code_classes(heap)
    assert cc is not None and not old_modules(heap) and _instances(heap) == 0
    assert set(module_objects(heap, cc)) == {"numeric", "events", "shapes"}
    assert main(["run", "--store", str(old_store), "--backend", "c", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out == "6\n"

