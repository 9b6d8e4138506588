"""Tiered compilation in the JIT: hot eligible modules are recompiled at tier 2 with unchanged semantics."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, const
from rpsc.backends.interp.interp import Interpreter
from rpsc.backends.llvm.jit import JitEngine
from rpsrt.errors import TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION, Trap

from . import irfactory as f

HERE = Path(__file__).parent
HOT, LIB = f.module_oid("hot"), f.module_oid("lib")
THRESHOLD = 20


def _lib() -> ir.Module:
    """lib.div(a, b) = a / b (traps at t.rps:91:5 when b == 0)."""
    r = f.ref("div", (f.I64, f.I64), f.I64, module_oid=LIB)
    b = FunctionBuilder(r, ["a", "b"], f.loc(90))
    b.position_at_end(b.append_block("entry"))
    b.ret(b.sdiv(b.load(b.params[0]), b.load(b.params[1]), f.loc(91, 5)))
    return f.module([b.finish()], name="lib", oid=LIB)


def _hot(lib: ir.Module) -> ir.Module:
    """g(n, d): n < 2 ? (n + 10) / d : g(n-1, d) + g(n-2, d)   (its own trap site, t.rps:71:9)
    h(n, d): n < 2 ? lib.div(n + 10, d) : h(n-1, d) + h(n-2, d)   (calls into another module)
    spin(): loops forever, polling."""
    div = lib.functions[0].ref
    fns = []
    for name, line in (("g", 70), ("h", 75)):
        r = f.ref(name, (f.I64, f.I64), f.I64, module_oid=HOT)
        b = FunctionBuilder(r, ["n", "d"], f.loc(line))
        b.position_at_end(b.append_block("entry"))
        n, d = b.load(b.params[0]), b.load(b.params[1])
        with b.if_then(b.icmp("lt", n, const(2))):
            top = b.add(n, const(10))
            if name == "g":
                b.ret(b.sdiv(top, d, f.loc(line + 1, 9)))
            else:
                res = b.call(div, [top, d], f.loc(line + 1, 9))
                assert res is not None
                b.ret(res)
        n, d = b.load(b.params[0]), b.load(b.params[1])
        x = b.call(r, [b.sub(n, const(1)), d], f.loc(line + 2, 10))
        y = b.call(r, [b.sub(n, const(2)), d], f.loc(line + 2, 20))
        assert x is not None and y is not None
        b.ret(b.add(x, y))
        fns.append(b.finish())
    spin = f.spin()
    spin_ref = f.ref("spin", (), f.VOID, module_oid=HOT)
    fns.append(dataclasses.replace(spin, ref=spin_ref))
    return f.module(fns, name="hot", oid=HOT)


def _modules() -> list[ir.Module]:
    lib = _lib()
    return [_hot(lib), lib]


def _outcome(engine: JitEngine | Interpreter, name: str, args: list[int]) -> object:
    try:
        return engine.call(name, args)
    except Trap as t:
        return t


CASES = [("g", [12, 1]), ("g", [12, 3]), ("g", [6, 0]), ("g", [1, 0]), ("h", [10, 2]), ("h", [5, 0]),
         ("g", [14, 1]), ("g", [15, 1]), ("h", [14, 1]), ("h", [15, 1])]


def _tier_up(e: JitEngine, name: str = "g") -> None:
    fn = e.function(name)
    for _ in range(THRESHOLD):
        fn(3, 1)
    assert e.wait_tier_ups(60)   # the recompilation runs in the background, on the agenda


def test_module_tiers_up_after_the_threshold() -> None:
    """An eligible module tiers up exactly at the threshold-th call; other modules never do."""
    with JitEngine(_modules(), tier_up_calls=THRESHOLD) as e:
        g, div = e.function("g"), e.function("div")
        for _ in range(THRESHOLD - 1):
            assert g(5, 1) == f_leaves(5) == 85
            assert div(7, 2) == 3
        assert e.stats.tier_ups == {} and e.stats.tier2_modules == []
        assert g(5, 1) == f_leaves(5)
        assert e.wait_tier_ups(60)
        assert e.stats.tier_ups == {"hot": 1}
        assert [m.name for m in e.stats.tier2_modules] == ["hot"]
        for _ in range(3 * THRESHOLD):
            assert g(5, 1) == f_leaves(5) and div(7, 2) == 3
        assert e.stats.tier_ups == {"hot": 1} and e.stats.as_dict()["tier_ups"] == {"hot": 1}


def test_results_and_traps_identical_before_and_after_tier_up() -> None:
    """Results, trap kinds and sites (own, cross-module, recursion at exactly the limit) match the
    interpreter at tier 1 and at tier 2, and the depth is reset after every trap."""
    mods = _modules()
    limit = 14
    with JitEngine(mods, tier_up_calls=THRESHOLD, recursion_limit=limit) as e, \
            Interpreter(mods, recursion_limit=limit) as interp:
        want = [_outcome(interp, name, args) for name, args in CASES]
        assert any(isinstance(w, Trap) and w.code == TRAP_DIVZERO and w.function == "g" for w in want)
        assert any(isinstance(w, Trap) and w.code == TRAP_DIVZERO and w.function == "div" for w in want)
        assert any(isinstance(w, Trap) and w.code == TRAP_RECURSION for w in want)
        assert not isinstance(want[CASES.index(("g", [14, 1]))], Trap)   # 14 nested calls: allowed
        before = [_outcome(e, name, args) for name, args in CASES]
        assert e.stats.tier_ups == {}
        _tier_up(e, "g")
        assert e.stats.tier_ups == {"hot": 1}
        after = [_outcome(e, name, args) for name, args in CASES]
        assert before == want and after == want
        assert e.rt.depth == 0


def test_recursion_limit_exact_after_tier_up() -> None:
    """At tier 2 every limit 1..12 lets exactly `limit` calls nest, the next one traps at g's site."""
    with JitEngine(_modules(), tier_up_calls=THRESHOLD, recursion_limit=100) as e:
        _tier_up(e, "g")
        assert e.stats.tier_ups == {"hot": 1}
        g = e.function("g")
        for limit in range(1, 13):
            e.rt.depth_limit = limit
            assert g(limit, 1) == f_leaves(limit)
            with pytest.raises(Trap) as ei:
                g(limit + 1, 1)
            assert ei.value == Trap(TRAP_RECURSION, function="g", location="t.rps:70:1")
            assert e.rt.depth == 0


