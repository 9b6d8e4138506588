"""Adversarial edge cases of the store format: awkward strings, OID-like strings, floats, big ints, mtimes,
odd object shapes and hand-edited files, each dumped with `rpsrt.dump_store` and loaded back with
`rpsrt.load_store` (or loaded from a hand-edited file), compared structurally and at the text level."""

from __future__ import annotations

import math
import os
import shutil
import struct
from pathlib import Path

import pytest
import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.errors import StoreError
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.model.values import VClosure, VRaw


def _heap_with(comps: list[object], *, mtime: float | None = None):  # type: ignore[no-untyped-def]
    """A fresh heap with one rooted object, in a space of its own, whose components are `comps`."""
    heap = new_heap()
    sp = heap.create_space()
    obj = heap.create(heap[wk.OBJECT], space=sp, mtime=mtime)
    heap.roots.add(obj)
    obj.comps = list(comps)
    return heap, obj


def _round_trip(heap, folder: Path):  # type: ignore[no-untyped-def]
    """Dump, load, compare structurally; the loaded heap."""
    rpsrt.dump_store(heap, folder)
    again = rpsrt.load_store(folder)
    assert heap.difference(again) is None
    return again


def _space_text(folder: Path, obj) -> str:  # type: ignore[no-untyped-def]
    return (folder / "persistore" / f"sp{obj.space.oid}-rps.json").read_text(encoding="utf-8")


STRINGS = ["", "\x00", "\x01\x1f", "\x7f", "\u2028\u2029", "\ufeff", "°∈", "😀𝄞", "a\"b\\c/d", "\b\f\n\r\t",
           "\n//+ob_8J6vNYtP5E800eCr5q\n}", "//-ob", "\U0010ffff", "_", "__", "_x"]


def test_every_escape_class_round_trips(tmp_path: Path):
    """Control characters, DEL, U+2028/9, BOM, non-BMP, quotes and backslashes, framing look-alikes and strings
    starting with `_` come back unchanged."""
    heap, obj = _heap_with(STRINGS)
    again = _round_trip(heap, tmp_path)
    assert again[obj.oid].comps == STRINGS


def test_strings_are_written_as_jsoncpp_does(tmp_path: Path):
    """The text escapes control characters (\\u0000 style or the short escapes), writes DEL raw, every other
    non-ASCII character as lowercase \\uXXXX (non-BMP as a surrogate pair) and boxes `_` strings as {"str": ...}."""
    heap, obj = _heap_with(["\x00", "\x1f", "\x7f", "\u2028", "😀", "\b\f\n\r\t", "_8J6vNYtP5E800eCr5q"])
    rpsrt.dump_store(heap, tmp_path)
    text = _space_text(tmp_path, obj)
    for piece in ['"\\u0000"', '"\\u001f"', '"\x7f"', '"\\u2028"', '"\\ud83d\\ude00"', '"\\b\\f\\n\\r\\t"',
                  '"str" : "_8J6vNYtP5E800eCr5q"']:
        assert piece in text, piece
    block = text.split(f"//+ob{obj.oid}")[1].split("\n", 1)[1].split(f"//-ob{obj.oid}")[0]
    assert block.isascii()  # the object's JSON text (framing lines may hold raw UTF-8 names)


@pytest.mark.parametrize("text", ["\ud800", "\udfff", "a\ud83d", "\ud83d\ude00"])
def test_lone_surrogate_is_a_clear_dump_error(tmp_path: Path, text: str):
    """A string holding a lone surrogate (UTF-8 cannot encode it; two halves would come back as one other
    character) is refused with a StoreError naming the object, and no store is written."""
    heap, obj = _heap_with(["ok", text])
    with pytest.raises(StoreError) as info:
        rpsrt.dump_store(heap, tmp_path / "st")
    assert "surrogate" in str(info.value) and str(obj.oid) in str(info.value)
    assert not (tmp_path / "st" / "rps_manifest.json").exists()


