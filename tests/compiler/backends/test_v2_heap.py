"""Version 2 (code on the heap) under the interpreter: stored code round trip, semantics, traps, transactions,
and `rpsc run --store --commit --seed --clock`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import compile_sources, ir_modules
from rpsc.frontend.parser import parse
from rpsc.frontend.printer import print_module
from rpsrt.errors import Trap
from rpsrt.model.heapapi import HeapRuntime, HeapSnapshot, transaction

GEO = """module geo;
attribute x: float;
attribute y: float;
attribute tag;
selector area(k: float) -> float;
class shape;
class circle : shape;
class square : shape;
class tiny : square;
fn shape_area(self: obj, k: float) -> float { return -1.0; }
fn circle_area(self: obj, k: float) -> float { return k * self.x * self.x; }
method shape.area = shape_area;
method circle.area = circle_area;
fn make(r: float) -> obj {
  var c = new circle { x = r, tag = "round" };
  c.y = 2.0 * r;
  append(c, 5);
  append(c, "five");
  return c;
}
fn total(n: int) -> float {
  var s = 0.0;
  for i in 0 .. n {
    var o = make(float(i));
    s = s + o.area(3.0);
  }
  return s;
}
fn inherited() -> float { var t = new tiny {}; return t.area(1.0); }
fn describe(o: obj) -> str {
  var t = "";
  if has(o, tag) { t = str(o.tag); }
  return str(len(o)) + ":" + t + ":" + str(int(o[0]) + 1) + str(o[1]) + ":" + str(o.x);
}
fn untyped_absent() -> bool { var o = new shape {}; return is_null(o.tag) && !has(o, tag); }
fn strings(a: str, b: str) -> int { if a < b && len(a + b) == 5 && a + b == "abcde" { return 1; } return 0; }
fn values(v: value) -> str { if is_int(v) { return "int " + str(int(v)); } if is_str(v) { return "str " + str(v); } return "other"; }
fn missing() -> float { var o = new thing {}; return o.radius; }
fn nullobj() -> float { var o: obj = null; return o.x; }
fn bigint() { var o = new shape {}; append(o, 4611686018427387904); }
fn mismatch() -> int { var v: value = "text"; return int(v); }
fn nomethod() -> float { var o = new thing {}; return o.area(1.0); }
fn range() -> value { var o = new shape {}; return o[0]; }
fn failing() { var o = new shape {}; add_root(o); fail("stop here"); }
fn badname() -> obj { return make_class(shape, "9bad"); }
fn notclass() -> obj { return new (new shape {}) {}; }
fn mk(name: str, comment_text: str) -> obj { var c = make_class(shape, name); c.comment = comment_text; return c; }
attribute radius: float;
class thing;
fn klass(s: str) -> str { return oid(find(s)); }
"""


@pytest.fixture(scope="module")
def geo_heap():  # type: ignore[no-untyped-def]
    return compile_sources([("geo.rps", GEO)])


def run(heap, fn, *args, seed=1, clock=1000.0):  # type: ignore[no-untyped-def]
    engine = Interpreter(ir_modules(heap), runtime=HeapRuntime(heap, seed=seed, clock=clock))
    try:
        return engine.call(fn, list(args))
    finally:
        engine.close()


def test_printer_round_trip() -> None:
    """A module using every version-2 form prints back to source that parses to the same AST."""
    m = parse(GEO, "geo.rps")
    assert parse(print_module(m), "geo.rps") == m


def test_show_round_trip(tmp_path: Path) -> None:
    """Compiled into a store, the version-2 module is printed back by `rpsc show` as the same AST."""
    src = tmp_path / "geo.rps"
    src.write_text(GEO)
    st = tmp_path / "st"
    subprocess.run([sys.executable, "-m", "rpsc", "compile", str(src), "--store", str(st)], check=True)
    out = subprocess.run([sys.executable, "-m", "rpsc", "show", "--store", str(st)], check=True,
                         capture_output=True, text=True).stdout
    assert parse(out, str(src)) == parse(GEO, str(src))


def test_sends_attributes_components(geo_heap) -> None:  # type: ignore[no-untyped-def]
    """Sends dispatch through the class and its superclasses; attributes, components and strings work."""
    assert run(geo_heap, "total", 4) == 3.0 * (0 + 1 + 4 + 9)
    assert run(geo_heap, "inherited") == -1.0
    o = run(geo_heap, "make", 2.5)
    assert run(geo_heap, "describe", o) == "2:round:6five:2.5"
    assert run(geo_heap, "untyped_absent") is True
    assert run(geo_heap, "strings", "ab", "cde") == 1
    assert run(geo_heap, "values", 7) == "int 7"
    assert run(geo_heap, "values", "x") == "str x"


@pytest.mark.parametrize("fn,kind,line", [
    ("missing", "missing attribute radius", 38), ("nullobj", "null object", 39),
    ("bigint", "int out of range", 40), ("mismatch", "type mismatch: expected int, got string", 41),
    ("nomethod", "no method area for thing", 42), ("range", "index out of range", 43),
    ("failing", "failed: stop here", 44), ("badname", "invalid name", 45), ("notclass", "not a class", 46),
])
def test_traps(geo_heap, fn: str, kind: str, line: int) -> None:  # type: ignore[no-untyped-def]
    """Each trap of the Version 2 tables is raised with its kind, function and file:line."""
    with pytest.raises(Trap) as ei:
        run(geo_heap, fn)
    assert ei.value.kind == kind
    assert ei.value.function == fn
    assert ei.value.location.startswith(f"geo.rps:{line}:")


def test_transaction_undoes_everything(geo_heap) -> None:  # type: ignore[no-untyped-def]
    """A transaction that ends with a trap leaves the heap equal to before, compared object by object."""
    before = geo_heap.canonical()
    n = len(geo_heap)
    with pytest.raises(Trap):
        with transaction(geo_heap):
            run(geo_heap, "mk", "Gadget", "made")
            run(geo_heap, "failing")
    assert len(geo_heap) == n
    assert geo_heap.canonical() == before
    with pytest.raises(KeyboardInterrupt):
        with transaction(geo_heap):
            run(geo_heap, "make", 1.0)
            raise KeyboardInterrupt
    assert geo_heap.canonical() == before
    snap = HeapSnapshot.take(geo_heap)
    assert snap.objects == geo_heap.objects


def _digest(store: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(store.rglob("*")):
        if p.is_file() and p.name != ".lock" and "lock" not in p.name:
            h.update(str(p.relative_to(store)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _rpsc(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_cli_commit_trap_and_determinism(tmp_path: Path) -> None:
    """`rpsc run --commit`: a trap writes nothing (exit 3); same --seed/--clock give byte-identical stores;
    without --commit the changes are reported and not written."""
    src = tmp_path / "geo.rps"
    src.write_text(GEO)
    st = tmp_path / "st"
    assert _rpsc("compile", str(src), "--store", str(st)).returncode == 0
    first = _digest(st)
    p = _rpsc("run", "--store", str(st), "--commit", "failing")
    assert p.returncode == 3 and "trap: failed: stop here in failing" in p.stderr
    assert _digest(st) == first
    p = _rpsc("run", "--store", str(st), "mk", "Gizmo", "hello")
    assert p.returncode == 0 and "created" in p.stderr and "not written" in p.stderr
    assert _digest(st) == first
    copy = tmp_path / "copy"
    shutil.copytree(st, copy)
    for s in (st, copy):
        p = _rpsc("run", "--store", str(s), "--commit", "--seed", "7", "--clock", "1700000000", "mk", "Gizmo", "hi")
        assert p.returncode == 0, p.stderr
    assert _digest(st) == _digest(copy) != first
    oid_text = p.stdout.strip()
    assert len(oid_text) == 19
    check = _rpsc("store", "check", str(st))
    assert check.returncode == 0, check.stderr
    p = _rpsc("run", "--store", str(st), "klass", "Gizmo")
    assert p.returncode == 0 and p.stdout.strip() == oid_text
    p = _rpsc("run", "--store", str(st), "describe", oid_text)
    assert p.returncode == 3 and "trap: index out of range in describe" in p.stderr


def test_upstream_createsymbol_in_rps(tmp_path: Path) -> None:
    """plugins_src/upstream/createsymbol.rps makes a rooted strong symbol with name and comment in the
    initial space under `rpsc run --commit`, and refuses an existing name with a trap that writes nothing."""
    import rpsrt
    from rpsrt.model import wellknown as wk
    from rpsrt.model.objects import PayloadSymbol

    src = Path(__file__).resolve().parents[3] / "plugins_src" / "upstream" / "createsymbol.rps"
    st = tmp_path / "st"
    assert _rpsc("store", "new", str(st)).returncode == 0
    assert _rpsc("compile", str(src), "--store", str(st)).returncode == 0
    p = _rpsc("run", "--store", str(st), "--commit", "--seed", "2", "--clock", "100", "createsymbol", "Hello",
              "a comment", "true", "false")
    assert p.returncode == 0, p.stderr
    heap = rpsrt.load_store(str(st))
    sym = heap[p.stdout.strip()]
    assert isinstance(sym.payload, PayloadSymbol) and sym.payload.name == "Hello" and not sym.payload.weak
    assert sym in heap.roots and sym.space is heap[wk.INITIAL_SPACE] and sym.mtime == 100.0
    assert sym.attrs[heap[wk.NAME]] == "Hello" and sym.attrs[heap[wk.COMMENT]] == "a comment"
    before = _digest(st)
    p = _rpsc("run", "--store", str(st), "--commit", "createsymbol", "Hello", "", "false", "false")
    assert p.returncode == 3 and "already used" in p.stderr
    assert _digest(st) == before


# ---------------------------------------------------------------- the three backends agree

BACKENDS = ("interp", "jit", "c")


def make_engine(backend: str, store: Path, heap, runtime):  # type: ignore[no-untyped-def]
    """An engine of `backend` running the store's code against `heap` through `runtime`."""
    if backend == "interp":
        return Interpreter(ir_modules(heap), runtime=runtime)
    if backend == "jit":
        from rpsc.backends.llvm.jit import JitEngine

        return JitEngine(ir_modules(heap), runtime=runtime)
    from rpsc.backends.c.native import NativeEngine

    return NativeEngine(store, runtime=runtime)


