"""`rpsc dispatch`: extension points of a store's built plugins dispatched from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsrt.plugins import compile_c_plugin

from .conftest import EXAMPLES, compile_and_build


def rpsc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def test_on_tick_runs_every_implementation_in_priority_order(examples_store: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """on_tick (mode all) prints tick_gcd (20), tick_fib (10), tick_early (-5) with their own results."""
    code, out, err = rpsc(capsys, "dispatch", "--store", str(examples_store), "on_tick", "26")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "on_tick(26) [mode all, 3 implementations]"
    assert [line.split()[:5] for line in lines[1:]] == [
        ["1.", "events.tick_gcd", "priority", "20", "->"],
        ["2.", "events.tick_fib", "priority", "10", "->"],
        ["3.", "events.tick_early", "priority", "-5", "->"]]
    assert [int(line.split()[-1]) for line in lines[1:]] == [2, fib(26), 26000]


def test_on_tick_json(examples_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives each call's plugin, name, priority and result in dispatch order, and the list result."""
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(examples_store), "--json", "on_tick", "-7")
    assert code == 0
    doc = json.loads(out)
    assert doc["point"] == "on_tick" and doc["mode"] == "all" and doc["signature"] == "i64(i64)"
    assert [(c["name"], c["priority"]) for c in doc["calls"]] == [("tick_gcd", 20), ("tick_fib", 10),
                                                                  ("tick_early", -5)]
    # -7 % 64 is -7 in rpsc (C remainder); fib_iter of a negative count is 0.
    assert doc["result"] == [c["result"] for c in doc["calls"]] == [1, 0, -7000]
    assert doc["not_called"] == [] and doc["args"] == [-7]


def test_score_mode_first_calls_only_the_first(examples_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """score (mode first) returns score_primes' result: count_primes(100) * 10 + isqrt(100)."""
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(examples_store), "score", "100")
    assert code == 0
    assert out.splitlines() == ["score(100) [mode first, 1 implementation]",
                                "  1. events.score_primes  priority    1  -> 260"]
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(examples_store), "--json", "score", "1000")
    doc = json.loads(out)
    assert doc["mode"] == "first" and doc["result"] == 168 * 10 + 31 and len(doc["calls"]) == 1


def test_a_hand_written_plugin_joins_and_first_skips_the_rest(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--load adds hello_c's `combine` at the priority its argument gives; in mode first only the head runs
    and the others are listed as not called."""
    hello = EXAMPLES / "hello_c" / "hello.c"
    src = ('module comb version "1.0.0";\n'
           "extension_point combine(a: int, b: int) -> int mode first;\n"
           "extend combine priority 10 with mul;\n"
           "fn mul(a: int, b: int) -> int { return a * b; }\n")
    store = compile_and_build(tmp_path / "st", {"comb.rps": src})
    hand = tmp_path / "hand"
    hand.mkdir()
    compile_c_plugin([hello], hand / "hello_c.so")
    base = ["dispatch", "--store", str(store), "--plugin-path", str(hand), "--json"]
    doc = json.loads(rpsc(capsys, *base, "--load", "hello_c:priority=15", "combine", "6", "7")[1])
    assert [(c["plugin"], c["name"]) for c in doc["calls"]] == [("hello_c", "add")]
    assert doc["result"] == 13
    assert [(c["plugin"], c["name"], c["priority"]) for c in doc["not_called"]] == [("comb", "mul", 10)]
    doc = json.loads(rpsc(capsys, *base, "--load", "hello_c:priority=5", "combine", "6", "7")[1])
    assert doc["result"] == 42 and doc["not_called"][0]["name"] == "add"


def test_a_trap_stops_the_dispatch_with_status_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trapping implementation is reported with its location, later ones are not called, exit status 3."""
    src = ('module trapper version "1.0.0";\n'
           "extension_point split(x: int) -> int mode all;\n"
           "extend split priority 3 with ok;\n"
           "extend split priority 2 with boom;\n"
           "extend split priority 1 with never;\n"
           "fn ok(x: int) -> int { return x + 1; }\n"
           "fn boom(x: int) -> int { return 100 / x; }\n"
           "fn never(x: int) -> int { return 0 - x; }\n")
    store = compile_and_build(tmp_path / "st", {"trapper.rps": src})
    code, out, err = rpsc(capsys, "dispatch", "--store", str(store), "split", "0")
    assert code == 3
    assert "-> 1" in out.splitlines()[1]
    assert "trap: division by zero at trapper.rps:7:" in out.splitlines()[2]
    assert "not called (after the trap)" in out.splitlines()[3]
    assert "trapper.rps:7:" in err and "trap: division by zero in boom" in err
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(store), "--json", "split", "0")
    doc = json.loads(out)
    assert code == 3 and doc["result"] is None and doc["trap"]["kind"] == "division by zero"
    assert [c["name"] for c in doc["calls"]] == ["ok", "boom"] and doc["not_called"][0]["name"] == "never"
    assert json.loads(rpsc(capsys, "dispatch", "--store", str(store), "--json", "split", "4")[1])["result"] == [5, 25, -4]


@pytest.mark.parametrize(("argv", "message"), [
    (["on_tock", "1"], "no extension point named on_tock in the store's plugins (points: on_tick, score)"),
    (["on_tick"], "on_tick takes 1 argument (int), got 0"),
    (["on_tick", "x"], "argument 'x' is not an int"),
    ([], "give an extension point"),
])
def test_bad_requests_are_clear_errors(examples_store: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str], message: str) -> None:
    """An unknown point, a wrong argument count or type, or no point at all: a one-line error, status 1."""
    code, out, err = rpsc(capsys, "dispatch", "--store", str(examples_store), *argv)
    assert code == 1 and out == ""
    assert message in err and "Traceback" not in err