def test_lone_surrogate_in_an_object_name_is_a_clear_dump_error(tmp_path: Path):
    """A lone surrogate in the `name` attribute (which also goes on the framing lines) is a StoreError too,
    not a UnicodeEncodeError traceback."""
    heap, obj = _heap_with([])
    obj.attrs[heap[wk.NAME]] = "bad\udc80name"
    with pytest.raises(StoreError, match="surrogate"):
        rpsrt.dump_store(heap, tmp_path)


def _edited_store(tmp_path: Path, replacement: str):  # type: ignore[no-untyped-def]
    """A dumped store whose one component placeholder is replaced by `replacement` in the space file's text."""
    heap, obj = _heap_with(["PLACEHOLDER"])
    other = heap.create(heap[wk.OBJECT], space=obj.space)
    heap.roots.add(other)
    rpsrt.dump_store(heap, tmp_path)
    path = tmp_path / "persistore" / f"sp{obj.space.oid}-rps.json"
    text = path.read_text(encoding="utf-8")
    assert text.count('"PLACEHOLDER"') == 1
    path.write_text(text.replace('"PLACEHOLDER"', replacement.replace("OTHER", str(other.oid))), encoding="utf-8")
    return obj, other, path


@pytest.mark.parametrize("escape", ['"\\ud800"', '"a\\udfffb"', '["x", {"k": "\\udbff"}]'])
def test_lone_surrogate_escape_in_a_store_is_a_located_load_error(tmp_path: Path, escape: str):
    """A `\\udXXX` escape without its pair in a space file is a StoreError with the file, line and object."""
    obj, _other, path = _edited_store(tmp_path, escape)
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(tmp_path)
    msg = str(info.value)
    assert "surrogate" in msg and f"{path}:" in msg and str(obj.oid) in msg


def test_surrogate_pair_escape_loads_as_one_character(tmp_path: Path):
    """A proper surrogate-pair escape (what the dumper writes for non-BMP text) loads as that character."""
    obj, _other, _path = _edited_store(tmp_path, '"\\ud83d\\ude00"')
    assert rpsrt.load_store(tmp_path)[obj.oid].comps == ["😀"]


# Bare 19-character strings starting with `_`: an object reference when shaped like an OID (base-62 digits),
# which must then be valid and known; any other string stays a string.
@pytest.mark.parametrize("bare, expect", [
    ('"OTHER"', "other"),
    ('"_1Io89yIORqn02SXx4p"', "system"),                 # upstream's RefPerSys_system, in new_heap()
    ('"_8J6vNYtP5E800eCr5-"', "_8J6vNYtP5E800eCr5-"),    # 19 chars, not all base 62: a string
    ('"_0000000000000000000"', "_0000000000000000000"),  # 20 chars: a string
    ('"_8J6vNYtP5E800eCr5"', "_8J6vNYtP5E800eCr5"),      # 18 chars: a string
    ('"_zzzzzzzzzzzzzzzzzz"', StoreError),               # OID-shaped, numbers out of range
    ('"_00000000000000000a"', StoreError),               # OID-shaped, hi below the minimum
    ('"_9zzzzzzzzzzzzzzzzz"', StoreError),
    ('"_4PKAMweUDrC00MmJyy"', StoreError),               # valid but unknown: dangling
    ('{"string": "_8J6vNYtP5E800eCr5q"}', "_8J6vNYtP5E800eCr5q"),
    ('{"str": "_zzzzzzzzzzzzzzzzzz"}', "_zzzzzzzzzzzzzzzzzz"),
    ('{"string": "plain"}', "plain"),
    ('{"string": 5}', VRaw),                             # not a string box: kept verbatim
    ('{"string": "a", "str": "b"}', VRaw),
])
def test_oid_like_strings_load_as_specified(tmp_path: Path, bare: str, expect: object):
    """§4 of STORE_FORMAT.md: OID-shaped strings are references (valid and known, else a located error),
    others are strings; `{"string": s}` and `{"str": s}` with one member are strings whatever s looks like."""
    obj, other, path = _edited_store(tmp_path, bare)
    if expect is StoreError:
        with pytest.raises(StoreError) as info:
            rpsrt.load_store(tmp_path)
        assert f"{path}:" in str(info.value) and str(obj.oid) in str(info.value)
        return
    got = rpsrt.load_store(tmp_path)[obj.oid].comps[0]
    if expect == "other":
        assert got.oid == other.oid
    elif expect == "system":
        assert str(got.oid) == "_1Io89yIORqn02SXx4p"
    elif expect is VRaw:
        assert type(got) is VRaw
    else:
        assert got == expect


