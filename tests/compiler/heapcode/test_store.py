"""Lowering into the heap and the store: object shapes, OID stability, byte-identical and atomic recompiles."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import rpsrt
from rpsc import CompileError
from rpsc.frontend import ast
from rpsc.heapcode.classes import CLASSES, RPSC_SPACE, find_code_classes, registered_modules
from rpsc.heapcode.decode import decode_function, decode_module
from rpsc.heapcode.encode import module_objects, stored_definitions
from rpsc.frontend.parser import parse
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsrt.model import wellknown as wk
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol
from rpsrt.model.values import VClosure, VSet, VTuple

from .conftest import compile_into, fingerprint

GEO = """module geo version "1.2.0";
space geometry;
class shape;
class circle : shape;
attribute radius;
selector area;
symbol tau = 6.25;
symbol shapes = {shape, circle};
object unit_circle : circle {
  radius = 1.5;
  comps = [1, "two", unit_circle, {shape, circle}, [shape, null], null];
}
object holder { comps = [area_of]; }
fn area_of(r: float) -> float { return tau_value() * r * r / 2.0; }
fn tau_value() -> float { return 6.25; }
fn fib(n: int) -> int {
  if n < 2 { return n; }
  return fib(n - 1) + fib(n - 2);
}
fn ratio(a: int, b: int) -> int { return a / b; }
extension_point on_tick(t: int) -> int mode all;
extend on_tick priority 10 with fib;
method circle.area = area_of;
"""

USER = """module user version "0.1.0";
requires geo >= "1.0.0";
fn fib2(n: int) -> int { return fib(n) * 2; }
extend on_tick priority 5 with fib2;
"""


def objects_by_name(heap: rpsrt.Heap, module: str) -> dict[str, rpsrt.RpsObject]:
    cc = find_code_classes(heap)
    assert cc is not None
    mobj = module_objects(heap, cc)[module]
    return {n: o for n, (_k, o) in stored_definitions(mobj, cc).items()}


def test_store_shape_of_every_definition(tmp_path: Path) -> None:
    """Classes, attributes, selectors, symbols, objects, functions and extension points are stored as specified."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    heap = rpsrt.load_store(str(tmp_path))
    cc = find_code_classes(heap)
    assert cc is not None and heap[RPSC_SPACE] in heap.spaces
    assert all(heap[oid].cls is heap[wk.CLASS] for oid, _ in CLASSES.values())
    name = heap[wk.NAME]
    objs = objects_by_name(heap, "geo")
    mobj = module_objects(heap, cc)["geo"]
    # not a root (upstream's root count is compiled into it): filed in the `code_modules` registry
    assert mobj not in heap.roots and mobj.cls is cc.cls["code_module"]
    assert mobj in registered_modules(cc)
    assert mobj.attrs[name] == "geo" and mobj.attrs[cc.attr["version"]] == "1.2.0"
    space = mobj.attrs[cc.attr["module_space"]]
    assert space in heap.spaces and space.attrs[name] == "geometry"
    assert all(o.space is space for o in objs.values())
    # classes: classinfo with the superclass and a symbol whose value is the class
    shape, circle = objs["shape"], objs["circle"]
    assert circle.cls is heap[wk.CLASS] and isinstance(circle.payload, PayloadClassInfo)
    assert circle.payload.superclass is shape and shape.payload.superclass is heap[wk.OBJECT]
    symb = circle.payload.symb
    assert isinstance(symb.payload, PayloadSymbol) and symb.payload.name == "circle" and symb.payload.value is circle
    # the method is a closure in the class's method dictionary
    assert circle.payload.methodict == {objs["area"]: VClosure(objs["area_of"])}
    assert objs["radius"].cls is heap[wk.NAMED_ATTRIBUTE] and objs["radius"].attrs[name] == "radius"
    assert objs["area"].cls is heap[wk.NAMED_SELECTOR]
    assert objs["tau"].payload.name == "tau" and objs["tau"].payload.value == 6.25
    assert objs["shapes"].payload.value == VSet([shape, circle])
    uc = objs["unit_circle"]
    assert uc.cls is circle and uc.attrs[objs["radius"]] == 1.5 and uc.attrs[name] == "unit_circle"
    assert uc.comps == [1, "two", uc, VSet([shape, circle]), VTuple([shape, None]), None]
    assert objs["holder"].comps == [VClosure(objs["area_of"])]
    # functions: name, signature, body as closures of the AST classes, source position
    fib = objs["fib"]
    assert fib.cls is cc.cls["code_function"] and fib.attrs[name] == "fib"
    body = fib.attrs[cc.attr["body"]]
    assert isinstance(body, VClosure) and body.fn is cc.cls["ast_block"]
    assert body.env[4].fn is cc.cls["ast_if"]
    src = fib.attrs[cc.attr["source"]]
    assert isinstance(src, VClosure) and tuple(src.env[:3]) == ("geo.rps", 16, 4)
    assert fib.attrs[cc.attr["in_module"]] is mobj
    ep = objs["on_tick"]
    assert ep.cls is cc.cls["extension_point"] and ep.attrs[cc.attr["dispatch_mode"]] == "all"
    (mod,) = ir_modules(heap)
    assert [(e.point.name, e.priority, e.function.name) for e in mod.extensions] == [("on_tick", 10, "fib")]


