"""The encoding of stored code: only values upstream RefPerSys loads and dumps back, resolution stored with
the code (read back by IR construction, not recomputed), and warnings for user values upstream cannot keep."""

from __future__ import annotations

from pathlib import Path

import pytest
import rpsrt
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.cli import main
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsc.frontend.parser import parse
from rpsc.heapcode.classes import RPSC_SPACE, find_code_classes
from rpsc.heapcode.decode import decode_module
from rpsc.ir.from_heap import IRBuildError
from rpsc.heapcode.encode import INT63_MAX, INT63_MIN, module_objects, stored_definitions
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol
from rpsrt.model.values import VClosure, VSet

#: Every awkward scalar a module can hold: an int outside 63 bits, floats (also -0.0, inf), names, a file
#: of parameters and locals, a file and an explicit OID starting with `_`. (A definition's own name starting
#: with `_` is only warned about: it is upstream's `name` attribute, a plain string.)
SRC = """module odd version "1.0.0";
space odd_space;
class c @_6Ij9Ef2qXQH03fQMt4;
fn big() -> int { return -9223372036854775807 - 1; }
fn huge() -> int { return 9223372036854775807; }
fn f(x: float) -> float { return x * -0.0 + 1e308 * 10.0 + 0.1; }
fn hidden(_a: int, b: int) -> int { var _t = _a - b; for _i in 0 .. 3 { _t = _t + _i; } return _t; }
fn calls(a: int, b: int) -> int { return hidden(a, b) + abs(b) + min(a, b); }
fn pick(a: int, b: int) -> int { return hidden(a, b); }
fn other(a: int, b: int) -> int { return a * 100 + b; }
"""
FILE = "_odd.rps"


def _walk(v: object, out: list[object]) -> None:
    out.append(v)
    if isinstance(v, VClosure):
        for x in v.env:
            _walk(x, out)
    elif isinstance(v, VSet):
        out.extend(v.elems)


def _code_values(heap: rpsrt.Heap) -> list[object]:
    """Every value held by the objects of rpsc's space and of the module's space (attrs, comps, payloads)."""
    cc = find_code_classes(heap)
    assert cc is not None
    spaces = {heap[RPSC_SPACE], module_objects(heap, cc)["odd"].attrs[cc.attr["module_space"]]}
    out: list[object] = []
    for o in heap.objects.values():
        if o.space not in spaces:
            continue
        for a, v in o.attrs.items():
            assert v is not None, f"null value of {a.oid} in {o.oid}"
            _walk(v, out)
        for v in o.comps:
            _walk(v, out)
        if isinstance(o.payload, PayloadSymbol):
            _walk(o.payload.value, out)
        if isinstance(o.payload, PayloadClassInfo):
            out.extend(o.payload.methodict.values())
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SRC compiled under a file name starting with `_`, dumped, in a store directory (with the IR of the
    compiled heap, before any dump, in `ir.txt`)."""
    path = tmp_path_factory.mktemp("odd")
    heap = compile_sources([(FILE, SRC)])
    rpsrt.dump_store(heap, str(path))
    (path.parent / "ir.txt").write_text("\n".join(repr(f) for m in ir_modules(heap) for f in m.functions))
    return path


def test_only_values_upstream_reloads(stored: Path) -> None:
    """No instance, tuple, json, double, null attribute, int beyond 63 bits or `_`-leading string is stored."""
    values = _code_values(rpsrt.load_store(str(stored)))
    assert values
    for v in values:
        assert v is None or isinstance(v, (int, str, VClosure, VSet, rpsrt.RpsObject)), v
        assert not isinstance(v, float), v
        if isinstance(v, int):
            assert INT63_MIN <= v <= INT63_MAX, v
        if isinstance(v, str):
            assert not v.startswith("_"), v
    text = "".join(p.read_text() for p in (stored / "persistore").glob("*.json")
                   if "8J6vNYtP5E800eCr5q" not in p.name)  # rpsc's space and the module's, not the core's
    assert text.count('"vtype" : "closure"') > 100
    assert '"str" :' not in text and '"vtype" : "instance"' not in text and '"vtype" : "tuple"' not in text


def test_awkward_scalars_round_trip(stored: Path) -> None:
    """The module decodes back to the parsed AST (big ints, floats, `_` names, file and OID) and its IR is
    the one built from a store that was never dumped."""
    heap = rpsrt.load_store(str(stored))
    cc = find_code_classes(heap)
    assert cc is not None
    assert decode_module(module_objects(heap, cc)["odd"], cc) == parse(SRC, FILE)
    assert "\n".join(repr(f) for m in ir_modules(heap) for f in m.functions) == \
        (stored.parent / "ir.txt").read_text()
    with Interpreter(ir_modules(heap)) as it:
        assert it.call("big", []) == -2**63 and it.call("huge", []) == 2**63 - 1
        assert it.call("calls", [5, 2]) == 5 - 2 + 3 + 2 + 2


def _body_nodes(v: object, kind: object, out: list[VClosure]) -> list[VClosure]:
    if isinstance(v, VClosure):
        if v.fn is kind:
            out.append(v)
        for x in v.env:
            _body_nodes(x, kind, out)
    return out


def _replace(v: object, old: VClosure, new: VClosure) -> object:
    if v is old:
        return new
    if isinstance(v, VClosure):
        return VClosure(v.fn, [_replace(x, old, new) for x in v.env])
    return v


def test_variables_are_read_by_their_stored_slot() -> None:
    """IR construction takes each variable's local from the slot stored in the body, not from its name."""
    heap = compile_sources([(FILE, SRC)])
    cc = find_code_classes(heap)
    assert cc is not None
    fn = stored_definitions(module_objects(heap, cc)["odd"], cc)["other"][1]
    body = fn.attrs[cc.attr["body"]]
    a, b = _body_nodes(body, cc.cls["ast_name"], [])
    assert (a.env[4:], b.env[4:]) == (("a", 0), ("b", 1))
    fn.attrs[cc.attr["body"]] = _replace(body, a, VClosure(a.fn, [*a.env[:5], 1]))  # `a` now reads slot 1
    with Interpreter(ir_modules(heap)) as it:
        assert it.call("other", [3, 4]) == 404