def test_unbuilt_store_says_to_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store without built plugins is refused with the `rpsc build` command to run."""
    store = tmp_path / "st"
    shutil.copytree(EXAMPLES, tmp_path / "src", ignore=shutil.ignore_patterns("hello_c"))
    assert main(["compile", *map(str, sorted((tmp_path / "src").glob("*.rps"))), "--store", str(store)]) == 0
    code, _, err = rpsc(capsys, "dispatch", "--store", str(store), "on_tick", "1")
    assert code == 1 and "rpsc build --store" in err


def test_list_points(examples_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--list --json names every point with its signature, mode and implementations in dispatch order."""
    doc = json.loads(rpsc(capsys, "dispatch", "--store", str(examples_store), "--list", "--json")[1])
    assert [(p["point"], p["mode"], [i["name"] for i in p["implementations"]]) for p in doc["points"]] == [
        ("on_tick", "all", ["tick_gcd", "tick_fib", "tick_early"]), ("score", "first", ["score_primes"])]


HEAP_POINTS = """module tags;
extension_point tag(o: obj, s: str) -> obj mode all;
extension_point shout(s: str) -> str mode first;
attribute label;
fn label_it(o: obj, s: str) -> obj { o.label = s; return o; }
fn boom(o: obj, s: str) -> obj { fail("no " + s); return o; }
fn loud(s: str) -> str { return s + "!"; }
extend tag priority 5 with label_it;
extend tag priority 1 with boom;
extend shout priority 3 with loud;
"""


@pytest.fixture(scope="module")
def heap_points_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose plugin implements two points with str and obj types (real rpsc, real cc)."""
    d = tmp_path_factory.mktemp("heap-points")
    (d / "tags.rps").write_text(HEAP_POINTS)
    assert main(["compile", str(d / "tags.rps"), "--store", str(d / "st")]) == 0
    assert main(["build", "--store", str(d / "st")]) == 0
    return d / "st"


def test_a_str_point_dispatches_with_str_values(heap_points_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A point `str(str)` takes its argument verbatim and prints its str result raw (--json: as a string)."""
    code, out, err = rpsc(capsys, "dispatch", "--store", str(heap_points_store), "shout", "hey you")
    assert code == 0, err
    assert out.splitlines() == ["shout(hey you) [mode first, 1 implementation]",
                                "  1. tags.loud  priority    3  -> hey you!"]
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(heap_points_store), "--json", "shout", "x")
    assert code == 0 and json.loads(out)["result"] == "x!" and json.loads(out)["args"] == ["x"]
    jsonschema = pytest.importorskip("jsonschema")
    from .test_json_schemas import schemas

    jsonschema.validate(json.loads(out), schemas()["rpsc dispatch"])
    code, out, _ = rpsc(capsys, "dispatch", "--store", str(heap_points_store), "--json", "tag", "null", "x")
    doc = json.loads(out)
    assert code == 3 and doc["args"] == [None, "x"] and doc["calls"][0]["trap"]["kind"] == "null object"
    jsonschema.validate(doc, schemas()["rpsc dispatch"])


def test_an_obj_point_works_on_the_heap_reports_and_writes_nothing(heap_points_store: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A point with obj and str works on the store's heap: the object argument by name, the obj result as its
    OID, a trap in the second implementation stops with status 3 at its site, the change made by the first
    is reported on stderr, and no store file changes."""
    before = {p: p.read_bytes() for p in heap_points_store.rglob("*.json")}
    code, out, err = rpsc(capsys, "dispatch", "--store", str(heap_points_store), "tag", "object", "hi")
    assert code == 3
    oid = "_5yhJGgxLwLp00X0xEQ"  # RefPerSys's `object` class
    site = f"{heap_points_store.parent / 'tags.rps'}:6:34"
    assert out.splitlines() == [f"tag({oid}, hi) [mode all, 2 implementations]",
                                f"  1. tags.label_it  priority    5  -> {oid}",
                                f"  2. tags.boom      priority    1  -> trap: failed: no hi at {site}"]
    assert f"rpsc: changed (1): {oid} (not written: a dispatch never dumps)" in err
    assert f"{site}: trap: failed: no hi in boom" in err
    assert {p: p.read_bytes() for p in heap_points_store.rglob("*.json")} == before
    code, _, err = rpsc(capsys, "dispatch", "--store", str(heap_points_store), "tag", "no_such_thing", "hi")
    assert code == 1 and "no object with that OID or symbol name" in err and "Traceback" not in err


def test_python_values_to_a_native_heap_point_are_refused_clearly(heap_points_store: Path) -> None:
    """Dispatching a native implementation of a str point from Python with a Python str (outside a heap
    host) raises a PluginError that says how to dispatch it, not ctypes' ArgumentError."""
    from rpsc.backends.c.native import NativeEngine
    from rpsrt.errors import PluginError
    from rpsrt.plugins import PluginManager

    manager = PluginManager([], store=heap_points_store)
    engine = NativeEngine(heap_points_store, manager=manager)
    try:
        with pytest.raises(PluginError, match="heap host"):
            manager.points["shout"]("x")
    finally:
        engine.close()
