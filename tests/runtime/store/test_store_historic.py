"""Historic spellings: the symbol members upstream's dumper wrote on 2019-12-30 (`name`, `symval`, `weak`)
load and round-trip in today's spelling; a payload missing a member says which, never a Python exception name.

The fixture `tests/data/store-symbols-2019-12-30/` is written by hand for these tests (nothing copied from
upstream): nine objects in format 2019A, four symbols in the one-day spelling.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rpsrt
from rpsrt.errors import StoreError
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.store.writer import dump_store

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "store-symbols-2019-12-30"
SPACE = "persistore/sp_8J6vNYtP5E800eCr5q-rps.json"
CLASS, SYMBOL = "_41OFI3r0S1t03qdB2E", "_36I1BY2NetN03WjrOv"


def _symbols(heap: rpsrt.Heap) -> dict[str, tuple[str, object, bool]]:
    out = {}
    for o in heap.objects.values():
        if isinstance(o.payload, rpsrt.PayloadSymbol):
            v = o.payload.value
            out[str(o.oid)] = (o.payload.name, str(v.oid) if isinstance(v, rpsrt.RpsObject) else v,
                               o.payload.weak)
    return out


EXPECTED = {
    "_0jdbikGJFq100dgX1n": ("comment", None, True),
    "_1EBVGSfW2m200z18rx": ("name", 42, False),
    "_3Q3hJsSgCDN03GTYW5": ("symbol", SYMBOL, False),
    "_6fmq7pZkmNd03UyPuO": ("class", CLASS, False),
}


def test_2019_12_30_symbol_spelling_loads() -> None:
    """`name`/`symval`/`weak` are read as the symbol's name, value and weakness, and none is left as an unknown
    member of the object."""
    heap = rpsrt.load_store(str(FIXTURE))
    assert _symbols(heap) == EXPECTED
    for text in EXPECTED:
        assert heap[Oid.parse(text)].extra is None


def test_2019_12_30_store_round_trips_in_todays_spelling(tmp_path: Path) -> None:
    """Dumped, the fixture's symbols are written `symb_name`/`symb_val`/`symb_weak`; loaded back, the heap is
    the same, and a second dump is byte-identical."""
    heap = rpsrt.load_store(str(FIXTURE))
    dump_store(heap, tmp_path / "a")
    text = (tmp_path / "a" / SPACE).read_text()
    assert '"symb_name" : "comment"' in text and '"symb_weak" : true' in text and '"symb_val" : 42' in text
    assert '"symval"' not in text and '"weak"' not in text and '"name" : "' not in text
    again = rpsrt.load_store(str(tmp_path / "a"))
    assert heap.difference(again) is None
    assert _symbols(again) == EXPECTED
    dump_store(again, tmp_path / "b")
    for rel in ("rps_manifest.json", SPACE):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


@pytest.mark.parametrize("spelling", ["2019-12-30", "today"])
def test_symbol_payload_without_its_name_says_what_is_missing(tmp_path: Path, spelling: str) -> None:
    """A symbol payload with no name (in either spelling) is `symbol payload lacks symb_name` at the object's
    payload line, with no Python exception name in the message."""
    top = tmp_path / "st"
    if spelling == "today":
        dump_store(new_heap(), top)
        old = '"payload" : "symbol",\n "symb_name" : "comment"\n'
    else:
        shutil.copytree(FIXTURE, top)
        old = ' "name" : "comment",\n'
    path = top / SPACE
    text = path.read_text()
    assert text.count(old) == 1
    text = text.replace(old, '"payload" : "symbol"\n' if spelling == "today" else "")
    path.write_text(text)
    obj = text.index("//+ob_0jdbikGJFq100dgX1n")
    line = text.count("\n", 0, text.index('"payload"', obj)) + 1
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(str(top))
    assert str(info.value) == f"{path}:{line}: error: symbol payload lacks symb_name (object _0jdbikGJFq100dgX1n)"


BAD_PAYLOADS = {
    # (text in the fixture's space file, its replacement) -> what the message says
    "classinfo without superclass": ((' "payload" : "class",\n "superclass" : "_5yhJGgxLwLp00X0xEQ"\n}\n'
                                      '//-ob_36I1BY2NetN03WjrOv', ' "payload" : "class"\n}\n//-ob_36I1BY2NetN03WjrOv'),
                                     "classinfo payload lacks class_super"),
    "methodict is a number": ((' "methodict" : [],\n "mtime" : 1577700000.0,\n "oid" : "_36I1BY2NetN03WjrOv"',
                               ' "methodict" : 3,\n "mtime" : 1577700000.0,\n "oid" : "_36I1BY2NetN03WjrOv"'),
                              "class_methodict is the number 3, not an array"),
    "symbol name is a number": ((' "name" : "class",', ' "name" : 7,'), "symbol name is the number 7, not a string"),
    "weak is a string": ((' "weak" : true', ' "weak" : "yes"'), "weak is the string 'yes', not true or false"),
    "payload kind is an array": ((' "payload" : "space"', ' "payload" : []'),
                                 "payload is an array, not the name of a payload kind"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_payload_member_of_the_wrong_kind_is_named(tmp_path: Path, case: str) -> None:
    """A payload member that is missing or of the wrong JSON kind is named in a located error, never with a
    Python exception name (KeyError, TypeError)."""
    (old, new), message = BAD_PAYLOADS[case]
    top = tmp_path / "st"
    shutil.copytree(FIXTURE, top)
    path = top / SPACE
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(str(top))
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:")
    assert "Error" not in info.value.message