def test_function_bodies_decode_to_the_source_ast(tmp_path: Path) -> None:
    """Decoding every stored function (after a real dump and load) gives back the parsed AST, spans included."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    heap = rpsrt.load_store(str(tmp_path))
    cc = find_code_classes(heap)
    assert cc is not None
    parsed = parse(GEO, "geo.rps")
    fns = {d.name: d for d in parsed.decls if isinstance(d, ast.FnDecl)}
    objs = objects_by_name(heap, "geo")
    for name, decl in fns.items():
        got = decode_function(objs[name], cc)
        assert got == decl
        assert got.span == decl.span and got.body.stmts[0].span == decl.body.stmts[0].span
    assert decode_module(module_objects(heap, cc)["geo"], cc) == parsed


def test_trap_locations_survive_the_store(tmp_path: Path) -> None:
    """IR built from a loaded store reports traps at the exact file:line:col of the source."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    with Interpreter(ir_modules(rpsrt.load_store(str(tmp_path)))) as it:
        with pytest.raises(rpsrt.Trap) as info:
            it.call("ratio", [1, 0])
        line = GEO.splitlines()[19]
        assert (info.value.function, info.value.location) == ("ratio", f"geo.rps:20:{line.index('a / b') + 1}")
        assert it.call("fib", [15]) == 610


def test_requires_across_compiles(tmp_path: Path) -> None:
    """A module compiled later can require one already in the store and call its functions."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    compile_into(tmp_path, [("user.rps", USER)])
    heap = rpsrt.load_store(str(tmp_path))
    mods = ir_modules(heap)
    assert [m.name for m in mods] == ["geo", "user"]
    assert mods[1].requires == [("geo", ">=1.0.0")]
    assert [f.name for f in mods[1].externs()] == ["fib"]
    with Interpreter(mods) as it:
        assert it.call("fib2", [10]) == 110


def test_oids_stable_and_files_identical_on_recompile(tmp_path: Path) -> None:
    """Compiling the same sources again keeps every OID and leaves every store file byte-identical (mtime too)."""
    compile_into(tmp_path, [("geo.rps", GEO), ("user.rps", USER)])
    before = fingerprint(tmp_path)
    oids = {n: o.oid for n, o in objects_by_name(rpsrt.load_store(str(tmp_path)), "geo").items()}
    time.sleep(0.02)
    compile_into(tmp_path, [("geo.rps", GEO), ("user.rps", USER)])
    compile_into(tmp_path, [("user.rps", USER)])
    assert fingerprint(tmp_path) == before
    after = {n: o.oid for n, o in objects_by_name(rpsrt.load_store(str(tmp_path)), "geo").items()}
    assert after == oids


def test_changed_function_keeps_oids_and_touches_only_changes(tmp_path: Path) -> None:
    """Editing one function keeps all OIDs; a new definition gets a new OID; a removed one leaves the module."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    first = objects_by_name(rpsrt.load_store(str(tmp_path)), "geo")
    edited = GEO.replace("return n; }", "return n + 0; }").replace(
        "fn tau_value() -> float { return 6.25; }", "fn twice(x: int) -> int { return 2 * x; }").replace(
        "tau_value()", "6.25")
    compile_into(tmp_path, [("geo.rps", edited)])
    heap = rpsrt.load_store(str(tmp_path))
    second = objects_by_name(heap, "geo")
    assert "tau_value" not in second and "twice" in second
    assert all(second[n].oid == first[n].oid for n in second if n != "twice")
    assert second["fib"].mtime >= first["fib"].mtime and second["radius"].mtime == first["radius"].mtime
    with Interpreter(ir_modules(heap)) as it:
        assert it.call("twice", [21]) == 42