def test_calls_go_to_their_stored_callee() -> None:
    """IR construction calls the function object stored on the call, not the one its name denotes."""
    heap = compile_sources([(FILE, SRC)])
    cc = find_code_classes(heap)
    assert cc is not None
    defs = stored_definitions(module_objects(heap, cc)["odd"], cc)
    fn = defs["pick"][1]
    body = fn.attrs[cc.attr["body"]]
    (call,) = _body_nodes(body, cc.cls["ast_call"], [])
    assert call.env[5] is defs["hidden"][1]
    fn.attrs[cc.attr["body"]] = _replace(body, call, VClosure(call.fn, [*call.env[:5], defs["other"][1],
                                                                         *call.env[6:]]))
    with Interpreter(ir_modules(heap)) as it:
        assert it.call("pick", [3, 4]) == 304


def test_code_missing_its_resolution_is_refused() -> None:
    """A body whose variable lacks its slot is an error (IRBuildError) naming the function, not a guess by name."""
    heap = compile_sources([(FILE, SRC)])
    cc = find_code_classes(heap)
    assert cc is not None
    fn = stored_definitions(module_objects(heap, cc)["odd"], cc)["other"][1]
    body = fn.attrs[cc.attr["body"]]
    a = _body_nodes(body, cc.cls["ast_name"], [])[0]
    fn.attrs[cc.attr["body"]] = _replace(body, a, VClosure(a.fn, a.env[:5]))
    with pytest.raises(IRBuildError) as info:
        ir_modules(heap)
    assert str(fn.oid) in str(info.value)


def test_compile_warns_about_values_upstream_cannot_keep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tuple, a float and a `_`-leading string in data each get a `file:line:col: warning:` naming
    upstream's limit; the module still compiles."""
    src = tmp_path / "w.rps"
    src.write_text('module w;\nclass k;\nsymbol t = [k, null];\nobject o { comment = 1.5; comps = ["_x"]; }\n'
                   'class _k;\n')
    assert main(["compile", str(src), "--store", str(tmp_path / "st")]) == 0
    err = capsys.readouterr().err
    assert f"{src}:3:12: warning: upstream RefPerSys cannot load a tuple value" in err
    assert f"{src}:4:22: warning: upstream RefPerSys cannot dump a float value" in err
    assert f"{src}:4:36: warning: upstream RefPerSys cannot read back a string starting with `_`" in err
    assert f"{src}:5:7: warning: upstream RefPerSys cannot load the name `_k`" in err


def test_compile_warns_about_a_null_attribute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An object's attribute set to `null` (which upstream's loader refuses) gets a located warning; a null in
    `comps` (which upstream loads) does not."""
    src = tmp_path / "n.rps"
    src.write_text("module n;\nobject o { comment = null; comps = [null]; }\n")
    assert main(["compile", str(src), "--store", str(tmp_path / "st")]) == 0
    err = capsys.readouterr().err
    assert f"{src}:2:22: warning: upstream RefPerSys cannot load the attribute `comment` set to null" in err
    assert err.count("warning:") == 1


def test_compile_warns_about_a_string_holding_a_nul(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A data string holding a NUL (which upstream truncates there) gets a located warning; the module still
    compiles and the store keeps the whole string."""
    import rpsrt

    src = tmp_path / "z.rps"
    src.write_text('module z;\nobject o { comment = "a\\0b"; comps = ["plain"]; }\n')
    assert main(["compile", str(src), "--store", str(tmp_path / "st")]) == 0
    err = capsys.readouterr().err
    assert f"{src}:2:22: warning: upstream RefPerSys cannot keep a string holding a NUL" in err
    assert err.count("warning:") == 1
    heap = rpsrt.load_store(str(tmp_path / "st"))
    assert any(v == "a\0b" for o in heap.objects.values() for v in o.attrs.values())


def test_examples_compile_without_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The examples of plugins_src/ hold nothing upstream cannot load or dump back: no warning."""
    from .conftest import EXAMPLES

    assert main(["compile", *map(str, sorted(EXAMPLES.glob("*.rps"))), "--store", str(tmp_path / "st")]) == 0
    assert "warning" not in capsys.readouterr().err