def test_oid_like_strings_round_trip_as_strings(tmp_path: Path):
    """Strings that look like OIDs, valid or not, known or not, are written boxed and read back as strings,
    next to a real reference to the object they name."""
    heap, obj = _heap_with([])
    texts = [str(obj.oid), str(Oid.random()), "_zzzzzzzzzzzzzzzzzz", "_8J6vNYtP5E800eCr5q", "_8J6vNYtP5E800eCr5-"]
    obj.comps = [*texts, obj]
    again = _round_trip(heap, tmp_path)
    comps = again[obj.oid].comps
    assert comps[:-1] == texts and all(type(c) is str for c in comps[:-1])
    assert comps[-1] is again[obj.oid]


FLOATS = {
    1e-320: "9.9998886718268301e-321", 5e-324: "4.9406564584124654e-324",
    1.7976931348623157e308: "1.7976931348623157e+308", 0.1: "0.10000000000000001", -0.0: "-0.0",
    1e16: "10000000000000000.0", 123456789012345680.0: "1.2345678901234568e+17", 3.0: "3.0",
    2.0**63: "9.2233720368547758e+18", -(2.0**64): "-1.8446744073709552e+19", 1e300: "1.0000000000000001e+300",
    2.2250738585072014e-308: "2.2250738585072014e-308",
}


def test_floats_round_trip_bitwise_and_print_as_percent_17g(tmp_path: Path):
    """Subnormals, the largest double, 0.1, -0.0, integral floats (which stay floats) and floats at the int64
    and uint64 edges come back with the same bits, written with %.17g plus `.0` when integral."""
    values = list(FLOATS)
    heap, obj = _heap_with(values)
    again = _round_trip(heap, tmp_path)
    got = again[obj.oid].comps
    assert all(type(g) is float for g in got)
    assert [struct.pack("<d", g) for g in got] == [struct.pack("<d", v) for v in values]
    text = _space_text(tmp_path, obj)
    for written in FLOATS.values():
        assert f"\t{written}" in text, written


def test_non_finite_floats(tmp_path: Path):
    """Infinities round-trip (written 1e+9999 as jsoncpp does); NaN is written null and reads back as null."""
    heap, obj = _heap_with([math.inf, -math.inf, math.nan])
    rpsrt.dump_store(heap, tmp_path)
    assert rpsrt.load_store(tmp_path)[obj.oid].comps == [math.inf, -math.inf, None]


INTS = [2**62 - 1, -(2**62), 2**62, -(2**62) - 1, 2**63 - 1, -(2**63), 2**63 - 2, -(2**63) + 1, 0, -1]
#: Ints a store may not hold: beyond int64 (RefPerSys's and jsoncpp's range).
BEYOND = [2**63, -(2**63) - 1, 2**64 - 1, 2**64, -(2**64) - 1, 10**30, -(10**30), 10**4000]


def test_ints_at_the_62_and_63_bit_edges_round_trip_exactly(tmp_path: Path):
    """Ints at the 2**62 and 2**63 edges of int64 come back as the same ints, never as floats, in components,
    attributes (the loader's fast path), symbol values and closure environments."""
    heap, obj = _heap_with(INTS)
    attrs = [heap.create(heap[wk.OBJECT], space=obj.space) for _ in INTS]
    for a, v in zip(attrs, INTS, strict=True):
        obj.attrs[a] = v
    fn = heap.create(heap[wk.OBJECT], space=obj.space)
    obj.comps.append(VClosure(fn, list(INTS)))
    again = _round_trip(heap, tmp_path)
    o = again[obj.oid]
    assert o.comps[:-1] == INTS and all(type(v) is int for v in o.comps[:-1])
    assert [o.attrs[again[a.oid]] for a in attrs] == INTS
    assert all(type(o.attrs[again[a.oid]]) is int for a in attrs)
    assert list(o.comps[-1].env) == INTS and all(type(v) is int for v in o.comps[-1].env)