def test_explicit_oid_is_used(tmp_path: Path) -> None:
    """`class c @_4pSwobFHGf301Qgwzh`-style explicit OIDs give the object that OID."""
    src = 'module ex;\nclass thing @_6Ij9Ef2qXQH03fQMt4;\nfn f @_0BodxoYXli103UyFOV() -> int { return 1; }\n'
    heap = compile_sources([("ex.rps", src)])
    assert heap.get("_6Ij9Ef2qXQH03fQMt4").payload.name == "thing"
    (mod,) = ir_modules(heap)
    assert mod.functions[0].ref.symbol == "rpsfn_0BodxoYXli103UyFOV"


def test_compile_error_leaves_heap_and_store_untouched(tmp_path: Path) -> None:
    """A module with an error raises CompileError, changes no object of the heap and no file of the store."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    before = fingerprint(tmp_path)
    heap = rpsrt.load_store(str(tmp_path))
    count = len(heap.objects)
    bad = GEO.replace("return fib(n - 1)", "return fob(n - 1)")
    with pytest.raises(CompileError) as info:
        compile_into(tmp_path, [("geo.rps", bad)])
    assert "fob" in str(info.value.diagnostics[0])
    with pytest.raises(CompileError):
        compile_sources([("geo.rps", bad)], heap)
    assert len(heap.objects) == count
    assert fingerprint(tmp_path) == before


def test_unknown_required_module_is_a_diagnostic() -> None:
    """Requiring a module that is neither given nor stored is an error at the `requires` line."""
    with pytest.raises(CompileError) as info:
        compile_sources([("u.rps", USER)])
    text = str(info.value.diagnostics[0])
    assert text.startswith("u.rps:2:")


def test_explicit_oid_of_another_object_is_refused(tmp_path: Path) -> None:
    """An explicit OID that already names another object (here upstream's `object` class) is an error."""
    with pytest.raises(CompileError, match="already belongs to `object`"):
        compile_sources([("x.rps", "module x;\nclass c @_5yhJGgxLwLp00X0xEQ;\n")])
    src = "module x;\nclass c @_6Ij9Ef2qXQH03fQMt4;\n"
    compile_into(tmp_path, [("x.rps", src)])
    compile_into(tmp_path, [("x.rps", src)])  # its own OID again: fine
    with pytest.raises(CompileError, match="already belongs to `c`"):
        compile_into(tmp_path, [("y.rps", "module y;\nclass d @_6Ij9Ef2qXQH03fQMt4;\n")])


def test_damaged_stored_code_is_a_store_error(tmp_path: Path) -> None:
    """A function body damaged in the store gives a StoreError naming the object, not a traceback."""
    compile_into(tmp_path, [("geo.rps", GEO)])
    heap = rpsrt.load_store(str(tmp_path))
    cc = find_code_classes(heap)
    assert cc is not None
    fib = objects_by_name(heap, "geo")["fib"]
    body = fib.attrs[cc.attr["body"]]
    fib.attrs[cc.attr["body"]] = VClosure(body.fn, body.env[:2])
    with pytest.raises(rpsrt.StoreError) as info:
        ir_modules(heap)
    assert str(fib.oid) in str(info.value)
    fib.attrs[cc.attr["body"]] = VClosure(body.fn, (*body.env[:4], "not a statement"))
    with pytest.raises(rpsrt.StoreError) as info:
        ir_modules(heap)
    assert str(fib.oid) in str(info.value)
