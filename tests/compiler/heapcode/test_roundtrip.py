"""Property tests: source -> store on disk -> load -> decode -> print -> parse gives the same AST and behaviour."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import rpsrt
import strategies_rps as srps  # tests/ is on sys.path (tests/compiler/heapcode is a package)
from hypothesis import HealthCheck, given, settings
from rpsc.heapcode.classes import find_code_classes
from rpsc.heapcode.decode import decode_module
from rpsc.heapcode.encode import module_objects
from rpsc.frontend.parser import parse
from rpsc.frontend.printer import print_module
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import compile_sources, ir_modules

from .conftest import compile_into

_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _decoded(store: Path, name: str):  # type: ignore[no-untyped-def]
    heap = rpsrt.load_store(str(store))
    cc = find_code_classes(heap)
    assert cc is not None
    return decode_module(module_objects(heap, cc)[name], cc), heap


@settings(max_examples=80, **_SETTINGS)  # type: ignore[arg-type]
@given(module=srps.modules())
def test_module_roundtrip_through_the_store(tmp_path_factory: pytest.TempPathFactory, module) -> None:  # type: ignore[no-untyped-def]
    """Any checked module, lowered, dumped, loaded and decoded, prints back to source that parses to its AST."""
    text = print_module(module)
    parsed = parse(text, "gen.rps")
    store = tmp_path_factory.mktemp("store")
    compile_into(store, [("gen.rps", text)])
    decoded, _heap = _decoded(store, parsed.name)
    assert decoded == parsed
    assert parse(print_module(decoded), "gen.rps") == parsed


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


def _outcome(it: Interpreter, entry: str, args: tuple) -> object:  # type: ignore[type-arg]
    try:
        return ("ok", it.call(entry, list(args)))
    except rpsrt.Trap as t:
        return ("trap", t.code, t.function, t.location)


@settings(max_examples=80, **_SETTINGS)  # type: ignore[arg-type]
@given(prog=srps.programs())
def test_loaded_store_runs_like_the_fresh_heap(tmp_path_factory: pytest.TempPathFactory, prog) -> None:  # type: ignore[no-untyped-def]
    """A program gives the same result or trap (kind, function, file:line:col) before and after a store round trip."""
    text = print_module(prog.module)
    store = tmp_path_factory.mktemp("store")
    fresh = compile_sources([("gen.rps", text)])
    compile_into(store, [("gen.rps", text)])
    loaded = rpsrt.load_store(str(store))
    with Interpreter(ir_modules(fresh)) as a, Interpreter(ir_modules(loaded)) as b:
        ra, rb = _outcome(a, prog.entry, prog.args), _outcome(b, prog.entry, prog.args)
    assert ra[0] == rb[0]
    if ra[0] == "ok":
        assert _same(ra[1], rb[1])
    else:
        assert ra == rb