def run_in(backend: str, store: Path, fn: str, args: list, out: Path | None = None):  # type: ignore[no-untyped-def]
    """Load the store, run `fn` under `backend` (seed 5, clock 1.7e9) in a transaction; the outcome
    (result as text, or the trap's kind, function and location) and the heap's canonical form after it
    (dumped into `out` when given and the call did not trap)."""
    import rpsrt
    from rpsc.backends.engine import format_result
    from rpsc.ir import ir

    heap = rpsrt.load_store(str(store))
    runtime = HeapRuntime(heap, seed=5, clock=1.7e9, log=lambda s: None)
    engine = make_engine(backend, store, heap, runtime)
    try:
        ref = next(f.ref for m in ir_modules(heap) for f in m.functions if f.ref.name == fn)
        vals = [heap[a[1:]] if isinstance(a, str) and a.startswith("@") else a for a in args]
        try:
            with transaction(heap):
                outcome = ("ok", format_result(engine.call(fn, vals), ref.ret))
        except Trap as t:
            outcome = ("trap", t.kind, t.function, t.location)
        del ir
    finally:
        engine.close()
    if out is not None and outcome[0] == "ok":
        rpsrt.dump_store(heap, str(out))
    return outcome, heap.canonical()


@pytest.fixture(scope="module")
def geo_store(tmp_path_factory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("geo")
    src = d / "geo.rps"
    src.write_text(GEO)
    st = d / "st"
    assert _rpsc("compile", str(src), "--store", str(st)).returncode == 0
    p = _rpsc("build", "--store", str(st))
    assert p.returncode == 0, p.stderr
    return st


@pytest.mark.parametrize("fn,args", [
    ("total", [5]), ("inherited", []), ("untyped_absent", []), ("strings", ["ab", "cde"]), ("values", [7]),
    ("values", ["x"]), ("values", [2.5]), ("make", [1.5]), ("mk", ["Gadget", "made here"]), ("missing", []),
    ("nullobj", []), ("bigint", []), ("mismatch", []), ("nomethod", []), ("range", []), ("failing", []),
    ("badname", []), ("notclass", []),
])
def test_backends_agree(geo_store: Path, fn: str, args: list) -> None:  # type: ignore[type-arg]
    """Interpreter, JIT and C give the same result or the same trap (kind, function, location) and leave
    the same heap (same new OIDs and mtimes with the same seed and clock)."""
    outcomes = {b: run_in(b, geo_store, fn, args) for b in BACKENDS}
    assert outcomes["jit"] == outcomes["interp"]
    assert outcomes["c"] == outcomes["interp"]


def test_backends_dump_identical_stores(geo_store: Path, tmp_path: Path) -> None:
    """The same runs (creating a class, objects, attributes, components) under the three backends dump
    byte-identical stores."""
    for fn, args in (("mk", ["Gadget", "made here"]), ("total", [3])):
        digests = set()
        for b in BACKENDS:
            out = tmp_path / f"{fn}-{b}"
            shutil.copytree(geo_store, out)
            outcome, _ = run_in(b, geo_store, fn, args, out)
            assert outcome[0] == "ok"
            digests.add(_digest(out / "persistore") + _digest_file(out / "rps_manifest.json"))
        assert len(digests) == 1


def _digest_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("backend", ["interp", "jit"])
def test_run_on_heap_api(backend: str) -> None:
    """`rpsc.driver.pipeline.run_on_heap` runs heap code against a loaded heap; the changes of a call that
    returns stay, and a call that traps leaves the heap equal to before it, object by object."""
    from rpsc.driver.pipeline import run_on_heap

    heap = compile_sources([("geo.rps", GEO)])
    n = len(heap)
    assert run_on_heap(heap, "total", [3], backend=backend, seed=1, clock=2.0) == 15.0
    assert len(heap) == n + 3
    before = heap.canonical()
    with pytest.raises(Trap):
        run_on_heap(heap, "failing", [], backend=backend)
    assert heap.canonical() == before


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_heap_calls_from_several_threads(geo_store: Path, backend: str) -> None:
    """Four threads calling heap code on one JIT or native engine at once each get the right result, and
    the heap holds every object they created: heap calls run one at a time (heaphost.RUN_LOCK), each with
    its own handle table, while the engines themselves take calls from several threads."""
    import threading

    import rpsrt

    heap = rpsrt.load_store(str(geo_store))
    runtime = HeapRuntime(heap, seed=9, clock=1.7e9, log=lambda s: None)
    engine = make_engine(backend, geo_store, heap, runtime)
    n = len(heap)
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)
    N = 150  # long enough calls that the threads' heap operations would interleave

    def work() -> None:
        try:
            start.wait()
            for _ in range(5):
                results.append(engine.call("total", [N]))
                o = engine.call("make", [1.5])
                results.append(engine.call("describe", [o]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        engine.close()
    assert errors == []
    total = str(3.0 * sum(i * i for i in range(N)))
    assert sorted(map(str, results)) == sorted([total] * 20 + ["2:round:6five:1.5"] * 20)
    assert len(heap) == n + 4 * 5 * (N + 1)


def test_cli_run_json_on_heap_code(tmp_path: Path) -> None:
    """`rpsc run --json` of heap code prints docs/json-output.md's run document: an object result as its
    OID text, an object argument as its OID, a trap with its kind and site (exit 3)."""
    import json
    import re

    jsonschema = pytest.importorskip("jsonschema")
    doc = (Path(__file__).resolve().parents[3] / "docs" / "json-output.md").read_text()
    section = re.search(r"^## rpsc run\n(.*?)(?=^## )", doc, re.MULTILINE | re.DOTALL)
    assert section is not None
    block = re.search(r"```json\n(.*?)```", section.group(1), re.DOTALL)
    assert block is not None
    schema = json.loads(block.group(1))
    src = tmp_path / "geo.rps"
    src.write_text(GEO)
    st = tmp_path / "st"
    assert _rpsc("compile", str(src), "--store", str(st)).returncode == 0
    for backend in ("interp", "jit"):
        p = _rpsc("run", "--store", str(st), "--backend", backend, "--json", "--seed", "3", "make", "2.5")
        assert p.returncode == 0, p.stderr
        made = json.loads(p.stdout)
        jsonschema.validate(made, schema)
        assert made["ok"] is True and made["backend"] == backend and made["result"] == made["text"]
        assert re.fullmatch(r"_[0-9A-Za-z]{18}", made["result"])
        p = _rpsc("run", "--store", str(st), "--backend", backend, "--json", "nullobj")
        assert p.returncode == 3
        trapped = json.loads(p.stdout)
        jsonschema.validate(trapped, schema)
        assert trapped["ok"] is False and trapped["trap"]["kind"] == "null object"
        assert trapped["trap"]["function"] == "nullobj"
        assert re.fullmatch(r".*geo\.rps:39:\d+", trapped["trap"]["location"])
    p = _rpsc("run", "--store", str(st), "--json", "--seed", "4", "--commit", "make", "1.0")
    oid_text = json.loads(p.stdout)["result"]
    p = _rpsc("run", "--store", str(st), "--json", "describe", oid_text)
    described = json.loads(p.stdout)
    jsonschema.validate(described, schema)
    assert described["args"] == [oid_text] and described["result"] == "2:round:6five:1.0"
