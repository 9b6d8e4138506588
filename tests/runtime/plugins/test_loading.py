"""Loading, dependency order, dispatch, compiled-function calls, traps and the shared run-time state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from rpsrt import PluginError, Trap
from rpsrt.errors import DEFAULT_RECURSION_LIMIT, TRAP_CONVERSION, TRAP_DIVZERO, TRAP_INTERRUPT
from rpsrt.plugins import ExtensionPoint, PluginManager, new_rt

from .conftest import Built
from .test_failures import mapped


@pytest.fixture
def mgr(built: Built):
    """A manager over the hello and deps folders with `combine` (all) and `fcombine` (first) declared."""
    m = PluginManager([built.hello, built.deps], use_env=False)
    m.declare("combine", "i64(i64,i64)", "all")
    m.declare(ExtensionPoint.from_spec("fcombine", "f64(f64, f64)", "first"))
    yield m
    m.close()


def test_hello_template_plugin(mgr: PluginManager) -> None:
    """plugins_src/hello_c loads, registers `combine` with its argument's priority, logs, and unloads."""
    plugin = mgr.load("hello_c", {"priority": "42"})
    assert (plugin.name, plugin.version, plugin.kind) == ("hello_c", "1.0.0", "native")
    assert [(i.name, i.priority) for i in mgr.point("combine").implementations] == [("add", 42)]
    assert mgr.point("combine")(40, 2) == [42]
    assert mgr.point("combine")(2**63 - 1, 1) == [-(2**63)]
    assert plugin.messages == [(1, "hello_c initialised")]
    assert mgr.function("hello_gcd", "i64(i64,i64)")(84, -36) == 12
    with pytest.raises(Trap) as info:
        mgr.function("hello_div", "i64(i64,i64)")(1, 0)
    assert (info.value.code, info.value.function, info.value.location) == (TRAP_DIVZERO, "div", "hello.c:52:59")
    mgr.unload("hello_c")
    assert mgr.point("combine").implementations == ()
    assert not mapped(plugin.path)


def test_load_twice_is_noop(mgr: PluginManager) -> None:
    """Loading a loaded plugin returns the same Plugin and registers nothing twice."""
    first = mgr.load("hello_c")
    assert mgr.load("hello_c") is first
    assert mgr.load_file(first.path) is first
    assert len(mgr.point("combine").implementations) == 1


def test_dependencies_load_first_and_share_symbols(mgr: PluginManager, built: Built) -> None:
    """geometry loads core first; its code calls core's symbol (RTLD_GLOBAL); the constraint >=1.0,<2 holds."""
    geometry = mgr.load("geometry")
    assert list(mgr.loaded) == ["core", "geometry"]
    assert mgr.function("geometry_quad", "i64(i64)")(5) == 20
    assert mgr.function("core_twice", "i64(i64)")(21) == 42
    assert [i.plugin for i in mgr.point("combine").implementations] == ["core", "geometry"]
    assert mgr.point("combine")(3, 9) == [-6, 9]
    assert geometry.requires[0].name == "core"


def test_unload_refused_while_required(mgr: PluginManager) -> None:
    """core cannot be unloaded while geometry (which requires it) is loaded; afterwards it can."""
    mgr.load("geometry")
    with pytest.raises(PluginError, match="cannot unload core: required by loaded plugin\\(s\\) geometry"):
        mgr.unload("core")
    assert set(mgr.loaded) == {"core", "geometry"}
    mgr.unload("geometry")
    mgr.unload("core")
    assert mgr.loaded == {}
    with pytest.raises(PluginError, match="is not loaded"):
        mgr.unload("core")


def test_scalar_types_and_void(mgr: PluginManager) -> None:
    """f64, bool and void signatures pass values through the native ABI exactly."""
    mgr.load("types_c")
    assert mgr.function("t_halve", "f64(f64)")(3.0) == 1.5
    assert math.isnan(mgr.function("t_halve", "f64(f64)")(math.nan))
    assert mgr.function("t_is_even", "bool(i64)")(10) is True
    assert mgr.function("t_is_even", "bool(i64)")(7) is False
    assert mgr.function("t_touch", "void(i64)")(99) is None
    assert mgr.function("t_touched", "i64()")() == 99
    assert mgr.point("fcombine")(0.25, 0.5) == 0.75


