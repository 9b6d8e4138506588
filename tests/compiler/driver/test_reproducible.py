"""Reproducible builds (issue 12): the same sources compiled into fresh stores give the same OIDs, C and .so."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.build import BuildOptions, build_store
from rpsc.driver.cli import main
from rpsc.heapcode.oids import Taken, derived_oid
from rpsrt.model.oid import GEN_MAX_LO, Oid

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(str(p) for p in (REPO / "plugins_src").glob("*.rps"))


def _compile_and_build(root: Path) -> Path:
    store = root / "deep" / "store"
    assert main(["compile", *EXAMPLES, "--store", str(store)]) == 0
    build_store(BuildOptions(store=store))
    return store


def _oids(store: Path) -> set[str]:
    return {str(o) for o in rpsrt.load_store(str(store)).objects}


def test_examples_in_two_fresh_stores_give_identical_oids_c_and_plugins(tmp_path: Path):
    """The examples compiled and built into two fresh stores in different folders have the same OIDs,
    byte-identical generated C and headers, and byte-identical plugin .so files."""
    a = _compile_and_build(tmp_path / "one")
    b = _compile_and_build(tmp_path / "two" / "other")
    assert _oids(a) == _oids(b)
    gen_a = sorted(os.listdir(a / "generated"))
    assert gen_a == sorted(os.listdir(b / "generated")) and any(n.endswith("-mod.c") for n in gen_a)
    match, mismatch, errors = filecmp.cmpfiles(a / "generated", b / "generated", gen_a, shallow=False)
    assert not mismatch and not errors and len(match) == len(gen_a)
    sos = sorted(n for n in os.listdir(a / "plugins") if n.endswith(".so"))
    assert len(sos) == 3 and sos == sorted(n for n in os.listdir(b / "plugins") if n.endswith(".so"))
    for n in sos:
        assert (a / "plugins" / n).read_bytes() == (b / "plugins" / n).read_bytes(), n


def test_derived_oids_are_valid_distinct_and_avoid_taken_ones():
    """Derived OIDs are valid RefPerSys ids (text round trip, lo below 2**32), differ by key, are a pure
    function of the key, and skip an id already taken."""
    seen = set()
    for i in range(300):
        oid = derived_oid(("decl", f"m{i % 7}", f"f{i}"))
        assert Oid.parse(str(oid)) == oid and oid.lo < GEN_MAX_LO and oid.hash != 0
        assert derived_oid(("decl", f"m{i % 7}", f"f{i}")) == oid
        seen.add(oid)
    assert len(seen) == 300
    first = derived_oid(("module", "geo"))
    second = derived_oid(("module", "geo"), Taken({first}))
    assert second != first and derived_oid(("module", "geo"), Taken({first}, set())) == second


def test_oids_follow_the_documented_rule_and_explicit_oid_wins(tmp_path: Path):
    """A module's objects get the documented derived OIDs (module, definition, space); an explicit `@OID`
    keeps its own id; a derived id already owned by another object moves on to the next salt."""
    squatter = derived_oid(("decl", "geo", "area"))
    (tmp_path / "other.rps").write_text(f"module other;\nsymbol squat @{squatter};\n")
    explicit = "_0abcdefghij0123456"
    (tmp_path / "geo.rps").write_text(f"module geo;\nfn area(r: float) -> float {{ return 3.0 * r * r; }}\n"
                                      f"fn perimeter @{explicit}(r: float) -> float {{ return 6.0 * r; }}\n")
    store = tmp_path / "st"
    assert main(["compile", str(tmp_path / "other.rps"), "--store", str(store)]) == 0
    assert main(["compile", str(tmp_path / "geo.rps"), "--store", str(store)]) == 0
    heap = rpsrt.load_store(str(store))
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.encode import module_objects

    assert module_objects(heap, find_code_classes(heap))["geo"].oid == derived_oid(("module", "geo"))
    moved = heap[derived_oid(("decl", "geo", "area"), Taken({squatter}))]
    assert "area" in moved.attrs.values()
    assert "perimeter" in heap[Oid.parse(explicit)].attrs.values()
    assert heap.get(derived_oid(("decl", "geo", "perimeter"))) is None
    assert any(sp.oid == derived_oid(("space", "geo")) for sp in heap.spaces)
