"""Differential testing of version-2 heap programs: hypothesis writes well-typed functions that create objects,
set and read typed and untyped attributes, use components, send methods through a 3-level class hierarchy and
build strings; each runs under the interpreter, the JIT and the C backend with the same seed and clock, and
the three results (or traps) agree and the three stores dumped after the runs are byte-identical."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rpsrt
from rpsc.backends.engine import format_result
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import ir_modules
from rpsrt.errors import Trap
from rpsrt.model.heapapi import HeapRuntime, HeapSnapshot

PRELUDE = """module diff;
attribute x: float;
attribute n: int;
attribute label: str;
attribute tag;
selector area(k: float) -> float;
selector kind() -> str;
class shape;
class circle : shape;
class tiny : circle;
fn shape_area(self: obj, k: float) -> float { return k; }
fn circle_area(self: obj, k: float) -> float { return k * self.x * self.x; }
fn shape_kind(self: obj) -> str { return "shape"; }
fn tiny_kind(self: obj) -> str { return "tiny:" + str(len(self)); }
method shape.area = shape_area;
method circle.area = circle_area;
method shape.kind = shape_kind;
method tiny.kind = tiny_kind;
"""

OBJS = ("o0", "o1", "o2")
CLASSES = ("shape", "circle", "tiny")
FLOATS = ("0.5", "1.25", "-2.0", "3.0")

obj_var = st.sampled_from(OBJS)
flt = st.sampled_from(FLOATS)
small = st.integers(min_value=-3, max_value=5)


@st.composite
def value_expr(draw: st.DrawFn) -> str:
    return draw(st.one_of(st.builds(str, small), flt, st.sampled_from(['"a"', '"bc"', '""']), obj_var,
                          st.just("s"), st.just("k")))


@st.composite
def statement(draw: st.DrawFn) -> str:
    i, j = draw(obj_var), draw(obj_var)
    c = draw(st.sampled_from(CLASSES))
    f = draw(flt)
    v = draw(value_expr())
    idx = draw(st.integers(min_value=0, max_value=3))
    choices = [
        f"{i} = new {c} {{ x = {f}, tag = {v} }};",
        f"{i} = new (class_of({j})) {{}};",
        f"{i}.x = {j}.x + {f};",
        f"{i}.n = k + {idx};",
        f"k = k + {i}.n;",
        f"{i}.tag = {v};",
        f"append({i}, {v});",
        f"s = s + str(len({i}));",
        f"if {i}[{idx}] == {v} {{ k = k + 1; }}",
        f"{i}[{idx}] = {v};",
        f"acc = acc + {i}.area({f});",
        f"s = s + {i}.kind();",
        f"if is_a({i}, {c}) {{ k = k + 1; }} else {{ s = s + \"-\"; }}",
        f"if has({i}, tag) {{ s = s + \"t\"; }} else {{ s = s + \"f\"; }}",
        f"{i}.label = s + \"!\";",
        f"s = s + {i}.label;",
        f"remove({i}, tag);",
        f"if is_str({i}.tag) {{ s = s + str({i}.tag); }}",
        f"if is_int({i}.tag) {{ k = k + int({i}.tag); }}",
        f"if is_obj({i}.tag) {{ s = s + oid(class_of(obj({i}.tag))); }}",
        f"if {i} == {j} {{ k = k * 2; }}",
        "if len(s) > 12 { s = \"\"; }",
        f"put({i}, tag, get({j}, tag));",
        f"if superclass(class_of({i})) == shape {{ k = k + 10; }}",
    ]
    return draw(st.sampled_from(choices))


@st.composite
def program(draw: st.DrawFn, index: int) -> str:
    body = draw(st.lists(statement(), min_size=1, max_size=8))
    stmts = "\n    ".join(body)
    return f"""fn f{index}() -> str {{
    var o0 = new shape {{ x = 1.0 }};
    var o1 = new circle {{ x = 2.0, tag = 7 }};
    var o2 = new tiny {{ x = 0.5, tag = "z" }};
    var acc = 0.0;
    var s = "";
    var k = 0;
    {stmts}
    return s + ":" + str(k) + ":" + str(acc);
}}"""


BATCH = 40


@st.composite
def module(draw: st.DrawFn) -> str:
    return PRELUDE + "\n".join(draw(program(i)) for i in range(BATCH)) + "\n"


def _engine(backend: str, store: Path, heap: rpsrt.Heap, rt: HeapRuntime):  # type: ignore[no-untyped-def]
    if backend == "interp":
        return Interpreter(ir_modules(heap), runtime=rt)
    if backend == "jit":
        from rpsc.backends.llvm.jit import JitEngine

        return JitEngine(ir_modules(heap), runtime=rt)
    from rpsc.backends.c.native import NativeEngine

    return NativeEngine(store, runtime=rt)


def _digest(store: Path) -> str:
    h = hashlib.sha256()
    for p in sorted([*store.glob("persistore/*"), store / "rps_manifest.json"]):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _runs(backend: str, store: Path, out: Path) -> list[object]:
    """Every f<i> of the store under `backend`, each from the same heap state with seed 3 and clock 1.7e9;
    its outcome, and the digest of the store dumped after it (when it did not trap)."""
    heap = rpsrt.load_store(str(store))
    rt = HeapRuntime(heap, seed=3, clock=1.7e9, log=lambda s: None)
    engine = _engine(backend, store, heap, rt)
    outcomes: list[object] = []
    try:
        for i in range(BATCH):
            rt.rng = random.Random(3)
            snap = HeapSnapshot.take(heap)
            try:
                try:
                    r = ("ok", format_result(engine.call(f"f{i}", []), ir_str()))
                except Trap as t:
                    r = ("trap", t.kind, t.function, t.location)
                if r[0] == "ok":
                    d = out / f"{backend}-{i}"
                    rpsrt.dump_store(heap, str(d))
                    r = (*r, _digest(d))
                outcomes.append(r)
            finally:
                snap.restore(heap)
    finally:
        engine.close()
    return outcomes


def ir_str():  # type: ignore[no-untyped-def]
    from rpsc.ir import ir

    return ir.STR


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                               HealthCheck.function_scoped_fixture])
@given(src=module())
def test_three_backends_agree_on_heap_programs(src: str, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """200 generated heap programs (5 batches of 40): interpreter, JIT and C give the same results or traps,
    and the stores dumped after each run are byte-identical."""
    d = tmp_path_factory.mktemp("diff")
    (d / "diff.rps").write_text(src)
    store = d / "st"
    for cmd in (["compile", str(d / "diff.rps"), "--store", str(store)], ["build", "--store", str(store)]):
        p = subprocess.run([sys.executable, "-m", "rpsc", *cmd], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr + src
    results = {b: _runs(b, store, d) for b in ("interp", "jit", "c")}
    for i in range(BATCH):
        assert results["jit"][i] == results["interp"][i], (i, src)
        assert results["c"][i] == results["interp"][i], (i, src)
    kinds = {r[0] for r in results["interp"]}
    assert "ok" in kinds  # the batch exercises successful runs, not only traps