def test_traps_carry_site_then_clear(mgr: PluginManager) -> None:
    """A trap status becomes Trap with the function and location from rt, which are then cleared."""
    mgr.load("types_c")
    div = mgr.function("t_div", "i64(i64,i64)")
    with pytest.raises(Trap) as info:
        div(1, 0)
    assert info.value == Trap(TRAP_DIVZERO, "t_div", "types.rps:3:9")
    assert "division by zero in t_div at types.rps:3:9" in str(info.value)
    assert mgr.rt.trap_function is None and mgr.rt.trap_location is None
    with pytest.raises(Trap) as info:
        mgr.function("t_conv", "i64(f64)")(1e300)
    assert info.value == Trap(TRAP_CONVERSION, None, None)
    assert div(7, 2) == 3


def test_shared_runtime_state(built: Built) -> None:
    """Every plugin sees the manager's rt: its depth limit, and the interrupt flag that stops a loop."""
    rt = new_rt(depth_limit=123)
    m = PluginManager([built.deps], use_env=False, rt=rt)
    m.declare("fcombine", "f64(f64,f64)")
    try:
        m.load("types_c")
        assert m.function("t_limit", "i64()")() == 123
        rt.interrupt = 1
        with pytest.raises(Trap) as info:
            m.function("t_spin", "i64()")()
        assert (info.value.code, info.value.function) == (TRAP_INTERRUPT, "spin")
    finally:
        m.close()
    assert PluginManager(use_env=False).rt.depth_limit == DEFAULT_RECURSION_LIMIT


def test_function_after_unload_raises(mgr: PluginManager) -> None:
    """A compiled-function callable kept after its plugin is unloaded raises instead of crashing."""
    mgr.load("hello_c")
    gcd = mgr.function("hello_gcd", "i64(i64,i64)")
    mgr.unload("hello_c")
    with pytest.raises(PluginError, match="unloaded"):
        gcd(4, 6)
    with pytest.raises(PluginError, match="no loaded plugin exports 'hello_gcd'"):
        mgr.function("hello_gcd", "i64(i64,i64)")


def test_first_mode_without_implementation(mgr: PluginManager) -> None:
    """A `first` point with no implementation raises PluginError; an `all` point returns []."""
    with pytest.raises(PluginError, match="fcombine has no implementation"):
        mgr.point("fcombine")(1.0, 2.0)
    assert mgr.point("combine")(1, 2) == []


def test_search_path_sources(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins are found through RPSC_PLUGIN_PATH and the store's plugins/ folder, in that order."""
    monkeypatch.setenv("RPSC_PLUGIN_PATH", str(built.hello))
    store = tmp_path / "store"
    built.copy_of(built.deps / "core.so", store / "plugins")
    m = PluginManager(use_env=True, store=store)
    assert m.search_paths == (built.hello, (store / "plugins").absolute())
    m.declare("combine", "i64(i64,i64)", "all")
    assert m.load("hello_c").path == built.hello / "hello_c.so"
    assert m.load("core").path == store / "plugins" / "core.so"
    m.close()


def test_declare_conflicts(mgr: PluginManager) -> None:
    """Redeclaring a point with the same signature returns it; with another signature is an error."""
    assert mgr.declare("combine", "i64( i64 , i64 )", "all") is mgr.point("combine")
    with pytest.raises(PluginError, match="already declared as i64\\(i64,i64\\)"):
        mgr.declare("combine", "f64(f64,f64)", "all")
    with pytest.raises(PluginError, match="invalid dispatch mode"):
        ExtensionPoint("x", "void()", "some")
    with pytest.raises(PluginError, match="invalid signature"):
        ExtensionPoint("x", "int(int)")