PLACEHOLDER = 1234567898765


@pytest.mark.parametrize("where", ["comps", "attrs", "closure", "vectval"])
@pytest.mark.parametrize("big", BEYOND, ids=lambda v: f"{str(v)[:6]}_{len(str(v))}")
def test_ints_beyond_64_bits_are_refused_where_they_stand(tmp_path: Path, where: str, big: int):
    """A store holding an int beyond int64 (in components, an attribute, a closure's environment or a value
    vector) is refused with `file:line: error:` at the int's line, never loaded as a float or a traceback."""
    heap, obj = _heap_with([])
    if where == "comps":
        obj.comps = [PLACEHOLDER]
    elif where == "attrs":
        obj.attrs[heap.create(heap[wk.OBJECT], space=obj.space)] = PLACEHOLDER
    elif where == "closure":
        obj.comps = [VClosure(heap.create(heap[wk.OBJECT], space=obj.space), [PLACEHOLDER])]
    else:
        obj.payload = rpsrt.PayloadVectVal([PLACEHOLDER])
    rpsrt.dump_store(heap, tmp_path)
    path = tmp_path / "persistore" / f"sp{obj.space.oid}-rps.json"
    text = path.read_text()
    assert text.count(str(PLACEHOLDER)) == 1
    line = text[:text.index(str(PLACEHOLDER))].count("\n") + 1
    path.write_text(text.replace(str(PLACEHOLDER), str(big)))
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: error: "), message
    if len(str(big)) < 4000:
        assert "beyond 64 bits" in message and str(obj.oid) in message, message


@pytest.mark.parametrize("big", BEYOND[:6], ids=str)
def test_ints_beyond_64_bits_are_refused_by_the_dumper(tmp_path: Path, big: int):
    """The dumper refuses what the loader would refuse: an int beyond int64 is a StoreError naming the object,
    and nothing is written (so rpsc never writes a store it cannot read back)."""
    heap, obj = _heap_with([big])
    with pytest.raises(StoreError, match="beyond int64") as info:
        rpsrt.dump_store(heap, tmp_path / "st")
    assert str(obj.oid) in str(info.value)
    assert not (tmp_path / "st" / "rps_manifest.json").exists()


def test_int_too_long_for_text_is_a_clear_dump_error(tmp_path: Path):
    """An int of more digits than Python turns into text (4300) is a StoreError naming the object, not a
    ValueError traceback; nothing is written."""
    heap, obj = _heap_with([10**4299, 10**4301])
    with pytest.raises(StoreError, match="cannot dump a value") as info:
        rpsrt.dump_store(heap, tmp_path / "st")
    assert str(obj.oid) in str(info.value)
    assert not (tmp_path / "st" / "rps_manifest.json").exists()


def test_big_float_next_to_edge_ints_keeps_both_types(tmp_path: Path):
    """An object holding integral floats beyond int64 (which orjson could take for big ints) next to the int64
    edges is decoded exactly: the floats stay floats, the ints ints."""
    heap, obj = _heap_with([2.0**64, 2**63 - 1, 1e20, -(2**63), -(2.0**63), 1.8e19])
    again = _round_trip(heap, tmp_path)
    assert [type(v) for v in again[obj.oid].comps] == [float, int, float, int, float, float]


@pytest.mark.parametrize("mtime", [-1.5, -1e9, 0.0, 0.01, 253402300799.0, 1e15, 4102444800.25])
def test_mtime_edges_round_trip(tmp_path: Path, mtime: float):
    """Negative, zero, far-future (year 9999) and huge modification times round-trip (two decimals)."""
    heap, obj = _heap_with([], mtime=mtime)
    assert _round_trip(heap, tmp_path)[obj.oid].mtime == mtime


def test_mtime_is_written_with_two_decimals(tmp_path: Path):
    """An mtime with more than two decimals is written `%.2f` (as upstream) and so comes back rounded."""
    heap, obj = _heap_with([], mtime=1.125)
    rpsrt.dump_store(heap, tmp_path)
    assert '"mtime": 1.12,' in _space_text(tmp_path, obj)
    assert rpsrt.load_store(tmp_path)[obj.oid].mtime == 1.12


