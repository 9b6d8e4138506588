"""The plugin manager under threads: loading, unloading and dispatching at once, real C and Python plugins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rpsrt import PluginError
from rpsrt.plugins import PluginManager

from .conftest import Built

RUN_SECONDS = 5.0


class PyPlugin:
    """A Python plugin registering one `combine` implementation returning `a * b + tag`."""

    version = "1.0.0"
    requires: list[dict[str, str]] = []

    def __init__(self, name: str, tag: int, priority: int) -> None:
        self.name, self.tag, self.priority = name, tag, priority

    def init(self, api) -> None:  # noqa: ANN001
        tag = self.tag
        api.register_extension("combine", "mul", lambda a, b: a * b + tag, self.priority, "i64(i64,i64)")


def _expected_combine(a: int, b: int) -> dict[str, int]:
    """What each plugin's `combine` implementation returns, by plugin name."""
    return {"core": a - b, "py_a": a * b + 1000, "py_b": a * b + 2000}


def test_eight_threads_load_unload_dispatch(built: Built) -> None:
    """8 threads load, unload and dispatch (native core and types_c, two Python plugins) for 5 s: no
    exception, every dispatch result comes from a whole registered plugin in priority order, and no
    implementation outlives its plugin."""
    m = PluginManager([built.deps], use_env=False)
    combine = m.declare("combine", "i64(i64,i64)", "all")
    fcombine = m.declare("fcombine", "f64(f64,f64)", "first")
    m.add_python_plugin(PyPlugin("py_a", 1000, 5))
    m.add_python_plugin(PyPlugin("py_b", 2000, 0))
    priority = {"py_a": 5, "core": 1, "py_b": 0}   # combine's dispatch order: by priority, higher first

    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"loads": 0, "unloads": 0, "dispatches": 0, "native_calls": 0, "checks": 0}
    count_lock = threading.Lock()

    def bump(key: str) -> None:
        with count_lock:
            counts[key] += 1

    def guard(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                while not stop.is_set():
                    body()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                stop.set()
        return run

    def toggler(name: str) -> Callable[[], None]:
        def body() -> None:
            m.load(name)
            bump("loads")
            time.sleep(0.001)
            m.unload(name)
            bump("unloads")
        return body

    def dispatch_combine() -> None:
        a, b = 17, 5
        got = combine(a, b)
        expected = _expected_combine(a, b)
        by_value = {v: k for k, v in expected.items()}
        names = [by_value.get(v) for v in got]
        assert None not in names, f"combine returned {got}, not from any plugin"
        assert len(set(names)) == len(names), f"an implementation dispatched twice: {names}"
        assert names == sorted(names, key=lambda n: -priority[n]), f"dispatch order broken: {names}"
        bump("dispatches")

    def dispatch_fcombine() -> None:
        try:
            assert fcombine(1.5, 2.25) == 3.75
            bump("dispatches")
        except PluginError as exc:   # types_c unloaded at that moment: the point has no implementation
            assert "has no implementation" in str(exc), exc

    def call_native() -> None:
        try:
            twice = m.function("core_twice", "i64(i64)")
        except PluginError as exc:
            assert "no loaded plugin exports" in str(exc), exc
            return
        try:
            assert twice(21) == 42
            bump("native_calls")
        except PluginError as exc:   # a callable kept across an unload refuses, never runs unmapped code
            assert "has been unloaded" in str(exc), exc

    def check_no_orphan() -> None:
        with m._lock:   # every change holds it: a consistent view
            loaded = set(m.loaded)
            for point in (combine, fcombine):
                for impl in point.implementations:
                    assert impl.plugin in loaded, f"orphan implementation {impl.name} of {impl.plugin}"
        bump("checks")
        time.sleep(0.002)

    bodies = [toggler("core"), toggler("types_c"), toggler("py_a"), toggler("py_b"),
              dispatch_combine, dispatch_fcombine, call_native, check_no_orphan]
    threads = [threading.Thread(target=guard(b), name=f"plugin-thread-{i}") for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    # At least RUN_SECONDS, and on until every kind of work has been done often enough (a loaded machine
    # makes the loads slow, not impossible), within a minute: what is checked is that none starves.
    start = time.monotonic()
    while not stop.wait(0.05):
        with count_lock:
            enough = counts["loads"] > 20 and counts["unloads"] > 20 and counts["dispatches"] > 100
        waited = time.monotonic() - start
        if (enough and waited >= RUN_SECONDS) or waited > 60:
            break
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert not errors, f"{len(errors)} thread(s) failed: {errors[0]!r}"
    assert counts["loads"] > 20 and counts["unloads"] > 20 and counts["dispatches"] > 100, counts
    m.close()
    assert m.loaded == {}
    assert combine.implementations == () and fcombine.implementations == ()
    assert m._hosts == {}