def f_leaves(n: int) -> int:
    """g(n, 1) computed in Python."""
    return n + 10 if n < 2 else f_leaves(n - 1) + f_leaves(n - 2)


def test_interrupt_after_tier_up() -> None:
    """A tier-2 loop back-edge traps INTERRUPT; the flag is cleared and the engine stays usable."""
    with JitEngine(_modules(), tier_up_calls=THRESHOLD) as e:
        _tier_up(e, "g")
        spin = e.function("spin")
        assert e.stats.tier_ups == {"hot": 1}
        e.interrupt()
        with pytest.raises(Trap) as ei:
            spin()
        assert ei.value.code == TRAP_INTERRUPT and ei.value.function == "spin"
        assert e.rt.interrupt == 0 and e.call("g", [5, 1]) == f_leaves(5)


def test_tier_up_calls_zero_never_tiers() -> None:
    """tier_up_calls=0 disables tiering, however many calls are made."""
    with JitEngine(_modules(), tier_up_calls=0) as e:
        g = e.function("g")
        for _ in range(1000):
            g(3, 1)
        assert e.stats.tier_ups == {} and e.stats.tier2_modules == []


def test_ineligible_module_and_levels_never_tier() -> None:
    """A module without small self-recursion never tiers up, nor does any module at -O0 or -O3."""
    with JitEngine([f.module([f.binop_fn("plus", "add")])], tier_up_calls=5) as e:
        for _ in range(50):
            e.call("plus", [1, 2])
        assert e.stats.tier_ups == {}
    for opt in (0, 3):
        with JitEngine(_modules(), opt_level=opt, tier_up_calls=5) as e:
            for _ in range(50):
                assert e.call("g", [5, 1]) == f_leaves(5)
            assert e.stats.tier_ups == {}


def test_cross_module_calls_after_tier_up() -> None:
    """Tier-2 code calls tier-1 code of other modules (results, traps, depth), and callers keep working."""
    with JitEngine(_modules(), tier_up_calls=THRESHOLD, recursion_limit=9) as e:
        h, div = e.function("h"), e.function("div")
        for _ in range(THRESHOLD):
            h(3, 1)
        assert e.wait_tier_ups(60)
        assert e.stats.tier_ups == {"hot": 1}
        assert h(8, 1) == f_leaves(8) and div(9, 3) == 3
        with pytest.raises(Trap) as ei:
            h(4, 0)
        assert ei.value == Trap(TRAP_DIVZERO, function="div", location="t.rps:91:5")
        with Interpreter(e.modules, recursion_limit=9) as interp:
            want = _outcome(interp, "h", [9, 1])   # 9 nested h calls, then div is the 10th: traps in div
        assert isinstance(want, Trap) and want.code == TRAP_RECURSION and want.function == "div"
        assert _outcome(e, "h", [9, 1]) == want
        assert e.rt.depth == 0 and h(8, 1) == f_leaves(8)