def test_empty_and_huge_attribute_lists(tmp_path: Path):
    """An object with no attributes and no components, and one with 3,000 attributes, round-trip."""
    heap, obj = _heap_with([])
    empty = heap.create(heap[wk.OBJECT], space=obj.space)
    heap.roots.add(empty)
    for i in range(3000):
        obj.attrs[heap.create(heap[wk.OBJECT], space=obj.space)] = i
    again = _round_trip(heap, tmp_path)
    assert len(again[obj.oid].attrs) == 3000 and not again[empty.oid].attrs and not again[empty.oid].comps


@pytest.mark.parametrize("name", ["a\u2028b", "x\x85y", "c\rd", "\ufeffz", "n\n//+ob_8J6vNYtP5E800eCr5q\n}",
                                  "°∈!//$ h:1", "é" * 300])
def test_awkward_object_names_round_trip(tmp_path: Path, name: str):
    """Names go on the framing lines too: line separators, CR, BOM, a fake start line, framing punctuation and
    a long non-ASCII name neither break the framing nor change the name."""
    heap, obj = _heap_with([1])
    obj.attrs[heap[wk.NAME]] = name
    again = _round_trip(heap, tmp_path)
    assert again[obj.oid].attrs[again[wk.NAME]] == name


def test_object_whose_class_is_itself(tmp_path: Path):
    """An object that is its own class is written and read back with the cycle intact."""
    heap, obj = _heap_with([])
    obj.cls = obj
    again = _round_trip(heap, tmp_path)
    assert again[obj.oid].cls is again[obj.oid]


def test_space_file_under_another_spaces_name(tmp_path: Path):
    """Two space files swapped (each named after the other's space) is a StoreError at the prologue, naming
    both spaces, never a silently mixed heap."""
    heap, obj = _heap_with([])
    sp2 = heap.create_space()
    heap.roots.add(heap.create(heap[wk.OBJECT], space=sp2))
    rpsrt.dump_store(heap, tmp_path)
    a = tmp_path / "persistore" / f"sp{obj.space.oid}-rps.json"
    b = tmp_path / "persistore" / f"sp{sp2.oid}-rps.json"
    shutil.move(a, tmp_path / "a")
    shutil.move(b, a)
    shutil.move(tmp_path / "a", b)
    with pytest.raises(StoreError) as info:
        rpsrt.load_store(tmp_path)
    msg = str(info.value)
    assert "spaceid" in msg and str(obj.space.oid) in msg and str(sp2.oid) in msg


def test_space_file_missing_is_reported_at_the_manifest(tmp_path: Path):
    """A space file renamed away is a StoreError at the manifest line listing it."""
    heap, obj = _heap_with([])
    rpsrt.dump_store(heap, tmp_path)
    path = tmp_path / "persistore" / f"sp{obj.space.oid}-rps.json"
    os.rename(path, tmp_path / "persistore" / f"sp{Oid.random()}-rps.json")
    with pytest.raises(StoreError, match=r"rps_manifest\.json:\d+: error: missing space file"):
        rpsrt.load_store(tmp_path)


def test_deeply_nested_function_round_trips(tmp_path: Path):
    """A function nested as deeply as the checker allows (a 398-term sum: 400 levels, about 800 JSON levels
    once stored) compiles, dumps and loads back to the same IR; one level more is a located compile error,
    never a RecursionError."""
    from rpsc import CompileError
    from rpsc.frontend.check import MAX_NESTING
    from rpsc.driver.pipeline import compile_sources, ir_modules

    def source(terms: int) -> str:
        return "module deep;\nfn f(x: int) -> int { return " + " + ".join(["x"] * terms) + "; }\n"

    heap = compile_sources([("deep.rps", source(MAX_NESTING - 2))])
    before = ir_modules(heap)
    rpsrt.dump_store(heap, tmp_path)
    assert repr(ir_modules(rpsrt.load_store(tmp_path))) == repr(before)
    for terms in (MAX_NESTING - 1, 5000):
        with pytest.raises(CompileError, match=r"deep\.rps:2:4: error: function `f` is nested too deeply"):
            compile_sources([("deep.rps", source(terms))])