_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import irfactory as f
from rpsc.backends.llvm.jit import JitEngine
e = JitEngine([f.module([f.fib()])], cache_dir={cache!r}, tier_up_calls=5)
fib = e.function("fib")
results = [fib(20) for _ in range(6)]
assert e.wait_tier_ups(60)
out = {{"fib": results, "writes": e.cache.stats.writes}}
out.update(e.stats.as_dict())
print(json.dumps(out))
"""


def _child(cache: Path) -> dict:  # type: ignore[type-arg]
    code = _CHILD.format(here=str(HERE), cache=str(cache))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_tier2_object_code_is_cached_across_processes(tmp_path: Path) -> None:
    """With a cache dir, a fresh process loads both tiers from the cache; tier 2 has its own entry."""
    cold = _child(tmp_path)
    assert cold["tier_ups"] == {"m": 1} and cold["compiled"] == 1 and cold["writes"] == 2
    assert [m["cache_hit"] for m in cold["tier2_modules"]] == [False]
    warm = _child(tmp_path)
    assert warm["tier_ups"] == {"m": 1} and warm["cache_hits"] == 1 and warm["writes"] == 0
    assert [m["cache_hit"] for m in warm["tier2_modules"]] == [True]
    assert cold["fib"] == warm["fib"] == [6765] * 6


def test_stats_display_shows_tier_ups() -> None:
    """`rpsc jit --stats`'s display lists the tier-ups per module and the tier-2 compile."""
    import io

    from rpsc.driver.commands.jit import _print_stats

    with JitEngine(_modules(), tier_up_calls=THRESHOLD) as e:
        e.call("div", [4, 2])
        buf = io.StringIO()
        _print_stats(e, buf)
        assert "tier-ups: none" in buf.getvalue()
        _tier_up(e, "g")
        buf = io.StringIO()
        _print_stats(e, buf)
        lines = buf.getvalue().splitlines()
        assert "tier-ups: hot 1" in lines
        assert any(line.split()[:3] == ["hot", "tier", "2"] for line in lines)


def test_tier_up_runs_in_the_background_without_blocking_the_caller() -> None:
    """The call that triggers the tier-up returns while the tier-2 compile is held back (it runs on the
    agenda, not in the caller's thread); callers keep tier-1 code meanwhile, and results before, during and
    after the tier-up are identical."""
    import threading

    from rpsrt.agenda import Agenda

    started, release = threading.Event(), threading.Event()

    def hold(module: ir.Module) -> None:
        started.set()
        assert release.wait(60), "the test never released the tier-2 compile"

    with Agenda(1, name="test-agenda") as agenda, \
            JitEngine(_modules(), tier_up_calls=THRESHOLD, agenda=agenda) as e:
        e._before_tier2 = hold
        g = e.function("g")
        before = [g(n, 1) for n in range(12)]            # 12 calls
        for _ in range(THRESHOLD - 13):
            g(3, 1)
        assert e.stats.tier_ups == {}
        returned = threading.Event()
        box: list[object] = []

        def trigger() -> None:
            box.append(g(10, 1))                          # the THRESHOLD-th call: queues the tier-up
            returned.set()

        t = threading.Thread(target=trigger)
        t.start()
        assert started.wait(60), "the tier-up was never queued"
        assert returned.wait(10), "the triggering call waited for the tier-2 compile"
        assert box == [f_leaves(10)] and e.stats.tier_ups == {}     # still tier 1, compile held back
        during = [g(n, 1) for n in range(12)]
        assert e.stats.tier_ups == {}
        release.set()
        assert e.wait_tier_ups(60)
        t.join(10)
        assert e.stats.tier_ups == {"hot": 1}
        after = [g(n, 1) for n in range(12)]
        assert before == during == after == [f_leaves(n) for n in range(12)]
        with pytest.raises(Trap) as ei:
            g(1, 0)
        assert ei.value == Trap(TRAP_DIVZERO, function="g", location="t.rps:71:9")


def _late(hot: ir.Module) -> ir.Module:
    """late(m, k, d) = g(m, 1) + h(k, d) in a module of its own: a long computation, then (maybe) a trap in
    h's callee div or in h's recursion, so that calls from several threads overlap in native code."""
    g, h = (fn.ref for fn in hot.functions[:2])
    r = f.ref("late", (f.I64, f.I64, f.I64), f.I64, module_oid=f.module_oid("late"))
    b = FunctionBuilder(r, ["m", "k", "d"], f.loc(80))
    b.position_at_end(b.append_block("entry"))
    x = b.call(g, [b.load(b.params[0]), const(1)], f.loc(81, 5))
    y = b.call(h, [b.load(b.params[1]), b.load(b.params[2])], f.loc(81, 15))
    assert x is not None and y is not None
    b.ret(b.add(x, y))
    return f.module([b.finish()], name="late", oid=f.module_oid("late"))


def test_four_threads_one_engine_traps_attributed() -> None:
    """4 threads call one JIT engine at once, each with its own outcome (a result, a division trap in g,
    one in another module's div, a recursion trap), long calls overlapping in native code: every thread
    always gets its own outcome, with its function and site, across the background tier-up."""
    import threading

    mods = _modules()
    mods.append(_late(mods[0]))
    limit = 30
    cases = [("late", [20, 3, 1]), ("g", [6, 0]), ("late", [20, 3, 0]), ("late", [20, 40, 1])]
    with Interpreter(mods, recursion_limit=limit) as interp:
        want = [_outcome(interp, name, args) for name, args in cases]
    assert not isinstance(want[0], Trap)
    assert [w.function for w in want[1:]] == ["g", "div", "h"]   # type: ignore[union-attr]
    assert [w.code for w in want[1:]] == [TRAP_DIVZERO, TRAP_DIVZERO, TRAP_RECURSION]  # type: ignore[union-attr]
    errors: list[str] = []
    go = threading.Barrier(4)
    with JitEngine(mods, tier_up_calls=THRESHOLD, recursion_limit=limit) as e:
        def worker(i: int) -> None:
            name, args = cases[i]
            go.wait()
            for _ in range(300):
                got = _outcome(e, name, args)
                if got != want[i]:
                    errors.append(f"thread {i} ({name}{tuple(args)}): got {got!r}, want {want[i]!r}")
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert e.wait_tier_ups(60)
        assert e.stats.tier_ups == {"hot": 1}
        assert e.rt.depth == 0
    assert not errors, errors[0]


def test_interrupt_one_thread_then_all() -> None:
    """`interrupt(thread)` stops only that thread's running call (the other keeps running), and
    `interrupt()` then stops the other: each trap reported in its own thread."""
    import threading
    import time

    with JitEngine(_modules(), tier_up_calls=0) as e:
        spin = e.function("spin")
        outcomes: dict[str, object] = {}
        running = threading.Barrier(3)

        def run(name: str) -> None:
            running.wait()
            try:
                spin()
                outcomes[name] = "returned"
            except Trap as t:
                outcomes[name] = (t.code, t.function, time.perf_counter())

        a = threading.Thread(target=run, args=("a",))
        b = threading.Thread(target=run, args=("b",))
        a.start()
        b.start()
        running.wait()
        time.sleep(0.3)
        e.interrupt(a)
        a.join(10)
        assert not a.is_alive() and outcomes["a"][:2] == (TRAP_INTERRUPT, "spin")  # type: ignore[index]
        time.sleep(0.3)
        assert b.is_alive() and "b" not in outcomes          # b's call was not interrupted
        e.interrupt()
        b.join(10)
        assert not b.is_alive() and outcomes["b"][:2] == (TRAP_INTERRUPT, "spin")  # type: ignore[index]
        assert e.call("g", [5, 1]) == f_leaves(5)


def test_four_threads_one_native_engine_traps_attributed(tmp_path: Path) -> None:
    """The same 4-thread check on the C backend: generated plugins (real cc), one NativeEngine, calls from
    4 threads at once, each always getting its own result or trap."""
    import threading

    from rpsc.backends.c.native import NativeEngine

    from ..c.util import compile_modules

    mods = _modules()
    mods.append(_late(mods[0]))
    limit = 30
    cases = [("late", [20, 3, 1]), ("g", [6, 0]), ("late", [20, 3, 0]), ("late", [20, 40, 1])]
    with Interpreter(mods, recursion_limit=limit) as interp:
        want = [_outcome(interp, name, args) for name, args in cases]
    compile_modules(mods, tmp_path)
    # The load order (dependencies first), as a store's manifest lists its plugins.
    (tmp_path / "rps_manifest.json").write_text(json.dumps({"plugins": [mods[1].oid, mods[0].oid, mods[2].oid]}))
    errors: list[str] = []
    go = threading.Barrier(4)
    with NativeEngine(tmp_path, recursion_limit=limit) as e:
        def worker(i: int) -> None:
            name, args = cases[i]
            go.wait()
            for _ in range(300):
                try:
                    got: object = e.call(name, args)
                except Trap as t:
                    got = t
                if got != want[i]:
                    errors.append(f"thread {i} ({name}{tuple(args)}): got {got!r}, want {want[i]!r}")
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors, errors[0]
